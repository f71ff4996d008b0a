//! The server running on this computer: where it is, and who can reach it.

import type { LocalServerInfo } from "../lib/types";
import { ServerIcon } from "./icons";

export function LocalServerAddress({ info }: { info: LocalServerInfo }) {
  return (
    <section className="notice notice--info local-server" aria-label="Your server">
      <ServerIcon />
      <div data-testid="local-server-address">
        <p>
          Sotto's server is running on this computer at <code>{info.url}</code>.
        </p>
        <p className="muted small">
          Only apps on this computer can reach it; it is not open to your network. It runs while Sotto is open.
        </p>
      </div>
    </section>
  );
}
