//! When the server shows another certificate than the one trusted, the engine stops connecting.
//! This dialog shows both fingerprints and lets the person trust the new one — only after they
//! compared it with whoever runs the server (it is what an interception would look like too).

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { CertificateProblem, CommandError } from "../../lib/types";
import { ErrorNote } from "../../components/ErrorNote";
import { Modal } from "../../components/Modal";

export function CertificateReview({ onClose }: { onClose: () => void }) {
  const [problem, setProblem] = useState<CertificateProblem | null | undefined>(undefined);
  const [error, setError] = useState<CommandError | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    ipc.certificateProblem().then(setProblem, (e: unknown) => setError(asCommandError(e)));
  }, []);

  const trust = async (fingerprint: string) => {
    setBusy(true);
    setError(null);
    try {
      await ipc.trustServerCertificate(fingerprint);
      onClose();
    } catch (e) {
      setError(asCommandError(e));
      setBusy(false);
    }
  };

  return (
    <Modal title="The server's certificate changed" onClose={onClose} testId="certificate-review">
      {problem === undefined && !error ? <p className="muted">Loading…</p> : null}
      {problem === null ? (
        <p>Sotto is connecting again; there is nothing to review.</p>
      ) : problem ? (
        <div className="certificate-check">
          <p>
            The server now shows a different certificate from the one you trusted. That happens when whoever runs
            it replaces it — and also when someone intercepts the connection. Until you decide, Sotto sends and
            receives nothing; your messages wait on this computer.
          </p>
          {problem.trusted ? (
            <>
              <p className="small muted">The certificate you trusted:</p>
              <code className="fingerprint" data-testid="certificate-trusted">
                {problem.trusted}
              </code>
            </>
          ) : null}
          <p className="small muted">The certificate the server shows now:</p>
          <code className="fingerprint" data-testid="certificate-presented">
            {problem.presented}
          </code>
          <p>Ask whoever runs the server to read you the fingerprint their Sotto shows. Trust it only if it matches.</p>
          <div className="certificate-check__buttons">
            <button
              type="button"
              className="button button--danger"
              disabled={busy}
              data-testid="trust-new-certificate"
              onClick={() => void trust(problem.presented)}
            >
              They match — trust the new certificate
            </button>
            <button type="button" className="button" onClick={onClose}>
              Not now
            </button>
          </div>
        </div>
      ) : null}
      {error ? <ErrorNote error={error} testId="certificate-error" /> : null}
    </Modal>
  );
}
