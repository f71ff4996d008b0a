//! History: conversations, messages with their status, the full-text index, undecryptable
//! ciphertexts waiting for keys, and the outbox.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::Db;
use sotto_proto::ErrorCode;

use crate::crypto::Undecryptable;
use crate::events::KeyChange;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

/// A one-to-one or group conversation as the sidebar shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Conversation {
    /// `u:<user id>` or `g:<group id>`.
    pub id: String,
    pub kind: ConversationKind,
    /// The other user's id, or the group id.
    pub peer: String,
    pub title: String,
    /// Time of the last message (ms since the epoch), 0 when empty.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last_ts: i64,
    pub last_preview: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub unread: i64,
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation").field("id", &self.id).field("unread", &self.unread).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
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
            _ => return Err(Error::Corrupt("a stored message status is not valid".into())),
        })
    }
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::System => "system",
            MessageKind::Undecryptable => "undecryptable",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "text" => MessageKind::Text,
            "system" => MessageKind::System,
            "undecryptable" => MessageKind::Undecryptable,
            _ => return Err(Error::Corrupt("a stored message kind is not valid".into())),
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
    pub conversation_id: String,
    pub message_id: String,
    pub sender_user: String,
    pub sender_device: Option<String>,
    pub kind: MessageKind,
    pub body: String,
    pub status: MessageStatus,
    /// Why a message failed or cannot be decrypted, or which key change a system message is about.
    pub reason: Option<MessageReason>,
    pub outgoing: bool,
    /// When it was written (sender's clock for our own messages, the server's for others), ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts: i64,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub server_ts: Option<i64>,
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
    /// Last: it reads any other text (as [`ErrorCode::Unknown`]).
    Failed(ErrorCode),
}

impl MessageReason {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageReason::Undecryptable(u) => u.code(),
            MessageReason::KeyChange(k) => k.into(),
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
    pub conversation_id: &'a str,
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

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchHit {
    pub message: Message,
    pub conversation_title: String,
    /// The matching part of the body, with matches between `\u{2}` and `\u{3}`.
    pub snippet: String,
}

impl std::fmt::Debug for SearchHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchHit").field("message", &self.message).finish_non_exhaustive()
    }
}

/// A send waiting for the server.
pub struct OutboxItem {
    pub message_id: String,
    pub conversation_id: String,
    pub body: String,
    pub request: Option<String>,
    pub attempts: i64,
    pub created_ts: i64,
}

/// A message's place in its conversation: the server's time, or before the server took it, the
/// time it was written (the expression of the `messages_order` index, ties broken by row id).
pub const ORDER_KEY: &str = "coalesce(m.server_ts, m.ts)";

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.message_id, m.sender_user, m.sender_device, m.kind, m.body, m.status, m.reason, \
     m.outgoing, m.ts, m.server_ts";

type MessageRow =
    (i64, String, String, String, Option<String>, String, String, String, Option<String>, i64, i64, Option<i64>);

fn message_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok((
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
    ))
}

fn to_message(row: MessageRow) -> Result<Message> {
    Ok(Message {
        id: row.0,
        conversation_id: row.1,
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
    })
}

fn conversation_row(r: &Row<'_>) -> rusqlite::Result<(String, String, String, String, i64, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn to_conversation(row: (String, String, String, String, i64, String, i64)) -> Result<Conversation> {
    let kind = match row.1.as_str() {
        "direct" => ConversationKind::Direct,
        "group" => ConversationKind::Group,
        _ => return Err(Error::Corrupt("a stored conversation kind is not valid".into())),
    };
    Ok(Conversation { id: row.0, kind, peer: row.2, title: row.3, last_ts: row.4, last_preview: row.5, unread: row.6 })
}

const PREVIEW_CHARS: usize = 120;
/// Meta key: the highest message id the full-text index has seen.
const META_FTS_INDEXED: &str = "fts_indexed_up_to";

fn preview(kind: MessageKind, body: &str) -> String {
    match kind {
        MessageKind::Undecryptable => "Message not decrypted yet".to_owned(),
        _ => body.chars().take(PREVIEW_CHARS).collect::<String>().replace('\n', " "),
    }
}

impl Db<'_> {
    /// Create the conversation if it does not exist; a group's title follows its name.
    pub fn ensure_conversation(&self, id: &str, kind: ConversationKind, peer: &str, title: &str) -> Result<()> {
        let kind = match kind {
            ConversationKind::Direct => "direct",
            ConversationKind::Group => "group",
        };
        self.conn()
            .prepare_cached(
                "INSERT INTO conversations (id, kind, peer, title) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET title = excluded.title WHERE excluded.kind = 'group'",
            )?
            .execute(params![id, kind, peer, title])?;
        Ok(())
    }

    pub fn conversation(&self, id: &str) -> Result<Option<Conversation>> {
        let row = self
            .conn()
            .prepare_cached(
                "SELECT id, kind, peer, title, last_ts, last_preview, unread FROM conversations WHERE id = ?1",
            )?
            .query_row([id], conversation_row)
            .optional()?;
        row.map(to_conversation).transpose()
    }

    /// Every conversation, most recent activity first.
    pub fn conversations(&self) -> Result<Vec<Conversation>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, kind, peer, title, last_ts, last_preview, unread FROM conversations
             ORDER BY last_ts DESC, id",
        )?;
        let rows = stmt.query_map([], conversation_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_conversation).collect()
    }

    pub fn mark_read(&self, conversation_id: &str) -> Result<()> {
        self.conn().execute("UPDATE conversations SET unread = 0 WHERE id = ?1", [conversation_id])?;
        Ok(())
    }

    /// Insert a message (its conversation is updated with [`Db::touch_conversation`], and the
    /// search index by [`Db::index_pending`]). `None` when the message was already stored (a
    /// duplicate delivery).
    pub fn insert_message(&self, m: &NewMessage<'_>) -> Result<Option<Message>> {
        let inserted = self
            .conn()
            .prepare_cached(
                "INSERT INTO messages (conversation_id, message_id, sender_user, sender_device, kind, body, status,
                    reason, outgoing, ts, server_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
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
        Ok(Some(Message {
            id,
            conversation_id: m.conversation_id.to_owned(),
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
        }))
    }

    pub fn message(&self, row_id: i64) -> Result<Option<Message>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?1");
        let row = self.conn().prepare_cached(&sql)?.query_row([row_id], message_row).optional()?;
        row.map(to_message).transpose()
    }

    pub fn find_message(&self, conversation_id: &str, sender_user: &str, message_id: &str) -> Result<Option<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m
             WHERE m.conversation_id = ?1 AND m.sender_user = ?2 AND m.message_id = ?3"
        );
        let row = self
            .conn()
            .prepare_cached(&sql)?
            .query_row(params![conversation_id, sender_user, message_id], message_row)
            .optional()?;
        row.map(to_message).transpose()
    }

    /// This device's own sent text `message_id` in the one-to-one conversation `conversation_id`,
    /// if written at or after `since` (ms): what a re-send may repeat.
    pub fn own_sent_text(
        &self,
        conversation_id: &str,
        own_user: &str,
        own_device: &str,
        message_id: &str,
        since: i64,
    ) -> Result<Option<Message>> {
        Ok(self.find_message(conversation_id, own_user, message_id)?.filter(|m| {
            m.outgoing
                && m.kind == MessageKind::Text
                && m.status == MessageStatus::Sent
                && m.sender_device.as_deref() == Some(own_device)
                && m.ts >= since
        }))
    }

    /// Move a message to another conversation (a re-sent message of this account's other device
    /// waited in the account's own conversation; its text belongs with the peer it was sent to).
    pub fn move_message(&self, row_id: i64, conversation_id: &str) -> Result<()> {
        self.conn()
            .execute("UPDATE messages SET conversation_id = ?2 WHERE id = ?1", params![row_id, conversation_id])?;
        Ok(())
    }

    /// A page of a conversation: up to `limit` messages before the message with row id `before`
    /// (or the newest), oldest first, in the order they were sent (see [`ORDER_KEY`]).
    pub fn messages(&self, conversation_id: &str, before: Option<i64>, limit: u32) -> Result<Vec<Message>> {
        let cursor = match before {
            Some(row) => self.order_of(row)?,
            None => None,
        };
        let (key, row) = cursor.unwrap_or((i64::MAX, i64::MAX));
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 AND ({ORDER_KEY}, m.id) < (?2, ?3)
             ORDER BY {ORDER_KEY} DESC, m.id DESC LIMIT ?4"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![conversation_id, key, row, limit], message_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = rows.into_iter().map(to_message).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Up to `limit` messages after the message with row id `after` (0: from the oldest), oldest
    /// first.
    pub fn messages_after(&self, conversation_id: &str, after: i64, limit: u32) -> Result<Vec<Message>> {
        let (key, row) = match self.order_of(after)? {
            Some(cursor) => cursor,
            None if after <= 0 => (i64::MIN, i64::MIN),
            // A cursor that is gone (moved to another conversation) has nothing after it here.
            None => return Ok(Vec::new()),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 AND ({ORDER_KEY}, m.id) > (?2, ?3)
             ORDER BY {ORDER_KEY} ASC, m.id ASC LIMIT ?4"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![conversation_id, key, row, limit], message_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_message).collect()
    }

    /// Where the message with row id `row` stands in its conversation's order.
    fn order_of(&self, row: i64) -> Result<Option<(i64, i64)>> {
        let sql = format!("SELECT {ORDER_KEY}, m.id FROM messages m WHERE m.id = ?1");
        Ok(self.conn().prepare_cached(&sql)?.query_row([row], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }

    /// How many messages (of every kind) a conversation holds.
    pub fn message_count(&self, conversation_id: &str) -> Result<u64> {
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

    /// Record new activity in a conversation: its time, the preview of its latest message, and
    /// how many of the new messages are unread.
    /// `latest` becomes the preview unless the conversation already shows a newer message (an
    /// older message arriving late, such as history read after a restore, does not replace it).
    pub fn touch_conversation(&self, conversation_id: &str, ts: i64, latest: &Message, unread: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE conversations SET last_ts = max(last_ts, ?2),
                    last_preview = CASE WHEN ?5 >= last_ts THEN ?3 ELSE last_preview END, unread = unread + ?4
                 WHERE id = ?1",
            )?
            .execute(params![conversation_id, ts, preview(latest.kind, &latest.body), unread, latest.order_key()])?;
        Ok(())
    }

    /// [`Db::touch_conversation`] for one new message.
    pub fn touch_for(&self, message: &Message) -> Result<()> {
        let unread = i64::from(!message.outgoing && message.kind != MessageKind::System);
        self.touch_conversation(&message.conversation_id, message.ts, message, unread)
    }

    /// Add every text message not yet in the full-text index to it, in one statement. Returns
    /// how many were added. Cheap when there are none.
    pub fn index_pending(&self) -> Result<usize> {
        let done: i64 = self.meta(META_FTS_INDEXED)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        let max: i64 =
            self.conn().prepare_cached("SELECT coalesce(max(id), 0) FROM messages")?.query_row([], |r| r.get(0))?;
        if max <= done {
            return Ok(0);
        }
        let n = self
            .conn()
            .prepare_cached(
                "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages
                 WHERE id > ?1 AND id <= ?2 AND kind = 'text'",
            )?
            .execute(params![done, max])?;
        self.set_meta(META_FTS_INDEXED, &max.to_string())?;
        Ok(n)
    }

    /// An undecryptable message was decrypted after all (the tests' shorthand).
    #[cfg(test)]
    pub fn set_decrypted(&self, row_id: i64, body: &str) -> Result<()> {
        self.set_decrypted_as(row_id, body, false)
    }

    /// An undecryptable message was decrypted after all; it may be this user's own (sent from
    /// another of their devices, read from a group's history): then it is stored as sent by us.
    pub fn set_decrypted_as(&self, row_id: i64, body: &str, from_me: bool) -> Result<()> {
        self.conn().execute(
            "UPDATE messages SET kind = 'text', body = ?2, status = CASE WHEN ?3 THEN 'sent' ELSE 'received' END,
                outgoing = ?3, reason = NULL WHERE id = ?1",
            params![row_id, body, from_me],
        )?;
        // Rows above the index's watermark are picked up by the next `index_pending`.
        let done: i64 = self.meta(META_FTS_INDEXED)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        if row_id <= done {
            self.conn().execute("INSERT INTO messages_fts (rowid, body) VALUES (?1, ?2)", params![row_id, body])?;
        }
        self.conn().execute(
            "UPDATE conversations SET last_preview = ?2
             WHERE id = (SELECT conversation_id FROM messages WHERE id = ?1)
               AND NOT EXISTS (SELECT 1 FROM messages m, messages n WHERE m.id = ?1
                   AND n.conversation_id = m.conversation_id
                   AND (coalesce(n.server_ts, n.ts), n.id) > (coalesce(m.server_ts, m.ts), m.id))",
            params![row_id, preview(MessageKind::Text, body)],
        )?;
        Ok(())
    }

    /// Full-text search over every decrypted message; newest first. Call
    /// [`Db::index_pending`] first so the latest messages are included.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        let Some(fts) = fts_query(query) else { return Ok(Vec::new()) };
        let mut stmt = self.conn().prepare_cached(SEARCH_SQL)?;
        let rows = stmt
            .query_map(params![fts, limit], |r| {
                Ok((message_row(r)?, r.get::<_, String>(12)?, r.get::<_, String>(13)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(m, conversation_title, snippet)| {
                Ok(SearchHit { message: to_message(m)?, conversation_title, snippet })
            })
            .collect()
    }

    pub fn add_pending(&self, row_id: i64, session_id: Option<&str>, entry_json: &str) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO pending_decryption (message_row, session_id, entry) VALUES (?1, ?2, ?3)
                 ON CONFLICT (message_row) DO UPDATE SET session_id = excluded.session_id, entry = excluded.entry",
            )?
            .execute(params![row_id, session_id, entry_json])?;
        Ok(())
    }

    /// Undecryptable entries waiting for `session_id` (all of them with `None`).
    pub fn pending(&self, session_id: Option<&str>) -> Result<Vec<(i64, String)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT message_row, entry FROM pending_decryption WHERE ?1 IS NULL OR session_id = ?1 ORDER BY message_row",
        )?;
        let rows = stmt.query_map([session_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn remove_pending(&self, row_id: i64) -> Result<()> {
        self.conn().execute("DELETE FROM pending_decryption WHERE message_row = ?1", [row_id])?;
        Ok(())
    }

    pub fn enqueue(&self, message_id: &str, conversation_id: &str, body: &str, now: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO outbox (message_id, conversation_id, body, next_attempt_ts, created_ts)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![message_id, conversation_id, body, now])?;
        Ok(())
    }

    /// Sends whose next attempt is due at `now`, oldest first.
    pub fn due_outbox(&self, now: i64) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT message_id, conversation_id, body, request, attempts, created_ts FROM outbox
             WHERE next_attempt_ts <= ?1 ORDER BY created_ts, message_id",
        )?;
        let rows = stmt
            .query_map([now], |r| {
                Ok(OutboxItem {
                    message_id: r.get(0)?,
                    conversation_id: r.get(1)?,
                    body: r.get(2)?,
                    request: r.get(3)?,
                    attempts: r.get(4)?,
                    created_ts: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// When the earliest queued send is due, if any.
    pub fn next_outbox_due(&self) -> Result<Option<i64>> {
        Ok(self.conn().query_row("SELECT min(next_attempt_ts) FROM outbox", [], |r| r.get(0))?)
    }

    pub fn set_outbox_request(&self, message_id: &str, request: Option<&str>) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE outbox SET request = ?2 WHERE message_id = ?1")?
            .execute(params![message_id, request])?;
        Ok(())
    }

    pub fn outbox_retry_at(&self, message_id: &str, next_attempt_ts: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_ts = ?2 WHERE message_id = ?1",
            params![message_id, next_attempt_ts],
        )?;
        Ok(())
    }

    /// Make every queued send due now (after reconnecting).
    pub fn outbox_wake(&self, now: i64) -> Result<()> {
        self.conn().execute("UPDATE outbox SET next_attempt_ts = min(next_attempt_ts, ?1)", [now])?;
        Ok(())
    }

    pub fn remove_outbox(&self, message_id: &str) -> Result<()> {
        self.conn().execute("DELETE FROM outbox WHERE message_id = ?1", [message_id])?;
        Ok(())
    }
}

/// The query behind [`Db::search`] (`?1`: an [`fts_query`], `?2`: the limit). Public so the
/// benchmark runs exactly this SQL on a plain copy.
pub const SEARCH_SQL: &str = "SELECT m.id, m.conversation_id, m.message_id, m.sender_user, m.sender_device, m.kind, \
     m.body, m.status, m.reason, m.outgoing, m.ts, m.server_ts, c.title, \
     snippet(messages_fts, 0, char(2), char(3), '…', 12) \
     FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid \
     JOIN conversations c ON c.id = m.conversation_id \
     WHERE messages_fts MATCH ?1 ORDER BY messages_fts.rowid DESC LIMIT ?2";

/// Turn what a person typed into a safe FTS5 query: every word must occur, the last one as a
/// prefix (search as you type). Quotes keep FTS5 operators in user text from being interpreted.
pub fn fts_query(input: &str) -> Option<String> {
    let words: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        return None;
    }
    let mut q = words.join(" ");
    q.push('*');
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn user_text_becomes_a_safe_fts_query() {
        assert_eq!(fts_query("hello wor").as_deref(), Some("\"hello\" \"wor\"*"));
        assert_eq!(fts_query("NEAR(a OR b) \"x").as_deref(), Some("\"NEAR\" \"a\" \"OR\" \"b\" \"x\"*"));
        assert_eq!(fts_query("  ,.; "), None);
    }
}
