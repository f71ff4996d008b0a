//! Keyboard helpers: Ctrl on Linux/Windows and Cmd on macOS are the same "mod" key.

export function isMod(e: { ctrlKey: boolean; metaKey: boolean }): boolean {
  return e.ctrlKey || e.metaKey;
}

/** Elements that can take keyboard focus, in DOM order. */
export function focusableIn(root: HTMLElement): HTMLElement[] {
  const selector =
    'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  return Array.from(root.querySelectorAll<HTMLElement>(selector)).filter((el) => !el.hidden);
}

/** How the "mod" key is labelled on this platform. */
export function modKeyLabel(): string {
  return /Mac|iPhone|iPad/u.test(navigator.userAgent) ? "⌘" : "Ctrl";
}
