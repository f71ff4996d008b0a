import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import * as ipc from "../../test/ipcMock";
import { readyStatus } from "../../test/fixtures";
import { renderApp } from "../../test/render";

const welcome = { ...readyStatus(), phase: "welcome" as const, account: null };

async function openRestore() {
  const rendered = await renderApp({ status: welcome });
  const { user } = rendered;
  await user.click(screen.getByTestId("connect-choice"));
  await user.type(screen.getByTestId("server-url"), "https://chat.example.org");
  await user.click(screen.getByTestId("server-continue"));
  await user.click(await screen.findByTestId("open-restore"));
  return rendered;
}

async function fill(user: Awaited<ReturnType<typeof openRestore>>["user"]) {
  await user.type(screen.getByTestId("restore-file"), "~/backup.sotto");
  await user.type(screen.getByTestId("restore-backup-passphrase"), "correct horse battery");
  await user.type(screen.getByTestId("restore-user-id"), "alice");
  await user.type(screen.getByTestId("restore-password"), "account password");
}

describe("restore from a backup file", () => {
  it("restores and opens the account", async () => {
    const { user } = await openRestore();
    await fill(user);
    await user.click(screen.getByTestId("restore-submit"));
    expect(ipc.restoreBackup).toHaveBeenCalledWith(
      {
        server: "https://chat.example.org",
        user_id: "alice",
        password: "account password",
        file: "~/backup.sotto",
        backup_passphrase: "correct horse battery",
        passphrase: null,
      },
      expect.any(Function),
    );
    expect(await screen.findByTestId("main")).toBeTruthy();
  });

  it("says so in plain words when the passphrase is wrong, and keeps the form", async () => {
    ipc.restoreBackup.mockImplementation(() => ({
      result: Promise.reject({ code: "backup_passphrase", message: "no identity matched" }),
      cancel: async () => undefined,
    }));
    const { user } = await openRestore();
    await fill(user);
    await user.click(screen.getByTestId("restore-submit"));
    expect((await screen.findByTestId("form-error")).textContent).toMatch(/doesn't open this backup/u);
    expect((screen.getByTestId("restore-user-id") as HTMLInputElement).value).toBe("alice");
  });

  it("asks for a passphrase for this computer when there is no keychain", async () => {
    ipc.restoreBackup.mockImplementationOnce(() => ({
      result: Promise.reject({ code: "keychain_unavailable", message: "no secret service" }),
      cancel: async () => undefined,
    }));
    const { user } = await openRestore();
    await fill(user);
    await user.click(screen.getByTestId("restore-submit"));
    await user.type(await screen.findByTestId("restore-passphrase"), "local passphrase");
    await user.click(screen.getByTestId("restore-submit"));
    expect(ipc.restoreBackup).toHaveBeenLastCalledWith(
      expect.objectContaining({ passphrase: "local passphrase" }),
      expect.any(Function),
    );
    expect(await screen.findByTestId("main")).toBeTruthy();
  });

  it("checks the form before asking the engine", async () => {
    const { user } = await openRestore();
    await user.click(screen.getByTestId("restore-submit"));
    expect(screen.getByTestId("form-error").textContent).toMatch(/where the backup file is/u);
    expect(ipc.restoreBackup).not.toHaveBeenCalled();
  });
});
