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

const theirs = message({ id: 1, body: "lunch at noon?", ts: NOW - 10 * MINUTE });
const mine = message({ id: 2, outgoing: true, body: "sure, where?", ts: NOW - 9 * MINUTE });

async function open(messages: Message[] = [theirs, mine]) {
  const conv = conversation({ peer: "bob", title: "bob" });
  const r = await renderApp({ conversations: [conv], messages: { [conv.id]: messages } });
  await openConversation(r.user, conv.id);
  await screen.findByTestId("virtuoso");
  await waitFor(() => expect(document.querySelector(".message-list__first")).toBeNull());
  return r;
}

describe("message actions", () => {
  it("shows React, Reply and More over a message, and only while the pointer is there", async () => {
    const { user } = await open();
    expect(screen.queryByTestId("message-actions")).toBeNull();
    await user.hover(byId(1));
    const bar = within(byId(1)).getByTestId("message-actions");
    expect(within(bar).getByRole("button", { name: "React" })).toBeTruthy();
    expect(within(bar).getByRole("button", { name: "Reply" })).toBeTruthy();
    expect(within(bar).getByRole("button", { name: "More actions" })).toBeTruthy();
    await user.unhover(byId(1));
    expect(screen.queryByTestId("message-actions")).toBeNull();
  });

  it("offers Edit, Info and Delete for everyone on my own message only", async () => {
    const { user } = await open();
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-more"));
    let menu = await screen.findByRole("menu");
    expect(within(menu).getAllByRole("menuitem").map((i) => i.textContent)).toEqual(["Reply", "React…", "Copy text"]);
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("menu")).toBeNull();

    await user.hover(byId(2));
    await user.click(within(byId(2)).getByTestId("action-more"));
    menu = await screen.findByRole("menu");
    expect(within(menu).getAllByRole("menuitem").map((i) => i.textContent)).toEqual([
      "Reply",
      "React…",
      "Edit",
      "Copy text",
      "Info",
      "Delete for everyone",
    ]);
  });

  it("is reachable by keyboard: Tab into the list, arrows between messages, Shift+F10 for the menu", async () => {
    const { user } = await open();
    const list = screen.getByRole("region", { name: "Messages with bob" });
    list.focus();
    // Arriving in the list puts the focus on the newest message.
    await waitFor(() => expect(document.activeElement).toBe(byId(2)));
    expect(within(byId(2)).getByTestId("message-actions")).toBeTruthy();
    await user.keyboard("{ArrowUp}");
    expect(document.activeElement).toBe(byId(1));
    await user.keyboard("{Shift>}{F10}{/Shift}");
    const menu = await screen.findByRole("menu");
    expect(document.activeElement).toBe(within(menu).getAllByRole("menuitem")[0]);
    await user.keyboard("{ArrowDown}{ArrowDown}");
    expect(document.activeElement?.textContent).toBe("Copy text");
    await user.keyboard("{Escape}");
    await waitFor(() => expect(document.activeElement).toBe(byId(1)));
    // Escape on a message goes back to the composer.
    await user.keyboard("{Escape}");
    expect(document.activeElement).toBe(screen.getByTestId("composer"));
  });

  it("asks before deleting for everyone, then shows the tombstone", async () => {
    ipc.deleteMessage.mockImplementation(async (id) => ({ ...mine, id, body: "", deleted: true }));
    const { user } = await open();
    await user.hover(byId(2));
    await user.click(within(byId(2)).getByTestId("action-more"));
    await user.click(await screen.findByTestId("menu-delete"));
    const dialog = await screen.findByTestId("delete-dialog");
    expect(dialog.textContent).toContain("for you and everyone in this conversation");
    // Cancel changes nothing.
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(ipc.deleteMessage).not.toHaveBeenCalled();

    await user.hover(byId(2));
    await user.click(within(byId(2)).getByTestId("action-more"));
    await user.click(await screen.findByTestId("menu-delete"));
    await user.click(within(await screen.findByTestId("delete-dialog")).getByTestId("confirm-button"));
    expect(ipc.deleteMessage).toHaveBeenCalledWith(2);
    await waitFor(() => expect(byId(2).getAttribute("data-deleted")).toBe("true"));
    expect(within(byId(2)).getByTestId("message-body").textContent).toBe("This message was deleted");
    expect(screen.queryByTestId("delete-dialog")).toBeNull();
  });

  it("says in plain words when the engine refuses, and keeps the message", async () => {
    ipc.deleteMessage.mockRejectedValue({ code: "invalid_input", message: "Only the person who sent a message can delete it." });
    const { user } = await open();
    await user.hover(byId(2));
    await user.click(within(byId(2)).getByTestId("action-more"));
    await user.click(await screen.findByTestId("menu-delete"));
    await user.click(within(await screen.findByTestId("delete-dialog")).getByTestId("confirm-button"));
    expect((await screen.findByTestId("dialog-error")).textContent).toContain("Only a message you sent, and that went out");
    expect(byId(2).getAttribute("data-deleted")).toBeNull();
  });

  it("copies the text of a message", async () => {
    const { user } = await open();
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-more"));
    await user.click(await screen.findByTestId("menu-copy"));
    expect(await navigator.clipboard.readText()).toBe("lunch at noon?");
    expect(screen.getByTestId("live-region").textContent).toBe("Copied the message's text");
  });

  it("offers nothing on a tombstone, a system line or an undecryptable message", async () => {
    const { user } = await open([
      message({ id: 1, outgoing: true, deleted: true, body: "", reactions: [] }),
      message({ id: 2, kind: "system", status: "system", body: "bob's identity key changed." }),
      message({ id: 3, kind: "undecryptable", status: "undecryptable", body: "", reason: "missing_room_key" }),
    ]);
    for (const id of [1, 2, 3]) {
      await user.hover(byId(id));
      expect(screen.queryByTestId("message-actions")).toBeNull();
    }
    expect(within(byId(1)).getByTestId("message-body").textContent).toBe("This message was deleted");
    expect(within(byId(1)).queryByTestId("edited-marker")).toBeNull();
  });
});
