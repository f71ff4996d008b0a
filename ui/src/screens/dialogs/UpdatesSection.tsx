//! Settings → Updates: look for a newer Sotto, and install it — only a package whose signature
//! verifies with Sotto's release key is installed (the Rust side checks; see `updates.rs`).

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { formatBytes } from "../../lib/units";
import type { CommandError, DownloadProgress, UpdateCheck } from "../../lib/types";
import { ErrorNote } from "../../components/ErrorNote";

type Phase =
  | { kind: "idle" }
  | { kind: "checking" }
  | { kind: "checked"; result: UpdateCheck }
  | { kind: "installing"; version: string; progress: DownloadProgress | null }
  | { kind: "installed"; version: string };

export function UpdatesSection() {
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const [error, setError] = useState<CommandError | null>(null);

  const check = async () => {
    setError(null);
    setPhase({ kind: "checking" });
    try {
      setPhase({ kind: "checked", result: await ipc.checkForUpdate() });
    } catch (e) {
      setError(asCommandError(e));
      setPhase({ kind: "idle" });
    }
  };

  const install = async (version: string) => {
    setError(null);
    setPhase({ kind: "installing", version, progress: null });
    try {
      await ipc.installUpdate((progress) => setPhase({ kind: "installing", version, progress }));
      setPhase({ kind: "installed", version });
    } catch (e) {
      setError(asCommandError(e));
      setPhase({ kind: "idle" });
    }
  };

  return (
    <section className="settings__section" aria-labelledby="settings-updates">
      <h3 id="settings-updates" className="settings__heading">
        Updates
      </h3>
      <div data-testid="update-status" role="status">
        {phase.kind === "checked" && phase.result.state === "not_configured" ? (
          <p className="muted small">
            This copy of Sotto ({phase.result.current}) doesn't look for updates itself: it was built without an
            update source. Your package manager, or whoever gave you Sotto, provides new versions.
          </p>
        ) : phase.kind === "checked" && phase.result.state === "up_to_date" ? (
          <p>Sotto {phase.result.current} is the latest version.</p>
        ) : phase.kind === "checked" && phase.result.state === "available" ? (
          <p>
            Sotto {phase.result.version} is available (you have {phase.result.current}).
            {phase.result.notes ? <span className="check__hint muted small">{phase.result.notes}</span> : null}
          </p>
        ) : phase.kind === "installing" ? (
          <p>
            Downloading Sotto {phase.version}
            {phase.progress
              ? ` — ${formatBytes(phase.progress.received)}${
                  phase.progress.total ? ` of ${formatBytes(phase.progress.total)}` : ""
                }`
              : "…"}
          </p>
        ) : phase.kind === "installed" ? (
          <p data-testid="update-installed">
            Sotto {phase.version} is installed, its signature checked. Restart Sotto to use it.
          </p>
        ) : null}
      </div>
      <div className="settings__buttons">
        {phase.kind === "checked" && phase.result.state === "available" ? (
          <button
            type="button"
            className="button button--primary"
            onClick={() => void install(phase.result.state === "available" ? phase.result.version : "")}
            data-testid="install-update"
          >
            Download and install
          </button>
        ) : phase.kind === "installed" ? (
          <button type="button" className="button button--primary" onClick={() => void ipc.restartApp()} data-testid="restart">
            Restart now
          </button>
        ) : (
          <button
            type="button"
            className="button"
            disabled={phase.kind === "checking" || phase.kind === "installing"}
            onClick={() => void check()}
            data-testid="check-for-update"
          >
            {phase.kind === "checking" ? "Checking…" : "Check for updates"}
          </button>
        )}
      </div>
      {error ? <ErrorNote error={error} testId="update-error" /> : null}
    </section>
  );
}
