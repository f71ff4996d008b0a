import { act, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Message } from "../../lib/types";
import { conversation, DAY, HOUR, message, MINUTE, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";
import { lastGroupedProps, scrolledTo, settling } from "../../test/virtuosoMock";
import { UNREAD_LINE_MAX } from "./MessageList";

function bubbles() {
  return screen.getAllByTestId("message");
}

function byId(id: number): HTMLElement {
  const el = document.querySelector<HTMLElement>(`[data-testid="message"][data-message-id="${id}"]`);
  if (!el) throw new Error(`no message ${id}`);
  return el;
}

async function openWith(messages: Message[], kind: "direct" | "group" = "direct") {
  const conv =
    kind === "group"
      ? conversation({ peer: "club", kind: "group", title: "Club" })
      : conversation({ peer: "bob", title: "bob" });
  const withIds = messages.map((m) => ({ ...m, conversation_id: conv.id }));
  const r = await renderApp({ conversations: [conv], messages: { [conv.id]: withIds } });
  await openConversation(r.user, conv.id);
  if (withIds.length > 0) {
    // The list mounts after the first view's frame, and the first view goes once it shows.
    await screen.findByTestId("virtuoso");
    await waitFor(() => expect(document.querySelector(".message-list__first")).toBeNull());
  }
  return r;
}

describe("message list", () => {
  it.each([
    // jsdom's window is 768 px high at 16 px text: 48rem of one-line rows at their lowest (2.1rem), plus two.
    ["one-line", 1, Math.ceil(48 / 2.1) + 2],
    // Messages of four lines (a line holds 112 characters at most) take fewer rows.
    ["long", 4, Math.ceil(48 / (2.1 + 3 * 0.875 * 1.4)) + 2],
  ])("draws the newest %s rows, inert, while the list settles, and only rows enough for the window", async (_, lines, rows) => {
    settling.hidden = true;
    try {
      const body = (i: number) => `message ${i} ` + "x".repeat(112 * (lines - 1));
      const many = Array.from({ length: 200 }, (_, i) =>
        message({ id: i + 1, ts: NOW - (200 - i) * MINUTE, body: body(i + 1) }),
      );
      const conv = conversation({ peer: "bob", title: "bob" });
      const withIds = many.map((m) => ({ ...m, conversation_id: conv.id }));
      const r = await renderApp({ conversations: [conv], messages: { [conv.id]: withIds } });
      await openConversation(r.user, conv.id);
      const first = await waitFor(() => {
        const el = document.querySelector<HTMLElement>(".message-list__first");
        if (!el) throw new Error("no first view");
        return el;
      });
      expect(first.getAttribute("aria-hidden")).toBe("true");
      expect(first.hasAttribute("inert")).toBe(true);
      const ids = within(first)
        .getAllByTestId("message")
        .map((b) => Number(b.getAttribute("data-message-id")));
      // The newest, in order, ending with the last one.
      expect(ids.at(-1)).toBe(200);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(ids.length).toBe(rows);
      // The list mounts after that first frame, hidden under the first view while it settles.
      const list = await screen.findByTestId("virtuoso-item-list");
      expect(list.style.visibility).toBe("hidden");
      expect(document.querySelector(".message-list__first")).not.toBeNull();
    } finally {
      settling.hidden = false;
    }
  });

  it("separates days and names them", async () => {
    await openWith([
      message({ id: 1, ts: NOW - 10 * DAY }),
      message({ id: 2, ts: NOW - DAY }),
      message({ id: 3, ts: NOW - DAY + MINUTE }),
      message({ id: 4, ts: NOW - HOUR }),
    ]);
    expect(screen.getAllByTestId("day-separator").map((d) => d.textContent)).toEqual([
      "Sunday 8 March",
      "Yesterday",
      "Today",
    ]);
    expect(bubbles().map((b) => b.getAttribute("data-message-id"))).toEqual(["1", "2", "3", "4"]);
  });

  it("names the sender once per run in groups, and never in direct chats", async () => {
    const msgs = [
      message({ id: 1, sender_user: "bob", ts: NOW - 10 * MINUTE }),
      message({ id: 2, sender_user: "bob", ts: NOW - 9 * MINUTE }),
      message({ id: 3, sender_user: "carol", ts: NOW - 8 * MINUTE }),
      message({ id: 4, sender_user: "bob", ts: NOW - 7 * MINUTE }),
      message({ id: 5, outgoing: true, ts: NOW - 6 * MINUTE }),
    ];
    await openWith(msgs, "group");
    const senders = bubbles().map((b) => b.querySelector(".message__sender")?.textContent ?? null);
    expect(senders).toEqual(["bob", null, "carol", "bob", null]);
    expect(byId(1).className).toContain("message--first");
    expect(byId(2).className).not.toContain("message--first");
    expect(byId(5).getAttribute("data-outgoing")).toBe("true");
    expect(byId(5).className).toContain("message--out");
  });

  it("shows no sender names in a direct chat", async () => {
    await openWith([message({ id: 1 }), message({ id: 2, ts: NOW - 20 * MINUTE })]);
    expect(document.querySelector(".message__sender")).toBeNull();
  });

  it("shows queued, sent and failed with icons, and Retry calls retry_message", async () => {
    const failed = message({ id: 3, outgoing: true, status: "failed", reason: "offline", body: "lost" });
    const { user } = await openWith([
      message({ id: 1, outgoing: true, status: "queued" }),
      message({ id: 2, outgoing: true, status: "sent" }),
      failed,
      message({ id: 4, outgoing: false, status: "received" }),
    ]);
    expect(within(byId(1)).getByRole("img", { name: "Sending" })).toBeTruthy();
    expect(within(byId(2)).getByRole("img", { name: "Sent" })).toBeTruthy();
    expect(within(byId(3)).getByRole("img", { name: "Not sent" })).toBeTruthy();
    expect(within(byId(4)).queryByRole("img")).toBeNull();
    expect(byId(3).textContent).toContain("Not sent — couldn't reach the server.");
    expect(within(byId(1)).queryByTestId("message-retry")).toBeNull();

    ipc.retryMessage.mockResolvedValueOnce({ ...failed, status: "queued", reason: null });
    await user.click(within(byId(3)).getByTestId("message-retry"));

    expect(ipc.retryMessage).toHaveBeenCalledWith(3);
    await waitFor(() => expect(byId(3).getAttribute("data-status")).toBe("queued"));
    expect(within(byId(3)).queryByTestId("message-retry")).toBeNull();

    ipc.emitClient({ type: "status_changed", message: { ...failed, status: "sent", reason: null } });
    expect(within(byId(3)).getByRole("img", { name: "Sent" })).toBeTruthy();
  });

  it("shows an undecryptable message as waiting, with the reason, and replaces it in place", async () => {
    const stuck = message({ id: 2, kind: "undecryptable", status: "undecryptable", reason: "missing_room_key", body: "" });
    await openWith([message({ id: 1, ts: NOW - 2 * HOUR }), stuck, message({ id: 3 })]);

    const bubble = byId(2);
    expect(bubble.getAttribute("data-kind")).toBe("undecryptable");
    const body = within(bubble).getByTestId("message-body");
    expect(body.textContent).toContain("Can't decrypt this message yet — waiting for the key");
    const reason = "The key for this message hasn't arrived yet. It will show once it does.";
    expect(bubble.querySelector(".bubble")?.getAttribute("title")).toBe(reason);
    expect(bubble.querySelector(".visually-hidden")?.textContent).toContain(reason);

    ipc.emitClient({
      type: "status_changed",
      message: { ...stuck, kind: "text", status: "received", reason: null, body: "the secret plan" },
    });

    expect(bubbles().map((b) => b.getAttribute("data-message-id"))).toEqual(["1", "2", "3"]);
    expect(byId(2).getAttribute("data-kind")).toBe("text");
    expect(within(byId(2)).getByTestId("message-body").textContent).toBe("the secret plan");
  });

  it("shows system lines centred and muted, without a bubble", async () => {
    await openWith([message({ id: 1, kind: "system", status: "system", body: "bob added carol." })]);
    const line = screen.getByTestId("system-line");
    expect(line.textContent).toBe("bob added carol.");
    expect(byId(1).querySelector(".bubble")).toBeNull();
    expect(byId(1).getAttribute("data-kind")).toBe("system");
  });

  it("marks what the group's members did not sign as a warning, and signing an old list as news", async () => {
    await openWith(
      [
        message({ id: 1, kind: "system", status: "system", body: "bob signed this group's member list.", reason: "list_adopted" }),
        message({
          id: 2,
          kind: "system",
          status: "system",
          body: "The server's member list for this group differs from the one its members signed.",
          reason: "members_disagree",
        }),
        message({ id: 3, body: "let me in", sender_user: "mallory", reason: "not_a_member" }),
        message({ id: 4, body: "hi all" }),
      ],
      "group",
    );
    const lines = screen.getAllByTestId("system-line");
    expect(lines).toHaveLength(2);
    const [adopted, disagree] = lines as [HTMLElement, HTMLElement];
    expect(adopted.classList.contains("system-line--warning")).toBe(false);
    expect(disagree.classList.contains("system-line--warning")).toBe(true);
    expect(disagree.getAttribute("role")).toBe("note");
    expect(disagree.textContent).toBe("The server's member list for this group differs from the one its members signed.");
    expect(within(byId(3)).getByTestId("not-a-member").textContent).toMatch(/^Sent by mallory, who is not a member/u);
    expect(within(byId(4)).queryByTestId("not-a-member")).toBeNull();
  });

  it("shows the sender's time, and says so when the server received the message far from it", async () => {
    await openWith([
      message({ id: 1, ts: NOW - 2 * HOUR, server_ts: NOW - 2 * HOUR + 2000 }),
      message({ id: 2, ts: NOW - 3 * DAY, server_ts: NOW - HOUR }),
    ]);
    expect(within(byId(1)).queryByTestId("clock-off")).toBeNull();
    const note = within(byId(2)).getByTestId("clock-off").textContent ?? "";
    expect(note).toMatch(/by bob's clock; the server received it at/u);
    expect(byId(2).querySelector("time")?.getAttribute("dateTime")).toBe(new Date(NOW - 3 * DAY).toISOString());
  });

  it("keeps message text as text", async () => {
    await openWith([message({ id: 1, body: '<img src=x onerror="alert(1)"> <b>hi</b>' })]);
    expect(document.querySelector(".bubble img, .bubble b")).toBeNull();
    expect(within(byId(1)).getByTestId("message-body").textContent).toBe('<img src=x onerror="alert(1)"> <b>hi</b>');
  });

  it("appends received messages and loads an older page at the top", async () => {
    const page = Array.from({ length: 60 }, (_, i) => message({ id: i + 1, ts: NOW - (60 - i) * MINUTE }));
    await openWith(page);
    expect(bubbles()).toHaveLength(50);
    expect(ipc.loadMessages).toHaveBeenLastCalledWith("u:bob", null, 50);
    expect(bubbles()[0]?.getAttribute("data-message-id")).toBe("11");
    const firstIndexBefore = lastGroupedProps?.firstItemIndex ?? 0;

    lastGroupedProps?.startReached?.(0);
    await waitFor(() => expect(bubbles()).toHaveLength(60));
    expect(ipc.loadMessages).toHaveBeenLastCalledWith("u:bob", 11, 50);
    // The view stays put: the first index moves back by exactly the ten prepended messages.
    expect(lastGroupedProps?.firstItemIndex).toBe(firstIndexBefore - 10);
    expect(lastGroupedProps?.startReached).toBeUndefined();

    ipc.emitClient({ type: "message_received", message: message({ id: 99, conversation_id: "u:bob", body: "new!", ts: NOW }) });
    expect(bubbles().at(-1)?.getAttribute("data-message-id")).toBe("99");
    expect(lastGroupedProps?.firstItemIndex).toBe(firstIndexBefore - 10);
  });

  it("ignores messages for other conversations", async () => {
    await openWith([message({ id: 1 })]);
    ipc.emitClient({ type: "message_received", message: message({ id: 2, conversation_id: "u:carol" }) });
    expect(bubbles()).toHaveLength(1);
  });
});

describe("typing and key changes", () => {
  it("shows who is typing and expires it", async () => {
    await openWith([message({ id: 1 })], "group");
    expect(screen.queryByTestId("typing-indicator")).toBeNull();

    ipc.emitClient({ type: "typing", conversation_id: "g:club", user_id: "bob", typing: true });
    expect(screen.getByTestId("typing-indicator").textContent).toBe("bob is typing…");
    ipc.emitClient({ type: "typing", conversation_id: "g:club", user_id: "carol", typing: true });
    expect(screen.getByTestId("typing-indicator").textContent).toBe("bob and carol are typing…");
    ipc.emitClient({ type: "typing", conversation_id: "g:other", user_id: "dave", typing: true });
    expect(screen.getByTestId("typing-indicator").textContent).toBe("bob and carol are typing…");

    ipc.emitClient({ type: "typing", conversation_id: "g:club", user_id: "carol", typing: false });
    expect(screen.getByTestId("typing-indicator").textContent).toBe("bob is typing…");
    // A message from bob ends his typing state.
    ipc.emitClient({ type: "message_received", message: message({ id: 2, conversation_id: "g:club", sender_user: "bob" }) });
    expect(screen.queryByTestId("typing-indicator")).toBeNull();
  });

  it("drops a typing state after six seconds without a follow-up", async () => {
    await openWith([message({ id: 1 })]);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    vi.setSystemTime(NOW);
    ipc.emitClient({ type: "typing", conversation_id: "u:bob", user_id: "bob", typing: true });
    expect(screen.getByTestId("typing-indicator")).toBeTruthy();
    act(() => vi.advanceTimersByTime(5900));
    expect(screen.getByTestId("typing-indicator")).toBeTruthy();
    act(() => vi.advanceTimersByTime(200));
    expect(screen.queryByTestId("typing-indicator")).toBeNull();
  });

  it("asks to compare the safety number when the open contact's keys change", async () => {
    const { user } = await openWith([message({ id: 1 })]);
    expect(screen.queryByTestId("key-change-notice")).toBeNull();

    ipc.emitClient({ type: "contact_key_changed", user_id: "carol", device_id: "", change: "master_key_changed", was_verified: false });
    expect(screen.queryByTestId("key-change-notice")).toBeNull();

    ipc.emitClient({ type: "contact_key_changed", user_id: "bob", device_id: "", change: "master_key_changed", was_verified: false });
    const notice = screen.getByTestId("key-change-notice");
    expect(notice.textContent).toContain(
      "This person's safety number changed. Compare it again to be sure it's really them.",
    );

    expect(within(notice).queryByTestId("key-notice-was-verified")).toBeNull();

    await user.click(within(notice).getByRole("button", { name: "Compare safety numbers" }));
    expect(await screen.findByTestId("details-panel")).toBeTruthy();
    expect(screen.queryByTestId("key-change-notice")).toBeNull();
    expect(ipc.verification).toHaveBeenCalledWith("bob");
  });

  it("says the contact had been verified when the engine says so, though this session never asked", async () => {
    await openWith([message({ id: 1 })]);
    ipc.emitClient({ type: "contact_key_changed", user_id: "bob", device_id: "", change: "identity_set_up", was_verified: true });
    const notice = screen.getByTestId("key-change-notice");
    expect(within(notice).getByTestId("key-notice-was-verified").textContent).toContain("You had verified them");
  });
});

describe("new messages line", () => {
  function line(): HTMLElement | null {
    return document.querySelector<HTMLElement>('[data-testid="unread-line"]');
  }

  /** The message drawn right after the line. */
  function afterLine(): number {
    const el = line();
    if (!el) throw new Error("no line");
    const next = el.nextElementSibling?.querySelector('[data-testid="message"]') ?? el.nextElementSibling;
    return Number(next?.getAttribute("data-message-id"));
  }

  async function openUnread(messages: Message[], unread: number) {
    const bob = conversation({ peer: "bob", title: "bob", unread });
    const carol = conversation({ peer: "carol", title: "carol" });
    const withIds = messages.map((m) => ({ ...m, conversation_id: bob.id }));
    const r = await renderApp({ conversations: [bob, carol], messages: { [bob.id]: withIds } });
    await openConversation(r.user, bob.id);
    await screen.findByTestId("virtuoso");
    await waitFor(() => expect(document.querySelector(".message-list__first")).toBeNull());
    return r;
  }

  it("goes above the first unread message, not counting my own, starts the list there and stays put", async () => {
    const msgs = [
      message({ id: 1, ts: NOW - 50 * MINUTE }),
      message({ id: 2, ts: NOW - 40 * MINUTE }),
      message({ id: 3, ts: NOW - 30 * MINUTE }),
      message({ id: 4, ts: NOW - 20 * MINUTE, outgoing: true }),
      message({ id: 5, ts: NOW - 10 * MINUTE, kind: "system", status: "system", body: "bob changed the timer" }),
      message({ id: 6, ts: NOW - 5 * MINUTE }),
    ];
    await openUnread(msgs, 2);
    expect(afterLine()).toBe(3);
    expect(line()?.textContent).toBe("New messages");
    expect(document.querySelectorAll('[data-testid="unread-line"]')).toHaveLength(1);
    // Virtuoso starts at the line (and stops at the bottom when the rest fits).
    expect(lastGroupedProps?.initialTopMostItemIndex).toEqual({ index: 2, align: "start" });
    expect(ipc.markRead).toHaveBeenCalledWith("u:bob");

    // Read, and more arrives: the line stays where it was.
    ipc.emitClient({ type: "message_received", message: message({ id: 7, conversation_id: "u:bob", ts: NOW }) });
    ipc.emitClient({ type: "conversation_updated", conversation: conversation({ peer: "bob", unread: 1 }) });
    await waitFor(() => expect(byId(7)).toBeTruthy());
    expect(afterLine()).toBe(3);
  });

  it("is gone after switching away and back with nothing unread", async () => {
    const r = await openUnread([message({ id: 1 }), message({ id: 2 })], 1);
    expect(afterLine()).toBe(2);
    await openConversation(r.user, "u:carol");
    await openConversation(r.user, "u:bob");
    await screen.findByTestId("virtuoso");
    expect(byId(2)).toBeTruthy();
    expect(line()).toBeNull();
    expect(lastGroupedProps?.initialTopMostItemIndex).toEqual({ index: 1, align: "end" });
  });

  it("is not drawn when nothing is unread", async () => {
    await openUnread([message({ id: 1 }), message({ id: 2 })], 0);
    expect(line()).toBeNull();
  });

  it("is not looked for among more unread messages than a few pages: the list opens at the newest", async () => {
    const many = Array.from({ length: 60 }, (_, i) => message({ id: i + 1, ts: NOW - (60 - i) * MINUTE }));
    await openUnread(many, UNREAD_LINE_MAX + 1);
    expect(line()).toBeNull();
    expect(lastGroupedProps?.initialTopMostItemIndex).toEqual({ index: 49, align: "end" });
    expect(ipc.loadMessages).toHaveBeenCalledTimes(1);
  });

  it("loads older pages until it finds the first unread message, then scrolls to it", async () => {
    scrolledTo.length = 0;
    const many = Array.from({ length: 120 }, (_, i) =>
      message({ id: i + 1, ts: NOW - (120 - i) * MINUTE, conversation_id: "u:bob" }),
    );
    // The older page arrives once the list has started at the bottom.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const bob = conversation({ peer: "bob", title: "bob", unread: 70 });
    const r = await renderApp({ conversations: [bob], messages: { [bob.id]: many } });
    const served = ipc.loadMessages.getMockImplementation();
    ipc.loadMessages.mockImplementation(async (id, before, limit) => {
      if (before !== null) await gate;
      return served ? served(id, before, limit) : [];
    });
    await openConversation(r.user, bob.id);
    await screen.findByTestId("virtuoso");
    await waitFor(() => expect(document.querySelector(".message-list__first")).toBeNull());
    expect(lastGroupedProps?.initialTopMostItemIndex).toEqual({ index: 49, align: "end" });
    expect(line()).toBeNull();
    expect(ipc.loadMessages).toHaveBeenCalledWith("u:bob", 71, 50);

    act(() => release());
    // The first page held 71…120; the next one (21…70) has message 51.
    await waitFor(() => expect(afterLine()).toBe(51));
    const index = screen.getAllByTestId("message").findIndex((b) => b.getAttribute("data-message-id") === "51");
    expect(index).toBe(30); // the window holds 21…120 now
    await waitFor(() => expect(scrolledTo).toContainEqual({ index, align: "start" }));
  });
});
