//! How people and conversations are named: the name a person chose (else their user id), and
//! "Note to self" for the conversation with one's own user id.

import type { Conversation } from "./types";
import { displayName, type ProfileState } from "../state/profileStore";

export const NOTE_TO_SELF = "Note to self";

/** Whether `c` is the conversation with my own user id (my other devices, or this one alone). */
export function isNoteToSelf(c: Pick<Conversation, "kind" | "peer">, ownUserId: string): boolean {
  return c.kind === "direct" && ownUserId !== "" && c.peer === ownUserId;
}

/** The title a conversation shows: a group's name, the person's chosen name, or Note to self. */
export function conversationTitle(c: Conversation, ownUserId: string, profiles: ProfileState): string {
  if (c.kind !== "direct") return c.title;
  if (isNoteToSelf(c, ownUserId)) return NOTE_TO_SELF;
  return profiles.people[c.peer]?.name ?? c.title;
}

/** A person as a message line names them: "You" for me, else their name or user id. */
export function personLabel(userId: string, ownUserId: string, profiles: ProfileState): string {
  return userId === ownUserId ? "You" : displayName(profiles, userId);
}
