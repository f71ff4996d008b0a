//! Which dialog is open, whether the details panel is shown, the screen-reader announcement,
//! the composer drafts per conversation (kept in memory only), and what the composer is doing
//! besides writing a new message: answering one, or changing one of mine.

import { Store } from "../lib/store";
import type { ConversationId, Message } from "../lib/types";

export type DialogKind = "new-chat" | "new-group" | "settings" | "switcher";

/** The composer answers `message` (a reply) or changes its text (an edit). */
export type ComposeTarget = { kind: "reply"; message: Message } | { kind: "edit"; message: Message };

/**
 * Where "New messages" goes in the open conversation: it had `count` unread messages when it was
 * opened, and the first of them is `messageId` once the list found it. Kept while the
 * conversation stays open, so the line does not move as those messages are marked read.
 */
export interface UnreadMark {
  conversationId: ConversationId;
  count: number;
  messageId: number | null;
}

export interface UiState {
  dialog: DialogKind | null;
  detailsOpen: boolean;
  /** Bumped to ask the search box to take focus. */
  searchFocusRequest: number;
  /** Latest text for the ARIA live region. */
  announcement: string;
  /** Per conversation: the message being answered or edited. */
  compose: Partial<Record<ConversationId, ComposeTarget>>;
  /** Bumped to ask the open conversation's composer to take focus. */
  composerFocusRequest: number;
  unreadMark: UnreadMark | null;
}

export class UiStore extends Store<UiState> {
  /** Composer drafts by conversation id; read when a composer mounts, so not observable. */
  readonly drafts = new Map<string, string>();

  constructor() {
    super({
      dialog: null,
      detailsOpen: false,
      searchFocusRequest: 0,
      announcement: "",
      compose: {},
      composerFocusRequest: 0,
      unreadMark: null,
    });
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

  /** Answer or edit `target.message` in its conversation's composer, which takes focus. */
  compose(target: ComposeTarget): void {
    this.set((s) => ({
      ...s,
      compose: { ...s.compose, [target.message.conversation_id]: target },
      composerFocusRequest: s.composerFocusRequest + 1,
    }));
  }

  /** The composer of `conversationId` goes back to writing a new message. */
  endCompose(conversationId: ConversationId): void {
    this.set((s) => {
      if (!s.compose[conversationId]) return s;
      const { [conversationId]: _, ...rest } = s.compose;
      return { ...s, compose: rest };
    });
  }

  focusComposer(): void {
    this.set((s) => ({ ...s, composerFocusRequest: s.composerFocusRequest + 1 }));
  }

  /** A conversation was opened with `count` unread messages (0: no line). */
  setUnread(conversationId: ConversationId | null, count: number): void {
    const unreadMark = conversationId !== null && count > 0 ? { conversationId, count, messageId: null } : null;
    this.set((s) => (s.unreadMark === null && unreadMark === null ? s : { ...s, unreadMark }));
  }

  /** The list found the first unread message of the open conversation: the line stays above it. */
  placeUnread(conversationId: ConversationId, messageId: number): void {
    this.set((s) =>
      s.unreadMark?.conversationId === conversationId && s.unreadMark.messageId === null
        ? { ...s, unreadMark: { ...s.unreadMark, messageId } }
        : s,
    );
  }
}
