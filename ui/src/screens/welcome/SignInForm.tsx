//! Create an account or sign in on the chosen server. When the computer has no usable keychain
//! the engine refuses with `keychain_unavailable`/`keychain_locked`; the form then requires a
//! passphrase and the person submits again.

import { useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError, isKeychainError } from "../../lib/errors";
import { isValidUserId, USER_ID_RULE } from "../../lib/ids";
import type { SignInRequest } from "../../lib/types";
import { useAppStore } from "../../state/context";
import { FormError, type FormProblem } from "../../components/FormError";

export type SignInMode = "register" | "login";

/** The server refuses shorter account passwords (`MIN_PASSWORD_BYTES`). */
export const MIN_PASSWORD = 8;
const MIN_PASSPHRASE = 8;

interface SignInFormProps {
  server: string;
  /** The server certificate's fingerprint the person trusted, when no authority vouches for it. */
  trustedCertificate?: string | null;
  defaultMode: SignInMode;
  onChangeServer: () => void;
  /** Switch to restoring a backup file instead. */
  onRestore: () => void;
}

export function SignInForm({
  server,
  trustedCertificate = null,
  defaultMode,
  onChangeServer,
  onRestore,
}: SignInFormProps) {
  const store = useAppStore();
  const [mode, setMode] = useState<SignInMode>(defaultMode);
  const [userId, setUserId] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [showPassphrase, setShowPassphrase] = useState(false);
  const [passphrase, setPassphrase] = useState("");
  const [passphraseRequired, setPassphraseRequired] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);
  const passphraseInput = useRef<HTMLInputElement>(null);

  const check = (): string | null => {
    const id = userId.trim();
    if (!isValidUserId(id)) return `User ids are ${USER_ID_RULE}.`;
    if (mode === "register" && password.length < MIN_PASSWORD)
      return `Choose a password of at least ${MIN_PASSWORD} characters.`;
    if (mode === "login" && password.length === 0) return "Enter your password.";
    if (mode === "register" && password !== confirm) return "The two passwords don't match. Type them again.";
    if (passphraseRequired && passphrase.length === 0)
      return "This computer has no available keychain. Choose a passphrase to protect your messages on this computer.";
    if ((passphraseRequired || showPassphrase) && passphrase.length > 0 && passphrase.length < MIN_PASSPHRASE)
      return `Choose a passphrase of at least ${MIN_PASSPHRASE} characters.`;
    return null;
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const local = check();
    if (local) {
      setProblem({ kind: "local", text: local });
      return;
    }
    const request: SignInRequest = {
      server,
      user_id: userId.trim(),
      password,
      device_name: null,
      passphrase: (showPassphrase || passphraseRequired) && passphrase.length > 0 ? passphrase : null,
      ...(trustedCertificate ? { trusted_certificate: trustedCertificate } : {}),
    };
    setBusy(true);
    setProblem(null);
    try {
      const status = mode === "register" ? await ipc.register(request) : await ipc.login(request);
      store.setStatus(status);
    } catch (err) {
      const error = asCommandError(err);
      setBusy(false);
      if (isKeychainError(error)) {
        setPassphraseRequired(true);
        setShowPassphrase(true);
        setProblem({
          kind: "command",
          error,
          text: "This computer has no available keychain. Choose a passphrase to protect your messages on this computer.",
        });
        requestAnimationFrame(() => passphraseInput.current?.focus());
        return;
      }
      setProblem({ kind: "command", error });
    }
  };

  const switchMode = (next: SignInMode) => {
    setMode(next);
    setProblem(null);
  };

  return (
    <form className="form sign-in" onSubmit={(e) => void submit(e)} noValidate>
      <div className="server-line">
        <span className="muted">Server</span> <code className="server-line__url">{server}</code>{" "}
        <button type="button" className="link-button" onClick={onChangeServer}>
          Change
        </button>
      </div>
      <div className="segmented" role="group" aria-label="Account">
        <button
          type="button"
          className="segmented__item"
          aria-pressed={mode === "register"}
          onClick={() => switchMode("register")}
          data-testid="mode-register"
        >
          Create account
        </button>
        <button
          type="button"
          className="segmented__item"
          aria-pressed={mode === "login"}
          onClick={() => switchMode("login")}
          data-testid="mode-login"
        >
          Sign in
        </button>
      </div>
      <label className="field">
        <span className="field__label">User id</span>
        <input
          type="text"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          value={userId}
          onChange={(e) => setUserId(e.target.value)}
          aria-describedby={mode === "register" ? "user-id-hint" : undefined}
          autoFocus
          data-testid="user-id"
        />
        {mode === "register" ? (
          <span className="field__hint" id="user-id-hint">
            Others find you by it: {USER_ID_RULE}.
          </span>
        ) : null}
      </label>
      <label className="field">
        <span className="field__label">Password</span>
        <input
          type="password"
          autoComplete={mode === "register" ? "new-password" : "current-password"}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          data-testid="password"
        />
        {mode === "register" ? <span className="field__hint">At least {MIN_PASSWORD} characters.</span> : null}
      </label>
      {mode === "register" ? (
        <label className="field">
          <span className="field__label">Repeat password</span>
          <input
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            data-testid="password-confirm"
          />
        </label>
      ) : null}
      <div className="disclosure">
        <button
          type="button"
          className="link-button disclosure__toggle"
          aria-expanded={showPassphrase}
          aria-controls="passphrase-section"
          onClick={() => setShowPassphrase((v) => passphraseRequired || !v)}
          data-testid="passphrase-toggle"
        >
          {passphraseRequired ? "Passphrase for this computer" : "Protect with a passphrase too"}
        </button>
        {showPassphrase ? (
          <div id="passphrase-section" className="disclosure__body">
            <label className="field">
              <span className="field__label">
                Passphrase{passphraseRequired ? "" : " (optional)"}
              </span>
              <input
                ref={passphraseInput}
                type="password"
                autoComplete="new-password"
                value={passphrase}
                onChange={(e) => setPassphrase(e.target.value)}
                required={passphraseRequired}
                aria-required={passphraseRequired}
                data-testid="passphrase"
              />
              <span className="field__hint">
                Asked for each time Sotto starts. It can't be recovered, so keep it somewhere safe.
              </span>
            </label>
          </div>
        ) : null}
      </div>
      <FormError problem={problem} testId="form-error" />
      <button type="submit" className="button button--primary button--wide" disabled={busy} data-testid="sign-in-submit">
        {busy ? (mode === "register" ? "Creating account…" : "Signing in…") : mode === "register" ? "Create account" : "Sign in"}
      </button>
      <p className="sign-in__restore muted">
        Have a backup file?{" "}
        <button type="button" className="link-button" onClick={onRestore} data-testid="open-restore">
          Restore it
        </button>
      </p>
    </form>
  );
}
