//! A contact's key changes in plain words: the system line in their conversations, and whether
//! (and how) the open chat asks the person to act. Safety numbers come from the two users'
//! identity keys, so only a change of identity changes one; a device the user has not confirmed
//! is a warning of its own (it gets nothing, but someone may be trying to read along).

import type { KeyChange, Message } from "./types";

const KEY_CHANGES: Record<KeyChange, true> = {
  new_device: true,
  identity_changed: true,
  device_removed: true,
  unconfirmed_device: true,
  device_confirmed: true,
  master_key_changed: true,
  identity_set_up: true,
};

export function isKeyChange(reason: string | null): reason is KeyChange {
  return reason !== null && Object.hasOwn(KEY_CHANGES, reason);
}

/** The line shown in a conversation for a key change of `user` (device id when there is one). */
export function keyChangeLine(change: KeyChange, user: string, device: string | null): string {
  const which = device ? ` (${device})` : "";
  switch (change) {
    case "new_device":
      return `${user} signed in on a new device${which} and confirmed it.`;
    case "identity_changed":
      return `One of ${user}'s devices${which} has new keys. ${user} confirmed them.`;
    case "device_removed":
      return `One of ${user}'s devices${which} was signed out.`;
    case "unconfirmed_device":
      return `${user}'s account has a device${which} that ${user} hasn't confirmed. It gets none of your messages unless ${user} confirms it.`;
    case "device_confirmed":
      return `${user} confirmed their device${which}.`;
    case "master_key_changed":
      return `${user}'s safety number changed: they may have started over, or someone may be pretending to be them.`;
    case "identity_set_up":
      return `${user}'s safety number changed: their app now confirms their devices with an identity key.`;
  }
}

/** The words of a system line: the UI's own for key changes, the engine's text otherwise. */
export function systemLineText(m: Message): string {
  if (isKeyChange(m.reason)) return keyChangeLine(m.reason, m.sender_user, m.sender_device);
  return m.body;
}

/** What a key change asks of the person in the contact's chat: compare again, look at a device, or nothing. */
export type KeyNoticeKind = "safety_number" | "unconfirmed_device" | null;

export function keyNoticeKind(change: KeyChange): KeyNoticeKind {
  switch (change) {
    case "master_key_changed":
    case "identity_set_up":
      return "safety_number";
    case "unconfirmed_device":
      return "unconfirmed_device";
    case "new_device":
    case "identity_changed":
    case "device_removed":
    case "device_confirmed":
      // The user confirmed (or removed) it themselves; the system line is enough.
      return null;
  }
}

/** The second line of a "safety number changed" notice: why it may have changed. */
export function safetyNumberReason(change: KeyChange): string {
  return change === "identity_set_up"
    ? "Their app now confirms their devices with an identity key, so the number is new. Compare it once to be sure."
    : "They may have started over on a new device — or someone may be pretending to be them.";
}
