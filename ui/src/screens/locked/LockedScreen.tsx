//! The profile on this computer exists but can't be opened yet: ask for the passphrase (or to
//! retry once the keychain is back), or go back to the welcome screen without deleting it.

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError, describeLockReason } from "../../lib/errors";
import type { LockedProfile } from "../../lib/types";
import { useAppStore } from "../../state/context";
import { FormError, type FormProblem } from "../../components/FormError";
import { LockIcon } from "../../components/icons";

export function LockedScreen({ profile }: { profile: LockedProfile }) {
  const store = useAppStore();
  const [passphrase, setPassphrase] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);

  const unlock = async (e: React.FormEvent) => {
    e.preventDefault();
    if (profile.has_passphrase && passphrase.length === 0) {
      setProblem({ kind: "local", text: "Enter your passphrase to unlock your messages." });
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      store.setStatus(await ipc.unlock(profile.has_passphrase ? passphrase : ""));
    } catch (err) {
      setProblem({ kind: "command", error: asCommandError(err) });
      setBusy(false);
    }
  };

  const useAnother = async () => {
    setBusy(true);
    try {
      store.setStatus(await ipc.useAnotherAccount());
    } catch (err) {
      setProblem({ kind: "command", error: asCommandError(err) });
      setBusy(false);
    }
  };

  return (
    <main className="welcome" data-testid="locked">
      <div className="welcome__card">
        <header className="welcome__header">
          <LockIcon className="welcome__icon" />
          <h1 className="welcome__title">Unlock Sotto</h1>
          <p className="welcome__tagline">
            <strong>{profile.user_id}</strong> <span className="muted">on {profile.server}</span>
          </p>
        </header>
        <form className="form" onSubmit={(e) => void unlock(e)} noValidate>
          <p>{describeLockReason(profile.code)}</p>
          {profile.has_passphrase ? (
            <label className="field">
              <span className="field__label">Passphrase</span>
              <input
                type="password"
                autoComplete="current-password"
                value={passphrase}
                onChange={(e) => setPassphrase(e.target.value)}
                autoFocus
                data-testid="unlock-passphrase"
              />
            </label>
          ) : null}
          <FormError problem={problem} testId="form-error" />
          <button type="submit" className="button button--primary button--wide" disabled={busy} data-testid="unlock-submit">
            {profile.has_passphrase ? (busy ? "Unlocking…" : "Unlock") : busy ? "Trying…" : "Try again"}
          </button>
        </form>
        <div className="welcome__footer">
          <button
            type="button"
            className="link-button"
            onClick={() => void useAnother()}
            disabled={busy}
            aria-describedby="another-account-note"
            data-testid="use-another-account"
          >
            Use another account
          </button>
          <p className="muted small" id="another-account-note">
            Nothing is deleted: this profile and its messages stay on this computer.
          </p>
        </div>
      </div>
    </main>
  );
}
