//! Settings → Backups → key backup: group keys kept on the server, encrypted with a recovery key
//! only the person holds, so a new device can read the history of their groups. The section
//! shows where it stands; the dialogs turn it on (the recovery key is shown once) and restore it.

import { useCallback, useEffect, useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { CommandError, KeyBackupRestore, KeyBackupStatus, Progress } from "../../lib/types";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { FormError, type FormProblem } from "../../components/FormError";
import { Modal } from "../../components/Modal";
import { TaskProgress, useLongTask } from "../../components/TaskProgress";

export const MIN_KEY_BACKUP_PASSPHRASE = 10;

export function KeyBackupSection() {
  const [status, setStatus] = useState<KeyBackupStatus | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const [open, setOpen] = useState<"enable" | "restore" | null>(null);

  const refresh = useCallback(() => {
    ipc.keyBackupStatus().then(setStatus, (e) => setError(asCommandError(e)));
  }, []);
  useEffect(refresh, [refresh]);

  const close = () => {
    setOpen(null);
    refresh();
  };

  return (
    <div className="key-backup" data-testid="key-backup">
      <p className="small" data-testid="key-backup-status">
        {status === null ? "…" : describeStatus(status)}
      </p>
      {error ? <ErrorNote error={error} /> : null}
      {/* "Restore" comes first: it is there from the start, and "Turn on" appears after it once
          the status is known, so nothing moves under a pointer about to click "Restore". */}
      <div className="settings__buttons">
        <button type="button" className="button" onClick={() => setOpen("restore")} data-testid="key-backup-restore">
          Restore from key backup…
        </button>
        {status && !status.enabled ? (
          <button type="button" className="button" onClick={() => setOpen("enable")} data-testid="key-backup-enable">
            Turn on key backup…
          </button>
        ) : null}
      </div>
      {open === "enable" ? <EnableKeyBackupDialog onClose={close} onRestoreInstead={() => setOpen("restore")} /> : null}
      {open === "restore" ? <RestoreKeyBackupDialog onClose={close} /> : null}
    </div>
  );
}

function describeStatus(s: KeyBackupStatus): string {
  if (!s.enabled)
    return "Key backup is off. With it on, a new device of yours can read your groups' earlier messages.";
  if (s.error) return "Key backup stopped: another device replaced it. Restore from the new backup to resume.";
  const how = s.kind === "passphrase" ? "a passphrase" : "a recovery key";
  return `Key backup is on, protected by ${how}: ${s.backed_up} of ${s.sessions} group keys are saved on the server.`;
}

type EnableStep =
  | { kind: "choose" }
  | { kind: "show-key"; recoveryKey: string }
  | { kind: "exists" }
  | { kind: "done" };

function EnableKeyBackupDialog({ onClose, onRestoreInstead }: { onClose: () => void; onRestoreInstead: () => void }) {
  const [step, setStep] = useState<EnableStep>({ kind: "choose" });
  const [usePassphrase, setUsePassphrase] = useState(false);
  const [passphrase, setPassphrase] = useState("");
  const [confirm, setConfirm] = useState("");
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);

  const enable = async (replace: boolean) => {
    if (usePassphrase) {
      if (passphrase.length < MIN_KEY_BACKUP_PASSPHRASE) {
        setProblem({ kind: "local", text: `Choose a passphrase of at least ${MIN_KEY_BACKUP_PASSPHRASE} characters.` });
        return;
      }
      if (passphrase !== confirm) {
        setProblem({ kind: "local", text: "The two passphrases don't match. Type them again." });
        return;
      }
    }
    setBusy(true);
    setProblem(null);
    try {
      const enabled = await ipc.enableKeyBackup(usePassphrase ? passphrase : null, replace);
      setStep(enabled.recovery_key ? { kind: "show-key", recoveryKey: enabled.recovery_key } : { kind: "done" });
    } catch (e) {
      const error = asCommandError(e);
      if (error.code === "key_backup_exists") setStep({ kind: "exists" });
      else setProblem({ kind: "command", error });
    } finally {
      setBusy(false);
    }
  };

  // Until the recovery key was confirmed as saved, closing would lose it for good.
  const close = step.kind === "show-key" && !saved ? () => undefined : onClose;
  return (
    <Modal title="Key backup" onClose={close} testId="key-backup-dialog">
      {step.kind === "show-key" ? (
        <div className="modal__body">
          <p>
            <strong>Your recovery key.</strong> Write it down or keep it in a password manager. It is shown only
            now; Sotto can't show it again.
          </p>
          <p className="recovery-key" data-testid="recovery-key">
            {step.recoveryKey}
          </p>
          <label className="check">
            <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} data-testid="recovery-key-saved" />
            <span>I've saved my recovery key somewhere safe</span>
          </label>
          <div className="modal__actions">
            <button type="button" className="button button--primary" disabled={!saved} onClick={onClose} data-testid="key-backup-done">
              Done
            </button>
          </div>
        </div>
      ) : step.kind === "done" ? (
        <div className="modal__body" data-testid="key-backup-on">
          <p>
            <strong>Key backup is on.</strong> On a new device, restore it with your passphrase to read your groups'
            earlier messages.
          </p>
          <div className="modal__actions">
            <button type="button" className="button button--primary" onClick={onClose} autoFocus>
              Done
            </button>
          </div>
        </div>
      ) : step.kind === "exists" ? (
        <div className="modal__body" data-testid="key-backup-exists">
          <p>
            Your account already has a key backup, made on another device. Restore from it with its recovery key or
            passphrase, and this device keeps it up to date too.
          </p>
          <p className="muted">
            Or start a new backup instead: group keys that are only in the old one are lost, and your other devices
            need the new recovery key.
          </p>
          <FormError problem={problem} testId="key-backup-error" />
          <div className="modal__actions">
            <button type="button" className="button button--danger-outline" disabled={busy} onClick={() => void enable(true)} data-testid="key-backup-replace">
              Start a new backup
            </button>
            <button type="button" className="button button--primary" onClick={onRestoreInstead} autoFocus>
              Restore from it
            </button>
          </div>
        </div>
      ) : (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            void enable(false);
          }}
          noValidate
        >
          <p className="muted">
            Sotto saves your group keys on the server, encrypted with a recovery key only you have. A new device of
            yours can then read your groups' earlier messages. The server can't read them.
          </p>
          <fieldset className="field">
            <legend className="field__label">Protect it with</legend>
            <label className="check">
              <input type="radio" name="key-backup-kind" checked={!usePassphrase} onChange={() => setUsePassphrase(false)} data-testid="key-backup-kind-key" />
              <span>A recovery key Sotto creates (recommended)</span>
            </label>
            <label className="check">
              <input type="radio" name="key-backup-kind" checked={usePassphrase} onChange={() => setUsePassphrase(true)} data-testid="key-backup-kind-passphrase" />
              <span>A passphrase I choose</span>
            </label>
          </fieldset>
          {usePassphrase ? (
            <>
              <label className="field">
                <span className="field__label">Passphrase</span>
                <input type="password" autoComplete="new-password" value={passphrase} onChange={(e) => setPassphrase(e.target.value)} data-testid="key-backup-passphrase" />
                <span className="field__hint">At least {MIN_KEY_BACKUP_PASSPHRASE} characters. It can't be recovered.</span>
              </label>
              <label className="field">
                <span className="field__label">Repeat the passphrase</span>
                <input type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} data-testid="key-backup-passphrase-confirm" />
              </label>
            </>
          ) : null}
          <FormError problem={problem} testId="key-backup-error" />
          <div className="modal__actions">
            <button type="button" className="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="button button--primary" disabled={busy} data-testid="key-backup-start">
              {busy ? "Turning on…" : "Turn on"}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}

/** Restoring also confirms this device when the backup holds the user's identity keys. */
export function RestoreKeyBackupDialog({ onClose }: { onClose: () => void }) {
  const session = useSession();
  const [usePassphrase, setUsePassphrase] = useState(false);
  const [secret, setSecret] = useState("");
  const [problem, setProblem] = useState<FormProblem | null>(null);
  const task = useLongTask<KeyBackupRestore>();
  const lastProgress = useRef<Progress | null>(null);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (secret.trim().length === 0) {
      setProblem({ kind: "local", text: usePassphrase ? "Enter the key backup's passphrase." : "Enter your recovery key." });
      return;
    }
    setProblem(null);
    lastProgress.current = null;
    const outcome = await task.run((onProgress) =>
      ipc.restoreKeyBackup(usePassphrase ? { passphrase: secret } : { recoveryKey: secret }, (progress) => {
        lastProgress.current = progress;
        onProgress(progress);
      }),
    );
    if (outcome.ok) {
      if (outcome.result.confirmed) void session.refreshThisDevice();
      return;
    }
    // Stopped once the keys were in: those stay, and a second restore reads the rest.
    // (`as`: TypeScript can't see the progress callback set it during the await.)
    const reached = lastProgress.current as Progress | null;
    const partly = outcome.error.code === "cancelled" && (reached?.done ?? 0) > 0;
    setProblem(
      partly
        ? {
            kind: "local",
            text: "Stopped. The group keys restored so far are kept; restore again to read the rest of your groups' history.",
          }
        : { kind: "command", error: outcome.error },
    );
  };

  const { state } = task;
  const result = state.kind === "done" ? state.result : null;
  // While it runs, only its Cancel button stops it.
  const close = state.kind === "running" ? () => undefined : onClose;
  return (
    <Modal title="Restore from key backup" onClose={close} testId="key-restore-dialog">
      {state.kind === "running" ? (
        <TaskProgress
          label={state.progress ? "Reading your groups' history" : "Unlocking the key backup"}
          progress={state.progress}
          finishing="Finishing…"
          cancelling={state.cancelling}
          onCancel={task.cancel}
          testId="key-restore-progress"
        />
      ) : result ? (
        <div className="modal__body" data-testid="key-restore-done">
          <p>
            <strong>Restored {result.sessions === 1 ? "1 group key" : `${result.sessions} group keys`}.</strong>{" "}
            {result.messages > 0
              ? `Read ${result.messages} earlier ${result.messages === 1 ? "message" : "messages"} from ${result.groups === 1 ? "1 group" : `${result.groups} groups`}.`
              : "There were no earlier group messages to read."}
          </p>
          {result.confirmed ? (
            <p data-testid="key-restore-confirmed">
              <strong>This device is confirmed now.</strong> Messages sent to you from now on will show here.
            </p>
          ) : null}
          {result.undecryptable > 0 ? (
            <p className="muted">
              {result.undecryptable} of them can't be read: their keys were never saved in the backup.
            </p>
          ) : null}
          <div className="modal__actions">
            <button type="button" className="button button--primary" onClick={onClose} autoFocus data-testid="key-restore-close">
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <div className="segmented" role="group" aria-label="Unlock with">
            <button type="button" className="segmented__item" aria-pressed={!usePassphrase} onClick={() => setUsePassphrase(false)}>
              Recovery key
            </button>
            <button type="button" className="segmented__item" aria-pressed={usePassphrase} onClick={() => setUsePassphrase(true)} data-testid="key-restore-use-passphrase">
              Passphrase
            </button>
          </div>
          <label className="field">
            <span className="field__label">{usePassphrase ? "Key backup passphrase" : "Recovery key"}</span>
            <input
              type={usePassphrase ? "password" : "text"}
              autoComplete="off"
              spellCheck={false}
              value={secret}
              onChange={(e) => setSecret(e.target.value)}
              autoFocus
              data-testid="key-restore-secret"
            />
            {usePassphrase ? null : <span className="field__hint">Spaces don't matter; Sotto notices typos.</span>}
          </label>
          <FormError problem={problem} testId="key-restore-error" />
          <div className="modal__actions">
            <button type="button" className="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="button button--primary" data-testid="key-restore-start">
              Restore
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
