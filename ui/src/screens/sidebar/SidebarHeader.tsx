//! Own name and picture (and user id), the connection state (a dot, words when not online), and settings.

import { useState } from "react";
import { useStore } from "../../lib/store";
import type { ConnectionState } from "../../lib/types";
import { useAppStore, useSession } from "../../state/context";
import { PersonAvatar } from "../../components/PersonAvatar";
import { useDisplayName } from "../../state/people";
import { SettingsIcon } from "../../components/icons";
import { CertificateReview } from "./CertificateReview";

const STATE_TEXT: Record<ConnectionState, string> = {
  online: "Online",
  syncing: "Syncing…",
  connecting: "Connecting…",
  offline: "Offline",
  certificate_changed: "Not connected: the server's certificate changed",
};

export function SidebarHeader() {
  const app = useAppStore();
  const session = useSession();
  const userId = useStore(app, (s) => s.status?.account?.user_id ?? "");
  const connection = useStore(app, (s) => s.status?.connection ?? "connecting");
  const name = useDisplayName(userId);
  const [reviewing, setReviewing] = useState(false);

  return (
    <>
      <header className="sidebar__header">
        <PersonAvatar userId={userId} size="small" />
        <div className="sidebar__me">
          <span className="sidebar__who">
            {name !== userId ? (
              <span className="sidebar__name" data-testid="own-name">
                {name}
              </span>
            ) : null}
            <span className={name !== userId ? "sidebar__user sidebar__user--quiet" : "sidebar__user"} data-testid="own-user">
              {userId}
            </span>
          </span>
          <span className="connection" data-testid="connection-status" data-state={connection}>
            <span className="connection__dot" aria-hidden="true" />
            <span className={connection === "online" ? "visually-hidden" : "connection__text"}>
              {STATE_TEXT[connection]}
            </span>
          </span>
        </div>
        <button
          type="button"
          className="icon-button"
          onClick={() => session.ui.openDialog("settings")}
          data-testid="settings-button"
          aria-keyshortcuts="Control+Comma"
        >
          <SettingsIcon label="Settings" />
        </button>
      </header>
      {connection === "offline" ? (
        <p className="banner banner--offline" role="status">
          Offline — messages will be sent when you're back online
        </p>
      ) : connection === "certificate_changed" ? (
        <div className="banner banner--offline" role="alert" data-testid="certificate-changed">
          <p>
            The server shows a different certificate from the one you trusted, so Sotto stopped connecting. Your
            messages wait here.
          </p>
          <button
            type="button"
            className="link-button"
            onClick={() => setReviewing(true)}
            data-testid="review-certificate"
          >
            Compare fingerprints…
          </button>
        </div>
      ) : null}
      {reviewing ? <CertificateReview onClose={() => setReviewing(false)} /> : null}
    </>
  );
}
