import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { KeyBackupRestore } from "../../lib/types";
import * as ipc from "../../test/ipcMock";
import { controlledTask } from "../../test/controlledTask";
import { renderApp } from "../../test/render";

async function openSettings() {
  const rendered = await renderApp();
  await rendered.user.click(screen.getByTestId("settings-button"));
  await waitFor(() => expect(screen.getByTestId("key-backup-status").textContent).toMatch(/Key backup is off/u));
  return rendered;
}

describe("key backup", () => {
  it("turns on with a recovery key that is shown once and must be confirmed as saved", async () => {
    const { user } = await openSettings();
    await user.click(screen.getByTestId("key-backup-enable"));
    await user.click(screen.getByTestId("key-backup-start"));
    expect(ipc.enableKeyBackup).toHaveBeenCalledWith(null, false);
    expect(screen.getByTestId("recovery-key").textContent).toBe("SOTTO-ABCD EFGH JKLM NPQR STUV WXYZ 2345 6789");

    // Neither Escape nor Done loses the key before the person says it is saved.
    await user.keyboard("{Escape}");
    expect(screen.getByTestId("recovery-key")).toBeTruthy();
    expect((screen.getByTestId("key-backup-done") as HTMLButtonElement).disabled).toBe(true);
    await user.click(screen.getByTestId("recovery-key-saved"));
    ipc.keyBackupStatus.mockResolvedValue({
      enabled: true,
      kind: "recovery_key",
      version: 1,
      sessions: 3,
      backed_up: 3,
      error: null,
    });
    await user.click(screen.getByTestId("key-backup-done"));
    await waitFor(() =>
      expect(screen.getByTestId("key-backup-status").textContent).toBe(
        "Key backup is on, protected by a recovery key: 3 of 3 group keys are saved on the server.",
      ),
    );
    expect(screen.queryByTestId("key-backup-enable")).toBeNull();
  });

  it("turns on with a passphrase of at least 10 characters", async () => {
    const { user } = await openSettings();
    await user.click(screen.getByTestId("key-backup-enable"));
    await user.click(screen.getByTestId("key-backup-kind-passphrase"));
    await user.type(screen.getByTestId("key-backup-passphrase"), "too short");
    await user.type(screen.getByTestId("key-backup-passphrase-confirm"), "too short");
    await user.click(screen.getByTestId("key-backup-start"));
    expect(screen.getByTestId("key-backup-error").textContent).toMatch(/at least 10 characters/u);
    expect(ipc.enableKeyBackup).not.toHaveBeenCalled();

    await user.type(screen.getByTestId("key-backup-passphrase"), "!!");
    await user.type(screen.getByTestId("key-backup-passphrase-confirm"), "!!");
    await user.click(screen.getByTestId("key-backup-start"));
    expect(ipc.enableKeyBackup).toHaveBeenCalledWith("too short!!", false);
    expect(await screen.findByTestId("key-backup-on")).toBeTruthy();
  });

  it("offers to restore, or to replace, a backup another device made", async () => {
    ipc.enableKeyBackup.mockRejectedValueOnce({ code: "key_backup_exists", message: "exists" });
    const { user } = await openSettings();
    await user.click(screen.getByTestId("key-backup-enable"));
    await user.click(screen.getByTestId("key-backup-start"));
    expect((await screen.findByTestId("key-backup-exists")).textContent).toContain("already has a key backup");
    await user.click(screen.getByTestId("key-backup-replace"));
    expect(ipc.enableKeyBackup).toHaveBeenLastCalledWith(null, true);
    expect(await screen.findByTestId("recovery-key")).toBeTruthy();
  });

  it("restores with the recovery key and says what it read; a wrong key changes nothing", async () => {
    const { user } = await openSettings();
    await user.click(screen.getByTestId("key-backup-restore"));
    ipc.restoreKeyBackup.mockImplementationOnce(() => ({
      result: Promise.reject({ code: "wrong_recovery_key", message: "no" }),
      cancel: async () => undefined,
    }));
    await user.type(screen.getByTestId("key-restore-secret"), "SOTTO-WRNG");
    await user.click(screen.getByTestId("key-restore-start"));
    expect(await screen.findByTestId("key-restore-error")).toBeTruthy();
    expect(ipc.restoreKeyBackup).toHaveBeenLastCalledWith({ recoveryKey: "SOTTO-WRNG" }, expect.any(Function));

    await user.clear(screen.getByTestId("key-restore-secret"));
    await user.type(screen.getByTestId("key-restore-secret"), "SOTTO-ABCD EFGH");
    await user.click(screen.getByTestId("key-restore-start"));
    const done = await screen.findByTestId("key-restore-done");
    expect(done.textContent).toContain("Restored 3 group keys.");
    expect(done.textContent).toContain("Read 12 earlier messages from 1 group.");
  });

  it("restores with a passphrase", async () => {
    const { user } = await openSettings();
    await user.click(screen.getByTestId("key-backup-restore"));
    await user.click(screen.getByTestId("key-restore-use-passphrase"));
    await user.type(screen.getByTestId("key-restore-secret"), "a long passphrase");
    await user.click(screen.getByTestId("key-restore-start"));
    expect(ipc.restoreKeyBackup).toHaveBeenLastCalledWith({ passphrase: "a long passphrase" }, expect.any(Function));
    expect(await screen.findByTestId("key-restore-done")).toBeTruthy();
  });

  it("shows how far reading the history is, and a cancel keeps the keys restored so far", async () => {
    const task = controlledTask<KeyBackupRestore>();
    ipc.restoreKeyBackup.mockImplementation((_secret, onProgress) => task.start(onProgress));
    const { user } = await openSettings();
    await user.click(screen.getByTestId("key-backup-restore"));
    await user.type(screen.getByTestId("key-restore-secret"), "SOTTO-ABCD EFGH");
    await user.click(screen.getByTestId("key-restore-start"));
    const progress = await screen.findByTestId("key-restore-progress");
    expect(progress.textContent).toContain("Unlocking the key backup");
    task.progress({ done: 1, total: 4 });
    expect(screen.getByTestId("key-restore-progress").textContent).toContain("Reading your groups' history: 25%");
    // Escape does not stop it; only Cancel does.
    await user.keyboard("{Escape}");
    expect(screen.getByTestId("key-restore-progress")).toBeTruthy();
    await user.click(screen.getByTestId("task-cancel"));
    expect(task.cancelled()).toBe(1);
    const error = await screen.findByTestId("key-restore-error");
    expect(error.textContent).toContain("group keys restored so far are kept");
    // The form is back, to try again.
    expect(screen.getByTestId("key-restore-start")).toBeTruthy();
  });
});
