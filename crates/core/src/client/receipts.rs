//! Delivery and read receipts, end-to-end encrypted: a device that decrypts others' messages
//! tells each sender which (`delivered`, once per batch); when a conversation is shown, each
//! sender of what it newly shows is told (`read`), unless this person turned read receipts
//! off (then they see nobody's either, as in Signal). Receipts go over Olm to the sender only
//! (a group's too: the other members learn nothing) and to this user's own other devices,
//! which take a `read` as "seen here" and clear the conversation's unread count.
//!
//! They are queued in the outbox like actions (its `action` column, as a [`QueuedSend`]), so
//! they survive restarts and go out with the next send; a receipt from a device its user has
//! not confirmed is ignored.

use serde::{Deserialize, Serialize};
use sotto_proto::{DeviceAddress, GroupId, InboxEntry, UserId};

use super::Client;
use super::receive::Processed;
use crate::crypto::payload::{Action, ReceiptKind};
use crate::events::ClientEvent;
use crate::store::{Db, ReceiptStep, now_ms};
use crate::{ConversationId, Error, Result};

/// The most message ids one receipt names (more go in several).
pub(crate) const MAX_RECEIPT_IDS: usize = 500;

/// What the outbox's `action` column holds: a send that is not a message. Told apart by
/// their one required field (`receipt`, `timer`, `profile_key`), an action being the rest.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum QueuedSend {
    Receipt {
        receipt: QueuedReceipt,
    },
    /// A conversation's disappearing-messages timer.
    Timer {
        timer: QueuedTimer,
    },
    /// This user's profile key, for the conversation's other side (the key itself is read
    /// when it is encrypted: the newest then).
    ProfileKey {
        profile_key: QueuedProfileKey,
    },
    Act(Action),
}

/// A profile key waiting to be given.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct QueuedProfileKey {}

/// A timer change waiting to be sent (`seconds`: `None` turns it off).
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct QueuedTimer {
    pub seconds: Option<u64>,
}

/// A receipt waiting to go to the sender of the messages it names (the outbox row's
/// conversation is the one-to-one conversation with them).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct QueuedReceipt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<GroupId>,
    pub kind: ReceiptKind,
    pub message_ids: Vec<String>,
}

/// Queue receipts to `sender` for their messages `message_ids` of `conversation_id`, in the
/// caller's transaction.
pub(crate) fn queue(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    sender: &UserId,
    kind: ReceiptKind,
    message_ids: &[String],
    now: i64,
) -> Result<()> {
    let group_id = match conversation_id {
        ConversationId::Group(group) => Some(group.clone()),
        ConversationId::Direct(_) => None,
    };
    for ids in message_ids.chunks(MAX_RECEIPT_IDS) {
        let receipt = QueuedReceipt { group_id: group_id.clone(), kind, message_ids: ids.to_vec() };
        let json = serde_json::to_string(&QueuedSend::Receipt { receipt }).map_err(Error::encode("a receipt"))?;
        let id = super::send::new_message_id()?;
        db.enqueue_action(id.as_str(), &ConversationId::Direct(sender.clone()), &json, now)?;
    }
    Ok(())
}

/// The conversation is shown: read receipts for what it newly shows, in the caller's
/// transaction (none while read receipts are off, but the mark moves on: turning them on
/// later does not announce the past). Returns whether any were queued.
pub(crate) fn queue_read(db: &Db<'_>, conversation_id: &ConversationId) -> Result<bool> {
    let mark = db.read_mark(conversation_id)?;
    let (by_sender, newest) = db.unreceipted(conversation_id, mark)?;
    if newest <= mark {
        return Ok(false);
    }
    db.set_read_mark(conversation_id, newest)?;
    if !db.read_receipts_on()? {
        return Ok(false);
    }
    let now = now_ms();
    let mut queued = false;
    for (sender, ids) in by_sender {
        let Ok(sender) = UserId::parse(&sender) else { continue };
        queue(db, conversation_id, &sender, ReceiptKind::Read, &ids, now)?;
        queued = true;
    }
    Ok(queued)
}

/// A receipt arrived from `entry`'s device (`confirmed`: one its user confirmed).
#[allow(clippy::too_many_arguments)]
pub(crate) fn receive(
    db: &Db<'_>,
    own: &DeviceAddress,
    entry: &InboxEntry,
    confirmed: bool,
    to: &UserId,
    group_id: Option<&GroupId>,
    kind: ReceiptKind,
    message_ids: &[String],
    ts: i64,
    out: &mut Processed,
) -> Result<()> {
    if !confirmed {
        tracing::info!(sender = %entry.sender_user, "a receipt from a device its user has not confirmed was ignored");
        return Ok(());
    }
    let from_me = entry.sender_user == own.user_id;
    let conversation_id = match group_id {
        Some(group) => ConversationId::Group(group.clone()),
        // Ours to a contact (from another of our devices), or a contact's to us.
        None if from_me => ConversationId::Direct(to.clone()),
        None if to == &own.user_id => ConversationId::Direct(entry.sender_user.clone()),
        None => return Ok(()),
    };
    if from_me {
        // Another device of ours showed these messages: they are read here too.
        if kind == ReceiptKind::Read {
            db.mark_read(&conversation_id)?;
            db.set_read_mark(&conversation_id, db.newest_row(&conversation_id)?)?;
            out.mark_dirty(conversation_id);
        }
        return Ok(());
    }
    if to != &own.user_id {
        return Ok(());
    }
    let step = match kind {
        ReceiptKind::Delivered => ReceiptStep::Delivered,
        ReceiptKind::Read => ReceiptStep::Read,
    };
    let ts = if ts > 0 { ts } else { i64::try_from(entry.server_ts).unwrap_or(i64::MAX) };
    for id in message_ids.iter().take(MAX_RECEIPT_IDS) {
        let Some(message) = db.find_message(&conversation_id, own.user_id.as_str(), id)? else { continue };
        if message.outgoing && db.record_receipt(message.id, entry.sender_user.as_str(), step, ts)? {
            let message = db.message(message.id)?.unwrap_or(message);
            out.events.push(ClientEvent::MessageChanged { message });
        }
    }
    Ok(())
}

impl Client {
    /// Whether this person sends read receipts (and sees others').
    pub fn read_receipts(&self) -> Result<bool> {
        self.read(|db| db.read_receipts_on())
    }

    /// Turn read receipts on or off. Off: none are sent, and nobody's are shown.
    pub fn set_read_receipts(&self, on: bool) -> Result<()> {
        self.read(|db| db.set_read_receipts_on(on))
    }

    /// The conversation was shown: its unread count goes to 0 and its senders get read
    /// receipts (sent by the background service; see [`Client::read_conversation`] without it).
    pub fn mark_read(&self, conversation_id: &ConversationId) -> Result<()> {
        let queued = self.transact(|_, db| {
            db.mark_read(conversation_id)?;
            queue_read(db, conversation_id)
        })?;
        if let Some(conversation) = self.read(|db| db.conversation(conversation_id))? {
            self.emit(ClientEvent::ConversationUpdated { conversation });
        }
        if queued {
            self.inner.outbox_wake.notify_one();
        }
        Ok(())
    }

    /// [`Client::mark_read`], then send the read receipts now unless the background service
    /// does (the command line).
    pub async fn read_conversation(&self, conversation_id: &ConversationId) -> Result<()> {
        self.mark_read(conversation_id)?;
        if !self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
            self.flush_outbox().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::crypto::payload::MessageRef;

    #[test]
    fn each_queued_send_reads_back_as_itself() {
        let target = MessageRef { sender: UserId::parse("bob").unwrap(), message_id: "m1".into() };
        let queued = [
            QueuedSend::Act(Action::Delete { target: target.clone() }),
            QueuedSend::Act(Action::React { target, emoji: "👍".into(), remove: true }),
            QueuedSend::Timer { timer: QueuedTimer { seconds: None } },
            QueuedSend::Timer { timer: QueuedTimer { seconds: Some(60) } },
            QueuedSend::Receipt {
                receipt: QueuedReceipt { group_id: None, kind: ReceiptKind::Read, message_ids: vec!["m2".into()] },
            },
        ];
        for q in queued {
            let json = serde_json::to_string(&q).unwrap();
            let back: QueuedSend = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
            match (&q, &back) {
                (QueuedSend::Act(_), QueuedSend::Act(_))
                | (QueuedSend::Timer { .. }, QueuedSend::Timer { .. })
                | (QueuedSend::Receipt { .. }, QueuedSend::Receipt { .. }) => {}
                _ => panic!("{json} read back as another kind"),
            }
        }
    }
}
