import { describe, expect, it } from "vitest";
import { avatarColor, AVATAR_COLORS, initials } from "./avatar";
import {
  directConversationId,
  directUserOf,
  groupConversationId,
  groupIdOf,
  isValidUserId,
  parseConversationId,
  parseUserIds,
} from "./ids";

describe("ids", () => {
  it("parses ids separated by commas and/or spaces, dropping blanks and repeats", () => {
    expect(parseUserIds(" bob,carol  dave,\n,bob ")).toEqual(["bob", "carol", "dave"]);
    expect(parseUserIds(" , ")).toEqual([]);
  });

  it("checks the server's user id rule", () => {
    expect(isValidUserId("bob")).toBe(true);
    expect(isValidUserId("a.b_c-9")).toBe(true);
    expect(isValidUserId("ab")).toBe(false);
    expect(isValidUserId("Bob")).toBe(false);
    expect(isValidUserId("x".repeat(64))).toBe(true);
    expect(isValidUserId("x".repeat(65))).toBe(false);
    expect(isValidUserId(".bob")).toBe(false);
  });

  it("splits conversation ids", () => {
    expect(groupIdOf("g:abc")).toBe("abc");
    expect(groupIdOf("u:bob")).toBeNull();
    expect(directUserOf("u:bob")).toBe("bob");
    expect(directUserOf("g:abc")).toBeNull();
  });

  it("spells conversation ids as the Rust side does", () => {
    expect(directConversationId("bob")).toBe("u:bob");
    expect(groupConversationId("G1abc_-")).toBe("g:G1abc_-");
  });

  it("reads conversation ids from text, refusing anything else", () => {
    expect(parseConversationId("u:bob")).toBe("u:bob");
    expect(parseConversationId("g:G1abc_-")).toBe("g:G1abc_-");
    for (const bad of ["", "bob", "u:", "g:", "x:bob", "U:bob", "u:Bob", "u:bo", "g:a/b", "g:../x", " u:bob"]) {
      expect(parseConversationId(bad)).toBeNull();
    }
  });
});

describe("avatar", () => {
  it("takes up to two initials", () => {
    expect(initials("alice")).toBe("A");
    expect(initials("Book club")).toBe("BC");
    expect(initials("carol.smith-jones")).toBe("CS");
    expect(initials("  ")).toBe("?");
  });

  it("derives a stable colour slot from the id", () => {
    expect(avatarColor("bob")).toBe(avatarColor("bob"));
    const slots = new Set(["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"].map(avatarColor));
    expect(slots.size).toBeGreaterThan(3);
    for (const s of slots) expect(s).toBeLessThan(AVATAR_COLORS);
  });
});
