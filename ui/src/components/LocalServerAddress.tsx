//! The server running on this computer: where it is, who can reach it, and (in Settings) the
//! switch that opens it to other computers — over HTTPS only, with the certificate fingerprint
//! their Sotto will ask them to compare.

import { useState } from "react";
import * as ipc from "../lib/tauri";
import { asCommandError } from "../lib/errors";
import type { CommandError, LocalServerInfo } from "../lib/types";
import { ErrorNote } from "./ErrorNote";
import { ServerIcon } from "./icons";

interface LocalServerAddressProps {
  info: LocalServerInfo;
  /** Show the network access switch (Settings). */
  editable?: boolean;
}

export function LocalServerAddress({ info, editable = false }: LocalServerAddressProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CommandError | null>(null);
  const network = info.network;

  const setNetwork = async (enabled: boolean) => {
    setBusy(true);
    setError(null);
    try {
      // The new state reaches the window with the app status the command announces.
      await ipc.setLocalServerNetwork(enabled);
    } catch (e) {
      setError(asCommandError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="notice notice--info local-server" aria-label="Your server">
      <ServerIcon />
      <div data-testid="local-server-address">
        <p>
          Sotto's server is running on this computer at <code>{info.url}</code>.
        </p>
        {network ? (
          <div data-testid="local-server-network">
            <p className="small">
              {network.urls.length > 0 ? (
                <>
                  Other computers on your network can connect at{" "}
                  {network.urls.map((url, i) => (
                    <span key={url}>
                      {i > 0 ? " or " : null}
                      <code>{url}</code>
                    </span>
                  ))}
                  , over an encrypted connection.
                </>
              ) : (
                <>
                  This computer isn't on a network right now. Once it is, other computers connect to its address on
                  port {network.port}, over an encrypted connection.
                </>
              )}{" "}
              The first time, their Sotto shows a certificate fingerprint; it must match this one exactly:
            </p>
            <code className="fingerprint" data-testid="local-server-fingerprint">
              {network.fingerprint}
            </code>
          </div>
        ) : (
          <p className="muted small">
            Only apps on this computer can reach it; it is not open to your network. It runs while Sotto is open.
          </p>
        )}
        {editable ? (
          <label className="check">
            <input
              type="checkbox"
              checked={network !== null}
              disabled={busy}
              onChange={(e) => void setNetwork(e.target.checked)}
              data-testid="local-server-network-toggle"
            />
            <span>
              Let other computers on my network connect
              <span className="check__hint muted small">
                They connect over HTTPS with this server's own certificate. Apps here reconnect by themselves.
              </span>
            </span>
          </label>
        ) : null}
        {error ? <ErrorNote error={error} testId="local-server-error" /> : null}
      </div>
    </section>
  );
}
