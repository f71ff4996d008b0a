//! A contact's safety number (and whether it is verified) and devices, each confirmed by the
//! contact or not (an unconfirmed one is given nothing).

import { useEffect, useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { useStore } from "../../lib/store";
import { formatDate, useClock } from "../../lib/time";
import type { CommandError, DeviceSummary } from "../../lib/types";
import { useSession } from "../../state/context";
import { PersonAvatar } from "../../components/PersonAvatar";
import { useDisplayName } from "../../state/people";
import { ErrorNote } from "../../components/ErrorNote";
import { SafetyNumber } from "./SafetyNumber";

type Loaded<T> = { kind: "loading" } | { kind: "ok"; value: T } | { kind: "error"; error: CommandError };

/** Runs `load` whenever `key` changes; only the latest answer is kept. */
function useLoad<T>(key: string, load: () => Promise<T>): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({ kind: "loading" });
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let live = true;
    setState({ kind: "loading" });
    loadRef
      .current()
      .then((value) => live && setState({ kind: "ok", value }))
      .catch((e: unknown) => live && setState({ kind: "error", error: asCommandError(e) }));
    return () => {
      live = false;
    };
  }, [key]);
  return state;
}

export function ContactDetails({ userId }: { userId: string }) {
  const clock = useClock();
  const session = useSession();
  const keyRevision = useStore(session.conversations, (s) => s.keyChanges[userId] ?? 0);
  // A contact verified by comparing emoji (or a device confirmed) reloads the number and devices.
  const deviceRevision = useStore(session.devices, (s) => s.revision);
  const revision = `${keyRevision}.${deviceRevision}`;
  const [reloads, setReloads] = useState(0);
  const key = `${userId}:${revision}:${reloads}`;
  const name = useDisplayName(userId);
  const safety = useLoad(key, () => ipc.verification(userId));
  const devices = useLoad(key, () => ipc.userDevices(userId));
  useEffect(() => {
    if (safety.kind === "ok") session.conversations.setVerified(userId, safety.value.verified);
  }, [safety, session, userId]);

  return (
    <>
      <div className="details__identity">
        <PersonAvatar userId={userId} size="large" />
        <h3 data-testid="contact-name">{name}</h3>
        {/* Who they are for the safety number: the user id, whatever name they chose. */}
        {name !== userId ? (
          <p className="muted" data-testid="contact-user-id">
            {userId}
          </p>
        ) : null}
      </div>
      <section className="details__section" aria-labelledby="safety-heading">
        <h3 id="safety-heading" className="details__heading">
          Safety number
        </h3>
        {safety.kind === "ok" ? (
          <SafetyNumber
            userId={userId}
            verification={safety.value}
            onStale={() => setReloads((n) => n + 1)}
          />
        ) : safety.kind === "error" ? (
          <ErrorNote error={safety.error} context={{ userId }} />
        ) : (
          <p className="muted">Loading…</p>
        )}
      </section>
      <section className="details__section" aria-labelledby="devices-heading">
        <h3 id="devices-heading" className="details__heading">
          Devices
        </h3>
        {devices.kind === "ok" ? (
          devices.value.length === 0 ? (
            <p className="muted">No devices known for {userId} yet.</p>
          ) : (
            <ul className="device-list">
              {devices.value.map((d) => (
                <DeviceRow key={d.device_id} device={d} userId={userId} locale={clock.locale} />
              ))}
            </ul>
          )
        ) : devices.kind === "error" ? (
          <ErrorNote error={devices.error} context={{ userId }} />
        ) : (
          <p className="muted">Loading…</p>
        )}
      </section>
    </>
  );
}

function DeviceRow({ device: d, userId, locale }: { device: DeviceSummary; userId: string; locale: string | undefined }) {
  return (
    <li className="device-row" data-testid="device-row" data-active={d.active} data-confirmed={d.confirmed}>
      <code className="device-row__id">{d.device_id}</code>
      <span className="device-row__meta muted small">
        {d.first_seen > 0 ? `First seen ${formatDate(d.first_seen, locale)}` : "First seen recently"} ·{" "}
        <span className={d.active ? "device-row__active" : ""}>{d.active ? "Active" : "Signed out"}</span>
      </span>
      {d.active ? (
        d.confirmed ? (
          <span className="device-row__confirmed small" data-testid="device-confirmation">
            Confirmed by {userId}
          </span>
        ) : (
          <span className="device-row__unconfirmed small" data-testid="device-confirmation">
            Not confirmed by {userId} — gets none of your messages
          </span>
        )
      ) : null}
    </li>
  );
}
