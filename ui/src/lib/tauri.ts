//! The IPC boundary: the only module that imports `@tauri-apps/api`. Every command and event
//! the UI uses has a typed wrapper here; a rejected command always rejects with a
//! `CommandError` (`{ code, message }`), whatever the Rust side or Tauri threw.

import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { asCommandError } from "./errors";
import type { Commands, Events } from "./bindings/ipc";
import type {
  AppStatus,
  BackupSummary,
  ClientEvent,
  ConversationId,
  DeviceId,
  DownloadProgress,
  ExportFormat,
  ExportScope,
  ExportSummary,
  FileDrop,
  KeyBackupRestore,
  PathPurpose,
  Progress,
  RestoreRequest,
  Role,
  Settings,
  SignInRequest,
} from "./types";

async function call<K extends keyof Commands>(
  name: K,
  args: Commands[K]["args"],
): Promise<Commands[K]["result"]> {
  try {
    return await invoke<Commands[K]["result"]>(name, args);
  } catch (error) {
    throw asCommandError(error);
  }
}

export const appStatus = () => call("app_status", {});
export const checkServer = (url: string, trustedCertificate: string | null = null) =>
  call("check_server", { url, trusted_certificate: trustedCertificate });
export const startLocalServer = () => call("start_local_server", {});
export const setLocalServerNetwork = (enabled: boolean) => call("set_local_server_network", { enabled });
export const register = (request: SignInRequest) => call("register", { request });
export const login = (request: SignInRequest) => call("login", { request });
export const unlock = (passphrase: string) => call("unlock", { passphrase });
export const useAnotherAccount = () => call("use_another_account", {});
export const signOut = () => call("sign_out", {});
/** The server moved: the profile follows it to `server` (the same installation only). */
export const moveServer = (server: string, fingerprint: string | null) =>
  call("move_server", { server, fingerprint });
export const changePassword = (current: string, newPassword: string) =>
  call("change_password", { current, new_password: newPassword });
export const certificateProblem = () => call("certificate_problem", {});
export const trustServerCertificate = (fingerprint: string) => call("trust_server_certificate", { fingerprint });
export const resetKeys = (password: string) => call("reset_keys", { password });
export const resetIdentity = (password: string) => call("reset_identity", { password });
export const listConversations = () => call("list_conversations", {});
export const loadMessages = (conversationId: ConversationId, before: number | null, limit: number) =>
  call("load_messages", { conversation_id: conversationId, before, limit });
export const loadMessagesAfter = (conversationId: ConversationId, after: number, limit: number) =>
  call("load_messages_after", { conversation_id: conversationId, after, limit });
export const markRead = (conversationId: ConversationId) =>
  call("mark_read", { conversation_id: conversationId });
/** Mute until `until` (ms since the epoch), for good with "forever", or unmute with null. */
export const setMuted = (conversationId: ConversationId, until: number | "forever" | null) =>
  call("set_muted", {
    conversation_id: conversationId,
    until: until === "forever" ? null : until,
    forever: until === "forever",
  });
export const setArchived = (conversationId: ConversationId, archived: boolean) =>
  call("set_archived", { conversation_id: conversationId, archived });
export const setPinned = (conversationId: ConversationId, pinned: boolean) =>
  call("set_pinned", { conversation_id: conversationId, pinned });
export const markUnread = (conversationId: ConversationId) =>
  call("mark_unread", { conversation_id: conversationId });
export const setDraft = (conversationId: ConversationId, draft: string) =>
  call("set_draft", { conversation_id: conversationId, draft });
export const deleteConversation = (conversationId: ConversationId) =>
  call("delete_conversation", { conversation_id: conversationId });
/** The disappearing-messages timer in seconds, for everyone in the conversation (null: off). */
export const setDisappearing = (conversationId: ConversationId, seconds: number | null) =>
  call("set_disappearing", { conversation_id: conversationId, seconds });
export const searchMessages = (query: string, limit: number) =>
  call("search_messages", { query, limit });
export const sendMessage = (conversationId: ConversationId, body: string) =>
  call("send_message", { conversation_id: conversationId, body });
export const retryMessage = (id: number) => call("retry_message", { id });
/** Answer the message `id`: a new text quoting it, queued like `sendMessage`. */
export const replyToMessage = (id: number, body: string) => call("reply_to_message", { id, body });
/** Add (or with `remove` take back) a reaction; resolves with the message as it now is. */
export const reactToMessage = (id: number, emoji: string, remove: boolean) =>
  call("react_to_message", { id, emoji, remove });
/** Change the text (a file's caption) of one's own message for everyone. */
export const editMessage = (id: number, body: string) => call("edit_message", { id, body });
/** Delete one's own message for everyone; resolves with its tombstone. */
export const deleteMessage = (id: number) => call("delete_message", { id });
/** Every text an edited message had, oldest first. */
export const messageVersions = (id: number) => call("message_versions", { id });
export const setTyping = (conversationId: ConversationId, typing: boolean) =>
  call("set_typing", { conversation_id: conversationId, typing });
export const sendFile = (conversationId: ConversationId, path: string, caption: string) =>
  call("send_file", { conversation_id: conversationId, path, caption });
/** `data`: the pasted image's bytes in base64 (without a `data:` prefix). */
export const sendPastedImage = (conversationId: ConversationId, data: string, caption: string) =>
  call("send_pasted_image", { conversation_id: conversationId, data, caption });
/** The picture on the system's clipboard as PNG (null when it holds none). */
export const clipboardImage = () => call("clipboard_image", {});
export const filePreview = (path: string) => call("file_preview", { path });
export const downloadFile = (id: number) => call("download_file", { id });
export const saveFile = (id: number, path: string) => call("save_file", { id, path });
/** An image message's thumbnail as a `data:` URL (null when it has none). */
export const fileThumbnail = (id: number) => call("file_thumbnail", { id });
/** An image message's picture at full size as a `data:` URL (fetched first if needed). */
export const fileImage = (id: number) => call("file_image", { id });
export const cancelTransfer = (id: number) => call("cancel_transfer", { id });
export const autoDownloadLimit = () => call("auto_download_limit", {});
export const setAutoDownloadLimit = (bytes: number) => call("set_auto_download_limit", { bytes });
/** Whether this profile sends read receipts (and shows others'). */
export const readReceipts = () => call("read_receipts", {});
export const setReadReceipts = (on: boolean) => call("set_read_receipts", { on });
export const startDirect = (userId: string) => call("start_direct", { user_id: userId });
export const userDevices = (userId: string) => call("user_devices", { user_id: userId });
export const verification = (userId: string) => call("verification", { user_id: userId });
export const setVerified = (userId: string, safetyNumber: string | null) =>
  call("set_verified", { user_id: userId, safety_number: safetyNumber });
export const contactVerified = (userId: string) => call("contact_verified", { user_id: userId });
export const isHeld = (userId: string) => call("is_held", { user_id: userId });
export const acceptIdentity = (userId: string) => call("accept_identity", { user_id: userId });
export const ownDevices = () => call("own_devices", {});
export const deleteDevice = (deviceId: DeviceId, password: string) =>
  call("delete_device", { device_id: deviceId, password });
export const thisDeviceConfirmed = () => call("this_device_confirmed", {});
export const startDeviceConfirmation = (deviceId: DeviceId, history: boolean) =>
  call("start_device_confirmation", { device_id: deviceId, history });
export const verificationList = () => call("verification_list", {});
export const confirmVerification = (id: string) => call("confirm_verification", { id });
export const startContactVerification = (userId: string) =>
  call("start_contact_verification", { user_id: userId });
export const acceptVerification = (id: string) => call("accept_verification", { id });
export const cancelVerification = (id: string, mismatch: boolean) => call("cancel_verification", { id, mismatch });
export const createGroup = (name: string, members: string[]) =>
  call("create_group", { name, members });
export const groupDetails = (groupId: string) => call("group_details", { group_id: groupId });
export const addMembers = (groupId: string, userIds: string[]) =>
  call("add_members", { group_id: groupId, user_ids: userIds });
export const removeMember = (groupId: string, userId: string) =>
  call("remove_member", { group_id: groupId, user_id: userId });
export const leaveGroup = (groupId: string) => call("leave_group", { group_id: groupId });
export const acceptInvitation = (groupId: string) => call("accept_invitation", { group_id: groupId });
export const declineInvitation = (groupId: string) => call("decline_invitation", { group_id: groupId });
export const renameGroup = (groupId: string, name: string) => call("rename_group", { group_id: groupId, name });
/** `owner` hands ownership over (I stay an admin). */
export const setMemberRole = (groupId: string, userId: string, role: Role) =>
  call("set_member_role", { group_id: groupId, user_id: userId, role });
export const dismissGroup = (groupId: string) => call("dismiss_group", { group_id: groupId });
/** Every profile known here with a name or a picture (mine included). */
export const getProfiles = () => call("get_profiles", {});
export const getProfile = (userId: string) => call("get_profile", { user_id: userId });
/**
 * Changes my profile: `name` (null keeps it, "" clears it), a new picture from the file at
 * `avatarPath`, or with `removeAvatar` none. Needs the server.
 */
export const setProfile = (change: { name?: string | null; avatarPath?: string | null; removeAvatar?: boolean }) =>
  call("set_profile", {
    name: change.name ?? null,
    avatar_path: change.avatarPath ?? null,
    remove_avatar: change.removeAvatar ?? false,
  });
/** A person's picture as a `data:image/jpeg` URL (null when they have none). */
export const getAvatar = (userId: string) => call("get_avatar", { user_id: userId });
export const getSettings = () => call("get_settings", {});
export const setSettings = (settings: Settings) => call("set_settings", { settings });
/** Quits Sotto (closing the window may only hide it). */
export const quit = () => call("quit", {});
export const backupDefaults = () => call("backup_defaults", {});
export const backupStatus = () => call("backup_status", {});
export const choosePath = (purpose: PathPurpose, current: string) => call("choose_path", { purpose, current });
export const keyBackupStatus = () => call("key_backup_status", {});
export const enableKeyBackup = (passphrase: string | null, replace: boolean) =>
  call("enable_key_backup", { passphrase, replace });

/** A long command (backup, restore, export) in progress: its outcome, and a way to stop it. */
export interface RunningTask<T> {
  /** Resolves with the command's result; rejects with `cancelled` when stopped. */
  result: Promise<T>;
  /** Ask the command to stop; `result` then rejects with `cancelled` (unless it had finished). */
  cancel: () => Promise<void>;
}

/** A task id the Rust side does not need to trust: it only matches a cancel to its command. */
function newTaskId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function runTask<T>(
  start: (task: string, onProgress: Channel<Progress>) => Promise<T>,
  onProgress: (progress: Progress) => void,
): RunningTask<T> {
  const task = newTaskId();
  const channel = new Channel<Progress>();
  channel.onmessage = onProgress;
  return {
    result: start(task, channel),
    cancel: async () => {
      await call("cancel_task", { task });
    },
  };
}

export const checkForUpdate = () => call("check_for_update", {});
export const restartApp = () => call("restart", {});
/** Download, verify and install the update the last check found. */
export function installUpdate(onProgress: (p: DownloadProgress) => void): Promise<null> {
  const channel = new Channel<DownloadProgress>();
  channel.onmessage = onProgress;
  return call("install_update", { on_progress: channel });
}

export const exportBackup = (path: string, passphrase: string, onProgress: (p: Progress) => void) =>
  runTask<BackupSummary>(
    (task, on_progress) => call("export_backup", { task, path, passphrase, on_progress }),
    onProgress,
  );
export const exportReadable = (
  dir: string,
  format: ExportFormat,
  scope: ExportScope,
  onProgress: (p: Progress) => void,
) =>
  runTask<ExportSummary>(
    (task, on_progress) => call("export_readable", { task, dir, format, scope, on_progress }),
    onProgress,
  );
export const restoreBackup = (request: RestoreRequest, onProgress: (p: Progress) => void) =>
  runTask<AppStatus>((task, on_progress) => call("restore_backup", { task, request, on_progress }), onProgress);

export const restoreKeyBackup = (
  secret: { recoveryKey: string } | { passphrase: string },
  onProgress: (p: Progress) => void,
) =>
  runTask<KeyBackupRestore>(
    (task, on_progress) =>
      call("restore_key_backup", {
        task,
        recovery_key: "recoveryKey" in secret ? secret.recoveryKey : null,
        passphrase: "passphrase" in secret ? secret.passphrase : null,
        on_progress,
      }),
    onProgress,
  );

/** Stops a subscription started by one of the `on…` functions below. */
export type Unsubscribe = () => void;

/**
 * Subscribes to a Tauri event. The returned function can be called at once, even before
 * `listen` has resolved (React effects clean up synchronously). `onReady` runs once the
 * listener is attached: events sent before that moment are lost, so it is where a caller
 * re-reads what they could have changed.
 */
function subscribe<E extends keyof Events>(
  event: E,
  handler: (payload: Events[E]) => void,
  onReady?: () => void,
): Unsubscribe {
  let stopped = false;
  let unlisten: (() => void) | null = null;
  listen<Events[E]>(event, (e) => {
    if (!stopped) handler(e.payload);
  })
    .then((fn) => {
      if (stopped) fn();
      else {
        unlisten = fn;
        onReady?.();
      }
    })
    .catch(() => {
      // Not running inside Tauri (or the event system is gone): there is nothing to listen to.
    });
  return () => {
    stopped = true;
    unlisten?.();
  };
}

/** Engine events: messages, statuses, conversations, membership, keys, connection, typing. */
export const onClientEvent = (handler: (event: ClientEvent) => void, onReady?: () => void) =>
  subscribe("sotto://client", handler, onReady);

/** The app's phase changed outside the UI's own commands (e.g. signed out elsewhere). */
export const onAppStatus = (handler: (status: AppStatus) => void) =>
  subscribe("sotto://status", handler);

/** A notification was clicked: the window is shown again, and should open this conversation. */
export const onOpenConversation = (handler: (id: ConversationId) => void) =>
  subscribe("sotto://open-conversation", handler);

/** Files dragged over the window or dropped on it (the system's drag and drop, with paths). */
export const onFileDrop = (handler: (drop: FileDrop) => void) => subscribe("sotto://file-drop", handler);
