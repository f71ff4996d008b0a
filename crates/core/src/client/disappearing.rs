//! Disappearing messages: a conversation's timer, set by any member (an encrypted setting
//! change, shown in the conversation as a line), after which every device deletes each text
//! and file from its history and search index, that long after it was sent.
//!
//! Each device applies the timer in force when it stores a message; the sweep runs in the
//! background service (woken for the next message to run out) and at every sync.

use std::time::Duration;

use sotto_proto::UserId;

use super::Client;
use super::receive::Processed;
use crate::events::ClientEvent;
use crate::store::{Db, Message, MessageKind, MessageStatus, NewMessage, now_ms};
use crate::{ConversationId, Error, Result};

/// The shortest timer (seconds).
pub const MIN_DISAPPEAR_SECS: u64 = 1;
/// The longest timer (seconds): four weeks.
pub const MAX_DISAPPEAR_SECS: u64 = 4 * 7 * 24 * 60 * 60;
/// How often the sweep looks when nothing is due sooner.
const SWEEP_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

/// A timer in words: "30 seconds", "1 hour", "2 days".
pub fn timer_words(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s % (7 * 86_400) == 0 => (s / (7 * 86_400), "week"),
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn timer_line(actor: &str, seconds: Option<u64>) -> String {
    match seconds {
        Some(s) => format!("{actor} set messages to disappear after {}.", timer_words(s)),
        None => format!("{actor} turned off disappearing messages."),
    }
}

/// Apply a timer change by `actor` (already checked: a member, from a confirmed device), with
/// its line in the conversation. Returns the line.
pub(crate) fn apply(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    actor: &UserId,
    own: &UserId,
    message_id: &str,
    seconds: Option<u64>,
    (ts, server_ts): (i64, Option<i64>),
) -> Result<Option<Message>> {
    let seconds = seconds.map(|s| s.clamp(MIN_DISAPPEAR_SECS, MAX_DISAPPEAR_SECS));
    db.set_disappear_secs(conversation_id, seconds)?;
    let name = if actor == own { "You".to_owned() } else { actor.to_string() };
    db.insert_message(&NewMessage {
        conversation_id,
        message_id: &format!("timer-{message_id}"),
        sender_user: actor.as_str(),
        sender_device: None,
        kind: MessageKind::System,
        body: &timer_line(&name, seconds),
        status: MessageStatus::System,
        reason: None,
        outgoing: actor == own,
        ts,
        server_ts,
    })
}

/// A timer change received from `actor` in `conversation_id`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn receive(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    actor: &UserId,
    own: &UserId,
    confirmed: bool,
    message_id: &str,
    seconds: Option<u64>,
    times: (i64, Option<i64>),
    out: &mut Processed,
) -> Result<()> {
    if !confirmed {
        tracing::warn!(sender = %actor, "a timer change from a device its user has not confirmed was refused");
        return Ok(());
    }
    if db.conversation(conversation_id)?.is_none() {
        db.ensure_conversation(conversation_id, actor.as_str())?;
    }
    if let Some(line) = apply(db, conversation_id, actor, own, message_id, seconds, times)? {
        out.touch_line(line);
    }
    Ok(())
}

impl Client {
    /// Set the conversation's disappearing-messages timer (`None`: off), for everyone in it:
    /// from now on each text and file disappears from every device that long after it was sent.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn set_disappearing(&self, conversation_id: &ConversationId, seconds: Option<u64>) -> Result<()> {
        if let Some(s) = seconds
            && !(MIN_DISAPPEAR_SECS..=MAX_DISAPPEAR_SECS).contains(&s)
        {
            return Err(Error::InvalidInput(format!(
                "A timer is between {} and {}.",
                timer_words(MIN_DISAPPEAR_SECS),
                timer_words(MAX_DISAPPEAR_SECS)
            )));
        }
        let title = match conversation_id {
            ConversationId::Direct(user) => {
                self.check_recipient(user).await?;
                user.to_string()
            }
            ConversationId::Group(group) => self.group_title_to_send(group)?,
        };
        let message_id = super::send::new_message_id()?;
        let timer = super::receipts::QueuedTimer { seconds };
        let json =
            serde_json::to_string(&super::receipts::QueuedSend::Timer { timer }).map_err(Error::encode("a timer"))?;
        let own = self.user_id().clone();
        let now = now_ms();
        let line = self.transact(|_, db| {
            db.ensure_conversation(conversation_id, &title)?;
            let line = apply(db, conversation_id, &own, &own, message_id.as_str(), seconds, (now, None))?;
            if let Some(line) = &line {
                db.touch_conversation(conversation_id, now, line, 0)?;
            }
            db.enqueue_action(message_id.as_str(), conversation_id, &json, now)?;
            Ok(line)
        })?;
        if let Some(message) = line {
            self.emit(ClientEvent::MessageReceived { message });
        }
        if let Some(conversation) = self.read(|db| db.conversation(conversation_id))? {
            self.emit(ClientEvent::ConversationUpdated { conversation });
        }
        if self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
            self.inner.outbox_wake.notify_one();
            self.inner.expiry_wake.notify_one();
        } else {
            self.flush_outbox().await;
        }
        Ok(())
    }

    /// Delete the messages whose time ran out, everywhere on this device (history, search
    /// index, files), announcing each as `message_removed`.
    pub fn sweep_expired(&self) -> Result<usize> {
        let now = now_ms();
        let (gone, files) = self.transact(|_, db| db.delete_expired(now))?;
        for local in files {
            self.remove_local_file(Some(local));
        }
        let mut conversations = std::collections::BTreeSet::new();
        for (conversation_id, message_row) in &gone {
            conversations.insert(conversation_id.clone());
            self.emit(ClientEvent::MessageRemoved {
                conversation_id: conversation_id.clone(),
                message_row: *message_row,
            });
        }
        for conversation_id in conversations {
            self.read(|db| db.forget_removed(&conversation_id))?;
            if let Some(conversation) = self.read(|db| db.conversation(&conversation_id))? {
                self.emit(ClientEvent::ConversationUpdated { conversation });
            }
        }
        if !gone.is_empty() {
            tracing::info!(messages = gone.len(), "disappearing messages ran out");
        }
        Ok(gone.len())
    }

    /// The background sweep: at the next message's time, or every minute (new messages wake it).
    pub(crate) async fn run_expiry(&self) {
        loop {
            if let Err(e) = self.sweep_expired() {
                tracing::error!(error = %e, "cannot delete the messages that ran out");
            }
            let wait = match self.read(|db| db.next_expiry()) {
                Ok(Some(at)) => {
                    let ms = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
                    Duration::from_millis(ms).min(SWEEP_AT_LEAST_EVERY)
                }
                _ => SWEEP_AT_LEAST_EVERY,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.inner.expiry_wake.notified() => {}
                () = self.inner.cancel.cancelled() => return,
            }
        }
    }
}
