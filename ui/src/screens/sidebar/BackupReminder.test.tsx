import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import * as ipc from "../../test/ipcMock";
import { conversation } from "../../test/fixtures";
import { renderApp } from "../../test/render";

const chats = [conversation({ id: "u:bob", peer: "bob", title: "bob" })];

describe("backup reminder", () => {
  it("suggests a backup once there are messages and none was made, and goes away after one", async () => {
    ipc.backupStatus.mockResolvedValue({ last_backup_ms: null });
    const { user } = await renderApp({ conversations: chats });
    const reminder = await screen.findByTestId("backup-reminder");
    expect(reminder.textContent).toContain("Keep your messages safe.");

    await user.click(screen.getByTestId("backup-reminder-start"));
    await waitFor(() => expect((screen.getByTestId("backup-path") as HTMLInputElement).value).not.toBe(""));
    await user.type(screen.getByTestId("backup-passphrase"), "correct horse battery");
    await user.type(screen.getByTestId("backup-passphrase-confirm"), "correct horse battery");
    await user.click(screen.getByTestId("backup-start"));
    await screen.findByTestId("backup-done");
    expect(screen.queryByTestId("backup-reminder")).toBeNull();
  });

  it("stays away after 'Not now', and Settings can bring it back", async () => {
    ipc.backupStatus.mockResolvedValue({ last_backup_ms: null });
    const { user } = await renderApp({ conversations: chats });
    await user.click(await screen.findByTestId("backup-reminder-dismiss"));
    expect(ipc.setSettings).toHaveBeenLastCalledWith(expect.objectContaining({ backup_reminder: false }));
    expect(screen.queryByTestId("backup-reminder")).toBeNull();

    await user.click(screen.getByTestId("settings-button"));
    expect(screen.getByTestId("last-backup").textContent).toBe("This computer hasn't made a backup yet.");
    await user.click(screen.getByTestId("backup-reminder-toggle"));
    expect(ipc.setSettings).toHaveBeenLastCalledWith(expect.objectContaining({ backup_reminder: true }));
    await user.click(screen.getByTestId("close-button"));
    expect(await screen.findByTestId("backup-reminder")).toBeTruthy();
  });

  it("says nothing without messages, or when a backup exists", async () => {
    ipc.backupStatus.mockResolvedValue({ last_backup_ms: null });
    await renderApp({ conversations: [] });
    await waitFor(() => expect(ipc.backupStatus).toHaveBeenCalled());
    expect(screen.queryByTestId("backup-reminder")).toBeNull();
  });

  it("says nothing when this profile was backed up", async () => {
    await renderApp({ conversations: chats });
    await waitFor(() => expect(ipc.backupStatus).toHaveBeenCalled());
    expect(screen.queryByTestId("backup-reminder")).toBeNull();
  });
});
