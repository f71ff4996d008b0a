//! Settings → Account → "Server moved…": the installation this account is on has a new address
//! (a new domain, another proxy). The profile follows it only if that address is the same
//! installation (it knows this device); a certificate no authority vouches for is trusted only
//! after the person compares its fingerprint, as at sign-in.

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { useAppStore } from "../../state/context";
import { CertificateCheck } from "../../components/CertificateCheck";
import { FormError, type FormProblem } from "../../components/FormError";
import { Modal } from "../../components/Modal";

export function MoveServerDialog({ current, onClose }: { current: string; onClose: () => void }) {
  const app = useAppStore();
  const [url, setUrl] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);
  /** The fingerprint of a certificate waiting for the person's decision. */
  const [untrusted, setUntrusted] = useState<string | null>(null);
  const [moved, setMoved] = useState<string | null>(null);

  const move = async (typed: string, fingerprint: string | null) => {
    setBusy(true);
    setProblem(null);
    try {
      const status = await ipc.moveServer(typed, fingerprint);
      app.setStatus(status);
      setMoved(status.account?.server ?? typed);
    } catch (err) {
      const error = asCommandError(err);
      if (error.code === "untrusted_certificate" && error.fingerprint && fingerprint === null) {
        setUntrusted(error.fingerprint);
      } else {
        setUntrusted(null);
        setProblem({ kind: "command", error });
      }
    } finally {
      setBusy(false);
    }
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const typed = url.trim();
    if (!typed) {
      setProblem({ kind: "local", text: "Enter the server's new address, for example https://chat.example.org." });
      return;
    }
    setUntrusted(null);
    await move(typed, null);
  };

  return (
    <Modal title="The server moved" onClose={busy ? () => undefined : onClose} testId="move-server-dialog">
      {moved ? (
        <div className="modal__body" data-testid="move-server-done">
          <p>
            <strong>Sotto now uses {moved}.</strong> Your messages, contacts and keys are as they were.
          </p>
          <div className="modal__actions">
            <button type="button" className="button button--primary" onClick={onClose} autoFocus data-testid="move-server-close">
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <p className="muted">
            Use this when whoever runs your server gives it a new address. Sotto checks that the new address is
            the same server — it must know this device — before it changes anything. Now: <code>{current}</code>
          </p>
          <label className="field">
            <span className="field__label">New address</span>
            <input
              type="url"
              inputMode="url"
              spellCheck={false}
              placeholder="https://chat.example.org"
              value={url}
              onChange={(e) => {
                setUrl(e.target.value);
                setUntrusted(null);
              }}
              autoFocus
              data-testid="move-server-url"
            />
          </label>
          <FormError problem={problem} testId="move-server-error" context={{ url }} />
          {untrusted ? (
            <CertificateCheck
              fingerprint={untrusted}
              busy={busy}
              onTrust={() => void move(url.trim(), untrusted)}
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
      )}
    </Modal>
  );
}
