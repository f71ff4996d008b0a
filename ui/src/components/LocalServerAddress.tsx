//! Where others on the network can reach the server running on this computer.

import type { LocalServerInfo } from "../lib/types";
import { ServerIcon } from "./icons";

export function LocalServerAddress({ info }: { info: LocalServerInfo }) {
  const shared = info.lan_urls.length > 0;
  return (
    <section className="notice notice--info local-server" aria-label="Your server">
      <ServerIcon />
      <div data-testid="local-server-address">
        {shared ? (
          <>
            <p>Sotto's server is running on this computer. Others on your network can join at</p>
            <ul className="address-list">
              {info.lan_urls.map((url) => (
                <li key={url}>
                  <code>{url}</code>
                </li>
              ))}
            </ul>
            <p className="muted small">It runs while Sotto is open on this computer.</p>
          </>
        ) : (
          <>
            <p>
              Sotto's server is running on this computer at <code>{info.url}</code>.
            </p>
            <p className="muted small">
              No network address was found, so only this computer can use it for now. Connect to a network
              and others can join too.
            </p>
          </>
        )}
      </div>
    </section>
  );
}
