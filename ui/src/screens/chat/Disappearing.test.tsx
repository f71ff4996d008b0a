import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { timerWords } from "../../lib/disappearing";
import { conversation } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

describe("disappearing messages in the header", () => {
  it("offers the lengths, sets one, and shows it in words once on", async () => {
    const bob = conversation({ peer: "bob" });
    const { user } = await renderApp({ conversations: [bob] });
    await openConversation(user, "u:bob");
    expect(screen.queryByTestId("timer-badge")).toBeNull();

    await user.click(screen.getByRole("button", { name: "Disappearing messages: off" }));
    const menu = await screen.findByTestId("timer-menu");
    expect(within(menu).getByRole("menuitemradio", { checked: true }).textContent).toBe("Off");
    expect(within(menu).getAllByRole("menuitemradio").map((b) => b.textContent)).toEqual([
      "Off",
      "30 seconds",
      "5 minutes",
      "1 hour",
      "1 day",
      "1 week",
    ]);
    await user.click(screen.getByTestId("menu-timer-1h"));
    expect(ipc.setDisappearing).toHaveBeenCalledWith("u:bob", 3600);

    ipc.emitClient({ type: "conversation_updated", conversation: { ...bob, disappear_secs: 3600 } });
    const badge = await screen.findByTestId("timer-badge");
    expect(badge.textContent).toContain("1 hour");
    expect(screen.getByRole("button", { name: "Disappearing messages: 1 hour" })).toBeTruthy();

    await user.click(screen.getByRole("button", { name: "Disappearing messages: 1 hour" }));
    await user.click(await screen.findByTestId("menu-timer-off"));
    expect(ipc.setDisappearing).toHaveBeenLastCalledWith("u:bob", null);
    ipc.emitClient({ type: "conversation_updated", conversation: { ...bob, disappear_secs: null } });
    await waitFor(() => expect(screen.queryByTestId("timer-badge")).toBeNull());
  });

  it("says why when the timer can't be set", async () => {
    ipc.setDisappearing.mockRejectedValueOnce({ code: "offline", message: "offline" });
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    await openConversation(user, "u:bob");
    await user.click(screen.getByTestId("timer-button"));
    await user.click(await screen.findByTestId("menu-timer-30s"));
    expect(await screen.findByTestId("timer-error")).toBeTruthy();
  });

  it("words lengths as the engine does", () => {
    expect(timerWords(30)).toBe("30 seconds");
    expect(timerWords(60)).toBe("1 minute");
    expect(timerWords(2 * 86400)).toBe("2 days");
    expect(timerWords(4 * 7 * 86400)).toBe("4 weeks");
    expect(timerWords(90)).toBe("90 seconds");
  });
});
