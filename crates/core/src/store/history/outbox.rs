//! The outbox: sends waiting for the server, with their encrypted request and the time of the
//! next attempt.
//!
//! Invariant: one row per message id, written in the same transaction as the queued message;
//! once a request is stored it is posted unchanged on every retry (the server deduplicates on
//! the message id), and the row goes when the send succeeds or fails for good.

use rusqlite::{OptionalExtension, params};

use crate::store::Db;
use crate::{ConversationId, Result};

/// A send waiting for the server.
pub struct OutboxItem {
    pub message_id: String,
    pub conversation_id: ConversationId,
    pub body: String,
    pub request: Option<String>,
    pub attempts: i64,
    pub created_ts: i64,
    /// For an action (a reaction, an edit, a deletion), the payload's `Action` as JSON; no
    /// message row goes with it.
    pub action: Option<String>,
}

/// The order sends leave in: when they were made, then the order they were queued in (rows
/// queued before schema 16 have no `queued` and fall back on their id).
pub(crate) const OUTBOX_ORDER: &str = "created_ts, coalesce(queued, 0), message_id";

/// The next number in queue order.
const NEXT_QUEUED: &str = "(SELECT coalesce(max(queued), 0) + 1 FROM outbox)";

impl Db<'_> {
    pub fn enqueue(&self, message_id: &str, conversation_id: &ConversationId, body: &str, now: i64) -> Result<()> {
        self.conn()
            .prepare_cached(&format!(
                "INSERT INTO outbox (message_id, conversation_id, body, next_attempt_ts, created_ts, queued)
                     VALUES (?1, ?2, ?3, ?4, ?4, {NEXT_QUEUED})"
            ))?
            .execute(params![message_id, conversation_id, body, now])?;
        Ok(())
    }

    /// Queue an action (JSON of the payload's `Action`) under its own message id.
    pub fn enqueue_action(
        &self,
        message_id: &str,
        conversation_id: &ConversationId,
        action: &str,
        now: i64,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(&format!(
                "INSERT INTO outbox (message_id, conversation_id, body, action, next_attempt_ts, created_ts, queued)
                     VALUES (?1, ?2, '', ?3, ?4, ?4, {NEXT_QUEUED})"
            ))?
            .execute(params![message_id, conversation_id, action, now])?;
        Ok(())
    }

    /// Sends due at `now`, oldest first, up to the first that is not due yet: sends go out in
    /// the order they were made, never one past another that is waiting for a retry. (An Olm
    /// message encrypted after another must not reach the recipient first once a reply has
    /// moved the ratchet on: the earlier one could then no longer be decrypted.)
    pub fn due_outbox(&self, now: i64) -> Result<Vec<OutboxItem>> {
        let waiting: Option<(i64, i64, String)> = self
            .conn()
            .prepare_cached(&format!(
                "SELECT created_ts, coalesce(queued, 0), message_id FROM outbox WHERE next_attempt_ts > ?1
                 ORDER BY {OUTBOX_ORDER} LIMIT 1"
            ))?
            .query_row([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let (before_ts, before_queued, before_id) = waiting.unwrap_or((i64::MAX, 0, String::new()));
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT message_id, conversation_id, body, request, attempts, created_ts, action FROM outbox
             WHERE (created_ts, coalesce(queued, 0), message_id) < (?1, ?2, ?3)
             ORDER BY {OUTBOX_ORDER}"
        ))?;
        let rows = stmt
            .query_map(params![before_ts, before_queued, before_id], |r| {
                Ok(OutboxItem {
                    message_id: r.get(0)?,
                    conversation_id: r.get(1)?,
                    body: r.get(2)?,
                    request: r.get(3)?,
                    attempts: r.get(4)?,
                    created_ts: r.get(5)?,
                    action: r.get(6)?,
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

    /// An action (the outbox's JSON) went one to one at `sent_ts`: kept for a resend request
    /// until `keep_after` (what is older goes now).
    pub fn record_sent_action(
        &self,
        message_id: &str,
        conversation_id: &ConversationId,
        action: &str,
        created_ts: i64,
        sent_ts: i64,
        keep_after: i64,
    ) -> Result<()> {
        self.conn().prepare_cached("DELETE FROM sent_actions WHERE sent_ts < ?1")?.execute([keep_after])?;
        self.conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO sent_actions (message_id, conversation_id, action, created_ts, sent_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![message_id, conversation_id, action, created_ts, sent_ts])?;
        Ok(())
    }

    /// The action sent with `message_id` in `conversation_id` since `since`: its JSON and the
    /// time it was made.
    pub fn sent_action(
        &self,
        conversation_id: &ConversationId,
        message_id: &str,
        since: i64,
    ) -> Result<Option<(String, i64)>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT action, created_ts FROM sent_actions
                 WHERE message_id = ?1 AND conversation_id = ?2 AND sent_ts >= ?3",
            )?
            .query_row(params![message_id, conversation_id, since], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}
