//! A small floating panel (a menu, the emoji picker, a message's earlier versions) next to what
//! opened it. It is drawn over the page (a portal, `position: fixed`), so a scrolling list does
//! not clip it, and placed below its anchor — above when there is no room — kept inside the
//! window. Focus moves in when it opens and back to the anchor when it closes; Escape, a click
//! elsewhere or a resize close it, and so does a scroll that takes its anchor out of view (it
//! follows its anchor otherwise).

import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { focusableIn } from "../lib/keyboard";

/** Where a popover hangs from: an element, or a point (a right click). */
export type PopoverAnchor = HTMLElement | { x: number; y: number };

interface PopoverProps {
  anchor: PopoverAnchor;
  onClose: () => void;
  children: ReactNode;
  /** Which edge of the anchor the panel lines up with (the side the message sits on). */
  align?: "start" | "end";
  /** The accessible name when the content has no heading of its own. */
  label?: string;
  className?: string;
  testId?: string;
  /** "dialog" for a panel with fields; a menu's content brings its own role. */
  role?: "dialog" | "presentation";
  /** Where focus goes back to when it closes, when not the anchor (which may not take focus). */
  returnFocus?: HTMLElement | null;
}

/** Room kept between the panel and the window's edges, and its anchor. */
const MARGIN = 8;
const GAP = 4;

function anchorRect(anchor: PopoverAnchor): DOMRect {
  return anchor instanceof HTMLElement ? anchor.getBoundingClientRect() : new DOMRect(anchor.x, anchor.y, 0, 0);
}

export function Popover({
  anchor,
  onClose,
  children,
  align = "start",
  label,
  className,
  testId,
  role = "dialog",
  returnFocus,
}: PopoverProps) {
  const panel = useRef<HTMLDivElement>(null);
  const [place, setPlace] = useState<{ left: number; top: number } | null>(null);
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;
  // Where focus goes back to: the anchor when it is an element, else what had focus.
  const [returnTo] = useState(
    () =>
      returnFocus ??
      (anchor instanceof HTMLElement ? anchor : document.activeElement instanceof HTMLElement ? document.activeElement : null),
  );

  /** Places the panel by its anchor; the scroll handler below calls it again. */
  const placeRef = useRef<() => void>(() => undefined);
  useLayoutEffect(() => {
    const el = panel.current;
    if (!el) return;
    const place = () => {
      const a = anchorRect(anchor);
      const { width, height } = el.getBoundingClientRect();
      const roomBelow = window.innerHeight - a.bottom - GAP - MARGIN;
      const top = roomBelow >= height || a.top - GAP - MARGIN < height ? a.bottom + GAP : a.top - GAP - height;
      const left = align === "end" ? a.right - width : a.left;
      setPlace({
        left: Math.max(MARGIN, Math.min(left, window.innerWidth - width - MARGIN)),
        top: Math.max(MARGIN, Math.min(top, window.innerHeight - height - MARGIN)),
      });
    };
    placeRef.current = place;
    place();
    // Placed again when its content changes size (the quick row opening into the full picker).
    if (typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(place);
    observer.observe(el);
    return () => observer.disconnect();
  }, [anchor, align]);

  // Focus moves in once the panel is placed: until then it is hidden, and a browser does not
  // focus what is hidden (jsdom does).
  const placed = place !== null;
  useEffect(() => {
    const root = panel.current;
    if (placed && root && !root.contains(document.activeElement)) {
      const first = root.querySelector<HTMLElement>("[autofocus], [data-autofocus]") ?? focusableIn(root)[0];
      (first ?? root).focus({ preventScroll: true });
    }
  }, [placed]);

  useEffect(() => {
    const root = panel.current;
    return () => {
      const active = document.activeElement;
      // Back to the anchor, unless focus already went somewhere on purpose (a field, a dialog).
      if (returnTo && document.contains(returnTo) && (active === null || active === document.body || root?.contains(active))) {
        returnTo.focus({ preventScroll: true });
      }
    };
  }, [returnTo]);

  useEffect(() => {
    const outside = (e: Event) => {
      const target = e.target as Node | null;
      if (!target || panel.current?.contains(target)) return;
      if (anchor instanceof HTMLElement && anchor.contains(target)) return;
      onCloseRef.current();
    };
    // The page moved under it (the list scrolled, say by a message arriving): it follows its
    // anchor while that is still there and in view; a point (a right click) has nothing to follow.
    const scrolled = (e: Event) => {
      if (panel.current?.contains(e.target as Node | null)) return;
      if (anchor instanceof HTMLElement && anchor.isConnected) {
        const r = anchor.getBoundingClientRect();
        if (r.bottom > 0 && r.top < window.innerHeight) {
          placeRef.current();
          return;
        }
      }
      onCloseRef.current();
    };
    const resized = () => onCloseRef.current();
    document.addEventListener("mousedown", outside, true);
    document.addEventListener("scroll", scrolled, true);
    window.addEventListener("resize", resized);
    return () => {
      document.removeEventListener("mousedown", outside, true);
      document.removeEventListener("scroll", scrolled, true);
      window.removeEventListener("resize", resized);
    };
  }, [anchor]);

  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      onCloseRef.current();
    }
  };

  return createPortal(
    <div
      ref={panel}
      className={`popover${className ? ` ${className}` : ""}`}
      style={place ? { left: place.left, top: place.top } : { left: 0, top: 0, visibility: "hidden" }}
      role={role}
      aria-label={label}
      data-testid={testId}
      tabIndex={-1}
      onKeyDown={onKeyDown}
    >
      {children}
    </div>,
    document.body,
  );
}
