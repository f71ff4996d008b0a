import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Message } from "../../lib/types";
import { conversation, message, MINUTE, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";
import { scrolledTo } from "../../test/virtuosoMock";

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

const question = message({ id: 1, body: "lunch at noon?", ts: NOW - 10 * MINUTE });

describe("replies", () => {
  it("quotes the message above the composer; Escape leaves it and keeps the text", async () => {
    const { user } = await open([question]);
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-reply"));
    const bar = await screen.findByTestId("reply-bar");
    expect(bar.textContent).toContain("Replying to bob");
    expect(bar.textContent).toContain("lunch at noon?");
    // The composer takes focus to write the answer.
    expect(document.activeElement).toBe(composer());
    await user.type(composer(), "sounds good");
    await user.keyboard("{Escape}");
    expect(screen.queryByTestId("reply-bar")).toBeNull();
    expect(composer().value).toBe("sounds good");
    // A second Escape clears the draft, as before.
    await user.keyboard("{Escape}");
    expect(composer().value).toBe("");
  });

  it("the close button leaves it too", async () => {
    const { user } = await open([question]);
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-reply"));
    await user.click(await screen.findByRole("button", { name: "Cancel reply" }));
    expect(screen.queryByTestId("reply-bar")).toBeNull();
  });

  it("sends the text as a reply, which shows its quote", async () => {
    ipc.replyToMessage.mockImplementation(async (id, body) =>
      message({
        id: 2,
        body,
        outgoing: true,
        status: "queued",
        ts: NOW,
        reply_to: { sender_user: "bob", message_id: "msg-1", id, body: "lunch at noon?", deleted: false },
      }),
    );
    const { user } = await open([question]);
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-reply"));
    await user.type(composer(), "yes!{Enter}");
    expect(ipc.replyToMessage).toHaveBeenCalledWith(1, "yes!");
    expect(ipc.sendMessage).not.toHaveBeenCalled();
    expect(screen.queryByTestId("reply-bar")).toBeNull();
    const quote = await waitFor(() => within(byId(2)).getByTestId("quote"));
    expect(quote.textContent).toBe("boblunch at noon?");
    expect(within(byId(2)).getByTestId("message-body").textContent).toBe("yes!");
  });

  it("keeps the text and the quote when the reply is refused", async () => {
    ipc.replyToMessage.mockRejectedValue({ code: "invalid_input", message: "That message was deleted." });
    const { user } = await open([question]);
    await user.hover(byId(1));
    await user.click(within(byId(1)).getByTestId("action-reply"));
    await user.type(composer(), "yes!{Enter}");
    expect(await screen.findByText(/can't be answered any more/)).toBeTruthy();
    expect(composer().value).toBe("yes!");
    expect(screen.getByTestId("reply-bar")).toBeTruthy();
  });

  it("a click on a quote scrolls to the original and highlights it briefly", async () => {
    const reply = message({
      id: 3,
      outgoing: true,
      body: "yes!",
      ts: NOW - 5 * MINUTE,
      reply_to: { sender_user: "bob", message_id: "msg-1", id: 1, body: "lunch at noon?", deleted: false },
    });
    const { user } = await open([question, message({ id: 2, ts: NOW - 8 * MINUTE }), reply]);
    await user.click(within(byId(3)).getByTestId("quote"));
    await waitFor(() => expect(byId(1).getAttribute("data-highlighted")).toBe("true"));
    expect(scrolledTo).toEqual([{ index: 0, align: "center", behavior: "smooth" }]);
    await waitFor(() => expect(document.activeElement).toBe(byId(1)));
    await waitFor(() => expect(byId(1).getAttribute("data-highlighted")).toBeNull(), { timeout: 3000 });
  });

  it("loads the original around it when it is further back than the loaded messages", async () => {
    const older = Array.from({ length: 80 }, (_, i) => message({ id: i + 1, ts: NOW - (200 - i) * MINUTE }));
    const reply = message({
      id: 100,
      outgoing: true,
      body: "about that",
      ts: NOW - MINUTE,
      reply_to: { sender_user: "bob", message_id: "msg-3", id: 3, body: older[2]!.body, deleted: false },
    });
    const { user } = await open([...older, reply]);
    // The newest page (50) is loaded: message 3 is not.
    expect(document.querySelector('[data-message-id="3"]')).toBeNull();
    await user.click(within(byId(100)).getByTestId("quote"));
    await waitFor(() => expect(byId(3).getAttribute("data-highlighted")).toBe("true"));
    await waitFor(() => expect(document.activeElement).toBe(byId(3)));
  });

  it("says when the original is not on this device, and when it was deleted", async () => {
    const missing = message({
      id: 2,
      body: "which one?",
      ts: NOW - 5 * MINUTE,
      reply_to: { sender_user: "carol", message_id: "gone", id: null, body: "", deleted: false },
    });
    const toDeleted = message({
      id: 3,
      body: "too late",
      ts: NOW - 4 * MINUTE,
      reply_to: { sender_user: "alice", message_id: "msg-9", id: 9, body: "", deleted: true },
    });
    const toUnloadable = message({
      id: 4,
      body: "hm",
      ts: NOW - 3 * MINUTE,
      reply_to: { sender_user: "alice", message_id: "msg-8", id: 8, body: "old", deleted: false },
    });
    const { user } = await open([missing, toDeleted, toUnloadable]);
    expect(within(byId(2)).getByTestId("quote").textContent).toBe("carolThe original message is not on this device");
    expect(within(byId(3)).getByTestId("quote").textContent).toBe("YouMessage deleted");
    // Its row is known but the conversation no longer has it: said under the quote.
    await user.click(within(byId(4)).getByTestId("quote"));
    expect((await within(byId(4)).findByTestId("quote-note")).textContent).toBe(
      "The original message is not on this device.",
    );
  });

  it("a quote follows the original when it is edited or deleted later", async () => {
    const reply = message({
      id: 2,
      outgoing: true,
      body: "yes!",
      ts: NOW - 5 * MINUTE,
      reply_to: { sender_user: "bob", message_id: "msg-1", id: 1, body: "lunch at noon?", deleted: false },
    });
    await open([question, reply]);
    ipc.emitClient({ type: "message_changed", message: { ...question, body: "lunch at one?", edited: true } });
    expect(within(byId(2)).getByTestId("quote").textContent).toBe("boblunch at one?");
    ipc.emitClient({ type: "message_changed", message: { ...question, body: "", deleted: true } });
    expect(within(byId(2)).getByTestId("quote").textContent).toBe("bobMessage deleted");
  });
});
