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

function composer(): HTMLTextAreaElement {
  return screen.getByTestId("composer") as HTMLTextAreaElement;
}

async function open(messages: Message[]) {
  const conv = conversation({ peer: "bob", title: "bob" });
  const r = await renderApp({ conversations: [conv], messages: { [conv.id]: messages } });
  await openConversation(r.user, conv.id);
  await screen.findByTestId("virtuoso");
  await waitFor(() => expect(document.querySelector(".message-list__first")).toBeNull());
  return r;
}

const older = message({ id: 1, outgoing: true, body: "first of mine", ts: NOW - 12 * MINUTE });
const mine = message({ id: 2, outgoing: true, body: "see you at 5", ts: NOW - 10 * MINUTE });
const theirs = message({ id: 3, body: "ok", ts: NOW - 9 * MINUTE });

describe("editing", () => {
  it("Up in an empty composer edits my last text; Enter saves it", async () => {
    ipc.editMessage.mockImplementation(async (id, body) => ({ ...mine, id, body, edited: true }));
    const { user } = await open([older, mine, theirs]);
    await user.click(composer());
    await user.keyboard("{ArrowUp}");
    const bar = await screen.findByTestId("edit-bar");
    expect(bar.textContent).toContain("Editing");
    expect(bar.textContent).toContain("see you at 5");
    expect(composer().value).toBe("see you at 5");
    await user.clear(composer());
    await user.type(composer(), "see you at 6{Enter}");
    expect(ipc.editMessage).toHaveBeenCalledWith(2, "see you at 6");
    expect(ipc.sendMessage).not.toHaveBeenCalled();
    await waitFor(() => expect(screen.queryByTestId("edit-bar")).toBeNull());
    expect(composer().value).toBe("");
    // The message shows its new text and a quiet "edited".
    expect(within(byId(2)).getByTestId("message-body").textContent).toBe("see you at 6");
    expect(within(byId(2)).getByTestId("edited-marker").textContent).toBe("edited");
    // Typing notices are for new messages, not edits.
    expect(ipc.setTyping).not.toHaveBeenCalledWith("u:bob", true);
  });

  it("Escape leaves the edit and gives the draft back; nothing is sent", async () => {
    const { user } = await open([mine, theirs]);
    await user.type(composer(), "half a thought");
    await user.clear(composer());
    // Up only edits from an empty composer.
    await user.type(composer(), "x");
    await user.keyboard("{ArrowUp}");
    expect(screen.queryByTestId("edit-bar")).toBeNull();
    await user.clear(composer());
    await user.keyboard("{ArrowUp}");
    expect(composer().value).toBe("see you at 5");
    await user.type(composer(), " or later");
    await user.keyboard("{Escape}");
    expect(screen.queryByTestId("edit-bar")).toBeNull();
    expect(composer().value).toBe("");
    expect(ipc.editMessage).not.toHaveBeenCalled();
  });

  it("keeps a draft aside while editing from the menu", async () => {
    const { user } = await open([mine, theirs]);
    await user.type(composer(), "my draft");
    await user.hover(byId(2));
    await user.click(within(byId(2)).getByTestId("action-more"));
    await user.click(await screen.findByTestId("menu-edit"));
    await screen.findByTestId("edit-bar");
    expect(composer().value).toBe("see you at 5");
    expect(document.activeElement).toBe(composer());
    await user.click(screen.getByRole("button", { name: "Cancel editing" }));
    expect(composer().value).toBe("my draft");
  });

  it("does not save an empty text, and says why", async () => {
    const { user } = await open([mine]);
    await user.click(composer());
    await user.keyboard("{ArrowUp}");
    await user.clear(composer());
    await user.keyboard("{Enter}");
    expect(ipc.editMessage).not.toHaveBeenCalled();
    expect(screen.getByTestId("composer-refusal").textContent).toContain("delete it for everyone instead");
    expect(screen.getByTestId("edit-bar")).toBeTruthy();
  });

  it("Up does nothing when I have nothing to edit", async () => {
    const { user } = await open([theirs, message({ id: 4, outgoing: true, deleted: true, body: "", ts: NOW - MINUTE })]);
    await user.click(composer());
    await user.keyboard("{ArrowUp}");
    expect(screen.queryByTestId("edit-bar")).toBeNull();
  });

  it("shows the earlier versions from the edited marker", async () => {
    ipc.messageVersions.mockResolvedValue([
      { body: "see you at 5", ts: NOW - 10 * MINUTE },
      { body: "see you at 6", ts: NOW - 8 * MINUTE },
    ]);
    const { user } = await open([{ ...mine, body: "see you at 6", edited: true }]);
    await user.click(within(byId(2)).getByTestId("edited-marker"));
    const popover = await screen.findByTestId("message-versions");
    await waitFor(() => expect(within(popover).getAllByTestId("message-version")).toHaveLength(2));
    const versions = within(popover).getAllByTestId("message-version").map((v) => v.textContent);
    expect(versions[0]).toContain("see you at 5");
    expect(versions[0]).toContain("original");
    expect(versions[1]).toContain("see you at 6");
    expect(versions[1]).toContain("shown now");
    expect(ipc.messageVersions).toHaveBeenCalledWith(2);
    await user.keyboard("{Escape}");
    expect(screen.queryByTestId("message-versions")).toBeNull();
  });

  it("an edit from the other side shows at once", async () => {
    await open([theirs]);
    ipc.emitClient({ type: "message_changed", message: { ...theirs, body: "ok, 6 then", edited: true } });
    expect(within(byId(3)).getByTestId("message-body").textContent).toBe("ok, 6 then");
    expect(within(byId(3)).getByTestId("edited-marker")).toBeTruthy();
  });
});
