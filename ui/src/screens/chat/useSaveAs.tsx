//! Save as… for a message's file: the system's save dialog (suggesting the file's name, in the
//! downloads folder), then the engine writes the decrypted copy there (never over a file).

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError, describeError } from "../../lib/errors";
import type { CommandError, FileInfo, Message } from "../../lib/types";

/** Save as…: the system's save dialog (suggesting the file's name), then the decrypted copy. */
export function useSaveAs(m: Message, file: FileInfo) {
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<CommandError | null>(null);

  const save = async () => {
    setError(null);
    setSaved(null);
    let path: string | null;
    try {
      path = await ipc.choosePath("save_file", file.name);
    } catch (e) {
      setError(asCommandError(e));
      return;
    }
    if (!path) return;
    setBusy(true);
    try {
      await ipc.saveFile(m.id, path);
      setSaved(path);
    } catch (e) {
      setError(asCommandError(e));
    } finally {
      setBusy(false);
    }
  };

  const note = error ? (
    <p className="file-card__error small" role="alert" data-testid="file-error">
      {describeError(error)}
    </p>
  ) : saved ? (
    <p className="muted small" role="status" data-testid="file-saved">
      Saved to {saved}
    </p>
  ) : null;

  return { save, busy, note };
}
