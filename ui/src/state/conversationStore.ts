//! The conversation list (pinned first, in the order pinned, then most recent first), the open conversation, who is typing where,
//! pending key-change notices per contact, which contacts are verified, and to whom sending is
//! held (a verified contact's identity changed).

import { keyNoticeKind } from "../lib/keyChanges";
import { Store } from "../lib/store";
import type { CommandError, Conversation, ConversationId, KeyChange } from "../lib/types";

/** How long a `typing: true` lasts without a follow-up. */
export const TYPING_TTL_MS = 6000;

export interface KeyNotice {
  deviceId: string;
  change: KeyChange;
  /** The person had marked this contact verified (that no longer holds). */
  wasVerified?: boolean;
}

export interface ConversationState {
  list: Conversation[];
  loaded: boolean;
  loadError: CommandError | null;
  selectedId: ConversationId | null;
  /** conversation id → user id → time (ms) the typing state expires. */
  typing: Record<string, Record<string, number>>;
  /** user id → the latest key change not yet acknowledged. */
  keyNotices: Record<string, KeyNotice>;
  /** user id → how many key changes were seen this session (details refetch when it moves). */
  keyChanges: Record<string, number>;
  /** user id → whether this person marked the current safety number with them verified. */
  verified: Record<string, boolean>;
  /** user id → sending to them is held until the person accepts their new identity. */
  held: Record<string, boolean>;
}

/**
 * Pinned conversations first, in the order they come (the engine lists them in the order they
 * were pinned, and an update replaces a row in place), then the others, most recent first.
 */
export function sortConversations(list: readonly Conversation[]): Conversation[] {
  const pinned = list.filter((c) => c.pinned);
  const rest = list.filter((c) => !c.pinned).sort((a, b) => b.last_ts - a.last_ts || a.title.localeCompare(b.title));
  return [...pinned, ...rest];
}

export class ConversationStore extends Store<ConversationState> {
  constructor() {
    super({
      list: [],
      loaded: false,
      loadError: null,
      selectedId: null,
      typing: {},
      keyNotices: {},
      keyChanges: {},
      verified: {},
      held: {},
    });
  }

  setAll(list: readonly Conversation[]): void {
    this.set((s) => ({ ...s, list: sortConversations(list), loaded: true, loadError: null }));
  }

  setLoadError(loadError: CommandError): void {
    this.set((s) => ({ ...s, loadError }));
  }

  upsert(conversation: Conversation): void {
    this.set((s) => {
      // In place, so a pinned row keeps its place among the pinned (a newly pinned one, after them).
      const known = s.list.some((c) => c.id === conversation.id);
      const list = known ? s.list.map((c) => (c.id === conversation.id ? conversation : c)) : [...s.list, conversation];
      return { ...s, list: sortConversations(list) };
    });
  }

  /** A conversation deleted from this device. */
  remove(id: ConversationId): void {
    this.set((s) => ({
      ...s,
      list: s.list.filter((c) => c.id !== id),
      selectedId: s.selectedId === id ? null : s.selectedId,
    }));
  }

  /** Adds a conversation only if the list doesn't have it yet (a placeholder until the engine's update). */
  addIfMissing(conversation: Conversation): void {
    if (!this.find(conversation.id)) this.upsert(conversation);
  }

  find(id: ConversationId): Conversation | undefined {
    return this.get().list.find((c) => c.id === id);
  }

  select(selectedId: ConversationId | null): void {
    this.set((s) => (s.selectedId === selectedId ? s : { ...s, selectedId }));
  }

  clearUnread(id: ConversationId): void {
    this.set((s) => {
      if (!s.list.some((c) => c.id === id && (c.unread !== 0 || c.marked_unread))) return s;
      return { ...s, list: s.list.map((c) => (c.id === id ? { ...c, unread: 0, marked_unread: false } : c)) };
    });
  }

  setTyping(conversationId: ConversationId, userId: string, typing: boolean, expiresAt: number): void {
    this.set((s) => {
      const current = { ...(s.typing[conversationId] ?? {}) };
      if (typing) current[userId] = expiresAt;
      else if (userId in current) delete current[userId];
      else return s;
      return { ...s, typing: { ...s.typing, [conversationId]: current } };
    });
  }

  /** Drops a typing state unless a newer `typing: true` extended it. */
  expireTyping(conversationId: ConversationId, userId: string, expiresAt: number): void {
    if (this.get().typing[conversationId]?.[userId] !== expiresAt) return;
    this.setTyping(conversationId, userId, false, 0);
  }

  /**
   * A contact's keys changed. Every change makes their details reload; a new safety number
   * (their identity changed) asks to compare again, and a device they haven't confirmed is a
   * warning of its own, until they confirm it. A pending safety-number notice is never replaced
   * by a device warning.
   */
  addKeyNotice(userId: string, notice: KeyNotice): void {
    const kind = keyNoticeKind(notice.change);
    this.set((s) => {
      const current = s.keyNotices[userId];
      const keyNotices = { ...s.keyNotices };
      if (kind === "safety_number") {
        keyNotices[userId] = { ...notice, wasVerified: notice.wasVerified === true || s.verified[userId] === true };
      } else if (kind === "unconfirmed_device") {
        if (!current || keyNoticeKind(current.change) !== "safety_number") keyNotices[userId] = notice;
      } else if (
        (notice.change === "device_confirmed" || notice.change === "device_removed") &&
        current?.change === "unconfirmed_device" &&
        current.deviceId === notice.deviceId
      ) {
        delete keyNotices[userId];
      }
      const newNumber = kind === "safety_number";
      return {
        ...s,
        keyNotices,
        keyChanges: { ...s.keyChanges, [userId]: (s.keyChanges[userId] ?? 0) + 1 },
        verified: newNumber ? { ...s.verified, [userId]: false } : s.verified,
        // What the engine does too: a verified contact's new identity holds sending to them.
        held:
          notice.change === "master_key_changed" && notice.wasVerified === true ? { ...s.held, [userId]: true } : s.held,
      };
    });
  }

  setHeld(userId: string, held: boolean): void {
    this.set((s) => (s.held[userId] === held ? s : { ...s, held: { ...s.held, [userId]: held } }));
  }

  setVerified(userId: string, verified: boolean): void {
    this.set((s) => (s.verified[userId] === verified ? s : { ...s, verified: { ...s.verified, [userId]: verified } }));
  }

  dismissKeyNotice(userId: string): void {
    this.set((s) => {
      if (!(userId in s.keyNotices)) return s;
      const keyNotices = { ...s.keyNotices };
      delete keyNotices[userId];
      return { ...s, keyNotices };
    });
  }
}
