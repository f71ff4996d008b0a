//! One row of the list: avatar, title, time, one-line preview (or "Draft: …"), unread badge
//! (bold when unread, or marked unread), quiet marks for pinned and muted, and a "…" button
//! (shown on hover or focus) for the conversation's menu, which a right click or the menu key
//! (Shift+F10) on the row opens too.

import { memo } from "react";
import type { PopoverAnchor } from "../../components/Popover";
import { ConversationAvatar } from "../../components/PersonAvatar";
import { MoreIcon, MutedIcon, PinIcon } from "../../components/icons";
import { formatFull, formatListTime, useClock } from "../../lib/time";
import type { Conversation, ConversationId } from "../../lib/types";
import { useConversationTitle } from "../../state/people";

interface ConversationRowProps {
  conversation: Conversation;
  selected: boolean;
  onOpen: (id: ConversationId) => void;
  /** Opens the conversation's menu at `anchor`; focus goes back to `returnFocus` after. */
  onMenu: (id: ConversationId, anchor: PopoverAnchor, returnFocus: HTMLElement | null) => void;
}

/** Whether notifications are off for the conversation at `now`. */
export function isMuted(c: Conversation, now: number): boolean {
  return c.muted_until !== null && c.muted_until > now;
}

/** Drawn again only when its conversation, its selection or the clock changes: opening a
 * conversation redraws two rows, not the whole list. */
export const ConversationRow = memo(ConversationRowView);

function ConversationRowView({ conversation: c, selected, onOpen, onMenu }: ConversationRowProps) {
  const clock = useClock();
  const unread = c.unread > 0;
  const group = c.kind === "group";
  const muted = isMuted(c, clock.now());
  const draft = c.draft.trim() !== "" ? c.draft : "";
  const title = useConversationTitle(c);
  return (
    <div className="conversation-item">
      <button
        type="button"
        className="conversation-row"
        aria-current={selected ? "true" : undefined}
        data-unread={c.unread}
        data-marked-unread={c.marked_unread ? "true" : undefined}
        data-pinned={c.pinned ? "true" : undefined}
        data-muted={muted ? "true" : undefined}
        data-conversation-id={c.id}
        data-testid="conversation-row"
        onClick={() => onOpen(c.id)}
        onContextMenu={(e) => {
          e.preventDefault();
          onMenu(c.id, { x: e.clientX, y: e.clientY }, e.currentTarget);
        }}
        onKeyDown={(e) => {
          if (e.key === "ContextMenu" || (e.key === "F10" && e.shiftKey)) {
            e.preventDefault();
            onMenu(c.id, e.currentTarget, e.currentTarget);
          }
        }}
      >
        <ConversationAvatar conversation={c} />
        <span className="conversation-row__text">
          <span className="conversation-row__top">
            <span className="conversation-row__title" data-testid="conversation-title">
              {title}
              {group ? <span className="visually-hidden"> (group)</span> : null}
            </span>
            {c.pinned ? <PinIcon className="conversation-row__mark" label="Pinned" /> : null}
            {muted ? <MutedIcon className="conversation-row__mark" label="Muted" /> : null}
            {c.last_ts > 0 ? (
              <time className="conversation-row__time" dateTime={new Date(c.last_ts).toISOString()} title={formatFull(c.last_ts, clock.locale)}>
                {formatListTime(c.last_ts, clock.now(), clock.locale)}
              </time>
            ) : null}
          </span>
          <span className="conversation-row__bottom">
            {draft ? (
              <span className="conversation-row__preview" data-testid="draft-preview">
                <span className="conversation-row__draft">Draft:</span> {draft}
              </span>
            ) : (
              <span className="conversation-row__preview">{c.last_preview || (group ? "No messages yet" : "Say hello")}</span>
            )}
            {unread ? (
              <span className="badge" data-testid="unread-badge">
                {c.unread > 99 ? "99+" : c.unread}
                <span className="visually-hidden"> unread</span>
              </span>
            ) : c.marked_unread ? (
              <span className="badge badge--dot" data-testid="marked-unread">
                <span className="visually-hidden">Marked unread</span>
              </span>
            ) : null}
          </span>
        </span>
      </button>
      <button
        type="button"
        className="icon-button conversation-item__more"
        aria-haspopup="menu"
        onClick={(e) => onMenu(c.id, e.currentTarget, e.currentTarget)}
        data-testid="conversation-more"
      >
        <MoreIcon label={`More for ${title}`} />
      </button>
    </div>
  );
}
