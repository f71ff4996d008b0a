import { describe, expect, it } from "vitest";
import { parseSnippet } from "./snippet";

describe("parseSnippet", () => {
  it("splits marked matches from plain text", () => {
    expect(parseSnippet("see \u0002you\u0003 at \u0002seven\u0003!")).toEqual([
      { text: "see ", match: false },
      { text: "you", match: true },
      { text: " at ", match: false },
      { text: "seven", match: true },
      { text: "!", match: false },
    ]);
  });

  it("keeps markup as text", () => {
    expect(parseSnippet("<b>\u0002x\u0003</b>")).toEqual([
      { text: "<b>", match: false },
      { text: "x", match: true },
      { text: "</b>", match: false },
    ]);
  });
});
