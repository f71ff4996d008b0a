//! Delivery and read receipts for this user's own messages, and which messages this device
//! has sent read receipts for.
//!
//! Invariants: one row per (message, reader); a receipt only moves forward (delivered, then
//! read; a read implies delivered); a conversation's read mark only grows, so each message's
//! read receipt is sent once.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::messages::{Message, MessageKind};
use crate::store::Db;
use crate::{ConversationId, Result};

/// The profile setting: whether read receipts are sent (and others' shown). On by default.
pub const META_READ_RECEIPTS: &str = "read_receipts";

/// Who got and who saw one of this user's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Receipts {
    /// How many people it went to: 1 one to one; in a group, the other members now.
    pub recipients: u32,
    /// Who had a device decrypt it (those who read it included).
    pub delivered: Vec<String>,
    /// Who saw it (empty while read receipts are off here, as in Signal).
    pub read: Vec<String>,
}

/// Message ids by their sender (senders in the order first met).
pub type BySender = Vec<(String, Vec<String>)>;

/// What receipts of a page of messages share, read once: whether read receipts show, and
/// each conversation's number of recipients.
#[derive(Default)]
pub(super) struct ReceiptView {
    show_read: Option<bool>,
    recipients: std::collections::HashMap<ConversationId, u32>,
}

/// What a receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptStep {
    Delivered,
    Read,
}

impl Db<'_> {
    /// Whether read receipts are on (the default).
    pub fn read_receipts_on(&self) -> Result<bool> {
        Ok(self.meta(META_READ_RECEIPTS)?.is_none_or(|v| v != "0"))
    }

    pub fn set_read_receipts_on(&self, on: bool) -> Result<()> {
        self.set_meta(META_READ_RECEIPTS, if on { "1" } else { "0" })
    }

    /// Record that `reader` got (or saw) this user's message `row` at `ts`. Returns whether
    /// it moved forward.
    pub fn record_receipt(&self, row: i64, reader: &str, step: ReceiptStep, ts: i64) -> Result<bool> {
        let before: Option<(Option<i64>, Option<i64>)> = self
            .conn()
            .prepare_cached("SELECT delivered_ts, read_ts FROM receipts WHERE message_row = ?1 AND reader = ?2")?
            .query_row(params![row, reader], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (delivered, read) = before.unwrap_or((None, None));
        let (delivered_now, read_now) = match step {
            ReceiptStep::Delivered => (delivered.or(Some(ts)), read),
            ReceiptStep::Read => (delivered.or(Some(ts)), read.or(Some(ts))),
        };
        if (delivered_now, read_now) == (delivered, read) {
            return Ok(false);
        }
        self.conn()
            .prepare_cached(
                "INSERT INTO receipts (message_row, reader, delivered_ts, read_ts) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (message_row, reader) DO UPDATE SET delivered_ts = excluded.delivered_ts,
                    read_ts = excluded.read_ts",
            )?
            .execute(params![row, reader, delivered_now, read_now])?;
        Ok(true)
    }

    /// The receipts of one of this user's messages (`None` for anyone else's, and for a
    /// deleted or undecryptable one).
    pub(super) fn receipts_of(&self, message: &Message, view: &mut ReceiptView) -> Result<Option<Receipts>> {
        if !message.outgoing || message.deleted || !matches!(message.kind, MessageKind::Text | MessageKind::File) {
            return Ok(None);
        }
        // A note to self goes to nobody else: no receipts to show.
        if matches!(&message.conversation_id, ConversationId::Direct(user) if user.as_str() == message.sender_user) {
            return Ok(None);
        }
        let recipients = match view.recipients.get(&message.conversation_id) {
            Some(n) => *n,
            None => {
                let n = match &message.conversation_id {
                    ConversationId::Direct(_) => 1,
                    ConversationId::Group(group) => {
                        let members = self.group(group)?.map_or(0, |g| g.members.len());
                        u32::try_from(members.saturating_sub(1)).unwrap_or(u32::MAX)
                    }
                };
                view.recipients.insert(message.conversation_id.clone(), n);
                n
            }
        };
        let show_read = match view.show_read {
            Some(on) => on,
            None => *view.show_read.insert(self.read_receipts_on()?),
        };
        let mut stmt = self.conn().prepare_cached(
            "SELECT reader, read_ts IS NOT NULL FROM receipts WHERE message_row = ?1
             ORDER BY coalesce(read_ts, delivered_ts), reader",
        )?;
        let rows = stmt
            .query_map([message.id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let delivered = rows.iter().map(|(reader, _)| reader.clone()).collect();
        let read =
            if show_read { rows.into_iter().filter(|(_, read)| *read).map(|(r, _)| r).collect() } else { Vec::new() };
        Ok(Some(Receipts { recipients, delivered, read }))
    }

    /// The newest message row of the conversation whose read receipt was sent (0: none).
    pub fn read_mark(&self, conversation_id: &ConversationId) -> Result<i64> {
        Ok(self
            .conn()
            .prepare_cached("SELECT up_to_row FROM read_marks WHERE conversation_id = ?1")?
            .query_row([conversation_id], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// Move the conversation's read mark forward to `row` (never back).
    pub fn set_read_mark(&self, conversation_id: &ConversationId, row: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO read_marks (conversation_id, up_to_row) VALUES (?1, ?2)
                 ON CONFLICT (conversation_id) DO UPDATE SET up_to_row = max(up_to_row, excluded.up_to_row)",
            )?
            .execute(params![conversation_id, row])?;
        Ok(())
    }

    /// The conversation's newest message row.
    pub fn newest_row(&self, conversation_id: &ConversationId) -> Result<i64> {
        Ok(self
            .conn()
            .prepare_cached("SELECT coalesce(max(id), 0) FROM messages WHERE conversation_id = ?1")?
            .query_row([conversation_id], |r| r.get(0))?)
    }

    /// Others' texts and files in the conversation after row `after`, by sender (ids in order),
    /// and the newest row looked at.
    pub fn unreceipted(&self, conversation_id: &ConversationId, after: i64) -> Result<(BySender, i64)> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, sender_user, message_id, outgoing, kind FROM messages
             WHERE id > ?2 AND conversation_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![conversation_id, after], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut newest = after;
        let mut by_sender: BySender = Vec::new();
        for (row, sender, message_id, outgoing, kind) in rows {
            newest = newest.max(row);
            if outgoing || !(kind == "text" || kind == "file") {
                continue;
            }
            match by_sender.iter_mut().find(|(s, _)| *s == sender) {
                Some((_, ids)) => ids.push(message_id),
                None => by_sender.push((sender, vec![message_id])),
            }
        }
        Ok((by_sender, newest))
    }
}
