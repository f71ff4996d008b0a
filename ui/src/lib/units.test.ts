import { describe, expect, it } from "vitest";
import { formatBytes } from "./units";

describe("formatBytes", () => {
  it("words sizes the way people read them", () => {
    expect(formatBytes(1)).toBe("1 byte");
    expect(formatBytes(999)).toBe("999 bytes");
    expect(formatBytes(1000)).toBe("1.0 KB");
    expect(formatBytes(2_400_000)).toBe("2.4 MB");
    expect(formatBytes(184_320)).toBe("184 KB");
    expect(formatBytes(5e15)).toBe("5000 TB");
    expect(formatBytes(-1)).toBe("unknown size");
  });
});
