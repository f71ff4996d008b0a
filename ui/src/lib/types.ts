//! The one place the UI imports the IPC types from. They are generated from Rust (ts-rs);
//! every other module imports them from here, so a regenerated binding is a one-line switch.

export type { Account } from "./bindings/Account";
export type { AppStatus } from "./bindings/AppStatus";
export type { ClientEvent } from "./bindings/ClientEvent";
export type { CommandError } from "./bindings/CommandError";
export type { ConnectionState } from "./bindings/ConnectionState";
export type { Conversation } from "./bindings/Conversation";
export type { ConversationKind } from "./bindings/ConversationKind";
export type { DeviceSummary } from "./bindings/DeviceSummary";
export type { GroupMember } from "./bindings/GroupMember";
export type { KeyChange } from "./bindings/KeyChange";
export type { LocalGroup } from "./bindings/LocalGroup";
export type { LocalServerInfo } from "./bindings/LocalServerInfo";
export type { LockedProfile } from "./bindings/LockedProfile";
export type { MembershipChange } from "./bindings/MembershipChange";
export type { Message } from "./bindings/Message";
export type { MessageKind } from "./bindings/MessageKind";
export type { MessageStatus } from "./bindings/MessageStatus";
export type { Phase } from "./bindings/Phase";
export type { Role } from "./bindings/Role";
export type { SearchHit } from "./bindings/SearchHit";
export type { Settings } from "./bindings/Settings";
export type { SignInRequest } from "./bindings/SignInRequest";
export type { Theme } from "./bindings/Theme";
