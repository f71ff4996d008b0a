//! The loaded window of messages per conversation (oldest first, unique by id) and its paging
//! state. A window normally ends at the newest message and grows upwards; after a jump to a
//! search hit it may end earlier (`hasNewer`), and then live messages are not appended — they
//! arrive through `loadNewer` instead, so the window never has a gap.

import * as ipc from "../lib/tauri";
import { asCommandError } from "../lib/errors";
import { compareMessages, mergeMessages } from "../lib/messageRows";
import { Store } from "../lib/store";
import type { CommandError, ConversationId, Message } from "../lib/types";

export const PAGE_SIZE = 50;
/** The most messages one read returns (the engine's limit). */
const MAX_PAGE = 1000;
const JUMP_HALF_PAGE = 25;
export const HIGHLIGHT_MS = 4000;
/** How long the message a quote leads to stays highlighted. */
export const REVEAL_HIGHLIGHT_MS = 2000;

export interface MessageWindow {
  messages: Message[];
  hasOlder: boolean;
  hasNewer: boolean;
  loading: "initial" | "older" | "newer" | null;
  error: CommandError | null;
  /** Bumped whenever the window is replaced (a jump), so the list view starts over. */
  generation: number;
  /** Message id to scroll to and highlight after a jump. */
  highlightId: number | null;
  /** What added the newest messages last: a live message (follow it) or a page (don't). */
  lastAppend: "live" | "page";
  /**
   * A message a quote asked to be shown: scrolled to (when it was in the window already,
   * `scroll`) and given focus by the list. A new `seq` for each request.
   */
  reveal: { id: number; seq: number; scroll: boolean } | null;
}

export type MessageState = Record<string, MessageWindow>;

const EMPTY_WINDOW: MessageWindow = {
  messages: [],
  hasOlder: false,
  hasNewer: false,
  loading: null,
  error: null,
  generation: 0,
  highlightId: null,
  lastAppend: "live",
  reveal: null,
};

/** How many event-delivered message versions to remember for late command results. */
const EVENT_MEMORY = 200;

/** The start of a quoted text the engine gives (`QUOTE_CHARS` in the engine). */
const QUOTE_CHARS = 200;

/**
 * The quote of `original` as the engine makes it: its text (a file's caption, or its name),
 * cut to its start, or that it was deleted.
 */
export function quoteOf(original: Message): Pick<NonNullable<Message["reply_to"]>, "id" | "body" | "deleted"> {
  const text = original.body.trim() === "" ? (original.file?.name ?? "") : original.body;
  return { id: original.id, body: [...text].slice(0, QUOTE_CHARS).join(""), deleted: original.deleted };
}

export class MessageStore extends Store<MessageState> {
  /** Counts status events; a command result older than an event for its message loses. */
  private eventSeq = 0;
  private readonly lastEvent = new Map<number, { seq: number; message: Message }>();
  private revealSeq = 0;

  constructor() {
    super({});
  }

  /** Marks the moment a command (send/retry) is issued; pass it to `applyResult`. */
  mark(): number {
    return this.eventSeq;
  }

  /**
   * A message returned by send_message/retry_message. Its `status_changed` can overtake the
   * reply, so if an event for it arrived after `since`, the event's version is kept instead.
   */
  applyResult(message: Message, since: number): void {
    const seen = this.lastEvent.get(message.id);
    const latest = seen && seen.seq > since ? seen.message : message;
    const loaded = this.get()[latest.conversation_id]?.messages.some((m) => m.id === latest.id);
    if (loaded) this.replace(latest);
    else this.add(latest);
  }

  private update(conversationId: ConversationId, change: (w: MessageWindow) => MessageWindow): void {
    this.set((s) => {
      const current = s[conversationId];
      if (!current) return s;
      const next = change(current);
      return next === current ? s : { ...s, [conversationId]: next };
    });
  }

  /** Loads the newest page unless the conversation already has a window (or one is loading). */
  async ensureLoaded(conversationId: ConversationId): Promise<void> {
    const existing = this.get()[conversationId];
    if (existing && existing.error === null) return;
    this.set((s) => ({
      ...s,
      [conversationId]: { ...(existing ?? EMPTY_WINDOW), loading: "initial", error: null },
    }));
    try {
      const page = await ipc.loadMessages(conversationId, null, PAGE_SIZE);
      this.update(conversationId, (w) => ({
        ...w,
        // Messages that arrived while the page loaded are already in `w.messages`.
        messages: mergeMessages(w.messages, page),
        hasOlder: page.length >= PAGE_SIZE,
        loading: null,
      }));
    } catch (error) {
      this.update(conversationId, (w) => ({ ...w, loading: null, error: asCommandError(error) }));
    }
  }

  async loadOlder(conversationId: ConversationId): Promise<void> {
    const w = this.get()[conversationId];
    const oldest = w?.messages[0];
    if (!w || !oldest || !w.hasOlder || w.loading) return;
    this.update(conversationId, (cur) => ({ ...cur, loading: "older" }));
    try {
      const page = await ipc.loadMessages(conversationId, oldest.id, PAGE_SIZE);
      this.update(conversationId, (cur) => ({
        ...cur,
        messages: mergeMessages(cur.messages, page),
        hasOlder: page.length >= PAGE_SIZE,
        loading: null,
      }));
    } catch (error) {
      this.update(conversationId, (cur) => ({ ...cur, loading: null, error: asCommandError(error) }));
    }
  }

  async loadNewer(conversationId: ConversationId): Promise<void> {
    const w = this.get()[conversationId];
    const newest = w?.messages[w.messages.length - 1];
    if (!w || !newest || !w.hasNewer || w.loading) return;
    this.update(conversationId, (cur) => ({ ...cur, loading: "newer" }));
    try {
      const page = await ipc.loadMessagesAfter(conversationId, newest.id, PAGE_SIZE);
      this.update(conversationId, (cur) => ({
        ...cur,
        messages: mergeMessages(cur.messages, page),
        hasNewer: page.length >= PAGE_SIZE,
        loading: null,
        lastAppend: "page",
      }));
    } catch (error) {
      this.update(conversationId, (cur) => ({ ...cur, loading: null, error: asCommandError(error) }));
    }
  }

  /** Replaces the window with pages around `hit` and highlights it for a few seconds. */
  async jumpTo(hit: Message): Promise<void> {
    const conversationId = hit.conversation_id;
    this.startJump(conversationId);
    try {
      const [before, after] = await Promise.all([
        ipc.loadMessages(conversationId, hit.id, JUMP_HALF_PAGE),
        ipc.loadMessagesAfter(conversationId, hit.id, JUMP_HALF_PAGE),
      ]);
      this.showAround(conversationId, before, [hit, ...after], hit.id, null);
      setTimeout(() => this.clearHighlight(conversationId, hit.id), HIGHLIGHT_MS);
    } catch (error) {
      this.update(conversationId, (cur) => ({ ...cur, loading: null, error: asCommandError(error) }));
    }
  }

  /**
   * Shows the message `id` of the conversation (the one a reply quotes) and highlights it
   * briefly: scrolled to when it is in the window, else the window is replaced with pages around
   * it. False when the conversation has no such message (it is not on this device).
   */
  async reveal(conversationId: ConversationId, id: number): Promise<boolean> {
    const seq = ++this.revealSeq;
    const w = this.get()[conversationId];
    if (w?.messages.some((m) => m.id === id)) {
      this.update(conversationId, (cur) => ({ ...cur, highlightId: id, reveal: { id, seq, scroll: true } }));
    } else {
      // The messages before it, then from it on: the second page starts with it if it is here.
      const before = await ipc.loadMessages(conversationId, id, JUMP_HALF_PAGE);
      const from = await ipc.loadMessagesAfter(conversationId, before[before.length - 1]?.id ?? 0, JUMP_HALF_PAGE + 1);
      if (from[0]?.id !== id) return false;
      this.startJump(conversationId);
      this.showAround(conversationId, before, from, id, { id, seq, scroll: false });
    }
    setTimeout(() => this.clearHighlight(conversationId, id), REVEAL_HIGHLIGHT_MS);
    return true;
  }

  private startJump(conversationId: ConversationId): void {
    const previous = this.get()[conversationId];
    this.set((s) => ({
      ...s,
      [conversationId]: { ...(previous ?? EMPTY_WINDOW), loading: "initial", error: null },
    }));
  }

  /** A new window: `before`, then `from` (which starts with the highlighted message). */
  private showAround(
    conversationId: ConversationId,
    before: Message[],
    from: Message[],
    highlightId: number,
    reveal: MessageWindow["reveal"],
  ): void {
    this.set((s) => ({
      ...s,
      [conversationId]: {
        messages: mergeMessages(before, from),
        hasOlder: before.length >= JUMP_HALF_PAGE,
        hasNewer: from.length > JUMP_HALF_PAGE,
        loading: null,
        error: null,
        generation: (s[conversationId]?.generation ?? 0) + 1,
        highlightId,
        lastAppend: "page",
        reveal,
      },
    }));
  }

  clearHighlight(conversationId: ConversationId, id: number): void {
    this.update(conversationId, (w) => (w.highlightId === id ? { ...w, highlightId: null, reveal: null } : w));
  }

  /** A new message (received, or our own just queued): appended if the window reaches the end. */
  add(message: Message): void {
    this.update(message.conversation_id, (w) =>
      w.hasNewer ? w : { ...w, messages: mergeMessages(w.messages, [message]), lastAppend: "live" },
    );
    // A late original: the replies to it that are shown quote it now.
    this.requote(message);
  }

  /**
   * Reads every loaded message again (their receipts show differently once read receipts are
   * turned on or off), replacing them in place; the windows keep their extent and place. A
   * message with a newer event than the read keeps the event's version.
   */
  async refreshLoaded(): Promise<void> {
    const since = this.mark();
    await Promise.all(
      (Object.entries(this.get()) as [ConversationId, MessageWindow][]).map(async ([conversationId, w]) => {
        const last = w.messages[w.messages.length - 1];
        if (!last) return;
        // The messages before the newest loaded one, then that one (the page after them).
        const before = await ipc.loadMessages(conversationId, last.id, Math.min(w.messages.length, MAX_PAGE));
        const tail = await ipc.loadMessagesAfter(conversationId, before[before.length - 1]?.id ?? 0, 1);
        const fresh = new Map<number, Message>();
        for (const m of [...before, ...tail]) {
          const seen = this.lastEvent.get(m.id);
          if (!seen || seen.seq <= since) fresh.set(m.id, m);
        }
        this.update(conversationId, (cur) =>
          cur.messages.some((m) => fresh.has(m.id))
            ? { ...cur, messages: cur.messages.map((m) => fresh.get(m.id) ?? m) }
            : cur,
        );
      }),
    );
  }

  /** A `status_changed` event: remembered (see `applyResult`) and replaced in place. */
  changed(message: Message): void {
    this.eventSeq += 1;
    this.lastEvent.delete(message.id);
    this.lastEvent.set(message.id, { seq: this.eventSeq, message });
    if (this.lastEvent.size > EVENT_MEMORY) {
      const oldest = this.lastEvent.keys().next();
      if (!oldest.done) this.lastEvent.delete(oldest.value);
    }
    this.replace(message);
  }

  /** A `message_removed` event: a "not decrypted yet" placeholder that turned out to be no message. */
  removed(conversationId: ConversationId, id: number): void {
    this.update(conversationId, (w) =>
      w.messages.some((m) => m.id === id) ? { ...w, messages: w.messages.filter((m) => m.id !== id) } : w,
    );
  }

  /**
   * A message changed (sent/failed, or became readable): replaced if loaded, and moved if its
   * place changed (the server's time replaces the time it was written).
   */
  replace(message: Message): void {
    this.requote(message);
    this.update(message.conversation_id, (w) => {
      const i = w.messages.findIndex((m) => m.id === message.id);
      if (i < 0) return w;
      const messages = [...w.messages];
      messages[i] = message;
      const inPlace =
        (i === 0 || compareMessages(messages[i - 1] as Message, message) < 0) &&
        (i === messages.length - 1 || compareMessages(message, messages[i + 1] as Message) < 0);
      return { ...w, messages: inPlace ? messages : messages.sort(compareMessages) };
    });
  }

  /**
   * `original` changed (edited, deleted) or arrived late: every loaded reply to it shows its
   * quote as it is now — also when the original itself is not in the loaded window.
   */
  private requote(original: Message): void {
    if (original.kind !== "text" && original.kind !== "file") return;
    const quote = quoteOf(original);
    this.update(original.conversation_id, (w) => {
      let changed = false;
      const messages = w.messages.map((m) => {
        const q = m.reply_to;
        if (!q || q.sender_user !== original.sender_user || q.message_id !== original.message_id) return m;
        if (q.id === quote.id && q.body === quote.body && q.deleted === quote.deleted) return m;
        changed = true;
        return { ...m, reply_to: { ...q, ...quote } };
      });
      return changed ? { ...w, messages } : w;
    });
  }
}
