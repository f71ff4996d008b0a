//! Shown in a direct chat when the contact's keys changed: ask to compare the safety number.

import { useStore } from "../../lib/store";
import { useSession } from "../../state/context";
import { ShieldIcon } from "../../components/icons";

const CHANGE_TEXT = {
  identity_changed: "They may have reinstalled Sotto or got a new computer — or someone may be pretending to be them.",
  new_device: "They signed in on a new device.",
  device_removed: "One of their devices was signed out.",
} as const;

export function KeyChangeNotice({ userId }: { userId: string }) {
  const session = useSession();
  const notice = useStore(session.conversations, (s) => s.keyNotices[userId]);
  if (!notice) return null;

  const compare = () => {
    session.conversations.dismissKeyNotice(userId);
    session.ui.setDetailsOpen(true);
  };

  return (
    <div className="notice notice--warning key-notice" role="status" data-testid="key-change-notice">
      <ShieldIcon className="notice__icon" />
      <div className="notice__text">
        <p>This person's safety number changed. Compare it again to be sure it's really them.</p>
        {notice.wasVerified ? (
          <p className="small" data-testid="key-notice-was-verified">
            You had verified them, so this matters: don't share anything sensitive until you have compared again.
          </p>
        ) : null}
        <p className="muted small">{CHANGE_TEXT[notice.change]}</p>
      </div>
      <div className="notice__actions">
        <button type="button" className="button button--small" onClick={compare}>
          Compare safety numbers
        </button>
        <button type="button" className="link-button" onClick={() => session.conversations.dismissKeyNotice(userId)}>
          Dismiss
        </button>
      </div>
    </div>
  );
}
