//! Messages: insert (deduplicated), read back a page at a time in conversation order, status
//! changes, and an undecryptable row decrypted in place.
//!
//! Invariants: a message is stored once per (conversation, sender, message id), so a redelivery
//! stores nothing; conversation order is [`ORDER_KEY`] then row id, the expression of the
//! `messages_order` index, so every page is one index range.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use sotto_proto::{DeviceId, ErrorCode, UserId};

use super::actions::{Quote, Reaction};
use super::attachments::{FileInfo, FileRow, file_columns, to_file_info};
use super::conversations::preview;
use super::receipts::Receipts;
use super::search::META_FTS_INDEXED;
use crate::crypto::Undecryptable;
use crate::events::{GroupWarning, KeyChange};
use crate::store::{Db, StoreError};
use crate::{ConversationId, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    /// A file (the message's `file`), with its caption as the body.
    File,
    /// A line the app writes: membership changes, a contact's new device or changed key.
    System,
    /// Kept with its ciphertext and retried when keys arrive; `reason` says why.
    Undecryptable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Outgoing, waiting in the outbox (offline, or being sent).
    Queued,
    /// Outgoing, stored by the server (delivered to the server for every recipient device).
    Sent,
    /// Outgoing, refused for good; `reason` says why. Can be retried by hand.
    Failed,
    /// Incoming and decrypted.
    Received,
    /// Incoming and not decryptable (yet); `reason` says why.
    Undecryptable,
    /// A system line.
    System,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Received => "received",
            MessageStatus::Undecryptable => "undecryptable",
            MessageStatus::System => "system",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => MessageStatus::Queued,
            "sent" => MessageStatus::Sent,
            "failed" => MessageStatus::Failed,
            "received" => MessageStatus::Received,
            "undecryptable" => MessageStatus::Undecryptable,
            "system" => MessageStatus::System,
            _ => return Err(StoreError::unknown("messages", "status").into()),
        })
    }
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::File => "file",
            MessageKind::System => "system",
            MessageKind::Undecryptable => "undecryptable",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "text" => MessageKind::Text,
            "file" => MessageKind::File,
            "system" => MessageKind::System,
            "undecryptable" => MessageKind::Undecryptable,
            _ => return Err(StoreError::unknown("messages", "kind").into()),
        })
    }
}

/// One message of a conversation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Message {
    /// Local position; later messages have larger ids. Use as the paging cursor.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub id: i64,
    pub conversation_id: ConversationId,
    pub message_id: String,
    pub sender_user: String,
    pub sender_device: Option<String>,
    pub kind: MessageKind,
    pub body: String,
    pub status: MessageStatus,
    /// Why a message failed or cannot be decrypted, or which key change a system message is
    /// about; on a received text, `unconfirmed_device` while its sending device is not confirmed
    /// by its user.
    pub reason: Option<MessageReason>,
    pub outgoing: bool,
    /// When it was written, by the sender's clock (carried inside the ciphertext, so the server
    /// cannot change it), ms. The conversation is ordered by `server_ts`; a `ts` far from it
    /// means the sender's clock is off.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts: i64,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub server_ts: Option<i64>,
    /// The file of a `file` message.
    pub file: Option<FileInfo>,
    /// The message this one answers.
    pub reply_to: Option<Quote>,
    /// Reactions, each emoji once with who reacted, in the order they were first given.
    pub reactions: Vec<Reaction>,
    /// Its sender changed its text (the earlier versions stay on this device).
    pub edited: bool,
    /// Its sender deleted it for everyone: no text, no file, no reactions are left.
    pub deleted: bool,
    /// For this user's own texts and files: who got it and who saw it.
    pub receipts: Option<Receipts>,
}

impl Message {
    /// Its place in the conversation (what [`ORDER_KEY`] computes in SQL); ties go by `id`.
    pub fn order_key(&self) -> i64 {
        self.server_ts.unwrap_or(self.ts)
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("conversation_id", &self.conversation_id)
            .field("message_id", &self.message_id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What a message that could not be read at first turned out to say.
pub struct Decrypted<'a> {
    pub body: &'a str,
    /// Sent by this user (from another of their devices).
    pub from_me: bool,
    /// The sender's time (inside the ciphertext); 0 keeps the time stored.
    pub ts: i64,
    /// From a device its user confirmed (else marked `unconfirmed_device`).
    pub confirmed: bool,
    /// A file message's file (already stored with [`Db::insert_file`]).
    pub file: Option<&'a FileInfo>,
}

/// Why a message is as it is, stored as its code in the `reason` column: the error that stopped an
/// outgoing send (`failed`), why an incoming one cannot be read (`undecryptable`), or which key
/// change a system message reports. The message's status says which of the three it is; the codes
/// of the three sets are distinct, so the text alone also reads back unambiguously.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum MessageReason {
    Undecryptable(Undecryptable),
    KeyChange(KeyChange),
    GroupWarning(GroupWarning),
    /// Last: it reads any other text (as [`ErrorCode::Unknown`]).
    Failed(ErrorCode),
}

impl MessageReason {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageReason::Undecryptable(u) => u.code(),
            MessageReason::KeyChange(k) => k.into(),
            MessageReason::GroupWarning(w) => w.into(),
            MessageReason::Failed(c) => c.as_str(),
        }
    }

    /// A stored code read back; text of a newer version reads as an unknown error code.
    pub fn parse(code: &str) -> MessageReason {
        use serde::de::IntoDeserializer;
        let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = code.into_deserializer();
        MessageReason::deserialize(text).unwrap_or(MessageReason::Failed(ErrorCode::Unknown))
    }
}

impl From<Undecryptable> for MessageReason {
    fn from(u: Undecryptable) -> Self {
        MessageReason::Undecryptable(u)
    }
}

impl From<GroupWarning> for MessageReason {
    fn from(w: GroupWarning) -> Self {
        MessageReason::GroupWarning(w)
    }
}

impl From<KeyChange> for MessageReason {
    fn from(k: KeyChange) -> Self {
        MessageReason::KeyChange(k)
    }
}

impl From<ErrorCode> for MessageReason {
    fn from(c: ErrorCode) -> Self {
        MessageReason::Failed(c)
    }
}

/// A message to insert.
pub struct NewMessage<'a> {
    pub conversation_id: &'a ConversationId,
    pub message_id: &'a str,
    pub sender_user: &'a str,
    pub sender_device: Option<&'a str>,
    pub kind: MessageKind,
    pub body: &'a str,
    pub status: MessageStatus,
    pub reason: Option<MessageReason>,
    pub outgoing: bool,
    pub ts: i64,
    pub server_ts: Option<i64>,
}

#[cfg(test)]
impl<'a> NewMessage<'a> {
    /// A text received from `sender`'s device `D1` at `ts` (the server's time too): the row the
    /// store's and the export's tests build their histories from.
    pub(crate) fn received_text(
        conversation_id: &'a ConversationId,
        message_id: &'a str,
        sender: &'a str,
        body: &'a str,
        ts: i64,
    ) -> Self {
        NewMessage {
            conversation_id,
            message_id,
            sender_user: sender,
            sender_device: Some("D1"),
            kind: MessageKind::Text,
            body,
            status: MessageStatus::Received,
            reason: None,
            outgoing: false,
            ts,
            server_ts: Some(ts),
        }
    }
}

/// A message's place in its conversation: the server's time, or before the server took it, the
/// time it was written (the expression of the `messages_order` index, ties broken by row id).
pub const ORDER_KEY: &str = "coalesce(m.server_ts, m.ts)";

/// A message's columns, its file's included: select them `FROM` [`MESSAGES_FROM`].
macro_rules! message_columns {
    () => {
        concat!(
            "m.id, m.conversation_id, m.message_id, m.sender_user, m.sender_device, m.kind, m.body, m.status, \
             m.reason, m.outgoing, m.ts, m.server_ts, m.reply_sender, m.reply_id, m.edited_ts, m.deleted_ts, ",
            file_columns!()
        )
    };
}
pub(super) use message_columns;

/// How many columns [`message_columns!`] reads (a search's title and snippet follow them).
pub const MESSAGE_COLUMN_COUNT: usize = 23;
const MESSAGE_COLUMNS: &str = message_columns!();
/// The messages with their files.
const MESSAGES_FROM: &str = "messages m LEFT JOIN attachments a ON a.message_row = m.id";

type MessageRow = (
    (i64, String, String, String, Option<String>, String, String, String, Option<String>, i64, i64, Option<i64>),
    ActionColumns,
    FileRow,
);

/// What replies, edits and deletions keep on the message's row.
pub(super) struct ActionColumns {
    pub reply_sender: Option<String>,
    pub reply_id: Option<String>,
    pub edited_ts: Option<i64>,
    pub deleted_ts: Option<i64>,
}

pub(super) fn message_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    let actions =
        ActionColumns { reply_sender: r.get(12)?, reply_id: r.get(13)?, edited_ts: r.get(14)?, deleted_ts: r.get(15)? };
    let file = (r.get(16)?, r.get(17)?, r.get(18)?, r.get(19)?, r.get(20)?, r.get(21)?, r.get(22)?);
    let m = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
    );
    Ok((m, actions, file))
}

/// A message as its row holds it; what other rows say of it (its reactions, the message it
/// answers) is added by [`Db::with_details`].
pub(super) fn to_message((row, actions, file): MessageRow) -> Result<Message> {
    let reply_to = match (actions.reply_sender, actions.reply_id) {
        (Some(sender_user), Some(message_id)) => Some(Quote::unresolved(sender_user, message_id)),
        _ => None,
    };
    Ok(Message {
        id: row.0,
        conversation_id: ConversationId::parse(&row.1).map_err(StoreError::id("messages", "conversation_id"))?,
        message_id: row.2,
        sender_user: row.3,
        sender_device: row.4,
        kind: MessageKind::parse(&row.5)?,
        body: row.6,
        status: MessageStatus::parse(&row.7)?,
        reason: row.8.as_deref().map(MessageReason::parse),
        outgoing: row.9 != 0,
        ts: row.10,
        server_ts: row.11,
        file: to_file_info(file)?,
        reply_to,
        reactions: Vec::new(),
        edited: actions.edited_ts.is_some(),
        deleted: actions.deleted_ts.is_some(),
        receipts: None,
    })
}

impl Db<'_> {
    /// A device is now confirmed by its user: its messages lose their `unconfirmed_device`
    /// mark. Returns the messages changed.
    pub fn clear_unconfirmed_mark(&self, user: &UserId, device: &DeviceId) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE messages SET reason = NULL
             WHERE sender_user = ?1 AND sender_device = ?2 AND kind IN ('text', 'file') AND reason = ?3",
            params![user.as_str(), device.as_str(), <&str>::from(KeyChange::UnconfirmedDevice)],
        )?)
    }

    /// Insert a message (its conversation is updated with [`Db::touch_conversation`], and the
    /// search index by [`Db::index_pending`]). `None` when the message was already stored (a
    /// duplicate delivery).
    pub fn insert_message(&self, m: &NewMessage<'_>) -> Result<Option<Message>> {
        let inserted = self
            .conn()
            .prepare_cached(
                "INSERT INTO messages (id, conversation_id, message_id, sender_user, sender_device, kind, body, status,
                    reason, outgoing, ts, server_ts)
                 VALUES ((SELECT max(coalesce(max(id), 0), coalesce((SELECT CAST(value AS INTEGER) FROM meta
                            WHERE key = 'message_rows_used'), 0)) + 1 FROM messages),
                    ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (conversation_id, sender_user, message_id) DO NOTHING",
            )?
            .execute(params![
                m.conversation_id,
                m.message_id,
                m.sender_user,
                m.sender_device,
                m.kind.as_str(),
                m.body,
                m.status.as_str(),
                m.reason.map(MessageReason::as_str),
                i64::from(m.outgoing),
                m.ts,
                m.server_ts
            ])?;
        if inserted == 0 {
            return Ok(None);
        }
        let id = self.conn().last_insert_rowid();
        if matches!(m.kind, MessageKind::Text | MessageKind::File) {
            self.start_timer(id)?;
        }
        Ok(Some(Message {
            id,
            conversation_id: m.conversation_id.clone(),
            message_id: m.message_id.to_owned(),
            sender_user: m.sender_user.to_owned(),
            sender_device: m.sender_device.map(str::to_owned),
            kind: m.kind,
            body: m.body.to_owned(),
            status: m.status,
            reason: m.reason,
            outgoing: m.outgoing,
            ts: m.ts,
            server_ts: m.server_ts,
            file: None,
            reply_to: None,
            reactions: Vec::new(),
            edited: false,
            deleted: false,
            receipts: None,
        }))
    }

    pub fn message(&self, row_id: i64) -> Result<Option<Message>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM {MESSAGES_FROM} WHERE m.id = ?1");
        let row = self.conn().prepare_cached(&sql)?.query_row([row_id], message_row).optional()?;
        self.detailed(row.map(to_message).transpose()?)
    }

    fn detailed(&self, message: Option<Message>) -> Result<Option<Message>> {
        let Some(mut message) = message else { return Ok(None) };
        self.add_details(&mut message)?;
        Ok(Some(message))
    }

    pub fn find_message(
        &self,
        conversation_id: &ConversationId,
        sender_user: &str,
        message_id: &str,
    ) -> Result<Option<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM {MESSAGES_FROM}
             WHERE m.conversation_id = ?1 AND m.sender_user = ?2 AND m.message_id = ?3"
        );
        let row = self
            .conn()
            .prepare_cached(&sql)?
            .query_row(params![conversation_id, sender_user, message_id], message_row)
            .optional()?;
        self.detailed(row.map(to_message).transpose()?)
    }

    /// This device's own sent text or file `message_id` in the one-to-one conversation `conversation_id`,
    /// if written at or after `since` (ms): what a re-send may repeat.
    pub fn own_sent_text(
        &self,
        conversation_id: &ConversationId,
        own_user: &str,
        own_device: &str,
        message_id: &str,
        since: i64,
    ) -> Result<Option<Message>> {
        Ok(self.find_message(conversation_id, own_user, message_id)?.filter(|m| {
            m.outgoing
                && matches!(m.kind, MessageKind::Text | MessageKind::File)
                && m.status == MessageStatus::Sent
                && m.sender_device.as_deref() == Some(own_device)
                && m.ts >= since
        }))
    }

    /// Move a message to another conversation (a re-sent message of this account's other device
    /// waited in the account's own conversation; its text belongs with the peer it was sent to).
    pub fn move_message(&self, row_id: i64, conversation_id: &ConversationId) -> Result<()> {
        self.conn()
            .execute("UPDATE messages SET conversation_id = ?2 WHERE id = ?1", params![row_id, conversation_id])?;
        Ok(())
    }

    /// A page of a conversation: up to `limit` messages before the message with row id `before`
    /// (or the newest), oldest first, in the order they were sent (see [`ORDER_KEY`]).
    pub fn messages(&self, conversation_id: &ConversationId, before: Option<i64>, limit: u32) -> Result<Vec<Message>> {
        let cursor = match before {
            Some(row) => self.order_of(row)?,
            None => None,
        };
        let (key, row) = cursor.unwrap_or((i64::MAX, i64::MAX));
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM {MESSAGES_FROM} WHERE m.conversation_id = ?1 AND ({ORDER_KEY}, m.id) < (?2, ?3)
             ORDER BY {ORDER_KEY} DESC, m.id DESC LIMIT ?4"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![conversation_id, key, row, limit], message_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = rows.into_iter().map(to_message).collect::<Result<Vec<_>>>()?;
        out.reverse();
        self.with_details(out)
    }

    /// Up to `limit` messages after the message with row id `after` (0: from the oldest), oldest
    /// first.
    pub fn messages_after(&self, conversation_id: &ConversationId, after: i64, limit: u32) -> Result<Vec<Message>> {
        let (key, row) = match self.order_of(after)? {
            Some(cursor) => cursor,
            None if after <= 0 => (i64::MIN, i64::MIN),
            // A cursor that is gone (moved to another conversation) has nothing after it here.
            None => return Ok(Vec::new()),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM {MESSAGES_FROM} WHERE m.conversation_id = ?1 AND ({ORDER_KEY}, m.id) > (?2, ?3)
             ORDER BY {ORDER_KEY} ASC, m.id ASC LIMIT ?4"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![conversation_id, key, row, limit], message_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        self.with_details(rows.into_iter().map(to_message).collect::<Result<_>>()?)
    }

    /// Where the message with row id `row` stands in its conversation's order.
    fn order_of(&self, row: i64) -> Result<Option<(i64, i64)>> {
        let sql = format!("SELECT {ORDER_KEY}, m.id FROM messages m WHERE m.id = ?1");
        Ok(self.conn().prepare_cached(&sql)?.query_row([row], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }

    /// Remove a message that was never decrypted (it turned out to be of a kind this version
    /// does not show); its waiting ciphertext goes with it. Never in the search index.
    pub fn delete_undecryptable(&self, row_id: i64) -> Result<()> {
        self.keep_rows_used()?;
        self.conn().execute("DELETE FROM messages WHERE id = ?1 AND kind = 'undecryptable'", [row_id])?;
        Ok(())
    }

    /// How many messages (of every kind) a conversation holds.
    pub fn message_count(&self, conversation_id: &ConversationId) -> Result<u64> {
        let n: i64 = self
            .conn()
            .prepare_cached("SELECT count(*) FROM messages WHERE conversation_id = ?1")?
            .query_row([conversation_id], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub fn set_message_status(
        &self,
        row_id: i64,
        status: MessageStatus,
        reason: Option<MessageReason>,
        server_ts: Option<i64>,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE messages SET status = ?2, reason = ?3, server_ts = coalesce(?4, server_ts) WHERE id = ?1",
            )?
            .execute(params![row_id, status.as_str(), reason.map(MessageReason::as_str), server_ts])?;
        Ok(())
    }

    /// An undecryptable message was decrypted after all (the tests' shorthand).
    #[cfg(test)]
    pub fn set_decrypted(&self, row_id: i64, body: &str) -> Result<()> {
        self.set_decrypted_as(row_id, &Decrypted { body, from_me: false, ts: 0, confirmed: true, file: None })
    }

    /// Before messages are deleted: remember the highest row id in use, so no later message
    /// takes a deleted one's id (row ids order conversations, are paging cursors the app holds,
    /// and the search index's watermark assumes every row above it is new).
    pub(crate) fn keep_rows_used(&self) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO meta (key, value) SELECT 'message_rows_used', coalesce(max(id), 0) FROM messages WHERE true
                 ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            )?
            .execute([])?;
        Ok(())
    }

    /// A text or file stored in a conversation whose messages disappear: it runs out that long
    /// after it was sent (the server's time, or before the server took it, its own).
    fn start_timer(&self, row: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE messages SET expires_ts = coalesce(server_ts, ts) + 1000 * (
                     SELECT disappear_secs FROM conversations WHERE id = messages.conversation_id)
                 WHERE id = ?1 AND expires_ts IS NULL
                   AND (SELECT disappear_secs FROM conversations WHERE id = messages.conversation_id) IS NOT NULL",
            )?
            .execute([row])?;
        Ok(())
    }

    /// An undecryptable message was decrypted after all; it may be this user's own (sent from
    /// another of their devices, read from a group's history): then it is stored as sent by us.
    pub fn set_decrypted_as(&self, row_id: i64, d: &Decrypted<'_>) -> Result<()> {
        let reason = (!d.confirmed).then_some(<&str>::from(KeyChange::UnconfirmedDevice));
        let kind = if d.file.is_some() { MessageKind::File } else { MessageKind::Text };
        self.conn().execute(
            "UPDATE messages SET kind = ?6, body = ?2, status = CASE WHEN ?3 THEN 'sent' ELSE 'received' END,
                outgoing = ?3, reason = ?5, ts = CASE WHEN ?4 > 0 THEN ?4 ELSE ts END WHERE id = ?1",
            params![row_id, d.body, d.from_me, d.ts, reason, kind.as_str()],
        )?;
        self.start_timer(row_id)?;
        let body = d.body;
        // Rows above the index's watermark are picked up by the next `index_pending`.
        let done: i64 = self.meta(META_FTS_INDEXED)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        if row_id <= done && !body.is_empty() {
            self.conn().execute("INSERT INTO messages_fts (rowid, body) VALUES (?1, ?2)", params![row_id, body])?;
        }
        self.conn().execute(
            "UPDATE conversations SET last_preview = ?2
             WHERE id = (SELECT conversation_id FROM messages WHERE id = ?1)
               AND NOT EXISTS (SELECT 1 FROM messages m, messages n WHERE m.id = ?1
                   AND n.conversation_id = m.conversation_id
                   AND (coalesce(n.server_ts, n.ts), n.id) > (coalesce(m.server_ts, m.ts), m.id))",
            params![row_id, preview(kind, body, d.file)],
        )?;
        Ok(())
    }
}
