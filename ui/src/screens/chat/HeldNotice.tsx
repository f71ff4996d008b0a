//! Shown in a direct chat while sending to the contact is held: their identity changed after the
//! person verified them, so nothing is sent until the person compares safety numbers again (and
//! marks them verified) or accepts the new key.

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { useStore } from "../../lib/store";
import type { CommandError } from "../../lib/types";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { AlertIcon } from "../../components/icons";

export function HeldNotice({ userId }: { userId: string }) {
  const session = useSession();
  const held = useStore(session.conversations, (s) => s.held[userId] === true);
  const keyChanges = useStore(session.conversations, (s) => s.keyChanges[userId] ?? 0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CommandError | null>(null);

  // Whether sending is held (local, no network): at open, and after each key change.
  useEffect(() => {
    let live = true;
    ipc
      .isHeld(userId)
      .then((h) => live && session.conversations.setHeld(userId, h))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [userId, keyChanges, session]);

  if (!held) return null;

  const accept = async () => {
    setBusy(true);
    setError(null);
    try {
      const verification = await ipc.acceptIdentity(userId);
      session.conversations.setHeld(userId, false);
      session.conversations.setVerified(userId, verification.verified);
      session.conversations.dismissKeyNotice(userId);
    } catch (e) {
      setError(asCommandError(e));
    } finally {
      setBusy(false);
    }
  };

  const compare = () => session.ui.setDetailsOpen(true);

  return (
    <div className="notice notice--warning key-notice" role="status" data-testid="held-notice">
      <AlertIcon className="notice__icon" />
      <div className="notice__text">
        <p>
          <strong>{userId}'s safety number changed since you verified them.</strong> Sending to them is paused, so
          nothing reaches someone who may be pretending to be them.
        </p>
        <p className="muted small">
          Compare safety numbers again in person or on a call you trust. If you know why it changed (they started over
          on a new device), accept the new key: sending resumes, and they are no longer marked verified.
        </p>
        {error ? <ErrorNote error={error} context={{ userId }} testId="held-error" /> : null}
      </div>
      <div className="notice__actions">
        <button type="button" className="button button--small" onClick={compare} data-testid="held-compare">
          Compare safety numbers
        </button>
        <button type="button" className="button button--small" onClick={() => void accept()} disabled={busy} data-testid="held-accept">
          {busy ? "Accepting…" : "Accept new key"}
        </button>
      </div>
    </div>
  );
}
