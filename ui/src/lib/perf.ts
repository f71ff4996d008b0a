//! Performance marks for the milestones people feel (the conversation list ready to use, a
//! conversation shown). The app benchmark (`sotto-app-bench`) reads them; they cost one entry each.

import { afterNextPaint } from "./frames";

/** Marks `name` once, after the frame that shows it has been painted. */
export function markPainted(name: string): void {
  if (typeof performance === "undefined" || performance.getEntriesByName(name).length > 0) return;
  afterNextPaint(() => {
    if (performance.getEntriesByName(name).length === 0) performance.mark(name);
  });
}

/** Marks `name` now, once (a step on the way, not something on screen). */
export function markOnce(name: string): void {
  if (typeof performance === "undefined" || performance.getEntriesByName(name).length > 0) return;
  performance.mark(name);
}

/** The first `app_status` answered (the remembered profile is open, or known not to be). */
export const STATUS_KNOWN = "sotto:status-known";
/** The conversation list's data arrived (before it is rendered). */
export const LIST_LOADED = "sotto:conversation-list-loaded";
/** The conversation list's rows are in the document (rendered, not yet painted). */
export const LIST_COMMITTED = "sotto:conversation-list-committed";
/** The conversation list is on screen with its rows and takes clicks. */
export const LIST_READY = "sotto:conversation-list-ready";
