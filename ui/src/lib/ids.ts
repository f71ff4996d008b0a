//! Conversation and user id helpers shared by the dialogs and views.

/** "u:<user>" or "g:<group id>". */
export function groupConversationId(groupId: string): string {
  return `g:${groupId}`;
}

export function directConversationId(userId: string): string {
  return `u:${userId}`;
}

/** The group id of a group conversation, or null for a direct one. */
export function groupIdOf(conversationId: string): string | null {
  return conversationId.startsWith("g:") ? conversationId.slice(2) : null;
}

/** The other user of a direct conversation, or null for a group. */
export function directUserOf(conversationId: string): string | null {
  return conversationId.startsWith("u:") ? conversationId.slice(2) : null;
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
