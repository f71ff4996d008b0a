//! The test double for src/lib/tauri.ts (installed for every test by setup.ts). Each command
//! is a `vi.fn` with a harmless default; tests override per call. Events are delivered with
//! `emitClient` / `emitStatus` / `emitOpenConversation`.

import { act } from "@testing-library/react";
import { vi } from "vitest";
import { directConversationId, UNTOUCHED } from "../lib/ids";
import type * as Real from "../lib/tauri";
import type { AppStatus, ClientEvent, ConversationId, FileDrop, KeyBackupStatus, Settings } from "../lib/types";
import { readyStatus } from "./fixtures";

type Listener<T> = (payload: T) => void;
const clientListeners = new Set<Listener<ClientEvent>>();
const statusListeners = new Set<Listener<AppStatus>>();
const openListeners = new Set<Listener<ConversationId>>();
const dropListeners = new Set<Listener<FileDrop>>();

function subscribe<T>(set: Set<Listener<T>>, handler: Listener<T>): () => void {
  set.add(handler);
  return () => set.delete(handler);
}

const keyBackupOff: KeyBackupStatus = {
  enabled: false,
  kind: null,
  version: null,
  sessions: 3,
  backed_up: 0,
  error: null,
};

const defaultSettings: Settings = {
  theme: "system",
  notifications: true,
  previews: true,
  backup_reminder: true,
  keep_running: true,
  start_at_login: false,
};
/** What `set_settings` saved, which `get_settings` reads back (as the store file does). */
let savedSettings: Settings = defaultSettings;

/** Default behaviour of every command; `resetIpc` reinstalls these before each test. */
const defaults: typeof Real = {
  appStatus: async () => readyStatus(),
  checkServer: async (url) => url,
  startLocalServer: async () => ({ url: "http://127.0.0.1:7878", port: 7878, network: null }),
  setLocalServerNetwork: async (enabled) => ({
    url: "http://127.0.0.1:7878",
    port: 7878,
    network: enabled
      ? { urls: ["https://192.168.1.20:8449"], port: 8449, fingerprint: "12:34:".repeat(15) + "12:34" }
      : null,
  }),
  certificateProblem: async () => null,
  checkForUpdate: async () => ({ state: "up_to_date", current: "0.1.0" }),
  installUpdate: async () => null,
  restartApp: async () => null,
  trustServerCertificate: async () => null,
  register: async () => readyStatus(),
  login: async () => readyStatus(),
  unlock: async () => readyStatus(),
  useAnotherAccount: async () => ({ ...readyStatus(), phase: "welcome", account: null }),
  signOut: async () => ({ ...readyStatus(), phase: "welcome", account: null }),
  moveServer: async (server: string, _fingerprint: string | null) => {
    const ready = readyStatus();
    return { ...ready, account: ready.account ? { ...ready.account, server } : null };
  },
  changePassword: async () => null,
  resetKeys: async () => ({ ed25519: "E".repeat(43), curve25519: "C".repeat(43), notified_devices: 2 }),
  resetIdentity: async () => null,
  listConversations: async () => [],
  loadMessages: async () => [],
  loadMessagesAfter: async () => [],
  markRead: async () => null,
  setMuted: async () => null,
  setArchived: async () => null,
  setPinned: async () => null,
  markUnread: async () => null,
  setDraft: async () => null,
  deleteConversation: async () => null,
  setDisappearing: async () => null,
  searchMessages: async () => [],
  sendMessage: async () => {
    throw { code: "offline", message: "no default" };
  },
  retryMessage: async () => {
    throw { code: "offline", message: "no default" };
  },
  replyToMessage: async () => {
    throw { code: "offline", message: "no default" };
  },
  reactToMessage: async () => {
    throw { code: "offline", message: "no default" };
  },
  editMessage: async () => {
    throw { code: "offline", message: "no default" };
  },
  deleteMessage: async () => {
    throw { code: "offline", message: "no default" };
  },
  messageVersions: async () => [],
  setTyping: async () => null,
  sendFile: async () => {
    throw { code: "offline", message: "no default" };
  },
  sendPastedImage: async () => {
    throw { code: "offline", message: "no default" };
  },
  clipboardImage: async () => null,
  filePreview: async (path) => ({ name: path.split("/").pop() ?? path, size: 1234, image: null }),
  downloadFile: async () => {
    throw { code: "offline", message: "no default" };
  },
  saveFile: async () => 0,
  fileThumbnail: async () => null,
  fileImage: async () => "data:image/png;base64,iVBORw0KGgo=",
  cancelTransfer: async () => true,
  autoDownloadLimit: async () => 16 * 1024 * 1024,
  setAutoDownloadLimit: async () => null,
  readReceipts: async () => true,
  setReadReceipts: async () => null,
  getProfiles: async () => [],
  getProfile: async () => null,
  setProfile: async (change) => ({
    user_id: "alice",
    name: change.name ?? null,
    avatar: change.avatarPath !== undefined && change.avatarPath !== null,
    version: 2,
  }),
  getAvatar: async () => null,
  startDirect: async (userId) => ({
    id: directConversationId(userId),
    kind: "direct",
    peer: userId,
    title: userId,
    last_ts: 0,
    last_preview: "",
    unread: 0,
    ...UNTOUCHED,
  }),
  userDevices: async () => [],
  verification: async () => ({ safety_number: "1".repeat(60), verified: false, changed_since_verified: false }),
  setVerified: async (_userId, safetyNumber) => ({
    safety_number: "1".repeat(60),
    verified: safetyNumber !== null,
    changed_since_verified: false,
  }),
  contactVerified: async () => false,
  isHeld: async () => false,
  acceptIdentity: async () => ({ safety_number: "1".repeat(60), verified: false, changed_since_verified: false }),
  ownDevices: async () => [{ device_id: "DEVALICE", name: "Sotto on Linux", created_ts: 1_700_000_000_000, has_keys: true }],
  deleteDevice: async () => null,
  thisDeviceConfirmed: async () => true,
  startDeviceConfirmation: async (deviceId) => ({
    id: "ver1",
    user_id: "alice",
    device_id: deviceId,
    we_started: true,
    state: { state: "waiting" },
  }),
  verificationList: async () => [],
  confirmVerification: async (id) => ({
    id,
    user_id: "alice",
    device_id: "OTHER",
    we_started: true,
    state: { state: "waiting" },
  }),
  startContactVerification: async (userId) => ({
    id: "ver2",
    user_id: userId,
    device_id: "THEIRS",
    we_started: true,
    state: { state: "waiting" },
  }),
  acceptVerification: async (id) => ({
    id,
    user_id: "bob",
    device_id: "THEIRS",
    we_started: false,
    state: { state: "waiting" },
  }),
  cancelVerification: async (id, mismatch) => ({
    id,
    user_id: "alice",
    device_id: "OTHER",
    we_started: true,
    state: { state: "cancelled", reason: mismatch ? "mismatch" : "cancelled" },
  }),
  createGroup: async (name, members) => ({
    group_id: "grp1",
    name,
    version: 1,
    joined: true,
    signed: true,
    members: [{ user_id: "alice", role: "owner" }, ...members.map((user_id) => ({ user_id, role: "member" as const }))],
    invited: [],
  }),
  groupDetails: async (groupId) => ({ group_id: groupId, name: groupId, version: 1, joined: true, signed: true, members: [], invited: [] }),
  addMembers: async (groupId) => ({ group_id: groupId, name: groupId, version: 1, joined: true, signed: true, members: [], invited: [] }),
  removeMember: async (groupId) => ({ group_id: groupId, name: groupId, version: 1, joined: true, signed: true, members: [], invited: [] }),
  leaveGroup: async () => null,
  acceptInvitation: async (groupId) => ({
    group_id: groupId,
    name: groupId,
    version: 2,
    joined: true,
    signed: true,
    members: [{ user_id: "alice", role: "member" }],
    invited: [],
  }),
  declineInvitation: async (groupId) => ({
    group_id: groupId,
    name: groupId,
    version: 2,
    joined: false,
    signed: true,
    members: [],
    invited: [],
  }),
  renameGroup: async (groupId, name) => ({ group_id: groupId, name, version: 2, joined: true, signed: true, members: [], invited: [] }),
  setMemberRole: async (groupId, userId, role) => ({
    group_id: groupId,
    name: groupId,
    version: 2,
    joined: true,
    signed: true,
    members: [{ user_id: userId, role }],
    invited: [],
  }),
  dismissGroup: async (groupId) => ({ group_id: groupId, name: groupId, version: 2, joined: false, signed: true, members: [], invited: [] }),
  getSettings: async () => savedSettings,
  setSettings: async (s) => {
    savedSettings = s;
    return s;
  },
  quit: async () => null,
  backupStatus: async () => ({ last_backup_ms: 1_700_000_000_000 }),
  choosePath: async () => null,
  keyBackupStatus: async () => keyBackupOff,
  enableKeyBackup: async (passphrase) => ({
    recovery_key: passphrase ? null : "SOTTO-ABCD EFGH JKLM NPQR STUV WXYZ 2345 6789",
    status: { ...keyBackupOff, enabled: true, kind: passphrase ? "passphrase" : "recovery_key", version: 1 },
  }),
  restoreKeyBackup: () =>
    finishedTask({
      sessions: 3,
      imported: 3,
      groups: 1,
      messages: 12,
      undecryptable: 0,
      decrypted_pending: 0,
      confirmed: false,
    }),
  backupDefaults: async () => ({
    backup_file: "/home/alice/Documents/Sotto alice 2026-11-26.sotto",
    export_folder: "/home/alice/Documents/Sotto alice 2026-11-26 export",
  }),
  exportBackup: () => finishedTask({ records: 12, messages: 10, bytes: 2048 }),
  exportReadable: (dir) => finishedTask({ conversations: 1, messages: 10, path: dir }),
  restoreBackup: () => finishedTask(readyStatus()),
  onClientEvent: (h) => subscribe(clientListeners, h),
  onAppStatus: (h) => subscribe(statusListeners, h),
  onOpenConversation: (h) => subscribe(openListeners, h),
  onFileDrop: (h) => subscribe(dropListeners, h),
};

/** A long task that already finished with `result` (tests replace it to control progress). */
export function finishedTask<T>(result: T): Real.RunningTask<T> {
  return { result: Promise.resolve(result), cancel: async () => undefined };
}

export const appStatus = vi.fn(defaults.appStatus);
export const checkServer = vi.fn(defaults.checkServer);
export const startLocalServer = vi.fn(defaults.startLocalServer);
export const setLocalServerNetwork = vi.fn(defaults.setLocalServerNetwork);
export const certificateProblem = vi.fn(defaults.certificateProblem);
export const checkForUpdate = vi.fn(defaults.checkForUpdate);
export const installUpdate = vi.fn(defaults.installUpdate);
export const restartApp = vi.fn(defaults.restartApp);
export const trustServerCertificate = vi.fn(defaults.trustServerCertificate);
export const register = vi.fn(defaults.register);
export const login = vi.fn(defaults.login);
export const unlock = vi.fn(defaults.unlock);
export const useAnotherAccount = vi.fn(defaults.useAnotherAccount);
export const signOut = vi.fn(defaults.signOut);
export const moveServer = vi.fn(defaults.moveServer);
export const changePassword = vi.fn(defaults.changePassword);
export const resetKeys = vi.fn(defaults.resetKeys);
export const resetIdentity = vi.fn(defaults.resetIdentity);
export const listConversations = vi.fn(defaults.listConversations);
export const loadMessages = vi.fn(defaults.loadMessages);
export const loadMessagesAfter = vi.fn(defaults.loadMessagesAfter);
export const markRead = vi.fn(defaults.markRead);
export const searchMessages = vi.fn(defaults.searchMessages);
export const sendMessage = vi.fn(defaults.sendMessage);
export const retryMessage = vi.fn(defaults.retryMessage);
export const replyToMessage = vi.fn(defaults.replyToMessage);
export const reactToMessage = vi.fn(defaults.reactToMessage);
export const editMessage = vi.fn(defaults.editMessage);
export const deleteMessage = vi.fn(defaults.deleteMessage);
export const messageVersions = vi.fn(defaults.messageVersions);
export const setTyping = vi.fn(defaults.setTyping);
export const sendFile = vi.fn(defaults.sendFile);
export const sendPastedImage = vi.fn(defaults.sendPastedImage);
export const clipboardImage = vi.fn(defaults.clipboardImage);
export const filePreview = vi.fn(defaults.filePreview);
export const downloadFile = vi.fn(defaults.downloadFile);
export const saveFile = vi.fn(defaults.saveFile);
export const fileThumbnail = vi.fn(defaults.fileThumbnail);
export const fileImage = vi.fn(defaults.fileImage);
export const cancelTransfer = vi.fn(defaults.cancelTransfer);
export const autoDownloadLimit = vi.fn(defaults.autoDownloadLimit);
export const setAutoDownloadLimit = vi.fn(defaults.setAutoDownloadLimit);
export const getProfiles = vi.fn(defaults.getProfiles);
export const getProfile = vi.fn(defaults.getProfile);
export const setProfile = vi.fn(defaults.setProfile);
export const getAvatar = vi.fn(defaults.getAvatar);
export const readReceipts = vi.fn(defaults.readReceipts);
export const setMuted = vi.fn(defaults.setMuted);
export const setArchived = vi.fn(defaults.setArchived);
export const setPinned = vi.fn(defaults.setPinned);
export const markUnread = vi.fn(defaults.markUnread);
export const setDraft = vi.fn(defaults.setDraft);
export const deleteConversation = vi.fn(defaults.deleteConversation);
export const setDisappearing = vi.fn(defaults.setDisappearing);
export const setReadReceipts = vi.fn(defaults.setReadReceipts);
export const onFileDrop = vi.fn(defaults.onFileDrop);
export const startDirect = vi.fn(defaults.startDirect);
export const userDevices = vi.fn(defaults.userDevices);
export const verification = vi.fn(defaults.verification);
export const setVerified = vi.fn(defaults.setVerified);
export const contactVerified = vi.fn(defaults.contactVerified);
export const isHeld = vi.fn(defaults.isHeld);
export const acceptIdentity = vi.fn(defaults.acceptIdentity);
export const ownDevices = vi.fn(defaults.ownDevices);
export const deleteDevice = vi.fn(defaults.deleteDevice);
export const thisDeviceConfirmed = vi.fn(defaults.thisDeviceConfirmed);
export const startDeviceConfirmation = vi.fn(defaults.startDeviceConfirmation);
export const verificationList = vi.fn(defaults.verificationList);
export const confirmVerification = vi.fn(defaults.confirmVerification);
export const cancelVerification = vi.fn(defaults.cancelVerification);
export const startContactVerification = vi.fn(defaults.startContactVerification);
export const acceptVerification = vi.fn(defaults.acceptVerification);
export const createGroup = vi.fn(defaults.createGroup);
export const groupDetails = vi.fn(defaults.groupDetails);
export const addMembers = vi.fn(defaults.addMembers);
export const removeMember = vi.fn(defaults.removeMember);
export const leaveGroup = vi.fn(defaults.leaveGroup);
export const acceptInvitation = vi.fn(defaults.acceptInvitation);
export const declineInvitation = vi.fn(defaults.declineInvitation);
export const renameGroup = vi.fn(defaults.renameGroup);
export const setMemberRole = vi.fn(defaults.setMemberRole);
export const dismissGroup = vi.fn(defaults.dismissGroup);
export const getSettings = vi.fn(defaults.getSettings);
export const setSettings = vi.fn(defaults.setSettings);
export const quit = vi.fn(defaults.quit);
export const backupDefaults = vi.fn(defaults.backupDefaults);
export const backupStatus = vi.fn(defaults.backupStatus);
export const choosePath = vi.fn(defaults.choosePath);
export const keyBackupStatus = vi.fn(defaults.keyBackupStatus);
export const enableKeyBackup = vi.fn(defaults.enableKeyBackup);
export const restoreKeyBackup = vi.fn(defaults.restoreKeyBackup);
export const exportBackup = vi.fn(defaults.exportBackup);
export const exportReadable = vi.fn(defaults.exportReadable);
export const restoreBackup = vi.fn(defaults.restoreBackup);
export const onClientEvent = vi.fn(defaults.onClientEvent);
export const onAppStatus = vi.fn(defaults.onAppStatus);
export const onOpenConversation = vi.fn(defaults.onOpenConversation);

const mocks = {
  appStatus,
  checkServer,
  startLocalServer,
  setLocalServerNetwork,
  certificateProblem,
  trustServerCertificate,
  checkForUpdate,
  installUpdate,
  restartApp,
  register,
  login,
  unlock,
  useAnotherAccount,
  signOut,
  moveServer,
  changePassword,
  resetKeys,
  resetIdentity,
  listConversations,
  loadMessages,
  loadMessagesAfter,
  markRead,
  searchMessages,
  sendMessage,
  retryMessage,
  replyToMessage,
  reactToMessage,
  editMessage,
  deleteMessage,
  messageVersions,
  setTyping,
  startDirect,
  userDevices,
  verification,
  setVerified,
  contactVerified,
  isHeld,
  acceptIdentity,
  ownDevices,
  deleteDevice,
  thisDeviceConfirmed,
  startDeviceConfirmation,
  verificationList,
  confirmVerification,
  cancelVerification,
  startContactVerification,
  acceptVerification,
  createGroup,
  groupDetails,
  addMembers,
  removeMember,
  leaveGroup,
  acceptInvitation,
  declineInvitation,
  renameGroup,
  setMemberRole,
  dismissGroup,
  getSettings,
  setSettings,
  quit,
  backupDefaults,
  backupStatus,
  choosePath,
  keyBackupStatus,
  enableKeyBackup,
  restoreKeyBackup,
  exportBackup,
  exportReadable,
  restoreBackup,
  onClientEvent,
  onAppStatus,
  sendFile,
  sendPastedImage,
  clipboardImage,
  filePreview,
  downloadFile,
  saveFile,
  fileThumbnail,
  fileImage,
  cancelTransfer,
  autoDownloadLimit,
  setAutoDownloadLimit,
  readReceipts,
  setReadReceipts,
  getProfiles,
  getProfile,
  setProfile,
  getAvatar,
  setMuted,
  setArchived,
  setPinned,
  markUnread,
  setDraft,
  deleteConversation,
  setDisappearing,
  onFileDrop,
  onOpenConversation,
} satisfies typeof Real;

export function resetIpc(): void {
  clientListeners.clear();
  statusListeners.clear();
  openListeners.clear();
  dropListeners.clear();
  savedSettings = defaultSettings;
  for (const [name, fn] of Object.entries(mocks)) {
    fn.mockReset();
    (fn as unknown as { mockImplementation: (f: unknown) => void }).mockImplementation(
      defaults[name as keyof typeof defaults],
    );
  }
}

export function emitClient(event: ClientEvent): void {
  act(() => {
    for (const l of Array.from(clientListeners)) l(event);
  });
}

export function emitStatus(status: AppStatus): void {
  act(() => {
    for (const l of Array.from(statusListeners)) l(status);
  });
}

export function emitOpenConversation(id: ConversationId): void {
  act(() => {
    for (const l of Array.from(openListeners)) l(id);
  });
}

export function emitFileDrop(drop: FileDrop): void {
  act(() => {
    for (const l of Array.from(dropListeners)) l(drop);
  });
}
