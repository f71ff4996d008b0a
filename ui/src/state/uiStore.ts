//! Which dialog is open, whether the details panel is shown, the screen-reader announcement,
//! and the composer drafts per conversation (kept in memory only).

import { Store } from "../lib/store";

export type DialogKind = "new-chat" | "new-group" | "settings" | "switcher";

export interface UiState {
  dialog: DialogKind | null;
  detailsOpen: boolean;
  /** Bumped to ask the search box to take focus. */
  searchFocusRequest: number;
  /** Latest text for the ARIA live region. */
  announcement: string;
}

export class UiStore extends Store<UiState> {
  /** Composer drafts by conversation id; read when a composer mounts, so not observable. */
  readonly drafts = new Map<string, string>();

  constructor() {
    super({ dialog: null, detailsOpen: false, searchFocusRequest: 0, announcement: "" });
  }

  openDialog(dialog: DialogKind): void {
    this.set((s) => ({ ...s, dialog }));
  }

  closeDialog(): void {
    this.set((s) => (s.dialog === null ? s : { ...s, dialog: null }));
  }

  setDetailsOpen(detailsOpen: boolean): void {
    this.set((s) => (s.detailsOpen === detailsOpen ? s : { ...s, detailsOpen }));
  }

  focusSearch(): void {
    this.set((s) => ({ ...s, searchFocusRequest: s.searchFocusRequest + 1 }));
  }

  announce(announcement: string): void {
    this.set((s) => ({ ...s, announcement }));
  }
}
