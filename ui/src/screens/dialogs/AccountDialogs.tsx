//! Settings → Account: change the account password, and reset this computer's security keys.
//! Both ask for the current password again; neither touches a stored message.

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { KeyReset } from "../../lib/types";
import { FormError, type FormProblem } from "../../components/FormError";
import { Modal } from "../../components/Modal";
import { MIN_PASSWORD } from "../welcome/SignInForm";

/** A wrong current password gets words for this form, not the sign-in form's. */
function passwordProblem(e: unknown): FormProblem {
  const error = asCommandError(e);
  return error.code === "invalid_credentials"
    ? { kind: "local", text: "That isn't your current password. Nothing was changed." }
    : { kind: "command", error };
}

export function ChangePasswordDialog({ onClose }: { onClose: () => void }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);

  const check = (): string | null => {
    if (current.length === 0) return "Enter your current password.";
    if (next.length < MIN_PASSWORD) return `Choose a new password of at least ${MIN_PASSWORD} characters.`;
    if (next === current) return "The new password is the same as the current one.";
    if (next !== confirm) return "The two new passwords don't match. Type them again.";
    return null;
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const local = check();
    if (local) {
      setProblem({ kind: "local", text: local });
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      await ipc.changePassword(current, next);
      setDone(true);
    } catch (err) {
      setProblem(passwordProblem(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title="Change password" onClose={busy ? () => undefined : onClose} testId="password-dialog">
      {done ? (
        <div className="modal__body" data-testid="password-done">
          <p>
            <strong>Your password is changed.</strong> Use it the next time you sign in on a new device.
          </p>
          <p className="muted">This computer and your other devices stay signed in.</p>
          <div className="modal__actions">
            <button type="button" className="button button--primary" onClick={onClose} autoFocus data-testid="password-close">
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <label className="field">
            <span className="field__label">Current password</span>
            <input
              type="password"
              autoComplete="current-password"
              value={current}
              onChange={(e) => setCurrent(e.target.value)}
              autoFocus
              data-testid="password-current"
            />
          </label>
          <label className="field">
            <span className="field__label">New password</span>
            <input
              type="password"
              autoComplete="new-password"
              value={next}
              onChange={(e) => setNext(e.target.value)}
              data-testid="password-new"
            />
            <span className="field__hint">At least {MIN_PASSWORD} characters.</span>
          </label>
          <label className="field">
            <span className="field__label">New password again</span>
            <input
              type="password"
              autoComplete="new-password"
              value={confirm}
              onChange={(e) => setConfirm(e.target.value)}
              data-testid="password-confirm"
            />
          </label>
          <FormError problem={problem} testId="password-error" />
          <div className="modal__actions">
            <button type="button" className="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className="button button--primary" disabled={busy} data-testid="password-save">
              {busy ? "Changing…" : "Change password"}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}

export function ResetKeysDialog({ onClose }: { onClose: () => void }) {
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<KeyReset | null>(null);
  const [problem, setProblem] = useState<FormProblem | null>(null);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (password.length === 0) {
      setProblem({ kind: "local", text: "Enter your password to confirm." });
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      setResult(await ipc.resetKeys(password));
    } catch (err) {
      setProblem(passwordProblem(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title="Reset this computer's keys" onClose={busy ? () => undefined : onClose} testId="reset-keys-dialog">
      {result ? (
        <div className="modal__body" data-testid="reset-keys-done">
          <p>
            <strong>This computer has new security keys.</strong>{" "}
            {result.notified_devices > 0
              ? `${result.notified_devices === 1 ? "1 device" : `${result.notified_devices} devices`} of the people you talk with ${result.notified_devices === 1 ? "was" : "were"} told right away.`
              : "The people you talk with will be told the next time you write to them."}
          </p>
          <p className="muted">
            Your safety numbers changed: compare them again with the people you had verified.
          </p>
          <div className="modal__actions">
            <button type="button" className="button button--primary" onClick={onClose} autoFocus data-testid="reset-keys-close">
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <p>
            This gives this computer new security keys, as a fresh install would — do it if you think someone has
            copied them. Your messages stay, and you keep talking with everyone.
          </p>
          <p className="muted">
            Everyone you talk with will see that your safety number changed, and should compare it with you again.
            A message sent to your old keys while this happens may not be readable.
          </p>
          <label className="field">
            <span className="field__label">Your password</span>
            <input
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              autoFocus
              data-testid="reset-keys-password"
            />
          </label>
          <FormError problem={problem} testId="reset-keys-error" />
          <div className="modal__actions">
            <button type="button" className="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className="button button--danger" disabled={busy} data-testid="reset-keys-confirm">
              {busy ? "Resetting…" : "Reset keys"}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
