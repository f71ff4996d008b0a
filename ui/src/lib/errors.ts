//! Error codes and reason codes to plain words. The UI branches on `code`, never on the
//! Rust-side `message`; the code itself is shown only in a muted "Details" line.

import type { CommandError, ErrorCode, MessageReason } from "./types";

/** Whatever a rejected invoke threw, as a `CommandError`; a code this build doesn't know is `unknown`. */
export function asCommandError(error: unknown): CommandError {
  if (typeof error === "object" && error !== null) {
    const { code, message, fingerprint, trusted_fingerprint } = error as {
      code?: unknown;
      message?: unknown;
      fingerprint?: unknown;
      trusted_fingerprint?: unknown;
    };
    if (typeof code === "string") {
      const known: CommandError = {
        code: isErrorCode(code) ? code : "unknown",
        message: typeof message === "string" ? message : "",
      };
      if (typeof fingerprint === "string") known.fingerprint = fingerprint;
      if (typeof trusted_fingerprint === "string") known.trusted_fingerprint = trusted_fingerprint;
      return known;
    }
    if (error instanceof Error) return { code: "unknown", message: error.message };
  }
  return { code: "unknown", message: typeof error === "string" ? error : "" };
}

/** What a sentence may need to name: the user id or URL the person typed. */
export interface ErrorContext {
  userId?: string;
  url?: string;
}

export const OFFLINE_TEXT = "Couldn't reach the server. Messages will be sent when you're back online.";

const GENERIC_TEXT =
  "Something went wrong. Try again; if it keeps happening, the details below help with a bug report.";

/**
 * Every error code, each as a sentence that says what happens next. A `Record` over the generated
 * `ErrorCode` union: a code added on the Rust side fails the type check until it has words here.
 */
const ERROR_TEXT: Record<ErrorCode, (ctx: ErrorContext) => string> = {
  offline: () => OFFLINE_TEXT,
  signed_out: () => "This device was signed out. Sign in again to keep using Sotto here.",
  cancelled: () => "Stopped before it finished. Nothing was changed.",
  backup_passphrase: () => "That passphrase doesn't open this backup. Use the passphrase you chose when you made it.",
  not_a_backup: () => "That file isn't a Sotto backup. Choose the file Sotto saved when you made the backup.",
  backup_damaged: () =>
    "This backup file is damaged or incomplete, so nothing was restored. Try another copy of the file.",
  backup_too_new: () => "This backup was made by a newer version of Sotto. Update Sotto, then restore it.",
  recovery_key_invalid: () =>
    "That isn't a valid recovery key. Check it for typos; spaces don't matter. Nothing was changed.",
  wrong_recovery_key: () =>
    "That recovery key or passphrase doesn't open your key backup. Use the one from when you turned key backup on.",
  no_key_backup: () => "Your account has no key backup yet. Turn it on from a device that has your messages.",
  key_backup_exists: () =>
    "Your account already has a key backup made with another recovery key. Restore it with that key, or replace it.",
  key_backup_replaced: () =>
    "Your key backup was replaced from another device, so this device stopped backing up keys. Restore with the new recovery key.",
  key_backup_not_enabled: () => "Key backup isn't turned on for this device.",
  key_backup_damaged: () => "Your key backup on the server is damaged, so nothing was restored.",
  key_backup_too_new: () => "Your key backup was made by a newer version of Sotto. Update Sotto, then restore it.",
  key_backup_too_large: () =>
    "Your key backup has grown larger than the server allows, so new keys aren't being backed up. Ask whoever runs the server.",
  file_exists: () => "A file with that name already exists, and Sotto never overwrites files. Choose another name.",
  target_exists: () =>
    "That folder already exists and isn't empty, and Sotto never writes over files. Choose a new or empty folder.",
  unknown_conversation: () => "That conversation isn't on this computer (any more). Refresh the list and try again.",
  storage: () =>
    "Sotto couldn't read or write its data on this computer. Check that the disk isn't full, then try again.",
  corrupt: () =>
    "Some of Sotto's data on this computer is damaged. Nothing was deleted; restart Sotto and try again.",
  internal: () => "The server had a problem. Try again in a moment.",
  rate_limited: () => "Too many tries in a short time. Wait a minute, then try again.",
  server_busy: () => "The server is very busy right now. Try again in a few seconds.",
  unauthorized: () => "The server didn't accept this device any more. Sign in again to continue.",
  not_admin: () => "Only the group's admins can do that. Ask an admin of the group.",
  not_member: () => "You're not a member of this group any more, so you can't send or change anything here.",
  not_invited: () => "That invitation isn't open any more: it was withdrawn, or already answered.",
  invitation_required: () =>
    "Some of them haven't written to you yet, so they can only be invited. They join when they accept.",
  no_devices: (ctx) =>
    ctx.userId
      ? `${ctx.userId} has no devices signed in, so there is nowhere to deliver this. It can be sent once they sign in.`
      : "They have no devices signed in, so there is nowhere to deliver this. It can be sent once they sign in.",
  invalid_url: () => "That doesn't look like a web address. Try something like https://chat.example.org.",
  not_sotto: () =>
    "That address answers, but it isn't a Sotto server. Check the address with whoever runs the server.",
  other_installation: () =>
    "That address is a different Sotto server: it doesn't know this device. Nothing was changed; check the new address with whoever runs your server.",
  blob_too_large: () => "That file is larger than the server takes. Send a smaller one.",
  quota_exceeded: () =>
    "Your files on the server take up all the space you're allowed. Older ones expire after a while; you can also ask whoever runs the server.",
  upload_incomplete: () => "The file didn't finish uploading. Send it again.",
  insufficient_storage: () => "The server's disk is full, so nothing was sent. Try again later, or tell whoever runs the server.",
  file_damaged: () =>
    "That file was changed or cut short on its way, so Sotto didn't save it. Ask the sender to send it again.",
  update_refused: () =>
    "That update isn't signed with Sotto's release key (or doesn't match the version announced), so it wasn't installed. Nothing changed.",
  update_failed: () => "Sotto couldn't check for or install the update. Nothing changed; try again later.",
  untrusted_certificate: () =>
    "No authority your computer trusts vouches for this server's certificate. If someone runs it on their own computer, compare its fingerprint with theirs before you trust it.",
  certificate_changed: () =>
    "This server now shows a different certificate from the one you trusted, so Sotto stopped connecting. Ask whoever runs it whether they replaced it; if not, someone may be intercepting the connection.",
  invalid_certificate: () =>
    "The server's certificate isn't valid (it may have expired, or be for another address), so Sotto didn't connect. Check this computer's date and time, or ask whoever runs the server.",
  user_exists: () => "That user id is already taken on this server. Pick another, or sign in if it's yours.",
  invalid_credentials: () => "That user id and password don't match. Check them and try again.",
  no_password: () =>
    "This account signs in through another service and has no password here, so nothing was changed.",
  invalid_input: () =>
    "Something in the form isn't accepted. User ids are 3 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit.",
  no_identity: (ctx) =>
    ctx.userId
      ? `${ctx.userId} hasn't set up an identity key yet (their app may need an update), so there is nothing to compare or confirm.`
      : "There's no identity key to compare or confirm yet. The other app may need an update.",
  no_confirmed_device: (ctx) =>
    ctx.userId
      ? `${ctx.userId} hasn't confirmed any of their devices yet, so none of them can read messages. Nothing was sent; try again once they have.`
      : "They haven't confirmed any of their devices yet, so none of them can read messages. Nothing was sent; try again once they have.",
  not_confirmed: () =>
    "This device isn't confirmed yet, so it can't confirm others. Confirm it first from one of your other devices, or with your recovery key.",
  identity_changed_held: (ctx) =>
    ctx.userId
      ? `Sending to ${ctx.userId} is paused: their identity key changed since you verified them. Compare safety numbers again, or accept the new key.`
      : "Sending is paused: their identity key changed since you verified them. Compare safety numbers again, or accept the new key.",
  no_verification: () => "That comparison has already ended. Start it again from your confirmed device.",
  safety_number_changed: () =>
    "The safety number changed while you were comparing it. Compare the new number, then mark it verified again.",
  invalid_path: () =>
    "Sotto can't use that place. Choose a full path on this computer, such as ~/Documents/backup.sotto, or use Choose….",
  keychain_unavailable: () =>
    "This computer has no available keychain. Choose a passphrase to protect your messages on this computer.",
  keychain_locked: () =>
    "This computer has no available keychain. Choose a passphrase to protect your messages on this computer.",
  wrong_passphrase: () => "That passphrase doesn't unlock this profile. Check it and try again.",
  passphrase_required: () => "Enter your passphrase to unlock your messages on this computer.",
  token_expired: () => "The server asked this device to sign in again. Sign in again to continue.",
  forbidden: () => "The server didn't allow that. If you think it should have, ask whoever runs the server.",
  not_found: () => "That isn't on the server (any more). Refresh and try again.",
  conflict: () => "Someone changed this at the same moment. Try again.",
  stale_version: () => "The group changed in the meantime. Sotto has the latest version now; try again.",
  devices_changed: () => "Someone's devices changed while sending. Try again; Sotto will include the new devices.",
  payload_too_large: () => "That's too large to send. Try something shorter.",
  protocol: () => "The server answered in a way Sotto doesn't understand. It may need an update; try again later.",
  crypto: () => "Sotto couldn't encrypt or decrypt something. Try again; if it keeps happening, the details below help.",
  io: () => "Sotto couldn't read or write a file on this computer. Check the disk, then try again.",
  profile_in_use: () => "This profile is already open in another copy of Sotto. Close that one, then try again.",
  profile_too_new: () => "This profile was made by a newer version of Sotto. Update Sotto to open it.",
  no_profile: () => "There's no profile on this computer any more. Sign in again.",
  key_missing: () =>
    "The key that protects your messages is missing from this computer's keychain. If you set a passphrase, enter it.",
  database_key: () => "That key doesn't open your messages on this computer. If you set a passphrase, enter it.",
  local_server: () =>
    "The server on this computer couldn't start. Another program may be using its port; close it and try again.",
  already_signed_in: () => "An account is already open. Sign out first to use another one.",
  not_signed_in: () => "You're not signed in on this computer. Sign in to continue.",
  unknown_user: (ctx) =>
    ctx.userId
      ? `No one with the id '${ctx.userId}' on this server.`
      : "No one with that id on this server. Check the spelling and try again.",
  invalid_json: () =>
    "The server didn't accept what Sotto sent. Sotto or the server may need an update; try again later.",
  unsupported_media_type: () =>
    "The server didn't accept what Sotto sent. Sotto or the server may need an update; try again later.",
  method_not_allowed: () =>
    "The server doesn't offer that. It may run an older version of Sotto; ask whoever runs it.",
  invalid_signature: () =>
    "The server refused this device's keys because their signature didn't check out. Sign in again on this device.",
  profile_exists: () =>
    "There is already a profile for this account on this computer, and Sotto left it untouched. Open it instead.",
  not_locked: () => "Your messages on this computer are already unlocked.",
  settings: () =>
    "Sotto couldn't save or read your preferences on this computer. Check that the disk isn't full, then try again.",
  unknown: () => GENERIC_TEXT,
};

/** Every error code (the keys of the exhaustive table above). */
export const ERROR_CODES: readonly ErrorCode[] = Object.keys(ERROR_TEXT) as ErrorCode[];

/** Whether a string is an error code this build knows. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_TEXT, code);
}

/** The plain sentence for an error; never contains the code. */
export function describeError(error: CommandError, ctx: ErrorContext = {}): string {
  // A code from a newer Rust side than this UI was built with still gets the generic sentence.
  const text = ERROR_TEXT[error.code] as ((ctx: ErrorContext) => string) | undefined;
  return text ? text(ctx) : GENERIC_TEXT;
}

/** Something done to a message from the window. */
export type MessageAction = "reply" | "react" | "edit" | "delete";

/**
 * Why an action on a message was refused, when the engine refused it as such (`invalid_input`:
 * the message was deleted meanwhile, or is not one's own, or a reaction is not one emoji); any
 * other failure as `describeError` words it.
 */
const ACTION_REFUSED: Record<MessageAction, string> = {
  reply: "This message can't be answered any more; it may have been deleted. Your text is still in the box.",
  react: "That reaction couldn't be added. A reaction is one emoji, on a message that wasn't deleted.",
  edit: "This message can't be changed. Only a message you sent can be edited, and a text needs some words: to remove it, delete it for everyone instead.",
  delete: "This message can't be deleted for everyone. Only a message you sent, and that went out, can be.",
};

export function describeActionError(error: CommandError, action: MessageAction): string {
  return error.code === "invalid_input" ? ACTION_REFUSED[action] : describeError(error);
}

/** Codes that mean the profile needs a passphrase because the OS keychain can't hold the key. */
export function isKeychainError(error: CommandError): boolean {
  return error.code === "keychain_unavailable" || error.code === "keychain_locked";
}

/** Why the profile is locked (LockedProfile.code) — what the person can do about it. */
export function describeLockReason(code: ErrorCode): string {
  switch (code) {
    case "passphrase_required":
    case "wrong_passphrase":
      return "Your messages on this computer are protected with a passphrase.";
    case "keychain_locked":
      return "The computer's keychain is locked. Unlock it (or sign in to your desktop session), then try again.";
    case "keychain_unavailable":
      return "The computer's keychain isn't available right now, so Sotto can't open your messages. Try again once it is.";
    case "unknown":
      return "Sotto couldn't open your profile on this computer. Try again.";
    default:
      return describeError({ code, message: "" });
  }
}

/** Short text under a message that failed to send (its reason is the error that stopped it). */
export function describeSendFailure(reason: MessageReason | null): string {
  switch (reason) {
    case "offline":
      return "Not sent — couldn't reach the server.";
    case "not_member":
      return "Not sent — you're not in this group any more.";
    case "unknown_user":
      return "Not sent — this person isn't on the server.";
    case "no_devices":
      return "Not sent — they have no devices signed in.";
    case "rate_limited":
      return "Not sent — too many messages at once. Retry in a moment.";
    case "identity_changed_held":
      return "Not sent — paused until you accept their new key.";
    case "no_confirmed_device":
      return "Not sent — they haven't confirmed any of their devices yet.";
    case "cancelled":
      return "Not sent — sending was stopped. Try again to carry on where it stopped.";
    case "blob_too_large":
      return "Not sent — the file is larger than the server takes.";
    case "quota_exceeded":
      return "Not sent — your files on the server use all the space you're allowed.";
    case "insufficient_storage":
      return "Not sent — the server's disk is full. Try again later.";
    case "upload_incomplete":
      return "Not sent — the upload didn't finish. Try again.";
    default:
      return "Not sent.";
  }
}

/** Whether an undecryptable message may still become readable (its key can still arrive). */
export function isWaitingReason(reason: MessageReason | null): boolean {
  return reason === null || reason === "unknown_device" || reason === "olm_session" || reason === "missing_room_key";
}

/** The bubble text for an undecryptable message. */
export function undecryptableText(reason: MessageReason | null): string {
  if (isWaitingReason(reason)) return "Can't decrypt this message yet — waiting for the key";
  if (reason === "before_key") return "Can't decrypt this message — it was sent before you joined";
  if (reason === "withheld") return "Can't show this message — it arrived before this device was confirmed";
  return "Can't decrypt this message — it didn't pass a security check";
}

/** Why a message can't be decrypted, in words a non-expert understands. */
export function describeUndecryptable(reason: MessageReason | null): string {
  switch (reason) {
    case "unknown_device":
      return "It came from a device Sotto doesn't know yet. It will show once that device's keys arrive.";
    case "olm_session":
      return "This device couldn't decrypt it with its current keys. Sotto asked the sender's device to send it again; it shows here when that arrives (for messages up to a day old).";
    case "missing_room_key":
      return "The key for this message hasn't arrived yet. It will show once it does.";
    case "before_key":
      return "It was sent before you joined, so this device never got its key.";
    case "tampered":
      return "It was changed on the way, so Sotto won't show it.";
    case "replayed":
      return "It's a copy of a message already received, so Sotto won't show it again.";
    case "sender_mismatch":
      return "It claims to be from someone other than the device that sent it, so Sotto won't show it.";
    case "malformed":
      return "It arrived damaged and can't be read.";
    case "withheld":
      return "The sender's app gives messages only to devices you have confirmed, so that no one can add a device to your account and read along. This device wasn't confirmed yet when it was sent; messages sent after you confirm it will show here.";
    default:
      return "The key for this message hasn't arrived yet.";
  }
}

