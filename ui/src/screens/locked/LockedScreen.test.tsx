import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { AppStatus, ErrorCode } from "../../lib/types";
import { readyStatus } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

function lockedStatus(hasPassphrase: boolean, code: ErrorCode = "passphrase_required"): AppStatus {
  return {
    ...readyStatus(),
    phase: "locked",
    account: null,
    locked: { user_id: "alice", server: "https://chat.example.org", code, message: "", has_passphrase: hasPassphrase },
  };
}

describe("locked screen", () => {
  it("shows a wrong passphrase in plain words and lets the person try again", async () => {
    const { user } = await renderApp({ status: lockedStatus(true) });
    expect(screen.getByText("alice")).toBeTruthy();
    ipc.unlock.mockRejectedValueOnce({ code: "wrong_passphrase", message: "file is not a database" });

    await user.type(screen.getByTestId("unlock-passphrase"), "nope");
    await user.click(screen.getByTestId("unlock-submit"));

    const error = await screen.findByTestId("form-error");
    expect(error.textContent).toBe("That passphrase doesn't unlock this profile. Check it and try again.");
    expect(error.textContent).not.toContain("database");
    expect(screen.getByText("Details: wrong_passphrase")).toBeTruthy();
    expect(ipc.unlock).toHaveBeenCalledWith("nope");

    await user.clear(screen.getByTestId("unlock-passphrase"));
    await user.type(screen.getByTestId("unlock-passphrase"), "right one");
    await user.click(screen.getByTestId("unlock-submit"));
    await screen.findByTestId("main");
  });

  it("explains a locked keychain and retries without a passphrase field", async () => {
    const { user } = await renderApp({ status: lockedStatus(false, "keychain_locked") });
    expect(screen.queryByTestId("unlock-passphrase")).toBeNull();
    expect(screen.getByText(/keychain is locked/u)).toBeTruthy();

    await user.click(screen.getByTestId("unlock-submit"));
    expect(ipc.unlock).toHaveBeenCalledWith("");
  });

  it("goes back to the welcome screen with 'Use another account', saying nothing is deleted", async () => {
    const { user } = await renderApp({ status: lockedStatus(true) });
    expect(screen.getByText(/Nothing is deleted/u)).toBeTruthy();

    await user.click(screen.getByTestId("use-another-account"));

    await screen.findByTestId("welcome");
    expect(ipc.useAnotherAccount).toHaveBeenCalledTimes(1);
    expect(ipc.signOut).not.toHaveBeenCalled();
  });
});
