//! "edited" in a bubble's corner, for a message its sender changed. A click shows every text it
//! had on this device, oldest first, with when each was written.

import { useEffect, useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError, describeError } from "../../lib/errors";
import { formatFull, useClock } from "../../lib/time";
import type { CommandError, Message, MessageVersion } from "../../lib/types";
import { Popover } from "../../components/Popover";

export function EditedMarker({ message: m }: { message: Message }) {
  const button = useRef<HTMLButtonElement>(null);
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        ref={button}
        type="button"
        className="bubble__edited"
        title="Edited. Show earlier versions"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        data-testid="edited-marker"
      >
        edited
      </button>
      {open && button.current ? (
        <Popover
          anchor={button.current}
          onClose={() => setOpen(false)}
          align={m.outgoing ? "end" : "start"}
          label="Edit history"
          className="versions"
          testId="message-versions"
        >
          <Versions message={m} />
        </Popover>
      ) : null}
    </>
  );
}

function Versions({ message: m }: { message: Message }) {
  const clock = useClock();
  const [versions, setVersions] = useState<MessageVersion[] | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  // Read again when the message changes (edited once more while this is open).
  useEffect(() => {
    let live = true;
    ipc
      .messageVersions(m.id)
      .then((got) => live && setVersions(got))
      .catch((e: unknown) => live && setError(asCommandError(e)));
    return () => {
      live = false;
    };
  }, [m.id, m.body]);

  return (
    <div className="versions__body">
      <h3 className="versions__title">Edit history</h3>
      {error ? (
        <p className="small">{describeError(error)}</p>
      ) : versions === null ? (
        <p className="muted small">Loading…</p>
      ) : versions.length === 0 ? (
        <p className="muted small">The earlier versions of this message are not on this device.</p>
      ) : (
        <ol className="versions__list">
          {versions.map((v, i) => (
            <li key={`${v.ts}-${i}`} className="versions__item" data-testid="message-version">
              <p className="versions__text">{v.body || <em className="muted">No text</em>}</p>
              <p className="muted small">
                <time dateTime={new Date(v.ts).toISOString()}>{formatFull(v.ts, clock.locale)}</time>
                {i === versions.length - 1 && v.body === m.body ? " · shown now" : i === 0 ? " · original" : ""}
              </p>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
