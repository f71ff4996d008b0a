import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { welcomeStatus } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

describe("welcome: choosing a server", () => {
  it("shows a check_server error in plain words with the code only in the details line", async () => {
    ipc.checkServer.mockRejectedValueOnce({ code: "not_sotto", message: "GET /v1/info: 404" });
    const { user } = await renderApp({ status: welcomeStatus() });

    await user.click(screen.getByTestId("connect-choice"));
    expect(screen.getByTestId("server-url")).toHaveProperty("placeholder", "https://chat.example.org");
    await user.type(screen.getByTestId("server-url"), "https://example.com");
    await user.click(screen.getByTestId("server-continue"));

    const error = await screen.findByTestId("form-error");
    expect(error.textContent).toBe(
      "That address answers, but it isn't a Sotto server. Check the address with whoever runs the server.",
    );
    expect(error.textContent).not.toContain("not_sotto");
    expect(error.textContent).not.toContain("404");
    expect(screen.getByText("Details: not_sotto")).toBeTruthy();
    expect(ipc.checkServer).toHaveBeenCalledWith("https://example.com", null);
    expect(screen.queryByTestId("sign-in-submit")).toBeNull();
  });

  it("continues to the sign-in form with the normalized URL", async () => {
    ipc.checkServer.mockResolvedValueOnce("https://chat.example.org");
    const { user } = await renderApp({ status: welcomeStatus() });

    await user.click(screen.getByTestId("connect-choice"));
    await user.type(screen.getByTestId("server-url"), "chat.example.org/");
    await user.click(screen.getByTestId("server-continue"));

    await screen.findByTestId("sign-in-submit");
    expect(screen.getByText("https://chat.example.org")).toBeTruthy();
  });

  it("asks before trusting a certificate no authority vouches for, and signs in with it", async () => {
    const fingerprint = "AB:CD:".repeat(15) + "AB:CD";
    ipc.checkServer.mockRejectedValueOnce({
      code: "untrusted_certificate",
      message: "https://box.lan:8449 presents a certificate ...",
      fingerprint,
    });
    ipc.checkServer.mockResolvedValueOnce("https://box.lan:8449");
    const { user } = await renderApp({ status: welcomeStatus() });

    await user.click(screen.getByTestId("connect-choice"));
    await user.type(screen.getByTestId("server-url"), "https://box.lan:8449");
    await user.click(screen.getByTestId("server-continue"));

    const check = await screen.findByTestId("certificate-check");
    expect(screen.getByTestId("certificate-fingerprint").textContent).toBe(fingerprint);
    expect(check.textContent).toContain("trust it only if it matches");
    // Nothing is trusted until the person says so.
    expect(ipc.checkServer).toHaveBeenCalledTimes(1);
    expect(ipc.checkServer).toHaveBeenLastCalledWith("https://box.lan:8449", null);
    expect(screen.queryByTestId("sign-in-submit")).toBeNull();

    await user.click(screen.getByTestId("trust-certificate"));
    expect(ipc.checkServer).toHaveBeenLastCalledWith("https://box.lan:8449", fingerprint);
    await screen.findByTestId("sign-in-submit");
    await user.type(screen.getByTestId("user-id"), "alice");
    await user.type(screen.getByTestId("password"), "correct horse");
    await user.click(screen.getByTestId("sign-in-submit"));
    await waitFor(() => expect(ipc.login).toHaveBeenCalledTimes(1));
    expect(ipc.login.mock.calls[0]?.[0]).toMatchObject({ server: "https://box.lan:8449", trusted_certificate: fingerprint });
  });

  it("cancelling the certificate check trusts nothing", async () => {
    ipc.checkServer.mockRejectedValueOnce({ code: "untrusted_certificate", message: "", fingerprint: "00:11" });
    const { user } = await renderApp({ status: welcomeStatus() });
    await user.click(screen.getByTestId("connect-choice"));
    await user.type(screen.getByTestId("server-url"), "https://box.lan");
    await user.click(screen.getByTestId("server-continue"));
    await screen.findByTestId("certificate-check");
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByTestId("certificate-check")).toBeNull();
    expect(screen.getByTestId("server-continue")).toBeTruthy();
    expect(ipc.checkServer).toHaveBeenCalledTimes(1);
  });

  it("runs a local server on this computer only and shows its address", async () => {
    const { user } = await renderApp({ status: welcomeStatus() });

    await user.click(screen.getByTestId("local-choice"));

    const address = await screen.findByTestId("local-server-address");
    expect(address.textContent).toContain("http://127.0.0.1:7878");
    expect(address.textContent).toContain("it is not open to your network");
    expect(ipc.startLocalServer).toHaveBeenCalledTimes(1);
    // A fresh local server has no accounts yet: the form starts on "Create account".
    expect(screen.getByTestId("mode-register").getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByTestId("password-confirm")).toBeTruthy();
  });
});

describe("welcome: signing in", () => {
  async function toSignIn() {
    const r = await renderApp({ status: welcomeStatus() });
    await r.user.click(screen.getByTestId("local-choice"));
    await screen.findByTestId("sign-in-submit");
    return r;
  }

  it("asks for a passphrase when there is no keychain, requires it, and retries with it", async () => {
    const { user } = await toSignIn();
    ipc.register.mockRejectedValueOnce({ code: "keychain_unavailable", message: "NoDefaultStore" });

    await user.type(screen.getByTestId("user-id"), "alice");
    await user.type(screen.getByTestId("password"), "correct horse");
    await user.type(screen.getByTestId("password-confirm"), "correct horse");
    await user.click(screen.getByTestId("sign-in-submit"));

    const error = await screen.findByTestId("form-error");
    expect(error.textContent).toBe(
      "This computer has no available keychain. Choose a passphrase to protect your messages on this computer.",
    );
    expect(screen.getByText("Details: keychain_unavailable")).toBeTruthy();
    const passphrase = screen.getByTestId("passphrase");
    expect(passphrase.getAttribute("aria-required")).toBe("true");
    expect(ipc.register).toHaveBeenCalledTimes(1);
    expect(ipc.register.mock.calls[0]?.[0].passphrase).toBeNull();

    // Submitting without one is refused locally.
    await user.click(screen.getByTestId("sign-in-submit"));
    expect(ipc.register).toHaveBeenCalledTimes(1);
    // The disclosure can't be collapsed while the passphrase is required.
    await user.click(screen.getByTestId("passphrase-toggle"));
    expect(screen.getByTestId("passphrase")).toBeTruthy();

    await user.type(screen.getByTestId("passphrase"), "a long passphrase");
    await user.click(screen.getByTestId("sign-in-submit"));

    await screen.findByTestId("main");
    expect(ipc.register).toHaveBeenCalledTimes(2);
    expect(ipc.register.mock.calls[1]?.[0]).toEqual({
      server: "http://127.0.0.1:7878",
      user_id: "alice",
      password: "correct horse",
      device_name: null,
      passphrase: "a long passphrase",
    });
  });

  it("checks the form before asking the server", async () => {
    const { user } = await toSignIn();

    await user.type(screen.getByTestId("user-id"), "Al");
    await user.type(screen.getByTestId("password"), "short");
    await user.click(screen.getByTestId("sign-in-submit"));
    expect((await screen.findByTestId("form-error")).textContent).toMatch(/3 to 64 characters/u);

    await user.clear(screen.getByTestId("user-id"));
    await user.type(screen.getByTestId("user-id"), "alice");
    await user.click(screen.getByTestId("sign-in-submit"));
    expect(screen.getByTestId("form-error").textContent).toMatch(/at least 8 characters/u);

    await user.type(screen.getByTestId("password"), "-and-longer");
    await user.type(screen.getByTestId("password-confirm"), "different!!");
    await user.click(screen.getByTestId("sign-in-submit"));
    expect(screen.getByTestId("form-error").textContent).toMatch(/don't match/u);
    expect(ipc.register).not.toHaveBeenCalled();
  });

  it("signs in with login in 'Sign in' mode and shows server errors in plain words", async () => {
    const { user } = await toSignIn();
    await user.click(screen.getByTestId("mode-login"));
    expect(screen.queryByTestId("password-confirm")).toBeNull();
    ipc.login.mockRejectedValueOnce({ code: "invalid_credentials", message: "401" });

    await user.type(screen.getByTestId("user-id"), "alice");
    await user.type(screen.getByTestId("password"), "whatever");
    await user.click(screen.getByTestId("sign-in-submit"));

    expect((await screen.findByTestId("form-error")).textContent).toBe(
      "That user id and password don't match. Check them and try again.",
    );
    expect(ipc.register).not.toHaveBeenCalled();
    await user.click(screen.getByTestId("sign-in-submit"));
    await waitFor(() => expect(screen.getByTestId("main")).toBeTruthy());
    expect(ipc.login).toHaveBeenCalledTimes(2);
  });
});
