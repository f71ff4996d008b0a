//! Settings → Account → "Server moved…": the installation this account is on has a new address
//! (a new domain, another proxy). The profile follows it only if that address is the same
//! installation (it knows this device); a certificate no authority vouches for is trusted only
//! after the person compares its fingerprint, as at sign-in. Once moved, the profile opens again
//! at the new address (the window starts over on it).

import * as ipc from "../../lib/tauri";
import { useAppStore } from "../../state/context";
import { CertificateCheck, ServerAddressField, useServerAddress } from "../../components/CertificateCheck";
import { FormError } from "../../components/FormError";
import { Modal } from "../../components/Modal";

export function MoveServerDialog({ current, onClose }: { current: string; onClose: () => void }) {
  const app = useAppStore();
  const { url, setUrl, busy, problem, untrusted, setUntrusted, tryAddress, submit } = useServerAddress(
    async (typed, fingerprint) => {
      app.setStatus(await ipc.moveServer(typed, fingerprint));
      onClose();
    },
  );

  return (
    <Modal title="The server moved" onClose={busy ? () => undefined : onClose} testId="move-server-dialog">
      <form
        className="form"
        onSubmit={(e) => void submit(e, "Enter the server's new address, for example https://chat.example.org.")}
        noValidate
      >
        <p className="muted">
          Use this when whoever runs your server gives it a new address. Sotto checks that the new address is the
          same server — it must know this device — before it changes anything. Now: <code>{current}</code>
        </p>
        <ServerAddressField label="New address" value={url} onChange={setUrl} testId="move-server-url" />
        <FormError problem={problem} testId="move-server-error" context={{ url }} />
        {untrusted ? (
          <CertificateCheck
            fingerprint={untrusted}
            busy={busy}
            onTrust={() => void tryAddress(untrusted)}
            onCancel={() => setUntrusted(null)}
            testId="move-certificate-check"
            trustTestId="move-trust-certificate"
          />
        ) : (
          <div className="modal__actions">
            <button type="button" className="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className="button button--primary" disabled={busy} data-testid="move-server-submit">
              {busy ? "Checking…" : "Use this address"}
            </button>
          </div>
        )}
      </form>
    </Modal>
  );
}
