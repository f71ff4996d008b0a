import { describe, expect, it } from "vitest";
import { describeType, fileKind, formatSize, inlineSize, percentDone } from "./files";

describe("files", () => {
  it("says sizes as people read them", () => {
    expect(formatSize(0)).toBe("0 bytes");
    expect(formatSize(1)).toBe("1 byte");
    expect(formatSize(999)).toBe("999 bytes");
    expect(formatSize(1000)).toBe("1 KB");
    expect(formatSize(48_213)).toBe("48 KB");
    expect(formatSize(2_450_000)).toBe("2.5 MB");
    expect(formatSize(100 * 1024 * 1024)).toBe("105 MB");
    expect(formatSize(3_000_000_000)).toBe("3 GB");
  });

  it("names the kind of a file by its type, else by its extension", () => {
    expect(fileKind("image/png")).toBe("image");
    expect(fileKind("application/zip")).toBe("archive");
    expect(describeType("application/pdf", "a.pdf")).toBe("PDF document");
    expect(describeType("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx")).toBe("Document");
    expect(describeType("application/octet-stream", "disk.dmg")).toBe("DMG file");
    expect(describeType("application/octet-stream", "noextension")).toBe("File");
  });

  it("draws images in their own shape within the cap", () => {
    expect(inlineSize({ width: 1600, height: 1200 })).toEqual({ width: 320, height: 240 });
    expect(inlineSize({ width: 1000, height: 4000 })).toEqual({ width: 80, height: 320 });
    expect(inlineSize({ width: 100, height: 50 })).toEqual({ width: 100, height: 50 });
    expect(inlineSize({ width: 10_000, height: 10 })).toEqual({ width: 320, height: 24 });
  });

  it("counts progress in whole percent", () => {
    expect(percentDone(0, 0)).toBe(0);
    expect(percentDone(1, 3)).toBe(33);
    expect(percentDone(5, 4)).toBe(100);
  });
});
