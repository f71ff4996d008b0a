import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { conversation, HOUR, NOW, readyStatus } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

const list = [
  conversation({ peer: "bob", title: "bob", last_ts: NOW - HOUR }),
  conversation({ peer: "club", kind: "group", title: "Book club", last_ts: NOW - 2 * HOUR }),
  conversation({ peer: "carol", title: "carol", last_ts: NOW - 3 * HOUR }),
];

function openId(): string | null {
  return screen.queryByTestId("chat-view")?.getAttribute("data-conversation-id") ?? null;
}

describe("keyboard", () => {
  it("Ctrl+Q quits, also with a dialog open and before signing in", async () => {
    const { user, unmount } = await renderApp({ conversations: list });
    await user.keyboard("{Control>}q{/Control}");
    expect(ipc.quit).toHaveBeenCalledTimes(1);

    await user.keyboard("{Control>},{/Control}");
    expect(screen.getByTestId("settings-panel")).toBeTruthy();
    await user.keyboard("{Control>}q{/Control}");
    expect(ipc.quit).toHaveBeenCalledTimes(2);
    // Only the shortcut: a plain q typed anywhere quits nothing.
    await user.keyboard("q{Control>}{Shift>}q{/Shift}{/Control}");
    expect(ipc.quit).toHaveBeenCalledTimes(2);
    unmount();

    const welcome = await renderApp({ status: { ...readyStatus(), phase: "welcome", account: null } });
    await welcome.user.keyboard("{Control>}q{/Control}");
    expect(ipc.quit).toHaveBeenCalledTimes(3);
  });

  it("Alt+Down / Alt+Up move between conversations", async () => {
    const { user } = await renderApp({ conversations: list });
    await waitFor(() => expect(screen.getAllByTestId("conversation-row")).toHaveLength(3));

    await user.keyboard("{Alt>}{ArrowDown}{/Alt}");
    expect(openId()).toBe("u:bob");
    await user.keyboard("{Alt>}{ArrowDown}{/Alt}");
    expect(openId()).toBe("g:club");
    await user.keyboard("{Alt>}{ArrowDown}{/Alt}{Alt>}{ArrowDown}{/Alt}");
    expect(openId()).toBe("u:carol");
    await user.keyboard("{Alt>}{ArrowUp}{/Alt}");
    expect(openId()).toBe("g:club");
  });

  it("Ctrl+K filters conversations by title and Enter opens the match", async () => {
    const { user } = await renderApp({ conversations: list });
    await waitFor(() => expect(screen.getAllByTestId("conversation-row")).toHaveLength(3));

    await user.keyboard("{Control>}k{/Control}");
    const input = screen.getByTestId("switcher-input");
    expect(document.activeElement).toBe(input);
    await user.keyboard("book");
    // "book" is also a valid user id, so starting a chat with it is offered last.
    expect(screen.getAllByTestId("switcher-option").map((o) => o.textContent)).toEqual([
      "Book club",
      "Start chat with book",
    ]);
    await user.keyboard("{Enter}");

    expect(openId()).toBe("g:club");
    expect(screen.queryByTestId("switcher-input")).toBeNull();
  });

  it("Ctrl+K offers to start a chat with a typed user id", async () => {
    const { user } = await renderApp({ conversations: list });
    await user.keyboard("{Control>}k{/Control}");
    await user.keyboard("dave");
    const options = screen.getAllByTestId("switcher-option");
    expect(options.at(-1)?.textContent).toBe("Start chat with dave");
    await user.keyboard("{Enter}");

    expect(ipc.startDirect).toHaveBeenCalledWith("dave");
    await waitFor(() => expect(openId()).toBe("u:dave"));
  });

  it("Ctrl+N opens a new chat, Ctrl+, opens settings, Escape closes and focus returns", async () => {
    const { user } = await renderApp({ conversations: list });
    const button = screen.getByTestId("settings-button");
    button.focus();

    await user.keyboard("{Control>}n{/Control}");
    expect(screen.getByTestId("new-chat-user")).toBeTruthy();
    expect(document.activeElement).toBe(screen.getByTestId("new-chat-user"));
    await user.keyboard("{Escape}");
    expect(screen.queryByTestId("new-chat-user")).toBeNull();
    expect(document.activeElement).toBe(button);

    await user.keyboard("{Control>},{/Control}");
    expect(screen.getByTestId("settings-panel")).toBeTruthy();
  });

  it("keeps Tab inside an open dialog", async () => {
    const { user } = await renderApp({ conversations: list });
    await user.keyboard("{Control>}n{/Control}");
    const dialog = screen.getByRole("dialog");
    for (let i = 0; i < 6; i++) {
      await user.tab();
      expect(dialog.contains(document.activeElement)).toBe(true);
    }
    await user.tab({ shift: true });
    expect(dialog.contains(document.activeElement)).toBe(true);
  });
});
