//! When the message list scrolls by itself: it follows new messages while at the bottom (and
//! always my own), stays pinned to the bottom when its height changes without new messages
//! (the window or the details panel re-wrapping bubbles), and leaves pages loaded below a
//! search jump for the person to scroll through.

import { useCallback, useEffect, useRef, useState } from "react";
import type { MessageRow } from "../../lib/messageRows";
import type { Message } from "../../lib/types";
import type { MessageWindow } from "../../state/messageStore";

/** How close to the bottom still counts as "at the bottom" for following new messages. */
export const PIN_THRESHOLD_PX = 48;
/** How close to the bottom the view must be to stay pinned there through height changes;
 * small, so a short scroll up by the person is not undone. */
const PINNED_PX = 8;
/** How long after a wheel, touch, pointer or key event a scroll counts as the person's. */
const USER_SCROLL_MS = 1000;

export function prefersReducedMotion(): boolean {
  return typeof window.matchMedia === "function" && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

export function useListScrolling(rows: readonly MessageRow[], win: MessageWindow | undefined) {
  // Follow new messages while at the bottom, and always follow a message I just sent. A prepend
  // also changes the count, so "new" means the last message changed.
  const lastMessage = useRef<Message | undefined>(undefined);
  lastMessage.current = rows[rows.length - 1]?.message;
  const lastAppend = useRef(win?.lastAppend ?? "live");
  lastAppend.current = win?.lastAppend ?? "live";
  const hasNewer = useRef(win?.hasNewer ?? false);
  hasNewer.current = win?.hasNewer ?? false;
  const followedId = useRef<number | undefined>(undefined);
  // The first messages shown are not "new" (this list mounts before they have loaded).
  if (followedId.current === undefined) followedId.current = lastMessage.current?.id;
  const followOutput = useCallback((isAtBottom: boolean) => {
    const last = lastMessage.current;
    const isNew = last !== undefined && last.id !== followedId.current;
    followedId.current = last?.id;
    // A page loaded at the bottom (after a jump) is read by scrolling, not followed.
    if (!isNew || lastAppend.current === "page") return false;
    if (isAtBottom || last.outgoing) return prefersReducedMotion() ? "auto" : "smooth";
    return false;
  }, []);

  // Stay pinned to the bottom when the list's height changes without new messages (the window
  // or the details panel re-wrapping bubbles), if the last scroll left it at the bottom.
  // Judged from scroll events, not Virtuoso's atBottom state, which flips only after the
  // height change it would be reacting to.
  const pinned = useRef(true);
  const [scroller, setScroller] = useState<HTMLElement | null>(null);
  // Also kept in a ref, set at once: the first height changes come before the state settles.
  const scrollerEl = useRef<HTMLElement | null>(null);
  const onScrollerRef = useCallback((el: HTMLElement | Window | null) => {
    scrollerEl.current = el instanceof HTMLElement ? el : null;
    setScroller(scrollerEl.current);
  }, []);
  useEffect(() => {
    if (!scroller) return;
    // Scrolls the person makes, as opposed to Virtuoso's own small corrections after it
    // measures rows (which can leave a pinned list a few pixels short of the bottom).
    let userUntil = 0;
    const markUser = () => {
      userUntil = performance.now() + USER_SCROLL_MS;
    };
    const onScroll = () => {
      const distance = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
      const corrected = pinned.current && !hasNewer.current && performance.now() > userUntil;
      if (corrected && distance > 0 && distance <= PINNED_PX) {
        scroller.scrollTop = scroller.scrollHeight;
        return;
      }
      pinned.current = distance <= PINNED_PX;
    };
    const userEvents = ["wheel", "touchstart", "pointerdown", "keydown"] as const;
    for (const name of userEvents) scroller.addEventListener(name, markUser, { passive: true });
    scroller.addEventListener("scroll", onScroll, { passive: true });
    return () => {
      for (const name of userEvents) scroller.removeEventListener(name, markUser);
      scroller.removeEventListener("scroll", onScroll);
    };
  }, [scroller]);
  const rowCount = useRef(0);
  rowCount.current = rows.length;
  const measuredCount = useRef(0);
  const onHeightChanged = useCallback(() => {
    const grew = rowCount.current !== measuredCount.current;
    measuredCount.current = rowCount.current;
    if (grew) {
      // New rows: followOutput decides. A page appended below is not followed, so the view
      // is no longer at the bottom even though no scroll event said so.
      if (lastAppend.current === "page") pinned.current = false;
      return;
    }
    const el = scrollerEl.current;
    // A window that ends before the newest message (after a jump) pages instead of pinning.
    if (!pinned.current || hasNewer.current || !el) return;
    if (el.scrollHeight - el.scrollTop - el.clientHeight < 1) return;
    // Scrolled directly and at once: Virtuoso's scrollToIndex runs later, and would also
    // carry the view past rows appended meanwhile.
    el.scrollTop = el.scrollHeight;
  }, []);

  return { followOutput, onScrollerRef, onHeightChanged, scroller };
}
