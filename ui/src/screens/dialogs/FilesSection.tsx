//! Settings → Files: whether files that arrive are downloaded at once, and up to what size.
//! The limit is the profile's (the engine keeps it); 0 means never. Larger files, and all of
//! them when it is off, wait on the server until someone clicks Download.

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { CommandError } from "../../lib/types";
import { ErrorNote } from "../../components/ErrorNote";

const MB = 1024 * 1024;
/** What "on" starts at when it was off (the engine's own default). */
const DEFAULT_MB = 16;
const MAX_MB = 10_000;

export function FilesSection() {
  /** The limit in MB; 0 = off; null until read. */
  const [limit, setLimit] = useState<number | null>(null);
  /** The number in the field (kept while off, so turning it on again restores it). */
  const [typed, setTyped] = useState(String(DEFAULT_MB));
  const [error, setError] = useState<CommandError | null>(null);

  useEffect(() => {
    ipc
      .autoDownloadLimit()
      .then((bytes) => {
        const mb = Math.round(bytes / MB);
        setLimit(bytes === 0 ? 0 : Math.max(1, mb));
        if (bytes > 0) setTyped(String(Math.max(1, mb)));
      })
      .catch((e: unknown) => setError(asCommandError(e)));
  }, []);

  const save = async (mb: number) => {
    setError(null);
    const before = limit;
    setLimit(mb);
    try {
      await ipc.setAutoDownloadLimit(mb * MB);
    } catch (e) {
      setLimit(before);
      setError(asCommandError(e));
    }
  };

  const typedMb = Math.floor(Number(typed));
  const typedValid = Number.isFinite(typedMb) && typedMb >= 1 && typedMb <= MAX_MB;
  const on = limit !== null && limit > 0;

  return (
    <section className="settings__section" aria-labelledby="settings-files">
      <h3 id="settings-files" className="settings__heading">
        Files
      </h3>
      <div className="check">
        <input
          id="auto-download"
          type="checkbox"
          checked={on}
          disabled={limit === null}
          onChange={(e) => void save(e.target.checked ? (typedValid ? typedMb : DEFAULT_MB) : 0)}
          data-testid="auto-download-toggle"
        />
        <span>
          <label htmlFor="auto-download">Download files automatically up to </label>
          <input
            className="settings__number"
            type="number"
            min={1}
            max={MAX_MB}
            value={typed}
            disabled={!on}
            aria-label="Largest file downloaded automatically, in MB"
            onChange={(e) => setTyped(e.target.value)}
            onBlur={() => {
              if (on && typedValid && typedMb !== limit) void save(typedMb);
              else if (!typedValid && limit) setTyped(String(limit));
            }}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                e.currentTarget.blur();
              }
            }}
            data-testid="auto-download-mb"
          />{" "}
          MB
          <span className="check__hint muted small">
            Larger files — or every file, when this is off — stay on the server until you click Download.
          </span>
        </span>
      </div>
      {error ? <ErrorNote error={error} /> : null}
    </section>
  );
}
