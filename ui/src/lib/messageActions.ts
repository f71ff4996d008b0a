//! What can be done to a message from the window, and the words that stand for a message
//! elsewhere (a quote above a reply, the bar above the composer). The engine has the last word
//! (it refuses an edit of someone else's message); this only keeps the window from offering what
//! would be refused.

import type { Message, Quote, Reaction } from "./types";
import { displayName, type ProfileState } from "../state/profileStore";

export interface AvailableActions {
  reply: boolean;
  react: boolean;
  edit: boolean;
  delete: boolean;
  copy: boolean;
  /** Its details: when it was sent, who got it and who saw it (my own texts and files). */
  info: boolean;
}

const NONE: AvailableActions = { reply: false, react: false, edit: false, delete: false, copy: false, info: false };

/**
 * A text or a file can be answered and reacted to; one's own, once it went out (or while it
 * waits to), can be changed or deleted for everyone. One that failed to send exists only here:
 * its text can be copied, nothing more. One's own has its details (who got it and who saw it). A tombstone, a system line or an undecryptable message
 * offers nothing.
 */
export function availableActions(m: Message): AvailableActions {
  if (m.deleted || (m.kind !== "text" && m.kind !== "file")) return NONE;
  const copy = m.body.length > 0;
  if (m.status === "failed") return { ...NONE, copy };
  const info = m.outgoing && m.receipts !== null;
  return { reply: true, react: true, edit: m.outgoing, delete: m.outgoing, copy, info };
}

/** The newest of my messages that Up in an empty composer edits: a text, not deleted or failed. */
export function lastEditable(messages: readonly Message[]): Message | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.outgoing && m.kind === "text" && availableActions(m).edit) return m;
  }
  return undefined;
}

/** A person as the window names them: "You" for oneself, else the name they chose (with
 * `profiles`) or their user id. */
export function personName(userId: string, ownUserId: string, profiles?: ProfileState): string {
  if (userId === ownUserId) return "You";
  return profiles ? displayName(profiles, userId) : userId;
}

/** A message in a line: its text, a file's caption or what it is. */
export function messageLine(m: Message): string {
  if (m.deleted) return "Message deleted";
  if (m.kind === "file" && m.file) return m.body || (m.file.image ? "📷 Photo" : `📎 ${m.file.name}`);
  return m.body;
}

/** What a reply's quote says of the message it answers. */
export function quoteLine(quote: Quote): string {
  if (quote.deleted) return "Message deleted";
  if (quote.id === null) return "The original message is not on this device";
  return quote.body;
}

/** Who gave a reaction, in words ("You, bob and carol"), oneself first. */
export function reactorNames(reaction: Reaction, ownUserId: string, profiles?: ProfileState): string {
  const names = [...reaction.users]
    .sort((a, b) => Number(b === ownUserId) - Number(a === ownUserId))
    .map((u) => personName(u, ownUserId, profiles));
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
