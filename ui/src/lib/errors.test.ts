import { describe, expect, it } from "vitest";
import {
  asCommandError,
  describeError,
  describeLockReason,
  describeSendFailure,
  describeUndecryptable,
  ERROR_CODES,
  isErrorCode,
  isKeychainError,
  OFFLINE_TEXT,
  undecryptableText,
} from "./errors";
import type { ErrorCode, Undecryptable } from "./types";

/** Every code the IPC contract names. */
const CONTRACT_CODES: ErrorCode[] = [
  "offline",
  "signed_out",
  "storage",
  "corrupt",
  "internal",
  "rate_limited",
  "unauthorized",
  "not_admin",
  "not_member",
  "no_devices",
  "invalid_url",
  "not_sotto",
  "user_exists",
  "invalid_credentials",
  "invalid_input",
  "keychain_unavailable",
  "keychain_locked",
  "wrong_passphrase",
  "unknown_user",
];

const FALLBACK = describeError({ code: "unknown", message: "" });

describe("describeError", () => {
  it.each(CONTRACT_CODES)("has its own plain sentence for %s", (code) => {
    expect(ERROR_CODES).toContain(code);
    const text = describeError({ code, message: "internal: stack trace" });
    expect(text).not.toBe(FALLBACK);
    expect(text).not.toContain(code);
    expect(text).not.toContain("internal");
    expect(text).toMatch(/[.!]$/u);
  });

  it.each(ERROR_CODES.filter((c) => c !== "unknown" && !CONTRACT_CODES.includes(c)))(
    "also has words for the engine's and the app's %s",
    (code) => {
      const text = describeError({ code, message: "" });
      expect(text).not.toBe(FALLBACK);
      expect(text).not.toContain(code);
      expect(text).toMatch(/[.!]$/u);
    },
  );

  it("gives the same sentences as the brief for offline and unknown users", () => {
    expect(describeError({ code: "offline", message: "" })).toBe(OFFLINE_TEXT);
    expect(OFFLINE_TEXT).toBe("Couldn't reach the server. Messages will be sent when you're back online.");
    expect(describeError({ code: "unknown_user", message: "" }, { userId: "zed" })).toBe(
      "No one with the id 'zed' on this server.",
    );
  });

  it("falls back to a generic sentence that points at the details line", () => {
    expect(FALLBACK).toMatch(/Something went wrong/u);
    // A code from a newer Rust side than this UI (the type says it cannot happen; a stale build can).
    expect(describeError({ code: "from_the_future" as ErrorCode, message: "" })).toBe(FALLBACK);
  });

  it("gives every code but `unknown` words of its own", () => {
    const texts = ERROR_CODES.filter((c) => c !== "unknown").map((code) => describeError({ code, message: "" }));
    expect(texts).not.toContain(FALLBACK);
  });

  it("recognises keychain errors", () => {
    expect(isKeychainError({ code: "keychain_unavailable", message: "" })).toBe(true);
    expect(isKeychainError({ code: "keychain_locked", message: "" })).toBe(true);
    expect(isKeychainError({ code: "offline", message: "" })).toBe(false);
  });
});

describe("asCommandError", () => {
  it("keeps a {code, message} object", () => {
    expect(asCommandError({ code: "offline", message: "x" })).toEqual({ code: "offline", message: "x" });
  });
  it("wraps anything else as unknown", () => {
    expect(asCommandError("boom")).toEqual({ code: "unknown", message: "boom" });
    expect(asCommandError(new Error("bad"))).toEqual({ code: "unknown", message: "bad" });
    expect(asCommandError(null)).toEqual({ code: "unknown", message: "" });
    expect(asCommandError({ code: 3 })).toEqual({ code: "unknown", message: "" });
  });
  it("reads a code this build doesn't know as unknown, keeping the message", () => {
    expect(asCommandError({ code: "from_the_future", message: "m" })).toEqual({ code: "unknown", message: "m" });
    expect(isErrorCode("from_the_future")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
    expect(isErrorCode("offline")).toBe(true);
  });
});

describe("undecryptable reasons", () => {
  const REASONS: Undecryptable[] = [
    "unknown_device",
    "olm_session",
    "missing_room_key",
    "before_key",
    "tampered",
    "replayed",
    "sender_mismatch",
    "malformed",
    "withheld",
  ];

  it("explains every reason differently and without the code", () => {
    const texts = REASONS.map((r) => describeUndecryptable(r));
    expect(new Set(texts).size).toBe(REASONS.length);
    REASONS.forEach((r, i) => expect(texts[i]).not.toContain(r));
  });

  it("says 'waiting for the key' only while the key can still arrive", () => {
    expect(undecryptableText("missing_room_key")).toBe("Can't decrypt this message yet — waiting for the key");
    expect(undecryptableText(null)).toBe("Can't decrypt this message yet — waiting for the key");
    expect(undecryptableText("before_key")).toMatch(/^Can't decrypt this message — it was sent before you joined/u);
    expect(undecryptableText("tampered")).not.toMatch(/waiting/u);
    expect(undecryptableText("withheld")).toBe("Can't show this message — it arrived before this device was confirmed");
    expect(describeUndecryptable("withheld")).toMatch(/confirm/u);
  });
});

describe("lock reasons and failed sends", () => {
  it("explains lock codes in plain words", () => {
    expect(describeLockReason("keychain_locked")).toMatch(/keychain is locked/u);
    expect(describeLockReason("wrong_passphrase")).toMatch(/passphrase/u);
    expect(describeLockReason("unknown")).toMatch(/couldn't open your profile/u);
  });

  it("says why a message wasn't sent", () => {
    expect(describeSendFailure("offline")).toBe("Not sent — couldn't reach the server.");
    expect(describeSendFailure("not_member")).toMatch(/not in this group/u);
    expect(describeSendFailure(null)).toBe("Not sent.");
    expect(describeSendFailure("identity_changed_held")).toMatch(/accept their new key/u);
  });
});
