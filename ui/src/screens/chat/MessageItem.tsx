//! One message: a system line (centred, muted), or a bubble — mine on the right in the accent
//! colour with a delivery icon, theirs on the left; undecryptable ones muted with the reason,
//! a file or an image (`FileMessage.tsx`), a reply with its quote on top, a deleted one as a
//! muted tombstone; its reactions under it, and a small warning under one sent from a device its
//! user has not confirmed. Each row takes the keyboard's focus (the list moves it with the arrow
//! keys); over a bubble or with focus in it, its actions show beside it (`MessageActions.tsx`).

import { memo, useEffect, useLayoutEffect, useRef, useState } from "react";
import {
  describeError,
  isErrorCode,
  describeSendFailure,
  describeUndecryptable,
  asCommandError,
  undecryptableText,
} from "../../lib/errors";
import { isWarningLine } from "../../lib/groupWarnings";
import { systemLineText } from "../../lib/keyChanges";
import type { MessageRow } from "../../lib/messageRows";
import { formatFull, useClock } from "../../lib/time";
import type { Message } from "../../lib/types";
import { useSession } from "../../state/context";
import { useDisplayName } from "../../state/people";
import { AlertIcon, ClockIcon } from "../../components/icons";
import { BubbleMeta } from "./BubbleMeta";
import { FileBubble } from "./FileMessage";
import { ActionBar, useMessageActions } from "./MessageActions";
import { QuoteBlock } from "./QuoteBlock";
import { Reactions } from "./Reactions";

interface MessageItemProps {
  row: MessageRow;
  /** Groups show the sender's name at the start of each run. */
  showSender: boolean;
  highlighted: boolean;
}

/**
 * Drawn again only when its own message or its place in a run changes. The rows are laid out
 * afresh (equal, not the same objects) whenever any message in the window changes, and the
 * list renders again when the conversation's unread count or preview does.
 */
export const MessageItem = memo(
  MessageItemView,
  (a, b) =>
    a.row.message === b.row.message &&
    a.row.firstInRun === b.row.firstInRun &&
    a.row.lastInRun === b.row.lastInRun &&
    a.showSender === b.showSender &&
    a.highlighted === b.highlighted,
);

function MessageItemView({ row, showSender, highlighted }: MessageItemProps) {
  const m = row.message;
  const common = {
    "data-testid": "message",
    "data-message-id": m.id,
    "data-status": m.status,
    "data-kind": m.kind,
    "data-outgoing": m.outgoing ? "true" : "false",
    "data-highlighted": highlighted ? "true" : undefined,
  };

  if (m.kind === "system") {
    const warning = isWarningLine(m.reason);
    return (
      <div className="message message--system" {...common} tabIndex={-1}>
        <p
          className={warning ? "system-line system-line--warning" : "system-line"}
          data-testid="system-line"
          role={warning ? "note" : undefined}
        >
          {warning ? <AlertIcon className="system-line__icon" /> : null}
          <span data-testid="message-body">{systemLineText(m)}</span>
        </p>
      </div>
    );
  }

  return <BubbleItem row={row} showSender={showSender} common={common} />;
}

interface BubbleItemProps {
  row: MessageRow;
  showSender: boolean;
  common: Record<string, string | number | undefined>;
}

function BubbleItem({ row, showSender, common }: BubbleItemProps) {
  const m = row.message;
  const sender = useDisplayName(m.sender_user);
  const root = useRef<HTMLDivElement>(null);
  const bubble = useRef<HTMLDivElement>(null);
  const actions = useMessageActions(m);
  const hovered = useHovered(root);
  const [focused, setFocused] = useState(false);
  const showBar = actions.any && (hovered || focused || actions.panel !== null);

  // A control in the message that had focus went away (a chip whose reaction was taken back, a
  // popover's button after it closed): the message itself takes the focus, not the page.
  useLayoutEffect(() => {
    if (!focused) return;
    const active = document.activeElement;
    if (active === null || active === document.body || !active.isConnected) root.current?.focus({ preventScroll: true });
  });

  const classes = [
    "message",
    m.outgoing ? "message--out" : "message--in",
    row.firstInRun ? "message--first" : "",
    row.lastInRun ? "message--last" : "",
  ]
    .filter(Boolean)
    .join(" ");

  const onKeyDown = (e: React.KeyboardEvent<HTMLDivElement>) => {
    // Only keys pressed on the row itself: the bar's buttons and the popovers (whose events pass
    // through here, React portals bubble to their owner) have their own.
    if (e.target !== e.currentTarget || !actions.any) return;
    if (e.key === "ContextMenu" || (e.key === "F10" && e.shiftKey)) {
      e.preventDefault();
      if (bubble.current) actions.open("menu", bubble.current, root.current);
    }
  };

  const onContextMenu = (e: React.MouseEvent) => {
    if (!actions.any) return;
    // A selection in the message keeps the system's menu (to copy just that part).
    const selection = window.getSelection();
    if (selection && !selection.isCollapsed && root.current?.contains(selection.anchorNode)) return;
    e.preventDefault();
    actions.open("menu", { x: e.clientX, y: e.clientY });
  };

  return (
    <div
      ref={root}
      className={classes}
      {...common}
      data-deleted={m.deleted ? "true" : undefined}
      tabIndex={-1}
      aria-label={`From ${m.outgoing ? "you" : sender}`}
      role="article"
      onKeyDown={onKeyDown}
      onFocus={() => setFocused(true)}
      onBlur={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setFocused(false);
      }}
    >
      {showSender && !m.outgoing && row.firstInRun ? <p className="message__sender" data-testid="message-sender" title={sender === m.sender_user ? undefined : m.sender_user}>
          {sender}
        </p> : null}
      <div className="message__main" ref={bubble} onContextMenu={onContextMenu}>
        {m.deleted ? (
          <DeletedBubble message={m} />
        ) : m.kind === "undecryptable" ? (
          <UndecryptableBubble message={m} />
        ) : m.kind === "file" && m.file ? (
          <FileBubble message={m} file={m.file} />
        ) : (
          <TextBubble message={m} />
        )}
        {showBar ? <ActionBar message={m} actions={actions} /> : null}
      </div>
      {m.deleted ? null : <Reactions message={m} onToggle={actions.react} />}
      {actions.error ? (
        <p className="message__action-error" role="alert" data-testid="action-error">
          {actions.error}{" "}
          <button type="button" className="link-button" onClick={actions.clearError}>
            Dismiss
          </button>
        </p>
      ) : null}
      {m.reason === "not_a_member" && !m.outgoing ? (
        <p className="message__warning" data-testid="not-a-member">
          <AlertIcon className="message__warning-icon" />
          Sent by {sender}, who is not a member of this group as its members' own changes have it
        </p>
      ) : null}
      {m.reason === "unconfirmed_device" && !m.outgoing ? (
        <p className="message__warning" data-testid="unconfirmed-sender">
          <AlertIcon className="message__warning-icon" />
          Sent from a device {sender} has not confirmed
        </p>
      ) : null}
      {m.kind === "text" && !m.outgoing && clockIsOff(m) ? <ClockOff message={m} /> : null}
      {m.status === "failed" ? <FailedSend message={m} /> : null}
      {actions.overlays(() => root.current?.focus({ preventScroll: true }))}
    </div>
  );
}

/**
 * Whether the pointer is over the element. From the DOM's own enter and leave events: React's
 * are worked out from the element tree, where the popovers a message opens (in portals) count as
 * inside it. While over it, the next element the pointer goes over is checked too: a leave is not
 * reported when the element under the pointer was removed meanwhile (a reaction taken back).
 */
function useHovered(ref: React.RefObject<HTMLElement | null>): boolean {
  const [hovered, setHovered] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const enter = () => setHovered(true);
    const leave = () => setHovered(false);
    el.addEventListener("mouseenter", enter);
    el.addEventListener("mouseleave", leave);
    return () => {
      el.removeEventListener("mouseenter", enter);
      el.removeEventListener("mouseleave", leave);
    };
  }, [ref]);
  useEffect(() => {
    if (!hovered) return;
    const over = (e: MouseEvent) => {
      if (!ref.current?.contains(e.target as Node | null)) setHovered(false);
    };
    document.addEventListener("mouseover", over, true);
    return () => document.removeEventListener("mouseover", over, true);
  }, [hovered, ref]);
  return hovered;
}

/** How far the sender's time may be from the server's before it is pointed out. */
const CLOCK_SKEW_MS = 10 * 60 * 1000;

/**
 * The shown time is the sender's (from inside the message: the server cannot change it); the
 * server's time orders the conversation. Far apart, the sender's clock (or the server's) is off.
 */
export function clockIsOff(m: Message): boolean {
  return m.server_ts !== null && Math.abs(m.ts - m.server_ts) > CLOCK_SKEW_MS;
}

function ClockOff({ message: m }: { message: Message }) {
  const clock = useClock();
  const sender = useDisplayName(m.sender_user);
  const received = m.server_ts ?? m.ts;
  return (
    <p className="message__note muted small" data-testid="clock-off">
      <ClockIcon className="message__warning-icon" />
      Written at {formatFull(m.ts, clock.locale)} by {sender}'s clock; the server received it at{" "}
      {formatFull(received, clock.locale)}.
    </p>
  );
}

function TextBubble({ message: m }: { message: Message }) {
  return (
    <div className={m.reply_to ? "bubble bubble--reply" : "bubble"}>
      {m.reply_to ? <QuoteBlock reply={m} quote={m.reply_to} /> : null}
      <p className="bubble__body" data-testid="message-body">
        {m.body}
      </p>
      <BubbleMeta message={m} />
    </div>
  );
}

/** What is left of a message its sender deleted for everyone. */
function DeletedBubble({ message: m }: { message: Message }) {
  return (
    <div className="bubble bubble--deleted">
      <p className="bubble__body" data-testid="message-body">
        This message was deleted
      </p>
      <BubbleMeta message={m} />
    </div>
  );
}

function UndecryptableBubble({ message: m }: { message: Message }) {
  const why = describeUndecryptable(m.reason);
  return (
    <div className="bubble bubble--undecryptable" title={why}>
      <p className="bubble__body" data-testid="message-body">
        {undecryptableText(m.reason)}
        <span className="visually-hidden">. {why}</span>
      </p>
      <BubbleMeta message={m} />
    </div>
  );
}

function FailedSend({ message: m }: { message: Message }) {
  const session = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const retry = async () => {
    setBusy(true);
    setError(null);
    try {
      await session.retry(m.id);
    } catch (e) {
      setError(describeError(asCommandError(e)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="message__failure">
      <span title={m.reason && isErrorCode(m.reason) ? describeError({ code: m.reason, message: "" }) : undefined}>
        {describeSendFailure(m.reason)}
      </span>{" "}
      <button type="button" className="link-button" onClick={() => void retry()} disabled={busy} data-testid="message-retry">
        {busy ? "Retrying…" : m.kind === "file" ? "Try again" : "Retry"}
      </button>
      {error ? <span className="message__failure-detail"> {error}</span> : null}
    </div>
  );
}
