import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Message } from "../../lib/types";
import { conversation, DAY, message, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

function composer(): HTMLTextAreaElement {
  return screen.getByTestId("composer") as HTMLTextAreaElement;
}

async function openBob(messages: Message[] = []) {
  const r = await renderApp({ conversations: [conversation({ peer: "bob" })], messages: { "u:bob": messages } });
  await openConversation(r.user, "u:bob");
  return r;
}

describe("a held contact", () => {
  it("shows why sending is paused, with Accept new key, and the composer explains it", async () => {
    ipc.isHeld.mockResolvedValue(true);
    const { user } = await openBob();
    const notice = await screen.findByTestId("held-notice");
    expect(ipc.isHeld).toHaveBeenCalledWith("bob");
    expect(notice.textContent).toMatch(/bob's safety number changed since you verified them/u);
    expect(notice.textContent).toMatch(/Sending to them is paused/u);
    expect(composer().disabled).toBe(true);
    expect(screen.getByTestId("composer-held").textContent).toMatch(/Sending to bob is paused/u);

    await user.click(within(notice).getByTestId("held-accept"));
    expect(ipc.acceptIdentity).toHaveBeenCalledWith("bob");
    await waitFor(() => expect(screen.queryByTestId("held-notice")).toBeNull());
    expect(composer().disabled).toBe(false);
    expect(screen.queryByTestId("composer-held")).toBeNull();
  });

  it("stays held and says why when accepting fails", async () => {
    ipc.isHeld.mockResolvedValue(true);
    ipc.acceptIdentity.mockRejectedValueOnce({ code: "storage", message: "disk" });
    const { user } = await openBob();
    await user.click(await screen.findByTestId("held-accept"));
    expect((await screen.findByTestId("held-error")).textContent).toMatch(/couldn't read or write its data/u);
    expect(screen.getByTestId("held-notice")).toBeTruthy();
    expect(composer().disabled).toBe(true);
  });

  it("is held at once when a verified contact's identity changes, and comparing opens the details", async () => {
    const { user } = await openBob();
    expect(screen.queryByTestId("held-notice")).toBeNull();
    ipc.isHeld.mockResolvedValue(true);
    ipc.emitClient({ type: "contact_key_changed", user_id: "bob", device_id: "", change: "master_key_changed", was_verified: true });
    expect(await screen.findByTestId("held-notice")).toBeTruthy();
    // The held notice says it all; the general one stays away.
    expect(screen.queryByTestId("key-change-notice")).toBeNull();
    await user.click(screen.getByTestId("held-compare"));
    expect(await screen.findByTestId("details-panel")).toBeTruthy();
  });

  it("is held when a send comes back refused as held", async () => {
    const sent = message({ id: 7, outgoing: true, status: "queued", body: "hi" });
    await openBob([sent]);
    ipc.isHeld.mockResolvedValue(true);
    ipc.emitClient({ type: "status_changed", message: { ...sent, status: "failed", reason: "identity_changed_held" } });
    expect(await screen.findByTestId("held-notice")).toBeTruthy();
    expect(screen.getByText("Not sent — paused until you accept their new key.")).toBeTruthy();
  });
});

describe("key changes in a chat", () => {
  it("warns about a device the contact hasn't confirmed, and drops it once they confirm it", async () => {
    await openBob();
    ipc.emitClient({ type: "contact_key_changed", user_id: "bob", device_id: "TABLET", change: "unconfirmed_device", was_verified: false });
    const notice = screen.getByTestId("key-change-notice");
    expect(notice.textContent).toMatch(/bob has a device they haven't confirmed/u);
    expect(notice.textContent).not.toMatch(/safety number changed/u);
    ipc.emitClient({ type: "contact_key_changed", user_id: "bob", device_id: "TABLET", change: "device_confirmed", was_verified: false });
    expect(screen.queryByTestId("key-change-notice")).toBeNull();
  });

  it("doesn't ask to compare for a new device the contact confirmed", async () => {
    await openBob();
    ipc.emitClient({ type: "contact_key_changed", user_id: "bob", device_id: "PHONE2", change: "new_device", was_verified: false });
    expect(screen.queryByTestId("key-change-notice")).toBeNull();
  });

  it("words the new key-change lines, and marks a message from an unconfirmed device", async () => {
    const line = (id: number, reason: Message["reason"], device: string | null) =>
      message({ id, kind: "system", status: "system", reason, sender_device: device, body: "engine text" });
    await openBob([
      line(1, "unconfirmed_device", "TABLET"),
      line(2, "master_key_changed", null),
      line(3, "identity_set_up", null),
      message({ id: 4, body: "from my tablet", reason: "unconfirmed_device", sender_device: "TABLET" }),
      message({ id: 5, body: "from my phone" }),
    ]);
    const lines = (await screen.findAllByTestId("system-line")).map((l) => l.textContent);
    expect(lines).toEqual([
      "bob's account has a device (TABLET) that bob hasn't confirmed. It gets none of your messages unless bob confirms it.",
      "bob's safety number changed: they may have started over, or someone may be pretending to be them.",
      "bob's safety number changed: their app now confirms their devices with an identity key.",
    ]);
    const warnings = screen.getAllByTestId("unconfirmed-sender");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.textContent).toBe("Sent from a device bob has not confirmed");
    expect(warnings[0]?.closest("[data-message-id]")?.getAttribute("data-message-id")).toBe("4");
  });

  it("shows each of the contact's devices as confirmed by them or not", async () => {
    ipc.userDevices.mockResolvedValue([
      { user_id: "bob", device_id: "PHONE", ed25519: "e", curve25519: "c", first_seen: NOW - 3 * DAY, active: true, confirmed: true },
      { user_id: "bob", device_id: "TABLET", ed25519: "e", curve25519: "c", first_seen: NOW - DAY, active: true, confirmed: false },
    ]);
    const { user } = await openBob();
    await user.click(screen.getByTestId("details-button"));
    const rows = await screen.findAllByTestId("device-confirmation");
    expect(rows.map((r) => r.textContent)).toEqual([
      "Confirmed by bob",
      "Not confirmed by bob — gets none of your messages",
    ]);
  });
});
