import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Conversation } from "../../lib/types";
import { conversation, HOUR, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

function row(id: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(`[data-testid="conversation-row"][data-conversation-id="${id}"]`);
  if (!el) throw new Error(`no row for ${id}`);
  return el;
}

function rowIds(): string[] {
  return Array.from(
    screen.getByTestId("conversation-list").querySelectorAll<HTMLElement>("[data-testid=conversation-row]"),
  ).map((el) => el.dataset.conversationId ?? "");
}

const bob = conversation({ peer: "bob", last_ts: NOW - HOUR });
const carol = conversation({ peer: "carol", last_ts: NOW - 2 * HOUR });

async function setup(conversations: Conversation[] = [bob, carol]) {
  const r = await renderApp({ conversations });
  await waitFor(() => row(conversations[0]?.id ?? ""));
  return r;
}

/** The engine's answer to a change: the conversation as it now is. */
function updated(c: Conversation) {
  ipc.emitClient({ type: "conversation_updated", conversation: c });
}

describe("conversation menu", () => {
  it("opens on a right click, the menu key and the … button, and pins", async () => {
    const { user } = await setup();
    fireEvent.contextMenu(row("u:carol"));
    const menu = await screen.findByTestId("conversation-menu");
    expect(within(menu).getAllByRole("menuitem").map((b) => b.textContent)).toEqual([
      "Pin",
      "Mute…",
      "Mark as unread",
      "Archive",
      "Delete…",
    ]);
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByTestId("conversation-menu")).toBeNull());

    row("u:carol").focus();
    await user.keyboard("{Shift>}{F10}{/Shift}");
    expect(await screen.findByTestId("conversation-menu")).toBeTruthy();
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByTestId("conversation-menu")).toBeNull());

    await user.click(within(row("u:carol").parentElement as HTMLElement).getByTestId("conversation-more"));
    await user.click(await screen.findByTestId("menu-pin"));
    expect(ipc.setPinned).toHaveBeenCalledWith("u:carol", true);

    updated({ ...carol, pinned: true });
    await waitFor(() => expect(rowIds()).toEqual(["u:carol", "u:bob"]));
    expect(within(row("u:carol")).getByRole("img", { name: "Pinned" })).toBeTruthy();

    fireEvent.contextMenu(row("u:carol"));
    expect((await screen.findByTestId("menu-pin")).textContent).toBe("Unpin");
  });

  it("mutes for a while or always, shows a muted bell, and unmutes", async () => {
    const { user } = await setup();
    fireEvent.contextMenu(row("u:bob"));
    await user.click(await screen.findByTestId("menu-mute"));
    const lengths = await screen.findByTestId("mute-menu");
    expect(within(lengths).getAllByRole("menuitem").map((b) => b.textContent)).toEqual([
      "For 1 hour",
      "For 8 hours",
      "For 1 week",
      "Always",
    ]);
    await user.click(screen.getByTestId("menu-mute-8h"));
    expect(ipc.setMuted).toHaveBeenCalledWith("u:bob", NOW + 8 * HOUR);

    fireEvent.contextMenu(row("u:carol"));
    await user.click(await screen.findByTestId("menu-mute"));
    await user.click(await screen.findByTestId("menu-mute-always"));
    expect(ipc.setMuted).toHaveBeenLastCalledWith("u:carol", "forever");

    updated({ ...bob, muted_until: NOW + 8 * HOUR });
    await waitFor(() => expect(within(row("u:bob")).getByRole("img", { name: "Muted" })).toBeTruthy());
    fireEvent.contextMenu(row("u:bob"));
    await user.click(await screen.findByTestId("menu-unmute"));
    expect(ipc.setMuted).toHaveBeenLastCalledWith("u:bob", null);
  });

  it("marks as unread, shown bold with a dot until opened", async () => {
    const { user } = await setup();
    fireEvent.contextMenu(row("u:bob"));
    await user.click(await screen.findByTestId("menu-unread"));
    expect(ipc.markUnread).toHaveBeenCalledWith("u:bob");

    updated({ ...bob, marked_unread: true });
    await waitFor(() => expect(row("u:bob").dataset.markedUnread).toBe("true"));
    expect(within(row("u:bob")).getByTestId("marked-unread")).toBeTruthy();

    await openConversation(user, "u:bob");
    expect(ipc.markRead).toHaveBeenCalledWith("u:bob");
    expect(row("u:bob").dataset.markedUnread).toBeUndefined();
  });

  it("deletes after asking, with the words of what happens", async () => {
    const { user } = await setup();
    fireEvent.contextMenu(row("u:bob"));
    await user.click(await screen.findByTestId("menu-delete"));
    const dialog = await screen.findByTestId("delete-conversation-dialog");
    expect(dialog.textContent).toContain(
      "Delete this conversation from this device? Messages and files go; the others keep theirs.",
    );
    await user.click(within(dialog).getByRole("button", { name: "Delete" }));
    expect(ipc.deleteConversation).toHaveBeenCalledWith("u:bob");
    await waitFor(() => expect(rowIds()).toEqual(["u:carol"]));
  });

  it("says so when a change fails", async () => {
    ipc.setPinned.mockRejectedValueOnce({ code: "storage", message: "disk full" });
    const { user } = await setup();
    fireEvent.contextMenu(row("u:bob"));
    await user.click(await screen.findByTestId("menu-pin"));
    expect(await screen.findByTestId("conversation-menu-error")).toBeTruthy();
  });
});

describe("archived conversations", () => {
  it("are listed apart behind an Archived (N) row, and come back when unarchived", async () => {
    const dave = conversation({ peer: "dave", archived: true, last_ts: NOW - 3 * HOUR });
    const { user } = await setup([bob, carol, dave]);
    expect(rowIds()).toEqual(["u:bob", "u:carol"]);
    expect(screen.getByTestId("archived-open").textContent).toBe("Archived (1)");

    fireEvent.contextMenu(row("u:carol"));
    await user.click(await screen.findByTestId("menu-archive"));
    expect(ipc.setArchived).toHaveBeenCalledWith("u:carol", true);
    updated({ ...carol, archived: true });
    await waitFor(() => expect(rowIds()).toEqual(["u:bob"]));
    expect(screen.getByTestId("archived-open").textContent).toBe("Archived (2)");

    await user.click(screen.getByTestId("archived-open"));
    expect(rowIds()).toEqual(["u:carol", "u:dave"]);
    fireEvent.contextMenu(row("u:dave"));
    const unarchive = await screen.findByTestId("menu-archive");
    expect(unarchive.textContent).toBe("Unarchive");
    await user.click(unarchive);
    expect(ipc.setArchived).toHaveBeenCalledWith("u:dave", false);
    updated({ ...dave, archived: false });
    await waitFor(() => expect(rowIds()).toEqual(["u:carol"]));

    await user.click(screen.getByTestId("archived-back"));
    expect(rowIds()).toEqual(["u:bob", "u:dave"]);
    expect(screen.getByTestId("archived-open").textContent).toBe("Archived (1)");
  });
});
