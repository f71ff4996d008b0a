//! Settings → Account: change the account password, and reset this computer's security keys.
//! Both ask for the current password again; neither touches a stored message.

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { KeyReset } from "../../lib/types";
import { FormError, type FormProblem } from "../../components/FormError";
import { Modal } from "../../components/Modal";
import { PasswordConfirm } from "../../components/PasswordConfirm";
import { SecretField } from "../../components/SecretField";
import { MIN_PASSWORD } from "../welcome/SignInForm";

/**
 * One password-confirmed action: a local check first, then the command, busy meanwhile. A wrong
 * current password gets words for these forms, not the sign-in form's.
 */
export function usePasswordAction<T>() {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);

  /** Resolves with the command's result, or null when the check or the command failed. */
  const run = async (check: () => string | null, action: () => Promise<T>): Promise<{ value: T } | null> => {
    const local = check();
    if (local) {
      setProblem({ kind: "local", text: local });
      return null;
    }
    setBusy(true);
    setProblem(null);
    try {
      return { value: await action() };
    } catch (e) {
      const error = asCommandError(e);
      setProblem(
        error.code === "invalid_credentials"
          ? { kind: "local", text: "That isn't your current password. Nothing was changed." }
          : { kind: "command", error },
      );
      return null;
    } finally {
      setBusy(false);
    }
  };

  return { busy, problem, run };
}

export function ChangePasswordDialog({ onClose }: { onClose: () => void }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [done, setDone] = useState(false);
  const { busy, problem, run } = usePasswordAction<null>();

  const check = (): string | null => {
    if (current.length === 0) return "Enter your current password.";
    if (next.length < MIN_PASSWORD) return `Choose a new password of at least ${MIN_PASSWORD} characters.`;
    if (next === current) return "The new password is the same as the current one.";
    if (next !== confirm) return "The two new passwords don't match. Type them again.";
    return null;
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (await run(check, () => ipc.changePassword(current, next))) setDone(true);
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
          <SecretField
            label="Current password"
            value={current}
            onChange={setCurrent}
            autoComplete="current-password"
            autoFocus
            testId="password-current"
          />
          <SecretField
            label="New password"
            value={next}
            onChange={setNext}
            autoComplete="new-password"
            hint={`At least ${MIN_PASSWORD} characters.`}
            testId="password-new"
          />
          <SecretField
            label="New password again"
            value={confirm}
            onChange={setConfirm}
            autoComplete="new-password"
            testId="password-confirm"
          />
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
  const [result, setResult] = useState<KeyReset | null>(null);
  const { busy, problem, run } = usePasswordAction<KeyReset>();

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const check = () => (password.length === 0 ? "Enter your password to confirm." : null);
    const reset = await run(check, () => ipc.resetKeys(password));
    if (reset) setResult(reset.value);
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
            Your identity key, and so your safety numbers, stay the same: people who verified you need do nothing.
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
            Everyone you talk with will see that this computer's keys changed; your safety number stays the same. A
            message sent to your old keys while this happens may not be readable.
          </p>
          <PasswordConfirm
            password={password}
            onPassword={setPassword}
            problem={problem}
            busy={busy}
            onCancel={onClose}
            action="Reset keys"
            busyAction="Resetting…"
            testId="reset-keys"
          />
        </form>
      )}
    </Modal>
  );
}
