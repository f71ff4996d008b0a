//! What is inside the ciphertexts: versioned, tagged plaintext envelopes.
//!
//! Every Olm plaintext names its sender and recipient devices with their Ed25519 keys, so a
//! ciphertext cannot be re-addressed or attributed to another device; every Megolm plaintext
//! names its group and sender, checked against the session's owner.

use serde::{Deserialize, Serialize};
use sotto_proto::{DeviceAddress, GroupId, UserId};

pub const PAYLOAD_VERSION: u32 = 1;

/// Inside an Olm (one-to-one) ciphertext.
#[derive(Serialize, Deserialize)]
pub struct OlmPlaintext {
    pub v: u32,
    pub sender: DeviceAddress,
    pub sender_ed25519: String,
    pub recipient: DeviceAddress,
    pub recipient_ed25519: String,
    pub content: OlmContent,
}

/// [`OlmPlaintext`] as it is written, borrowing its content.
#[derive(Serialize)]
pub struct OlmPlaintextOut<'a> {
    pub v: u32,
    pub sender: DeviceAddress,
    pub sender_ed25519: String,
    pub recipient: DeviceAddress,
    pub recipient_ed25519: String,
    pub content: &'a OlmContent,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OlmContent {
    /// A text message in the one-to-one conversation with `to` (the recipient user, or for the
    /// sender's own other devices, the person the message was sent to).
    /// With `reply_to`, it answers that earlier message of the conversation.
    Text {
        to: UserId,
        body: String,
        ts: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageRef>,
        /// The sender's profile key, while the conversation has not had it yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile_key: Option<ProfileKeyShare>,
    },
    /// Something done to an earlier message of the one-to-one conversation with `to` (a
    /// reaction, an edit, a deletion: see [`Action`]), written at `ts` by the sender's clock.
    Act { to: UserId, action: Action, ts: i64 },
    /// A Megolm session key for a group, from the device that sends with it, and the key the
    /// group's name is sealed with (absent from senders before names were sealed).
    RoomKey {
        group_id: GroupId,
        session_id: String,
        session_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name_key: Option<String>,
    },
    /// Nothing to show: the sender started a new Olm session with this device (after a restore
    /// from a backup, or because one of our messages did not decrypt), and this message carries
    /// it. Decrypting it makes the new session the newest one, which the recipient then sends
    /// with.
    SessionRenewed,
    /// Olm messages from the recipient (`message_ids`, the server's ids) did not decrypt on the
    /// sending device: send them again if they are recent (see `client::resend`).
    ResendRequest { message_ids: Vec<String> },
    /// The answer to a resend request for ids that were never messages (a receipt, a
    /// reaction, a key): nothing to show. The requester drops its "not decrypted" placeholders
    /// of those ids from this device.
    NotAMessage { message_ids: Vec<String> },
    /// A text message sent again because the recipient asked: it replaces the undecryptable
    /// message `original` from the same device, and is dropped anywhere that has no such message.
    /// A file message sent again carries its `file` too (`body` is then its caption).
    Resent {
        to: UserId,
        body: String,
        ts: i64,
        original: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<Box<FileContent>>,
        /// The sender's profile key (the message that gave it may be the one sent again).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile_key: Option<ProfileKeyShare>,
    },
    /// In place of a message in the one-to-one conversation with `to`, for a device its user
    /// has not confirmed: what was sent is not given to it, only that something was.
    Withheld { to: UserId },
    /// In place of a group's session key, for a device its user has not confirmed.
    RoomKeyWithheld { group_id: GroupId, session_id: String },
    /// Short authentication string verification between two devices (see `client::link`):
    /// the initiator asks to start.
    SasStart { txn: String },
    /// The other device accepts, committing to its key: SHA-256 of its key and `txn`.
    SasAccept { txn: String, commitment: String },
    /// A device's ephemeral Curve25519 key (the initiator's first, then the other's).
    SasKey { txn: String, key: String },
    /// After its user confirmed that the emoji match: MACs (under the SAS key) of the sender's
    /// keys by key id (`ed25519:<device>`, `master:<user>`), and of the sorted key ids.
    SasMac { txn: String, macs: std::collections::BTreeMap<String, String>, keys: String },
    /// The verification stopped; `reason` is a code (`mismatch`, `user`, `keys`, `timeout`, ...).
    SasCancel { txn: String, reason: String },
    /// The user's private cross-signing keys, from a device that holds them to a device of the
    /// same user it just verified and confirmed.
    IdentityKeys { txn: String, master: String, self_signing: String, user_signing: String },
    /// Group session keys, from a device of the same user (after confirming this one), in the
    /// key backup's exported form, so this device reads the groups' past messages.
    GroupKeys { sessions: Vec<crate::backup::Record> },
    /// One-to-one messages, from a device of the same user that confirmed this one, when the
    /// person chose to copy their conversations to it.
    History { messages: Vec<HistoryMessage> },
    /// The key that opens a group's sealed name, for someone invited to it: the invitation
    /// shows the group's name before they join (nothing else of the group). Taken only if it
    /// opens the name the group's signed log carries.
    GroupNameKey { group_id: GroupId, name_key: String },
    /// The one-to-one conversation with `to` gets a disappearing-messages timer (`seconds`), or
    /// none; set at `ts` by the sender's clock.
    Timer {
        to: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
        ts: i64,
    },
    /// Receipts for messages the recipient sent: this device decrypted them (`delivered`), or
    /// its user saw them (`read`). Sent to the messages' sender only (and the sender's own
    /// other devices, which mark the conversation read), also for a group's messages
    /// (`group_id`); `to` is the sender, as for a text.
    Receipt {
        to: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<GroupId>,
        kind: ReceiptKind,
        message_ids: Vec<String>,
        ts: i64,
    },
    /// A file in the one-to-one conversation with `to` (see [`FileContent`]).
    File {
        to: UserId,
        file: FileContent,
        ts: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile_key: Option<ProfileKeyShare>,
    },
    /// The sender's profile key (see [`crate::crypto::profile_key`]), and the version of their
    /// profile it opens: sent before the first message to someone, and to everyone they talk
    /// with when the profile changes.
    ProfileKey { key: String, version: u64 },
    /// Something a newer version of Sotto sends: ignored (never shown as a broken message).
    #[serde(other)]
    Unknown,
}

/// A profile key given with a message (see [`crate::crypto::profile_key`]), and the version of
/// the profile it opens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileKeyShare {
    pub key: String,
    pub version: u64,
}

impl std::fmt::Debug for ProfileKeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileKeyShare").field("version", &self.version).finish_non_exhaustive()
    }
}

impl GroupContent {
    /// The profile key a message carries.
    pub fn profile_key(&self) -> Option<&ProfileKeyShare> {
        match self {
            GroupContent::Text { profile_key, .. } | GroupContent::File { profile_key, .. } => profile_key.as_ref(),
            _ => None,
        }
    }
}

/// What a receipt says of the messages it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// A device of the recipient decrypted them.
    Delivered,
    /// The recipient saw them (the conversation was shown).
    Read,
}

/// An earlier message of the conversation: who sent it, and the id they gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub sender: UserId,
    pub message_id: String,
}

/// Something done to an earlier message. Each is checked where it arrives: an edit or a
/// deletion counts only from the message's own sender; one that arrives before its message
/// waits for it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// A reaction (one emoji) added, or with `remove` taken back.
    React {
        target: MessageRef,
        emoji: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        remove: bool,
    },
    /// The sender's own text (or a file's caption) replaced by `body`.
    Edit { target: MessageRef, body: String },
    /// The sender's own message deleted for everyone.
    Delete { target: MessageRef },
}

impl Action {
    pub fn target(&self) -> &MessageRef {
        match self {
            Action::React { target, .. } | Action::Edit { target, .. } | Action::Delete { target } => target,
        }
    }
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The kind only: an edit's text and a reaction are content.
        f.write_str(match self {
            Action::React { .. } => "react",
            Action::Edit { .. } => "edit",
            Action::Delete { .. } => "delete",
        })
    }
}

/// A file as the end-to-end message carries it: where its ciphertext is on the server, what
/// opens and checks it, what it is, and for an image its preview. The server sees none of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContent {
    pub blob_id: sotto_proto::BlobId,
    pub key: crate::attachment::FileKey,
    /// The file's name as the sender had it (a name only: receivers never use it as a path).
    pub name: String,
    /// Its media type as the sender guessed it (`application/octet-stream` when unknown).
    pub mime: String,
    /// Text sent with the file (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub caption: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<crate::preview::ImagePreview>,
}

impl std::fmt::Debug for FileContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The name and caption are the message's content: never in logs.
        f.debug_struct("FileContent").field("key", &self.key).field("preview", &self.preview).finish_non_exhaustive()
    }
}

/// A one-to-one text or file message as a device of the same user hands it over.
#[derive(Clone, Serialize, Deserialize)]
pub struct HistoryMessage {
    /// Whose conversation it is in.
    pub peer: UserId,
    pub message_id: String,
    pub sender_user: UserId,
    pub sender_device: Option<String>,
    pub body: String,
    pub outgoing: bool,
    pub ts: i64,
    pub server_ts: Option<i64>,
    /// A file message's file (`body` is then its caption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Box<FileContent>>,
    /// The message it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageRef>,
    /// When its sender last edited it (its `body` is the latest text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_ts: Option<i64>,
    /// When its sender deleted it for everyone (`body` empty, no file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_ts: Option<i64>,
    /// Its reactions: each emoji with who gave it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<HistoryReaction>,
}

/// A reaction on a handed-over message.
#[derive(Clone, Serialize, Deserialize)]
pub struct HistoryReaction {
    pub emoji: String,
    pub users: Vec<UserId>,
}

impl std::fmt::Debug for OlmContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the kind: bodies and keys never reach logs.
        let name: &'static str = match self {
            OlmContent::Text { .. } => "text",
            OlmContent::Act { .. } => "act",
            OlmContent::Receipt { .. } => "receipt",
            OlmContent::NotAMessage { .. } => "not_a_message",
            OlmContent::Timer { .. } => "timer",
            OlmContent::RoomKey { .. } => "room_key",
            OlmContent::SessionRenewed => "session_renewed",
            OlmContent::ResendRequest { .. } => "resend_request",
            OlmContent::Resent { .. } => "resent",
            OlmContent::Withheld { .. } => "withheld",
            OlmContent::RoomKeyWithheld { .. } => "room_key_withheld",
            OlmContent::SasStart { .. } => "sas_start",
            OlmContent::SasAccept { .. } => "sas_accept",
            OlmContent::SasKey { .. } => "sas_key",
            OlmContent::SasMac { .. } => "sas_mac",
            OlmContent::SasCancel { .. } => "sas_cancel",
            OlmContent::IdentityKeys { .. } => "identity_keys",
            OlmContent::GroupKeys { .. } => "group_keys",
            OlmContent::History { .. } => "history",
            OlmContent::GroupNameKey { .. } => "group_name_key",
            OlmContent::File { .. } => "file",
            OlmContent::ProfileKey { .. } => "profile_key",
            OlmContent::Unknown => "unknown",
        };
        f.write_str(name)
    }
}

impl OlmContent {
    /// What a device its user has not confirmed gets instead of this: nothing secret. `None`
    /// when this holds nothing secret (it may go to any device).
    pub fn withheld(&self) -> Option<OlmContent> {
        match self {
            OlmContent::Text { to, .. } | OlmContent::Resent { to, .. } | OlmContent::File { to, .. } => {
                Some(OlmContent::Withheld { to: to.clone() })
            }
            OlmContent::RoomKey { group_id, session_id, .. } => {
                Some(OlmContent::RoomKeyWithheld { group_id: group_id.clone(), session_id: session_id.clone() })
            }
            // Never to an unconfirmed device: the verification that would confirm it stops.
            OlmContent::IdentityKeys { txn, .. } => {
                Some(OlmContent::SasCancel { txn: txn.clone(), reason: "unconfirmed".into() })
            }
            // (An action withheld shows nothing: no placeholder for a reaction or an edit.)
            OlmContent::GroupKeys { .. }
            | OlmContent::History { .. }
            | OlmContent::GroupNameKey { .. }
            | OlmContent::Act { .. }
            | OlmContent::Timer { .. }
            | OlmContent::ProfileKey { .. }
            | OlmContent::Receipt { .. } => Some(OlmContent::SessionRenewed),
            OlmContent::SessionRenewed
            | OlmContent::ResendRequest { .. }
            | OlmContent::NotAMessage { .. }
            | OlmContent::Withheld { .. }
            | OlmContent::RoomKeyWithheld { .. }
            | OlmContent::SasStart { .. }
            | OlmContent::SasAccept { .. }
            | OlmContent::SasKey { .. }
            | OlmContent::SasMac { .. }
            | OlmContent::SasCancel { .. }
            | OlmContent::Unknown => None,
        }
    }
}

/// Inside a Megolm (group) ciphertext.
#[derive(Serialize, Deserialize)]
pub struct GroupPlaintext {
    pub v: u32,
    pub group_id: GroupId,
    pub sender: DeviceAddress,
    pub content: GroupContent,
    /// The group's last signed change as the sender had it: receivers compare it with theirs, so
    /// a server that shows members different changes (a fork), or holds a change back from some,
    /// is seen. Absent from senders before changes were signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<GroupHead>,
}

/// [`GroupPlaintext`] as it is written, borrowing its content.
#[derive(Serialize)]
pub struct GroupPlaintextOut<'a> {
    pub v: u32,
    pub group_id: GroupId,
    pub sender: DeviceAddress,
    pub content: &'a GroupContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<GroupHead>,
}

/// A group's last change: its number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupHead {
    pub seq: u64,
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GroupContent {
    Text {
        body: String,
        ts: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageRef>,
        /// The sender's profile key, while the group has not had it yet (or someone joined).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile_key: Option<ProfileKeyShare>,
    },
    /// Something done to an earlier message of the group (see [`Action`]).
    Act { action: Action, ts: i64 },
    /// The group's disappearing-messages timer (`seconds`), or none.
    Timer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
        ts: i64,
    },
    File {
        file: Box<FileContent>,
        ts: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile_key: Option<ProfileKeyShare>,
    },
    /// The sender's profile key, for the group's members (as [`OlmContent::ProfileKey`]).
    ProfileKey { key: String, version: u64 },
    /// Something a newer version of Sotto sends: ignored.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_snapshot() {
        let addr = |u: &str, d: &str| DeviceAddress {
            user_id: UserId::parse(u).unwrap(),
            device_id: sotto_proto::DeviceId::parse(d).unwrap(),
        };
        let p = OlmPlaintext {
            v: 1,
            sender: addr("alice", "A1"),
            sender_ed25519: "E".into(),
            recipient: addr("bob", "B1"),
            recipient_ed25519: "F".into(),
            content: OlmContent::Text {
                to: UserId::parse("bob").unwrap(),
                body: "hi".into(),
                ts: 5,
                reply_to: None,
                profile_key: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"v":1,"sender":{"user_id":"alice","device_id":"A1"},"sender_ed25519":"E","recipient":{"user_id":"bob","device_id":"B1"},"recipient_ed25519":"F","content":{"type":"text","to":"bob","body":"hi","ts":5}}"#
        );
        assert_eq!(serde_json::to_string(&OlmContent::SessionRenewed).unwrap(), r#"{"type":"session_renewed"}"#);
        assert_eq!(
            serde_json::to_string(&OlmContent::ResendRequest { message_ids: vec!["m1".into()] }).unwrap(),
            r#"{"type":"resend_request","message_ids":["m1"]}"#
        );
        let resent = OlmContent::Resent {
            to: UserId::parse("bob").unwrap(),
            body: "hi".into(),
            ts: 5,
            original: "m1".into(),
            file: None,
            profile_key: None,
        };
        assert_eq!(
            serde_json::to_string(&resent).unwrap(),
            r#"{"type":"resent","to":"bob","body":"hi","ts":5,"original":"m1"}"#
        );
        let text = OlmContent::Text {
            to: UserId::parse("bob").unwrap(),
            body: "secret".into(),
            ts: 5,
            reply_to: None,
            profile_key: None,
        };
        let withheld = serde_json::to_string(&text.withheld().unwrap()).unwrap();
        assert_eq!(withheld, r#"{"type":"withheld","to":"bob"}"#);
        let key = OlmContent::RoomKey {
            group_id: GroupId::parse("g1").unwrap(),
            session_id: "S".into(),
            session_key: "secret key".into(),
            name_key: Some("name key".into()),
        };
        // A withheld key says nothing of either key.
        assert_eq!(
            serde_json::to_string(&key.withheld().unwrap()).unwrap(),
            r#"{"type":"room_key_withheld","group_id":"g1","session_id":"S"}"#
        );
        assert!(OlmContent::SessionRenewed.withheld().is_none());
        let g = GroupPlaintext {
            v: 1,
            group_id: GroupId::parse("g1").unwrap(),
            sender: addr("alice", "A1"),
            content: GroupContent::Text { body: "yo".into(), ts: 7, reply_to: None, profile_key: None },
            state: None,
        };
        assert_eq!(
            serde_json::to_string(&g).unwrap(),
            r#"{"v":1,"group_id":"g1","sender":{"user_id":"alice","device_id":"A1"},"content":{"type":"text","body":"yo","ts":7}}"#
        );
        let at = GroupPlaintext { state: Some(GroupHead { seq: 3, hash: "H".into() }), ..g };
        assert!(serde_json::to_string(&at).unwrap().ends_with(r#","state":{"seq":3,"hash":"H"}}"#));
    }

    #[test]
    fn replies_and_actions_name_their_message_and_withhold_quietly() {
        let bob = UserId::parse("bob").unwrap();
        let target = MessageRef { sender: bob.clone(), message_id: "m1".into() };
        let reply = GroupContent::Text { body: "yes".into(), ts: 7, reply_to: Some(target.clone()), profile_key: None };
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            r#"{"type":"text","body":"yes","ts":7,"reply_to":{"sender":"bob","message_id":"m1"}}"#
        );
        let react = OlmContent::Act {
            to: bob.clone(),
            action: Action::React { target: target.clone(), emoji: "👍".into(), remove: false },
            ts: 8,
        };
        assert_eq!(
            serde_json::to_string(&react).unwrap(),
            r#"{"type":"act","to":"bob","action":{"do":"react","target":{"sender":"bob","message_id":"m1"},"emoji":"👍"},"ts":8}"#
        );
        let edit = GroupContent::Act { action: Action::Edit { target: target.clone(), body: "new".into() }, ts: 9 };
        assert_eq!(
            serde_json::to_string(&edit).unwrap(),
            r#"{"type":"act","action":{"do":"edit","target":{"sender":"bob","message_id":"m1"},"body":"new"},"ts":9}"#
        );
        let delete = OlmContent::Act { to: bob, action: Action::Delete { target }, ts: 10 };
        // To a device its user has not confirmed: nothing shown, and nothing of the action.
        assert_eq!(serde_json::to_string(&delete.withheld().unwrap()).unwrap(), r#"{"type":"session_renewed"}"#);
        // An older version's text (no reply) still reads.
        let old: GroupContent = serde_json::from_str(r#"{"type":"text","body":"yo","ts":7}"#).unwrap();
        assert!(matches!(old, GroupContent::Text { reply_to: None, .. }));
    }

    #[test]
    fn files_travel_with_their_key_and_unknown_kinds_are_skipped() {
        let file = FileContent {
            blob_id: sotto_proto::BlobId::parse("bbbbbbbbbbbbbbbbbbbbbb").unwrap(),
            key: crate::attachment::FileKey {
                key: "K".into(),
                nonce: "N".into(),
                size: 1,
                encrypted_size: 17,
                sha256: "ab".into(),
            },
            name: "a.txt".into(),
            mime: "text/plain".into(),
            caption: String::new(),
            preview: None,
        };
        let content =
            OlmContent::File { to: UserId::parse("bob").unwrap(), file: file.clone(), ts: 5, profile_key: None };
        assert_eq!(
            serde_json::to_string(&content).unwrap(),
            r#"{"type":"file","to":"bob","file":{"blob_id":"bbbbbbbbbbbbbbbbbbbbbb","key":{"key":"K","nonce":"N","size":1,"encrypted_size":17,"sha256":"ab"},"name":"a.txt","mime":"text/plain"},"ts":5}"#
        );
        // An unconfirmed device learns that something was sent, not the key.
        assert_eq!(serde_json::to_string(&content.withheld().unwrap()).unwrap(), r#"{"type":"withheld","to":"bob"}"#);
        let group = GroupContent::File { file: Box::new(file), ts: 5, profile_key: None };
        let back: GroupContent = serde_json::from_str(&serde_json::to_string(&group).unwrap()).unwrap();
        assert!(matches!(back, GroupContent::File { ts: 5, .. }));
        // Kinds from a newer version read as `Unknown`, not as a broken message.
        let newer: OlmContent = serde_json::from_str(r#"{"type":"reaction","to":"bob","emoji":"👍"}"#).unwrap();
        assert!(matches!(newer, OlmContent::Unknown));
        let newer: GroupContent = serde_json::from_str(r#"{"type":"edit","body":"x"}"#).unwrap();
        assert!(matches!(newer, GroupContent::Unknown));
    }
}
