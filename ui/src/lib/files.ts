//! Words and numbers for files: human sizes, what kind of file a type is, the size an image is
//! drawn at, and reading a pasted image.

import type { ImageInfo } from "./types";

const UNITS = ["KB", "MB", "GB", "TB"];

/** "512 bytes", "1.2 MB", "34 MB" (decimal units, as file managers show them). */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return bytes === 1 ? "1 byte" : `${bytes} bytes`;
  let value = bytes;
  let unit = "";
  for (const u of UNITS) {
    value /= 1000;
    unit = u;
    if (value < 1000) break;
  }
  const shown = value < 10 ? value.toFixed(1).replace(/\.0$/, "") : Math.round(value).toString();
  return `${shown} ${unit}`;
}

export type FileKind = "image" | "video" | "audio" | "pdf" | "text" | "archive" | "document" | "other";

/** The kind of file a media type names, for its icon and its description. */
export function fileKind(mime: string): FileKind {
  const [type = "", sub = ""] = mime.toLowerCase().split("/");
  if (type === "image") return "image";
  if (type === "video") return "video";
  if (type === "audio") return "audio";
  if (sub === "pdf") return "pdf";
  if (type === "text" || sub === "json" || sub === "xml") return "text";
  if (/(zip|x-tar|gzip|x-7z|x-rar|x-bzip|x-xz|zstd)/.test(sub)) return "archive";
  if (/(msword|officedocument|opendocument|rtf|vnd\.ms-)/.test(sub)) return "document";
  return "other";
}

const KIND_WORDS: Record<FileKind, string> = {
  image: "Picture",
  video: "Video",
  audio: "Audio",
  pdf: "PDF document",
  text: "Text",
  archive: "Archive",
  document: "Document",
  other: "File",
};

/** "PDF document", "Picture", or the extension ("DMG file") for anything else. */
export function describeType(mime: string, name: string): string {
  const kind = fileKind(mime);
  if (kind !== "other") return KIND_WORDS[kind];
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 ? name.slice(dot + 1) : "";
  return ext && ext.length <= 8 ? `${ext.toUpperCase()} file` : "File";
}

/** The largest an inline image is drawn, either side, in CSS pixels. */
export const INLINE_IMAGE_MAX = 320;

/** The size an image is drawn at inline: its own aspect ratio, no side above the cap. */
export function inlineSize(image: Pick<ImageInfo, "width" | "height">, max = INLINE_IMAGE_MAX): { width: number; height: number } {
  const w = Math.max(1, image.width);
  const h = Math.max(1, image.height);
  const scale = Math.min(1, max / w, max / h);
  // A very long, thin image still gets a sliver one can click.
  return { width: Math.max(24, Math.round(w * scale)), height: Math.max(24, Math.round(h * scale)) };
}

/** Whole percent done (0 when nothing is known yet). */
export function percentDone(done: number, total: number): number {
  if (total <= 0) return 0;
  return Math.min(100, Math.floor((done * 100) / total));
}

/** A pasted image read as a `data:` URL and its bare base64. */
export function readPasted(file: Blob): Promise<{ dataUrl: string; base64: string }> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const dataUrl = typeof reader.result === "string" ? reader.result : "";
      const comma = dataUrl.indexOf(",");
      if (comma < 0) reject(new Error("unreadable"));
      else resolve({ dataUrl, base64: dataUrl.slice(comma + 1) });
    };
    reader.onerror = () => reject(reader.error ?? new Error("unreadable"));
    reader.readAsDataURL(file);
  });
}

/** The last component of a path (either separator), for showing a picked file's name. */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
