//! The lines of a backup file (format version 3), as `docs/backup-format.md` describes them. Key
//! material is in here, so none of these types has `Debug`.

use serde::{Deserialize, Serialize};

use crate::ConversationId;

/// The first line.
#[derive(Serialize, Deserialize)]
pub(crate) struct Header {
    pub format: String,
    pub version: u32,
    pub created_ms: i64,
    pub user_id: String,
    pub device_id: String,
    pub server: String,
    pub counts: Counts,
}

/// The most ciphertext bytes one `file_data` record carries (its line stays far below the
/// longest line read).
pub(crate) const FILE_DATA_BYTES: usize = 1024 * 1024;

/// Only what every version's header has: read first, to refuse a newer version or another file
/// with the right error before anything else is parsed.
#[derive(Deserialize)]
pub(crate) struct HeaderStart {
    pub format: String,
    pub version: u32,
}

/// How many records of each type follow (for progress; the trailer is what proves completeness).
#[derive(Serialize, Deserialize, Default, Clone, Copy)]
#[serde(default)]
pub(crate) struct Counts {
    pub meta: u64,
    pub account: u64,
    pub olm_session: u64,
    pub inbound_group_session: u64,
    pub device: u64,
    pub known_user: u64,
    pub cross_signing: u64,
    pub identity: u64,
    pub group: u64,
    pub group_change: u64,
    pub group_name_key: u64,
    pub conversation: u64,
    pub message: u64,
    pub file: u64,
    pub file_data: u64,
    pub pending_decryption: u64,
    pub received_direct: u64,
    pub megolm_index: u64,
    pub outbox: u64,
    pub reaction: u64,
    pub message_version: u64,
    pub waiting_action: u64,
    pub receipt: u64,
    pub read_mark: u64,
    pub profile: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        [
            self.meta,
            self.account,
            self.olm_session,
            self.inbound_group_session,
            self.device,
            self.known_user,
            self.cross_signing,
            self.identity,
            self.group,
            self.group_change,
            self.group_name_key,
            self.conversation,
            self.message,
            self.file,
            self.file_data,
            self.pending_decryption,
            self.received_direct,
            self.megolm_index,
            self.outbox,
            self.reaction,
            self.message_version,
            self.waiting_action,
            self.receipt,
            self.read_mark,
            self.profile,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// Every line after the header.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Record {
    /// A profile setting: `inbox_seq`, and `read_receipts` when set.
    Meta {
        key: String,
        value: String,
    },
    /// The device's vodozemac Olm account (identity keys, unpublished and fallback keys): the
    /// JSON of its serde `AccountPickle` (kept as JSON here: an internally tagged enum cannot
    /// hold vodozemac's pickle types directly).
    Account {
        pickle: serde_json::Value,
    },
    OlmSession {
        session_id: String,
        curve25519: String,
        /// The JSON of vodozemac's serde `SessionPickle`.
        pickle: serde_json::Value,
        created_ts: i64,
        last_used_ts: i64,
    },
    /// A Megolm session key received from a device, in vodozemac's exported form.
    InboundGroupSession {
        session_id: String,
        group_id: String,
        sender_user: String,
        sender_device: String,
        sender_curve: String,
        first_index: u32,
        session_key: String,
        received_ts: i64,
    },
    /// A pinned device (the trust decision: these keys belong to this device).
    Device {
        user_id: String,
        device_id: String,
        curve25519: String,
        ed25519: String,
        first_seen: i64,
        active: bool,
        /// Whether its user's identity confirmed it (files from before identities: no).
        #[serde(default)]
        confirmed: bool,
    },
    /// This user's private cross-signing keys (unpadded base64), when the device held them.
    CrossSigning {
        master: String,
        self_signing: String,
        user_signing: String,
    },
    /// An identity pinned for a user (the trust decision: this master key is theirs).
    Identity {
        user_id: String,
        master_key: String,
        self_signing_key: String,
        user_signing_key: String,
        signature: String,
        first_seen: i64,
    },
    KnownUser {
        user_id: String,
        fetched_ts: i64,
        /// The safety number (digits) the person marked verified with this user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verified: Option<String>,
    },
    Group {
        group_id: String,
        name: String,
        version: i64,
        members: serde_json::Value,
        joined: bool,
        /// The hash of the last verified change (files from before signed changes: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        head: Option<String>,
        /// The last warning shown in the group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warning: Option<String>,
        /// The name as its creator sealed it (then `name` is it opened, or a stand-in).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_name: Option<String>,
        /// Who is invited (a JSON array of user ids; files from before invitations: none).
        #[serde(default, skip_serializing_if = "is_empty_array")]
        invited: serde_json::Value,
    },
    /// Someone's profile key (this user's own included) with the version it came with, and
    /// the name and picture last read (the picture a JPEG, base64).
    Profile {
        user_id: String,
        key: String,
        key_version: i64,
        card_version: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar: Option<String>,
    },
    /// The key a group's name is sealed with (unpadded base64).
    GroupNameKey {
        group_id: String,
        key: String,
    },
    /// A verified signed change of a group, as this device checked it.
    GroupChange {
        group_id: String,
        seq: i64,
        hash: String,
        change: String,
        signature: String,
    },
    Conversation {
        id: ConversationId,
        kind: String,
        peer: String,
        title: String,
        last_ts: i64,
        last_preview: String,
        unread: i64,
        /// From version 3, each optional: muted until (ms), archived, when pinned (ms), marked
        /// unread, the draft.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        muted_until: Option<i64>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        archived: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pinned_ts: Option<i64>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        marked_unread: bool,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        draft: String,
    },
    Message {
        id: i64,
        conversation_id: ConversationId,
        message_id: String,
        sender_user: String,
        sender_device: Option<String>,
        kind: String,
        body: String,
        status: String,
        reason: Option<String>,
        outgoing: bool,
        ts: i64,
        server_ts: Option<i64>,
        /// The message it answers (its sender and id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_sender: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_id: Option<String>,
        /// When its sender last edited it, or deleted it for everyone (their clock, ms).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edited_ts: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deleted_ts: Option<i64>,
    },
    /// A reaction on a message (by its sender and id), given or taken back at `ts`.
    Reaction {
        conversation_id: ConversationId,
        target_sender: String,
        target_id: String,
        reactor: String,
        emoji: String,
        ts: i64,
        present: bool,
    },
    /// An earlier (or the current) text of an edited message.
    MessageVersion {
        message_row: i64,
        body: String,
        ts: i64,
    },
    /// Who got (and who saw) one of this user's messages.
    Receipt {
        message_row: i64,
        reader: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivered_ts: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read_ts: Option<i64>,
    },
    /// The newest message of a conversation whose read receipt was sent.
    ReadMark {
        conversation_id: ConversationId,
        up_to_row: i64,
    },
    /// An edit or deletion waiting for its message.
    WaitingAction {
        conversation_id: ConversationId,
        target_sender: String,
        target_id: String,
        actor: String,
        action: String,
        ts: i64,
        received_ts: i64,
    },
    /// A message's file: what opens it, and whether its ciphertext follows (`data`: in
    /// `file_data` records right after this one).
    File {
        message_row: i64,
        name: String,
        mime: String,
        size: u64,
        file_key: crate::attachment::FileKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blob_id: Option<String>,
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blurhash: Option<String>,
        /// The thumbnail JPEG, base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumbnail: Option<String>,
        data: bool,
    },
    /// The next piece of the ciphertext of the file just announced (base64 of at most
    /// [`FILE_DATA_BYTES`]).
    FileData {
        message_row: i64,
        data: String,
    },
    PendingDecryption {
        message_row: i64,
        session_id: Option<String>,
        entry: String,
    },
    ReceivedDirect {
        sender_user: String,
        message_id: String,
    },
    MegolmIndex {
        session_id: String,
        message_index: i64,
        message_id: String,
    },
    /// An unsent message; it is encrypted afresh when it is sent.
    Outbox {
        message_id: String,
        conversation_id: ConversationId,
        body: String,
        attempts: i64,
        created_ts: i64,
        /// For an action (reaction, edit, deletion): what it carries, as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<String>,
    },
    /// The last line: how many records came between the header and it.
    End {
        records: u64,
    },
}

/// No one invited: left out of a backup's group record.
fn is_empty_array(value: &serde_json::Value) -> bool {
    value.is_null() || value.as_array().is_some_and(Vec::is_empty)
}
