//! Shown in a direct chat when the contact's keys changed in a way that asks something of the
//! person: a new safety number (compare it again), or a device the contact hasn't confirmed
//! (it gets nothing, but someone may be trying to read along). Changes the contact made
//! themselves (a new confirmed device, one signed out) only leave a line in the conversation.
//! While sending to the contact is held, `HeldNotice` says it all instead.

import { keyNoticeKind, safetyNumberReason } from "../../lib/keyChanges";
import { useStore } from "../../lib/store";
import { useSession } from "../../state/context";
import { ShieldIcon } from "../../components/icons";

export function KeyChangeNotice({ userId }: { userId: string }) {
  const session = useSession();
  const notice = useStore(session.conversations, (s) => s.keyNotices[userId]);
  const held = useStore(session.conversations, (s) => s.held[userId] === true);
  const kind = notice ? keyNoticeKind(notice.change) : null;
  if (!notice || !kind || held) return null;

  const openDetails = () => {
    session.conversations.dismissKeyNotice(userId);
    session.ui.setDetailsOpen(true);
  };
  const dismiss = () => session.conversations.dismissKeyNotice(userId);

  return (
    <div className="notice notice--warning key-notice" role="status" data-testid="key-change-notice" data-kind={kind}>
      <ShieldIcon className="notice__icon" />
      {kind === "safety_number" ? (
        <div className="notice__text">
          <p>This person's safety number changed. Compare it again to be sure it's really them.</p>
          {notice.wasVerified ? (
            <p className="small" data-testid="key-notice-was-verified">
              You had verified them, so this matters: don't share anything sensitive until you have compared again.
            </p>
          ) : null}
          <p className="muted small">{safetyNumberReason(notice.change)}</p>
        </div>
      ) : (
        <div className="notice__text">
          <p>{userId} has a device they haven't confirmed.</p>
          <p className="muted small">
            It gets none of your messages unless {userId} confirms it. If they didn't just sign in somewhere new,
            someone may be trying to read along: ask them.
          </p>
        </div>
      )}
      <div className="notice__actions">
        <button type="button" className="button button--small" onClick={openDetails}>
          {kind === "safety_number" ? "Compare safety numbers" : "Show their devices"}
        </button>
        <button type="button" className="link-button" onClick={dismiss}>
          Dismiss
        </button>
      </div>
    </div>
  );
}
