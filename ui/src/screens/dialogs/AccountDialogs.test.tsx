import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

async function openSettings() {
  const rendered = await renderApp();
  await rendered.user.click(screen.getByTestId("settings-button"));
  return rendered;
}

describe("Settings → Account", () => {
  it("moves to the server's new address, after a fingerprint check, and says when it is another server", async () => {
    const { user } = await openSettings();
    await user.click(screen.getByTestId("open-move-server"));
    await user.click(screen.getByTestId("move-server-submit"));
    expect(screen.getByTestId("move-server-error").textContent).toContain("Enter the server's new address");
    expect(ipc.moveServer).not.toHaveBeenCalled();

    await user.type(screen.getByTestId("move-server-url"), "https://other.example.org");
    ipc.moveServer.mockRejectedValueOnce({ code: "other_installation", message: "no" });
    await user.click(screen.getByTestId("move-server-submit"));
    expect((await screen.findByTestId("move-server-error")).textContent).toContain("different Sotto server");

    await user.clear(screen.getByTestId("move-server-url"));
    await user.type(screen.getByTestId("move-server-url"), "https://chat.example.org");
    ipc.moveServer.mockRejectedValueOnce({ code: "untrusted_certificate", message: "no", fingerprint: "AB:CD" });
    await user.click(screen.getByTestId("move-server-submit"));
    expect((await screen.findByTestId("move-certificate-check")).textContent).toContain("AB:CD");
    await user.click(screen.getByTestId("move-trust-certificate"));
    expect(ipc.moveServer).toHaveBeenLastCalledWith("https://chat.example.org", "AB:CD");
    // Moved: the dialog closes and Settings shows the new address.
    await waitFor(() => expect(screen.getByTestId("account-server").textContent).toBe("https://chat.example.org"));
    expect(screen.queryByTestId("move-server-dialog")).toBeNull();
  });

  it("changes the password after checking the form, and says when the current one is wrong", async () => {
    const { user } = await openSettings();
    await user.click(screen.getByTestId("open-password"));
    await user.type(screen.getByTestId("password-current"), "old password");
    await user.type(screen.getByTestId("password-new"), "a new password");
    await user.type(screen.getByTestId("password-confirm"), "a new pasword");
    await user.click(screen.getByTestId("password-save"));
    expect(screen.getByTestId("password-error").textContent).toContain("don't match");
    expect(ipc.changePassword).not.toHaveBeenCalled();

    await user.clear(screen.getByTestId("password-confirm"));
    await user.type(screen.getByTestId("password-confirm"), "a new password");
    ipc.changePassword.mockRejectedValueOnce({ code: "invalid_credentials", message: "no" });
    await user.click(screen.getByTestId("password-save"));
    expect((await screen.findByTestId("password-error")).textContent).toContain("isn't your current password");

    await user.click(screen.getByTestId("password-save"));
    expect(ipc.changePassword).toHaveBeenLastCalledWith("old password", "a new password");
    expect((await screen.findByTestId("password-done")).textContent).toContain("Your password is changed.");
  });

  it("refuses a new password that is too short", async () => {
    const { user } = await openSettings();
    await user.click(screen.getByTestId("open-password"));
    await user.type(screen.getByTestId("password-current"), "old password");
    await user.type(screen.getByTestId("password-new"), "short");
    await user.type(screen.getByTestId("password-confirm"), "short");
    await user.click(screen.getByTestId("password-save"));
    expect(screen.getByTestId("password-error").textContent).toContain("at least 8 characters");
    expect(ipc.changePassword).not.toHaveBeenCalled();
  });

  it("resets the keys with the password and says who was told", async () => {
    const { user } = await openSettings();
    await user.click(screen.getByTestId("open-reset-keys"));
    const dialog = screen.getByTestId("reset-keys-dialog");
    expect(dialog.textContent).toContain("Your messages stay");
    await user.click(screen.getByTestId("reset-keys-confirm"));
    expect(screen.getByTestId("reset-keys-error").textContent).toContain("Enter your password");
    expect(ipc.resetKeys).not.toHaveBeenCalled();

    ipc.resetKeys.mockRejectedValueOnce({ code: "invalid_credentials", message: "no" });
    await user.type(screen.getByTestId("reset-keys-password"), "the password");
    await user.click(screen.getByTestId("reset-keys-confirm"));
    expect((await screen.findByTestId("reset-keys-error")).textContent).toContain("Nothing was changed");

    await user.click(screen.getByTestId("reset-keys-confirm"));
    expect(ipc.resetKeys).toHaveBeenLastCalledWith("the password");
    const done = await screen.findByTestId("reset-keys-done");
    expect(done.textContent).toContain("new security keys");
    expect(done.textContent).toContain("2 devices of the people you talk with were told");
  });

  it("explains a reset that failed for another reason in plain words", async () => {
    ipc.resetKeys.mockRejectedValueOnce({ code: "offline", message: "connection refused" });
    const { user } = await openSettings();
    await user.click(screen.getByTestId("open-reset-keys"));
    await user.type(screen.getByTestId("reset-keys-password"), "the password");
    await user.click(screen.getByTestId("reset-keys-confirm"));
    const error = await screen.findByTestId("reset-keys-error");
    expect(error.textContent).toContain("Couldn't reach the server");
  });
});
