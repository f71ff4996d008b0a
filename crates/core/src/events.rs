//! What the engine tells the app, on a broadcast channel.

use serde::{Deserialize, Serialize};
use sotto_proto::MembershipChange;

use crate::ConversationId;
use crate::store::{Conversation, Message};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not connected; sends are queued.
    Offline,
    Connecting,
    /// Connected and catching up on what arrived while offline.
    Syncing,
    /// Connected and up to date.
    Online,
    /// The server presents another certificate than the one trusted: nothing is sent or
    /// received until the person trusts the new one (or the old one is back, after a restart).
    CertificateChanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum KeyChange {
    /// The contact signed in on a new device (or re-installed).
    NewDevice,
    /// A known device now presents different keys.
    IdentityChanged,
    /// A device was signed out.
    DeviceRemoved,
    /// A device listed for the user that the user has not confirmed (with their identity): it
    /// is given no keys. Either the user has yet to confirm a new device, or someone (the
    /// server) added a device to their account.
    UnconfirmedDevice,
    /// A device the user had not confirmed is now confirmed by them.
    DeviceConfirmed,
    /// The user's identity (master key) changed: they started over, or someone is pretending
    /// to be them. The safety number changed.
    MasterKeyChanged,
    /// A contact known from before identities published one; it is pinned from now on.
    IdentitySetUp,
}

/// Something about a group that its members did not sign, shown as a warning line in the group:
/// the server (or someone) tried to change who is in it, or hides changes members made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum GroupWarning {
    /// A change was refused: not signed by a confirmed device of a member allowed to make it,
    /// or not following the changes this device has (reordered, replayed, forked).
    ChangeRefused,
    /// The server reported a change no member signed.
    UnsignedChange,
    /// The server's member list differs from the one the members' changes make.
    MembersDisagree,
    /// Changes members made are missing: the server did not hand them over.
    ChangesWithheld,
    /// A member's last change differs from this device's at the same number: the server shows
    /// members different versions of the group.
    Forked,
    /// A message from someone who is not a member as the signed changes have it.
    NotAMember,
    /// A member signed the member list of a group from before lists were signed (a one-time
    /// step: from then on every change is signed).
    ListAdopted,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientEvent {
    /// A new message (or system line) was stored.
    MessageReceived {
        message: Message,
    },
    /// A message's status changed: an outgoing one was sent or failed, or an undecryptable one
    /// became readable.
    StatusChanged {
        message: Message,
    },
    /// What a message shows changed: its sender edited or deleted it, or its reactions changed.
    MessageChanged {
        message: Message,
    },
    /// A "not decrypted yet" placeholder went: it turned out to be no message (a receipt, a
    /// reaction or a key its sender could not send again).
    MessageRemoved {
        conversation_id: ConversationId,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        message_row: i64,
    },
    ConversationUpdated {
        conversation: Conversation,
    },
    /// The conversation was deleted from this device.
    ConversationRemoved {
        conversation_id: ConversationId,
    },
    MembershipChanged {
        group_id: String,
        change: MembershipChange,
        actor: String,
        users: Vec<String>,
    },
    ContactKeyChanged {
        user_id: String,
        device_id: String,
        change: KeyChange,
        /// This person had marked the safety number with `user_id` verified, and it held until
        /// this change (see [`crate::Client::set_verified`]).
        was_verified: bool,
    },
    ConnectionChanged {
        state: ConnectionState,
    },
    /// A device verification started, moved on, or ended (see `Client::start_device_confirmation`).
    Verification {
        verification: crate::client::VerificationView,
    },
    /// A file is moving: `done` of `total` bytes (of its ciphertext) are up or down. Published in
    /// steps of at least 1/200; the message itself follows as `status_changed` when it is done.
    FileProgress {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        message_row: i64,
        conversation_id: ConversationId,
        direction: crate::client::Transfer,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        done: u64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        total: u64,
    },
    /// Someone started or stopped typing in a conversation (online only, never stored). A
    /// `typing: true` without a follow-up should be shown for a few seconds at most.
    Typing {
        conversation_id: ConversationId,
        user_id: String,
        typing: bool,
    },
    /// Someone's name or picture changed (this user's own included).
    ProfileChanged {
        profile: crate::store::ContactProfile,
    },
}
