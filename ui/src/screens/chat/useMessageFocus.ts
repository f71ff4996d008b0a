//! The keyboard in the message list. The list is one stop in the Tab order: arriving there puts
//! the focus on the message last focused, or the newest one on screen. From a message, Up and
//! Down go to the one before or after (Home and End to the first and last drawn), Escape goes back
//! to the composer; Tab goes through the message's own controls (its actions) and on.
//!
//! Only the rows Virtuoso has drawn exist, so each move goes by the rows in the page, and a move
//! past the first or last one drawn scrolls the list a little so that Virtuoso draws the next.

import { useCallback, useRef, useState } from "react";
import { useSession } from "../../state/context";

const ROW = '[data-testid="message"]';
/** How far a move past the rows drawn scrolls, so Virtuoso draws more. */
const NUDGE_PX = 120;

function rowsIn(scroller: HTMLElement | null): HTMLElement[] {
  return scroller ? Array.from(scroller.querySelectorAll<HTMLElement>(ROW)) : [];
}

/** The newest row whose top is inside the scroller's view. */
function newestOnScreen(scroller: HTMLElement): HTMLElement | undefined {
  const view = scroller.getBoundingClientRect();
  const rows = rowsIn(scroller);
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i]!.getBoundingClientRect();
    if (r.top < view.bottom && r.bottom > view.top) return rows[i];
  }
  return rows[rows.length - 1];
}

function focusRow(row: HTMLElement): void {
  row.focus({ preventScroll: true });
  row.scrollIntoView({ block: "nearest" });
}

export function useMessageFocus(scroller: HTMLElement | null) {
  const session = useSession();
  const lastFocused = useRef<number | null>(null);
  const [inside, setInside] = useState(false);

  const onFocus = useCallback(
    (e: React.FocusEvent<HTMLElement>) => {
      setInside(true);
      const target = e.target as HTMLElement;
      if (target === e.currentTarget) {
        // Tabbed into the list itself: on to a message.
        if (!scroller) return;
        const remembered = rowsIn(scroller).find((r) => Number(r.dataset.messageId) === lastFocused.current);
        const row = remembered ?? newestOnScreen(scroller);
        if (row) focusRow(row);
        return;
      }
      const row = target.closest<HTMLElement>(ROW);
      if (row && scroller?.contains(row)) lastFocused.current = Number(row.dataset.messageId);
    },
    [scroller],
  );

  const onBlur = useCallback((e: React.FocusEvent<HTMLElement>) => {
    if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setInside(false);
  }, []);

  const onKeyDown = useCallback(
    (e: React.KeyboardEvent<HTMLElement>) => {
      const target = e.target as HTMLElement;
      // Keys on a message row itself (not on a button in it, nor in a popover it opened).
      if (!target.matches(ROW) || !scroller?.contains(target)) return;
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "Escape") {
        e.preventDefault();
        session.ui.focusComposer();
        return;
      }
      const rows = rowsIn(scroller);
      const at = rows.indexOf(target);
      let next: HTMLElement | undefined;
      if (e.key === "ArrowUp") next = rows[at - 1];
      else if (e.key === "ArrowDown") next = rows[at + 1];
      else if (e.key === "Home") next = rows[0];
      else if (e.key === "End") next = rows[rows.length - 1];
      else return;
      e.preventDefault();
      if (next) focusRow(next);
      else scroller.scrollTop += e.key === "ArrowUp" ? -NUDGE_PX : NUDGE_PX;
    },
    [scroller, session],
  );

  return {
    /** Props of the element around the list: a Tab stop while the focus is elsewhere. */
    regionProps: { tabIndex: inside ? -1 : 0, onFocus, onBlur, onKeyDown },
  };
}
