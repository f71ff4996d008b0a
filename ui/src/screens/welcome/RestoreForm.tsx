//! First run, "Restore from a backup file": the backup file and its passphrase, and the account
//! to sign in to (a restore signs in afresh with the account password; the file holds no
//! tokens). Without a usable keychain the engine refuses with a keychain error; the form then
//! asks for a passphrase for this computer, as the sign-in form does.

import { useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { isKeychainError } from "../../lib/errors";
import { isValidUserId, USER_ID_RULE } from "../../lib/ids";
import { useAppStore } from "../../state/context";
import { FormError, type FormProblem } from "../../components/FormError";
import { PathField } from "../../components/PathField";
import { SecretField } from "../../components/SecretField";
import { TaskProgress, useLongTask } from "../../components/TaskProgress";
import type { AppStatus } from "../../lib/types";

const MIN_PASSPHRASE = 8;
const KEYCHAIN_TEXT =
  "This computer has no available keychain. Choose a passphrase to protect your messages on this computer.";

interface RestoreFormProps {
  server: string;
  /** As in `SignInForm`. */
  trustedCertificate?: string | null;
  onBack: () => void;
}

export function RestoreForm({ server, trustedCertificate = null, onBack }: RestoreFormProps) {
  const store = useAppStore();
  const [file, setFile] = useState("");
  const [backupPassphrase, setBackupPassphrase] = useState("");
  const [userId, setUserId] = useState("");
  const [password, setPassword] = useState("");
  const [passphraseRequired, setPassphraseRequired] = useState(false);
  const [passphrase, setPassphrase] = useState("");
  const [problem, setProblem] = useState<FormProblem | null>(null);
  const passphraseInput = useRef<HTMLInputElement>(null);
  const task = useLongTask<AppStatus>();

  const check = (): string | null => {
    if (file.trim().length === 0) return "Enter where the backup file is, for example ~/Documents/backup.sotto.";
    if (backupPassphrase.length === 0) return "Enter the passphrase you chose when you made the backup.";
    if (!isValidUserId(userId.trim())) return `User ids are ${USER_ID_RULE}.`;
    if (password.length === 0) return "Enter your account password.";
    if (passphraseRequired && passphrase.length < MIN_PASSPHRASE)
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
    setProblem(null);
    const outcome = await task.run((onProgress) =>
      ipc.restoreBackup(
        {
          server,
          user_id: userId.trim(),
          password,
          file: file.trim(),
          backup_passphrase: backupPassphrase,
          passphrase: passphraseRequired && passphrase.length > 0 ? passphrase : null,
          ...(trustedCertificate ? { trusted_certificate: trustedCertificate } : {}),
        },
        onProgress,
      ),
    );
    if (outcome.ok) {
      store.setStatus(outcome.result);
      return;
    }
    if (isKeychainError(outcome.error)) {
      setPassphraseRequired(true);
      setProblem({ kind: "command", error: outcome.error, text: KEYCHAIN_TEXT });
      requestAnimationFrame(() => passphraseInput.current?.focus());
      return;
    }
    setProblem({ kind: "command", error: outcome.error });
  };

  if (task.state.kind !== "idle") {
    const progress = task.state.kind === "running" ? task.state.progress : null;
    return (
      <TaskProgress
        label="Restoring your backup"
        progress={progress}
        finishing="Signing in…"
        cancelling={task.state.kind === "running" && task.state.cancelling}
        onCancel={task.cancel}
        testId="restore-progress"
      />
    );
  }

  return (
    <form className="form restore" onSubmit={(e) => void submit(e)} noValidate data-testid="restore-form">
      <div className="server-line">
        <span className="muted">Server</span> <code className="server-line__url">{server}</code>{" "}
        <button type="button" className="link-button" onClick={onBack} data-testid="restore-back">
          Back
        </button>
      </div>
      <h2 className="restore__title">Restore from a backup file</h2>
      <PathField label="Backup file" value={file} onChange={setFile} purpose="restore_file" autoFocus testId="restore-file" />
      <SecretField
        label="Backup passphrase"
        value={backupPassphrase}
        onChange={setBackupPassphrase}
        autoComplete="off"
        testId="restore-backup-passphrase"
      />
      <label className="field">
        <span className="field__label">User id</span>
        <input
          type="text"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          value={userId}
          onChange={(e) => setUserId(e.target.value)}
          data-testid="restore-user-id"
        />
      </label>
      <SecretField
        label="Account password"
        value={password}
        onChange={setPassword}
        autoComplete="current-password"
        hint="Sotto signs in again; the backup file holds no sign-in."
        testId="restore-password"
      />
      {passphraseRequired ? (
        <SecretField
          label="Passphrase for this computer"
          value={passphrase}
          onChange={setPassphrase}
          autoComplete="new-password"
          hint="Asked for each time Sotto starts. It can't be recovered, so keep it somewhere safe."
          required
          inputRef={passphraseInput}
          testId="restore-passphrase"
        />
      ) : null}
      <FormError problem={problem} testId="form-error" />
      <button type="submit" className="button button--primary button--wide" data-testid="restore-submit">
        Restore and sign in
      </button>
    </form>
  );
}
