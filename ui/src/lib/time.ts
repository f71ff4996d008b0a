//! Time formatting for the list, bubbles and day separators. Every function takes `now` (and an
//! optional locale) so the clock can be injected: nothing here reads the real clock.

import { createContext, useContext } from "react";

export interface Clock {
  now: () => number;
  /** BCP 47 locale; undefined = the system's. */
  locale: string | undefined;
}

export const systemClock: Clock = { now: () => Date.now(), locale: undefined };

export const ClockContext = createContext<Clock>(systemClock);

export function useClock(): Clock {
  return useContext(ClockContext);
}

const DAY_MS = 24 * 60 * 60 * 1000;

function startOfDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** A key that is equal for two timestamps on the same local calendar day. */
export function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** Whole calendar days between `ms` and `now` (0 = today, 1 = yesterday). */
function daysAgo(ms: number, now: number): number {
  return Math.round((startOfDay(now) - startOfDay(ms)) / DAY_MS);
}

export function formatClock(ms: number, locale?: string): string {
  return new Date(ms).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
}

/** Conversation list time: today 14:05; within the week a weekday; older a date. */
export function formatListTime(ms: number, now: number, locale?: string): string {
  if (ms <= 0) return "";
  const days = daysAgo(ms, now);
  if (days <= 0) return formatClock(ms, locale);
  if (days < 7) return new Date(ms).toLocaleDateString(locale, { weekday: "short" });
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return new Date(ms).toLocaleDateString(
    locale,
    sameYear ? { day: "numeric", month: "short" } : { day: "numeric", month: "short", year: "numeric" },
  );
}

/** Day separator text: Today, Yesterday, a weekday within the week, else a full date. */
export function formatDay(ms: number, now: number, locale?: string): string {
  const days = daysAgo(ms, now);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return new Date(ms).toLocaleDateString(locale, { weekday: "long" });
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return new Date(ms).toLocaleDateString(
    locale,
    sameYear
      ? { weekday: "long", day: "numeric", month: "long" }
      : { day: "numeric", month: "long", year: "numeric" },
  );
}

/** A full date and time, for tooltips. */
export function formatFull(ms: number, locale?: string): string {
  return new Date(ms).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

export function formatDate(ms: number, locale?: string): string {
  return new Date(ms).toLocaleDateString(locale, { dateStyle: "medium" });
}
