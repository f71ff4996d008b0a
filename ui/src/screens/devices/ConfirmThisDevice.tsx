//! The ways to confirm this device: from another of the person's devices (by comparing emoji;
//! the comparison opens here by itself), with the key backup's recovery key, or — when neither
//! is left — by starting over with a new identity (password again, and a clear warning).

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { useStore } from "../../lib/store";
import { useAppStore, useSession } from "../../state/context";
import { Modal } from "../../components/Modal";
import { PasswordConfirm } from "../../components/PasswordConfirm";
import { usePasswordAction } from "../dialogs/AccountDialogs";
import { RestoreKeyBackupDialog } from "../dialogs/KeyBackup";

export function ConfirmThisDeviceDialog({ onClose }: { onClose: () => void }) {
  const app = useAppStore();
  const session = useSession();
  const confirmed = useStore(session.devices, (s) => s.thisConfirmed);
  const deviceId = useStore(app, (s) => s.status?.account?.device_id ?? "");
  const [open, setOpen] = useState<"restore" | "start-over" | null>(null);

  return (
    <>
      <Modal title="Confirm this device" onClose={onClose} testId="confirm-device-dialog">
        {confirmed ? (
          <div className="modal__body" data-testid="confirm-device-done">
            <p>
              <strong>This device is confirmed.</strong> Messages sent to you from now on will show here.
            </p>
            <div className="modal__actions">
              <button type="button" className="button button--primary" onClick={onClose} autoFocus>
                Done
              </button>
            </div>
          </div>
        ) : (
          <div className="modal__body confirm-ways">
            <p className="muted">
              Your contacts' apps and your own devices give messages only to devices you have confirmed. That way no
              one — not even the server — can add a device to your account and read along.
            </p>
            <section aria-labelledby="way-device">
              <h3 id="way-device" className="confirm-ways__heading">
                From another of your devices
              </h3>
              <p>
                On a device where you already use Sotto, open <strong>Settings → Devices</strong> and choose{" "}
                <strong>Confirm</strong> next to this device:
              </p>
              <p className="confirm-ways__id">
                <code data-testid="confirm-device-id">{deviceId}</code>
              </p>
              <p className="muted small">The emoji to compare then show here by themselves.</p>
            </section>
            <section aria-labelledby="way-recovery">
              <h3 id="way-recovery" className="confirm-ways__heading">
                With your recovery key
              </h3>
              <p>If you turned on key backup, restore it with its recovery key or passphrase.</p>
              <div className="settings__buttons">
                <button type="button" className="button" onClick={() => setOpen("restore")} data-testid="confirm-device-restore">
                  Restore with recovery key…
                </button>
              </div>
            </section>
            <section aria-labelledby="way-start-over">
              <h3 id="way-start-over" className="confirm-ways__heading">
                Start over
              </h3>
              <p>Only if none of your devices is confirmed any more and you have no recovery key.</p>
              <div className="settings__buttons">
                <button
                  type="button"
                  className="button button--danger-outline"
                  onClick={() => setOpen("start-over")}
                  data-testid="confirm-device-start-over"
                >
                  Start over…
                </button>
              </div>
            </section>
          </div>
        )}
      </Modal>
      {open === "restore" ? <RestoreKeyBackupDialog onClose={() => setOpen(null)} /> : null}
      {open === "start-over" ? <StartOverDialog onClose={() => setOpen(null)} /> : null}
    </>
  );
}

export function StartOverDialog({ onClose }: { onClose: () => void }) {
  const session = useSession();
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const { busy, problem, run } = usePasswordAction<null>();

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const check = () => (password.length === 0 ? "Enter your password to confirm." : null);
    if (await run(check, () => ipc.resetIdentity(password))) {
      await session.refreshThisDevice();
      session.devices.devicesChanged();
      setDone(true);
    }
  };

  return (
    <Modal title="Start over with a new identity" onClose={busy ? () => undefined : onClose} testId="start-over-dialog">
      {done ? (
        <div className="modal__body" data-testid="start-over-done">
          <p>
            <strong>You started over.</strong> This device is confirmed with your new identity.
          </p>
          <p className="muted">
            Confirm your other devices again from Settings → Devices, and compare safety numbers again with the people
            you talk with.
          </p>
          <div className="modal__actions">
            <button type="button" className="button button--primary" onClick={onClose} autoFocus>
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <p>Starting over gives your account a new identity key, and confirms this device with it. Before you do:</p>
          <ul className="warning-list" data-testid="start-over-warning">
            <li>Everyone you talk with sees that your safety number changed. People who had verified you must accept your new key before they can write to you again.</li>
            <li>Your other devices stop being confirmed: they read nothing new until you confirm each of them again from this one.</li>
            <li>Messages sent to you before now stay unreadable on this device.</li>
          </ul>
          <p className="muted small">
            If one of your devices is still confirmed, or you have your recovery key, use that instead: nothing changes
            for anyone.
          </p>
          <PasswordConfirm
            password={password}
            onPassword={setPassword}
            problem={problem}
            busy={busy}
            onCancel={onClose}
            action="Start over"
            busyAction="Starting over…"
            testId="start-over"
          />
        </form>
      )}
    </Modal>
  );
}
