//! The safety number as 12 groups of 5 digits in a monospace grid, with what to do with it, and
//! the person's mark that they compared it ("Verified").

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { CommandError, Verification } from "../../lib/types";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { VerifiedIcon } from "../../components/icons";

export function safetyGroups(digits: string): string[] {
  const clean = digits.replace(/\D/gu, "");
  const groups: string[] = [];
  for (let i = 0; i < clean.length; i += 5) groups.push(clean.slice(i, i + 5));
  return groups;
}

interface SafetyNumberProps {
  userId: string;
  verification: Verification;
  /** The number changed meanwhile: load it again. */
  onStale: () => void;
}

export function SafetyNumber({ userId, verification, onStale }: SafetyNumberProps) {
  const session = useSession();
  const [current, setCurrent] = useState(verification);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CommandError | null>(null);
  // A reload (keys changed) replaces what is shown; an error explaining it stays.
  useEffect(() => setCurrent(verification), [verification]);

  const compareEmoji = async () => {
    setBusy(true);
    setError(null);
    try {
      const started = await ipc.startContactVerification(userId);
      session.devices.apply(started);
      session.devices.show(started.id);
    } catch (e) {
      setError(asCommandError(e));
    } finally {
      setBusy(false);
    }
  };

  const mark = async (verified: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const next = await ipc.setVerified(userId, verified ? current.safety_number : null);
      setCurrent(next);
      session.conversations.setVerified(userId, next.verified);
      // Marking (or clearing) the mark at the current number also ends a hold on sending.
      session.conversations.setHeld(userId, false);
    } catch (e) {
      const err = asCommandError(e);
      setError(err);
      if (err.code === "safety_number_changed") onStale();
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="safety">
      <div className="safety-number" data-testid="safety-number" aria-label={`Safety number with ${userId}`} role="group">
        {safetyGroups(current.safety_number).map((g, i) => (
          <span key={i} className="safety-number__group">
            {g}
          </span>
        ))}
      </div>
      {current.changed_since_verified ? (
        <p className="notice notice--warning small" role="status" data-testid="verification-lost">
          You had verified {userId}, but this safety number is new: their keys or yours changed since. Compare it again.
        </p>
      ) : null}
      {current.verified ? (
        <p className="safety__verified" data-testid="verification-status">
          <VerifiedIcon className="safety__verified-icon" />
          <span>You verified {userId}'s safety number.</span>
        </p>
      ) : (
        <p className="muted small">
          Compare this number with the one on {userId}'s screen, in person or over a call you trust. If they match, your
          conversation is end-to-end encrypted with the right person: mark them as verified. Or compare seven emoji
          with them while you are both online.
        </p>
      )}
      {error ? <ErrorNote error={error} testId="verification-error" /> : null}
      <div className="safety__actions">
        {current.verified ? (
          <button type="button" className="link-button" onClick={() => void mark(false)} disabled={busy} data-testid="verify-toggle">
            Clear verification
          </button>
        ) : (
          <>
            <button
              type="button"
              className="button button--small"
              onClick={() => void compareEmoji()}
              disabled={busy}
              data-testid="verify-by-emoji"
            >
              Compare emoji…
            </button>
            <button type="button" className="button button--small" onClick={() => void mark(true)} disabled={busy} data-testid="verify-toggle">
              Mark as verified
            </button>
          </>
        )}
      </div>
    </div>
  );
}
