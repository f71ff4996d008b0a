import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

describe("settings", () => {
  it("shows the account and applies and saves the theme", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    const panel = screen.getByTestId("settings-panel");
    expect(panel.textContent).toContain("alice");
    expect(panel.textContent).toContain("DEVALICE");
    expect(panel.textContent).toContain("https://chat.example.org");
    expect(document.documentElement.dataset.theme).toBe("light"); // system, with a light preference

    await user.selectOptions(screen.getByTestId("theme-select"), "dark");
    expect(document.documentElement.dataset.theme).toBe("dark");
    expect(ipc.setSettings).toHaveBeenLastCalledWith({ theme: "dark", notifications: true, previews: true, backup_reminder: true });
  });

  it("saves the notification switches", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));

    await user.click(screen.getByTestId("previews-toggle"));
    expect(ipc.setSettings).toHaveBeenLastCalledWith({ theme: "system", notifications: true, previews: false, backup_reminder: true });
    await user.click(screen.getByTestId("notifications-toggle"));
    expect(ipc.setSettings).toHaveBeenLastCalledWith({ theme: "system", notifications: false, previews: false, backup_reminder: true });
    expect((screen.getByTestId("notifications-toggle") as HTMLInputElement).checked).toBe(false);
  });

  it("puts a setting back and explains when saving fails", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    ipc.setSettings.mockRejectedValueOnce({ code: "storage", message: "disk full" });

    await user.click(screen.getByTestId("notifications-toggle"));
    await waitFor(() => expect((screen.getByTestId("notifications-toggle") as HTMLInputElement).checked).toBe(true));
    expect(screen.getByTestId("dialog-error").textContent).toMatch(/couldn't read or write its data/u);
  });

  it("signs out only after a clear confirmation", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    await user.click(screen.getByTestId("sign-out"));

    const confirm = screen.getByRole("dialog", { name: "Sign out of this computer?" });
    expect(confirm.textContent).toContain("deletes its copy of your messages and keys");
    expect(ipc.signOut).not.toHaveBeenCalled();

    await user.click(screen.getByTestId("confirm-button"));
    expect(ipc.signOut).toHaveBeenCalledTimes(1);
    expect(await screen.findByTestId("welcome")).toBeTruthy();
  });

  it("closes with the close button", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    await user.click(screen.getByTestId("close-button"));
    expect(screen.queryByTestId("settings-panel")).toBeNull();
  });
});
