//! The two first-run choices: connect to a server (URL checked with `check_server`), or run
//! a server on this computer (`start_local_server`). A server whose certificate no authority
//! the computer trusts has signed (someone's own computer) is trusted only after the person
//! compares its fingerprint and says so: trust on first use, never silently.

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { LocalServerInfo } from "../../lib/types";
import { CertificateCheck, ServerAddressField, useServerAddress } from "../../components/CertificateCheck";
import { FormError } from "../../components/FormError";
import { GlobeIcon, ServerIcon } from "../../components/icons";

interface ServerChoiceProps {
  /** The checked address, and the certificate fingerprint the person trusted (if they had to). */
  onServer: (url: string, trustedCertificate: string | null) => void;
  onLocalServer: (info: LocalServerInfo) => void;
}

type Choice = "connect" | "local" | null;

export function ServerChoice({ onServer, onLocalServer }: ServerChoiceProps) {
  const [choice, setChoice] = useState<Choice>(null);
  const { url, setUrl, busy, setBusy, problem, setProblem, untrusted, setUntrusted, tryAddress, submit } =
    useServerAddress(async (typed, trusted) => onServer(await ipc.checkServer(typed, trusted), trusted));

  const runLocal = async () => {
    setChoice("local");
    setBusy(true);
    setProblem(null);
    try {
      onLocalServer(await ipc.startLocalServer());
    } catch (err) {
      setProblem({ kind: "command", error: asCommandError(err) });
      setBusy(false);
    }
  };

  return (
    <div className="server-choice">
      <h2 className="section-title">Where should your messages go?</h2>
      <div className="choice-list">
        <button
          type="button"
          className="choice"
          aria-expanded={choice === "connect"}
          data-selected={choice === "connect"}
          data-testid="connect-choice"
          onClick={() => {
            setChoice("connect");
            setProblem(null);
          }}
        >
          <GlobeIcon className="choice__icon" />
          <span className="choice__text">
            <span className="choice__title">Connect to a server</span>
            <span className="choice__desc">Use a Sotto server someone already runs, at work or among friends.</span>
          </span>
        </button>
        {choice === "connect" ? (
          <form
            className="form"
            onSubmit={(e) => void submit(e, "Enter the server's address, for example https://chat.example.org.")}
            noValidate
          >
            <ServerAddressField label="Server address" value={url} onChange={setUrl} testId="server-url" />
            <FormError problem={problem} testId="form-error" context={{ url }} />
            {untrusted ? (
              <CertificateCheck
                fingerprint={untrusted}
                busy={busy}
                onTrust={() => void tryAddress(untrusted)}
                onCancel={() => setUntrusted(null)}
              />
            ) : (
              <button type="submit" className="button button--primary" disabled={busy} data-testid="server-continue">
                {busy ? "Checking…" : "Continue"}
              </button>
            )}
          </form>
        ) : null}
        <button
          type="button"
          className="choice"
          data-selected={choice === "local"}
          data-testid="local-choice"
          onClick={() => void runLocal()}
          disabled={busy && choice === "local"}
        >
          <ServerIcon className="choice__icon" />
          <span className="choice__text">
            <span className="choice__title">Run a server on this computer</span>
            <span className="choice__desc">
              For the accounts on this computer; other computers can't reach it. It runs while Sotto is open.
            </span>
          </span>
        </button>
        {choice === "local" ? (
          busy ? (
            <p className="muted" role="status">
              Starting the server…
            </p>
          ) : (
            <FormError problem={problem} testId="form-error" />
          )
        ) : null}
      </div>
    </div>
  );
}
