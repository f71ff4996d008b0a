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

/** The option sets used here, each made into one `Intl.DateTimeFormat` per locale. */
const FORMATS = {
  clock: { hour: "2-digit", minute: "2-digit" },
  weekdayShort: { weekday: "short" },
  weekdayLong: { weekday: "long" },
  dayMonth: { day: "numeric", month: "short" },
  dayMonthYear: { day: "numeric", month: "short", year: "numeric" },
  weekdayDayMonthLong: { weekday: "long", day: "numeric", month: "long" },
  dayMonthYearLong: { day: "numeric", month: "long", year: "numeric" },
  full: { dateStyle: "medium", timeStyle: "short" },
  date: { dateStyle: "medium" },
} satisfies Record<string, Intl.DateTimeFormatOptions>;

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * One formatter per locale and option set, kept. `toLocaleTimeString` and friends build a new
 * formatter on every call (an ICU date format: time, and native memory the JavaScript heap does
 * not see, so it is freed late); a bubble calls two of them at every render.
 */
function format(ms: number, kind: keyof typeof FORMATS, locale: string | undefined): string {
  const key = `${kind}|${locale ?? ""}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, FORMATS[kind]);
    formatters.set(key, f);
  }
  return f.format(ms);
}

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
  return format(ms, "clock", locale);
}

/** Conversation list time: today 14:05; within the week a weekday; older a date. */
export function formatListTime(ms: number, now: number, locale?: string): string {
  if (ms <= 0) return "";
  const days = daysAgo(ms, now);
  if (days <= 0) return formatClock(ms, locale);
  if (days < 7) return format(ms, "weekdayShort", locale);
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return format(ms, sameYear ? "dayMonth" : "dayMonthYear", locale);
}

/** Day separator text: Today, Yesterday, a weekday within the week, else a full date. */
export function formatDay(ms: number, now: number, locale?: string): string {
  const days = daysAgo(ms, now);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return format(ms, "weekdayLong", locale);
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return format(ms, sameYear ? "weekdayDayMonthLong" : "dayMonthYearLong", locale);
}

/** A full date and time, for tooltips. */
export function formatFull(ms: number, locale?: string): string {
  return format(ms, "full", locale);
}

export function formatDate(ms: number, locale?: string): string {
  return format(ms, "date", locale);
}
