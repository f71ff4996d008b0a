//! Conversation header: back (narrow windows), avatar, title, the encryption mark (and
//! "Verified" for a contact whose safety number the person compared), member count for groups,
//! and the details toggle.

import { useEffect } from "react";
import * as ipc from "../../lib/tauri";
import { useStore } from "../../lib/store";
import type { Conversation } from "../../lib/types";
import { useSession } from "../../state/context";
import { Avatar } from "../../components/Avatar";
import { BackIcon, InfoIcon, LockIcon, VerifiedIcon } from "../../components/icons";

export function ChatHeader({ conversation: c }: { conversation: Conversation }) {
  const session = useSession();
  const group = useStore(session.groups, (s) => (c.kind === "group" ? s[c.peer] : undefined));
  const detailsOpen = useStore(session.ui, (s) => s.detailsOpen);
  const members = group?.members.length;
  const direct = c.kind === "direct";
  const verified = useStore(session.conversations, (s) => (direct ? s.verified[c.peer] === true : false));
  const keyChanges = useStore(session.conversations, (s) => s.keyChanges[c.peer] ?? 0);

  // Whether the contact is verified with the keys this device holds (local, no network).
  useEffect(() => {
    if (!direct) return;
    let live = true;
    ipc
      .contactVerified(c.peer)
      .then((v) => live && session.conversations.setVerified(c.peer, v))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [direct, c.peer, keyChanges, session]);

  return (
    <header className="chat-header">
      <button type="button" className="icon-button chat-header__back" onClick={() => session.closeConversation()}>
        <BackIcon label="Back to conversations" />
      </button>
      <Avatar id={c.peer} name={c.title} group={c.kind === "group"} size="small" />
      <div className="chat-header__text">
        <h2 className="chat-header__title" data-testid="chat-title">
          {c.title}
        </h2>
        <p className="chat-header__sub">
          <LockIcon className="chat-header__lock" />
          <span>End-to-end encrypted</span>
          {verified ? (
            <span className="chat-header__verified" data-testid="verified-mark">
              {" · "}
              <VerifiedIcon className="chat-header__verified-icon" />
              Verified
            </span>
          ) : null}
          {c.kind === "group" && members !== undefined ? (
            <span> · {members === 1 ? "1 member" : `${members} members`}</span>
          ) : null}
        </p>
      </div>
      <button
        type="button"
        className="icon-button"
        aria-expanded={detailsOpen}
        aria-controls="details-panel"
        onClick={() => session.ui.setDetailsOpen(!detailsOpen)}
        data-testid="details-button"
      >
        <InfoIcon label={c.kind === "group" ? "Group details" : "Contact details and safety number"} />
      </button>
    </header>
  );
}
