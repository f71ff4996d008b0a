import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { AccountDevice, DeviceSummary } from "../../lib/types";
import { DAY, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

const LISTED: AccountDevice[] = [
  { device_id: "PHONE", name: "Sotto on macOS", created_ts: NOW - 90 * DAY, has_keys: true },
  { device_id: "DEVALICE", name: "Sotto on Linux", created_ts: NOW - 30 * DAY, has_keys: true },
  { device_id: "LAPTOP", name: "Sotto on Windows", created_ts: NOW - DAY, has_keys: true },
];

function summary(device_id: string, confirmed: boolean): DeviceSummary {
  return { user_id: "alice", device_id, ed25519: "e", curve25519: "c", first_seen: NOW - DAY, active: true, confirmed };
}

async function openDevices({ thisConfirmed = true } = {}) {
  ipc.thisDeviceConfirmed.mockResolvedValue(thisConfirmed);
  ipc.ownDevices.mockResolvedValue(LISTED);
  ipc.userDevices.mockResolvedValue([summary("PHONE", true), summary("LAPTOP", false)]);
  const r = await renderApp();
  await r.user.click(screen.getByTestId("settings-button"));
  await waitFor(() => expect(screen.getAllByTestId("own-device")).toHaveLength(3));
  return r;
}

function row(deviceId: string): HTMLElement {
  const el = screen.getAllByTestId("own-device").find((d) => d.getAttribute("data-device-id") === deviceId);
  if (!el) throw new Error(`no row for ${deviceId}`);
  return el;
}

describe("Settings → Devices", () => {
  it("lists this device first, then the others, each confirmed or not", async () => {
    await openDevices();
    expect(ipc.userDevices).toHaveBeenCalledWith("alice");
    const rows = screen.getAllByTestId("own-device");
    expect(rows.map((r) => r.getAttribute("data-device-id"))).toEqual(["DEVALICE", "LAPTOP", "PHONE"]);
    expect(within(row("DEVALICE")).getByText("This device")).toBeTruthy();
    expect(within(row("DEVALICE")).getByTestId("device-status").textContent).toBe("Confirmed");
    expect(within(row("PHONE")).getByTestId("device-status").textContent).toBe("Confirmed");
    expect(within(row("LAPTOP")).getByTestId("device-status").textContent).toMatch(/Not confirmed — it gets none of your messages/u);
    // Only the unconfirmed one can be confirmed; this device can't be removed from here.
    expect(screen.getAllByTestId("device-confirm")).toHaveLength(1);
    expect(within(row("LAPTOP")).getByTestId("device-confirm")).toBeTruthy();
    expect(within(row("DEVALICE")).queryByTestId("device-remove")).toBeNull();
  });

  it("copies the one-to-one conversations to a confirmed device only when the box is ticked", async () => {
    const { user } = await openDevices();
    const box = screen.getByTestId<HTMLInputElement>("copy-history-input");
    expect(box.checked).toBe(true);
    await user.click(box);
    await user.click(within(row("LAPTOP")).getByTestId("device-confirm"));
    expect(ipc.startDeviceConfirmation).toHaveBeenCalledWith("LAPTOP", false);
  });

  it("starts the emoji comparison with a device from its Confirm button", async () => {
    const { user } = await openDevices();
    await user.click(within(row("LAPTOP")).getByTestId("device-confirm"));
    // The conversations go along unless the person unticks it.
    expect(ipc.startDeviceConfirmation).toHaveBeenCalledWith("LAPTOP", true);
    const dialog = await screen.findByRole("dialog", { name: "Confirm your other device" });
    expect(within(dialog).getByTestId("comparison-waiting").textContent).toMatch(/Waiting for your device LAPTOP to answer/u);

    // Once confirmed there, the list is read again.
    const reads = ipc.ownDevices.mock.calls.length;
    ipc.userDevices.mockResolvedValue([summary("PHONE", true), summary("LAPTOP", true)]);
    ipc.emitClient({
      type: "verification",
      verification: { id: "ver1", user_id: "alice", device_id: "LAPTOP", we_started: true, state: { state: "done", device_confirmed: true } },
    });
    expect(within(dialog).getByTestId("comparison-done").textContent).toMatch(/Your device LAPTOP is confirmed/u);
    await waitFor(() => expect(within(row("LAPTOP")).getByTestId("device-status").textContent).toBe("Confirmed"));
    expect(ipc.ownDevices.mock.calls.length).toBeGreaterThan(reads);
  });

  it("on a device that isn't confirmed, offers to confirm it instead of confirming others", async () => {
    const { user } = await openDevices({ thisConfirmed: false });
    expect(within(row("DEVALICE")).getByTestId("device-status").textContent).toMatch(/Not confirmed yet/u);
    expect(screen.queryByTestId("device-confirm")).toBeNull();
    await user.click(screen.getByTestId("confirm-this-device"));
    expect((await screen.findByTestId("confirm-device-id")).textContent).toBe("DEVALICE");
  });

  it("explains in words when this device may not confirm others", async () => {
    const { user } = await openDevices();
    ipc.startDeviceConfirmation.mockRejectedValueOnce({ code: "not_confirmed", message: "no" });
    await user.click(within(row("LAPTOP")).getByTestId("device-confirm"));
    expect((await screen.findByTestId("devices-error")).textContent).toMatch(/This device isn't confirmed yet/u);
    expect(screen.queryByTestId("comparison-dialog")).toBeNull();
  });

  it("removes another device after the password, and reads the list again", async () => {
    const { user } = await openDevices();
    await user.click(within(row("PHONE")).getByTestId("device-remove"));
    const dialog = screen.getByRole("dialog", { name: "Remove Sotto on macOS?" });
    await user.click(within(dialog).getByTestId("remove-device-confirm"));
    expect(screen.getByTestId("remove-device-error").textContent).toMatch(/Enter your password/u);
    expect(ipc.deleteDevice).not.toHaveBeenCalled();

    ipc.deleteDevice.mockRejectedValueOnce({ code: "invalid_credentials", message: "no" });
    await user.type(within(dialog).getByTestId("remove-device-password"), "wrong");
    await user.click(within(dialog).getByTestId("remove-device-confirm"));
    expect((await screen.findByTestId("remove-device-error")).textContent).toMatch(/isn't your current password/u);

    ipc.ownDevices.mockResolvedValue(LISTED.filter((d) => d.device_id !== "PHONE"));
    await user.click(within(dialog).getByTestId("remove-device-confirm"));
    expect(ipc.deleteDevice).toHaveBeenLastCalledWith("PHONE", "wrong");
    await waitFor(() => expect(screen.queryByTestId("remove-device-dialog")).toBeNull());
    await waitFor(() => expect(screen.getAllByTestId("own-device")).toHaveLength(2));
  });

  it("explains how to link a new device and lists the ones waiting, checking again on demand", async () => {
    const { user } = await openDevices();
    ipc.userDevices.mockResolvedValue([summary("PHONE", true), summary("LAPTOP", true)]);
    await user.click(screen.getByTestId("link-device"));
    const dialog = screen.getByRole("dialog", { name: "Link a new device" });
    expect(dialog.textContent).toContain("https://chat.example.org");
    expect(within(dialog).getAllByTestId("link-device-waiting").map((r) => r.textContent)).toEqual([
      expect.stringContaining("LAPTOP"),
    ]);

    // Confirmed elsewhere meanwhile: "Check again" reads the list again and nothing is waiting.
    await user.click(within(dialog).getByTestId("link-device-check"));
    expect(await within(dialog).findByTestId("link-device-none")).toBeTruthy();
  });
});
