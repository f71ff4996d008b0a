//! React access to people's names and pictures (the session's profile store).

import { useCallback, useEffect } from "react";
import { useStore } from "../lib/store";
import { conversationTitle } from "../lib/people";
import type { Conversation } from "../lib/types";
import { useSession } from "./context";
import { displayName, pictureOf, type ProfileState } from "./profileStore";

/** The name `userId` chose, or their user id. */
export function useDisplayName(userId: string): string {
  const session = useSession();
  return useStore(session.profiles, useCallback((s: ProfileState) => displayName(s, userId), [userId]));
}

/** The whole profile state (for lists that name many people). */
export function useProfiles(): ProfileState {
  return useStore(useSession().profiles, selectAll);
}

const selectAll = (s: ProfileState) => s;

/** `userId`'s picture URL, read on first use (null while reading, or when there is none). */
export function usePicture(userId: string): string | null {
  const session = useSession();
  const version = useStore(
    session.profiles,
    useCallback((s: ProfileState) => (s.people[userId]?.avatar ? s.people[userId].version : 0), [userId]),
  );
  const url = useStore(session.profiles, useCallback((s: ProfileState) => pictureOf(s, userId), [userId]));
  useEffect(() => {
    if (version > 0) void session.profiles.ensurePicture(userId).catch(() => undefined);
  }, [session, userId, version]);
  return url;
}

/** The title `c` shows (see `conversationTitle`). */
export function useConversationTitle(c: Conversation): string {
  const session = useSession();
  const own = session.ownUserId;
  return useStore(session.profiles, useCallback((s: ProfileState) => conversationTitle(c, own, s), [c, own]));
}
