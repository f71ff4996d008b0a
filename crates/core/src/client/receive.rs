//! Receiving: inbox entries are decrypted, stored and indexed in one transaction together with
//! the new inbox position; only then are they acknowledged to the server. A message that cannot
//! be decrypted is stored as `undecryptable` with a typed reason and its ciphertext kept, and is
//! retried when the key it waits for arrives. A duplicate delivery changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use sotto_proto::{
    DeviceAddress, DeviceId, EntryBody, GroupChange, GroupId, InboxEntry, MembershipChange, MembershipEvent, UserId,
};

use super::actions;
use super::disappearing;
use super::files;
use super::group_log;
use super::profiles;
use super::receipts;
use super::resend::{MAX_RESEND_IDS, Repairs};
use super::{Client, META_INBOX_SEQ};
use crate::ConversationId;
use crate::crypto::payload::{FileContent, GroupContent, MessageRef, OlmContent, ReceiptKind};
use crate::crypto::{Machine, Undecryptable};
use crate::events::{ClientEvent, GroupWarning, KeyChange};
use crate::store::{Db, Decrypted, DeviceRecord, Message, MessageKind, MessageReason, MessageStatus, NewMessage};
use crate::{Error, Result};

/// What processing a batch produced.
#[derive(Default)]
pub(crate) struct Processed {
    pub events: Vec<ClientEvent>,
    pub last_seq: u64,
    /// New messages (not duplicates, not system lines).
    pub messages: usize,
    /// Users whose device lists should be refreshed (new group members).
    pub refresh: BTreeSet<UserId>,
    /// Incoming sessions used up one-time keys: top up.
    pub spent_keys: bool,
    /// Group session keys were stored: back them up.
    pub new_sessions: bool,
    /// Messages stored as undecryptable.
    pub undecryptable: usize,
    /// Entries from a group's history (read before, elsewhere): they are not unread.
    history: bool,
    /// Sessions to renew and messages to ask for, or send, again (see [`super::resend`]).
    pub repairs: Repairs,
    /// Another device of this user handed over group keys: read the groups' history.
    pub keys_handed_over: bool,
    /// Groups whose signed changes are to be read from the server (some are missing here).
    pub stale_groups: BTreeSet<GroupId>,
    /// Groups whose senders had later changes than this device: the latest change number seen,
    /// and whose message named it.
    pub expected_heads: BTreeMap<GroupId, (u64, UserId)>,
    /// Groups that messages arrived in: compared with the server's member list now and then.
    pub groups_seen: BTreeSet<GroupId>,
    /// Rows of new file messages (to download when small enough).
    pub files: Vec<i64>,
    /// File ciphertexts in the profile of messages deleted for everyone (removed once the batch
    /// committed).
    pub removed_files: Vec<String>,
    /// Others' new messages, by conversation and sender: delivery receipts to queue.
    delivered: BTreeMap<(ConversationId, UserId), Vec<String>>,
    /// Receipts were queued: wake the outbox.
    pub receipts_queued: bool,
    /// Profile keys newer than those held arrived: read those profiles.
    pub profiles_changed: bool,
    /// Verification messages, from the device that sent each (see [`super::link`]).
    pub verification: Vec<(DeviceRecord, OlmContent)>,
    /// Conversations with new messages: (latest time, latest message, new unread), written once
    /// per batch.
    touched: BTreeMap<ConversationId, (i64, Message, i64)>,
    /// Conversations to announce as updated.
    dirty: BTreeSet<ConversationId>,
    /// Conversations known to exist in this batch.
    ensured: BTreeSet<ConversationId>,
    /// Pinned devices looked up in this batch (the directory does not change during one).
    devices: BTreeMap<(UserId, DeviceId), Option<DeviceRecord>>,
    /// Groups' verified members looked up in this batch (`None`: not signed yet, anyone counts),
    /// dropped when a change to the group is applied.
    members: BTreeMap<GroupId, Option<BTreeSet<UserId>>>,
}

/// Where a batch of entries comes from: it decides whether the inbox position is read and
/// recorded, and whether new messages count as unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// This device's inbox, as sync reads it: entries at or below the recorded inbox position are
    /// skipped and the new position is recorded in the same transaction. `unreadable_up_to` is
    /// the highest sequence number of entries this version could not parse: they are skipped,
    /// but counted as processed so they are acknowledged.
    Inbox { unreadable_up_to: u64 },
    /// A group's history read from the server: stored as read messages; the inbox position is
    /// left alone.
    GroupHistory,
    /// Entries handed to the engine directly (benchmarks, attacker tests, fuzzing): stored as from
    /// the inbox, but the inbox position is left alone.
    #[cfg(any(feature = "bench", feature = "fuzzing"))]
    HandedOver,
}

impl Processed {
    fn device(&mut self, db: &Db<'_>, user: &UserId, device: &DeviceId) -> Result<Option<DeviceRecord>> {
        let key = (user.clone(), device.clone());
        if let Some(found) = self.devices.get(&key) {
            return Ok(found.clone());
        }
        let found = db.device(user, device)?;
        self.devices.insert(key, found.clone());
        Ok(found)
    }

    /// Whether `user` is a member of `group` as its signed changes make it (for a group not
    /// signed yet, anyone is). Looked up once per group and batch: a large group's member list is
    /// not read again for every message.
    fn is_member(&mut self, db: &Db<'_>, group: &GroupId, user: &UserId) -> Result<bool> {
        if !self.members.contains_key(group) {
            let members =
                db.group(group)?.filter(|g| g.signed).map(|g| g.members.into_iter().map(|m| m.user_id).collect());
            self.members.insert(group.clone(), members);
        }
        Ok(self.members.get(group).and_then(Option::as_ref).is_none_or(|members| members.contains(user)))
    }

    /// Take in the line a group change or warning wrote.
    fn lines(&mut self, line: Option<group_log::Line>) {
        if let Some(line) = line {
            self.touch(&line.message);
            self.events.push(ClientEvent::MessageReceived { message: line.message });
            self.events.extend(line.change);
        }
    }

    /// Take in what a later part of the same batch produced (see [`Client::process`]).
    fn merge(&mut self, later: Processed) {
        self.events.extend(later.events);
        self.last_seq = self.last_seq.max(later.last_seq);
        self.messages += later.messages;
        self.refresh.extend(later.refresh);
        self.spent_keys |= later.spent_keys;
        self.new_sessions |= later.new_sessions;
        self.undecryptable += later.undecryptable;
        self.repairs.merge(later.repairs);
        self.keys_handed_over |= later.keys_handed_over;
        self.stale_groups.extend(later.stale_groups);
        for (group, (seq, user)) in later.expected_heads {
            match self.expected_heads.get(&group) {
                Some((known, _)) if *known >= seq => {}
                _ => {
                    self.expected_heads.insert(group, (seq, user));
                }
            }
        }
        self.groups_seen.extend(later.groups_seen);
        self.files.extend(later.files);
        self.removed_files.extend(later.removed_files);
        self.receipts_queued |= later.receipts_queued;
        self.verification.extend(later.verification);
    }

    /// A line written into a conversation (a timer change): shown, and touching it.
    pub(crate) fn touch_line(&mut self, message: Message) {
        self.touch(&message);
        self.events.push(ClientEvent::MessageReceived { message });
    }

    /// A conversation to announce as updated (its preview may have changed).
    pub(crate) fn mark_dirty(&mut self, conversation_id: ConversationId) {
        self.dirty.insert(conversation_id);
    }

    fn touch(&mut self, message: &Message) {
        let unread = i64::from(!self.history && !message.outgoing && message.kind != MessageKind::System);
        let entry = self.touched.entry(message.conversation_id.clone()).or_insert((message.ts, message.clone(), 0));
        entry.0 = entry.0.max(message.ts);
        if (message.order_key(), message.id) >= (entry.1.order_key(), entry.1.id) {
            entry.1 = message.clone();
        }
        entry.2 += unread;
    }
}

impl Client {
    /// The receive path for entries that did not come from this device's inbox (the benchmarks
    /// build histories with it; the end-to-end tests hand a client tampered or replayed
    /// ciphertexts): decrypt, store and index them in one
    /// transaction exactly as sync does, but leave the inbox position alone and acknowledge
    /// nothing. Returns the number of new messages. Only with the `bench` feature.
    #[cfg(feature = "bench")]
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn bench_receive(&self, entries: &[InboxEntry]) -> Result<usize> {
        let processed = self.process(entries, Source::HandedOver).await?;
        let messages = processed.messages;
        self.emit_all(processed.events);
        self.repair(processed.repairs).await;
        Ok(messages)
    }

    /// Decrypt and store a batch of entries in one transaction. Returns the highest sequence
    /// number committed, which the caller then acknowledges.
    /// `unreadable_up_to` is the highest sequence number of entries this version could not parse:
    /// they are skipped, but counted as processed so they are acknowledged.
    pub(crate) async fn process_entries(&self, entries: &[InboxEntry], unreadable_up_to: u64) -> Result<Processed> {
        self.process(entries, Source::Inbox { unreadable_up_to }).await
    }

    /// Decrypt and store entries from a group's history (oldest first) in one transaction, as
    /// read messages; the inbox position is left alone.
    pub(crate) async fn process_history(&self, entries: &[InboxEntry]) -> Result<Processed> {
        self.process(entries, Source::GroupHistory).await
    }

    /// Decrypt and store `entries`. A sender's device whose key changed (a key reset) splits
    /// the batch there: what came before is checked against the keys it was sent with, then
    /// the directory is read again for what follows (each part is its own transaction, in
    /// order; a failure in a later part leaves the earlier ones committed, and their inbox
    /// position with them).
    async fn process(&self, entries: &[InboxEntry], source: Source) -> Result<Processed> {
        let mut merged: Option<Processed> = None;
        let mut start = 0;
        loop {
            let rest = entries.get(start..).unwrap_or_default();
            let end = match self.read(|db| next_key_change(db, rest))? {
                Some(i) => start + i,
                None => entries.len(),
            };
            let part = entries.get(start..end).unwrap_or_default();
            // Only the last part acknowledges the entries this version could not parse.
            let part_source = match source {
                Source::Inbox { .. } if end < entries.len() => Source::Inbox { unreadable_up_to: 0 },
                other => other,
            };
            let processed = self.process_part(part, part_source).await?;
            match &mut merged {
                Some(m) => m.merge(processed),
                None => merged = Some(processed),
            }
            if end >= entries.len() {
                return Ok(merged.unwrap_or_default());
            }
            start = end;
        }
    }

    async fn process_part(&self, entries: &[InboxEntry], source: Source) -> Result<Processed> {
        // Devices we have not pinned yet are looked up first (outside the lock), and so are
        // senders whose Olm message names another identity key than the one pinned: they may have
        // reset their keys. The directory, not the message, says which keys are current.
        let unknown: Vec<UserId> = self.read(|db| {
            let mut unknown = BTreeSet::new();
            for entry in entries {
                if let (EntryBody::Direct { .. } | EntryBody::Group { .. }, Some(device)) =
                    (&entry.body, &entry.sender_device)
                {
                    let pinned = db.device(&entry.sender_user, device)?;
                    let key_changed = match (&entry.body, &pinned) {
                        (EntryBody::Direct { ciphertext }, Some(p)) => {
                            Machine::olm_sender_key(ciphertext).is_some_and(|key| key != p.curve25519)
                        }
                        _ => false,
                    };
                    if key_changed || pinned.is_none_or(|d| !d.active) {
                        unknown.insert(entry.sender_user.clone());
                    }
                }
                // A group change is checked against its author's identity: pin it first.
                if let EntryBody::Membership(event) = &entry.body
                    && let Some(signed) = &event.signed
                    && let Ok(change) = serde_json::from_str::<GroupChange>(&signed.change)
                    && db.pinned_identity(&change.author)?.is_none()
                {
                    unknown.insert(change.author);
                }
            }
            Ok(unknown.into_iter().collect())
        })?;
        if !unknown.is_empty() {
            match self.refresh_devices(&unknown).await {
                Ok(_) => {}
                // Retry the whole batch later rather than store messages as unreadable (and ack
                // them) because the directory could not be reached just now.
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => tracing::warn!(error = %e, "could not look up senders' devices"),
            }
        }
        let own = self.inner.own.clone();
        self.transact(|machine, db| process_batch(machine, db, &own, entries, source))
    }
}

/// Where the next part of a batch starts: the first entry after the first whose one-to-one
/// ciphertext comes from another identity key than its sender's pinned device has (a key
/// reset, or someone posing as it). `None`: all of it is one part.
fn next_key_change(db: &Db<'_>, entries: &[InboxEntry]) -> Result<Option<usize>> {
    for (i, entry) in entries.iter().enumerate().skip(1) {
        if let (EntryBody::Direct { ciphertext }, Some(device)) = (&entry.body, &entry.sender_device)
            && let Some(pinned) = db.device(&entry.sender_user, device)?
            && Machine::olm_sender_key(ciphertext).is_some_and(|key| key != pinned.curve25519)
        {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// One batch of entries, decrypted, stored and indexed in the caller's transaction (the part of
/// the receive path that needs neither the network nor the client's lock).
pub(crate) fn process_batch(
    machine: &mut Machine,
    db: &Db<'_>,
    own: &DeviceAddress,
    entries: &[InboxEntry],
    source: Source,
) -> Result<Processed> {
    let (inbox, unreadable_up_to) = match source {
        Source::Inbox { unreadable_up_to } => (true, unreadable_up_to),
        Source::GroupHistory => (false, 0),
        #[cfg(any(feature = "bench", feature = "fuzzing"))]
        Source::HandedOver => (false, 0),
    };
    let history = source == Source::GroupHistory;
    let mut out = Processed { last_seq: unreadable_up_to, history, ..Processed::default() };
    let committed: u64 = if inbox { db.meta(META_INBOX_SEQ)?.and_then(|s| s.parse().ok()).unwrap_or(0) } else { 0 };
    for entry in entries {
        out.last_seq = out.last_seq.max(entry.seq);
        if entry.seq <= committed {
            continue;
        }
        handle_entry(machine, db, own, entry, &mut out)?;
    }
    for (conversation_id, (ts, latest, unread)) in std::mem::take(&mut out.touched) {
        db.touch_conversation(&conversation_id, ts, &latest, unread)?;
        if history {
            // A group's past, read before elsewhere: not announced as read again.
            db.set_read_mark(&conversation_id, db.newest_row(&conversation_id)?)?;
        }
        out.dirty.insert(conversation_id);
    }
    let now = crate::store::now_ms();
    for ((conversation_id, sender), ids) in std::mem::take(&mut out.delivered) {
        receipts::queue(db, &conversation_id, &sender, ReceiptKind::Delivered, &ids, now)?;
        out.receipts_queued = true;
    }
    db.index_pending()?;
    for conversation_id in std::mem::take(&mut out.dirty) {
        if let Some(conversation) = db.conversation(&conversation_id)? {
            out.events.push(ClientEvent::ConversationUpdated { conversation });
        }
    }
    out.spent_keys = machine.take_spent_keys();
    if inbox && out.last_seq > committed {
        db.set_meta(META_INBOX_SEQ, &out.last_seq.to_string())?;
    }
    Ok(out)
}

fn handle_entry(
    machine: &mut Machine,
    db: &Db<'_>,
    own: &DeviceAddress,
    entry: &InboxEntry,
    out: &mut Processed,
) -> Result<()> {
    match &entry.body {
        EntryBody::Direct { ciphertext } => handle_direct(machine, db, own, entry, ciphertext, out),
        EntryBody::Group { group_id, ciphertext } => {
            let conversation_id = ConversationId::Group(group_id.clone());
            if !out.ensured.contains(&conversation_id) {
                let title = db.group(group_id)?.map(|g| g.name).unwrap_or_else(|| group_id.to_string());
                db.ensure_conversation(&conversation_id, &title)?;
                out.ensured.insert(conversation_id.clone());
            }
            // A redelivered message is caught by the Megolm index check (same message id at the
            // same position: a duplicate) or, if it could not be decrypted, by the unique row.
            let Some(sender_device) = &entry.sender_device else {
                return store_undecryptable(db, &conversation_id, entry, Undecryptable::SenderMismatch, None, out);
            };
            let sender = DeviceAddress { user_id: entry.sender_user.clone(), device_id: sender_device.clone() };
            let device = sender_record(db, out, &sender, ciphertext)?;
            match machine.decrypt_group(
                db,
                group_id,
                &sender,
                device.as_ref(),
                entry.message_id.as_str(),
                ciphertext,
            )? {
                Ok(decrypted) if decrypted.duplicate => Ok(()),
                Ok(decrypted) => {
                    if let GroupContent::Timer { seconds, ts } = &decrypted.plaintext.content {
                        if !out.is_member(db, group_id, &entry.sender_user)? {
                            tracing::warn!(group = %group_id, "a timer change from someone not a member was dropped");
                            return Ok(());
                        }
                        let confirmed = device.as_ref().is_some_and(|d| d.confirmed);
                        let server_ts = i64::try_from(entry.server_ts).ok();
                        return disappearing::receive(
                            db,
                            &conversation_id,
                            &entry.sender_user,
                            &own.user_id,
                            confirmed,
                            entry.message_id.as_str(),
                            *seconds,
                            (*ts, server_ts),
                            out,
                        );
                    }
                    if let GroupContent::ProfileKey { key, version } = &decrypted.plaintext.content {
                        if !out.is_member(db, group_id, &entry.sender_user)? {
                            tracing::warn!(group = %group_id, "a profile key from someone not a member was dropped");
                            return Ok(());
                        }
                        let confirmed = device.as_ref().is_some_and(|d| d.confirmed);
                        return profiles::receive(db, &own.user_id, &entry.sender_user, confirmed, key, *version, out);
                    }
                    if let GroupContent::Act { action, ts } = &decrypted.plaintext.content {
                        // Only a member (as the signed changes have it) acts on the group's messages.
                        if !out.is_member(db, group_id, &entry.sender_user)? {
                            tracing::warn!(group = %group_id, "an action from someone not a member was dropped");
                            out.stale_groups.insert(group_id.clone());
                            return Ok(());
                        }
                        let confirmed = device.as_ref().is_some_and(|d| d.confirmed);
                        return actions::receive(db, &conversation_id, &entry.sender_user, confirmed, action, *ts, out);
                    }
                    let Some((shown, ts)) = Shown::of_group(&decrypted.plaintext.content) else {
                        tracing::info!(group = %group_id, "a group message of a kind this version does not know was skipped");
                        return Ok(());
                    };
                    let from_me = entry.sender_user == own.user_id;
                    let confirmed = device.as_ref().is_some_and(|d| d.confirmed);
                    out.groups_seen.insert(group_id.clone());
                    if let Some(state) = &decrypted.plaintext.state {
                        compare_heads(db, group_id, &entry.sender_user, state, out)?;
                    }
                    // Someone the members' signed changes do not make a member (the server let
                    // them in): shown, marked, and never given a key.
                    let member = out.is_member(db, group_id, &entry.sender_user)?;
                    if let Some(share) = decrypted.plaintext.content.profile_key().filter(|_| member) {
                        profiles::receive(
                            db,
                            &own.user_id,
                            &entry.sender_user,
                            confirmed,
                            &share.key,
                            share.version,
                            out,
                        )?;
                    }
                    store_shown(db, &conversation_id, entry, shown, Sent { from_me, confirmed, member, ts }, out)
                }
                Err(Undecryptable::Replayed) => {
                    tracing::warn!(sender = %entry.sender_user, group = %group_id, "a replayed group ciphertext was dropped");
                    Ok(())
                }
                Err(reason) => {
                    let session = Machine::group_session_id(ciphertext);
                    store_undecryptable(db, &conversation_id, entry, reason, session.as_deref(), out)
                }
            }
        }
        EntryBody::Membership(event) => handle_membership(db, own, entry, event, out),
    }
}

fn handle_direct(
    machine: &mut Machine,
    db: &Db<'_>,
    own: &DeviceAddress,
    entry: &InboxEntry,
    ciphertext: &str,
    out: &mut Processed,
) -> Result<()> {
    // Delivered before (at least once delivery), or replayed: already handled.
    if !db.mark_direct_received(entry.sender_user.as_str(), entry.message_id.as_str())? {
        return Ok(());
    }
    let fallback_conversation = ConversationId::Direct(entry.sender_user.clone());
    let sender: Option<DeviceRecord> = match &entry.sender_device {
        Some(device) => db.device(&entry.sender_user, device)?,
        None => None,
    };
    let Some(sender) = sender else {
        return undecryptable_direct(db, &fallback_conversation, entry, Undecryptable::UnknownDevice, out);
    };
    let plaintext = match machine.decrypt_olm(db, &sender, ciphertext)? {
        Ok(p) => p,
        // A replay shows nothing: the message it copies was shown once already.
        Err(Undecryptable::Replayed) => {
            tracing::warn!(sender = %entry.sender_user, "a replayed one-to-one ciphertext was dropped");
            return Ok(());
        }
        Err(reason) => {
            if reason == Undecryptable::OlmSession {
                out.repairs.undecryptable(&sender, entry.message_id.as_str());
            }
            return undecryptable_direct(db, &fallback_conversation, entry, reason, out);
        }
    };
    match plaintext.content {
        OlmContent::Text { to, body, ts, reply_to, profile_key } => {
            profiles::receive_with(db, &own.user_id, &entry.sender_user, sender.confirmed, profile_key.as_ref(), out)?;
            let shown = match &reply_to {
                Some(target) => Shown::Reply(&body, target),
                None => Shown::Text(&body),
            };
            store_direct(db, own, entry, &fallback_conversation, &sender, to, shown, ts, out)
        }
        OlmContent::Receipt { to, group_id, kind, message_ids, ts } => {
            receipts::receive(db, own, entry, sender.confirmed, &to, group_id.as_ref(), kind, &message_ids, ts, out)
        }
        OlmContent::Timer { to, seconds, ts } => {
            let Some(peer) = peer_of(own, entry, to) else { return Ok(()) };
            let server_ts = i64::try_from(entry.server_ts).ok();
            disappearing::receive(
                db,
                &ConversationId::Direct(peer),
                &entry.sender_user,
                &own.user_id,
                sender.confirmed,
                entry.message_id.as_str(),
                seconds,
                (ts, server_ts),
                out,
            )
        }
        OlmContent::Act { to, action, ts } => {
            let Some(peer) = peer_of(own, entry, to) else {
                tracing::warn!(sender = %entry.sender_user, "an action addressed to someone else was dropped");
                return Ok(());
            };
            let conversation_id = ConversationId::Direct(peer);
            actions::receive(db, &conversation_id, &entry.sender_user, sender.confirmed, &action, ts, out)
        }
        OlmContent::File { to, file, ts, profile_key } => {
            profiles::receive_with(db, &own.user_id, &entry.sender_user, sender.confirmed, profile_key.as_ref(), out)?;
            store_direct(db, own, entry, &fallback_conversation, &sender, to, Shown::File(&file), ts, out)
        }
        OlmContent::ProfileKey { key, version } => {
            profiles::receive(db, &own.user_id, &entry.sender_user, sender.confirmed, &key, version, out)
        }
        OlmContent::Unknown => {
            tracing::info!(sender = %entry.sender_user, "a message of a kind this version does not know was skipped");
            Ok(())
        }
        OlmContent::RoomKey { group_id, session_id, session_key, name_key } => {
            if let Some(session_id) = machine.receive_room_key(db, &sender, &group_id, &session_id, &session_key)? {
                out.new_sessions = true;
                retry_pending(machine, db, &session_id, out)?;
            }
            // Taken only if it opens the group's sealed name.
            if let Some(key) = name_key
                && group_log::learn_name_key(db, &group_id, &key)?.is_some()
            {
                out.dirty.insert(ConversationId::Group(group_id));
            }
            Ok(())
        }
        // An invitation's name: harmless from anyone, as only the key that opens the name the
        // group's signed log carries is taken.
        OlmContent::GroupNameKey { group_id, name_key } => {
            if group_log::learn_name_key(db, &group_id, &name_key)?.is_some() {
                out.dirty.insert(ConversationId::Group(group_id));
            }
            Ok(())
        }
        // Decrypting it was the point: the session it started is now the newest with the sender.
        OlmContent::SessionRenewed => Ok(()),
        OlmContent::NotAMessage { message_ids } => {
            // Only placeholders of this very device's ids go (in the conversation they wait in).
            let waiting = ConversationId::Direct(entry.sender_user.clone());
            for id in message_ids.iter().take(MAX_RESEND_IDS) {
                let Some(message) = db.find_message(&waiting, entry.sender_user.as_str(), id)? else { continue };
                let same_device = message.sender_device.as_deref() == entry.sender_device.as_ref().map(|d| d.as_str());
                if message.kind == MessageKind::Undecryptable && same_device {
                    db.delete_undecryptable(message.id)?;
                    db.forget_unread_message(&waiting)?;
                    out.events.push(ClientEvent::MessageRemoved {
                        conversation_id: waiting.clone(),
                        message_row: message.id,
                    });
                    out.dirty.insert(waiting.clone());
                }
            }
            Ok(())
        }
        OlmContent::ResendRequest { mut message_ids } => {
            message_ids.truncate(MAX_RESEND_IDS);
            out.repairs.answer.push((sender, message_ids));
            Ok(())
        }
        OlmContent::Withheld { to } => {
            let Some(peer) = peer_of(own, entry, to) else {
                return undecryptable_direct(db, &fallback_conversation, entry, Undecryptable::SenderMismatch, out);
            };
            let conversation_id = ConversationId::Direct(peer.clone());
            db.ensure_conversation(&conversation_id, peer.as_str())?;
            undecryptable_direct(db, &conversation_id, entry, Undecryptable::Withheld, out)
        }
        // The group's messages in this session stay unreadable here; they say why once this
        // device is confirmed and asks again (or not at all): nothing to store now.
        OlmContent::RoomKeyWithheld { group_id, session_id } => {
            tracing::info!(group = %group_id, session = %session_id, "a group key was withheld from this unconfirmed device");
            Ok(())
        }
        // Only another device of this user that it confirmed hands over group keys.
        OlmContent::GroupKeys { sessions } => {
            if sender.user_id != own.user_id || !sender.confirmed {
                tracing::warn!(sender = %entry.sender_user, "group keys from a device that may not hand them over; ignored");
                return Ok(());
            }
            let mut imported = Vec::new();
            for record in sessions.iter().take(MAX_HANDED_OVER_SESSIONS) {
                if let crate::backup::Record::GroupNameKey { group_id, key } = record {
                    if let Ok(group) = GroupId::parse(group_id.as_str())
                        && group_log::learn_name_key(db, &group, key)?.is_some()
                    {
                        out.dirty.insert(ConversationId::Group(group));
                    }
                } else if let crate::backup::Record::Profile { user_id, key, key_version, .. } = record {
                    // Someone's profile key, as this user's other device holds it (confirmed).
                    if let (Ok(user), Ok(version)) = (UserId::parse(user_id.as_str()), u64::try_from(*key_version)) {
                        profiles::receive(db, &own.user_id, &user, true, key, version, out)?;
                    }
                } else if let Some(session_id) = machine.import_group_session(db, record)? {
                    imported.push(session_id);
                }
            }
            tracing::info!(sessions = imported.len(), "group keys handed over by another device of this user");
            for session_id in &imported {
                retry_pending(machine, db, session_id, out)?;
            }
            out.new_sessions |= !imported.is_empty();
            out.keys_handed_over = true;
            Ok(())
        }
        OlmContent::History { messages } => {
            if sender.user_id != own.user_id || !sender.confirmed {
                tracing::warn!(sender = %entry.sender_user, "history from a device that may not hand it over; ignored");
                return Ok(());
            }
            let mut stored = 0;
            for m in messages.iter().take(MAX_HANDED_OVER_MESSAGES) {
                let conversation_id = ConversationId::Direct(m.peer.clone());
                db.ensure_conversation(&conversation_id, m.peer.as_str())?;
                if m.file.as_ref().is_some_and(|f| f.caption != m.body) || (m.deleted_ts.is_some() && m.file.is_some())
                {
                    continue;
                }
                let inserted = db.insert_message(&NewMessage {
                    conversation_id: &conversation_id,
                    message_id: &m.message_id,
                    sender_user: m.sender_user.as_str(),
                    sender_device: m.sender_device.as_deref(),
                    kind: if m.file.is_some() { MessageKind::File } else { MessageKind::Text },
                    body: &m.body,
                    status: if m.outgoing { MessageStatus::Sent } else { MessageStatus::Received },
                    reason: None,
                    outgoing: m.outgoing,
                    ts: m.ts,
                    server_ts: m.server_ts,
                })?;
                if let Some(mut message) = inserted {
                    if let Some(file) = &m.file {
                        // Fetched on demand: old files are not downloaded all at once.
                        message.file = Some(files::store_received(db, message.id, file)?);
                    }
                    if let Some(target) = &m.reply_to {
                        db.set_reply(message.id, target.sender.as_str(), &target.message_id)?;
                    }
                    db.set_action_times(message.id, m.edited_ts, m.deleted_ts)?;
                    for r in m.reactions.iter().filter(|r| actions::valid_emoji(&r.emoji) && m.deleted_ts.is_none()) {
                        for user in &r.users {
                            db.set_reaction(
                                &conversation_id,
                                m.sender_user.as_str(),
                                &m.message_id,
                                user.as_str(),
                                &r.emoji,
                                true,
                                m.ts,
                            )?;
                        }
                    }
                    // History is not news: it takes its place, unread counts stay.
                    db.touch_conversation(&conversation_id, message.ts, &message, 0)?;
                    out.dirty.insert(conversation_id);
                    stored += 1;
                }
            }
            // History is not news: nothing of it is announced as read.
            let handed: BTreeSet<UserId> = messages.iter().map(|m| m.peer.clone()).collect();
            for peer in handed {
                let conversation_id = ConversationId::Direct(peer);
                db.set_read_mark(&conversation_id, db.newest_row(&conversation_id)?)?;
            }
            tracing::info!(stored, "one-to-one history handed over by another device of this user");
            Ok(())
        }
        // Verification steps need the network: handled after the batch is committed.
        content @ (OlmContent::SasStart { .. }
        | OlmContent::SasAccept { .. }
        | OlmContent::SasKey { .. }
        | OlmContent::SasMac { .. }
        | OlmContent::SasCancel { .. }
        | OlmContent::IdentityKeys { .. }) => {
            out.verification.push((sender, content));
            Ok(())
        }
        OlmContent::Resent { to, body, ts, original, file, profile_key } => {
            profiles::receive_with(db, &own.user_id, &entry.sender_user, sender.confirmed, profile_key.as_ref(), out)?;
            let from_me = entry.sender_user == own.user_id;
            let Some(peer) = peer_of(own, entry, to) else { return Ok(()) };
            let sent = Sent { from_me, confirmed: sender.confirmed, member: true, ts };
            let shown = match &file {
                Some(file) if file.caption == body => Shown::File(file),
                Some(_) => return Ok(()),
                None => Shown::Text(&body),
            };
            replace_undecryptable(db, entry, &peer, &original, shown, sent, out)
        }
    }
}

/// The most group keys one hand-over message may carry (the sender sends them in chunks).
pub(crate) const MAX_HANDED_OVER_SESSIONS: usize = 200;
/// The most messages one history hand-over message may carry.
pub(crate) const MAX_HANDED_OVER_MESSAGES: usize = 500;
/// The bodies one history hand-over message carries at most (bytes, well under a ciphertext's
/// limit once encrypted and encoded).
pub(crate) const HANDED_OVER_HISTORY_BYTES: usize = 96 * 1024;

/// Whose one-to-one conversation a message addressed to `to` belongs in: a contact's must be
/// addressed to us (then it is theirs); our other device's names its peer. `None`: addressed to
/// someone else (re-addressed by someone).
fn peer_of(own: &DeviceAddress, entry: &InboxEntry, to: UserId) -> Option<UserId> {
    if entry.sender_user == own.user_id {
        Some(to)
    } else if to == own.user_id {
        Some(entry.sender_user.clone())
    } else {
        None
    }
}

/// A message sent again on request: it replaces the undecryptable original from the same device
/// (which waits in the sender's one-to-one conversation), in place. Without such an original
/// (read fine here, or never received) it is dropped.
fn replace_undecryptable(
    db: &Db<'_>,
    entry: &InboxEntry,
    peer: &UserId,
    original: &str,
    shown: Shown<'_>,
    Sent { from_me, confirmed, ts, .. }: Sent,
    out: &mut Processed,
) -> Result<()> {
    let waiting = ConversationId::Direct(entry.sender_user.clone());
    let Some(message) = db.find_message(&waiting, entry.sender_user.as_str(), original)? else { return Ok(()) };
    let same_device = message.sender_device.as_deref() == entry.sender_device.as_ref().map(|d| d.as_str());
    if message.kind != MessageKind::Undecryptable || !same_device {
        return Ok(());
    }
    let conversation_id = ConversationId::Direct(peer.clone());
    if conversation_id != waiting {
        db.ensure_conversation(&conversation_id, peer.as_str())?;
        db.move_message(message.id, &conversation_id)?;
    }
    let file = match shown {
        Shown::File(file) => {
            out.files.push(message.id);
            Some(files::store_received(db, message.id, file)?)
        }
        Shown::Text(_) | Shown::Reply(..) => None,
    };
    db.set_decrypted_as(message.id, &Decrypted { body: shown.body(), from_me, ts, confirmed, file: file.as_ref() })?;
    db.remove_pending(message.id)?;
    if let Some(message) = db.message(message.id)? {
        let message = finish_stored(db, message, shown, out)?;
        out.events.push(ClientEvent::StatusChanged { message });
    }
    out.dirty.insert(conversation_id);
    Ok(())
}

fn undecryptable_direct(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    entry: &InboxEntry,
    reason: Undecryptable,
    out: &mut Processed,
) -> Result<()> {
    db.ensure_conversation(conversation_id, entry.sender_user.as_str())?;
    store_undecryptable(db, conversation_id, entry, reason, None, out)
}

/// Who sent a text, as far as trust goes.
#[derive(Clone, Copy)]
struct Sent {
    /// From this user (another of their devices).
    from_me: bool,
    /// From a device its user confirmed. A message from any other device is kept, marked: it may
    /// not be theirs (the server could have added the device), until they confirm it.
    confirmed: bool,
    /// From a member of the group as its signed changes have it (always, one to one).
    member: bool,
    /// When the sender wrote it, by the sender's clock (inside the ciphertext: the server cannot
    /// change it). The shown time; the server's time only orders the conversation.
    ts: i64,
}

/// What a decrypted message shows: a text (perhaps a reply), or a file with its caption.
#[derive(Clone, Copy)]
pub(crate) enum Shown<'a> {
    Text(&'a str),
    Reply(&'a str, &'a MessageRef),
    File(&'a FileContent),
}

impl<'a> Shown<'a> {
    /// What a group message shows, and when its sender wrote it; `None` for a kind this version
    /// does not know.
    pub(crate) fn of_group(content: &'a GroupContent) -> Option<(Shown<'a>, i64)> {
        match content {
            GroupContent::Text { body, ts, reply_to: None, .. } => Some((Shown::Text(body), *ts)),
            GroupContent::Text { body, ts, reply_to: Some(target), .. } => Some((Shown::Reply(body, target), *ts)),
            GroupContent::File { file, ts, .. } => Some((Shown::File(file), *ts)),
            GroupContent::Act { .. }
            | GroupContent::Timer { .. }
            | GroupContent::ProfileKey { .. }
            | GroupContent::Unknown => None,
        }
    }

    fn kind(self) -> MessageKind {
        match self {
            Shown::Text(_) | Shown::Reply(..) => MessageKind::Text,
            Shown::File(_) => MessageKind::File,
        }
    }

    /// The message it answers, for a reply.
    pub(crate) fn reply_to(self) -> Option<&'a MessageRef> {
        match self {
            Shown::Reply(_, target) => Some(target),
            Shown::Text(_) | Shown::File(_) => None,
        }
    }

    /// The message's body: the text, or the file's caption.
    pub(crate) fn body(self) -> &'a str {
        match self {
            Shown::Text(body) | Shown::Reply(body, _) => body,
            Shown::File(file) => &file.caption,
        }
    }
}

/// A one-to-one text or file, in the conversation it belongs to.
#[allow(clippy::too_many_arguments)]
fn store_direct(
    db: &Db<'_>,
    own: &DeviceAddress,
    entry: &InboxEntry,
    fallback_conversation: &ConversationId,
    sender: &DeviceRecord,
    to: UserId,
    shown: Shown<'_>,
    ts: i64,
    out: &mut Processed,
) -> Result<()> {
    let from_me = entry.sender_user == own.user_id;
    let Some(peer) = peer_of(own, entry, to) else {
        return undecryptable_direct(db, fallback_conversation, entry, Undecryptable::SenderMismatch, out);
    };
    let conversation_id = ConversationId::Direct(peer.clone());
    db.ensure_conversation(&conversation_id, peer.as_str())?;
    store_shown(
        db,
        &conversation_id,
        entry,
        shown,
        Sent { from_me, confirmed: sender.confirmed, member: true, ts },
        out,
    )
}

fn store_shown(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    entry: &InboxEntry,
    shown: Shown<'_>,
    Sent { from_me, confirmed, member, ts }: Sent,
    out: &mut Processed,
) -> Result<()> {
    if !member {
        // The group's changes may be behind: read them, then look again.
        if let ConversationId::Group(group) = conversation_id {
            out.stale_groups.insert(group.clone());
        }
    }
    if !confirmed {
        // Its user may have confirmed it since we last looked: look again soon.
        out.refresh.insert(entry.sender_user.clone());
    }
    let server_ts = i64::try_from(entry.server_ts).unwrap_or(i64::MAX);
    if let Some(mut message) = db.insert_message(&NewMessage {
        conversation_id,
        message_id: entry.message_id.as_str(),
        sender_user: entry.sender_user.as_str(),
        sender_device: entry.sender_device.as_ref().map(|d| d.as_str()),
        kind: shown.kind(),
        body: shown.body(),
        status: if from_me { MessageStatus::Sent } else { MessageStatus::Received },
        reason: match (member, confirmed) {
            (false, _) => Some(MessageReason::GroupWarning(GroupWarning::NotAMember)),
            (true, false) => Some(MessageReason::KeyChange(KeyChange::UnconfirmedDevice)),
            (true, true) => None,
        },
        outgoing: from_me,
        // A sender that wrote no time (or nonsense) shows the server's.
        ts: if ts > 0 { ts } else { server_ts },
        server_ts: Some(server_ts),
    })? {
        if let Shown::File(file) = shown {
            message.file = Some(files::store_received(db, message.id, file)?);
            out.files.push(message.id);
        }
        let message = finish_stored(db, message, shown, out)?;
        if !from_me && !out.history {
            out.delivered
                .entry((conversation_id.clone(), entry.sender_user.clone()))
                .or_default()
                .push(entry.message_id.to_string());
        }
        out.messages += 1;
        out.touch(&message);
        out.events.push(ClientEvent::MessageReceived { message });
    }
    Ok(())
}

/// A message just stored or decrypted: the message it answers, and the edits and deletions
/// that waited for it. Returns it as it now is.
fn finish_stored(db: &Db<'_>, mut message: Message, shown: Shown<'_>, out: &mut Processed) -> Result<Message> {
    if let Some(target) = shown.reply_to() {
        db.set_reply(message.id, target.sender.as_str(), &target.message_id)?;
    }
    let changed = actions::apply_waiting(db, &message, out)?;
    if changed || shown.reply_to().is_some() {
        message = db.message(message.id)?.unwrap_or(message);
    }
    db.add_details(&mut message)?;
    Ok(message)
}

fn store_undecryptable(
    db: &Db<'_>,
    conversation_id: &ConversationId,
    entry: &InboxEntry,
    reason: Undecryptable,
    session_id: Option<&str>,
    out: &mut Processed,
) -> Result<()> {
    tracing::warn!(reason = reason.code(), sender = %entry.sender_user, "a message could not be decrypted");
    let server_ts = i64::try_from(entry.server_ts).unwrap_or(i64::MAX);
    let inserted = db.insert_message(&NewMessage {
        conversation_id,
        message_id: entry.message_id.as_str(),
        sender_user: entry.sender_user.as_str(),
        sender_device: entry.sender_device.as_ref().map(|d| d.as_str()),
        kind: MessageKind::Undecryptable,
        body: "",
        status: MessageStatus::Undecryptable,
        reason: Some(reason.into()),
        outgoing: false,
        ts: server_ts,
        server_ts: Some(server_ts),
    })?;
    if let Some(message) = inserted {
        let json = serde_json::to_string(entry).map_err(Error::encode("an undecryptable message"))?;
        db.add_pending(message.id, session_id, &json)?;
        out.messages += 1;
        out.undecryptable += 1;
        out.touch(&message);
        out.events.push(ClientEvent::MessageReceived { message });
    }
    Ok(())
}

/// The sending device of a group message: its pinned record, or, for a device the directory no
/// longer lists (a user's old device, gone since), the identity key recorded with the session the
/// message names (it came over Olm from that very device, or from this user's own key backup).
fn sender_record(
    db: &Db<'_>,
    out: &mut Processed,
    sender: &DeviceAddress,
    ciphertext: &str,
) -> Result<Option<DeviceRecord>> {
    if let Some(pinned) = out.device(db, &sender.user_id, &sender.device_id)? {
        return Ok(Some(pinned));
    }
    let Some(session_id) = Machine::group_session_id(ciphertext) else { return Ok(None) };
    Ok(db.group_session_sender_curve(&session_id, &sender.user_id, &sender.device_id)?.map(|curve25519| DeviceRecord {
        user_id: sender.user_id.clone(),
        device_id: sender.device_id.clone(),
        curve25519,
        ed25519: String::new(),
        first_seen: 0,
        active: false,
        confirmed: false,
    }))
}

/// Group keys arrived from the key backup: decrypt the messages that waited for them.
pub(crate) fn retry_sessions(machine: &mut Machine, db: &Db<'_>, session_ids: &[String]) -> Result<Processed> {
    let mut out = Processed::default();
    for session_id in session_ids {
        retry_pending(machine, db, session_id, &mut out)?;
    }
    for conversation_id in std::mem::take(&mut out.dirty) {
        if let Some(conversation) = db.conversation(&conversation_id)? {
            out.events.push(ClientEvent::ConversationUpdated { conversation });
        }
    }
    db.index_pending()?;
    Ok(out)
}

/// A group key arrived: decrypt the messages that waited for it.
fn retry_pending(machine: &mut Machine, db: &Db<'_>, session_id: &str, out: &mut Processed) -> Result<()> {
    for (row, json) in db.pending(Some(session_id))? {
        let Ok(entry) = serde_json::from_str::<InboxEntry>(&json) else { continue };
        let (EntryBody::Group { group_id, ciphertext }, Some(device)) = (&entry.body, &entry.sender_device) else {
            continue;
        };
        let sender = DeviceAddress { user_id: entry.sender_user.clone(), device_id: device.clone() };
        let record = sender_record(db, out, &sender, ciphertext)?;
        match machine.decrypt_group(db, group_id, &sender, record.as_ref(), entry.message_id.as_str(), ciphertext)? {
            Ok(decrypted) => {
                if let GroupContent::Timer { seconds, ts } = &decrypted.plaintext.content {
                    // A timer change, not a message: its row goes, and it is applied.
                    db.delete_undecryptable(row)?;
                    if out.is_member(db, group_id, &entry.sender_user)? {
                        let conversation_id = ConversationId::Group(group_id.clone());
                        let confirmed = record.as_ref().is_some_and(|d| d.confirmed);
                        let server_ts = i64::try_from(entry.server_ts).ok();
                        let own = machine.own().user_id.clone();
                        disappearing::receive(
                            db,
                            &conversation_id,
                            &entry.sender_user,
                            &own,
                            confirmed,
                            entry.message_id.as_str(),
                            *seconds,
                            (*ts, server_ts),
                            out,
                        )?;
                    }
                    continue;
                }
                if let GroupContent::ProfileKey { key, version } = &decrypted.plaintext.content {
                    // A key, not a message: its row goes, and it is taken.
                    db.delete_undecryptable(row)?;
                    if out.is_member(db, group_id, &entry.sender_user)? {
                        let confirmed = record.as_ref().is_some_and(|d| d.confirmed);
                        let own = machine.own().user_id.clone();
                        profiles::receive(db, &own, &entry.sender_user, confirmed, key, *version, out)?;
                    }
                    continue;
                }
                if let GroupContent::Act { action, ts } = &decrypted.plaintext.content {
                    // An action, not a message: its row goes, and it is applied (or waits).
                    db.delete_undecryptable(row)?;
                    if out.is_member(db, group_id, &entry.sender_user)? {
                        let conversation_id = ConversationId::Group(group_id.clone());
                        let confirmed = record.as_ref().is_some_and(|d| d.confirmed);
                        actions::receive(db, &conversation_id, &entry.sender_user, confirmed, action, *ts, out)?;
                    }
                    continue;
                }
                let Some((shown, ts)) = Shown::of_group(&decrypted.plaintext.content) else {
                    // A kind this version does not know: nothing to show, nothing to wait for.
                    db.delete_undecryptable(row)?;
                    continue;
                };
                let from_me = entry.sender_user == machine.own().user_id;
                let confirmed = record.as_ref().is_some_and(|d| d.confirmed);
                if let Some(share) = decrypted.plaintext.content.profile_key()
                    && out.is_member(db, group_id, &entry.sender_user)?
                {
                    let own = machine.own().user_id.clone();
                    profiles::receive(db, &own, &entry.sender_user, confirmed, &share.key, share.version, out)?;
                }
                let file = match shown {
                    Shown::File(file) => {
                        out.files.push(row);
                        Some(files::store_received(db, row, file)?)
                    }
                    Shown::Text(_) | Shown::Reply(..) => None,
                };
                let decrypted = Decrypted { body: shown.body(), from_me, ts, confirmed, file: file.as_ref() };
                db.set_decrypted_as(row, &decrypted)?;
                db.remove_pending(row)?;
                if let Some(message) = db.message(row)? {
                    let message = finish_stored(db, message, shown, out)?;
                    out.events.push(ClientEvent::StatusChanged { message });
                }
                out.dirty.insert(ConversationId::Group(group_id.clone()));
            }
            Err(reason) => db.set_message_status(row, MessageStatus::Undecryptable, Some(reason.into()), None)?,
        }
    }
    Ok(())
}

fn handle_membership(
    db: &Db<'_>,
    own: &DeviceAddress,
    entry: &InboxEntry,
    event: &MembershipEvent,
    out: &mut Processed,
) -> Result<()> {
    let group_id = &event.group_id;
    let server_ts = i64::try_from(entry.server_ts).unwrap_or(i64::MAX);
    let Some(signed) = &event.signed else {
        // Only the server's word: shown as what it is, applied never.
        if db.group(group_id)?.is_some() {
            let body = format!(
                "The server reported a change to this group that no member signed ({}); it was ignored.",
                unsigned_summary(event)
            );
            let line = group_log::warn(db, group_id, GroupWarning::UnsignedChange, &body, server_ts)?;
            out.lines(line);
        } else {
            tracing::warn!(group = %group_id, "an unsigned membership event for an unknown group was ignored");
        }
        return Ok(());
    };
    let verdict = group_log::apply_signed(db, &own.user_id, group_id, signed)?;
    out.members.remove(group_id);
    match &verdict {
        group_log::Verdict::Applied { applied, .. } => {
            match applied.change {
                // Whoever is gone must not read what we send next: start a new session.
                MembershipChange::Removed | MembershipChange::Left | MembershipChange::Dismissed => {
                    db.discard_outbound_group(group_id)?;
                }
                MembershipChange::Created | MembershipChange::Added | MembershipChange::Joined => {
                    out.refresh.extend(applied.users.iter().cloned());
                    out.refresh.extend(applied.members.iter().map(|m| m.user_id.clone()));
                }
                // The invited get no keys until they join.
                MembershipChange::RoleChanged
                | MembershipChange::Renamed
                | MembershipChange::Invited
                | MembershipChange::Declined
                | MembershipChange::InvitationWithdrawn => {}
            }
        }
        // Read the log: it has what is missing (or says the server holds it back).
        group_log::Verdict::Gap => {
            out.stale_groups.insert(group_id.clone());
        }
        group_log::Verdict::Known | group_log::Verdict::Refused(_) => {}
    }
    let line = group_log::record(db, &own.user_id, group_id, &verdict, Some(server_ts), server_ts)?;
    out.lines(line);
    Ok(())
}

/// Compare the sender's last change of the group with ours: a different change at the same
/// number means the server shows members different versions of the group (a fork); a later one
/// means we are behind (read the log, and warn if the server does not have it).
fn compare_heads(
    db: &Db<'_>,
    group_id: &GroupId,
    sender: &UserId,
    state: &crate::crypto::payload::GroupHead,
    out: &mut Processed,
) -> Result<()> {
    let Some((seq, _)) = db.group_head(group_id)? else { return Ok(()) };
    if state.seq > seq {
        let expected = out.expected_heads.entry(group_id.clone()).or_insert((state.seq, sender.clone()));
        if state.seq > expected.0 {
            *expected = (state.seq, sender.clone());
        }
        return Ok(());
    }
    match db.group_change_hash(group_id, state.seq)? {
        Some(ours) if ours != state.hash => {
            let body = format!(
                "{sender}'s copy of this group's changes differs from yours at change {}: the server may be showing members different versions of the group. Compare the member lists with {sender}.",
                state.seq
            );
            let now = crate::store::now_ms();
            let line = group_log::warn(db, group_id, GroupWarning::Forked, &body, now)?;
            out.lines(line);
        }
        _ => {}
    }
    Ok(())
}

/// What an unsigned event claimed, in words.
fn unsigned_summary(event: &MembershipEvent) -> String {
    let users: Vec<String> = event.users.iter().map(ToString::to_string).collect();
    let users = users.join(", ");
    let actor = &event.actor;
    match event.change {
        MembershipChange::Created => format!("that {actor} created it"),
        MembershipChange::Added => format!("that {actor} added {users}"),
        MembershipChange::Removed => format!("that {actor} removed {users}"),
        MembershipChange::Left => format!("that {actor} left"),
        MembershipChange::Dismissed => format!("that {actor} dismissed it"),
        MembershipChange::RoleChanged => format!("that {actor} changed the role of {users}"),
        MembershipChange::Invited => format!("that {actor} invited {users}"),
        MembershipChange::Joined => format!("that {actor} joined"),
        MembershipChange::Declined => format!("that {actor} declined the invitation"),
        MembershipChange::InvitationWithdrawn => format!("that {actor} withdrew the invitation of {users}"),
        MembershipChange::Renamed => format!("that {actor} renamed it"),
    }
}
