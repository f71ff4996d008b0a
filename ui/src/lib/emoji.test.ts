import { describe, expect, it } from "vitest";
import { ALL_EMOJI, EMOJI_CATEGORIES, QUICK_REACTIONS, searchEmoji } from "./emoji";

/** The engine's rule for a reaction (`valid_emoji` in crates/core): at most 32 bytes, no
 * ASCII letters, spaces or control characters. */
function engineAccepts(emoji: string): boolean {
  return (
    emoji.length > 0 &&
    new TextEncoder().encode(emoji).length <= 32 &&
    !/[A-Za-z\s\p{Cc}]/u.test(emoji)
  );
}

describe("emoji for reactions", () => {
  it("offers only emoji the engine accepts as a reaction, each once, each with a name", () => {
    const seen = new Set<string>();
    for (const e of ALL_EMOJI) {
      expect(engineAccepts(e.emoji), e.emoji).toBe(true);
      expect(e.words.trim(), e.emoji).not.toBe("");
      expect(seen.has(e.emoji), `${e.emoji} twice`).toBe(false);
      seen.add(e.emoji);
    }
    expect(EMOJI_CATEGORIES.every((c) => c.emoji.length > 20)).toBe(true);
    for (const q of QUICK_REACTIONS) expect(seen.has(q), q).toBe(true);
  });

  it("finds emoji by the start of their words, all words of the query, any case", () => {
    expect(searchEmoji("thumbs").map((e) => e.emoji)).toEqual(["👍", "👎"]);
    expect(searchEmoji("THUMBS up").map((e) => e.emoji)).toEqual(["👍"]);
    expect(searchEmoji("heart").map((e) => e.emoji)).toContain("❤️");
    expect(searchEmoji("umbs")).toEqual([]);
    expect(searchEmoji("  ")).toBe(ALL_EMOJI);
  });
});
