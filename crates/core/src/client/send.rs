//! Sending: a message is stored as `queued` together with an outbox row in one transaction,
//! then the outbox is flushed. Encryption happens when the send is attempted (device lists and
//! sessions may have changed while offline); the encrypted request is stored before it is
//! posted and re-posted unchanged on retry, so a retry after a lost answer is deduplicated by
//! the server on the message id.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sotto_proto::routes;
use sotto_proto::{
    DeviceAddress, DevicePayload, ErrorCode, GroupId, MessageId, SendDirectRequest, SendGroupRequest, SendReceipt,
    SocketSend, UserId,
};

use super::Client;
use crate::ConversationId;
use crate::crypto::CryptoError;
use crate::crypto::Machine;
use crate::crypto::payload::ProfileKeyShare;
use crate::crypto::payload::{
    Action, FileContent, GroupContent, GroupHead, GroupPlaintextOut, MessageRef, OlmContent, PAYLOAD_VERSION,
};
use crate::events::ClientEvent;
use crate::store::{
    Db, DeviceRecord, Devices, FileState, Message, MessageKind, MessageStatus, NewMessage, OutboxItem, StoreError,
    now_ms,
};
use crate::{Error, Result};

/// Longest text message, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Device lists older than this are fetched again before a group send.
const GROUP_DEVICE_MAX_AGE_MS: i64 = 5 * 60 * 1000;
/// Attempts to re-encrypt after the server said the recipient's devices changed.
const DEVICE_CHANGE_RETRIES: usize = 3;

/// The encrypted request of a queued send, stored so a retry posts exactly the same thing.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StoredRequest {
    Direct(SendDirectRequest),
    Group {
        group_id: GroupId,
        request: SendGroupRequest,
    },
    /// A note to self while this user has no other device: nothing to send, kept here only.
    Local,
}

/// A group's outbound session, shared with the devices a send names.
pub(crate) struct SharedSession {
    pub session_id: String,
    /// The members' devices other than this one.
    pub member_devices: Vec<DeviceAddress>,
    pub members: Vec<UserId>,
}

pub(super) fn new_message_id() -> Result<MessageId> {
    Ok(MessageId::parse(uuid::Uuid::new_v4().simple().to_string()).map_err(CryptoError::GeneratedId)?)
}

pub(super) fn check_text(body: &str) -> Result<()> {
    if body.trim().is_empty() {
        return Err(Error::InvalidInput("The message is empty.".into()));
    }
    if body.len() > MAX_TEXT_BYTES {
        return Err(Error::InvalidInput(format!("The message is longer than {} KiB.", MAX_TEXT_BYTES / 1024)));
    }
    Ok(())
}

/// A file's caption: empty, or a text no longer than a message.
pub(super) fn check_caption(caption: &str) -> Result<()> {
    if caption.len() > MAX_TEXT_BYTES {
        return Err(Error::InvalidInput(format!("The caption is longer than {} KiB.", MAX_TEXT_BYTES / 1024)));
    }
    Ok(())
}

/// What a queued send carries: a text (perhaps a reply), a file (its caption inside), or
/// something done to an earlier message.
enum Outgoing {
    Text {
        body: String,
        reply_to: Option<MessageRef>,
        profile_key: Option<ProfileKeyShare>,
    },
    File(Box<FileContent>, Option<ProfileKeyShare>),
    Act(Action),
    /// Only ever one to one (to the messages' sender).
    Receipt(super::receipts::QueuedReceipt),
    Timer(Option<u64>),
    /// This user's profile key (see [`super::profiles`]).
    ProfileKey {
        key: String,
        version: u64,
    },
}

impl Outgoing {
    fn olm(self, to: &UserId, ts: i64) -> OlmContent {
        match self {
            Outgoing::Text { body, reply_to, profile_key } => {
                OlmContent::Text { to: to.clone(), body, ts, reply_to, profile_key }
            }
            Outgoing::File(file, profile_key) => OlmContent::File { to: to.clone(), file: *file, ts, profile_key },
            Outgoing::Act(action) => OlmContent::Act { to: to.clone(), action, ts },
            Outgoing::Timer(seconds) => OlmContent::Timer { to: to.clone(), seconds, ts },
            Outgoing::ProfileKey { key, version } => OlmContent::ProfileKey { key, version },
            Outgoing::Receipt(r) => OlmContent::Receipt {
                to: to.clone(),
                group_id: r.group_id,
                kind: r.kind,
                message_ids: r.message_ids,
                ts,
            },
        }
    }

    /// `None` for what never goes to a whole group (a receipt).
    fn group(self, ts: i64) -> Option<GroupContent> {
        match self {
            Outgoing::Text { body, reply_to, profile_key } => {
                Some(GroupContent::Text { body, ts, reply_to, profile_key })
            }
            Outgoing::File(file, profile_key) => Some(GroupContent::File { file, ts, profile_key }),
            Outgoing::Act(action) => Some(GroupContent::Act { action, ts }),
            Outgoing::Timer(seconds) => Some(GroupContent::Timer { seconds, ts }),
            Outgoing::ProfileKey { key, version } => Some(GroupContent::ProfileKey { key, version }),
            Outgoing::Receipt(_) => None,
        }
    }
}

/// What [`Client::bench_prepare_group_change`] sends.
#[cfg(feature = "bench")]
pub enum BenchGroupChange {
    Timer(Option<u64>),
    React { target_row: i64, emoji: String },
    ProfileKey { key: String, version: u64 },
}

/// Whether a sent action (the outbox's JSON) is sent again when asked: what the person did to
/// a message (a reaction, an edit, a deletion). Not receipts or profile keys, and not a timer
/// (whose line would show twice where it did arrive).
fn resendable(action: &str) -> bool {
    use super::receipts::QueuedSend;
    matches!(serde_json::from_str::<QueuedSend>(action), Ok(QueuedSend::Act(_)))
}

/// A line in the conversation saying that an action (`action`, the outbox's JSON) could not be
/// sent and why; none for what nobody asked for by hand (receipts, profile keys).
fn failed_action_line(
    db: &Db<'_>,
    item: &OutboxItem,
    action: &str,
    own_user: &str,
    error: &Error,
) -> Result<Option<Message>> {
    use super::receipts::QueuedSend;
    let what = match serde_json::from_str::<QueuedSend>(action) {
        Ok(QueuedSend::Act(Action::React { remove: false, .. })) => "Your reaction",
        Ok(QueuedSend::Act(Action::React { remove: true, .. })) => "Taking back your reaction",
        Ok(QueuedSend::Act(Action::Edit { .. })) => "Your edit",
        Ok(QueuedSend::Act(Action::Delete { .. })) => "Your deletion",
        Ok(QueuedSend::Timer { .. }) => "Your timer change",
        Ok(QueuedSend::Receipt { .. } | QueuedSend::ProfileKey { .. }) | Err(_) => return Ok(None),
    };
    let line = db.insert_message(&NewMessage {
        conversation_id: &item.conversation_id,
        message_id: &format!("failed-{}", item.message_id),
        sender_user: own_user,
        sender_device: None,
        kind: MessageKind::System,
        body: &format!("{what} could not be sent. {error}"),
        status: MessageStatus::System,
        reason: None,
        outgoing: true,
        ts: now_ms(),
        server_ts: None,
    })?;
    if let Some(line) = &line {
        db.touch_for(line)?;
    }
    Ok(line)
}

/// How long to wait before attempt `attempts + 1`: 1 s doubling to 5 min.
fn backoff_ms(attempts: i64) -> i64 {
    1000_i64.saturating_mul(1 << attempts.clamp(0, 8)).min(300_000)
}

impl Client {
    /// Send a text to `to` (all their devices, and this user's other devices). The message is
    /// stored first. Without the background service ([`Client::start`]) this also sends it and
    /// returns it `sent`, `queued` (offline: it goes out with the next sync) or `failed` with a
    /// reason; with the service running it returns at once, `queued`, and the outcome follows as
    /// a `status_changed` event.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn send_text(&self, to: &UserId, body: &str) -> Result<Message> {
        check_text(body)?;
        self.check_recipient(to).await?;
        self.queue(&ConversationId::Direct(to.clone()), to.as_str(), body, None).await
    }

    /// Someone a one-to-one message may go to: not this user, and a user the server knows (when
    /// it can be asked; offline, the send is queued and the server checks).
    pub(super) async fn check_recipient(&self, to: &UserId) -> Result<()> {
        if to == self.user_id() {
            // Note to self: this user's other devices, if any.
            return Ok(());
        }
        let unknown = match self.ensure_devices(std::slice::from_ref(to), i64::MAX).await {
            Ok(unknown) => unknown,
            Err(e) if e.is_transient() => Vec::new(),
            Err(e) => return Err(e),
        };
        if unknown.contains(to) {
            return Err(Error::UnknownUser(to.to_string()));
        }
        Ok(())
    }

    /// Send a text to every member device of a group.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn send_group_text(&self, group: &GroupId, body: &str) -> Result<Message> {
        check_text(body)?;
        let title = self.group_title_to_send(group)?;
        self.queue(&ConversationId::Group(group.clone()), &title, body, None).await
    }

    /// The title of a group this user may send to ([`Error::NotMember`] after leaving it).
    pub(super) fn group_title_to_send(&self, group: &GroupId) -> Result<String> {
        match self.read(|db| db.group(group))? {
            Some(g) if !g.joined => Err(Error::NotMember),
            Some(g) => Ok(g.name),
            None => Ok(group.to_string()),
        }
    }

    pub(super) async fn queue(
        &self,
        conversation_id: &ConversationId,
        title: &str,
        body: &str,
        reply_to: Option<&MessageRef>,
    ) -> Result<Message> {
        let message = self.store_queued(conversation_id, title, body, reply_to)?;
        self.emit(ClientEvent::MessageReceived { message: message.clone() });
        // Its preview and time changed, and a first message may have made the conversation.
        if let Some(conversation) = self.read(|db| db.conversation(conversation_id))? {
            self.emit(ClientEvent::ConversationUpdated { conversation });
        }
        if self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
            // The background service sends it; the app learns the outcome from `status_changed`
            // and never waits on the network here.
            self.inner.outbox_wake.notify_one();
            return Ok(message);
        }
        self.flush_outbox().await;
        let after = self.read(|db| db.message(message.id))?;
        Ok(after.unwrap_or(message))
    }

    /// Store a new outgoing message as `queued` with its outbox row, in one transaction.
    fn store_queued(
        &self,
        conversation_id: &ConversationId,
        title: &str,
        body: &str,
        reply_to: Option<&MessageRef>,
    ) -> Result<Message> {
        let message_id = new_message_id()?;
        let own = self.inner.own.clone();
        let now = now_ms();
        self.transact(|_, db| {
            let outgoing = NewOutgoing { own: &own, conversation_id, title, message_id: &message_id, now };
            let mut message = outgoing.insert(db, MessageKind::Text, body)?;
            if let Some(target) = reply_to {
                db.set_reply(message.id, target.sender.as_str(), &target.message_id)?;
                message = db.message(message.id)?.ok_or(StoreError::Missing("reply just stored"))?;
            }
            db.touch_for(&message)?;
            db.enqueue(message_id.as_str(), conversation_id, body, now)?;
            Ok(message)
        })
    }

    /// The local part of a group send, for benchmarks: store the message as queued, encrypt it
    /// with the group's current (already shared) session, and store the request in the outbox,
    /// exactly as a real send does before it posts. Returns the ciphertext.
    #[cfg(feature = "bench")]
    pub fn bench_prepare_group_send(&self, group: &GroupId, body: &str) -> Result<String> {
        check_text(body)?;
        let conversation_id = ConversationId::Group(group.clone());
        let title = self.read(|db| db.group(group))?.map(|g| g.name).unwrap_or_else(|| group.to_string());
        let message = self.store_queued(&conversation_id, &title, body, None)?;
        let message_id =
            MessageId::parse(message.message_id.as_str()).map_err(StoreError::id("messages", "message_id"))?;
        let stored = self
            .encrypt_group_message(
                group,
                None,
                &message_id,
                &GroupContent::Text { body: body.to_owned(), ts: message.ts, reply_to: None, profile_key: None },
                None,
            )?
            .ok_or(CryptoError::NoGroupSession)?;
        match stored {
            StoredRequest::Group { request, .. } => Ok(request.ciphertext),
            StoredRequest::Direct(_) | StoredRequest::Local => Err(CryptoError::NoGroupSession.into()),
        }
    }

    /// The attacker's tests: queue `change` for `group`, encrypted now with this device's
    /// current outbound session, skipping every check of membership a real client makes (as a
    /// modified client of someone removed from the group would); `flush_outbox` posts it. Only
    /// with the `bench` feature.
    #[cfg(feature = "bench")]
    pub fn bench_prepare_group_change(&self, group: &GroupId, change: BenchGroupChange) -> Result<()> {
        use super::receipts::{QueuedProfileKey, QueuedSend, QueuedTimer};
        let conversation_id = ConversationId::Group(group.clone());
        let message_id = new_message_id()?;
        let ts = now_ms();
        let (content, queued) = match change {
            BenchGroupChange::Timer(seconds) => {
                (GroupContent::Timer { seconds, ts }, QueuedSend::Timer { timer: QueuedTimer { seconds } })
            }
            BenchGroupChange::React { target_row, emoji } => {
                let target = super::actions::message_ref(&self.action_target(target_row)?)?;
                let action = Action::React { target, emoji, remove: false };
                (GroupContent::Act { action: action.clone(), ts }, QueuedSend::Act(action))
            }
            BenchGroupChange::ProfileKey { key, version } => {
                (GroupContent::ProfileKey { key, version }, QueuedSend::ProfileKey { profile_key: QueuedProfileKey {} })
            }
        };
        let json = serde_json::to_string(&queued).map_err(Error::encode("a change"))?;
        self.read(|db| db.enqueue_action(message_id.as_str(), &conversation_id, &json, ts))?;
        self.encrypt_group_message(group, None, &message_id, &content, None)?.ok_or(CryptoError::NoGroupSession)?;
        Ok(())
    }

    /// Try every due send now. Stops at the first network failure (the rest would fail too);
    /// what is left stays queued with a backoff.
    pub async fn flush_outbox(&self) {
        let _flushing = self.inner.send_lock.lock().await;
        let due = match self.read(|db| db.due_outbox(now_ms())) {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return;
            }
        };
        let attempted = !due.is_empty();
        for item in due {
            match self.deliver(&item).await {
                Ok(receipt) => self.finish(&item, Ok(receipt)),
                Err(e) if e.is_transient() => {
                    let retry_at = now_ms() + backoff_ms(item.attempts);
                    if let Err(e) = self.read(|db| db.outbox_retry_at(&item.message_id, retry_at)) {
                        tracing::error!(error = %e, "cannot reschedule a queued send");
                    }
                    tracing::info!(error = %e, "send postponed; the server is unreachable");
                    break;
                }
                Err(e) => self.finish(&item, Err(e)),
            }
        }
        drop(_flushing);
        // A group send may have started a new Megolm session.
        if attempted {
            self.back_up_new_keys().await;
        }
    }

    /// Send a failed message again (same message id, so the server never stores it twice).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn retry(&self, message_row: i64) -> Result<Message> {
        let message =
            self.read(|db| db.message(message_row))?.ok_or_else(|| Error::InvalidInput("No such message.".into()))?;
        if !message.outgoing || message.status != MessageStatus::Failed {
            return Err(Error::InvalidInput("Only a failed message of yours can be sent again.".into()));
        }
        let now = now_ms();
        // A file the server does not have yet is uploaded first; the message follows.
        let uploading = message.file.as_ref().is_some_and(|f| f.state == FileState::Uploading);
        self.transact(|_, db| {
            if !uploading {
                db.enqueue(&message.message_id, &message.conversation_id, &message.body, now)?;
            }
            db.set_message_status(message.id, MessageStatus::Queued, None, None)
        })?;
        if uploading {
            if self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
                self.inner.transfers.wake.notify_one();
                return self
                    .read(|db| db.message(message_row))?
                    .ok_or(Error::Store(StoreError::Missing("message just queued")));
            }
            self.upload_waiting().await;
        }
        self.flush_outbox().await;
        self.read(|db| db.message(message_row))?.ok_or(Error::Store(StoreError::Missing("message just sent")))
    }

    fn finish(&self, item: &OutboxItem, outcome: Result<SendReceipt>) {
        let own_user = self.inner.own.user_id.to_string();
        let result = self.transact(|_, db| {
            db.remove_outbox(&item.message_id)?;
            if outcome.is_ok() && item.action.is_none() {
                // A message went: it gave the profile key (see `profiles::to_give`).
                super::profiles::given(db, &self.inner.own.user_id, &item.conversation_id)?;
            }
            if let (Ok(_), Some(action), ConversationId::Direct(_)) = (&outcome, &item.action, &item.conversation_id)
                && resendable(action)
            {
                // Kept a day, for a device of theirs that asks for it again.
                let now = now_ms();
                let keep_after = now - super::resend::RESEND_WINDOW_MS;
                db.record_sent_action(
                    &item.message_id,
                    &item.conversation_id,
                    action,
                    item.created_ts,
                    now,
                    keep_after,
                )?;
            }
            if let (Err(e), Some(action)) = (&outcome, &item.action) {
                // Something done to a message (or a timer) that will not go: say so where it
                // was done, rather than let it look delivered.
                return failed_action_line(db, item, action, &own_user, e);
            }
            let Some(message) = db.find_message(&item.conversation_id, &own_user, &item.message_id)? else {
                return Ok(None);
            };
            match &outcome {
                Ok(receipt) => {
                    db.set_message_status(message.id, MessageStatus::Sent, None, Some(receipt.server_ts as i64))?
                }
                Err(e) => db.set_message_status(message.id, MessageStatus::Failed, Some(e.code().into()), None)?,
            }
            db.message(message.id)
        });
        match result {
            Ok(Some(message)) if item.action.is_some() => self.emit(ClientEvent::MessageReceived { message }),
            Ok(Some(message)) => self.emit(ClientEvent::StatusChanged { message }),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot record a send's outcome"),
        }
        if let Err(e) = outcome {
            tracing::warn!(code = %e.code(), "a message could not be sent");
        }
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<SendReceipt> {
        let message_id = MessageId::parse(item.message_id.as_str()).map_err(StoreError::id("outbox", "message_id"))?;
        let mut request = item.request.clone();
        for _ in 0..DEVICE_CHANGE_RETRIES {
            let stored = match request.take() {
                Some(json) => serde_json::from_str(&json).map_err(StoreError::json("outbox", "request"))?,
                None => self.encrypt_queued(item, &message_id).await?,
            };
            let result = match stored {
                StoredRequest::Direct(request) => self.post(SocketSend::Direct { request }).await,
                StoredRequest::Group { group_id, request } => self.post(SocketSend::Group { group_id, request }).await,
                StoredRequest::Local => {
                    let server_ts = u64::try_from(now_ms()).unwrap_or(0);
                    Ok(SendReceipt { message_id: message_id.clone(), server_ts, duplicate: false })
                }
            };
            match result {
                Err(Error::Server { code: ErrorCode::DevicesChanged, devices, .. }) => {
                    // Someone added or removed a device: refresh and encrypt again.
                    let mut users: Vec<UserId> = vec![self.inner.own.user_id.clone()];
                    if let Some(d) = devices {
                        users.extend(d.missing.into_iter().map(|a| a.user_id));
                        users.extend(d.unknown.into_iter().map(|a| a.user_id));
                    }
                    self.refresh_devices(&users).await?;
                    self.read(|db| db.set_outbox_request(&item.message_id, None))?;
                }
                other => return other,
            }
        }
        Err(Error::KeptChanging("the recipients' devices"))
    }

    /// Posts a send: over the live socket when it is up, else (or when the socket goes away
    /// before the answer) over HTTP.
    async fn post(&self, send: SocketSend) -> Result<SendReceipt> {
        if let Some(answer) = self.send_over_socket(&send).await {
            return answer;
        }
        match send {
            SocketSend::Direct { request } => self.call::<routes::SendDirect>(&(), &request).await,
            SocketSend::Group { group_id, request } => self.call::<routes::SendGroup>(&group_id, &request).await,
        }
    }

    /// Encrypt a queued message for its conversation and store the request.
    async fn encrypt_queued(&self, item: &OutboxItem, message_id: &MessageId) -> Result<StoredRequest> {
        let own_user = self.inner.own.user_id.to_string();
        let content = self.read(|db| {
            if let Some(queued) = &item.action {
                use super::receipts::QueuedSend;
                return Ok(match serde_json::from_str(queued).map_err(StoreError::json("outbox", "action"))? {
                    QueuedSend::Act(action) => Outgoing::Act(action),
                    QueuedSend::Receipt { receipt } => Outgoing::Receipt(receipt),
                    QueuedSend::Timer { timer } => Outgoing::Timer(timer.seconds),
                    QueuedSend::ProfileKey { profile_key: _ } => {
                        // The key held now (a newer one than when this was queued, if it changed).
                        let held = db.profile_key(&own_user)?.ok_or(StoreError::Missing("this user's profile key"))?;
                        Outgoing::ProfileKey { key: held.key.to_string(), version: held.version }
                    }
                });
            }
            // A message gives the profile key to a conversation that has not had it yet.
            let profile_key = super::profiles::to_give(db, &self.inner.own.user_id, &item.conversation_id)?;
            match db.find_message(&item.conversation_id, &own_user, &item.message_id)? {
                Some(message) if message.kind == MessageKind::File => {
                    Ok(Outgoing::File(Box::new(super::files::outgoing_content(db, &message)?), profile_key))
                }
                message => {
                    let reply_to = message.and_then(|m| m.reply_to).and_then(|q| {
                        Some(MessageRef { sender: UserId::parse(&q.sender_user).ok()?, message_id: q.message_id })
                    });
                    Ok(Outgoing::Text { body: item.body.clone(), reply_to, profile_key })
                }
            }
        })?;
        let stored = match &item.conversation_id {
            ConversationId::Direct(to) => self.encrypt_direct(to, message_id, content, item.created_ts).await?,
            ConversationId::Group(group) => self.encrypt_group(group, message_id, content, item.created_ts).await?,
        };
        Ok(stored)
    }

    /// Every device a direct message to `to` must reach: theirs and our own other ones.
    async fn direct_recipients(&self, to: &UserId) -> Result<Vec<DeviceRecord>> {
        let own_user = self.inner.own.user_id.clone();
        if to == &own_user {
            // A note to self: this user's other devices (maybe none).
            let own = std::slice::from_ref(to);
            self.ensure_devices(own, i64::MAX).await?;
            self.recheck_unconfirmed(own).await?;
            let mine = self.read(|db| db.devices_of(to, Devices::Active))?;
            return self.apply_holds(mine);
        }
        let users = [to.clone(), own_user.clone()];
        self.ensure_devices(&users, i64::MAX).await?;
        self.recheck_unconfirmed(&users).await?;
        let (mut theirs, mine) =
            self.read(|db| Ok((db.devices_of(to, Devices::Active)?, db.devices_of(&own_user, Devices::Active)?)))?;
        if self.is_held(to)? {
            return Err(Error::IdentityChangedHeld(to.to_string()));
        }
        if !theirs.iter().any(|d| d.confirmed) {
            // Maybe they signed in (or confirmed a device) since we last looked.
            self.refresh_devices(std::slice::from_ref(to)).await?;
            theirs = self.read(|db| db.devices_of(to, Devices::Active))?;
            if theirs.is_empty() {
                return Err(Error::NoDevices(to.to_string()));
            }
            if !theirs.iter().any(|d| d.confirmed) {
                return Err(Error::NoConfirmedDevice(to.to_string()));
            }
        }
        theirs.extend(mine);
        self.apply_holds(theirs)
    }

    async fn encrypt_direct(
        &self,
        to: &UserId,
        message_id: &MessageId,
        content: Outgoing,
        ts: i64,
    ) -> Result<StoredRequest> {
        let devices = self.direct_recipients(to).await?;
        if devices.is_empty() && to == &self.inner.own.user_id {
            let stored = StoredRequest::Local;
            self.transact(|_, db| store_request(db, message_id, &stored))?;
            return Ok(stored);
        }
        // A direct send must reach every device of the recipient (the server insists), so one
        // unreachable device blocks it, with its name in the error.
        if let Some(d) = self.ensure_olm_sessions(&devices).await?.first() {
            return Err(Error::NoDevices(format!("{} (device {} has no usable keys)", d.user_id, d.device_id)));
        }
        let content = content.olm(to, ts);
        // The ratchets advance and the request that carries them is stored in one transaction.
        self.transact(|m, db| {
            let payloads = encrypt_payloads(m, db, &devices, &content)?;
            let stored = StoredRequest::Direct(SendDirectRequest { message_id: message_id.clone(), payloads });
            store_request(db, message_id, &stored)?;
            Ok(stored)
        })
    }

    pub(super) fn encrypt_for(&self, devices: &[DeviceRecord], content: &OlmContent) -> Result<Vec<DevicePayload>> {
        self.transact(|m, db| encrypt_payloads(m, db, devices, content))
    }

    async fn encrypt_group(
        &self,
        group: &GroupId,
        message_id: &MessageId,
        content: Outgoing,
        ts: i64,
    ) -> Result<StoredRequest> {
        let content = content.group(ts).ok_or_else(|| Error::InvalidInput("A receipt goes to one person.".into()))?;
        // A membership change can land between sharing the key and encrypting (and discard the
        // session): then start over with the new member list.
        for _ in 0..DEVICE_CHANGE_RETRIES {
            let Some(shared) = self.share_group_session(group).await? else { continue };
            let session = Some(shared.session_id.as_str());
            let listed = Some((shared.member_devices, shared.members));
            if let Some(stored) = self.encrypt_group_message(group, session, message_id, &content, listed)? {
                return Ok(stored);
            }
        }
        Err(Error::KeptChanging("the group's members"))
    }

    /// Make sure the group's current outbound session (and its name key) is shared with every
    /// confirmed device of every member, the members as their signed changes make them (never
    /// the server's list). `None` when the session was replaced meanwhile (try again).
    pub(crate) async fn share_group_session(&self, group: &GroupId) -> Result<Option<SharedSession>> {
        let local = self.sync_group_log(group).await?;
        let own = self.inner.own.clone();
        let members: Vec<UserId> = local.member_ids();
        if !local.joined || !members.contains(&own.user_id) {
            return Err(Error::NotMember);
        }
        self.ensure_devices(&members, GROUP_DEVICE_MAX_AGE_MS).await?;
        self.recheck_unconfirmed(&members).await?;
        let member_devices = self.sendable_devices(&members)?;
        // Only devices their users confirmed get the key; the others stay unshared until they are.
        let confirmed: Vec<DeviceRecord> = member_devices.iter().filter(|d| d.confirmed).cloned().collect();
        let (record, needs) = self.transact(|m, db| m.outbound_group(db, group, &confirmed))?;
        if !needs.is_empty() && !self.share_room_key(group, &record.session_id, &needs).await? {
            return Ok(None);
        }
        // The server checks this list against the members' devices at the send: a device we did
        // not know of (and did not give the key) makes it refuse, and the send starts over.
        let member_devices = member_devices
            .iter()
            .filter(|d| !(d.user_id == own.user_id && d.device_id == own.device_id))
            .map(|d| DeviceAddress { user_id: d.user_id.clone(), device_id: d.device_id.clone() })
            .collect();
        Ok(Some(SharedSession { session_id: record.session_id, member_devices, members }))
    }

    /// Encrypt a group message with the group's current outbound session (already shared).
    /// `None` when the session is not `expected_session` any more.
    fn encrypt_group_message(
        &self,
        group: &GroupId,
        expected_session: Option<&str>,
        message_id: &MessageId,
        content: &GroupContent,
        listed: Option<(Vec<DeviceAddress>, Vec<UserId>)>,
    ) -> Result<Option<StoredRequest>> {
        let (member_devices, members) = listed.unzip();
        let mut plaintext = GroupPlaintextOut {
            v: PAYLOAD_VERSION,
            group_id: group.clone(),
            sender: self.inner.own.clone(),
            content,
            state: None,
        };
        // The session advances and the request that carries the message is stored in one
        // transaction.
        self.transact(|m, db| {
            plaintext.state = db.group_head(group)?.map(|(seq, hash)| GroupHead { seq, hash });
            let Some(ciphertext) = m.encrypt_group(db, group, expected_session, &plaintext)? else {
                return Ok(None);
            };
            let stored = StoredRequest::Group {
                group_id: group.clone(),
                request: SendGroupRequest {
                    message_id: message_id.clone(),
                    ciphertext,
                    member_devices: member_devices.clone(),
                    members: members.clone(),
                },
            };
            store_request(db, message_id, &stored)?;
            Ok(Some(stored))
        })
    }

    /// Send the group's session key over Olm to the devices that need it. A direct send must
    /// cover all devices of each user it names (and our other devices), so it goes to every
    /// device of those users; receiving a key twice is harmless.
    /// Returns false when the session was replaced meanwhile (the caller starts over).
    async fn share_room_key(&self, group: &GroupId, session_id: &str, needs: &[DeviceRecord]) -> Result<bool> {
        let own_user = self.inner.own.user_id.clone();
        for _ in 0..DEVICE_CHANGE_RETRIES {
            let mut users: Vec<UserId> = needs.iter().map(|d| d.user_id.clone()).collect();
            users.push(own_user.clone());
            users.sort();
            users.dedup();
            let targets = self.sendable_devices(&users)?;
            if targets.is_empty() {
                return Ok(true);
            }
            // A member whose device cannot be reached (no usable keys) must not block the group:
            // leave that member out this time (their devices stay unshared and are retried on the
            // next send). Our own other devices are required by the server for any direct send.
            let unreachable = self.ensure_olm_sessions(&targets).await?;
            let skipped: BTreeSet<UserId> = unreachable.iter().map(|d| d.user_id.clone()).collect();
            if skipped.contains(&own_user) {
                return Err(Error::NoDevices(format!("{own_user} (one of your own devices has no usable keys)")));
            }
            if !skipped.is_empty() {
                tracing::warn!(users = skipped.len(), "some members cannot receive the group key yet");
            }
            let targets: Vec<DeviceRecord> = targets.into_iter().filter(|d| !skipped.contains(&d.user_id)).collect();
            if targets.is_empty() {
                return Ok(true);
            }
            let content_record = self.transact(|m, db| match db.outbound_group(group)? {
                Some(record) => Ok(Some((m.room_key(db, group, &record)?, record))),
                None => Ok(None),
            })?;
            let Some((content, record)) = content_record else { return Ok(false) };
            if record.session_id != session_id {
                return Ok(false);
            }
            let payloads = self.encrypt_for(&targets, &content)?;
            let req = SendDirectRequest { message_id: new_message_id()?, payloads };
            match self.call::<routes::SendDirect>(&(), &req).await {
                Ok(_) => {
                    // Devices not confirmed got only a notice: they stay unshared until confirmed.
                    let given: Vec<DeviceRecord> = targets.iter().filter(|d| d.confirmed).cloned().collect();
                    self.transact(|m, db| m.mark_shared(db, group, session_id, &given))?;
                    return Ok(true);
                }
                Err(Error::Server { code: ErrorCode::DevicesChanged, .. }) => {
                    self.refresh_devices(&users).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::KeptChanging("the group members' devices"))
    }
}

/// A new message of this device's, as it is first stored (`queued`).
pub(super) struct NewOutgoing<'a> {
    pub own: &'a DeviceAddress,
    pub conversation_id: &'a ConversationId,
    /// The conversation's title, should it be new.
    pub title: &'a str,
    pub message_id: &'a MessageId,
    pub now: i64,
}

impl NewOutgoing<'_> {
    /// Store it (its conversation created if new); the caller adds what else goes with it in
    /// the same transaction (its outbox row, its file).
    pub(super) fn insert(&self, db: &Db<'_>, kind: MessageKind, body: &str) -> Result<Message> {
        db.ensure_conversation(self.conversation_id, self.title)?;
        Ok(db
            .insert_message(&NewMessage {
                conversation_id: self.conversation_id,
                message_id: self.message_id.as_str(),
                sender_user: self.own.user_id.as_str(),
                sender_device: Some(self.own.device_id.as_str()),
                kind,
                body,
                status: MessageStatus::Queued,
                reason: None,
                outgoing: true,
                ts: self.now,
                server_ts: None,
            })?
            .ok_or(StoreError::IdCollision)?)
    }
}

/// One ciphertext per device: `content` for the devices their users confirmed, and for any
/// other only that something was withheld from it (see [`OlmContent::withheld`]).
fn encrypt_payloads(
    machine: &mut Machine,
    db: &Db<'_>,
    devices: &[DeviceRecord],
    content: &OlmContent,
) -> Result<Vec<DevicePayload>> {
    let withheld = content.withheld();
    devices
        .iter()
        .map(|d| {
            let content = match &withheld {
                Some(withheld) if !d.confirmed => withheld,
                _ => content,
            };
            Ok(DevicePayload {
                user_id: d.user_id.clone(),
                device_id: d.device_id.clone(),
                ciphertext: machine.encrypt_olm(db, d, content)?,
            })
        })
        .collect()
}

/// Keep the encrypted request with its outbox row, so a retry posts exactly the same thing.
fn store_request(db: &Db<'_>, message_id: &MessageId, stored: &StoredRequest) -> Result<()> {
    let json = serde_json::to_string(stored)
        .map_err(|source| CryptoError::Encode { what: "a request to keep in the outbox", source })?;
    db.set_outbox_request(message_id.as_str(), Some(&json))
}
