import { describe, expect, it } from "vitest";
import { DAY, MINUTE, NOW, message } from "../test/fixtures";
import { firstUnread, layoutMessages, mergeMessages, rowsToFill } from "./messageRows";

describe("layoutMessages", () => {
  it("groups a sender's messages within five minutes into one run", () => {
    const msgs = [
      message({ id: 1, sender_user: "bob", ts: NOW - 10 * MINUTE }),
      message({ id: 2, sender_user: "bob", ts: NOW - 8 * MINUTE }),
      message({ id: 3, sender_user: "bob", ts: NOW - 2 * MINUTE }), // 6 min later: new run
      message({ id: 4, sender_user: "carol", ts: NOW - MINUTE }),
    ];
    const { rows } = layoutMessages(msgs);
    expect(rows.map((r) => [r.firstInRun, r.lastInRun])).toEqual([
      [true, false],
      [false, true],
      [true, true],
      [true, true],
    ]);
  });

  it("breaks runs at system lines, direction changes and days", () => {
    const msgs = [
      message({ id: 1, ts: NOW - DAY }),
      message({ id: 2, ts: NOW - DAY + MINUTE, kind: "system", status: "system" }),
      message({ id: 3, ts: NOW - DAY + 2 * MINUTE }),
      message({ id: 4, ts: NOW - DAY + 3 * MINUTE, outgoing: true }),
    ];
    expect(layoutMessages(msgs).rows.every((r) => r.firstInRun)).toBe(true);
  });

  it("makes one group per calendar day, oldest first", () => {
    const msgs = [
      message({ id: 1, ts: NOW - 2 * DAY }),
      message({ id: 2, ts: NOW - DAY }),
      message({ id: 3, ts: NOW - DAY + MINUTE }),
      message({ id: 4, ts: NOW }),
    ];
    expect(layoutMessages(msgs).days.map((d) => d.count)).toEqual([1, 2, 1]);
  });
});

describe("mergeMessages", () => {
  it("adds, replaces by id and keeps id order", () => {
    const a = message({ id: 5, body: "five" });
    const b = message({ id: 9, body: "nine" });
    const merged = mergeMessages([a, b], [message({ id: 7 }), { ...b, body: "nine, edited" }, message({ id: 1 })]);
    expect(merged.map((m) => m.id)).toEqual([1, 5, 7, 9]);
    expect(merged[3]?.body).toBe("nine, edited");
  });

  it("puts a message that arrives late in its place by the server's time", () => {
    const recent = [message({ id: 10, ts: 5000, server_ts: 5000 }), message({ id: 11, ts: 6000, server_ts: 6000 })];
    const restored = message({ id: 12, ts: 1000, server_ts: 1000 });
    // Ours, not yet taken by the server: by when it was written.
    const queued = message({ id: 13, ts: 5500, server_ts: null, outgoing: true, status: "queued" });
    expect(mergeMessages(recent, [restored, queued]).map((m) => m.id)).toEqual([12, 10, 13, 11]);
    // Once the server took it, its time counts.
    const sent = { ...queued, status: "sent" as const, server_ts: 6500 };
    expect(mergeMessages(mergeMessages(recent, [queued]), [sent]).map((m) => m.id)).toEqual([10, 11, 13]);
  });
});

describe("rowsToFill", () => {
  const rowsOf = (bodies: string[]) => layoutMessages(bodies.map((body, i) => message({ id: i + 1, body }))).rows;

  it("counts one-line rows at their lowest, plus two", () => {
    const rows = rowsOf(Array.from({ length: 100 }, (_, i) => `hi ${i}`));
    // 21rem of 2.1rem rows: ten rows, and two more.
    expect(rowsToFill(rows, 21)).toBe(100 - 12);
  });

  it("counts the lines a long message takes at the least", () => {
    // 112 characters fit a line at the most: 113 take two lines, 224 two, 225 three.
    const long = (n: number) => rowsOf(Array.from({ length: 100 }, () => "x".repeat(n)));
    const twoLines = 2.1 + 0.875 * 1.4;
    expect(rowsToFill(long(112), 21)).toBe(100 - 12);
    expect(rowsToFill(long(113), twoLines * 5)).toBe(100 - 7);
    expect(rowsToFill(long(224), twoLines * 5)).toBe(100 - 7);
    expect(rowsToFill(long(225), twoLines * 5)).toBe(100 - 6);
  });

  it("counts each line break", () => {
    const rows = rowsOf(Array.from({ length: 100 }, () => "a\nb\nc"));
    const threeLines = 2.1 + 2 * 0.875 * 1.4;
    expect(rowsToFill(rows, threeLines * 4)).toBe(100 - 6);
  });

  it("counts characters that take width, not code units", () => {
    const twoLines = 2.1 + 0.875 * 1.4;
    const rowsOfEach = (body: string) => rowsOf(Array.from({ length: 100 }, () => body));
    // 112 emoji (224 UTF-16 units), 112 families (five code points each), 112 letters with
    // a combining accent, 112 thumbs with a skin tone: each one line, like 112 letters.
    const family = "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}";
    for (const body of ["\u{1f600}".repeat(112), family.repeat(112), "e\u0301".repeat(112), "\u{1f44d}\u{1f3fd}".repeat(112)]) {
      expect(rowsToFill(rowsOfEach(body), 21)).toBe(100 - 12);
    }
    // One more of them is a second line.
    expect(rowsToFill(rowsOfEach("\u{1f600}".repeat(113)), twoLines * 5)).toBe(100 - 7);
  });

  it("counts system lines and undecryptable messages as one line", () => {
    const rows = layoutMessages(
      Array.from({ length: 20 }, (_, i) =>
        message({ id: i + 1, kind: i % 2 ? "system" : "undecryptable", body: "x".repeat(500) }),
      ),
    ).rows;
    expect(rowsToFill(rows, 21)).toBe(20 - 12);
  });

  it("starts at the first row when all of them fit", () => {
    expect(rowsToFill(rowsOf(["a", "b", "c"]), 100)).toBe(0);
    expect(rowsToFill([], 100)).toBe(0);
  });
});

describe("firstUnread", () => {
  const msgs = [
    message({ id: 1, sender_user: "bob" }),
    message({ id: 2, sender_user: "bob" }),
    message({ id: 3, outgoing: true, sender_user: "alice" }),
    message({ id: 4, sender_user: "bob" }),
    message({ id: 5, kind: "system", status: "system" }),
    message({ id: 6, outgoing: true, sender_user: "alice" }),
    message({ id: 7, sender_user: "carol" }),
  ];

  it("is the count-th newest message from someone else, skipping my own and system lines", () => {
    expect(firstUnread(msgs, 1, false)).toBe(7);
    expect(firstUnread(msgs, 2, false)).toBe(4);
    expect(firstUnread(msgs, 3, true)).toBe(2);
  });

  it("asks for older messages when the window holds too few, else takes the oldest there is", () => {
    expect(firstUnread(msgs, 5, true)).toBe("older");
    expect(firstUnread(msgs, 5, false)).toBe(1);
    expect(firstUnread([message({ id: 9, outgoing: true })], 2, false)).toBeNull();
  });
});
