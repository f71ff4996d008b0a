import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { BackupSummary } from "../../lib/types";
import { controlledTask } from "../../test/controlledTask";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

async function openBackup() {
  const rendered = await renderApp();
  await rendered.user.click(screen.getByTestId("settings-button"));
  await rendered.user.click(screen.getByTestId("open-backup"));
  await waitFor(() =>
    expect((screen.getByTestId("backup-path") as HTMLInputElement).value).toBe(
      "/home/alice/Documents/Sotto alice 2026-11-26.sotto",
    ),
  );
  return rendered;
}

describe("backup to a file", () => {
  it("checks the passphrase before starting", async () => {
    const { user } = await openBackup();
    await user.type(screen.getByTestId("backup-passphrase"), "short");
    await user.click(screen.getByTestId("backup-start"));
    expect(screen.getByTestId("backup-error").textContent).toMatch(/at least 8 characters/u);

    await user.type(screen.getByTestId("backup-passphrase"), " and longer");
    await user.type(screen.getByTestId("backup-passphrase-confirm"), "something else");
    await user.click(screen.getByTestId("backup-start"));
    expect(screen.getByTestId("backup-error").textContent).toMatch(/don't match/u);
    expect(ipc.exportBackup).not.toHaveBeenCalled();
  });

  it("shows progress, then where the file is", async () => {
    const task = controlledTask<BackupSummary>();
    ipc.exportBackup.mockImplementation((_path, _pass, onProgress) => task.start(onProgress));
    const { user } = await openBackup();
    await user.type(screen.getByTestId("backup-passphrase"), "correct horse battery");
    await user.type(screen.getByTestId("backup-passphrase-confirm"), "correct horse battery");
    await user.click(screen.getByTestId("backup-start"));

    expect(ipc.exportBackup).toHaveBeenCalledWith(
      "/home/alice/Documents/Sotto alice 2026-11-26.sotto",
      "correct horse battery",
      expect.any(Function),
    );
    expect(screen.getByTestId("backup-progress").textContent).toContain("Backing up…");
    task.progress({ done: 250, total: 1000 });
    expect(screen.getByTestId("backup-progress").textContent).toContain("Backing up: 25%");
    task.progress({ done: 1000, total: 1000 });
    expect(screen.getByTestId("backup-progress").textContent).toContain("Finishing the file");

    await task.finish({ records: 1010, messages: 1000, bytes: 2_400_000 });
    const done = await screen.findByTestId("backup-done");
    expect(done.textContent).toContain("1,000 messages");
    expect(done.textContent).toContain("2.4 MB");
    expect(done.textContent).toContain("/home/alice/Documents/Sotto alice 2026-11-26.sotto");
  });

  it("picks the file with the system's chooser, opened where the field points", async () => {
    const { user } = await openBackup();
    const field = screen.getByTestId<HTMLInputElement>("backup-path");
    await waitFor(() => expect(field.value).toContain("Sotto alice"));
    // Closed without choosing: the field keeps what it had.
    await user.click(screen.getByTestId("backup-path-choose"));
    expect(ipc.choosePath).toHaveBeenLastCalledWith("backup_file", "/home/alice/Documents/Sotto alice 2026-11-26.sotto");
    expect(field.value).toBe("/home/alice/Documents/Sotto alice 2026-11-26.sotto");
    ipc.choosePath.mockResolvedValueOnce("/media/usb/alice.sotto");
    await user.click(screen.getByTestId("backup-path-choose"));
    await waitFor(() => expect(field.value).toBe("/media/usb/alice.sotto"));
    // A chooser that fails says why; the path can still be typed.
    ipc.choosePath.mockRejectedValueOnce({ code: "invalid_path", message: "That place can't be used: not a local file" });
    await user.click(screen.getByTestId("backup-path-choose"));
    expect((await screen.findByTestId("backup-path-error")).textContent).toContain("Sotto can't use that place");
    expect(field.value).toBe("/media/usb/alice.sotto");
  });

  it("cancels, says nothing was changed, and lets the person try again", async () => {
    const task = controlledTask<BackupSummary>();
    ipc.exportBackup.mockImplementation((_path, _pass, onProgress) => task.start(onProgress));
    const { user } = await openBackup();
    await user.type(screen.getByTestId("backup-passphrase"), "correct horse battery");
    await user.type(screen.getByTestId("backup-passphrase-confirm"), "correct horse battery");
    await user.click(screen.getByTestId("backup-start"));
    task.progress({ done: 10, total: 1000 });

    // Escape doesn't stop it by accident; the Cancel button does.
    await user.keyboard("{Escape}");
    expect(screen.getByTestId("backup-progress")).toBeTruthy();
    await user.click(screen.getByTestId("task-cancel"));
    expect(task.cancelled()).toBe(1);
    expect((await screen.findByTestId("backup-error")).textContent).toMatch(/Stopped before it finished/u);
    expect(screen.getByTestId("backup-start")).toBeTruthy();
  });

  it("explains a file that exists already", async () => {
    const task = controlledTask<BackupSummary>();
    ipc.exportBackup.mockImplementation((_path, _pass, onProgress) => task.start(onProgress));
    const { user } = await openBackup();
    await user.type(screen.getByTestId("backup-passphrase"), "correct horse battery");
    await user.type(screen.getByTestId("backup-passphrase-confirm"), "correct horse battery");
    await user.click(screen.getByTestId("backup-start"));
    await task.fail({ code: "file_exists", message: "/x exists" });
    expect((await screen.findByTestId("backup-error")).textContent).toMatch(/never overwrites files/u);
  });
});

describe("readable export", () => {
  it("exports everything as web pages into the suggested folder", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    await user.click(screen.getByTestId("open-export"));
    await waitFor(() =>
      expect((screen.getByTestId("export-path") as HTMLInputElement).value).toBe(
        "/home/alice/Documents/Sotto alice 2026-11-26 export",
      ),
    );
    expect(screen.getByTestId("export-dialog").textContent).toContain("not encrypted");
    await user.click(screen.getByTestId("export-json"));
    await user.click(screen.getByTestId("export-start"));
    expect(ipc.exportReadable).toHaveBeenCalledWith(
      "/home/alice/Documents/Sotto alice 2026-11-26 export",
      "json",
      { type: "all" },
      expect.any(Function),
    );
    expect((await screen.findByTestId("export-done")).textContent).toContain("Exported 10 messages");
  });
});
