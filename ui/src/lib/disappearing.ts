//! The disappearing-messages timer: the lengths offered, and a length in words (as the engine
//! words it in the conversation's line: "30 seconds", "1 hour", "2 days").

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/** The choices in the header's menu (seconds; null: off). */
export const TIMER_CHOICES: { id: string; seconds: number | null }[] = [
  { id: "off", seconds: null },
  { id: "30s", seconds: 30 },
  { id: "5m", seconds: 5 * MINUTE },
  { id: "1h", seconds: HOUR },
  { id: "1d", seconds: DAY },
  { id: "1w", seconds: WEEK },
];

export function timerWords(seconds: number): string {
  const [n, unit] =
    seconds % WEEK === 0
      ? [seconds / WEEK, "week"]
      : seconds % DAY === 0
        ? [seconds / DAY, "day"]
        : seconds % HOUR === 0
          ? [seconds / HOUR, "hour"]
          : seconds % MINUTE === 0
            ? [seconds / MINUTE, "minute"]
            : [seconds, "second"];
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}
