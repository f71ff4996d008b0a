//! Re-sends of one-to-one messages that did not decrypt (as Signal's retry receipts do).
//!
//! An Olm message no session opens (the recipient reset its keys or restored a backup while the
//! message was on its way, or a session broke) is kept as undecryptable, and its recipient:
//! 1. starts a new session with the sending device (`renew`, rate-limited), then
//! 2. sends that device a `resend_request` naming the server ids of the messages it could not
//!    read (at most [`MAX_RESEND_IDS`] per batch).
//!
//! The sending device answers with a `resent` message per id it finds among its own sent texts
//! in the conversation with the requester — written in the last [`RESEND_WINDOW_MS`], and no
//! earlier than it first saw the requesting device id, so a device only ever receives again what
//! was addressed to it. The recipient replaces the undecryptable message with the text in place
//! (same position, same id); anywhere else (devices that read the original, a message it never
//! had) a `resent` message is dropped, so it can neither duplicate nor inject a message.
//! Ids that were never messages of this device (a receipt, a reaction, a key: no row has them)
//! are answered with one `not_a_message`, and the requester drops those placeholders: nothing
//! was lost, and nothing is left that reads "not decrypted".

use std::collections::BTreeMap;

use sotto_proto::UserId;

use super::Client;
use super::receipts::QueuedSend;
use crate::crypto::payload::{FileContent, OlmContent, ProfileKeyShare};
use crate::store::{DeviceRecord, now_ms};
use crate::{ConversationId, Message, MessageKind, Result};

/// Own messages older than this are not sent again (1 day).
pub const RESEND_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Message ids asked for, or answered, per device and batch.
pub const MAX_RESEND_IDS: usize = 100;

/// Follow-up work after a batch whose Olm messages did not all decrypt, or that asked for
/// re-sends.
#[derive(Default)]
pub(crate) struct Repairs {
    /// Devices whose Olm messages no session could decrypt: start new sessions with them
    /// (rate-limited), so what they send next is readable again.
    pub renew: BTreeMap<String, DeviceRecord>,
    /// Per sending device (by identity key), the server ids of its messages to ask for again.
    pub ask: BTreeMap<String, (DeviceRecord, Vec<String>)>,
    /// Devices that asked this one to send messages again, and which.
    pub answer: Vec<(DeviceRecord, Vec<String>)>,
}

impl Repairs {
    /// `message_id` from `sender` did not decrypt: renew, and ask for it again.
    pub fn undecryptable(&mut self, sender: &DeviceRecord, message_id: &str) {
        self.renew.insert(sender.curve25519.clone(), sender.clone());
        let (_, ids) = self.ask.entry(sender.curve25519.clone()).or_insert_with(|| (sender.clone(), Vec::new()));
        if ids.len() < MAX_RESEND_IDS {
            ids.push(message_id.to_owned());
        }
    }

    /// Take in another part's repairs.
    pub fn merge(&mut self, other: Repairs) {
        self.renew.extend(other.renew);
        for (key, (device, ids)) in other.ask {
            let (_, mine) = self.ask.entry(key).or_insert_with(|| (device, Vec::new()));
            mine.extend(ids);
            mine.truncate(MAX_RESEND_IDS);
        }
        self.answer.extend(other.answer);
    }

    pub fn is_empty(&self) -> bool {
        self.renew.is_empty() && self.ask.is_empty() && self.answer.is_empty()
    }
}

impl Client {
    /// Carry out [`Repairs`]: renew sessions first (the requests then travel over the new ones),
    /// then ask for and answer re-sends. Failures are logged: a request that is not sent leaves the
    /// message undecryptable, as it was.
    pub(crate) async fn repair(&self, repairs: Repairs) {
        if repairs.is_empty() {
            return;
        }
        self.renew_after_failures(repairs.renew).await;
        for (device, message_ids) in repairs.ask.into_values() {
            let n = message_ids.len();
            match self.send_olm(&device.user_id, &OlmContent::ResendRequest { message_ids }).await {
                Ok(()) => {
                    tracing::info!(user = %device.user_id, messages = n, "asked for undecryptable messages again")
                }
                Err(e) => tracing::warn!(error = %e, "could not ask for undecryptable messages again"),
            }
        }
        for (device, message_ids) in repairs.answer {
            if let Err(e) = self.resend(&device, &message_ids).await {
                tracing::warn!(error = %e, "could not send messages again");
            }
        }
    }

    /// Send again this device's recent texts among `message_ids` that were addressed to
    /// `device`'s user (for this account's own other devices: in any one-to-one conversation).
    async fn resend(&self, device: &DeviceRecord, message_ids: &[String]) -> Result<()> {
        let own = self.inner.own.clone();
        let since = device.first_seen.max(now_ms().saturating_sub(RESEND_WINDOW_MS));
        // Texts and files, and actions (reactions, edits, deletions), sent with the ids asked
        // for, as they were.
        let (found, actions) = self.read(|db| {
            let conversations: Vec<(UserId, ConversationId)> = if device.user_id == own.user_id {
                db.conversations()?.into_iter().filter_map(|c| Some((c.id.user()?.clone(), c.id))).collect()
            } else {
                vec![(device.user_id.clone(), ConversationId::Direct(device.user_id.clone()))]
            };
            let mut found: Vec<(UserId, Message, Option<FileContent>)> = Vec::new();
            let mut actions: Vec<OlmContent> = Vec::new();
            for id in message_ids.iter().take(MAX_RESEND_IDS) {
                for (peer, conversation) in &conversations {
                    let sent =
                        db.own_sent_text(conversation, own.user_id.as_str(), own.device_id.as_str(), id, since)?;
                    if let Some(message) = sent {
                        let file = match message.kind {
                            MessageKind::File => Some(super::files::outgoing_content(db, &message)?),
                            _ => None,
                        };
                        found.push((peer.clone(), message, file));
                        break;
                    }
                    if let Some((json, ts)) = db.sent_action(conversation, id, since)? {
                        if let Ok(QueuedSend::Act(action)) = serde_json::from_str::<QueuedSend>(&json) {
                            actions.push(OlmContent::Act { to: peer.clone(), action, ts });
                        }
                        break;
                    }
                }
            }
            Ok((found, actions))
        })?;
        let not_messages: Vec<String> = self.read(|db| {
            let mut none = Vec::new();
            for id in message_ids.iter().take(MAX_RESEND_IDS) {
                if db.message_row_by_id(id)?.is_none() {
                    none.push(id.clone());
                }
            }
            Ok(none)
        })?;
        if !not_messages.is_empty() {
            self.send_olm(&device.user_id, &OlmContent::NotAMessage { message_ids: not_messages }).await?;
        }
        let n = found.len();
        // The profile key goes with them: the message that gave it may be among them.
        let profile_key = self.read(|db| db.profile_key(own.user_id.as_str()))?;
        for (peer, message, file) in found {
            let content = OlmContent::Resent {
                to: peer,
                body: message.body,
                ts: message.ts,
                original: message.message_id,
                file: file.map(Box::new),
                profile_key: profile_key
                    .as_ref()
                    .map(|held| ProfileKeyShare { key: held.key.to_string(), version: held.version }),
            };
            self.send_olm(&device.user_id, &content).await?;
        }
        let acted = actions.len();
        for content in actions {
            self.send_olm(&device.user_id, &content).await?;
        }
        tracing::info!(user = %device.user_id, asked = message_ids.len(), sent = n, acted, "sent messages again on request");
        Ok(())
    }
}
