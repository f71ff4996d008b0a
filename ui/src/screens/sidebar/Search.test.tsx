import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { SearchHit } from "../../lib/types";
import { conversation, HOUR, message, MINUTE, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

const evil = '<img src=x onerror="window.pwned=1">';

function hit(id: number, snippet: string, title = "bob"): SearchHit {
  return { message: message({ id, ts: NOW - HOUR, body: snippet.replace(/[\u0002\u0003]/gu, "") }), conversation_title: title, snippet };
}

describe("search", () => {
  it("renders matches in <mark> and keeps markup in a body as text", async () => {
    ipc.searchMessages.mockResolvedValue([hit(7, `${evil} see \u0002you\u0003 at \u00027\u0003`)]);
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });

    await user.type(screen.getByTestId("search-input"), "you");
    const result = await screen.findByTestId("search-result");

    expect(ipc.searchMessages).toHaveBeenLastCalledWith("you", 50);
    expect(result.getAttribute("data-message-id")).toBe("7");
    expect(Array.from(result.querySelectorAll("mark")).map((m) => m.textContent)).toEqual(["you", "7"]);
    expect(result.querySelector("img")).toBeNull();
    expect(result.textContent).toContain(evil);
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
    expect(within(result).getByText("bob")).toBeTruthy();
    expect(result.querySelector("time")?.textContent).toBe("14:30");
    // While searching, the results replace the conversation list.
    expect(screen.queryByTestId("conversation-list")).toBeNull();
  });

  it("waits for a pause in typing before searching", async () => {
    const { user } = await renderApp({ conversations: [] });
    await user.type(screen.getByTestId("search-input"), "abc");
    await waitFor(() => expect(ipc.searchMessages).toHaveBeenCalled());
    expect(ipc.searchMessages).toHaveBeenCalledTimes(1);
    expect(ipc.searchMessages).toHaveBeenCalledWith("abc", 50);
  });

  it("says when nothing matches, and Escape brings the list back", async () => {
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    await user.type(screen.getByTestId("search-input"), "zebra");
    expect(await screen.findByText("No messages match “zebra”.")).toBeTruthy();
    await user.keyboard("{Escape}");
    expect(screen.getByTestId("conversation-list")).toBeTruthy();
  });

  it("jumps to a hit: loads a window around it and highlights it", async () => {
    const before = Array.from({ length: 3 }, (_, i) => message({ id: 10 + i, ts: NOW - 3 * HOUR + i * MINUTE }));
    const target = message({ id: 20, ts: NOW - 2 * HOUR, body: "the one" });
    const after = [message({ id: 30, ts: NOW - HOUR })];
    ipc.searchMessages.mockResolvedValue([{ message: target, conversation_title: "bob", snippet: "\u0002the one\u0003" }]);
    ipc.loadMessages.mockResolvedValue(before);
    ipc.loadMessagesAfter.mockResolvedValue(after);
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    ipc.loadMessages.mockResolvedValue(before);
    ipc.loadMessagesAfter.mockResolvedValue(after);

    await user.type(screen.getByTestId("search-input"), "one");
    await user.click(await screen.findByTestId("search-result"));

    const chat = await screen.findByTestId("chat-view");
    expect(chat.getAttribute("data-conversation-id")).toBe("u:bob");
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(5));
    expect(ipc.loadMessages).toHaveBeenCalledWith("u:bob", 20, 25);
    expect(ipc.loadMessagesAfter).toHaveBeenCalledWith("u:bob", 20, 25);
    const highlighted = document.querySelectorAll('[data-highlighted="true"]');
    expect(highlighted).toHaveLength(1);
    expect(highlighted[0]?.getAttribute("data-message-id")).toBe("20");
  });

  it("Enter in the search box opens the first hit; Ctrl+F focuses the box", async () => {
    ipc.searchMessages.mockResolvedValue([hit(7, "\u0002hi\u0003")]);
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });

    await user.keyboard("{Control>}f{/Control}");
    expect(document.activeElement).toBe(screen.getByTestId("search-input"));
    await user.keyboard("hi");
    await screen.findByTestId("search-result");
    await user.keyboard("{Enter}");
    expect((await screen.findByTestId("chat-view")).getAttribute("data-conversation-id")).toBe("u:bob");
  });
});
