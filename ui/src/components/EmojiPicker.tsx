//! The full emoji picker: a search box over a grid of emoji in categories (a row of tabs jumps
//! to each). Typing filters by name; Enter in the box picks the first match; the arrow keys move
//! through the grid (Up from its first row goes back to the box).

import { useId, useMemo, useRef, useState } from "react";
import { EMOJI_CATEGORIES, searchEmoji, type Emoji } from "../lib/emoji";

/** Emoji per row of the grid (the CSS lays out the same number). */
export const PICKER_COLUMNS = 8;

interface EmojiPickerProps {
  onPick: (emoji: string) => void;
  /** Emoji already chosen (shown pressed: picking one again takes it back). */
  chosen?: readonly string[];
}

/**
 * The option a row up or down from `at`, nearest in column: rows end early where a category
 * does, so this goes by where the options are drawn. Without a layout (nothing measured), by
 * whole rows of the grid's width. -1: above the first row.
 */
function rowStep(all: HTMLElement[], at: number, direction: 1 | -1): number {
  const here = all[at]?.getBoundingClientRect();
  if (!here || here.height === 0) return at + direction * PICKER_COLUMNS;
  let best = -1;
  let bestRow = direction > 0 ? Infinity : -Infinity;
  let bestDx = Infinity;
  all.forEach((el, i) => {
    const r = el.getBoundingClientRect();
    const dy = (r.top - here.top) * direction;
    if (dy < here.height / 2) return;
    const dx = Math.abs(r.left - here.left);
    const closer = direction > 0 ? r.top < bestRow - 1 : r.top > bestRow + 1;
    const sameRow = Math.abs(r.top - bestRow) <= 1;
    if (closer || (sameRow && dx < bestDx)) {
      best = i;
      bestRow = r.top;
      bestDx = dx;
    }
  });
  return best < 0 && direction > 0 ? at : best;
}

export function EmojiPicker({ onPick, chosen = [] }: EmojiPickerProps) {
  const [query, setQuery] = useState("");
  const grid = useRef<HTMLDivElement>(null);
  const searchId = useId();
  const found = useMemo(() => (query.trim() ? searchEmoji(query) : null), [query]);

  const options = () => Array.from(grid.current?.querySelectorAll<HTMLButtonElement>("[data-emoji-option]") ?? []);

  const onSearchKey = (e: React.KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Enter") {
      e.preventDefault();
      const first = found ? found[0] : undefined;
      if (first) onPick(first.emoji);
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      options()[0]?.focus();
    }
  };

  const onGridKey = (e: React.KeyboardEvent) => {
    const all = options();
    const at = all.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0) return;
    let next: number;
    if (e.key === "ArrowRight") next = at + 1;
    else if (e.key === "ArrowLeft") next = at - 1;
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") next = rowStep(all, at, e.key === "ArrowDown" ? 1 : -1);
    else return;
    e.preventDefault();
    if (next < 0) {
      grid.current?.closest(".emoji-picker")?.querySelector<HTMLInputElement>("input")?.focus();
      return;
    }
    all[Math.min(next, all.length - 1)]?.focus();
  };

  const jump = (id: string) => {
    const section = grid.current?.querySelector<HTMLElement>(`[data-category="${id}"]`);
    if (section && grid.current) grid.current.scrollTop = section.offsetTop - grid.current.offsetTop;
  };

  const button = (e: Emoji) => {
    const name = e.words.split(" ")[0] ?? e.emoji;
    const pressed = chosen.includes(e.emoji);
    return (
      <button
        key={e.emoji}
        type="button"
        className="emoji-picker__option"
        aria-label={name}
        aria-pressed={pressed}
        title={name}
        data-emoji-option
        data-emoji={e.emoji}
        data-testid="emoji-option"
        onClick={() => onPick(e.emoji)}
      >
        {e.emoji}
      </button>
    );
  };

  return (
    <div className="emoji-picker" data-testid="emoji-picker">
      <label className="visually-hidden" htmlFor={searchId}>
        Search emoji
      </label>
      <input
        id={searchId}
        type="search"
        className="emoji-picker__search"
        placeholder="Search emoji"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        onKeyDown={onSearchKey}
        autoComplete="off"
        autoFocus
        data-testid="emoji-search"
      />
      {found ? null : (
        <div className="emoji-picker__tabs" role="group" aria-label="Categories">
          {EMOJI_CATEGORIES.map((c) => (
            <button
              key={c.id}
              type="button"
              className="emoji-picker__tab"
              title={c.label}
              aria-label={c.label}
              tabIndex={-1}
              onClick={() => jump(c.id)}
            >
              {c.emoji[0]?.emoji}
            </button>
          ))}
        </div>
      )}
      <div className="emoji-picker__grid" ref={grid} onKeyDown={onGridKey}>
        {found ? (
          found.length > 0 ? (
            <section>
              <h3 className="emoji-picker__heading">Results</h3>
              <div className="emoji-picker__row">{found.map(button)}</div>
            </section>
          ) : (
            <p className="emoji-picker__none muted small" role="status">
              No emoji match “{query.trim()}”.
            </p>
          )
        ) : (
          EMOJI_CATEGORIES.map((c) => (
            <section key={c.id} data-category={c.id} aria-label={c.label}>
              <h3 className="emoji-picker__heading">{c.label}</h3>
              <div className="emoji-picker__row">{c.emoji.map(button)}</div>
            </section>
          ))
        )}
      </div>
    </div>
  );
}
