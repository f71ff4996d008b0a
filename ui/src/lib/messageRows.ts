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
