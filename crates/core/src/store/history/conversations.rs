//! Conversations as the sidebar shows them: kind, peer, title, last activity, the latest
//! message's preview and the unread count.
//!
//! Invariant: the preview is that of the conversation's latest message in conversation order
//! (see [`ORDER_KEY`](super::messages::ORDER_KEY)); a message that arrives late with an older place never replaces it.
//! A group's title follows the group's name; a one-to-one conversation keeps its own.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{FileInfo, Message, MessageKind};
use crate::store::{Db, StoreError};
use crate::{ConversationId, Result};

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
    pub id: ConversationId,
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
    /// Muted until this time (ms since the epoch; `null`: not muted; a year 292277026596
    /// time: until unmuted). No notifications while muted.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub muted_until: Option<i64>,
    /// Listed apart; a new message brings it back unless it is muted.
    pub archived: bool,
    /// Listed first (pinned conversations in the order they were pinned).
    pub pinned: bool,
    /// Marked unread by hand: shown as unread until it is read.
    pub marked_unread: bool,
    /// The text being written and not sent yet (kept across restarts).
    pub draft: String,
    /// Messages disappear this many seconds after they were sent (`null`: they stay).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub disappear_secs: Option<u64>,
}

/// The columns [`to_conversation`] reads, in its order.
const CONVERSATION_COLUMNS: &str = "id, kind, peer, title, last_ts, last_preview, unread, muted_until, archived, \
     pinned_ts IS NOT NULL, marked_unread, draft, disappear_secs";

type ConversationRow =
    (String, String, String, String, i64, String, i64, Option<i64>, bool, bool, bool, String, Option<i64>);

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation").field("id", &self.id).field("unread", &self.unread).finish_non_exhaustive()
    }
}

fn conversation_row(r: &Row<'_>) -> rusqlite::Result<ConversationRow> {
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
        r.get(12)?,
    ))
}

fn to_conversation(row: ConversationRow) -> Result<Conversation> {
    let kind = match row.1.as_str() {
        "direct" => ConversationKind::Direct,
        "group" => ConversationKind::Group,
        _ => return Err(StoreError::unknown("conversations", "kind").into()),
    };
    let id = ConversationId::parse(&row.0).map_err(StoreError::id("conversations", "id"))?;
    Ok(Conversation {
        id,
        kind,
        peer: row.2,
        title: row.3,
        last_ts: row.4,
        last_preview: row.5,
        unread: row.6,
        muted_until: row.7,
        archived: row.8,
        pinned: row.9,
        marked_unread: row.10,
        draft: row.11,
        disappear_secs: row.12.and_then(|s| u64::try_from(s).ok()),
    })
}

const PREVIEW_CHARS: usize = 120;

pub(super) fn preview(kind: MessageKind, body: &str, file: Option<&FileInfo>) -> String {
    let text = |body: &str| body.chars().take(PREVIEW_CHARS).collect::<String>().replace('\n', " ");
    match (kind, file) {
        (MessageKind::Undecryptable, _) => "Message not decrypted yet".to_owned(),
        (MessageKind::File, Some(file)) => {
            let icon = if file.image.is_some() { "📷" } else { "📎" };
            match (body.trim().is_empty(), file.image.is_some()) {
                (false, _) => format!("{icon} {}", text(body)),
                (true, true) => format!("{icon} Photo"),
                (true, false) => format!("{icon} {}", text(&file.name)),
            }
        }
        _ => text(body),
    }
}

impl Db<'_> {
    /// Create the conversation if it does not exist; a group's title follows its name.
    /// The conversation `id` (its kind and peer follow from the id), created if new; a group's
    /// title follows its latest name.
    pub fn ensure_conversation(&self, id: &ConversationId, title: &str) -> Result<()> {
        let (kind, peer) = match id {
            ConversationId::Direct(user) => ("direct", user.as_str()),
            ConversationId::Group(group) => ("group", group.as_str()),
        };
        self.conn()
            .prepare_cached(
                "INSERT INTO conversations (id, kind, peer, title) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET title = excluded.title WHERE excluded.kind = 'group'",
            )?
            .execute(params![id, kind, peer, title])?;
        Ok(())
    }

    pub fn conversation(&self, id: &ConversationId) -> Result<Option<Conversation>> {
        let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1");
        let row = self.conn().prepare_cached(&sql)?.query_row([id], conversation_row).optional()?;
        row.map(to_conversation).transpose()
    }

    /// Every conversation: the pinned ones first (in the order they were pinned), then most
    /// recent activity first. Archived ones are in it too (the caller lists them apart).
    pub fn conversations(&self) -> Result<Vec<Conversation>> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations
             ORDER BY pinned_ts IS NULL, pinned_ts, last_ts DESC, id"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map([], conversation_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_conversation).collect()
    }

    pub fn mark_read(&self, conversation_id: &ConversationId) -> Result<()> {
        self.conn()
            .execute("UPDATE conversations SET unread = 0, marked_unread = 0 WHERE id = ?1", [conversation_id])?;
        Ok(())
    }

    /// Mute until `until` (ms; `None` unmutes; `i64::MAX` until unmuted).
    pub fn set_muted(&self, conversation_id: &ConversationId, until: Option<i64>) -> Result<bool> {
        Ok(self
            .conn()
            .execute("UPDATE conversations SET muted_until = ?2 WHERE id = ?1", params![conversation_id, until])?
            > 0)
    }

    pub fn set_archived(&self, conversation_id: &ConversationId, archived: bool) -> Result<bool> {
        Ok(self
            .conn()
            .execute("UPDATE conversations SET archived = ?2 WHERE id = ?1", params![conversation_id, archived])?
            > 0)
    }

    /// Pin (at `now`, after the ones pinned before) or unpin.
    pub fn set_pinned(&self, conversation_id: &ConversationId, pinned: bool, now: i64) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE conversations SET pinned_ts = CASE WHEN ?2 THEN coalesce(pinned_ts, ?3) ELSE NULL END WHERE id = ?1",
            params![conversation_id, pinned, now],
        )? > 0)
    }

    pub fn mark_unread(&self, conversation_id: &ConversationId) -> Result<bool> {
        Ok(self.conn().execute("UPDATE conversations SET marked_unread = 1 WHERE id = ?1", [conversation_id])? > 0)
    }

    /// Set the conversation's timer (seconds; `None`: off).
    pub fn set_disappear_secs(&self, conversation_id: &ConversationId, secs: Option<u64>) -> Result<bool> {
        let secs = secs.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
        Ok(self
            .conn()
            .execute("UPDATE conversations SET disappear_secs = ?2 WHERE id = ?1", params![conversation_id, secs])?
            > 0)
    }

    /// Delete every message whose time ran out by `now`: out of the search index, with what
    /// goes with them. Returns each one's conversation and row, and the files' ciphertexts in
    /// the profile to remove once this commits.
    #[allow(clippy::type_complexity)]
    pub fn delete_expired(&self, now: i64) -> Result<(Vec<(ConversationId, i64)>, Vec<String>)> {
        let expired: Vec<(String, i64, String, String, String, String)> = {
            let mut stmt = self.conn().prepare_cached(
                "SELECT conversation_id, id, body, kind, sender_user, message_id FROM messages
                 WHERE expires_ts IS NOT NULL AND expires_ts <= ?1",
            )?;
            stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        if !expired.is_empty() {
            self.keep_rows_used()?;
        }
        let done: i64 = self.meta(super::search::META_FTS_INDEXED)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut gone = Vec::new();
        let mut files = Vec::new();
        for (conversation, row, body, kind, sender, message_id) in expired {
            if row <= done && !body.is_empty() && (kind == "text" || kind == "file") {
                self.conn()
                    .prepare_cached("INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', ?1, ?2)")?
                    .execute(params![row, body])?;
            }
            let local: Option<Option<String>> = self
                .conn()
                .prepare_cached("SELECT local FROM attachments WHERE message_row = ?1")?
                .query_row([row], |r| r.get(0))
                .optional()?;
            files.extend(local.flatten());
            self.conn()
                .prepare_cached(
                    "DELETE FROM reactions WHERE conversation_id = ?1 AND target_sender = ?2 AND target_id = ?3",
                )?
                .execute(params![conversation, sender, message_id])?;
            self.conn().prepare_cached("DELETE FROM messages WHERE id = ?1")?.execute([row])?;
            let id = ConversationId::parse(&conversation).map_err(StoreError::id("messages", "conversation_id"))?;
            gone.push((id, row));
        }
        Ok((gone, files))
    }

    /// When the next message runs out of time, if one will.
    pub fn next_expiry(&self) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT min(expires_ts) FROM messages WHERE expires_ts IS NOT NULL")?
            .query_row([], |r| r.get(0))?)
    }

    pub fn set_draft(&self, conversation_id: &ConversationId, draft: &str) -> Result<bool> {
        Ok(self.conn().execute("UPDATE conversations SET draft = ?2 WHERE id = ?1", params![conversation_id, draft])?
            > 0)
    }

    /// Delete a conversation and everything of it on this device: its messages (out of the
    /// search index), their files' rows, reactions, receipts, versions, waiting actions and
    /// unsent sends. Returns the names of the files' ciphertexts in the profile, to remove once
    /// this commits, or `None` if there was no such conversation.
    pub fn delete_conversation(&self, conversation_id: &ConversationId) -> Result<Option<Vec<String>>> {
        if self.conversation(conversation_id)?.is_none() {
            return Ok(None);
        }
        self.keep_rows_used()?;
        let done: i64 = self.meta(super::search::META_FTS_INDEXED)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        self.conn().execute(
            "INSERT INTO messages_fts (messages_fts, rowid, body)
             SELECT 'delete', id, body FROM messages
             WHERE conversation_id = ?1 AND id <= ?2 AND kind IN ('text', 'file') AND body != ''",
            params![conversation_id, done],
        )?;
        let files: Vec<String> = {
            let mut stmt = self.conn().prepare(
                "SELECT a.local FROM attachments a JOIN messages m ON m.id = a.message_row
                 WHERE m.conversation_id = ?1 AND a.local IS NOT NULL",
            )?;
            stmt.query_map([conversation_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
        };
        for sql in [
            "DELETE FROM messages WHERE conversation_id = ?1",
            "DELETE FROM reactions WHERE conversation_id = ?1",
            "DELETE FROM waiting_actions WHERE conversation_id = ?1",
            "DELETE FROM read_marks WHERE conversation_id = ?1",
            "DELETE FROM outbox WHERE conversation_id = ?1",
            "DELETE FROM conversations WHERE id = ?1",
        ] {
            self.conn().execute(sql, [conversation_id])?;
        }
        Ok(Some(files))
    }

    /// Record new activity in a conversation: its time, the preview of its latest message, and
    /// how many of the new messages are unread.
    /// `latest` becomes the preview unless the conversation already shows a newer message (an
    /// older message arriving late, such as history read after a restore, does not replace it).
    pub fn touch_conversation(
        &self,
        conversation_id: &ConversationId,
        ts: i64,
        latest: &Message,
        unread: i64,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE conversations SET last_ts = max(last_ts, ?2),
                    last_preview = CASE WHEN ?5 >= last_ts THEN ?3 ELSE last_preview END, unread = unread + ?4,
                    archived = CASE WHEN ?4 > 0 AND coalesce(muted_until, 0) < ?2 THEN 0 ELSE archived END
                 WHERE id = ?1",
            )?
            .execute(params![
                conversation_id,
                ts,
                preview(latest.kind, &latest.body, latest.file.as_ref()),
                unread,
                latest.order_key()
            ])?;
        Ok(())
    }

    /// A message that was counted unread left the conversation (a placeholder that turned out
    /// to be no message): one fewer unread, and the preview is the latest message left.
    pub fn forget_unread_message(&self, conversation_id: &ConversationId) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE conversations SET unread = max(unread - 1, 0) WHERE id = ?1")?
            .execute([conversation_id])?;
        self.forget_removed(conversation_id)
    }

    /// Messages left the conversation (ran out, or were no messages): the preview is the
    /// latest message left.
    pub fn forget_removed(&self, conversation_id: &ConversationId) -> Result<()> {
        let latest: Option<i64> = self
            .conn()
            .prepare_cached(
                "SELECT id FROM messages m WHERE conversation_id = ?1
                 ORDER BY coalesce(m.server_ts, m.ts) DESC, m.id DESC LIMIT 1",
            )?
            .query_row([conversation_id], |r| r.get(0))
            .optional()?;
        let shown = match latest {
            Some(row) => match self.message(row)? {
                Some(m) if m.deleted => "Message deleted".to_owned(),
                Some(m) => preview(m.kind, &m.body, m.file.as_ref()),
                None => String::new(),
            },
            None => String::new(),
        };
        self.conn()
            .prepare_cached("UPDATE conversations SET last_preview = ?2 WHERE id = ?1")?
            .execute(params![conversation_id, shown])?;
        Ok(())
    }

    /// [`Db::touch_conversation`] for one new message.
    pub fn touch_for(&self, message: &Message) -> Result<()> {
        let unread = i64::from(!message.outgoing && message.kind != MessageKind::System);
        self.touch_conversation(&message.conversation_id, message.ts, message, unread)
    }
}
