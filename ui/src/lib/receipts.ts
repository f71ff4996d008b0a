//! How far one of my messages got, from its status and its receipts (the engine's): waiting to
//! go out, on the server, on the recipients' devices, seen. One to one, that is the peer's
//! receipt; in a group, a step counts once every other member reached it (who read it so far
//! is in the message's details). A failed send stays failed.

import { directUserOf } from "./ids";
import type { Message } from "./types";

export type Delivery = "queued" | "sent" | "delivered" | "read" | "failed";

/** The step a message of mine reached; null for others' messages and system lines. */
export function deliveryOf(m: Message): Delivery | null {
  if (!m.outgoing) return null;
  if (m.status === "queued" || m.status === "failed") return m.status;
  if (m.status !== "sent") return null;
  const r = m.receipts;
  if (!r) return "sent";
  const peer = directUserOf(m.conversation_id);
  if (peer !== null) {
    if (r.read.includes(peer)) return "read";
    return r.delivered.includes(peer) ? "delivered" : "sent";
  }
  // A group: everyone now in it besides me. Alone in it, nobody is waiting for it.
  if (r.recipients === 0) return "sent";
  if (r.read.length >= r.recipients) return "read";
  return r.delivered.length >= r.recipients ? "delivered" : "sent";
}

/** The step in a word (the icon's accessible name). */
export const DELIVERY_LABEL: Record<Delivery, string> = {
  queued: "Sending",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  failed: "Not sent",
};

/** The step in a sentence for the icon's tooltip; in a group, how many got or saw it so far. */
export function deliveryTitle(m: Message, delivery: Delivery): string {
  const r = m.receipts;
  const group = directUserOf(m.conversation_id) === null;
  if (!group || !r || r.recipients === 0) {
    if (delivery === "queued") return "Sending — it goes out when Sotto is online";
    if (delivery === "sent") return "Sent — not delivered yet";
    if (delivery === "failed") return "Not sent";
    return DELIVERY_LABEL[delivery];
  }
  const of = `of ${r.recipients}`;
  switch (delivery) {
    case "queued":
      return "Sending — it goes out when Sotto is online";
    case "sent":
      return `Sent — delivered to ${Math.min(r.delivered.length, r.recipients)} ${of}`;
    case "delivered":
      return r.read.length > 0
        ? `Delivered to everyone — read by ${Math.min(r.read.length, r.recipients)} ${of}`
        : "Delivered to everyone";
    case "read":
      return "Read by everyone";
    case "failed":
      return "Not sent";
  }
}

/** Who of a group got and saw a message of mine, for its details. */
export interface GroupReceipts {
  read: string[];
  /** Delivered and not (yet) read. */
  delivered: string[];
  /** Members it has not reached yet; null when the members are not known here. */
  waiting: string[] | null;
  /** The members it went to (the engine's count). */
  recipients: number;
}

/**
 * Splits a group message's receipts into read, delivered only, and not yet (the members, but me,
 * with no receipt; `members` null when the group is not loaded).
 */
export function groupReceipts(m: Message, members: readonly string[] | null, ownUserId: string): GroupReceipts {
  const r = m.receipts ?? { recipients: 0, delivered: [], read: [] };
  const read = new Set(r.read);
  const delivered = r.delivered.filter((u) => !read.has(u));
  const reached = new Set([...r.delivered, ...r.read]);
  const waiting = members === null ? null : members.filter((u) => u !== ownUserId && !reached.has(u));
  return { read: r.read, delivered, waiting, recipients: r.recipients };
}
