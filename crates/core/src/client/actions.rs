//! Replies, reactions, edits and deletions: sent end-to-end encrypted like messages (an
//! [`Action`] in the payload, queued in the outbox under its own message id), applied here at
//! once, and applied where they arrive by the same rules:
//! - anyone in the conversation may react (one row per person and emoji, toggled; the latest
//!   change by the reactor's clock wins, whatever order they arrive in);
//! - only a message's sender may edit or delete it; anyone else's is refused (logged, shown
//!   nowhere);
//! - an edit or deletion that arrives before its message (or while it is still undecryptable)
//!   waits for it, and is applied when it is stored — still only if its sender sent it.

use sotto_proto::UserId;

use super::Client;
use super::receive::Processed;
use crate::crypto::payload::{Action, MessageRef};
use crate::events::ClientEvent;
use crate::store::now_ms;
use crate::store::{Db, Message, MessageKind, MessageStatus, StoreError, WaitingAction};
use crate::{ConversationId, Error, Result};

/// The longest reaction accepted, in bytes (an emoji with its modifiers and joiners).
const MAX_EMOJI_BYTES: usize = 32;

/// A reaction is one emoji (with its modifiers): short, with no letters, spaces or controls.
pub(crate) fn valid_emoji(emoji: &str) -> bool {
    !emoji.is_empty()
        && emoji.len() <= MAX_EMOJI_BYTES
        && !emoji.chars().any(|c| c.is_ascii_alphabetic() || c.is_whitespace() || c.is_control())
}

impl Client {
    /// Answer the message `target_row` (a text or file of its conversation) with a text.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn reply(&self, target_row: i64, body: &str) -> Result<Message> {
        super::send::check_text(body)?;
        let target = self.action_target(target_row)?;
        let title = self.conversation_title_to_send(&target.conversation_id).await?;
        let reply_to = message_ref(&target)?;
        self.queue(&target.conversation_id, &title, body, Some(&reply_to)).await
    }

    /// Add the reaction `emoji` to the message `target_row`, or with `remove` take it back.
    /// Returns the message with its reactions as they now are.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn react(&self, target_row: i64, emoji: &str, remove: bool) -> Result<Message> {
        if !valid_emoji(emoji) {
            return Err(Error::InvalidInput("A reaction is one emoji.".into()));
        }
        let target = self.action_target(target_row)?;
        let action = Action::React { target: message_ref(&target)?, emoji: emoji.to_owned(), remove };
        self.act(&target, action).await
    }

    /// Replace the text of this user's own message `target_row` (a file's caption) for everyone.
    /// The earlier versions stay on this device.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn edit(&self, target_row: i64, body: &str) -> Result<Message> {
        super::send::check_text(body)?;
        let target = self.action_target(target_row)?;
        self.check_own(&target, "edit")?;
        if body.trim().is_empty() && target.kind == MessageKind::Text {
            return Err(Error::InvalidInput("An edited message needs some text; delete it instead.".into()));
        }
        if body == target.body {
            return Ok(target);
        }
        let action = Action::Edit { target: message_ref(&target)?, body: body.to_owned() };
        self.act(&target, action).await
    }

    /// Delete this user's own message `target_row` for everyone: a tombstone is left in its
    /// place here and on every device that has it (or gets it later); its text leaves history
    /// and the search index, and its file the profile.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn delete_for_everyone(&self, target_row: i64) -> Result<Message> {
        let target = self.action_target(target_row)?;
        self.check_own(&target, "delete")?;
        let action = Action::Delete { target: message_ref(&target)? };
        self.act(&target, action).await
    }

    /// The message an action is about: a text or file, not deleted.
    pub(super) fn action_target(&self, row: i64) -> Result<Message> {
        let message = self.read(|db| db.message(row))?.ok_or_else(|| Error::InvalidInput("No such message.".into()))?;
        if !matches!(message.kind, MessageKind::Text | MessageKind::File) {
            return Err(Error::InvalidInput(
                "Only a text or a file can be answered, reacted to, edited or deleted.".into(),
            ));
        }
        if message.deleted {
            return Err(Error::InvalidInput("That message was deleted.".into()));
        }
        Ok(message)
    }

    fn check_own(&self, target: &Message, what: &str) -> Result<()> {
        if target.sender_user != self.user_id().as_str() {
            return Err(Error::InvalidInput(format!("Only the person who sent a message can {what} it.")));
        }
        if target.status == MessageStatus::Failed {
            return Err(Error::InvalidInput(format!(
                "That message was never sent; send it again or remove it before you {what} it."
            )));
        }
        Ok(())
    }

    /// Where a send in this conversation may go, and its title should the conversation be new.
    async fn conversation_title_to_send(&self, conversation_id: &ConversationId) -> Result<String> {
        match conversation_id {
            ConversationId::Direct(user) => {
                self.check_recipient(user).await?;
                Ok(user.to_string())
            }
            ConversationId::Group(group) => self.group_title_to_send(group),
        }
    }

    /// Apply `action` here and queue it for the conversation, in one transaction.
    async fn act(&self, target: &Message, action: Action) -> Result<Message> {
        let conversation_id = target.conversation_id.clone();
        let title = self.conversation_title_to_send(&conversation_id).await?;
        let message_id = super::send::new_message_id()?;
        let json = serde_json::to_string(&super::receipts::QueuedSend::Act(action.clone()))
            .map_err(Error::encode("an action"))?;
        let own = self.user_id().clone();
        let now = now_ms();
        let (changed, removed) = self.transact(|_, db| {
            db.ensure_conversation(&conversation_id, &title)?;
            let removed = apply(db, &conversation_id, &own, &action, now, target.id)?;
            db.enqueue_action(message_id.as_str(), &conversation_id, &json, now)?;
            let mut changed = db.message(target.id)?.ok_or(StoreError::Missing("message just changed"))?;
            db.add_details(&mut changed)?;
            Ok((changed, removed))
        })?;
        self.remove_local_file(removed);
        self.emit(ClientEvent::MessageChanged { message: changed.clone() });
        if let Some(conversation) = self.read(|db| db.conversation(&conversation_id))? {
            self.emit(ClientEvent::ConversationUpdated { conversation });
        }
        if self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
            self.inner.outbox_wake.notify_one();
        } else {
            self.flush_outbox().await;
        }
        Ok(changed)
    }

    /// Remove a deleted message's file ciphertext from the profile (after the deletion committed).
    pub(crate) fn remove_local_file(&self, local: Option<String>) {
        if let Some(local) = local
            && let Err(e) = std::fs::remove_file(self.files_dir().join(&local))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "cannot remove a deleted message's file");
        }
    }

    /// The attacker's tests: edit (`Some(body)`) or delete (`None`) any message, as a modified
    /// client would, skipping the checks [`Client::edit`] and [`Client::delete_for_everyone`]
    /// make. Only with the `bench` feature.
    #[cfg(feature = "bench")]
    pub async fn send_unchecked_change(&self, target_row: i64, body: Option<&str>) -> Result<Message> {
        let target = self.action_target(target_row)?;
        let target_ref = message_ref(&target)?;
        let action = match body {
            Some(body) => Action::Edit { target: target_ref, body: body.to_owned() },
            None => Action::Delete { target: target_ref },
        };
        self.act(&target, action).await
    }

    /// Every text the message `row` had, oldest first, with when it was written; empty if it
    /// was never edited.
    pub fn message_versions(&self, row: i64) -> Result<Vec<(String, i64)>> {
        self.read(|db| db.message_versions(row))
    }
}

pub(super) fn message_ref(message: &Message) -> Result<MessageRef> {
    let sender = UserId::parse(&message.sender_user).map_err(StoreError::id("messages", "sender_user"))?;
    Ok(MessageRef { sender, message_id: message.message_id.clone() })
}

/// Apply an action whose target is the stored message `row` (already checked: the actor may do
/// it). Returns a deleted file's name in the profile, to remove once this commits.
fn apply(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    actor: &UserId,
    action: &Action,
    ts: i64,
    row: i64,
) -> Result<Option<String>> {
    let target = action.target();
    match action {
        Action::React { emoji, remove, .. } => {
            react(db, conversation_id, actor, target, emoji, *remove, ts)?;
            Ok(None)
        }
        Action::Edit { body, .. } => {
            db.apply_edit(row, body, ts)?;
            Ok(None)
        }
        Action::Delete { .. } => Ok(db.apply_delete(row, ts)?.1),
    }
}

/// An action received from `actor`'s device in `conversation_id`: checked, then applied, kept
/// until its message arrives, or refused. `confirmed`: the device is one its user confirmed. An
/// action from any other device is refused: it may be a device the server added, and unlike a
/// message there is nowhere to mark it.
pub(crate) fn receive(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    actor: &UserId,
    confirmed: bool,
    action: &Action,
    ts: i64,
    out: &mut Processed,
) -> Result<()> {
    if !confirmed {
        tracing::warn!(sender = %actor, "an action from a device its user has not confirmed was refused");
        out.refresh.insert(actor.clone());
        return Ok(());
    }
    let target = action.target();
    match action {
        Action::React { emoji, remove, .. } => {
            if !valid_emoji(emoji) {
                tracing::warn!(sender = %actor, "a reaction that is not an emoji was dropped");
                return Ok(());
            }
            let changed = react(db, conversation_id, actor, target, emoji, *remove, ts)?;
            if changed {
                changed_event(db, conversation_id, target, out)?;
            }
            Ok(())
        }
        Action::Edit { .. } | Action::Delete { .. } => {
            if &target.sender != actor {
                tracing::warn!(sender = %actor, "an edit or deletion of someone else's message was refused");
                return Ok(());
            }
            if let Action::Edit { body, .. } = action
                && super::send::check_text(body).is_err()
            {
                tracing::warn!(sender = %actor, "an edit longer than a message was dropped");
                return Ok(());
            }
            match db.find_message(conversation_id, target.sender.as_str(), &target.message_id)? {
                Some(message) if matches!(message.kind, MessageKind::Text | MessageKind::File) => {
                    if let Some(local) = apply(db, conversation_id, actor, action, ts, message.id)? {
                        out.removed_files.push(local);
                    }
                    changed_event(db, conversation_id, target, out)
                }
                // Not here yet, or not decrypted yet: it waits.
                Some(message) if message.kind == MessageKind::Undecryptable => {
                    wait(db, conversation_id, actor, action, ts)
                }
                Some(_) => Ok(()),
                None => wait(db, conversation_id, actor, action, ts),
            }
        }
    }
}

/// `actor`'s reaction `emoji` on `target`, given or (`remove`) taken back at `ts`. Returns
/// whether it changed anything.
fn react(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    actor: &UserId,
    target: &MessageRef,
    emoji: &str,
    remove: bool,
    ts: i64,
) -> Result<bool> {
    db.set_reaction(conversation_id, target.sender.as_str(), &target.message_id, actor.as_str(), emoji, !remove, ts)
}

fn wait(db: &Db<'_>, conversation_id: &ConversationId, actor: &UserId, action: &Action, ts: i64) -> Result<()> {
    let target = action.target();
    let json = serde_json::to_string(action).map_err(Error::encode("an action"))?;
    let waiting = WaitingAction { actor: actor.to_string(), action: json, ts };
    db.wait_for_message(conversation_id, target.sender.as_str(), &target.message_id, &waiting, now_ms())
}

/// A message was just stored (or decrypted): apply the edits and deletions that waited for it,
/// those of its own sender only. Returns whether any applied.
pub(crate) fn apply_waiting(db: &Db<'_>, message: &Message, out: &mut Processed) -> Result<bool> {
    let waiting = db.take_waiting(&message.conversation_id, &message.sender_user, &message.message_id)?;
    let mut applied = false;
    for w in waiting {
        if w.actor != message.sender_user {
            tracing::warn!(sender = %w.actor, "an edit or deletion of someone else's message was refused");
            continue;
        }
        let Ok(action) = serde_json::from_str::<Action>(&w.action) else { continue };
        let Ok(actor) = UserId::parse(&w.actor) else { continue };
        if let Some(local) = apply(db, &message.conversation_id, &actor, &action, w.ts, message.id)? {
            out.removed_files.push(local);
        }
        applied = true;
    }
    Ok(applied)
}

fn changed_event(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    target: &MessageRef,
    out: &mut Processed,
) -> Result<()> {
    if let Some(mut message) = db.find_message(conversation_id, target.sender.as_str(), &target.message_id)? {
        db.add_details(&mut message)?;
        out.events.push(ClientEvent::MessageChanged { message });
        out.mark_dirty(conversation_id.clone());
    }
    Ok(())
}
