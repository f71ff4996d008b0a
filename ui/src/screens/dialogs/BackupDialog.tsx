//! Settings → "Back up to a file": one encrypted file with this device's keys and the whole
//! history, protected by a passphrase the person chooses. Progress and Cancel while it runs.

import { useEffect, useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import type { BackupDefaults, BackupSummary } from "../../lib/types";
import { FormError, type FormProblem } from "../../components/FormError";
import { Modal } from "../../components/Modal";
import { PathField } from "../../components/PathField";
import { SecretField } from "../../components/SecretField";
import { TaskProgress, useLongTask } from "../../components/TaskProgress";
import { formatBytes } from "../../lib/units";
import { useAppStore } from "../../state/context";

export const MIN_BACKUP_PASSPHRASE = 8;

/** Fills an empty path field with the place the Rust side suggests (see `backup_defaults`). */
export function useSuggestedPath(pick: (d: BackupDefaults) => string, set: (update: (p: string) => string) => void) {
  const first = useRef({ pick, set });
  useEffect(() => {
    let live = true;
    const { pick, set } = first.current;
    ipc
      .backupDefaults()
      .then((d) => {
        if (live) set((p) => p || pick(d));
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
}

export function BackupDialog({ onClose }: { onClose: () => void }) {
  const [path, setPath] = useState("");
  const [passphrase, setPassphrase] = useState("");
  const [confirm, setConfirm] = useState("");
  const [problem, setProblem] = useState<FormProblem | null>(null);
  const task = useLongTask<BackupSummary>();
  const app = useAppStore();

  useSuggestedPath((d) => d.backup_file, setPath);

  const check = (): string | null => {
    if (path.trim().length === 0) return "Choose where to save the backup.";
    if (passphrase.length < MIN_BACKUP_PASSPHRASE)
      return `Choose a passphrase of at least ${MIN_BACKUP_PASSPHRASE} characters.`;
    if (passphrase !== confirm) return "The two passphrases don't match. Type them again.";
    return null;
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const local = check();
    if (local) {
      setProblem({ kind: "local", text: local });
      return;
    }
    setProblem(null);
    const outcome = await task.run((onProgress) => ipc.exportBackup(path.trim(), passphrase, onProgress));
    if (outcome.ok) app.setLastBackup(Date.now());
    else setProblem({ kind: "command", error: outcome.error });
  };

  const { state } = task;
  // While it runs, only its Cancel button stops it: Escape or a stray click must not.
  const close = state.kind === "running" ? () => undefined : onClose;
  return (
    <Modal title="Back up to a file" onClose={close} testId="backup-dialog">
      {state.kind === "running" ? (
        <TaskProgress
          label="Backing up"
          progress={state.progress}
          finishing="Finishing the file…"
          cancelling={state.cancelling}
          onCancel={task.cancel}
          testId="backup-progress"
        />
      ) : state.kind === "done" ? (
        <div className="modal__body" data-testid="backup-done">
          <p>
            <strong>Your backup is saved.</strong> It holds {state.result.messages.toLocaleString()} messages and
            this device's keys ({formatBytes(state.result.bytes)}).
          </p>
          <p>
            <code className="path">{path.trim()}</code>
          </p>
          <p className="muted">
            Keep a copy somewhere other than this computer, and keep the passphrase safe: without it, nobody —
            not even you — can open the file.
          </p>
          <div className="modal__actions">
            <button type="button" className="button button--primary" onClick={onClose} autoFocus data-testid="backup-close">
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <p className="muted">
            One encrypted file with your messages, contacts, groups and this device's keys. Restore it when you set
            up Sotto on a new computer.
          </p>
          <PathField
            label="Save as"
            value={path}
            onChange={setPath}
            purpose="backup_file"
            hint="A new file; Sotto never overwrites one."
            testId="backup-path"
          />
          <SecretField
            label="Backup passphrase"
            value={passphrase}
            onChange={setPassphrase}
            autoComplete="new-password"
            hint={`At least ${MIN_BACKUP_PASSPHRASE} characters; a few unrelated words are best. It can't be recovered.`}
            autoFocus
            testId="backup-passphrase"
          />
          <SecretField
            label="Repeat the passphrase"
            value={confirm}
            onChange={setConfirm}
            autoComplete="new-password"
            testId="backup-passphrase-confirm"
          />
          <FormError problem={problem} testId="backup-error" />
          <div className="modal__actions">
            <button type="button" className="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="button button--primary" data-testid="backup-start">
              Back up
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
