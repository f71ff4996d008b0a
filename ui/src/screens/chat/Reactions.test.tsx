import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Message, Reaction } from "../../lib/types";
import { conversation, message, MINUTE, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

function byId(id: number): HTMLElement {
  const el = document.querySelector<HTMLElement>(`[data-testid="message"][data-message-id="${id}"]`);
  if (!el) throw new Error(`no message ${id}`);
  return el;
}

function chips(id: number) {
  return within(byId(id))
    .queryAllByTestId("reaction-chip")
    .map((c) => ({ emoji: c.dataset.emoji, count: c.textContent?.replace(c.dataset.emoji ?? "", ""), mine: c.dataset.mine }));
}

/** The engine's answer to a reaction: the message with `alice` added to or taken from it. */
function reactLikeTheEngine(messages: Message[]) {
  ipc.reactToMessage.mockImplementation(async (id, emoji, remove) => {
    const m = messages.find((x) => x.id === id)!;
    let reactions: Reaction[] = m.reactions.map((r) =>
      r.emoji === emoji ? { ...r, users: remove ? r.users.filter((u) => u !== "alice") : [...r.users, "alice"] } : r,
    );
    if (!remove && !m.reactions.some((r) => r.emoji === emoji)) reactions.push({ emoji, users: ["alice"] });
    reactions = reactions.filter((r) => r.users.length > 0);
    const changed = { ...m, reactions };
    messages[messages.indexOf(m)] = changed;
    return changed;
  });
}

async function open(messages: Message[]) {
  const conv = conversation({ peer: "bob", title: "bob" });
  const r = await renderApp({ conversations: [conv], messages: { [conv.id]: messages } });
  await openConversation(r.user, conv.id);
  await screen.findByTestId("virtuoso");
  await waitFor(() => expect(document.querySelector(".message-list__first")).toBeNull());
  return r;
}

describe("reactions", () => {
  it("shows one chip per emoji with its count, mine marked, and who reacted in its title", async () => {
    await open([
      message({
        id: 1,
        ts: NOW - MINUTE,
        reactions: [
          { emoji: "👍", users: ["bob", "alice"] },
          { emoji: "😂", users: ["bob"] },
        ],
      }),
    ]);
    expect(chips(1)).toEqual([
      { emoji: "👍", count: "2", mine: "true" },
      { emoji: "😂", count: "1", mine: "false" },
    ]);
    const thumbs = within(byId(1)).getAllByTestId("reaction-chip")[0]!;
    expect(thumbs.getAttribute("aria-pressed")).toBe("true");
    expect(thumbs.title).toBe("You and bob reacted with 👍");
  });

  it("toggles with a click on a chip: mine is taken back, another's is given", async () => {
    const messages = [message({ id: 1, ts: NOW - MINUTE, reactions: [{ emoji: "👍", users: ["bob", "alice"] }, { emoji: "😂", users: ["bob"] }] })];
    reactLikeTheEngine(messages);
    const { user } = await open(messages);
    await user.click(within(byId(1)).getAllByTestId("reaction-chip")[0]!);
    expect(ipc.reactToMessage).toHaveBeenLastCalledWith(1, "👍", true);
    await waitFor(() => expect(chips(1)[0]).toEqual({ emoji: "👍", count: "1", mine: "false" }));
    await user.click(within(byId(1)).getAllByTestId("reaction-chip")[1]!);
    expect(ipc.reactToMessage).toHaveBeenLastCalledWith(1, "😂", false);
    await waitFor(() => expect(chips(1)[1]).toEqual({ emoji: "😂", count: "2", mine: "true" }));
  });

  it("keeps the focus on the message when the chip it was on goes, and lets it go after", async () => {
    const messages = [message({ id: 1, ts: NOW - MINUTE, reactions: [{ emoji: "👍", users: ["alice"] }] })];
    reactLikeTheEngine(messages);
    const { user } = await open(messages);
    await user.click(within(byId(1)).getByTestId("reaction-chip"));
    await waitFor(() => expect(chips(1)).toEqual([]));
    expect(document.activeElement).toBe(byId(1));
    // Focus and pointer elsewhere (no leave event: the element under the pointer went): the bar goes.
    await user.click(screen.getByTestId("composer"));
    expect(within(byId(1)).queryByTestId("message-actions")).toBeNull();
  });

  it("reacts from the quick row, and from the full picker found by name", async () => {
    const messages = [message({ id: 1, ts: NOW - MINUTE })];
    reactLikeTheEngine(messages);
    const { user } = await open(messages);
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-react"));
    const picker = await screen.findByTestId("reaction-picker");
    // The quick row takes focus, its first emoji first.
    expect(document.activeElement).toBe(within(picker).getAllByTestId("quick-reaction")[0]);
    await user.click(within(picker).getAllByTestId("quick-reaction").find((b) => b.dataset.emoji === "😮")!);
    expect(ipc.reactToMessage).toHaveBeenLastCalledWith(1, "😮", false);
    expect(screen.queryByTestId("reaction-picker")).toBeNull();
    await waitFor(() => expect(chips(1)).toEqual([{ emoji: "😮", count: "1", mine: "true" }]));

    // More: the full picker, searched.
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-react"));
    await user.click(await screen.findByTestId("reaction-more"));
    const search = await screen.findByTestId("emoji-search");
    expect(document.activeElement).toBe(search);
    await user.type(search, "pizza");
    const options = within(screen.getByTestId("emoji-picker")).getAllByTestId("emoji-option");
    expect(options.map((o) => o.dataset.emoji)).toEqual(["🍕"]);
    await user.keyboard("{Enter}");
    expect(ipc.reactToMessage).toHaveBeenLastCalledWith(1, "🍕", false);
    await waitFor(() => expect(chips(1).map((c) => c.emoji)).toEqual(["😮", "🍕"]));
  });

  it("says so when nothing matches, and walks the grid with the arrow keys", async () => {
    const { user } = await open([message({ id: 1, ts: NOW - MINUTE })]);
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-react"));
    await user.click(await screen.findByTestId("reaction-more"));
    const search = await screen.findByTestId("emoji-search");
    await user.type(search, "qwxz");
    expect(within(screen.getByTestId("emoji-picker")).getByRole("status").textContent).toBe("No emoji match “qwxz”.");
    await user.clear(search);
    await user.keyboard("{ArrowDown}");
    const options = within(screen.getByTestId("emoji-picker")).getAllByTestId("emoji-option");
    expect(document.activeElement).toBe(options[0]);
    await user.keyboard("{ArrowRight}{ArrowRight}");
    expect(document.activeElement).toBe(options[2]);
    await user.keyboard("{ArrowDown}");
    expect(document.activeElement).toBe(options[10]);
    await user.keyboard("{ArrowUp}{ArrowUp}");
    expect(document.activeElement).toBe(search);
    // Escape closes the picker without reacting.
    await user.keyboard("{Escape}");
    expect(screen.queryByTestId("reaction-picker")).toBeNull();
    expect(ipc.reactToMessage).not.toHaveBeenCalled();
  });

  it("follows reactions that arrive (message_changed), and a tombstone has none", async () => {
    const m = message({ id: 1, ts: NOW - MINUTE, outgoing: true });
    await open([m]);
    expect(chips(1)).toEqual([]);
    ipc.emitClient({ type: "message_changed", message: { ...m, reactions: [{ emoji: "🎉", users: ["bob"] }] } });
    expect(chips(1)).toEqual([{ emoji: "🎉", count: "1", mine: "false" }]);
    ipc.emitClient({ type: "message_changed", message: { ...m, body: "", deleted: true, reactions: [] } });
    expect(chips(1)).toEqual([]);
    expect(within(byId(1)).getByTestId("message-body").textContent).toBe("This message was deleted");
  });
});
