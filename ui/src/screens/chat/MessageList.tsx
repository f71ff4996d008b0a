//! The message list: a reverse-scrolling GroupedVirtuoso (one sticky group per day). It starts
//! at the bottom (or centred on a search hit), loads older pages at the top, newer pages at the
//! bottom after a jump, and follows new messages while at the bottom.
//!
//! Prepending keeps the view still because `firstItemIndex` drops by exactly the number of
//! messages added above the anchor (the first message this list was mounted with).
//!
//! A conversation opened with unread messages shows "New messages" above the first of them
//! (`UiStore.unreadMark`, placed once and kept while it stays open) and starts there, not at the
//! bottom, when they don't all fit (`initialTopMostItemIndex` at the line: Virtuoso stops at the
//! bottom when what follows it is shorter than the view).
//!
//! Virtuoso lays a list that starts at its last item out hidden until it has scrolled there
//! (four frames, the scroll, then measurements: a few hundred ms in software rendering). Meanwhile
//! the newest messages are drawn at once, bottom-aligned, in a plain column over it
//! (`FirstView`), which goes once the list is visible. Virtuoso itself mounts only after that
//! first frame is painted (at once for a search jump, which has no first view): its first
//! render and the layout of its hidden rows would otherwise delay the first frame.

import { Fragment, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { GroupedVirtuoso, type Components, type GroupedVirtuosoHandle } from "react-virtuoso";
import { useStore } from "../../lib/store";
import { firstUnread, layoutMessages, rowsToFill, type MessageRow } from "../../lib/messageRows";
import { afterNextPaint } from "../../lib/frames";
import { dayKey, formatDay, useClock } from "../../lib/time";
import type { CommandError, Conversation, ConversationId } from "../../lib/types";
import { PAGE_SIZE, type MessageWindow } from "../../state/messageStore";
import type { Session } from "../../state/session";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { LockIcon } from "../../components/icons";
import { MessageItem } from "./MessageItem";
import { PIN_THRESHOLD_PX, prefersReducedMotion, useListScrolling } from "./useListScrolling";
import { useMessageFocus } from "./useMessageFocus";

/** Large enough that the index stays positive however far back the person scrolls. */
const BASE_INDEX = 1_000_000_000;

interface MessageListProps {
  conversation: Conversation;
  /** Drawn hidden to warm the first open up: the first view only, never the list. */
  warmup?: boolean;
}

export function MessageList({ conversation, warmup = false }: MessageListProps) {
  const session = useSession();
  const clock = useClock();
  const id = conversation.id;
  const win = useStore(session.messages, (s) => s[id]);
  const messages = win?.messages;
  const layout = useMemo(() => layoutMessages(messages ?? []), [messages]);
  const anchor = useRef<number | null>(null);

  let anchorIndex = anchor.current === null ? -1 : layout.rows.findIndex((r) => r.message.id === anchor.current);
  if (anchorIndex < 0) {
    anchor.current = layout.rows[0]?.message.id ?? null;
    anchorIndex = 0;
  }
  const firstItemIndex = BASE_INDEX - anchorIndex;

  const { followOutput, onScrollerRef, onHeightChanged, scroller } = useListScrolling(layout.rows, win);
  const shown = useListShown(scroller);
  const { regionProps } = useMessageFocus(scroller);
  const virtuoso = useRef<GroupedVirtuosoHandle>(null);
  useReveal(win?.reveal ?? null, layout.rows, virtuoso, scroller);
  const [viewRem] = useState(windowHeightRem);
  const highlightId = win?.highlightId ?? null;
  const listMounted = useMountedAfterPaint(highlightId !== null) && !warmup;
  const unreadId = useUnreadLine(session, id, win, warmup);
  const unreadIndex = unreadId === null ? -1 : layout.rows.findIndex((r) => r.message.id === unreadId);
  useShowUnreadLine(listMounted ? unreadIndex : -1, highlightId !== null, virtuoso, scroller);

  const startReached = useCallback(() => void session.messages.loadOlder(id), [session, id]);
  const endReached = useCallback(() => void session.messages.loadNewer(id), [session, id]);

  if (!win || (win.messages.length === 0 && win.loading === "initial")) {
    return (
      <div className="message-list message-list--placeholder" aria-busy="true">
        <p className="muted">Loading messages…</p>
      </div>
    );
  }
  if (win.messages.length === 0) {
    return (
      <div className="message-list message-list--placeholder">
        {win.error ? (
          <div className="conversation-start">
            <ErrorNote error={win.error} />
            <button type="button" className="button button--small" onClick={() => void session.messages.ensureLoaded(id)}>
              Try again
            </button>
          </div>
        ) : (
          <div className="conversation-start">
            <LockIcon />
            <p>No messages yet.</p>
            <p className="muted small">Messages here are end-to-end encrypted: only the people in this conversation can read them.</p>
          </div>
        )}
      </div>
    );
  }

  const isGroup = conversation.kind === "group";
  const highlightIndex = win.highlightId === null ? -1 : layout.rows.findIndex((r) => r.message.id === win.highlightId);
  const now = clock.now();
  const firstStart = shown ? 0 : rowsToFill(layout.rows, viewRem);
  // The first view starts at the unread line when the rows after it fill the window.
  const firstViewStart = unreadIndex >= 0 && unreadIndex < firstStart ? unreadIndex : firstStart;
  const edgeContext: EdgeContext = { loading: win.loading, hasOlder: win.hasOlder, error: win.error, retry: startReached };

  return (
    <div
      className="message-list"
      role="region"
      aria-label={`Messages with ${conversation.title}`}
      aria-describedby={listMounted ? `message-keys-${id}` : undefined}
      {...(listMounted ? regionProps : {})}
    >
      {listMounted ? (
        <p id={`message-keys-${id}`} className="visually-hidden">
          Up and Down move between messages. Tab reaches a message's actions; the menu key or Shift+F10 opens
          them all. Escape goes back to the message field.
        </p>
      ) : null}
      {listMounted ? (
        <GroupedVirtuoso<MessageRow, EdgeContext>
          ref={virtuoso}
          className="message-list__scroller"
          groupCounts={layout.days.map((d) => d.count)}
          firstItemIndex={firstItemIndex}
          initialTopMostItemIndex={
            highlightIndex >= 0
              ? { index: highlightIndex, align: "center" }
              : unreadIndex >= 0
                ? { index: unreadIndex, align: "start" }
                : { index: layout.rows.length - 1, align: "end" }
          }
          followOutput={followOutput}
          atBottomThreshold={PIN_THRESHOLD_PX}
          scrollerRef={onScrollerRef}
          totalListHeightChanged={onHeightChanged}
          startReached={win.hasOlder ? startReached : undefined}
          endReached={win.hasNewer ? endReached : undefined}
          increaseViewportBy={{ top: 400, bottom: 200 }}
          // Measure rows in the ResizeObserver callback itself rather than a frame later: each
          // step of settling the first view at the bottom would otherwise wait for a frame.
          skipAnimationFrameInResizeObserver
          groupContent={(groupIndex) => {
            const day = layout.days[groupIndex];
            return day ? (
              <div className="day-separator" data-testid="day-separator">
                <span>{formatDay(day.ts, now, clock.locale)}</span>
              </div>
            ) : null;
          }}
          // Grouped mode hands `data` out by flat position (day headers included), so rows are
          // looked up by the item index instead; it is absolute (offset by firstItemIndex).
          itemContent={(index) => {
            const row = layout.rows[index - firstItemIndex];
            return row ? (
              <>
                {row.message.id === unreadId ? <UnreadLine /> : null}
                <MessageItem row={row} showSender={isGroup} highlighted={row.message.id === win.highlightId} />
              </>
            ) : null;
          }}
          context={edgeContext}
          components={EDGES}
        />
      ) : null}
      {!shown && highlightIndex < 0 ? (
        <FirstView
          rows={layout.rows.slice(firstViewStart, firstViewStart + (layout.rows.length - firstStart))}
          showSender={isGroup}
          edge={firstViewStart === 0 ? <TopEdge context={edgeContext} /> : null}
          day={(ts) => formatDay(ts, now, clock.locale)}
          unreadId={unreadId}
        />
      ) : null}
    </div>
  );
}

/** "New messages": a quiet line above the first message that was unread when the conversation
 * was opened. */
function UnreadLine() {
  return (
    <div className="unread-line" role="separator" aria-label="New messages" data-testid="unread-line">
      <span aria-hidden="true">New messages</span>
    </div>
  );
}

/** The most unread messages the line is looked for among (four pages): a conversation with more
 * opens at its newest, as without the line, rather than loading page after page. */
export const UNREAD_LINE_MAX = 4 * PAGE_SIZE;

/**
 * The first message that was unread when this conversation was opened (`UiStore.unreadMark`),
 * found once in the window (older pages are loaded until it is there) and then kept, so the
 * line does not move as messages arrive or are read. Null: no line.
 */
function useUnreadLine(session: Session, id: ConversationId, win: MessageWindow | undefined, warmup: boolean): number | null {
  const mark = useStore(session.ui, (s) => (s.unreadMark?.conversationId === id ? s.unreadMark : null));
  // Counted from the newest message, so only in a window that ends there.
  const found =
    warmup ||
    !mark ||
    mark.messageId !== null ||
    mark.count > UNREAD_LINE_MAX ||
    !win ||
    win.loading === "initial" ||
    win.hasNewer
      ? null
      : firstUnread(win.messages, mark.count, win.hasOlder && win.error === null);
  useEffect(() => {
    if (found === "older") void session.messages.loadOlder(id);
    else if (found !== null) session.ui.placeUnread(id, found);
  }, [session, id, found]);
  return mark?.messageId ?? (typeof found === "number" ? found : null);
}

/**
 * Scrolls to the unread line when it was found after the list started (older pages had to be
 * loaded); a line known from the start is where the list starts. Aligned to the top, so a line
 * whose messages fit in the view (at the bottom, where the list started) stays where it is.
 */
function useShowUnreadLine(
  index: number,
  jumped: boolean,
  virtuoso: React.RefObject<GroupedVirtuosoHandle | null>,
  scroller: HTMLElement | null,
) {
  const atMount = useRef<number | null>(null);
  const done = useRef(false);
  useEffect(() => {
    if (!scroller || done.current) return;
    if (atMount.current === null) atMount.current = index;
    if (index < 0 || jumped) return;
    done.current = true;
    if (atMount.current < 0) virtuoso.current?.scrollToIndex({ index, align: "start" });
  }, [index, jumped, virtuoso, scroller]);
}

/** How long a revealed message may take to be drawn before it is given focus. */
const REVEAL_FOCUS_MS = 1500;

/**
 * A message a quote asked to be shown (`MessageWindow.reveal`): scrolled to when it was in the
 * window already (a replaced window starts at it), then given the keyboard's focus once drawn.
 */
function useReveal(
  reveal: MessageWindow["reveal"],
  rows: readonly MessageRow[],
  virtuoso: React.RefObject<GroupedVirtuosoHandle | null>,
  scroller: HTMLElement | null,
) {
  const handled = useRef(0);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  useEffect(() => {
    if (!reveal || reveal.seq === handled.current || !scroller) return;
    handled.current = reveal.seq;
    if (reveal.scroll) {
      const index = rowsRef.current.findIndex((r) => r.message.id === reveal.id);
      if (index >= 0) {
        virtuoso.current?.scrollToIndex({ index, align: "center", behavior: prefersReducedMotion() ? "auto" : "smooth" });
      }
    }
    const until = performance.now() + REVEAL_FOCUS_MS;
    let frame = 0;
    const focus = () => {
      const row = scroller.querySelector<HTMLElement>(`[data-testid="message"][data-message-id="${reveal.id}"]`);
      if (row) row.focus({ preventScroll: true });
      else if (performance.now() < until) frame = requestAnimationFrame(focus);
    };
    frame = requestAnimationFrame(focus);
    return () => cancelAnimationFrame(frame);
  }, [reveal, scroller, virtuoso]);
}

/** The window's height in rem: more than the first view shows (the header and composer take
 * some), so the rows drawn for it always reach its top. */
function windowHeightRem(): number {
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  return window.innerHeight / rem;
}

interface FirstViewProps {
  rows: MessageRow[];
  showSender: boolean;
  /** What the list shows above its first message, when `rows` start there. */
  edge: React.ReactNode;
  day: (ts: number) => string;
  /** The first unread message, which the line goes above. */
  unreadId: number | null;
}

/** The newest rows, scrolled to the bottom before the first paint, while Virtuoso settles
 * its list (see the top): what the list will show, laid out the same way (from the unread line
 * when it would be above the view). */
function FirstView({ rows, showSender, edge, day, unreadId }: FirstViewProps) {
  const el = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const view = el.current;
    if (!view) return;
    view.scrollTop = view.scrollHeight;
    const line = view.querySelector('[data-testid="unread-line"]');
    const above = line ? line.getBoundingClientRect().top - view.getBoundingClientRect().top : 0;
    if (above < 0) view.scrollTop += above;
  }, []);
  return (
    <div className="message-list__first" aria-hidden="true" inert ref={el}>
      {edge}
      {rows.map((row, i) => {
        const key = dayKey(row.message.ts);
        const prev = rows[i - 1];
        return (
          <Fragment key={row.message.id}>
            {prev === undefined || dayKey(prev.message.ts) !== key ? (
              <div className="day-separator">
                <span>{day(row.message.ts)}</span>
              </div>
            ) : null}
            {row.message.id === unreadId ? <UnreadLine /> : null}
            <MessageItem row={row} showSender={showSender} highlighted={false} />
          </Fragment>
        );
      })}
    </div>
  );
}

/** Whether to mount the list: at once when `now`, otherwise after the first frame is painted. */
function useMountedAfterPaint(now: boolean): boolean {
  const [mounted, setMounted] = useState(now);
  useLayoutEffect(() => {
    if (mounted) return;
    if (now) {
      setMounted(true);
      return;
    }
    return afterNextPaint(() => setMounted(true));
  }, [mounted, now]);
  return mounted;
}

/** Whether Virtuoso shows its list yet (it stays hidden until at its initial item): checked
 * before the first paint, then once a frame. */
function useListShown(scroller: HTMLElement | null): boolean {
  const [shown, setShown] = useState(false);
  useLayoutEffect(() => {
    if (!scroller || shown) return;
    let frame = 0;
    const check = () => {
      const list = scroller.querySelector('[data-testid="virtuoso-item-list"]');
      if (list && getComputedStyle(list).visibility !== "hidden") setShown(true);
      else frame = requestAnimationFrame(check);
    };
    check();
    return () => cancelAnimationFrame(frame);
  }, [scroller, shown]);
  return shown;
}

interface EdgeContext {
  loading: MessageWindow["loading"];
  hasOlder: boolean;
  error: CommandError | null;
  retry: () => void;
}

/** Above the first message: loading, or the start of the conversation. */
function TopEdge({ context }: { context: EdgeContext }) {
  if (context.loading === "older") {
    return (
      <p className="list-edge muted small" role="status">
        Loading earlier messages…
      </p>
    );
  }
  if (context.error) {
    return (
      <div className="list-edge">
        <ErrorNote error={context.error} />
        <button type="button" className="link-button small" onClick={context.retry}>
          Try again
        </button>
      </div>
    );
  }
  if (!context.hasOlder) {
    return (
      <p className="list-edge list-edge--start muted small">
        <LockIcon /> Messages here are end-to-end encrypted.
      </p>
    );
  }
  return <div className="list-edge" />;
}

function BottomEdge({ context }: { context: EdgeContext }) {
  return context.loading === "newer" ? (
    <p className="list-edge muted small" role="status">
      Loading newer messages…
    </p>
  ) : null;
}

/** Stable across renders: Virtuoso remounts components whose identity changes. */
const EDGES: Components<MessageRow, EdgeContext> = { Header: TopEdge, Footer: BottomEdge };
