//! The question asked of a server whose certificate no authority the computer trusts has signed
//! (someone's own computer, or an impostor): trust it only after comparing its fingerprint with
//! the one its owner reads out. Used at sign-in and when the server moves.

import { useState } from "react";
import { asCommandError } from "../lib/errors";
import type { FormProblem } from "./FormError";

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

/**
 * A server address typed by the person, tried with `attempt(url, fingerprint)`: a certificate
 * no authority vouches for (when none was trusted yet) is put to the person (`untrusted`, shown
 * with [`CertificateCheck`]) instead of failing; any other failure is `problem`.
 */
export function useServerAddress(attempt: (url: string, fingerprint: string | null) => Promise<void>) {
  const [url, setUrlValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);
  const [untrusted, setUntrusted] = useState<string | null>(null);

  const tryAddress = async (fingerprint: string | null) => {
    setBusy(true);
    setProblem(null);
    try {
      await attempt(url.trim(), fingerprint);
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

  /** The form's submit: an empty address gets `emptyText`. */
  const submit = async (e: React.FormEvent, emptyText: string) => {
    e.preventDefault();
    if (!url.trim()) {
      setProblem({ kind: "local", text: emptyText });
      return;
    }
    setUntrusted(null);
    await tryAddress(null);
  };

  const setUrl = (value: string) => {
    setUrlValue(value);
    setUntrusted(null);
  };

  return { url, setUrl, busy, setBusy, problem, setProblem, untrusted, setUntrusted, tryAddress, submit };
}

/** The address field of [`useServerAddress`]. */
export function ServerAddressField({
  label,
  value,
  onChange,
  testId,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  testId: string;
}) {
  return (
    <label className="field">
      <span className="field__label">{label}</span>
      <input
        type="url"
        inputMode="url"
        autoComplete="url"
        spellCheck={false}
        placeholder="https://chat.example.org"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        autoFocus
        data-testid={testId}
      />
    </label>
  );
}
