//! Keyboard helpers: Ctrl on Linux/Windows and Cmd on macOS are the same "mod" key.

export function isMod(e: { ctrlKey: boolean; metaKey: boolean }): boolean {
  return e.ctrlKey || e.metaKey;
}

/** Ctrl+Q, or Cmd+Q on macOS: quit Sotto. */
export function isQuitShortcut(e: { ctrlKey: boolean; metaKey: boolean; altKey: boolean; shiftKey: boolean; key: string }): boolean {
  return isMod(e) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "q";
}

/** Whether Sotto runs on macOS (its conventions differ: the Dock, Cmd). */
export function isMac(): boolean {
  return /Mac|iPhone|iPad/u.test(navigator.userAgent);
}

/** Elements that can take keyboard focus, in DOM order. */
export function focusableIn(root: HTMLElement): HTMLElement[] {
  const selector =
    'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  return Array.from(root.querySelectorAll<HTMLElement>(selector)).filter((el) => !el.hidden);
}

/** How the "mod" key is labelled on this platform. */
export function modKeyLabel(): string {
  return isMac() ? "⌘" : "Ctrl";
}
