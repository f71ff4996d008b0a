//! People's profiles: the display name and whether there is a picture (and its version), by
//! user id, read at sign-in and kept current by `profile_changed`. Pictures are read on demand
//! (the first time an avatar shows) and cached by version, so a new picture replaces the old one
//! everywhere at once.

import * as ipc from "../lib/tauri";
import { Store } from "../lib/store";
import type { ContactProfile } from "../lib/types";

/** What the UI keeps of someone's profile. */
export interface Person {
  name: string | null;
  /** Whether they have a picture. */
  avatar: boolean;
  /** Changes with the name or the picture. */
  version: number;
}

/** A picture read for a profile version (`url` null: they had none by then). */
export interface Picture {
  version: number;
  url: string | null;
}

export interface ProfileState {
  people: Record<string, Person>;
  pictures: Record<string, Picture>;
  loaded: boolean;
}

export class ProfileStore extends Store<ProfileState> {
  private readonly reading = new Map<string, number>();

  constructor() {
    super({ people: {}, pictures: {}, loaded: false });
  }

  /** Reads every known profile (at sign-in, and again when events may have been missed). */
  async load(): Promise<void> {
    const all = await ipc.getProfiles();
    this.set((s) => {
      const people: Record<string, Person> = { ...s.people };
      for (const profile of all) {
        // A newer one that arrived as an event meanwhile wins.
        const held = people[profile.user_id];
        if (!held || held.version <= profile.version) people[profile.user_id] = person(profile);
      }
      return { ...s, people, loaded: true };
    });
  }

  /** A profile changed (`profile_changed`, or my own just saved). Older versions are ignored. */
  apply(profile: ContactProfile): void {
    this.set((s) => {
      const held = s.people[profile.user_id];
      if (held && held.version > profile.version) return s;
      return { ...s, people: { ...s.people, [profile.user_id]: person(profile) } };
    });
  }

  /** The name `userId` chose, or null. */
  nameOf(userId: string): string | null {
    return this.get().people[userId]?.name ?? null;
  }

  /**
   * Reads `userId`'s picture unless the one held is for their current profile version (or they
   * have none). Concurrent calls for one version share the read.
   */
  async ensurePicture(userId: string): Promise<void> {
    const held = this.get().people[userId];
    if (!held || !held.avatar) return;
    if (this.get().pictures[userId]?.version === held.version) return;
    if (this.reading.get(userId) === held.version) return;
    const version = held.version;
    this.reading.set(userId, version);
    try {
      const url = await ipc.getAvatar(userId);
      this.set((s) => {
        // Stale if the profile moved on while this was read (its own read follows).
        if (s.people[userId]?.version !== version) return s;
        return { ...s, pictures: { ...s.pictures, [userId]: { version, url } } };
      });
    } finally {
      if (this.reading.get(userId) === version) this.reading.delete(userId);
    }
  }
}

function person(profile: ContactProfile): Person {
  return { name: profile.name, avatar: profile.avatar, version: profile.version };
}

/** What `userId` is called: the name they chose, or their user id. */
export function displayName(state: ProfileState, userId: string): string {
  return state.people[userId]?.name ?? userId;
}

/** `userId`'s picture as a URL, if they have one and it has been read for their current version. */
export function pictureOf(state: ProfileState, userId: string): string | null {
  const held = state.people[userId];
  if (!held?.avatar) return null;
  const picture = state.pictures[userId];
  return picture && picture.version === held.version ? picture.url : null;
}
