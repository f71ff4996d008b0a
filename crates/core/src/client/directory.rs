//! The key directory from the client's side: fetching device lists (batched, cached), pinning
//! devices on first use and reporting changes, claiming one-time keys to open Olm sessions, and
//! safety numbers.
//!
//! Trust goes through each user's identity (cross-signing, [`crate::crypto::cross_signing`]):
//! the first master key seen for a user is pinned, and a device counts as theirs (is
//! `confirmed`) only while their self-signing key, signed by that master key, signed the
//! device's keys. Only confirmed devices are given keys. A changed master key, a new device
//! (confirmed or not) and changed device keys are stored and shown as a system line in the
//! conversation (and a [`ClientEvent::ContactKeyChanged`]), never silently.

use std::collections::BTreeSet;

use serde::Serialize;
use sotto_proto::limits::{MAX_CLAIM_DEVICES, MAX_QUERY_USERS};
use sotto_proto::routes;
use sotto_proto::{
    ClaimKeysRequest, DeviceAddress, DeviceKeys, ErrorCode, QueryKeysRequest, UserDevices, UserId, UserIdentity,
};

use super::Client;
use crate::ConversationId;
use crate::crypto::cross_signing::{CrossSigningSecrets, verify_confirmation, verify_identity, verify_user_signature};
use crate::crypto::{safety, verify_device_keys};
use crate::events::{ClientEvent, KeyChange};
use crate::store::{Db, DeviceRecord, Devices, MessageKind, MessageStatus, NewMessage, now_ms};
use crate::{Error, Result};

/// The master key of another identity the directory listed for this user (shown once).
const META_IDENTITY_CONFLICT: &str = "identity_conflict";

/// A device of a user as the app shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceSummary {
    pub user_id: String,
    pub device_id: String,
    pub ed25519: String,
    pub curve25519: String,
    /// When this device first saw these keys (ms).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub first_seen: i64,
    pub active: bool,
    /// The user confirmed this device (its keys lead to their pinned identity). An unconfirmed
    /// device is given no keys: it reads nothing sent to its user.
    pub confirmed: bool,
}

impl Client {
    /// Fetch the device lists of `users` from the directory and reconcile them with what is
    /// pinned. Returns the users the server does not know.
    pub(crate) async fn refresh_devices(&self, users: &[UserId]) -> Result<Vec<UserId>> {
        let mut unknown = Vec::new();
        let unique: Vec<UserId> = users.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        for chunk in unique.chunks(MAX_QUERY_USERS) {
            let body = QueryKeysRequest { user_ids: chunk.to_vec() };
            let resp = self.call::<routes::QueryKeys>(&(), &body).await?;
            let own = self.inner.own.clone();
            // Read before the keys change: whether each contact's verification holds now.
            let mut verified = BTreeSet::new();
            for user in resp.users.iter().map(|u| &u.user_id).filter(|u| **u != own.user_id) {
                if self.is_verified(user)? {
                    verified.insert(user.clone());
                }
            }
            let events = self.transact(|_, db| {
                let now = now_ms();
                let mut events = Vec::new();
                for user in &resp.users {
                    let was_verified = verified.contains(&user.user_id);
                    events.extend(reconcile(db, &own, user, was_verified, now)?);
                }
                Ok(events)
            })?;
            self.emit_all(events);
            unknown.extend(resp.unknown_users);
        }
        Ok(unknown)
    }

    /// Make sure the device lists of `users` are at most `max_age_ms` old.
    pub(crate) async fn ensure_devices(&self, users: &[UserId], max_age_ms: i64) -> Result<Vec<UserId>> {
        let now = now_ms();
        let stale: Vec<UserId> = self.read(|db| {
            let mut stale = Vec::new();
            for user in users {
                match db.user_fetched_ts(user)? {
                    Some(ts) if now.saturating_sub(ts) <= max_age_ms => {}
                    _ => stale.push(user.clone()),
                }
            }
            Ok(stale)
        })?;
        if stale.is_empty() { Ok(Vec::new()) } else { self.refresh_devices(&stale).await }
    }

    /// Whether sending to `user` is held: their identity changed after this person verified
    /// them (see [`Client::accept_identity`]).
    pub fn is_held(&self, user: &UserId) -> Result<bool> {
        self.read(|db| db.is_held(user))
    }

    /// Accept `user`'s new identity after it changed: sending to them resumes, and they are no
    /// longer marked verified (compare the new safety number to verify them again).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn accept_identity(&self, user: &UserId) -> Result<Verification> {
        self.read(|db| {
            db.set_held(user, false)?;
            db.set_verified_number(user, None)
        })?;
        tracing::info!("a contact's new identity accepted");
        self.verification(user).await
    }

    /// The active devices of `users`, held users' devices marked not confirmed (see
    /// [`Client::apply_holds`]): whom a send may give keys to.
    pub(crate) fn sendable_devices(&self, users: &[UserId]) -> Result<Vec<DeviceRecord>> {
        self.apply_holds(self.read(|db| {
            let mut all = Vec::new();
            for user in users {
                all.extend(db.devices_of(user, Devices::Active)?);
            }
            Ok(all)
        })?)
    }

    /// `devices` with those of held users (see [`Client::is_held`]) counted as not confirmed:
    /// they get nothing secret until the person accepts.
    pub(crate) fn apply_holds(&self, devices: Vec<DeviceRecord>) -> Result<Vec<DeviceRecord>> {
        let held: BTreeSet<UserId> = self.read(|db| {
            let users: BTreeSet<&UserId> = devices.iter().map(|d| &d.user_id).collect();
            let mut held = BTreeSet::new();
            for user in users {
                if db.is_held(user)? {
                    held.insert(user.clone());
                }
            }
            Ok(held)
        })?;
        Ok(devices
            .into_iter()
            .map(|d| if held.contains(&d.user_id) { DeviceRecord { confirmed: false, ..d } } else { d })
            .collect())
    }

    /// Fetch again the device lists of those of `users` that have a device not confirmed (or
    /// no identity): the user may have confirmed it since, and until then it gets nothing. This
    /// costs one query per send while such a device is listed; a device waiting to be confirmed
    /// must read what is sent right after it is.
    pub(crate) async fn recheck_unconfirmed(&self, users: &[UserId]) -> Result<()> {
        let stale: Vec<UserId> = self.read(|db| {
            let mut stale = Vec::new();
            for user in users {
                let unconfirmed = db.devices_of(user, Devices::Active)?.iter().any(|d| !d.confirmed);
                if unconfirmed || db.pinned_identity(user)?.is_none() {
                    stale.push(user.clone());
                }
            }
            Ok(stale)
        })?;
        if !stale.is_empty() {
            self.refresh_devices(&stale).await?;
        }
        Ok(())
    }

    /// Open Olm sessions with every device in `devices` that has none, from claimed keys.
    /// Returns the devices that cannot be reached: no key left to claim, or a key that does not
    /// verify or cannot start a session (the caller decides whether that blocks the send).
    pub(crate) async fn ensure_olm_sessions(&self, devices: &[DeviceRecord]) -> Result<Vec<DeviceRecord>> {
        let missing: Vec<DeviceRecord> = self.transact(|m, db| {
            let mut missing = Vec::new();
            for d in devices {
                if !m.has_olm_session(db, &d.curve25519)? {
                    missing.push(d.clone());
                }
            }
            Ok(missing)
        })?;
        let mut unreachable = Vec::new();
        for chunk in missing.chunks(MAX_CLAIM_DEVICES) {
            let body = ClaimKeysRequest {
                devices: chunk
                    .iter()
                    .map(|d| DeviceAddress { user_id: d.user_id.clone(), device_id: d.device_id.clone() })
                    .collect(),
            };
            let resp = self.call::<routes::ClaimKeys>(&(), &body).await?;
            let failed = self.transact(|m, db| {
                let mut failed = Vec::new();
                for device in chunk {
                    let claimed =
                        resp.keys.iter().find(|c| c.user_id == device.user_id && c.device_id == device.device_id);
                    match claimed.map(|c| m.start_olm_session(db, device, c)) {
                        Some(Ok(())) => {}
                        // A bad key (signature, or one no session can start from): skip that device.
                        Some(Err(Error::Crypto(reason))) => {
                            tracing::warn!(user = %device.user_id, device = %device.device_id, %reason, "cannot start a session");
                            failed.push(device.clone());
                        }
                        Some(Err(e)) => return Err(e),
                        None => failed.push(device.clone()),
                    }
                }
                Ok(failed)
            })?;
            unreachable.extend(failed);
        }
        Ok(unreachable)
    }

    /// Look users up in the directory (fresh), returning their devices. Unknown users are an
    /// error naming the first of them.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn lookup_users(&self, users: &[UserId]) -> Result<Vec<DeviceSummary>> {
        let unknown = self.refresh_devices(users).await?;
        if let Some(u) = unknown.first() {
            return Err(Error::UnknownUser(u.to_string()));
        }
        let mut out = Vec::new();
        for user in users {
            out.extend(self.devices(user)?);
        }
        Ok(out)
    }

    /// The devices pinned for `user` (including signed-out ones, marked inactive).
    pub fn devices(&self, user: &UserId) -> Result<Vec<DeviceSummary>> {
        let records = self.read(|db| db.devices_of(user, Devices::IncludingRemoved))?;
        Ok(records
            .into_iter()
            .map(|d| DeviceSummary {
                user_id: d.user_id.to_string(),
                device_id: d.device_id.to_string(),
                ed25519: d.ed25519,
                curve25519: d.curve25519,
                first_seen: d.first_seen,
                active: d.active,
                confirmed: d.confirmed,
            })
            .collect())
    }

    /// The safety number with `user`, from the directory's current keys of both users.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn safety_number(&self, user: &UserId) -> Result<String> {
        let unknown = self.refresh_devices(&[user.clone(), self.inner.own.user_id.clone()]).await?;
        if unknown.contains(user) {
            return Err(Error::UnknownUser(user.to_string()));
        }
        self.pinned_safety_number(user)
    }

    /// The safety number with `user`, whether this person marked it verified, and whether they
    /// had marked an earlier one (keys changed since).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn verification(&self, user: &UserId) -> Result<Verification> {
        let safety_number = self.safety_number(user).await?;
        let marked = self.read(|db| db.verified_number(user))?;
        Ok(Verification::new(safety_number, marked))
    }

    /// Mark `user` verified: `compared` is the safety number the person compared (spacing does
    /// not matter); it must still be the current one, or this fails with
    /// [`Error::SafetyNumberChanged`] and marks nothing. `None` removes the mark.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn set_verified(&self, user: &UserId, compared: Option<&str>) -> Result<Verification> {
        let safety_number = self.safety_number(user).await?;
        let marked = match compared {
            Some(compared) if digits(compared) == digits(&safety_number) => Some(digits(&safety_number)),
            Some(_) => return Err(Error::SafetyNumberChanged(user.to_string())),
            None => None,
        };
        self.read(|db| {
            db.set_verified_number(user, marked.as_deref())?;
            db.set_held(user, false)
        })?;
        tracing::info!(verified = marked.is_some(), "contact verification changed");
        // Tell this user's other devices, through the user-signing key (when this device holds it).
        if let Err(e) = self.publish_verification(user, marked.is_some()).await {
            tracing::warn!(error = %e, "could not tell this user's other devices about the verification");
        }
        Ok(Verification::new(safety_number, marked))
    }

    /// Publish (or withdraw) this user's signature of `user`'s pinned master key.
    async fn publish_verification(&self, user: &UserId, verified: bool) -> Result<()> {
        let Some(stored) = self.read(|db| db.cross_signing())? else { return Ok(()) };
        if !verified {
            return match self.call::<routes::DeleteUserSignature>(user, &()).await {
                Err(e) if e.server_code() == Some(ErrorCode::NotFound) => Ok(()),
                other => other,
            };
        }
        let Some((identity, _)) = self.read(|db| db.pinned_identity(user))? else { return Ok(()) };
        let secrets = CrossSigningSecrets::from_stored(&stored)?;
        let signature = secrets.sign_user(&self.inner.own.user_id, user, &identity.master_key);
        self.call::<routes::PutUserSignature>(&(), &signature).await
    }

    /// Whether `user` is verified with the keys pinned now (no network; for a conversation's
    /// header).
    pub fn is_verified(&self, user: &UserId) -> Result<bool> {
        let Some(marked) = self.read(|db| db.verified_number(user))? else { return Ok(false) };
        match self.pinned_safety_number(user) {
            Ok(current) => Ok(digits(&current) == marked),
            Err(Error::NoIdentity(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The safety number from the master keys pinned now: it changes only when either user's
    /// identity does, not with their devices.
    fn pinned_safety_number(&self, user: &UserId) -> Result<String> {
        let own = &self.inner.own.user_id;
        let (theirs, mine) = self.read(|db| Ok((db.pinned_identity(user)?, db.pinned_identity(own)?)))?;
        let Some((theirs, _)) = theirs else { return Err(Error::NoIdentity(user.to_string())) };
        let Some((mine, _)) = mine else { return Err(Error::NoIdentity(own.to_string())) };
        Ok(safety::safety_number(own.as_str(), &[mine.master_key], user.as_str(), &[theirs.master_key]))
    }
}

/// The safety number with a contact as this person sees it (see [`Client::verification`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Verification {
    pub safety_number: String,
    /// The person compared this safety number and marked it verified.
    pub verified: bool,
    /// They had marked an earlier safety number verified; keys changed since.
    pub changed_since_verified: bool,
}

impl Verification {
    fn new(safety_number: String, marked: Option<String>) -> Verification {
        let verified = marked.as_deref() == Some(digits(&safety_number).as_str());
        Verification { changed_since_verified: marked.is_some() && !verified, verified, safety_number }
    }
}

/// Only the digits of a safety number (it is shown in groups).
fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Reconcile one user's directory entry with what is pinned; returns the events to emit.
pub(crate) fn reconcile(
    db: &Db<'_>,
    own: &DeviceAddress,
    entry: &UserDevices,
    was_verified: bool,
    now: i64,
) -> Result<Vec<ClientEvent>> {
    let user = &entry.user_id;
    let known_before = db.user_fetched_ts(user)?.is_some();
    let mut changes: Vec<(Option<DeviceRecord>, KeyChange)> = Vec::new();

    // The identity first: a device counts only through the master key pinned for its user.
    let pinned = db.pinned_identity(user)?.map(|(identity, _)| identity);
    let listed = entry.identity.as_ref().filter(|i| &i.user_id == user && verify_identity(i));
    if entry.identity.is_some() && listed.is_none() {
        tracing::warn!(user = %user, "directory identity with a bad signature ignored");
    }
    let holds_own = user == &own.user_id && db.cross_signing()?.is_some();
    let identity: Option<UserIdentity> = match (pinned, listed) {
        (None, Some(listed)) => {
            db.pin_identity(listed, now)?;
            // A contact known from before identities: their safety number changes once.
            if known_before && user != &own.user_id {
                changes.push((None, KeyChange::IdentitySetUp));
            }
            Some(listed.clone())
        }
        (Some(pinned), Some(listed)) if pinned.master_key == listed.master_key => {
            if &pinned != listed {
                // The same master key signed new sub-keys.
                db.pin_identity(listed, now)?;
            }
            Some(listed.clone())
        }
        // This device holds its user's keys: nothing the server says replaces them. The person
        // is told (once per identity listed): someone may be trying to pass as them.
        (Some(pinned), Some(listed)) if holds_own => {
            tracing::warn!("the directory lists another identity for this user; ignored");
            if db.meta(META_IDENTITY_CONFLICT)?.as_deref() != Some(listed.master_key.as_str()) {
                db.set_meta(META_IDENTITY_CONFLICT, &listed.master_key)?;
                changes.push((None, KeyChange::MasterKeyChanged));
            }
            Some(pinned)
        }
        (Some(_), Some(listed)) => {
            db.pin_identity(listed, now)?;
            changes.push((None, KeyChange::MasterKeyChanged));
            // Someone this person verified is not who they verified any more: hold sending to
            // them until the person accepts the new identity.
            if was_verified {
                db.set_held(user, true)?;
            }
            Some(listed.clone())
        }
        // A pinned identity the server stopped listing stays pinned: the devices it no longer
        // vouches for simply stop being confirmed.
        (pinned, None) => pinned,
    };
    // Another device of this user verified them (and signed it with the user-signing key): so
    // does this one, at the safety number of the two identities pinned here. Only on a device
    // that holds this user's identity: the own identity pinned anywhere else is the server's word.
    if user != &own.user_id
        && db.cross_signing()?.is_some()
        && let (Some(signed), Some(theirs), Some((ours, _))) =
            (&entry.verified_by_you, &identity, db.pinned_identity(&own.user_id)?)
        && signed.target == *user
        && signed.master_key == theirs.master_key
        && verify_user_signature(&ours, signed)
        && !was_verified
    {
        let (mine, their) = (std::slice::from_ref(&ours.master_key), std::slice::from_ref(&theirs.master_key));
        let number = safety::safety_number(own.user_id.as_str(), mine, user.as_str(), their);
        db.set_verified_number(user, Some(&digits(&number)))?;
        db.set_held(user, false)?;
        tracing::info!(user = %user, "verified by another device of this user");
    }
    let confirmed = |keys: &DeviceKeys| {
        identity.as_ref().is_some_and(|identity| {
            entry
                .confirmations
                .iter()
                .any(|c| c.device_id == keys.device_id && verify_confirmation(identity, keys, &c.signature))
        })
    };

    let stored = db.devices_of(user, Devices::IncludingRemoved)?;
    let mut seen = BTreeSet::new();
    for keys in &entry.devices {
        if &keys.user_id != user || (user == &own.user_id && keys.device_id == own.device_id) {
            continue;
        }
        if !verify_device_keys(keys) {
            tracing::warn!(user = %user, device = %keys.device_id, "directory entry with a bad self-signature ignored");
            continue;
        }
        seen.insert(keys.device_id.clone());
        let record = DeviceRecord {
            user_id: user.clone(),
            device_id: keys.device_id.clone(),
            curve25519: keys.curve25519.clone(),
            ed25519: keys.ed25519.clone(),
            first_seen: now,
            active: true,
            confirmed: confirmed(keys),
        };
        let unconfirmed = |record: DeviceRecord| (Some(record), KeyChange::UnconfirmedDevice);
        match stored.iter().find(|p| p.device_id == keys.device_id) {
            None => {
                db.upsert_device(&record)?;
                if !record.confirmed {
                    changes.push(unconfirmed(record));
                } else if known_before {
                    changes.push((Some(record), KeyChange::NewDevice));
                }
            }
            Some(p) if p.curve25519 != keys.curve25519 || p.ed25519 != keys.ed25519 => {
                db.delete_olm_sessions(&p.curve25519)?;
                db.upsert_device(&record)?;
                changes.push(if record.confirmed {
                    (Some(record), KeyChange::IdentityChanged)
                } else {
                    unconfirmed(record)
                });
            }
            Some(p) if !p.active => {
                let record = DeviceRecord { first_seen: p.first_seen, ..record };
                db.upsert_device(&record)?;
                changes.push(if record.confirmed { (Some(record), KeyChange::NewDevice) } else { unconfirmed(record) });
            }
            Some(p) if p.confirmed != record.confirmed => {
                let record = DeviceRecord { first_seen: p.first_seen, ..record };
                db.upsert_device(&record)?;
                if record.confirmed {
                    db.clear_unconfirmed_mark(user, &record.device_id)?;
                }
                changes.push(if record.confirmed {
                    (Some(record), KeyChange::DeviceConfirmed)
                } else {
                    unconfirmed(record)
                });
            }
            Some(_) => {}
        }
    }
    for p in stored.iter().filter(|p| p.active && !seen.contains(&p.device_id)) {
        let gone = DeviceRecord { active: false, ..p.clone() };
        db.upsert_device(&gone)?;
        changes.push((Some(gone), KeyChange::DeviceRemoved));
    }
    db.set_user_fetched(user, now)?;

    let mut events = Vec::new();
    for (device, change) in changes {
        // A contact's changes show in their conversation; changes of their identity and devices
        // that could read what is sent also show in the groups shared with them: someone who
        // only shares a group with a contact must not miss them. Our own devices' changes show
        // in every conversation only when one is not confirmed (someone may be listening in).
        let everywhere = || -> Result<Vec<ConversationId>> {
            let mut all = vec![ConversationId::Direct(user.clone())];
            all.extend(db.joined_groups_with(user)?.into_iter().map(ConversationId::Group));
            Ok(all)
        };
        let conversations = match change {
            KeyChange::DeviceRemoved | KeyChange::DeviceConfirmed => Vec::new(),
            _ if user == &own.user_id => Vec::new(),
            KeyChange::NewDevice | KeyChange::IdentitySetUp => vec![ConversationId::Direct(user.clone())],
            KeyChange::IdentityChanged | KeyChange::MasterKeyChanged | KeyChange::UnconfirmedDevice => everywhere()?,
        };
        let device_id = device.as_ref().map(|d| d.device_id.clone());
        for conversation_id in conversations {
            if db.conversation(&conversation_id)?.is_some() {
                let device = device_id.as_ref().map_or("", |d| d.as_str());
                let body = match change {
                    KeyChange::NewDevice => format!("{user} signed in on a new device ({device})."),
                    KeyChange::IdentityChanged => format!("The security keys of {user}'s device {device} changed."),
                    KeyChange::UnconfirmedDevice => format!(
                        "{user}'s account has a device {user} has not confirmed ({device}). It gets no messages until {user} confirms it."
                    ),
                    KeyChange::MasterKeyChanged => {
                        format!(
                            "{user}'s identity key changed: they may have started over on a new device, or someone may be pretending to be them. The safety number changed."
                        )
                    }
                    KeyChange::IdentitySetUp => {
                        format!("{user} now confirms their devices with an identity key. The safety number changed.")
                    }
                    KeyChange::DeviceRemoved | KeyChange::DeviceConfirmed => String::new(),
                };
                let message_id = format!("key-{device}-{}-{now}", <&str>::from(change));
                if let Some(message) = db.insert_message(&NewMessage {
                    conversation_id: &conversation_id,
                    message_id: &message_id,
                    sender_user: user.as_str(),
                    sender_device: device_id.as_ref().map(|d| d.as_str()),
                    kind: MessageKind::System,
                    body: &body,
                    status: MessageStatus::System,
                    reason: Some(change.into()),
                    outgoing: false,
                    ts: now,
                    server_ts: None,
                })? {
                    db.touch_for(&message)?;
                    events.push(ClientEvent::MessageReceived { message });
                }
            }
        }
        events.push(ClientEvent::ContactKeyChanged {
            user_id: user.to_string(),
            device_id: device_id.map(|d| d.to_string()).unwrap_or_default(),
            change,
            was_verified,
        });
    }
    Ok(events)
}
