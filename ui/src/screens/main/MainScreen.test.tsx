import { act, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { conversation, DAY, HOUR, message, MINUTE, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

function rows() {
  return screen.getAllByTestId("conversation-row");
}

describe("empty state", () => {
  it("offers to start a chat or create a group, and each opens its dialog", async () => {
    const { user } = await renderApp({ conversations: [] });
    const empty = await screen.findByTestId("empty-state");

    await user.click(within(empty).getByRole("button", { name: /Start a chat/u }));
    expect(screen.getByTestId("new-chat-user")).toBeTruthy();
    await user.keyboard("{Escape}");
    expect(screen.queryByTestId("new-chat-user")).toBeNull();

    await user.click(within(empty).getByRole("button", { name: /Create a group/u }));
    expect(screen.getByTestId("group-name")).toBeTruthy();
  });

  it("starts a direct chat and opens it; unknown ids get a plain inline error", async () => {
    const { user } = await renderApp({ conversations: [] });
    await user.click(screen.getByTestId("new-chat-button"));
    ipc.startDirect.mockRejectedValueOnce({ code: "unknown_user", message: "404" });

    await user.type(screen.getByTestId("new-chat-user"), "zed");
    await user.click(screen.getByTestId("new-chat-submit"));
    expect((await screen.findByTestId("dialog-error")).textContent).toBe("No one with the id 'zed' on this server.");

    await user.clear(screen.getByTestId("new-chat-user"));
    await user.type(screen.getByTestId("new-chat-user"), "bob");
    await user.click(screen.getByTestId("new-chat-submit"));

    const chat = await screen.findByTestId("chat-view");
    expect(chat.getAttribute("data-conversation-id")).toBe("u:bob");
    expect(ipc.startDirect).toHaveBeenLastCalledWith("bob");
    expect(screen.queryByTestId("new-chat-user")).toBeNull();
  });

  it("creates a group from comma/space separated ids and opens g:<id>", async () => {
    const { user } = await renderApp({ conversations: [] });
    await user.click(screen.getByTestId("new-group-button"));

    await user.type(screen.getByTestId("group-name"), "Book club");
    await user.type(screen.getByTestId("group-members"), "bob, carol  dave,bob");
    await user.click(screen.getByTestId("group-create-submit"));

    const chat = await screen.findByTestId("chat-view");
    expect(ipc.createGroup).toHaveBeenCalledWith("Book club", ["bob", "carol", "dave"]);
    expect(chat.getAttribute("data-conversation-id")).toBe("g:grp1");
    expect(screen.getByTestId("chat-title").textContent).toBe("Book club");
  });
});

describe("conversation list", () => {
  const list = [
    conversation({ peer: "old", title: "old", last_ts: NOW - 30 * DAY, last_preview: "long ago" }),
    conversation({ peer: "today", title: "today", last_ts: NOW - 2 * HOUR, unread: 3, last_preview: "fresh" }),
    conversation({ peer: "club", kind: "group", title: "Club", last_ts: NOW - 2 * DAY }),
  ];

  it("sorts by last message, shows time per age, and badges unread", async () => {
    await renderApp({ conversations: list });
    await waitFor(() => expect(rows()).toHaveLength(3));

    expect(rows().map((r) => r.getAttribute("data-conversation-id"))).toEqual(["u:today", "g:club", "u:old"]);
    const [today, club, old] = rows();
    expect(today?.querySelector("time")?.textContent).toBe("13:30");
    expect(club?.querySelector("time")?.textContent).toBe("Mon");
    expect(old?.querySelector("time")?.textContent).toBe("16 Feb");
    expect(today?.getAttribute("data-unread")).toBe("3");
    expect(within(today as HTMLElement).getByTestId("unread-badge").textContent).toContain("3");
    expect(within(club as HTMLElement).queryByTestId("unread-badge")).toBeNull();
    expect(club?.textContent).toContain("(group)");
  });

  it("moves a conversation to the top when conversation_updated arrives", async () => {
    await renderApp({ conversations: list });
    await waitFor(() => expect(rows()).toHaveLength(3));

    ipc.emitClient({
      type: "conversation_updated",
      conversation: { ...list[0]!, last_ts: NOW - MINUTE, last_preview: "back again", unread: 1 },
    });

    expect(rows()[0]?.getAttribute("data-conversation-id")).toBe("u:old");
    expect(rows()[0]?.textContent).toContain("back again");
    expect(rows()[0]?.getAttribute("data-unread")).toBe("1");
  });

  it("marks a conversation read when it is opened", async () => {
    const { user } = await renderApp({ conversations: list });
    await openConversation(user, "u:today");

    expect(ipc.markRead).toHaveBeenCalledWith("u:today");
    const row = rows().find((r) => r.getAttribute("data-conversation-id") === "u:today");
    expect(row?.getAttribute("data-unread")).toBe("0");
    expect(row?.getAttribute("aria-current")).toBe("true");
  });

  it("marks new messages read while the open conversation's window has focus", async () => {
    vi.spyOn(document, "hasFocus").mockReturnValue(true);
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob", unread: 0 })] });
    await openConversation(user, "u:bob");
    ipc.markRead.mockClear();

    ipc.emitClient({ type: "message_received", message: message({ id: 5, body: "ping" }) });
    expect(ipc.markRead).toHaveBeenCalledWith("u:bob");
    expect(screen.getByTestId("live-region").textContent).toBe("bob: ping");
  });

  it("doesn't mark read while the window is hidden, even if it had focus", async () => {
    vi.spyOn(document, "hasFocus").mockReturnValue(true);
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob", unread: 0 })] });
    await openConversation(user, "u:bob");
    ipc.markRead.mockClear();
    const hidden = vi.spyOn(document, "visibilityState", "get").mockReturnValue("hidden");
    try {
      ipc.emitClient({ type: "message_received", message: message({ id: 5 }) });
      ipc.emitClient({ type: "conversation_updated", conversation: conversation({ peer: "bob", unread: 1 }) });
      expect(ipc.markRead).not.toHaveBeenCalled();
    } finally {
      hidden.mockRestore();
    }
  });

  it("opens the conversation of a clicked notification", async () => {
    await renderApp({ conversations: list });
    await waitFor(() => expect(rows()).toHaveLength(list.length));
    expect(screen.queryByTestId("chat-view")).toBeNull();

    ipc.emitOpenConversation("u:today");
    const view = await screen.findByTestId("chat-view");
    expect(view.getAttribute("data-conversation-id")).toBe("u:today");
    expect(ipc.markRead).toHaveBeenCalledWith("u:today");
  });

  it("doesn't mark read while the window is in the background", async () => {
    vi.spyOn(document, "hasFocus").mockReturnValue(false);
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob", unread: 0 })] });
    await openConversation(user, "u:bob");
    ipc.markRead.mockClear();

    ipc.emitClient({ type: "message_received", message: message({ id: 5 }) });
    ipc.emitClient({ type: "conversation_updated", conversation: conversation({ peer: "bob", unread: 1 }) });
    expect(ipc.markRead).not.toHaveBeenCalled();
  });
});

describe("header and connection", () => {
  it("shows my id and the connection state, with a banner while offline", async () => {
    await renderApp();
    expect(screen.getByTestId("own-user").textContent).toBe("alice");
    expect(screen.getByTestId("connection-status").getAttribute("data-state")).toBe("online");
    expect(screen.queryByText(/messages will be sent when you're back online/u)).toBeNull();

    ipc.emitClient({ type: "connection_changed", state: "offline" });
    expect(screen.getByTestId("connection-status").getAttribute("data-state")).toBe("offline");
    expect(screen.getByText("Offline — messages will be sent when you're back online")).toBeTruthy();

    ipc.emitClient({ type: "connection_changed", state: "syncing" });
    expect(screen.getByTestId("connection-status").textContent).toContain("Syncing…");
  });

  it("returns to the welcome screen when the status event says so", async () => {
    await renderApp();
    act(() => undefined);
    ipc.emitStatus({
      phase: "welcome",
      account: null,
      locked: null,
      local_server: null,
      connection: "offline",
    });
    expect(await screen.findByTestId("welcome")).toBeTruthy();
  });
});
