//! Turns a conversation's messages (oldest first) into what the list draws: one group per
//! calendar day (the sticky separators) and, per message, whether it starts or ends a run of
//! messages from the same sender within five minutes.

import { dayKey } from "./time";
import type { Message } from "./types";

export const GROUPING_WINDOW_MS = 5 * 60 * 1000;

export interface MessageRow {
  message: Message;
  /** First of a run from the same sender: show the sender's name (groups) and a top gap. */
  firstInRun: boolean;
  /** Last of a run: the bubble gets its full corner radius and a bottom gap. */
  lastInRun: boolean;
}

export interface DayGroup {
  key: string;
  /** A timestamp on that day, to format the separator. */
  ts: number;
  count: number;
}

export interface MessageLayout {
  rows: MessageRow[];
  days: DayGroup[];
}

function continues(prev: Message | undefined, next: Message): boolean {
  if (!prev) return false;
  if (prev.kind === "system" || next.kind === "system") return false;
  if (prev.outgoing !== next.outgoing || prev.sender_user !== next.sender_user) return false;
  if (dayKey(prev.ts) !== dayKey(next.ts)) return false;
  return next.ts - prev.ts <= GROUPING_WINDOW_MS;
}

export function layoutMessages(messages: readonly Message[]): MessageLayout {
  const rows: MessageRow[] = [];
  const days: DayGroup[] = [];
  messages.forEach((message, i) => {
    const prev = messages[i - 1];
    const next = messages[i + 1];
    const key = dayKey(message.ts);
    const lastDay = days[days.length - 1];
    if (lastDay && lastDay.key === key) lastDay.count += 1;
    else days.push({ key, ts: message.ts, count: 1 });
    rows.push({
      message,
      firstInRun: !continues(prev, message),
      lastInRun: next === undefined || !continues(message, next),
    });
  });
  return { rows, days };
}

/**
 * A message's place in its conversation, as the engine pages it: the server's time, or before the
 * server took it, the time it was written; ties by id.
 */
export function compareMessages(a: Message, b: Message): number {
  return (a.server_ts ?? a.ts) - (b.server_ts ?? b.ts) || a.id - b.id;
}

/**
 * Inserts or replaces messages by id, keeping the list in conversation order (oldest first): a
 * message that arrives late (history read after a restore) takes its place, not the end.
 */
export function mergeMessages(existing: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return existing as Message[];
  const byId = new Map<number, Message>();
  for (const m of existing) byId.set(m.id, m);
  for (const m of incoming) byId.set(m.id, m);
  return Array.from(byId.values()).sort(compareMessages);
}

/** The lowest a row can be, in rem: a one-line system line (0.8125rem at 1.4, 1rem of padding);
 * a one-line bubble is 2.4 (its time's 1.4rem line, 0.75rem of padding, 0.25rem around it). */
const ONE_LINE_ROW_REM = 2.1;
/** Each further line of message text, in rem. */
const TEXT_LINE_REM = 0.875 * 1.4;
/**
 * The most characters a line of a bubble can hold: its widest text (36rem less 1.5rem of
 * padding) over a narrow character (0.35 of the 0.875rem font; ordinary text averages ~0.5,
 * CJK and emoji are wider). Assuming the fewest lines means never drawing too few rows.
 */
const MAX_LINE_CHARS = Math.floor((36 - 1.5) / (0.875 * 0.35));

/**
 * What draws nothing of its own width: combining marks (accents, vowel signs), variation
 * selectors, skin tones, emoji tags, a zero-width non-joiner, and a zero-width joiner with the
 * character it joins to the one before (an emoji family is one glyph of eight code units).
 */
const JOINING = /[\p{M}\u200c\ufe00-\ufe0f\u{1f3fb}-\u{1f3ff}\u{e0020}-\u{e007f}]|\u200d./gu;

/** The fewest lines `body` can take in a bubble: its characters that take width, per line. */
function minLines(body: string): number {
  let lines = 0;
  for (const line of body.split("\n")) {
    let chars = 0;
    // Code points, not UTF-16 units: an emoji is one character, not two.
    for (const _ of line.replace(JOINING, "")) chars += 1;
    lines += Math.max(1, Math.ceil(chars / MAX_LINE_CHARS));
  }
  return lines;
}

/**
 * Where to start drawing the newest `rows` so they fill a view `viewRem` tall (plus two rows):
 * counted back from the end with each row at its smallest possible height, so the rows drawn
 * always cover the view, without drawing every row of a window of one-line guesses (long
 * messages take several lines: a screen of them is half the rows).
 */
export function rowsToFill(rows: readonly MessageRow[], viewRem: number): number {
  let height = 0;
  let start = rows.length;
  while (start > 0 && height < viewRem) {
    start -= 1;
    const m = rows[start]!.message;
    height += ONE_LINE_ROW_REM + (m.kind === "text" ? minLines(m.body) - 1 : 0) * TEXT_LINE_REM;
  }
  return Math.max(0, start - 2);
}

/** Whether a message counts as unread when it arrives (the engine's rule: from someone else, and
 * not a system line). */
export function countsUnread(message: Message): boolean {
  return !message.outgoing && message.kind !== "system";
}

/**
 * The first of the `count` unread messages in a window that ends at the newest message: the
 * `count`-th newest message that counts as unread (my own messages in between don't).
 * `"older"` when the window holds fewer and has older messages to load; when it has none, the
 * oldest that counts (null if none does).
 */
export function firstUnread(messages: readonly Message[], count: number, hasOlder: boolean): number | "older" | null {
  let seen = 0;
  let oldest: number | null = null;
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const m = messages[i] as Message;
    if (!countsUnread(m)) continue;
    seen += 1;
    oldest = m.id;
    if (seen === count) return m.id;
  }
  return hasOlder ? "older" : oldest;
}
