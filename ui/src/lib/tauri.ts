//! The IPC boundary: the only module that imports `@tauri-apps/api`. Every command and event
//! the UI uses has a typed wrapper here; a rejected command always rejects with a
//! `CommandError` (`{ code, message }`), whatever the Rust side or Tauri threw.

import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { asCommandError } from "./errors";
import type {
  AppStatus,
  ClientEvent,
  Conversation,
  DeviceSummary,
  LocalGroup,
  LocalServerInfo,
  Message,
  SearchHit,
  Settings,
  SignInRequest,
} from "./types";

/** Argument and result types of every command, by invoke name. Argument keys are snake_case. */
interface Commands {
  app_status: { args: Record<string, never>; result: AppStatus };
  check_server: { args: { url: string }; result: string };
  start_local_server: { args: Record<string, never>; result: LocalServerInfo };
  register: { args: { request: SignInRequest }; result: AppStatus };
  login: { args: { request: SignInRequest }; result: AppStatus };
  unlock: { args: { passphrase: string }; result: AppStatus };
  use_another_account: { args: Record<string, never>; result: AppStatus };
  sign_out: { args: Record<string, never>; result: AppStatus };
  list_conversations: { args: Record<string, never>; result: Conversation[] };
  load_messages: {
    args: { conversation_id: string; before: number | null; limit: number };
    result: Message[];
  };
  load_messages_after: {
    args: { conversation_id: string; after: number; limit: number };
    result: Message[];
  };
  mark_read: { args: { conversation_id: string }; result: null };
  search_messages: { args: { query: string; limit: number }; result: SearchHit[] };
  send_message: { args: { conversation_id: string; body: string }; result: Message };
  retry_message: { args: { id: number }; result: Message };
  set_typing: { args: { conversation_id: string; typing: boolean }; result: null };
  start_direct: { args: { user_id: string }; result: Conversation };
  user_devices: { args: { user_id: string }; result: DeviceSummary[] };
  safety_number: { args: { user_id: string }; result: string };
  create_group: { args: { name: string; members: string[] }; result: LocalGroup };
  group_details: { args: { group_id: string }; result: LocalGroup };
  add_members: { args: { group_id: string; user_ids: string[] }; result: LocalGroup };
  remove_member: { args: { group_id: string; user_id: string }; result: LocalGroup };
  leave_group: { args: { group_id: string }; result: null };
  get_settings: { args: Record<string, never>; result: Settings };
  set_settings: { args: { settings: Settings }; result: Settings };
}

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
export const checkServer = (url: string) => call("check_server", { url });
export const startLocalServer = () => call("start_local_server", {});
export const register = (request: SignInRequest) => call("register", { request });
export const login = (request: SignInRequest) => call("login", { request });
export const unlock = (passphrase: string) => call("unlock", { passphrase });
export const useAnotherAccount = () => call("use_another_account", {});
export const signOut = () => call("sign_out", {});
export const listConversations = () => call("list_conversations", {});
export const loadMessages = (conversationId: string, before: number | null, limit: number) =>
  call("load_messages", { conversation_id: conversationId, before, limit });
export const loadMessagesAfter = (conversationId: string, after: number, limit: number) =>
  call("load_messages_after", { conversation_id: conversationId, after, limit });
export const markRead = (conversationId: string) =>
  call("mark_read", { conversation_id: conversationId });
export const searchMessages = (query: string, limit: number) =>
  call("search_messages", { query, limit });
export const sendMessage = (conversationId: string, body: string) =>
  call("send_message", { conversation_id: conversationId, body });
export const retryMessage = (id: number) => call("retry_message", { id });
export const setTyping = (conversationId: string, typing: boolean) =>
  call("set_typing", { conversation_id: conversationId, typing });
export const startDirect = (userId: string) => call("start_direct", { user_id: userId });
export const userDevices = (userId: string) => call("user_devices", { user_id: userId });
export const safetyNumber = (userId: string) => call("safety_number", { user_id: userId });
export const createGroup = (name: string, members: string[]) =>
  call("create_group", { name, members });
export const groupDetails = (groupId: string) => call("group_details", { group_id: groupId });
export const addMembers = (groupId: string, userIds: string[]) =>
  call("add_members", { group_id: groupId, user_ids: userIds });
export const removeMember = (groupId: string, userId: string) =>
  call("remove_member", { group_id: groupId, user_id: userId });
export const leaveGroup = (groupId: string) => call("leave_group", { group_id: groupId });
export const getSettings = () => call("get_settings", {});
export const setSettings = (settings: Settings) => call("set_settings", { settings });

/** Stops a subscription started by one of the `on…` functions below. */
export type Unsubscribe = () => void;

/**
 * Subscribes to a Tauri event. The returned function can be called at once, even before
 * `listen` has resolved (React effects clean up synchronously). `onReady` runs once the
 * listener is attached: events sent before that moment are lost, so it is where a caller
 * re-reads what they could have changed.
 */
function subscribe<T>(event: string, handler: (payload: T) => void, onReady?: () => void): Unsubscribe {
  let stopped = false;
  let unlisten: (() => void) | null = null;
  listen<T>(event, (e) => {
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
  subscribe<ClientEvent>("sotto://client", handler, onReady);

/** The app's phase changed outside the UI's own commands (e.g. signed out elsewhere). */
export const onAppStatus = (handler: (status: AppStatus) => void) =>
  subscribe<AppStatus>("sotto://status", handler);

/** The user clicked a notification or the tray: open this conversation id. */
export const onOpenConversation = (handler: (conversationId: string) => void) =>
  subscribe<string>("sotto://open-conversation", handler);
