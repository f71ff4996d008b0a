//! On a device the user has not confirmed yet: a calm banner above the conversation list that
//! stays until it is confirmed. It says why nothing sent to the person shows here, names this
//! device (to pick it on another one), and opens the ways out.

import { Suspense, useState } from "react";
import { lazyComponent } from "../../lib/lazy";
import { useStore } from "../../lib/store";
import { useAppStore, useSession } from "../../state/context";

// Loaded when the person asks how to confirm this device.
const ConfirmThisDeviceDialog = lazyComponent(() =>
  import("./ConfirmThisDevice").then((m) => m.ConfirmThisDeviceDialog),
);

export function UnconfirmedBanner() {
  const app = useAppStore();
  const session = useSession();
  const confirmed = useStore(session.devices, (s) => s.thisConfirmed);
  const deviceId = useStore(app, (s) => s.status?.account?.device_id ?? "");
  const [open, setOpen] = useState(false);

  return (
    <>
      {confirmed === false ? (
        <div className="notice notice--warning unconfirmed-banner" role="status" data-testid="unconfirmed-banner">
          <p className="notice__text">
            <span>
              <strong>This device is not confirmed yet.</strong> Until you confirm it, messages sent to you don't show
              here — so no one can add a device to your account and read along. You can still send.
            </span>
            <span className="small">
              This device: <code data-testid="unconfirmed-device-id">{deviceId}</code>
            </span>
          </p>
          <div className="notice__actions">
            <button
              type="button"
              className="button button--small"
              onClick={() => setOpen(true)}
              data-testid="unconfirmed-open"
            >
              Confirm this device…
            </button>
          </div>
        </div>
      ) : null}
      {open ? (
        <Suspense fallback={null}>
          <ConfirmThisDeviceDialog onClose={() => setOpen(false)} />
        </Suspense>
      ) : null}
    </>
  );
}
