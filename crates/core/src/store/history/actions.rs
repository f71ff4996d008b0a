//! Replies, reactions, edits and deletions as the store keeps them.
//!
//! Invariants:
//! - A reaction is a row per (message, person, emoji) whatever the order its changes arrive in:
//!   the latest change by the reactor's clock wins, and a reaction taken back keeps its row
//!   (`present` 0) so an older "add" arriving late does not bring it back.
//! - A message's body is its latest edit by the sender's clock; every text it had is in
//!   `message_versions`. An edit older than the one shown is kept as a version only.
//! - A deleted message keeps its row (a tombstone, so its place, a late edit or a reply's quote
//!   still find it) with an empty body, and nothing else of it is left: not its earlier
//!   versions, reactions, file or search entry.
//! - Edits and deletions that arrive before their message wait in `waiting_actions`; the
//!   engine applies them when the message is stored (only those of its sender).
//!
//! Who may do what is the engine's check (`client::actions`); this file only stores.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::conversations::preview;
use super::messages::{Message, MessageKind};
use super::receipts::ReceiptView;
use super::search::META_FTS_INDEXED;
use crate::store::Db;
use crate::{ConversationId, Result};

/// How much of the answered message a reply shows.
const QUOTE_CHARS: usize = 200;

/// The message a reply answers, as shown above it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Quote {
    pub sender_user: String,
    pub message_id: String,
    /// The answered message's local row (to jump to it); `None` while it is not on this device.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub id: Option<i64>,
    /// Its text as it is now (the start of it), or for a file its caption or name.
    pub body: String,
    /// It was deleted for everyone.
    pub deleted: bool,
}

// Debug without the content (the quoted text, the emoji): never in logs.
impl std::fmt::Debug for Quote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quote").field("message_id", &self.message_id).field("id", &self.id).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Reaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaction").field("users", &self.users.len()).finish_non_exhaustive()
    }
}

impl Quote {
    pub(super) fn unresolved(sender_user: String, message_id: String) -> Quote {
        Quote { sender_user, message_id, id: None, body: String::new(), deleted: false }
    }
}

/// One emoji on a message, and who gave it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<String>,
}

/// An edit or deletion waiting for its message.
pub struct WaitingAction {
    pub actor: String,
    /// JSON of the payload's `Action`.
    pub action: String,
    pub ts: i64,
}

impl Db<'_> {
    /// Add what other rows say of these messages: reactions, the quote of the message each
    /// reply answers, and the receipts of this user's own.
    pub fn with_details(&self, mut messages: Vec<Message>) -> Result<Vec<Message>> {
        let mut view = ReceiptView::default();
        for message in &mut messages {
            self.details(message, &mut view)?;
        }
        Ok(messages)
    }

    /// [`Db::with_details`] for one message.
    pub fn add_details(&self, message: &mut Message) -> Result<()> {
        self.details(message, &mut ReceiptView::default())
    }

    fn details(&self, message: &mut Message, view: &mut ReceiptView) -> Result<()> {
        if !message.deleted && matches!(message.kind, MessageKind::Text | MessageKind::File) {
            message.reactions = self.reactions(&message.conversation_id, &message.sender_user, &message.message_id)?;
        }
        if let Some(quote) = &mut message.reply_to {
            self.resolve_quote(&message.conversation_id, quote)?;
        }
        message.receipts = self.receipts_of(message, view)?;
        Ok(())
    }

    fn resolve_quote(&self, conversation_id: &ConversationId, quote: &mut Quote) -> Result<()> {
        let found = self
            .conn()
            .prepare_cached(
                "SELECT m.id, m.body, m.deleted_ts IS NOT NULL, a.name FROM messages m
                 LEFT JOIN attachments a ON a.message_row = m.id
                 WHERE m.conversation_id = ?1 AND m.sender_user = ?2 AND m.message_id = ?3
                   AND m.kind IN ('text', 'file')",
            )?
            .query_row(params![conversation_id, quote.sender_user, quote.message_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?, r.get::<_, Option<String>>(3)?))
            })
            .optional()?;
        if let Some((id, body, deleted, file_name)) = found {
            quote.id = Some(id);
            quote.deleted = deleted;
            let shown = if body.trim().is_empty() { file_name.unwrap_or_default() } else { body };
            quote.body = shown.chars().take(QUOTE_CHARS).collect();
        }
        Ok(())
    }

    /// The reactions on a message, each emoji once, in the order first given.
    pub fn reactions(&self, conversation_id: &ConversationId, sender: &str, message_id: &str) -> Result<Vec<Reaction>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT emoji, reactor FROM reactions
             WHERE conversation_id = ?1 AND target_sender = ?2 AND target_id = ?3 AND present = 1
             ORDER BY ts, reactor",
        )?;
        let rows = stmt
            .query_map(params![conversation_id, sender, message_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut order: Vec<String> = Vec::new();
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (emoji, reactor) in rows {
            if !users.contains_key(&emoji) {
                order.push(emoji.clone());
            }
            users.entry(emoji).or_default().push(reactor);
        }
        Ok(order.into_iter().map(|emoji| Reaction { users: users.remove(&emoji).unwrap_or_default(), emoji }).collect())
    }

    /// Record `reactor`'s reaction `emoji` on a message as given (`present`) or taken back, at
    /// `ts` by their clock. Returns whether it changed anything (an older change than the one
    /// recorded does not).
    #[allow(clippy::too_many_arguments)]
    pub fn set_reaction(
        &self,
        conversation_id: &ConversationId,
        target_sender: &str,
        target_id: &str,
        reactor: &str,
        emoji: &str,
        present: bool,
        ts: i64,
    ) -> Result<bool> {
        let before: Option<(i64, bool)> = self
            .conn()
            .prepare_cached(
                "SELECT ts, present FROM reactions WHERE conversation_id = ?1 AND target_sender = ?2
                   AND target_id = ?3 AND reactor = ?4 AND emoji = ?5",
            )?
            .query_row(params![conversation_id, target_sender, target_id, reactor, emoji], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if before.is_some_and(|(at, _)| at > ts) {
            return Ok(false);
        }
        self.conn()
            .prepare_cached(
                "INSERT INTO reactions (conversation_id, target_sender, target_id, reactor, emoji, ts, present)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (conversation_id, target_sender, target_id, reactor, emoji)
                 DO UPDATE SET ts = excluded.ts, present = excluded.present",
            )?
            .execute(params![conversation_id, target_sender, target_id, reactor, emoji, ts, present])?;
        // (A first "taken back" is kept too: an older "add" arriving after it stays out.)
        Ok(match before {
            Some((_, was)) => was != present,
            None => present,
        })
    }

    /// When the message `row` was last edited and deleted, if it was (its sender's clock).
    pub fn action_times(&self, row: i64) -> Result<(Option<i64>, Option<i64>)> {
        Ok(self
            .conn()
            .prepare_cached("SELECT edited_ts, deleted_ts FROM messages WHERE id = ?1")?
            .query_row([row], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((None, None)))
    }

    /// Record when a message handed over by another device was edited and deleted (its body
    /// already is the latest, or empty).
    pub fn set_action_times(&self, row: i64, edited_ts: Option<i64>, deleted_ts: Option<i64>) -> Result<()> {
        if edited_ts.is_some() || deleted_ts.is_some() {
            self.conn()
                .prepare_cached("UPDATE messages SET edited_ts = ?2, deleted_ts = ?3 WHERE id = ?1")?
                .execute(params![row, edited_ts, deleted_ts])?;
        }
        Ok(())
    }

    /// Mark a message as answering another (by its sender and id).
    pub fn set_reply(&self, row: i64, sender: &str, message_id: &str) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE messages SET reply_sender = ?2, reply_id = ?3 WHERE id = ?1")?
            .execute(params![row, sender, message_id])?;
        Ok(())
    }

    /// Apply an edit written at `ts` to the message `row`: its text becomes `body` if this is
    /// the latest edit by the sender's clock; every text is kept as a version. Returns whether
    /// what the message shows changed (not for a deleted message, nor an older edit).
    pub fn apply_edit(&self, row: i64, body: &str, ts: i64) -> Result<bool> {
        let Some((current, shown_ts, edited, deleted)) = self
            .conn()
            .prepare_cached("SELECT body, coalesce(edited_ts, ts), edited_ts IS NOT NULL, deleted_ts IS NOT NULL FROM messages WHERE id = ?1")?
            .query_row([row], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, bool>(2)?, r.get::<_, bool>(3)?)))
            .optional()?
        else {
            return Ok(false);
        };
        if deleted {
            return Ok(false);
        }
        // The same edit again (sent again on request, to every device): nothing new.
        let known = self
            .conn()
            .prepare_cached("SELECT 1 FROM message_versions WHERE message_row = ?1 AND ts = ?2 AND body = ?3")?
            .exists(params![row, ts, body])?;
        if known {
            return Ok(false);
        }
        let version = "INSERT INTO message_versions (message_row, body, ts) VALUES (?1, ?2, ?3)";
        if !edited {
            // The first edit: the original text becomes the first version.
            self.conn().prepare_cached(version)?.execute(params![row, current, shown_ts])?;
        }
        self.conn().prepare_cached(version)?.execute(params![row, body, ts])?;
        if edited && ts <= shown_ts {
            return Ok(false);
        }
        self.unindex(row, &current)?;
        self.conn()
            .prepare_cached("UPDATE messages SET body = ?2, edited_ts = ?3 WHERE id = ?1")?
            .execute(params![row, body, ts])?;
        self.reindex(row, body)?;
        self.refresh_preview(row)?;
        Ok(true)
    }

    /// Every text the message `row` had, oldest first, with when it was written (the sender's
    /// clock); empty if it was never edited.
    pub fn message_versions(&self, row: i64) -> Result<Vec<(String, i64)>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT body, ts FROM message_versions WHERE message_row = ?1 ORDER BY ts, rowid")?;
        let rows = stmt.query_map([row], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Delete the message `row` for everyone, as its sender asked at `ts`: it keeps its place
    /// with nothing of it left. Returns the name of its file's ciphertext in the profile (the
    /// caller removes it once this commits), and whether anything changed.
    pub fn apply_delete(&self, row: i64, ts: i64) -> Result<(bool, Option<String>)> {
        let Some((body, deleted, conversation_id, sender, message_id)) = self
            .conn()
            .prepare_cached(
                "SELECT body, deleted_ts IS NOT NULL, conversation_id, sender_user, message_id FROM messages WHERE id = ?1",
            )?
            .query_row([row], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()?
        else {
            return Ok((false, None));
        };
        if deleted {
            return Ok((false, None));
        }
        self.unindex(row, &body)?;
        self.conn()
            .prepare_cached("UPDATE messages SET body = '', deleted_ts = ?2 WHERE id = ?1")?
            .execute(params![row, ts.max(1)])?;
        self.conn().prepare_cached("DELETE FROM message_versions WHERE message_row = ?1")?.execute([row])?;
        self.conn()
            .prepare_cached(
                "DELETE FROM reactions WHERE conversation_id = ?1 AND target_sender = ?2 AND target_id = ?3",
            )?
            .execute(params![conversation_id, sender, message_id])?;
        let local: Option<Option<String>> = self
            .conn()
            .prepare_cached("SELECT local FROM attachments WHERE message_row = ?1")?
            .query_row([row], |r| r.get(0))
            .optional()?;
        self.conn().prepare_cached("DELETE FROM attachments WHERE message_row = ?1")?.execute([row])?;
        self.refresh_preview(row)?;
        Ok((true, local.flatten()))
    }

    /// Keep an edit or deletion for a message that has not arrived.
    pub fn wait_for_message(
        &self,
        conversation_id: &ConversationId,
        target_sender: &str,
        target_id: &str,
        waiting: &WaitingAction,
        now: i64,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO waiting_actions (conversation_id, target_sender, target_id, actor, action, ts, received_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![conversation_id, target_sender, target_id, waiting.actor, waiting.action, waiting.ts, now])?;
        Ok(())
    }

    /// The edits and deletions that waited for this message (removed: the caller applies them),
    /// in the order they were written.
    pub fn take_waiting(
        &self,
        conversation_id: &ConversationId,
        target_sender: &str,
        target_id: &str,
    ) -> Result<Vec<WaitingAction>> {
        let mut stmt = self.conn().prepare_cached(
            "DELETE FROM waiting_actions WHERE conversation_id = ?1 AND target_sender = ?2 AND target_id = ?3
             RETURNING actor, action, ts",
        )?;
        let mut rows = stmt
            .query_map(params![conversation_id, target_sender, target_id], |r| {
                Ok(WaitingAction { actor: r.get(0)?, action: r.get(1)?, ts: r.get(2)? })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.sort_by_key(|w| w.ts);
        Ok(rows)
    }

    /// Take a message's old text out of the search index (if it is in it yet).
    fn unindex(&self, row: i64, body: &str) -> Result<()> {
        if self.indexed(row)? && !body.is_empty() {
            self.conn()
                .prepare_cached("INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', ?1, ?2)")?
                .execute(params![row, body])?;
        }
        Ok(())
    }

    /// Put a message's new text in the search index (if the index has reached it; otherwise the
    /// next `index_pending` does).
    fn reindex(&self, row: i64, body: &str) -> Result<()> {
        if self.indexed(row)? && !body.is_empty() {
            self.conn()
                .prepare_cached("INSERT INTO messages_fts (rowid, body) VALUES (?1, ?2)")?
                .execute(params![row, body])?;
        }
        Ok(())
    }

    fn indexed(&self, row: i64) -> Result<bool> {
        let done: i64 = self.meta(META_FTS_INDEXED)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(row <= done)
    }

    /// The conversation's preview, if `row` is its latest message (after an edit or deletion).
    fn refresh_preview(&self, row: i64) -> Result<()> {
        let Some(message) = self.message(row)? else { return Ok(()) };
        let shown = if message.deleted {
            "Message deleted".to_owned()
        } else {
            preview(message.kind, &message.body, message.file.as_ref())
        };
        self.conn()
            .prepare_cached(
                "UPDATE conversations SET last_preview = ?2
                 WHERE id = (SELECT conversation_id FROM messages WHERE id = ?1)
                   AND NOT EXISTS (SELECT 1 FROM messages m, messages n WHERE m.id = ?1
                       AND n.conversation_id = m.conversation_id
                       AND (coalesce(n.server_ts, n.ts), n.id) > (coalesce(m.server_ts, m.ts), m.id))",
            )?
            .execute(params![row, shown])?;
        Ok(())
    }
}
