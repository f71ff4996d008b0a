//! Avatar initials and a stable colour slot derived from an id (same id → same colour everywhere).

/** Number of avatar colours defined in styles (`.avatar[data-color="0".."7"]`). */
export const AVATAR_COLORS = 8;

/** FNV-1a over the UTF-16 code units: tiny, stable, and spreads similar ids apart. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function avatarColor(id: string): number {
  return hash(id) % AVATAR_COLORS;
}

/** "alice" → "A", "Book club" → "BC", "carol.smith" → "CS". */
export function initials(name: string): string {
  const words = name
    .trim()
    .split(/[\s._-]+/u)
    .filter((w) => w.length > 0);
  const letters = words.slice(0, 2).map((w) => Array.from(w)[0] ?? "");
  return letters.join("").toUpperCase() || "?";
}
