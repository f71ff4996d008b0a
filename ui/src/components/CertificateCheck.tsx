//! The question asked of a server whose certificate no authority the computer trusts has signed
//! (someone's own computer, or an impostor): trust it only after comparing its fingerprint with
//! the one its owner reads out. Used at sign-in and when the server moves.

interface CertificateCheckProps {
  fingerprint: string;
  busy: boolean;
  onTrust: () => void;
  onCancel: () => void;
  /** Test ids of the box and the trust button (the sign-in screen's are the defaults). */
  testId?: string;
  trustTestId?: string;
}

export function CertificateCheck({
  fingerprint,
  busy,
  onTrust,
  onCancel,
  testId = "certificate-check",
  trustTestId = "trust-certificate",
}: CertificateCheckProps) {
  return (
    <div className="certificate-check" role="alert" data-testid={testId}>
      <p>
        <strong>Check this server's certificate.</strong> No authority your computer trusts vouches for it. That's
        usual when someone runs Sotto on their own computer — and also what an impostor would look like.
      </p>
      <p>
        Ask whoever runs the server to read you the fingerprint their Sotto shows, and trust it only if it matches
        this one exactly:
      </p>
      <code className="fingerprint" data-testid="certificate-fingerprint">
        {fingerprint}
      </code>
      <div className="certificate-check__buttons">
        <button
          type="button"
          className="button button--primary"
          disabled={busy}
          data-testid={trustTestId}
          onClick={onTrust}
        >
          {busy ? "Checking…" : "They match — trust this server"}
        </button>
        <button type="button" className="button" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
