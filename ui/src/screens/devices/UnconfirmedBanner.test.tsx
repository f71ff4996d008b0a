import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { conversation, message } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { finishedTask } from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

async function unconfirmed() {
  ipc.thisDeviceConfirmed.mockResolvedValue(false);
  const r = await renderApp();
  await screen.findByTestId("unconfirmed-banner");
  return r;
}

describe("the banner on a device that isn't confirmed", () => {
  it("says why nothing shows and names this device, and stays away once confirmed", async () => {
    await unconfirmed();
    const banner = screen.getByTestId("unconfirmed-banner");
    expect(banner.textContent).toMatch(/This device is not confirmed yet/u);
    expect(banner.textContent).toMatch(/messages sent to you don't show here/u);
    expect(within(banner).getByTestId("unconfirmed-device-id").textContent).toBe("DEVALICE");
  });

  it("isn't there on a confirmed device", async () => {
    await renderApp();
    await waitFor(() => expect(ipc.thisDeviceConfirmed).toHaveBeenCalled());
    expect(screen.queryByTestId("unconfirmed-banner")).toBeNull();
  });

  it("offers the three ways out, and restoring with the recovery key confirms this device", async () => {
    const { user } = await unconfirmed();
    await user.click(screen.getByTestId("unconfirmed-open"));
    const ways = screen.getByRole("dialog", { name: "Confirm this device" });
    expect(within(ways).getByRole("heading", { name: "From another of your devices" })).toBeTruthy();
    expect(within(ways).getByTestId("confirm-device-id").textContent).toBe("DEVALICE");
    expect(within(ways).getByRole("heading", { name: "With your recovery key" })).toBeTruthy();
    expect(within(ways).getByRole("heading", { name: "Start over" })).toBeTruthy();

    ipc.restoreKeyBackup.mockReturnValue(
      finishedTask({ sessions: 2, imported: 2, groups: 0, messages: 0, undecryptable: 0, decrypted_pending: 0, confirmed: true }),
    );
    ipc.thisDeviceConfirmed.mockResolvedValue(true);
    await user.click(within(ways).getByTestId("confirm-device-restore"));
    await user.type(screen.getByTestId("key-restore-secret"), "SOTTO-ABCD EFGH");
    await user.click(screen.getByTestId("key-restore-start"));
    expect(ipc.restoreKeyBackup).toHaveBeenCalledWith({ recoveryKey: "SOTTO-ABCD EFGH" }, expect.any(Function));
    expect((await screen.findByTestId("key-restore-confirmed")).textContent).toMatch(/This device is confirmed now/u);
    await waitFor(() => expect(screen.queryByTestId("unconfirmed-banner")).toBeNull());
    expect(screen.getByTestId("confirm-device-done")).toBeTruthy();
  });

  it("keeps the banner when the key backup held no identity", async () => {
    const { user } = await unconfirmed();
    await user.click(screen.getByTestId("unconfirmed-open"));
    await user.click(screen.getByTestId("confirm-device-restore"));
    await user.type(screen.getByTestId("key-restore-secret"), "SOTTO-ABCD EFGH");
    await user.click(screen.getByTestId("key-restore-start"));
    await screen.findByTestId("key-restore-done");
    expect(screen.queryByTestId("key-restore-confirmed")).toBeNull();
    expect(screen.getByTestId("unconfirmed-banner")).toBeTruthy();
  });

  it("starts over only with the password, after saying clearly what it means", async () => {
    const { user } = await unconfirmed();
    await user.click(screen.getByTestId("unconfirmed-open"));
    await user.click(screen.getByTestId("confirm-device-start-over"));
    const dialog = screen.getByRole("dialog", { name: "Start over with a new identity" });
    const warning = within(dialog).getByTestId("start-over-warning").textContent ?? "";
    expect(warning).toMatch(/safety number changed/u);
    expect(warning).toMatch(/other devices stop being confirmed/u);
    expect(warning).toMatch(/stay unreadable/u);

    await user.click(within(dialog).getByTestId("start-over-confirm"));
    expect(ipc.resetIdentity).not.toHaveBeenCalled();
    ipc.resetIdentity.mockRejectedValueOnce({ code: "invalid_credentials", message: "no" });
    await user.type(within(dialog).getByTestId("start-over-password"), "hunter22");
    await user.click(within(dialog).getByTestId("start-over-confirm"));
    expect((await screen.findByTestId("start-over-error")).textContent).toMatch(/Nothing was changed/u);
    expect(screen.getByTestId("unconfirmed-banner")).toBeTruthy();

    ipc.thisDeviceConfirmed.mockResolvedValue(true);
    await user.click(within(dialog).getByTestId("start-over-confirm"));
    expect(ipc.resetIdentity).toHaveBeenLastCalledWith("hunter22");
    expect(await screen.findByTestId("start-over-done")).toBeTruthy();
    expect(screen.queryByTestId("unconfirmed-banner")).toBeNull();
  });

  it("says in the chat why a message arrived unreadable", async () => {
    ipc.thisDeviceConfirmed.mockResolvedValue(false);
    const withheld = message({ id: 1, kind: "undecryptable", status: "undecryptable", reason: "withheld", body: "" });
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })], messages: { "u:bob": [withheld] } });
    await openConversation(user, "u:bob");
    const body = await screen.findByTestId("message-body");
    expect(body.textContent).toMatch(/^Can't show this message — it arrived before this device was confirmed/u);
    expect(body.textContent).toMatch(/messages sent after you confirm it will show here/u);
  });
});
