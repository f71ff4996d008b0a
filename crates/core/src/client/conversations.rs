//! What a person does with a conversation as a whole, on this device only: mute it for a
//! while, archive it, pin it, mark it unread, keep a draft, delete it. Nothing here is sent.

use super::Client;
use crate::events::ClientEvent;
use crate::store::now_ms;
use crate::{ConversationId, Error, Result};

/// The longest draft kept (a message's limit).
const MAX_DRAFT_BYTES: usize = super::send::MAX_TEXT_BYTES;

impl Client {
    /// Mute the conversation until `until` (ms since the epoch; `None` unmutes; `i64::MAX`
    /// until unmuted): no notifications meanwhile, and an archived one stays archived.
    pub fn set_muted(&self, conversation_id: &ConversationId, until: Option<i64>) -> Result<()> {
        self.change_conversation(conversation_id, |db| db.set_muted(conversation_id, until))
    }

    /// Archive the conversation (listed apart until a new message brings it back, unless it is
    /// muted), or bring it back.
    pub fn set_archived(&self, conversation_id: &ConversationId, archived: bool) -> Result<()> {
        self.change_conversation(conversation_id, |db| db.set_archived(conversation_id, archived))
    }

    /// Pin the conversation to the top of the list (after those pinned before), or unpin it.
    pub fn set_pinned(&self, conversation_id: &ConversationId, pinned: bool) -> Result<()> {
        let now = now_ms();
        self.change_conversation(conversation_id, |db| db.set_pinned(conversation_id, pinned, now))
    }

    /// Show the conversation as unread until it is read again.
    pub fn mark_unread(&self, conversation_id: &ConversationId) -> Result<()> {
        self.change_conversation(conversation_id, |db| db.mark_unread(conversation_id))
    }

    /// Keep the text being written (empty: none).
    pub fn set_draft(&self, conversation_id: &ConversationId, draft: &str) -> Result<()> {
        if draft.len() > MAX_DRAFT_BYTES {
            return Err(Error::InvalidInput(format!("A draft is at most {} KiB.", MAX_DRAFT_BYTES / 1024)));
        }
        self.change_conversation(conversation_id, |db| db.set_draft(conversation_id, draft))
    }

    /// Delete the conversation from this device: its messages, files, reactions and unsent
    /// messages. Nothing is sent; a group is not left (its next message starts the
    /// conversation again).
    pub fn delete_conversation(&self, conversation_id: &ConversationId) -> Result<()> {
        let files = self
            .transact(|_, db| db.delete_conversation(conversation_id))?
            .ok_or_else(|| Error::InvalidInput("There is no such conversation.".into()))?;
        for local in files {
            self.remove_local_file(Some(local));
        }
        self.emit(ClientEvent::ConversationRemoved { conversation_id: conversation_id.clone() });
        Ok(())
    }

    fn change_conversation(
        &self,
        conversation_id: &ConversationId,
        change: impl FnOnce(&crate::store::Db<'_>) -> Result<bool>,
    ) -> Result<()> {
        let conversation = self.transact(|_, db| {
            if !change(db)? {
                return Ok(None);
            }
            db.conversation(conversation_id)
        })?;
        let conversation = conversation.ok_or_else(|| Error::InvalidInput("There is no such conversation.".into()))?;
        self.emit(ClientEvent::ConversationUpdated { conversation });
        Ok(())
    }
}
