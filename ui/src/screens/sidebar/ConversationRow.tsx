//! One row of the list: avatar, title, time, one-line preview, unread badge (bold when unread).

import { memo } from "react";
import { Avatar } from "../../components/Avatar";
import { formatFull, formatListTime, useClock } from "../../lib/time";
import type { Conversation, ConversationId } from "../../lib/types";

interface ConversationRowProps {
  conversation: Conversation;
  selected: boolean;
  onOpen: (id: ConversationId) => void;
}

/** Drawn again only when its conversation, its selection or the clock changes: opening a
 * conversation redraws two rows, not the whole list. */
export const ConversationRow = memo(ConversationRowView);

function ConversationRowView({ conversation: c, selected, onOpen }: ConversationRowProps) {
  const clock = useClock();
  const unread = c.unread > 0;
  const group = c.kind === "group";
  return (
    <button
      type="button"
      className="conversation-row"
      aria-current={selected ? "true" : undefined}
      data-unread={c.unread}
      data-conversation-id={c.id}
      data-testid="conversation-row"
      onClick={() => onOpen(c.id)}
    >
      <Avatar id={c.peer} name={c.title} group={group} />
      <span className="conversation-row__text">
        <span className="conversation-row__top">
          <span className="conversation-row__title">
            {c.title}
            {group ? <span className="visually-hidden"> (group)</span> : null}
          </span>
          {c.last_ts > 0 ? (
            <time className="conversation-row__time" dateTime={new Date(c.last_ts).toISOString()} title={formatFull(c.last_ts, clock.locale)}>
              {formatListTime(c.last_ts, clock.now(), clock.locale)}
            </time>
          ) : null}
        </span>
        <span className="conversation-row__bottom">
          <span className="conversation-row__preview">{c.last_preview || (group ? "No messages yet" : "Say hello")}</span>
          {unread ? (
            <span className="badge" data-testid="unread-badge">
              {c.unread > 99 ? "99+" : c.unread}
              <span className="visually-hidden"> unread</span>
            </span>
          ) : null}
        </span>
      </span>
    </button>
  );
}
