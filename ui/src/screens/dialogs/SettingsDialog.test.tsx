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
    expect(ipc.setSettings).toHaveBeenLastCalledWith({ theme: "dark", notifications: true, previews: true, backup_reminder: true, keep_running: true, start_at_login: false });
  });

  it("saves the notification switches", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));

    await user.click(screen.getByTestId("previews-toggle"));
    expect(ipc.setSettings).toHaveBeenLastCalledWith({ theme: "system", notifications: true, previews: false, backup_reminder: true, keep_running: true, start_at_login: false });
    await user.click(screen.getByTestId("notifications-toggle"));
    expect(ipc.setSettings).toHaveBeenLastCalledWith({ theme: "system", notifications: false, previews: false, backup_reminder: true, keep_running: true, start_at_login: false });
    expect((screen.getByTestId("notifications-toggle") as HTMLInputElement).checked).toBe(false);
  });

  it("sets how large a file may be to download automatically, or turns it off", async () => {
    ipc.autoDownloadLimit.mockResolvedValue(16 * 1024 * 1024);
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    const toggle = screen.getByTestId("auto-download-toggle") as HTMLInputElement;
    const size = screen.getByTestId("auto-download-mb") as HTMLInputElement;
    await waitFor(() => expect(toggle.checked).toBe(true));
    expect(size.value).toBe("16");

    await user.clear(size);
    await user.type(size, "50{Enter}");
    expect(ipc.setAutoDownloadLimit).toHaveBeenLastCalledWith(50 * 1024 * 1024);

    await user.click(toggle);
    expect(ipc.setAutoDownloadLimit).toHaveBeenLastCalledWith(0);
    expect(toggle.checked).toBe(false);
    expect(size.disabled).toBe(true);
    // On again: the size typed before.
    await user.click(toggle);
    expect(ipc.setAutoDownloadLimit).toHaveBeenLastCalledWith(50 * 1024 * 1024);
  });

  it("turns read receipts off and on", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    const privacy = screen.getByRole("region", { name: "Privacy" });
    expect(privacy.textContent).toContain("If you turn this off, you won't see read receipts from others either.");
    const toggle = screen.getByRole("checkbox", { name: /Send read receipts/u }) as HTMLInputElement;
    await waitFor(() => expect(toggle.checked).toBe(true));

    await user.click(toggle);
    expect(ipc.setReadReceipts).toHaveBeenLastCalledWith(false);
    expect(toggle.checked).toBe(false);
    await user.click(toggle);
    expect(ipc.setReadReceipts).toHaveBeenLastCalledWith(true);
    expect(toggle.checked).toBe(true);
  });

  it("shows read receipts as they are, and puts the switch back when saving fails", async () => {
    ipc.readReceipts.mockResolvedValue(false);
    ipc.setReadReceipts.mockRejectedValueOnce({ code: "storage", message: "disk full" });
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    const toggle = screen.getByTestId("read-receipts-toggle") as HTMLInputElement;
    await waitFor(() => expect(toggle.disabled).toBe(false));
    expect(toggle.checked).toBe(false);

    await user.click(toggle);
    expect(ipc.setReadReceipts).toHaveBeenLastCalledWith(true);
    await waitFor(() => expect(toggle.checked).toBe(false));
    expect(screen.getByTestId("privacy-error").textContent).not.toBe("");
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

  it("keeps Sotto running in the background by default, and saves the switch", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    const toggle = screen.getByTestId("keep-running-toggle") as HTMLInputElement;
    expect(toggle.checked).toBe(true);
    expect(screen.getByText("Keep Sotto running when its window is closed")).toBeTruthy();

    await user.click(toggle);
    expect(ipc.setSettings).toHaveBeenLastCalledWith(expect.objectContaining({ keep_running: false }));
    expect(toggle.checked).toBe(false);
  });

  it("shows whether Sotto starts at login as the system says, and changes it", async () => {
    // The system's autostart entry exists, whatever Sotto stored (get_settings reads it).
    ipc.getSettings.mockResolvedValue({ ...(await ipc.getSettings()), start_at_login: true });
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    const toggle = screen.getByTestId("start-at-login-toggle") as HTMLInputElement;
    await waitFor(() => expect(toggle.checked).toBe(true));

    await user.click(toggle);
    expect(ipc.setSettings).toHaveBeenLastCalledWith(expect.objectContaining({ start_at_login: false }));
    expect(toggle.checked).toBe(false);
  });

  it("says plainly when starting at login can't be changed, and shows the real state again", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    ipc.setSettings.mockRejectedValueOnce({ code: "settings", message: "Permission denied (os error 13)" });

    await user.click(screen.getByTestId("start-at-login-toggle"));
    await waitFor(() => expect((screen.getByTestId("start-at-login-toggle") as HTMLInputElement).checked).toBe(false));
    expect(screen.getByTestId("dialog-error").textContent).toMatch(/couldn't change whether it starts when you log in/u);
    expect(screen.getByRole("alert").textContent).toContain("Details: settings");
  });

  it("quits from its Quit button, which names its shortcut", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    const quit = screen.getByTestId("quit");
    expect(quit.textContent).toContain("Quit Sotto");
    expect(quit.textContent).toContain("Ctrl+Q");
    expect(quit.getAttribute("aria-keyshortcuts")).toBe("Control+Q");

    await user.click(quit);
    expect(ipc.quit).toHaveBeenCalledTimes(1);
  });

  it("closes with the close button", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    await user.click(screen.getByTestId("close-button"));
    expect(screen.queryByTestId("settings-panel")).toBeNull();
  });
});
