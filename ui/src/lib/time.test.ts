import { describe, expect, it } from "vitest";
import { DAY, HOUR, NOW } from "../test/fixtures";
import { dayKey, formatDay, formatListTime } from "./time";

// NOW is Wednesday 18 March 2026, 15:30 UTC; tests run with TZ=UTC.
describe("formatListTime", () => {
  it("shows the clock time for today", () => {
    expect(formatListTime(NOW - 2 * HOUR, NOW, "en-GB")).toBe("13:30");
    expect(formatListTime(Date.UTC(2026, 2, 18, 0, 5), NOW, "en-GB")).toBe("00:05");
  });

  it("shows the weekday within the last week", () => {
    expect(formatListTime(NOW - DAY, NOW, "en-GB")).toBe("Tue");
    expect(formatListTime(NOW - 6 * DAY, NOW, "en-GB")).toBe("Thu");
  });

  it("shows a date for older messages, with the year only when it differs", () => {
    expect(formatListTime(NOW - 7 * DAY, NOW, "en-GB")).toBe("11 Mar");
    expect(formatListTime(Date.UTC(2025, 11, 24, 9), NOW, "en-GB")).toBe("24 Dec 2025");
  });

  it("shows nothing for an empty conversation", () => {
    expect(formatListTime(0, NOW, "en-GB")).toBe("");
  });

  it("uses calendar days, not 24-hour spans", () => {
    // 23:59 yesterday is less than a day ago but is not today.
    expect(formatListTime(Date.UTC(2026, 2, 17, 23, 59), NOW, "en-GB")).toBe("Tue");
  });
});

describe("formatDay", () => {
  it("names today and yesterday, then weekdays, then dates", () => {
    expect(formatDay(NOW - HOUR, NOW, "en-GB")).toBe("Today");
    expect(formatDay(NOW - DAY, NOW, "en-GB")).toBe("Yesterday");
    expect(formatDay(NOW - 3 * DAY, NOW, "en-GB")).toBe("Sunday");
    expect(formatDay(NOW - 10 * DAY, NOW, "en-GB")).toBe("Sunday 8 March");
    expect(formatDay(Date.UTC(2024, 0, 2), NOW, "en-GB")).toBe("2 January 2024");
  });
});

describe("dayKey", () => {
  it("is equal within a day and differs across midnight", () => {
    expect(dayKey(Date.UTC(2026, 2, 18, 0, 0))).toBe(dayKey(Date.UTC(2026, 2, 18, 23, 59)));
    expect(dayKey(Date.UTC(2026, 2, 18, 0, 0))).not.toBe(dayKey(Date.UTC(2026, 2, 17, 23, 59)));
  });
});
