//! Conversation and user id helpers shared by the dialogs and views. The only place that knows
//! how a `ConversationId` is spelled (`u:<user id>` or `g:<group id>`, from the Rust side's
//! `ConversationId`); everything else builds and reads them through these functions.

import type { ConversationId } from "./types";

const DIRECT = "u:";
const GROUP = "g:";

export function groupConversationId(groupId: string): ConversationId {
  return `${GROUP}${groupId}`;
}

/** What a conversation this device has done nothing with yet has for its controls (the engine's defaults). */
export const UNTOUCHED = {
  muted_until: null,
  archived: false,
  pinned: false,
  marked_unread: false,
  draft: "",
  disappear_secs: null,
} as const;

export function directConversationId(userId: string): ConversationId {
  return `${DIRECT}${userId}`;
}

/** The group id of a group conversation, or null for a direct one. */
export function groupIdOf(conversationId: ConversationId): string | null {
  return conversationId.startsWith(GROUP) ? conversationId.slice(GROUP.length) : null;
}

/** The other user of a direct conversation, or null for a group. */
export function directUserOf(conversationId: ConversationId): string | null {
  return conversationId.startsWith(DIRECT) ? conversationId.slice(DIRECT.length) : null;
}

/** Text that should be a conversation id (such as a row's `data-conversation-id`), checked by
 * the same rules as the Rust side's `ConversationId::parse`; null when it is not one. */
export function parseConversationId(text: string): ConversationId | null {
  if (text.startsWith(DIRECT)) {
    const user = text.slice(DIRECT.length);
    return isValidUserId(user) ? directConversationId(user) : null;
  }
  if (text.startsWith(GROUP)) {
    const group = text.slice(GROUP.length);
    return /^[A-Za-z0-9_-]{1,64}$/u.test(group) ? groupConversationId(group) : null;
  }
  return null;
}

/** User ids typed into one field, separated by commas and/or whitespace; duplicates dropped. */
export function parseUserIds(text: string): string[] {
  const ids = text
    .split(/[\s,]+/u)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return Array.from(new Set(ids));
}

/** The server's rule for user ids (see bindings/UserId.ts): 3 to 64 characters of a-z, 0-9,
 * '.', '_' or '-', starting with a letter or digit. */
export function isValidUserId(id: string): boolean {
  return /^[a-z0-9][a-z0-9._-]{2,63}$/u.test(id);
}

export const USER_ID_RULE = "3 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit";
