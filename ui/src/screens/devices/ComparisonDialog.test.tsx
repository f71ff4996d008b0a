import { act, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { ShortAuthString, VerificationState, VerificationView } from "../../lib/types";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

const SAS: ShortAuthString = {
  emoji: [
    { symbol: "🐶", name: "Dog" },
    { symbol: "🔑", name: "Key" },
    { symbol: "🌵", name: "Cactus" },
    { symbol: "🎸", name: "Guitar" },
    { symbol: "⚓", name: "Anchor" },
    { symbol: "🍄", name: "Mushroom" },
    { symbol: "🚲", name: "Bicycle" },
  ],
  decimals: [4021, 1187, 6630],
};

function view(state: VerificationState, weStarted = false): VerificationView {
  return { id: "v1", user_id: "alice", device_id: "OLDPHONE", we_started: weStarted, state };
}

/** The new device: not confirmed, and another device of mine starts comparing with it. */
async function newDevice() {
  ipc.thisDeviceConfirmed.mockResolvedValue(false);
  const r = await renderApp();
  await screen.findByTestId("unconfirmed-banner");
  ipc.emitClient({ type: "verification", verification: view({ state: "waiting" }) });
  await screen.findByTestId("comparison-dialog");
  return r;
}

describe("the emoji comparison", () => {
  it("opens by itself on the new device, shows the seven emoji with names and the numbers, and confirms on “They match”", async () => {
    const { user } = await newDevice();
    expect(screen.getByTestId("comparison-waiting").textContent).toMatch(/OLDPHONE wants to confirm this one/u);
    expect(screen.getByRole("dialog", { name: "Confirm this device" })).toBeTruthy();

    ipc.emitClient({ type: "verification", verification: view({ state: "compare", sas: SAS, confirmed_here: false }) });
    const emoji = within(screen.getByTestId("comparison-emoji")).getAllByRole("listitem");
    expect(emoji.map((e) => e.textContent)).toEqual([
      "🐶Dog",
      "🔑Key",
      "🌵Cactus",
      "🎸Guitar",
      "⚓Anchor",
      "🍄Mushroom",
      "🚲Bicycle",
    ]);
    expect(screen.getByTestId("comparison-numbers").textContent).toBe("4021 1187 6630");

    ipc.confirmVerification.mockResolvedValueOnce(view({ state: "compare", sas: SAS, confirmed_here: true }));
    await user.click(screen.getByTestId("comparison-match"));
    expect(ipc.confirmVerification).toHaveBeenCalledWith("v1");
    expect(ipc.cancelVerification).not.toHaveBeenCalled();
    expect((await screen.findByTestId("comparison-confirmed-here")).textContent).toMatch(/on your device OLDPHONE too/u);
    expect(screen.queryByTestId("comparison-match")).toBeNull();

    ipc.emitClient({ type: "verification", verification: view({ state: "done", device_confirmed: true }) });
    expect(screen.getByTestId("comparison-done").textContent).toMatch(/This device is confirmed/u);
    // Confirmed: the banner goes without asking the engine again.
    expect(screen.queryByTestId("unconfirmed-banner")).toBeNull();
    await user.click(screen.getByTestId("comparison-close"));
    expect(screen.queryByTestId("comparison-dialog")).toBeNull();
  });

  it("stops on “They don't match”, says so in plain words, and confirms nothing", async () => {
    const { user } = await newDevice();
    ipc.emitClient({ type: "verification", verification: view({ state: "compare", sas: SAS, confirmed_here: false }) });
    await user.click(screen.getByTestId("comparison-mismatch"));

    expect(ipc.cancelVerification).toHaveBeenCalledWith("v1", true);
    expect(ipc.confirmVerification).not.toHaveBeenCalled();
    const stopped = await screen.findByTestId("comparison-cancelled");
    expect(stopped.textContent).toMatch(/The emoji didn't match, so nothing was confirmed/u);
    expect(stopped.textContent).not.toMatch(/mismatch/u);
    expect(screen.getByTestId("unconfirmed-banner")).toBeTruthy();
    await user.click(screen.getByTestId("comparison-close"));
    expect(screen.queryByTestId("comparison-dialog")).toBeNull();
  });

  it("stops the comparison when closed while it runs", async () => {
    const { user } = await newDevice();
    await user.keyboard("{Escape}");
    expect(ipc.cancelVerification).toHaveBeenCalledWith("v1", false);
    expect(screen.queryByTestId("comparison-dialog")).toBeNull();
  });

  it("words a stop from the other side, and a comparison that ran out of time", async () => {
    await newDevice();
    ipc.emitClient({ type: "verification", verification: view({ state: "cancelled", reason: "timeout" }) });
    expect(screen.getByTestId("comparison-cancelled").textContent).toMatch(/took too long/u);
    ipc.emitClient({ type: "verification", verification: view({ state: "cancelled", reason: "keys" }) });
    expect(screen.getByTestId("comparison-cancelled").textContent).toMatch(/someone may be in between/u);
  });

  it("explains an error in words when confirming fails", async () => {
    const { user } = await newDevice();
    ipc.emitClient({ type: "verification", verification: view({ state: "compare", sas: SAS, confirmed_here: false }) });
    ipc.confirmVerification.mockRejectedValueOnce({ code: "no_verification", message: "gone" });
    await user.click(screen.getByTestId("comparison-match"));
    await waitFor(() => expect(screen.getByTestId("comparison-error").textContent).toMatch(/already ended/u));
  });

  it("doesn't open by itself for a comparison that already ended", async () => {
    ipc.verificationList.mockResolvedValue([view({ state: "cancelled", reason: "timeout" })]);
    await renderApp();
    await waitFor(() => expect(ipc.verificationList).toHaveBeenCalled());
    expect(screen.queryByTestId("comparison-dialog")).toBeNull();
  });

  it("opens for a comparison the other device started before the window listened", async () => {
    ipc.verificationList.mockResolvedValue([view({ state: "compare", sas: SAS, confirmed_here: false })]);
    await renderApp();
    expect(await screen.findByTestId("comparison-emoji")).toBeTruthy();
  });
});

describe("the emoji comparison by keyboard", () => {
  it("keeps focus in the dialog as the steps change, never on “They match”", async () => {
    ipc.thisDeviceConfirmed.mockResolvedValue(false);
    const { user } = await renderApp();
    ipc.emitClient({ type: "verification", verification: view({ state: "waiting" }) });
    const dialog = await screen.findByTestId("comparison-dialog");
    ipc.emitClient({ type: "verification", verification: view({ state: "compare", sas: SAS, confirmed_here: false }) });
    await screen.findByTestId("comparison-match");
    expect(dialog.contains(document.activeElement)).toBe(true);
    expect(document.activeElement).not.toBe(screen.getByTestId("comparison-match"));
    act(() => screen.getByTestId("comparison-match").focus());
    ipc.confirmVerification.mockResolvedValueOnce(view({ state: "compare", sas: SAS, confirmed_here: true }));
    await user.keyboard("{Enter}");
    expect(ipc.confirmVerification).toHaveBeenCalledWith("v1");
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("comparison-cancel")));
    expect(dialog.contains(document.activeElement)).toBe(true);
  });
});

describe("verifying a contact by comparing emoji", () => {
  function fromBob(state: VerificationState, weStarted = false): VerificationView {
    return { id: "c1", user_id: "bob", device_id: "BOBPHONE", we_started: weStarted, state };
  }

  it("asks before accepting bob's request, then compares, and marks bob verified when both agree", async () => {
    const { user } = await renderApp();
    ipc.emitClient({ type: "verification", verification: fromBob({ state: "requested" }) });
    expect(await screen.findByRole("dialog", { name: "Verify bob" })).toBeTruthy();
    expect(screen.getByTestId("comparison-requested").textContent).toMatch(/bob wants to verify/u);
    expect(screen.queryByTestId("comparison-match")).toBeNull();

    ipc.acceptVerification.mockResolvedValueOnce(fromBob({ state: "waiting" }));
    await user.click(screen.getByTestId("comparison-accept"));
    expect(ipc.acceptVerification).toHaveBeenCalledWith("c1");
    ipc.emitClient({ type: "verification", verification: fromBob({ state: "compare", sas: SAS, confirmed_here: false }) });
    expect((await screen.findByRole("dialog")).textContent).toMatch(/bob's screen shows the same seven emoji/u);
    ipc.confirmVerification.mockResolvedValueOnce(fromBob({ state: "compare", sas: SAS, confirmed_here: true }));
    await user.click(screen.getByTestId("comparison-match"));
    expect((await screen.findByTestId("comparison-confirmed-here")).textContent).toMatch(/Waiting for bob/u);
    ipc.emitClient({ type: "verification", verification: fromBob({ state: "done", device_confirmed: false }) });
    expect(screen.getByTestId("comparison-done").textContent).toMatch(/You and bob verified each other/u);
    expect(screen.getByTestId("comparison-close").textContent).toBe("Done");
  });

  it("declines a request without comparing anything", async () => {
    const { user } = await renderApp();
    ipc.emitClient({ type: "verification", verification: fromBob({ state: "requested" }) });
    await screen.findByTestId("comparison-decline");
    await user.click(screen.getByTestId("comparison-decline"));
    expect(ipc.cancelVerification).toHaveBeenCalledWith("c1", false);
    expect(ipc.acceptVerification).not.toHaveBeenCalled();
    expect((await screen.findByTestId("comparison-cancelled")).textContent).toMatch(/cancelled/u);
  });

  it("says when bob answered on another of his devices", async () => {
    await renderApp();
    ipc.emitClient({ type: "verification", verification: fromBob({ state: "requested" }) });
    await screen.findByTestId("comparison-requested");
    ipc.emitClient({ type: "verification", verification: fromBob({ state: "cancelled", reason: "accepted_elsewhere" }) });
    expect(screen.getByTestId("comparison-cancelled").textContent).toMatch(/another of their devices/u);
  });
});
