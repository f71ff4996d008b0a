import { screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { conversation, message, MINUTE, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

/** jsdom lays nothing out; the list's prefetch takes rows inside the list's box, so give every
 * element one (the nav 600 px high, each row 60 px, stacked by position). */
function layOutRows() {
  return vi.spyOn(Element.prototype, "getBoundingClientRect").mockImplementation(function (this: Element) {
    const rows = Array.from(document.querySelectorAll("[data-testid=conversation-row]"));
    const i = rows.indexOf(this);
    const top = i < 0 ? 0 : i * 60;
    const height = i < 0 ? 600 : 60;
    return { top, bottom: top + height, left: 0, right: 300, width: 300, height, x: 0, y: top, toJSON: () => ({}) };
  });
}

function setup() {
  const bob = conversation({ peer: "bob", title: "bob", last_ts: NOW, unread: 2 });
  const carol = conversation({ peer: "carol", title: "carol", last_ts: NOW - 60 * MINUTE });
  const messages = {
    [bob.id]: [1, 2, 3].map((id) => message({ id, conversation_id: bob.id, ts: NOW - (4 - id) * MINUTE, body: `bob ${id}` })),
    [carol.id]: [message({ id: 9, conversation_id: carol.id, body: "carol 9" })],
  };
  return { bob, carol, messages };
}

describe("first-open warm-up", () => {
  afterEach(() => vi.restoreAllMocks());

  it("draws the top conversation once, hidden and inert, without marking it read or taking focus", async () => {
    layOutRows();
    const { bob, carol, messages } = setup();
    const { user } = await renderApp({ conversations: [bob, carol], messages });

    const warm = await screen.findByTestId("chat-warmup", {}, { timeout: 3000 });
    expect(warm.getAttribute("aria-hidden")).toBe("true");
    expect(warm.hasAttribute("inert")).toBe(true);
    expect(warm.querySelector(`[data-conversation-id="${bob.id}"]`)).not.toBeNull();
    // Its messages from the prefetch, in the first view only: no list component, no focus.
    expect(Array.from(warm.querySelectorAll("[data-testid=message-body]")).map((e) => e.textContent)).toEqual([
      "bob 1",
      "bob 2",
      "bob 3",
    ]);
    expect(warm.querySelector("[data-testid=virtuoso]")).toBeNull();
    expect(document.activeElement).not.toBe(warm.querySelector("textarea"));
    expect(screen.queryByTestId("chat-view")).toBeNull();

    await waitFor(() => expect(screen.queryByTestId("chat-warmup")).toBeNull());
    expect(ipc.markRead).not.toHaveBeenCalled();
    expect(screen.getByText("Choose a conversation to read it.")).toBeTruthy();

    // Opening it afterwards is the real view, and only once: closing it brings no new warm-up.
    await openConversation(user, bob.id);
    expect(ipc.markRead).toHaveBeenCalledWith(bob.id);
    await user.click(screen.getByRole("button", { name: "Back to conversations" }));
    await waitFor(() => expect(screen.queryByTestId("chat-view")).toBeNull());
    await new Promise((r) => setTimeout(r, 400));
    expect(screen.queryByTestId("chat-warmup")).toBeNull();
  });

  it("is skipped once a conversation is open", async () => {
    const { bob, carol, messages } = setup();
    const { user } = await renderApp({ conversations: [bob, carol], messages });
    await openConversation(user, carol.id);
    layOutRows();
    await new Promise((r) => setTimeout(r, 400));
    expect(screen.queryByTestId("chat-warmup")).toBeNull();
  });
});
