//! Test data builders. The fixed clock is Wednesday 18 March 2026, 15:30 UTC (tests run in UTC).

import { directConversationId, groupConversationId } from "../lib/ids";
import type { AppStatus, ContactProfile, Conversation, Message } from "../lib/types";
import type { Clock } from "../lib/time";

export const NOW = Date.UTC(2026, 2, 18, 15, 30);
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export const testClock: Clock = { now: () => NOW, locale: "en-GB" };

export function readyStatus(): AppStatus {
  return {
    phase: "ready",
    account: { user_id: "alice", device_id: "DEVALICE", server: "https://chat.example.org", server_certificate: null },
    locked: null,
    local_server: null,
    connection: "online",
  };
}

export function welcomeStatus(): AppStatus {
  return { ...readyStatus(), phase: "welcome", account: null };
}

let nextId = 1000;

export function message(partial: Partial<Message> = {}): Message {
  const id = partial.id ?? nextId++;
  const outgoing = partial.outgoing ?? false;
  const kind = partial.kind ?? "text";
  return {
    id,
    conversation_id: "u:bob",
    message_id: `msg-${id}`,
    sender_user: outgoing ? "alice" : "bob",
    sender_device: "DEV",
    kind,
    body: `message ${id}`,
    status: outgoing ? "sent" : "received",
    reason: null,
    outgoing,
    ts: NOW - HOUR,
    server_ts: null,
    file: null,
    reply_to: null,
    reactions: [],
    edited: false,
    deleted: false,
    // As the engine gives them: my own texts and files have receipts (none yet), others' don't.
    receipts: outgoing && (kind === "text" || kind === "file") ? { recipients: 1, delivered: [], read: [] } : null,
    ...partial,
  };
}

export function conversation(partial: Partial<Conversation> = {}): Conversation {
  const peer = partial.peer ?? "bob";
  const kind = partial.kind ?? "direct";
  return {
    id: kind === "group" ? groupConversationId(peer) : directConversationId(peer),
    kind,
    peer,
    title: peer,
    last_ts: NOW - HOUR,
    last_preview: "hi",
    unread: 0,
    muted_until: null,
    archived: false,
    pinned: false,
    marked_unread: false,
    draft: "",
    disappear_secs: null,
    ...partial,
  };
}

/** A profile as `get_profiles` and `profile_changed` give it. */
export function profile(partial: Partial<ContactProfile> = {}): ContactProfile {
  return { user_id: "bob", name: null, avatar: false, version: 1, ...partial };
}

/** A picture as `get_avatar` gives it (the smallest JPEG header is enough for jsdom). */
export const PICTURE_URL = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==";
