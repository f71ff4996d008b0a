//! Settings → Devices: this device (and whether it is confirmed), the account's other devices,
//! confirmed or not, with "Confirm…" (the emoji comparison) and "Remove…"; and "Link a new
//! device…", which explains the steps and lists the devices waiting to be confirmed.

import { useCallback, useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { useStore } from "../../lib/store";
import { formatDate, useClock } from "../../lib/time";
import type { AccountDevice, CommandError, DeviceId } from "../../lib/types";
import { useAppStore, useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { Modal } from "../../components/Modal";
import { PasswordConfirm } from "../../components/PasswordConfirm";
import { usePasswordAction } from "../dialogs/AccountDialogs";
import { ConfirmThisDeviceDialog } from "./ConfirmThisDevice";

/** One device of this account with what the directory says of it. */
export interface DeviceRow {
  device: AccountDevice;
  thisDevice: boolean;
  /** Confirmed by the user's identity (for this device: it holds the identity). */
  confirmed: boolean;
}

type Loaded = { kind: "loading" } | { kind: "ok"; rows: DeviceRow[] } | { kind: "error"; error: CommandError };

/** This account's devices (the server's list, with the directory's confirmations), reloaded when they change. */
function useAccountDevices() {
  const app = useAppStore();
  const session = useSession();
  const account = useStore(app, (s) => s.status?.account ?? null);
  const revision = useStore(session.devices, (s) => s.revision);
  const thisConfirmed = useStore(session.devices, (s) => s.thisConfirmed);
  const [state, setState] = useState<Loaded>({ kind: "loading" });
  const userId = account?.user_id ?? "";
  const ownId = account?.device_id ?? "";

  useEffect(() => {
    if (!userId) return;
    let live = true;
    Promise.all([ipc.ownDevices(), ipc.userDevices(userId)])
      .then(([listed, known]) => {
        if (!live) return;
        const rows = listed.map((device) => ({
          device,
          thisDevice: device.device_id === ownId,
          confirmed:
            device.device_id === ownId
              ? thisConfirmed === true
              : known.some((k) => k.device_id === device.device_id && k.active && k.confirmed),
        }));
        rows.sort((a, b) => Number(b.thisDevice) - Number(a.thisDevice) || b.device.created_ts - a.device.created_ts);
        setState({ kind: "ok", rows });
      })
      .catch((e: unknown) => live && setState({ kind: "error", error: asCommandError(e) }));
    return () => {
      live = false;
    };
  }, [userId, ownId, revision, thisConfirmed]);

  return state;
}

/** Starts the emoji comparison with `deviceId` and shows it; resolves with the error, if any. */
function useStartComparison() {
  const session = useSession();
  return useCallback(
    async (deviceId: DeviceId): Promise<CommandError | null> => {
      try {
        const view = await ipc.startDeviceConfirmation(deviceId, session.devices.get().copyHistory);
        session.devices.apply(view);
        session.devices.show(view.id);
        return null;
      } catch (e) {
        return asCommandError(e);
      }
    },
    [session],
  );
}

export function DevicesSection() {
  const session = useSession();
  const clock = useClock();
  const devices = useAccountDevices();
  const thisConfirmed = useStore(session.devices, (s) => s.thisConfirmed);
  const start = useStartComparison();
  const [error, setError] = useState<CommandError | null>(null);
  const [open, setOpen] = useState<{ kind: "link" } | { kind: "confirm-this" } | { kind: "remove"; row: DeviceRow } | null>(
    null,
  );

  const confirm = async (deviceId: DeviceId) => {
    setError(null);
    setError(await start(deviceId));
  };

  return (
    <section className="settings__section" aria-labelledby="settings-devices" data-testid="devices-section">
      <h3 id="settings-devices" className="settings__heading">
        Devices
      </h3>
      <p className="muted small">
        Messages reach only the devices you have confirmed, so no one — not even the server — can add a reader to
        your account.
      </p>
      {devices.kind === "ok" ? (
        <ul className="device-list" aria-label="Your devices">
          {devices.rows.map((row) => (
            <li
              key={row.device.device_id}
              className="device-row own-device"
              data-testid="own-device"
              data-device-id={row.device.device_id}
              data-confirmed={row.confirmed}
            >
              <div className="own-device__main">
                <span className="own-device__name">
                  {row.device.name ?? "Unnamed device"}
                  {row.thisDevice ? <span className="role-tag">This device</span> : null}
                </span>
                <span className="muted small">
                  <code>{row.device.device_id}</code> · Signed in {formatDate(row.device.created_ts, clock.locale)}
                </span>
                <DeviceStatus row={row} />
              </div>
              <div className="own-device__actions">
                {row.thisDevice ? (
                  row.confirmed ? null : (
                    <button
                      type="button"
                      className="button button--small"
                      onClick={() => setOpen({ kind: "confirm-this" })}
                      data-testid="confirm-this-device"
                    >
                      Confirm this device…
                    </button>
                  )
                ) : (
                  <>
                    {!row.confirmed && row.device.has_keys && thisConfirmed ? (
                      <button
                        type="button"
                        className="button button--small button--primary"
                        onClick={() => void confirm(row.device.device_id)}
                        aria-label={`Confirm ${row.device.name ?? row.device.device_id} by comparing emoji`}
                        data-testid="device-confirm"
                      >
                        Confirm…
                      </button>
                    ) : null}
                    <button
                      type="button"
                      className="button button--small"
                      onClick={() => setOpen({ kind: "remove", row })}
                      aria-label={`Remove ${row.device.name ?? row.device.device_id}`}
                      data-testid="device-remove"
                    >
                      Remove…
                    </button>
                  </>
                )}
              </div>
            </li>
          ))}
        </ul>
      ) : devices.kind === "error" ? (
        <ErrorNote error={devices.error} />
      ) : (
        <p className="muted">Loading…</p>
      )}
      {error ? <ErrorNote error={error} testId="devices-error" /> : null}
      {thisConfirmed ? <CopyHistoryOption /> : null}
      <div className="settings__buttons">
        <button type="button" className="button" onClick={() => setOpen({ kind: "link" })} data-testid="link-device">
          Link a new device…
        </button>
      </div>
      {open?.kind === "link" ? (
        <LinkDeviceDialog rows={devices.kind === "ok" ? devices.rows : []} onClose={() => setOpen(null)} />
      ) : null}
      {open?.kind === "remove" ? <RemoveDeviceDialog row={open.row} onClose={() => setOpen(null)} /> : null}
      {open?.kind === "confirm-this" ? <ConfirmThisDeviceDialog onClose={() => setOpen(null)} /> : null}
    </section>
  );
}

/** Whether confirming a device also copies this device's one-to-one conversations to it. */
function CopyHistoryOption() {
  const session = useSession();
  const copyHistory = useStore(session.devices, (s) => s.copyHistory);
  return (
    <label className="check" data-testid="copy-history">
      <input
        type="checkbox"
        checked={copyHistory}
        onChange={(e) => session.devices.setCopyHistory(e.target.checked)}
        data-testid="copy-history-input"
      />
      <span>
        Copy my one-to-one conversations to a device I confirm
        <span className="check__hint muted small">Group conversations come along either way.</span>
      </span>
    </label>
  );
}

function DeviceStatus({ row }: { row: DeviceRow }) {
  if (row.confirmed) {
    return (
      <span className="own-device__status own-device__status--ok" data-testid="device-status">
        Confirmed
      </span>
    );
  }
  const text = !row.device.has_keys
    ? "Hasn't finished signing in"
    : row.thisDevice
      ? "Not confirmed yet — it shows nothing sent to you"
      : "Not confirmed — it gets none of your messages";
  return (
    <span className="own-device__status own-device__status--warn" data-testid="device-status">
      {text}
    </span>
  );
}

/** How to add a device, step by step, with the devices waiting to be confirmed (checked again on demand). */
function LinkDeviceDialog({ rows, onClose }: { rows: DeviceRow[]; onClose: () => void }) {
  const app = useAppStore();
  const session = useSession();
  const account = useStore(app, (s) => s.status?.account ?? null);
  const thisConfirmed = useStore(session.devices, (s) => s.thisConfirmed);
  const start = useStartComparison();
  const [error, setError] = useState<CommandError | null>(null);
  const waiting = rows.filter((r) => !r.thisDevice && !r.confirmed && r.device.has_keys);

  const confirm = async (deviceId: DeviceId) => {
    setError(null);
    const failed = await start(deviceId);
    if (failed) setError(failed);
    else onClose();
  };

  return (
    <Modal title="Link a new device" onClose={onClose} testId="link-device-dialog">
      <div className="modal__body">
        <ol className="steps">
          <li>
            On the new device, install Sotto and choose <strong>Sign in</strong> with this server, your user id and
            your password:
            <dl className="settings__facts">
              <dt>Server</dt>
              <dd>
                <code>{account?.server}</code>
              </dd>
              <dt>User id</dt>
              <dd>{account?.user_id}</dd>
            </dl>
          </li>
          <li>The new device says it isn't confirmed yet, and shows its device id.</li>
          <li>
            Here, choose <strong>Confirm</strong> next to that device id, then compare the emoji on both screens and
            choose <strong>They match</strong> on both.
          </li>
        </ol>
        {thisConfirmed === false ? (
          <p className="notice notice--warning small" data-testid="link-device-unconfirmed">
            This device isn't confirmed itself, so it can't confirm others. Confirm it first, or link the new device
            from one that is.
          </p>
        ) : waiting.length === 0 ? (
          <p className="muted small" data-testid="link-device-none">
            No device is waiting to be confirmed yet. Once the new one has signed in, check again.
          </p>
        ) : (
          <ul className="device-list" aria-label="Devices waiting to be confirmed">
            {waiting.map((r) => (
              <li key={r.device.device_id} className="device-row own-device" data-testid="link-device-waiting">
                <span className="own-device__main">
                  {r.device.name ?? "Unnamed device"} <code>{r.device.device_id}</code>
                </span>
                <button
                  type="button"
                  className="button button--small button--primary"
                  onClick={() => void confirm(r.device.device_id)}
                >
                  Confirm…
                </button>
              </li>
            ))}
          </ul>
        )}
        {error ? <ErrorNote error={error} /> : null}
      </div>
      <div className="modal__actions">
        <button type="button" className="button" onClick={() => session.devices.devicesChanged()} data-testid="link-device-check">
          Check again
        </button>
        <button type="button" className="button button--primary" onClick={onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}

function RemoveDeviceDialog({ row, onClose }: { row: DeviceRow; onClose: () => void }) {
  const session = useSession();
  const [password, setPassword] = useState("");
  const { busy, problem, run } = usePasswordAction<null>();
  const name = row.device.name ?? "this device";

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const check = () => (password.length === 0 ? "Enter your password to confirm." : null);
    if (await run(check, () => ipc.deleteDevice(row.device.device_id, password))) {
      session.devices.devicesChanged();
      onClose();
    }
  };

  return (
    <Modal title={`Remove ${name}?`} onClose={busy ? () => undefined : onClose} testId="remove-device-dialog">
      <form className="form" onSubmit={(e) => void submit(e)} noValidate>
        <p>
          This signs <strong>{name}</strong> (<code>{row.device.device_id}</code>) out of your account. It gets no new
          messages; what it already has stays on it.
        </p>
        <PasswordConfirm
          password={password}
          onPassword={setPassword}
          problem={problem}
          busy={busy}
          onCancel={onClose}
          action="Remove device"
          busyAction="Removing…"
          testId="remove-device"
        />
      </form>
    </Modal>
  );
}
