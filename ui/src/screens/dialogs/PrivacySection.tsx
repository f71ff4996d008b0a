//! Settings → Privacy: whether read receipts are sent. The profile's setting (the engine keeps
//! it); off, none are sent and nobody's are shown, as in Signal — the line under the switch says
//! so. Delivery receipts are always sent: they only say a device got the message.

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { CommandError } from "../../lib/types";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";

export function PrivacySection() {
  const session = useSession();
  /** Whether they are on; null until read. */
  const [on, setOn] = useState<boolean | null>(null);
  const [error, setError] = useState<CommandError | null>(null);

  useEffect(() => {
    let live = true;
    ipc
      .readReceipts()
      .then((value) => live && setOn(value))
      .catch((e: unknown) => live && setError(asCommandError(e)));
    return () => {
      live = false;
    };
  }, []);

  const save = async (next: boolean) => {
    setError(null);
    const before = on;
    setOn(next);
    try {
      await session.setReadReceipts(next);
    } catch (e) {
      setOn(before);
      setError(asCommandError(e));
    }
  };

  return (
    <section className="settings__section" aria-labelledby="settings-privacy">
      <h3 id="settings-privacy" className="settings__heading">
        Privacy
      </h3>
      <label className="check">
        <input
          type="checkbox"
          checked={on ?? false}
          disabled={on === null}
          onChange={(e) => void save(e.target.checked)}
          data-testid="read-receipts-toggle"
        />
        <span>
          Send read receipts
          <span className="check__hint muted small">
            If you turn this off, you won't see read receipts from others either.
          </span>
        </span>
      </label>
      {error ? <ErrorNote error={error} testId="privacy-error" /> : null}
    </section>
  );
}
