import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Message } from "../../lib/types";
import { conversation, message, MINUTE, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

function byId(id: number): HTMLElement {
  const el = document.querySelector<HTMLElement>(`[data-testid="message"][data-message-id="${id}"]`);
  if (!el) throw new Error(`no message ${id}`);
  return el;
}

const delivery = (id: number) => within(byId(id)).getByTestId("delivery").getAttribute("data-delivery");

async function open(conv: ReturnType<typeof conversation>, messages: Message[]) {
  const r = await renderApp({ conversations: [conv], messages: { [conv.id]: messages } });
  await openConversation(r.user, conv.id);
  await screen.findByTestId("virtuoso");
  await waitFor(() => expect(document.querySelector(".message-list__first")).toBeNull());
  return r;
}

const bob = conversation({ peer: "bob", title: "bob" });
const club = conversation({ kind: "group", peer: "club", title: "Club" });
const members = ["alice", "bob", "carol", "dave"].map((user_id) => ({ user_id, role: "member" as const }));

function mine(id: number, partial: Partial<Message>): Message {
  return message({ id, outgoing: true, ts: NOW - (10 - id) * MINUTE, ...partial });
}

describe("receipts in my bubbles", () => {
  it("one to one: clock, one tick, two ticks, two filled ticks, each named", async () => {
    await open(bob, [
      mine(1, { status: "queued" }),
      mine(2, {}),
      mine(3, { receipts: { recipients: 1, delivered: ["bob"], read: [] } }),
      mine(4, { receipts: { recipients: 1, delivered: ["bob"], read: ["bob"] } }),
      mine(5, { status: "failed", reason: "offline", receipts: { recipients: 1, delivered: [], read: [] } }),
      message({ id: 6, ts: NOW - 3 * MINUTE }),
    ]);
    expect(within(byId(1)).getByRole("img", { name: "Sending" })).toBeTruthy();
    expect(within(byId(2)).getByRole("img", { name: "Sent" })).toBeTruthy();
    const delivered = within(byId(3)).getByRole("img", { name: "Delivered" });
    expect(delivered.querySelector("title")?.textContent).toBe("Delivered");
    expect(within(byId(4)).getByRole("img", { name: "Read" })).toBeTruthy();
    expect(within(byId(5)).getByRole("img", { name: "Not sent" })).toBeTruthy();
    expect(within(byId(6)).queryByTestId("delivery")).toBeNull();
    expect([1, 2, 3, 4, 5].map(delivery)).toEqual(["queued", "sent", "delivered", "read", "failed"]);
  });

  it("moves forward as receipts arrive", async () => {
    const m = mine(1, {});
    await open(bob, [m]);
    expect(delivery(1)).toBe("sent");
    ipc.emitClient({ type: "message_changed", message: { ...m, receipts: { recipients: 1, delivered: ["bob"], read: [] } } });
    expect(delivery(1)).toBe("delivered");
    ipc.emitClient({
      type: "message_changed",
      message: { ...m, receipts: { recipients: 1, delivered: ["bob"], read: ["bob"] } },
    });
    expect(within(byId(1)).getByRole("img", { name: "Read" })).toBeTruthy();
  });

  it("in a group: delivered once everyone got it, read once everyone saw it", async () => {
    const g = { conversation_id: club.id };
    await open(club, [
      mine(1, { ...g, receipts: { recipients: 3, delivered: ["bob", "carol"], read: ["bob"] } }),
      mine(2, { ...g, receipts: { recipients: 3, delivered: ["bob", "carol", "dave"], read: ["bob"] } }),
      mine(3, { ...g, receipts: { recipients: 3, delivered: ["bob", "carol", "dave"], read: ["dave", "bob", "carol"] } }),
    ]);
    const partly = within(byId(1)).getByRole("img", { name: "Sent" });
    expect(partly.querySelector("title")?.textContent).toBe("Sent — delivered to 2 of 3");
    expect(within(byId(2)).getByRole("img", { name: "Delivered" }).querySelector("title")?.textContent).toBe(
      "Delivered to everyone — read by 1 of 3",
    );
    expect(within(byId(3)).getByRole("img", { name: "Read" })).toBeTruthy();
  });
});

describe("read receipts turned off", () => {
  it("reads the loaded messages again, which then show nobody's reads", async () => {
    const read = mine(1, { receipts: { recipients: 1, delivered: ["bob"], read: ["bob"] } });
    const { user } = await open(bob, [read]);
    expect(delivery(1)).toBe("read");

    // The engine shows nobody's reads once they are off.
    let on = true;
    ipc.setReadReceipts.mockImplementation(async (value) => {
      on = value;
      return null;
    });
    ipc.loadMessages.mockImplementation(async () => [
      on ? read : { ...read, receipts: { recipients: 1, delivered: ["bob"], read: [] } },
    ]);
    ipc.loadMessagesAfter.mockImplementation(async () => []);
    await user.click(screen.getByTestId("settings-button"));
    const toggle = screen.getByTestId("read-receipts-toggle") as HTMLInputElement;
    await waitFor(() => expect(toggle.checked).toBe(true));
    await user.click(toggle);
    expect(ipc.setReadReceipts).toHaveBeenLastCalledWith(false);
    await waitFor(() => expect(delivery(1)).toBe("delivered"));

    await user.click(toggle);
    await waitFor(() => expect(delivery(1)).toBe("read"));
  });
});

describe("message details", () => {
  it("lists who read a group message, who has it and who not yet, from the menu by keyboard", async () => {
    ipc.groupDetails.mockResolvedValue({
      group_id: "club",
      name: "Club",
      version: 1,
      joined: true,
      signed: true,
      members,
      invited: [],
    });
    const m = mine(1, {
      conversation_id: club.id,
      body: "meeting at 7",
      receipts: { recipients: 3, delivered: ["bob", "carol"], read: ["bob"] },
    });
    const { user } = await open(club, [m]);
    const list = screen.getByRole("region", { name: "Messages with Club" });
    list.focus();
    await waitFor(() => expect(document.activeElement).toBe(byId(1)));
    await user.keyboard("{Shift>}{F10}{/Shift}");
    const menu = await screen.findByRole("menu");
    const info = within(menu).getByRole("menuitem", { name: "Info" });
    while (document.activeElement !== info) await user.keyboard("{ArrowDown}");
    await user.keyboard("{Enter}");

    const details = await screen.findByRole("dialog", { name: "Message details" });
    expect(details.contains(document.activeElement)).toBe(true);
    expect(within(details).getByTestId("details-sent").textContent).toMatch(/^Sent /u);
    expect(within(details).getByTestId("details-read-count").textContent).toBe("Read by 1 of 3 · delivered to 2 of 3");
    expect(within(details).getByTestId("details-read").textContent).toBe("bob");
    expect(within(details).getByTestId("details-delivered").textContent).toBe("carol");
    await waitFor(() => expect(within(details).getByTestId("details-waiting").textContent).toBe("dave"));

    // It follows receipts as they arrive.
    ipc.emitClient({
      type: "message_changed",
      message: { ...m, receipts: { recipients: 3, delivered: ["bob", "carol", "dave"], read: ["bob", "dave"] } },
    });
    expect(within(details).getByTestId("details-read-count").textContent).toBe("Read by 2 of 3");
    expect(within(details).getByTestId("details-read").textContent).toBe("bobdave");
    expect(within(details).queryByTestId("details-waiting")).toBeNull();

    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog", { name: "Message details" })).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(byId(1)));
  });

  it("says one to one whether the peer got and saw it, and when my read receipts are off", async () => {
    ipc.readReceipts.mockResolvedValue(false);
    const { user } = await open(bob, [mine(1, { receipts: { recipients: 1, delivered: ["bob"], read: [] } })]);
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-more"));
    await user.click(await screen.findByRole("menuitem", { name: "Info" }));
    const details = await screen.findByRole("dialog", { name: "Message details" });
    expect(within(details).getByTestId("details-state").textContent).toBe("Delivered to bob, not read yet");
    expect((await within(details).findByTestId("details-receipts-off")).textContent).toContain("read receipts off");
  });

  it("is not offered on others' messages", async () => {
    const { user } = await open(bob, [message({ id: 1 })]);
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-more"));
    const menu = await screen.findByRole("menu");
    expect(within(menu).queryByRole("menuitem", { name: "Info" })).toBeNull();
  });
});
