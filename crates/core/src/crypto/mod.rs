//! The device's cryptography on vodozemac: its Olm account, one-to-one Olm sessions, and Megolm
//! group sessions. It does no network I/O: it takes what the directory returned and gives back
//! ciphertexts; the engine sends them. State is persisted through [`Db`] in the caller's
//! transaction, so a decrypt and the message it yields are committed together.
//!
//! Invariants: every pickle is encrypted with the pickle key before it reaches the database;
//! a claimed one-time key is used only if the owning device's pinned Ed25519 key signed it; a
//! Megolm message is accepted only from the device its session key came from, for the group the
//! key was shared for, and each (session, index) decrypts to one message only.

pub mod cross_signing;
mod error;
pub mod group_change;
pub mod group_name;
pub mod payload;
pub mod profile_key;
pub mod safety;
pub mod sas;

pub use error::CryptoError;

use std::collections::{BTreeSet, HashMap};

use sotto_proto::{
    ClaimedKey, DeviceAddress, DeviceId, DeviceKeys, GroupId, KeyId, SignedKey, UploadKeysRequest, UserId,
};
use vodozemac::megolm::{
    ExportedSessionKey, GroupSession, InboundGroupSession, MegolmMessage, SessionConfig as MegolmConfig, SessionKey,
};
use vodozemac::olm::{Account, AccountPickle, OlmMessage, Session, SessionConfig, SessionPickle};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature};
use zeroize::Zeroizing;

use self::payload::{GroupPlaintext, OlmContent, OlmPlaintext, PAYLOAD_VERSION};
use crate::Result;
use crate::backup::Record;
use crate::store::{BackupScope, Db, DbColumn, DeviceRecord, InboundGroupRecord, OutboundGroupRecord, StoreError};

/// The profile setting holding the public fallback key the server has (unpadded base64): an
/// incoming session made from it means it is time for a new one.
pub(crate) const META_FALLBACK_KEY: &str = "published_fallback_key";

/// Set while the fallback key was used and has not been replaced yet.
pub(crate) const META_FALLBACK_USED: &str = "fallback_key_used";

/// One-time keys the server should hold for this device.
pub const ONE_TIME_KEY_TARGET: u64 = 50;
/// A Megolm session is replaced after this many messages...
pub const ROTATE_AFTER_MESSAGES: i64 = 100;
/// ...or this much time (7 days, ms).
pub const ROTATE_AFTER_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Why a received message cannot be read. Stored with the message as its `reason` code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize, strum::IntoStaticStr,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum Undecryptable {
    #[error("the sending device is not in the directory")]
    UnknownDevice,
    #[error("no encrypted channel with the sending device could open this message")]
    OlmSession,
    #[error("the group key for this message has not arrived (yet)")]
    MissingRoomKey,
    #[error("this message was sent before this device received the group's key")]
    BeforeKey,
    #[error("the message was altered in transit")]
    Tampered,
    #[error("a different message was already received at this position (replay)")]
    Replayed,
    #[error("the message claims a different sender or conversation than the one that sent it")]
    SenderMismatch,
    #[error("the message is not in a format this version understands")]
    Malformed,
    #[error("the sender did not give this message to this device, because it is not confirmed yet")]
    Withheld,
}

impl Undecryptable {
    /// The stored code (`"missing_room_key"`), the same as its serde name.
    pub fn code(self) -> &'static str {
        self.into()
    }
}

/// A JSON encoding failure of `what`, as a [`CryptoError`].
fn encode(what: &'static str) -> impl FnOnce(serde_json::Error) -> CryptoError {
    move |source| CryptoError::Encode { what, source }
}

/// The Olm ciphertext on the wire: a vodozemac message plus the sender's identity key.
#[derive(serde::Serialize, serde::Deserialize)]
struct OlmEnvelope {
    v: u32,
    sender_key: String,
    #[serde(rename = "type")]
    message_type: usize,
    body: String,
}

/// The Megolm ciphertext on the wire: the session it belongs to plus the vodozemac message.
#[derive(serde::Serialize, serde::Deserialize)]
struct MegolmEnvelope {
    v: u32,
    session_id: String,
    body: String,
}

/// A decrypted Megolm message and the index it had in its session.
pub struct GroupDecrypted {
    pub plaintext: GroupPlaintext,
    #[cfg_attr(not(test), expect(dead_code, reason = "the receive path reads the session id from the ciphertext"))]
    pub session_id: String,
    /// True when this exact message was decrypted before (a duplicate delivery).
    pub duplicate: bool,
}

pub struct Machine {
    own: DeviceAddress,
    account: Account,
    pickle_key: Zeroizing<[u8; 32]>,
    /// Inbound Megolm sessions: decrypting does not change what must be persisted, so a cache
    /// stays true even when a transaction rolls back.
    inbound: HashMap<(String, String), (InboundGroupSession, InboundGroupRecord)>,
    /// Outbound Megolm sessions by group, with their session id: saves unpickling one per
    /// message. The database stays the truth: a cached session is used only while its id is
    /// the group's current one, and every message still persists the advanced session.
    outbound: HashMap<GroupId, (String, GroupSession)>,
    /// A one-time key was used up by an incoming session since the last [`Machine::take_spent_keys`].
    spent_keys: bool,
}

fn b64(s: &str) -> Result<Vec<u8>, Undecryptable> {
    vodozemac::base64_decode(s).map_err(|_| Undecryptable::Malformed)
}

impl Machine {
    /// A new device identity.
    pub fn create(own: DeviceAddress, pickle_key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            own,
            account: Account::new(),
            pickle_key,
            inbound: HashMap::new(),
            outbound: HashMap::new(),
            spent_keys: false,
        }
    }

    pub fn load(db: &Db<'_>, own: DeviceAddress, pickle_key: Zeroizing<[u8; 32]>) -> Result<Self> {
        let (pickle, _) = db.account_pickle()?.ok_or(StoreError::Missing("device account"))?;
        let account = unpickle_account(&pickle, &pickle_key)?;
        Ok(Self { own, account, pickle_key, inbound: HashMap::new(), outbound: HashMap::new(), spent_keys: false })
    }

    /// A new identity for this device (a key reset): a fresh account, pickled and encrypted,
    /// to keep until the server has taken its keys. This device's account is not touched.
    pub fn new_identity(&self) -> String {
        Account::new().pickle().encrypt(&self.pickle_key)
    }

    /// The self-signed identity keys of an identity from [`Machine::new_identity`].
    pub fn identity_keys(&self, pickle: &str) -> Result<DeviceKeys> {
        Ok(sign_device_keys(&self.own, &unpickle_account(pickle, &self.pickle_key)?))
    }

    /// Make an identity from [`Machine::new_identity`] this device's account, in the caller's
    /// transaction. The old account is gone with it: whatever was encrypted to its keys from now
    /// on can only be read through the sessions the caller keeps.
    pub fn adopt_identity(&mut self, db: &Db<'_>, pickle: &str) -> Result<()> {
        self.account = unpickle_account(pickle, &self.pickle_key)?;
        self.outbound.clear();
        self.spent_keys = false;
        self.save_account(db)
    }

    /// Reload the account after a rolled-back transaction, so memory matches the database.
    pub fn reload(&mut self, db: &Db<'_>) -> Result<()> {
        let fresh = Self::load(db, self.own.clone(), self.pickle_key.clone())?;
        self.account = fresh.account;
        self.inbound.clear();
        self.outbound.clear();
        self.spent_keys = false;
        Ok(())
    }

    pub fn own(&self) -> &DeviceAddress {
        &self.own
    }

    pub fn curve25519(&self) -> String {
        self.account.curve25519_key().to_base64()
    }

    pub fn ed25519(&self) -> String {
        self.account.ed25519_key().to_base64()
    }

    pub fn save_account(&self, db: &Db<'_>) -> Result<()> {
        db.save_account(&self.account.pickle().encrypt(&self.pickle_key), 0)
    }

    /// This device's self-signed identity keys.
    pub fn device_keys(&self) -> DeviceKeys {
        sign_device_keys(&self.own, &self.account)
    }

    /// Keys to upload so the server holds [`ONE_TIME_KEY_TARGET`] one-time keys and a fallback
    /// key. Unpublished keys from an earlier failed upload are included again. `None` when
    /// nothing is needed. Call [`Machine::mark_published`] once the server accepted them.
    pub fn keys_to_upload(&mut self, server_count: u64, has_fallback: bool) -> Result<Option<UploadKeysRequest>> {
        let unpublished = self.account.one_time_keys().len() as u64;
        let wanted = ONE_TIME_KEY_TARGET.saturating_sub(server_count).saturating_sub(unpublished);
        let max = self.account.max_number_of_one_time_keys() as u64;
        let wanted = wanted.min(max.saturating_sub(unpublished));
        if wanted > 0 {
            self.account.generate_one_time_keys(wanted as usize);
        }
        if !has_fallback && self.account.fallback_key().is_empty() {
            self.account.generate_fallback_key();
        }
        let one_time_keys = self
            .account
            .one_time_keys()
            .into_iter()
            .map(|(id, key)| self.sign_key(id, key))
            .collect::<Result<Vec<_>>>()?;
        let fallback_key = match (has_fallback, self.account.fallback_key().into_iter().next()) {
            (false, Some((id, key))) => Some(self.sign_key(id, key)?),
            _ => None,
        };
        if one_time_keys.is_empty() && fallback_key.is_none() {
            return Ok(None);
        }
        Ok(Some(UploadKeysRequest { one_time_keys, fallback_key }))
    }

    /// Make a new fallback key (uploaded by the next [`Machine::keys_to_upload`] that is told the
    /// server has none): after a restore, the old one may be in use by peers of the old copy.
    pub fn new_fallback_key(&mut self) {
        self.account.generate_fallback_key();
    }

    /// Whether incoming sessions used up one-time keys since the last call (time to top up).
    pub fn take_spent_keys(&mut self) -> bool {
        std::mem::take(&mut self.spent_keys)
    }

    pub fn mark_published(&mut self) {
        self.account.mark_keys_as_published();
    }

    fn sign_key(&self, id: vodozemac::KeyId, key: Curve25519PublicKey) -> Result<SignedKey> {
        let key_id = KeyId::parse(id.to_base64()).map_err(CryptoError::GeneratedId)?;
        let mut signed = SignedKey { key_id, key: key.to_base64(), signature: String::new() };
        signed.signature = self.account.sign(signed.signing_bytes(&self.own)).to_base64();
        Ok(signed)
    }

    // ---- Olm ----

    /// Whether an Olm session with this identity key exists that may send.
    pub fn has_olm_session(&self, db: &Db<'_>, curve: &str) -> Result<bool> {
        Ok(!db.olm_sessions_for_sending(curve)?.is_empty())
    }

    /// Start an Olm session with `device` from a key the directory handed out for it.
    pub fn start_olm_session(&self, db: &Db<'_>, device: &DeviceRecord, claimed: &ClaimedKey) -> Result<()> {
        let owner = DeviceAddress { user_id: device.user_id.clone(), device_id: device.device_id.clone() };
        if !verify_signature(&device.ed25519, &claimed.key.signing_bytes(&owner), &claimed.key.signature) {
            return Err(CryptoError::BadSignature(device.user_id.clone()).into());
        }
        let identity = Curve25519PublicKey::from_base64(&device.curve25519)
            .map_err(|source| CryptoError::MalformedKey { what: "identity", user: device.user_id.clone(), source })?;
        let one_time = Curve25519PublicKey::from_base64(&claimed.key.key)
            .map_err(|source| CryptoError::MalformedKey { what: "one-time", user: device.user_id.clone(), source })?;
        let session = self
            .account
            .create_outbound_session(SessionConfig::version_1(), identity, one_time)
            .map_err(|source| CryptoError::SessionCreation { user: device.user_id.clone(), source })?;
        db.save_olm_session(
            &session.session_id(),
            &device.curve25519,
            &session.pickle().encrypt(&self.pickle_key),
            crate::store::now_ms(),
        )
    }

    /// Encrypt `content` for one device over its most recent Olm session.
    pub fn encrypt_olm(&self, db: &Db<'_>, device: &DeviceRecord, content: &OlmContent) -> Result<String> {
        let plaintext = payload::OlmPlaintextOut {
            v: PAYLOAD_VERSION,
            sender: self.own.clone(),
            sender_ed25519: self.ed25519(),
            recipient: DeviceAddress { user_id: device.user_id.clone(), device_id: device.device_id.clone() },
            recipient_ed25519: device.ed25519.clone(),
            content,
        };
        let json = Zeroizing::new(serde_json::to_vec(&plaintext).map_err(encode("a message"))?);
        self.seal_olm(db, device, &json)
    }

    /// Encrypt the plaintext bytes `json` for one device over its most recent Olm session, as the
    /// envelope that goes on the wire.
    pub(crate) fn seal_olm(&self, db: &Db<'_>, device: &DeviceRecord, json: &[u8]) -> Result<String> {
        let (session_id, pickle) = db
            .olm_sessions_for_sending(&device.curve25519)?
            .into_iter()
            .next()
            .ok_or_else(|| CryptoError::NoSession(device.user_id.clone()))?;
        let mut session = self.unpickle_session(&pickle)?;
        let message =
            session.encrypt(json).map_err(|source| CryptoError::Encrypt { user: device.user_id.clone(), source })?;
        db.save_olm_session(
            &session_id,
            &device.curve25519,
            &session.pickle().encrypt(&self.pickle_key),
            crate::store::now_ms(),
        )?;
        let (message_type, body) = message.to_parts();
        let envelope =
            OlmEnvelope { v: 1, sender_key: self.curve25519(), message_type, body: vodozemac::base64_encode(body) };
        Ok(serde_json::to_string(&envelope).map_err(encode("an envelope"))?)
    }

    /// Decrypt an Olm ciphertext from `sender` (the pinned record of the device the server says
    /// sent it). `Ok(Err(_))` is a message that cannot be read, to be kept with its reason.
    pub fn decrypt_olm(
        &mut self,
        db: &Db<'_>,
        sender: &DeviceRecord,
        ciphertext: &str,
    ) -> Result<Result<OlmPlaintext, Undecryptable>> {
        let envelope: OlmEnvelope = match serde_json::from_str(ciphertext) {
            Ok(e) => e,
            Err(_) => return Ok(Err(Undecryptable::Malformed)),
        };
        if envelope.v != 1 {
            return Ok(Err(Undecryptable::Malformed));
        }
        if envelope.sender_key != sender.curve25519 {
            return Ok(Err(Undecryptable::SenderMismatch));
        }
        let message = match b64(&envelope.body).and_then(|bytes| {
            OlmMessage::from_parts(envelope.message_type, &bytes).map_err(|_| Undecryptable::Malformed)
        }) {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        let now = crate::store::now_ms();
        let mut plain = None;
        // A session that knows the message's chain but no longer has its key: it was decrypted
        // before (a replay under a new id).
        let mut used_up = false;
        for (session_id, pickle) in db.olm_sessions_for(&sender.curve25519)? {
            let mut session = self.unpickle_session(&pickle)?;
            match session.decrypt(&message) {
                Ok(bytes) => {
                    let pickle = session.pickle().encrypt(&self.pickle_key);
                    db.save_olm_session(&session_id, &sender.curve25519, &pickle, now)?;
                    plain = Some(Zeroizing::new(bytes));
                    break;
                }
                Err(vodozemac::olm::DecryptionError::MissingMessageKey(_)) => used_up = true,
                Err(_) => {}
            }
        }
        if plain.is_none() && used_up {
            return Ok(Err(Undecryptable::Replayed));
        }
        if plain.is_none()
            && let OlmMessage::PreKey(pre_key) = &message
        {
            // A pre-key message for a session we already have, that the session cannot decrypt,
            // is a replay: with a fallback key (never removed) it would otherwise create the same
            // session again and overwrite the one in use.
            if db.olm_session_exists(&pre_key.session_id())? {
                return Ok(Err(Undecryptable::Replayed));
            }
            let identity = Curve25519PublicKey::from_base64(&sender.curve25519)
                .map_err(|source| StoreError::Key { at: DbColumn::new("devices", "curve25519"), source })?;
            let used_key = pre_key.one_time_key().to_base64();
            if let Ok(created) = self.account.create_inbound_session(SessionConfig::version_1(), identity, pre_key) {
                // The fallback key (unlike a one-time key) stays usable: replace it soon, so one
                // key does not open sessions for long.
                if db.meta(META_FALLBACK_KEY)?.as_deref() == Some(used_key.as_str()) {
                    db.set_meta(META_FALLBACK_USED, "1")?;
                }
                let session = created.session;
                db.insert_olm_session(
                    &session.session_id(),
                    &sender.curve25519,
                    &session.pickle().encrypt(&self.pickle_key),
                    now,
                )?;
                // The one-time key is spent: persist the account in the same transaction.
                self.save_account(db)?;
                self.spent_keys = true;
                plain = Some(Zeroizing::new(created.plaintext));
            }
        }
        let Some(plain) = plain else { return Ok(Err(Undecryptable::OlmSession)) };
        let Ok(parsed) = serde_json::from_slice::<OlmPlaintext>(&plain) else {
            return Ok(Err(Undecryptable::Malformed));
        };
        if parsed.v != PAYLOAD_VERSION {
            return Ok(Err(Undecryptable::Malformed));
        }
        if parsed.sender.user_id != sender.user_id
            || parsed.sender.device_id != sender.device_id
            || parsed.sender_ed25519 != sender.ed25519
            || parsed.recipient != self.own
            || parsed.recipient_ed25519 != self.ed25519()
        {
            return Ok(Err(Undecryptable::SenderMismatch));
        }
        Ok(Ok(parsed))
    }

    fn unpickle_session(&self, pickle: &str) -> Result<Session> {
        Ok(Session::from_pickle(
            SessionPickle::from_encrypted(pickle, &self.pickle_key)
                .map_err(|_| StoreError::Pickle { what: "session" })?,
        ))
    }

    // ---- Megolm ----

    /// The outbound session for a group, rotated when it is too old, has sent too much, or was
    /// shared with a device that is no longer a member device. Returns the session's record and
    /// the member devices that still need its key.
    pub fn outbound_group(
        &self,
        db: &Db<'_>,
        group: &GroupId,
        members: &[DeviceRecord],
    ) -> Result<(OutboundGroupRecord, Vec<DeviceRecord>)> {
        let now = crate::store::now_ms();
        let current: BTreeSet<String> = members.iter().map(device_label).collect();
        let existing = db.outbound_group(group)?.filter(|r| {
            r.message_count < ROTATE_AFTER_MESSAGES
                && now.saturating_sub(r.created_ts) < ROTATE_AFTER_MS
                && r.shared_with.iter().all(|d| current.contains(d))
        });
        let record = match existing {
            Some(r) => r,
            None => {
                let session = GroupSession::new(MegolmConfig::version_1());
                let record = OutboundGroupRecord {
                    session_id: session.session_id(),
                    pickle: session.pickle().encrypt(&self.pickle_key),
                    created_ts: now,
                    message_count: 0,
                    shared_with: Vec::new(),
                };
                db.save_outbound_group(group, &record)?;
                // An inbound copy from index 0: the key backup carries it, so this user's new
                // devices read what this device sent.
                self.keep_own_inbound(db, group, &session)?;
                record
            }
        };
        let shared: BTreeSet<&String> = record.shared_with.iter().collect();
        let needs = members.iter().filter(|d| !shared.contains(&device_label(d))).cloned().collect();
        Ok((record, needs))
    }

    /// Store an inbound copy of one of this device's outbound sessions, from its current index.
    fn keep_own_inbound(&self, db: &Db<'_>, group: &GroupId, session: &GroupSession) -> Result<()> {
        let inbound = InboundGroupSession::new(&session.session_key(), MegolmConfig::version_1());
        let record = InboundGroupRecord {
            group_id: group.clone(),
            sender_user: self.own.user_id.clone(),
            sender_device: self.own.device_id.clone(),
            sender_curve: self.curve25519(),
            pickle: inbound.pickle().encrypt(&self.pickle_key),
        };
        db.save_inbound_group(&session.session_id(), &record, inbound.first_known_index(), crate::store::now_ms())?;
        Ok(())
    }

    /// Inbound copies of this device's outbound sessions that have none (made by a version that
    /// kept no copy): they cover the session from its current index on.
    pub fn keep_own_outbound_keys(&self, db: &Db<'_>) -> Result<()> {
        let curve = self.curve25519();
        for (group, record) in db.outbound_groups()? {
            if db.inbound_group(&record.session_id, &curve)?.is_none() {
                self.keep_own_inbound(db, &group, &self.unpickle_group(&record.pickle)?)?;
            }
        }
        Ok(())
    }

    /// Group session keys in exported form (the backup file's records), with their first index:
    /// those not in the key backup yet, or all of them.
    pub(crate) fn export_group_sessions(&self, db: &Db<'_>, scope: BackupScope) -> Result<Vec<(Record, u32)>> {
        let mut out = Vec::new();
        for row in db.group_sessions_for_backup(scope)? {
            let pickle = Zeroizing::new(row.pickle);
            let session = InboundGroupSession::from_pickle(
                vodozemac::megolm::InboundGroupSessionPickle::from_encrypted(&pickle, &self.pickle_key)
                    .map_err(|_| StoreError::Pickle { what: "group key" })?,
            );
            let first_index = session.first_known_index();
            out.push((
                Record::InboundGroupSession {
                    session_id: row.session_id,
                    group_id: row.group_id,
                    sender_user: row.sender_user,
                    sender_device: row.sender_device,
                    sender_curve: row.sender_curve,
                    first_index,
                    session_key: session.export_at_first_known_index().to_base64(),
                    received_ts: row.received_ts,
                },
                first_index,
            ));
        }
        Ok(out)
    }

    /// Store a group session key from this user's key backup (marked as backed up). Returns its
    /// session id when it was new or reaches further back than the copy held, so messages waiting
    /// for it can be retried. A record that is not a valid session key is skipped.
    pub(crate) fn import_group_session(&mut self, db: &Db<'_>, record: &Record) -> Result<Option<String>> {
        let Record::InboundGroupSession {
            session_id,
            group_id,
            sender_user,
            sender_device,
            sender_curve,
            first_index,
            session_key,
            received_ts: _,
        } = record
        else {
            return Ok(None);
        };
        let (Ok(group_id), Ok(sender_user), Ok(sender_device)) = (
            GroupId::parse(group_id.as_str()),
            UserId::parse(sender_user.as_str()),
            DeviceId::parse(sender_device.as_str()),
        ) else {
            tracing::warn!("a backed-up group key names an invalid group or device; skipped");
            return Ok(None);
        };
        let Ok(exported) = ExportedSessionKey::from_base64(session_key) else {
            tracing::warn!("a backed-up group key is not valid; skipped");
            return Ok(None);
        };
        let session = InboundGroupSession::import(&exported, MegolmConfig::version_1());
        if session.session_id() != *session_id || session.first_known_index() != *first_index {
            tracing::warn!("a backed-up group key does not match its session; skipped");
            return Ok(None);
        }
        let stored = InboundGroupRecord {
            group_id,
            sender_user,
            sender_device,
            sender_curve: sender_curve.clone(),
            pickle: session.pickle().encrypt(&self.pickle_key),
        };
        let new = db.save_inbound_group(session_id, &stored, *first_index, crate::store::now_ms())?;
        db.mark_backed_up(&[(session_id.clone(), sender_curve.clone(), *first_index)])?;
        self.inbound.remove(&(session_id.clone(), sender_curve.clone()));
        Ok(new.then(|| session_id.clone()))
    }

    /// The room-key content that shares the group's current outbound session.
    /// The group's current session key to share, with the key its name is sealed with.
    pub fn room_key(&self, db: &Db<'_>, group: &GroupId, record: &OutboundGroupRecord) -> Result<OlmContent> {
        let session = self.unpickle_group(&record.pickle)?;
        Ok(OlmContent::RoomKey {
            group_id: group.clone(),
            session_id: record.session_id.clone(),
            session_key: session.session_key().to_base64(),
            name_key: db.group_name_key(group)?.map(|key| key.to_string()),
        })
    }

    /// Record that the server accepted the key for these devices.
    pub fn mark_shared(&self, db: &Db<'_>, group: &GroupId, session_id: &str, devices: &[DeviceRecord]) -> Result<()> {
        if let Some(mut record) = db.outbound_group(group)?
            && record.session_id == session_id
        {
            let mut all: BTreeSet<String> = record.shared_with.into_iter().collect();
            all.extend(devices.iter().map(device_label));
            record.shared_with = all.into_iter().collect();
            db.save_outbound_group(group, &record)?;
        }
        Ok(())
    }

    /// Encrypt a group message with the group's current outbound session; `None` when there is
    /// none, or it is not `expected_session` (it was rotated or discarded meanwhile).
    pub fn encrypt_group(
        &mut self,
        db: &Db<'_>,
        group: &GroupId,
        expected_session: Option<&str>,
        plaintext: &impl serde::Serialize,
    ) -> Result<Option<String>> {
        let json = Zeroizing::new(serde_json::to_vec(plaintext).map_err(encode("a group message"))?);
        self.seal_group(db, group, expected_session, &json)
    }

    /// Encrypt the plaintext bytes `json` with the group's current outbound session, as the
    /// envelope that goes on the wire; `None` as for [`Machine::encrypt_group`].
    pub(crate) fn seal_group(
        &mut self,
        db: &Db<'_>,
        group: &GroupId,
        expected_session: Option<&str>,
        json: &[u8],
    ) -> Result<Option<String>> {
        let Some(mut record) = db.outbound_group(group)? else { return Ok(None) };
        if expected_session.is_some_and(|s| s != record.session_id) {
            return Ok(None);
        }
        let mut session = match self.outbound.remove(group) {
            Some((id, session)) if id == record.session_id => session,
            _ => self.unpickle_group(&record.pickle)?,
        };
        let message = session.encrypt(json);
        record.pickle = session.pickle().encrypt(&self.pickle_key);
        record.message_count += 1;
        db.save_outbound_group(group, &record)?;
        self.outbound.insert(group.clone(), (record.session_id.clone(), session));
        let envelope = MegolmEnvelope { v: 1, session_id: record.session_id, body: message.to_base64() };
        Ok(serde_json::to_string(&envelope).map(Some).map_err(encode("an envelope"))?)
    }

    fn unpickle_group(&self, pickle: &str) -> Result<GroupSession> {
        Ok(GroupSession::from_pickle(
            vodozemac::megolm::GroupSessionPickle::from_encrypted(pickle, &self.pickle_key)
                .map_err(|_| StoreError::Pickle { what: "group session" })?,
        ))
    }

    /// Store a group key received over Olm from `sender`. Returns the session id when it is
    /// new (or extends what we had to earlier messages), so waiting messages can be retried.
    pub fn receive_room_key(
        &mut self,
        db: &Db<'_>,
        sender: &DeviceRecord,
        group_id: &GroupId,
        session_id: &str,
        session_key: &str,
    ) -> Result<Option<String>> {
        let Ok(key) = SessionKey::from_base64(session_key) else {
            tracing::warn!(sender = %sender.user_id, "a group key was malformed; ignored");
            return Ok(None);
        };
        let session = InboundGroupSession::new(&key, MegolmConfig::version_1());
        if session.session_id() != session_id {
            tracing::warn!(sender = %sender.user_id, "a group key did not match its session id; ignored");
            return Ok(None);
        }
        let record = InboundGroupRecord {
            group_id: group_id.clone(),
            sender_user: sender.user_id.clone(),
            sender_device: sender.device_id.clone(),
            sender_curve: sender.curve25519.clone(),
            pickle: session.pickle().encrypt(&self.pickle_key),
        };
        let stored = db.save_inbound_group(session_id, &record, session.first_known_index(), crate::store::now_ms())?;
        self.inbound.remove(&(session_id.to_owned(), sender.curve25519.clone()));
        Ok(stored.then(|| session_id.to_owned()))
    }

    /// The identity key an Olm ciphertext says it comes from, if it is well-formed. Only a hint
    /// that the sender's keys may have changed: the directory says which keys are current.
    pub fn olm_sender_key(ciphertext: &str) -> Option<String> {
        serde_json::from_str::<OlmEnvelope>(ciphertext).ok().map(|e| e.sender_key)
    }

    /// The Megolm session id a group ciphertext names, if it is well-formed.
    pub fn group_session_id(ciphertext: &str) -> Option<String> {
        serde_json::from_str::<MegolmEnvelope>(ciphertext).ok().map(|e| e.session_id)
    }

    /// Decrypt a group message the server says `sender` sent to `group_id`; `device` is the
    /// sender's pinned record (`None` when the device is not in the directory).
    pub fn decrypt_group(
        &mut self,
        db: &Db<'_>,
        group_id: &GroupId,
        sender: &DeviceAddress,
        device: Option<&DeviceRecord>,
        message_id: &str,
        ciphertext: &str,
    ) -> Result<Result<GroupDecrypted, Undecryptable>> {
        let Ok(envelope) = serde_json::from_str::<MegolmEnvelope>(ciphertext) else {
            return Ok(Err(Undecryptable::Malformed));
        };
        if envelope.v != 1 {
            return Ok(Err(Undecryptable::Malformed));
        }
        let Ok(message) = MegolmMessage::from_base64(&envelope.body) else { return Ok(Err(Undecryptable::Malformed)) };
        // Sessions are looked up under the sending device's pinned identity key: a key another
        // device forwarded under the same session id never stands in for the sender's own.
        let Some(device) = device else {
            return Ok(Err(Undecryptable::UnknownDevice));
        };
        let cache_key = (envelope.session_id.clone(), device.curve25519.clone());
        if !self.inbound.contains_key(&cache_key) {
            let Some(record) = db.inbound_group(&envelope.session_id, &cache_key.1)? else {
                return Ok(Err(Undecryptable::MissingRoomKey));
            };
            let session = InboundGroupSession::from_pickle(
                vodozemac::megolm::InboundGroupSessionPickle::from_encrypted(&record.pickle, &self.pickle_key)
                    .map_err(|_| StoreError::Pickle { what: "group key" })?,
            );
            self.inbound.insert(cache_key.clone(), (session, record));
        }
        let Some((session, record)) = self.inbound.get_mut(&cache_key) else {
            return Ok(Err(Undecryptable::MissingRoomKey));
        };
        // The session's owner must be the device the server says sent it, in this group.
        if record.sender_user != sender.user_id
            || record.sender_device != sender.device_id
            || &record.group_id != group_id
        {
            return Ok(Err(Undecryptable::SenderMismatch));
        }
        let decrypted = match session.decrypt(&message) {
            Ok(d) => d,
            Err(vodozemac::megolm::DecryptionError::UnknownMessageIndex(..)) => {
                return Ok(Err(Undecryptable::BeforeKey));
            }
            Err(_) => return Ok(Err(Undecryptable::Tampered)),
        };
        let plain = Zeroizing::new(decrypted.plaintext);
        let Ok(parsed) = serde_json::from_slice::<GroupPlaintext>(&plain) else {
            return Ok(Err(Undecryptable::Malformed));
        };
        if parsed.v != PAYLOAD_VERSION || &parsed.group_id != group_id || &parsed.sender != sender {
            return Ok(Err(Undecryptable::SenderMismatch));
        }
        let duplicate = match db.check_megolm_index(&envelope.session_id, decrypted.message_index, message_id)? {
            None => false,
            Some(seen) if seen == message_id => true,
            Some(_) => return Ok(Err(Undecryptable::Replayed)),
        };
        Ok(Ok(GroupDecrypted { plaintext: parsed, session_id: envelope.session_id, duplicate }))
    }
}

fn unpickle_account(pickle: &str, pickle_key: &[u8; 32]) -> Result<Account> {
    Ok(Account::from_pickle(
        AccountPickle::from_encrypted(pickle, pickle_key).map_err(|_| StoreError::Pickle { what: "device account" })?,
    ))
}

/// The identity keys of `account` as device `own`, signed by the account.
fn sign_device_keys(own: &DeviceAddress, account: &Account) -> DeviceKeys {
    let mut keys = DeviceKeys {
        user_id: own.user_id.clone(),
        device_id: own.device_id.clone(),
        curve25519: account.curve25519_key().to_base64(),
        ed25519: account.ed25519_key().to_base64(),
        signature: String::new(),
    };
    keys.signature = account.sign(keys.signing_bytes()).to_base64();
    keys
}

/// `user/device`: how shared-with lists name a device.
pub fn device_label(d: &DeviceRecord) -> String {
    format!("{}/{}/{}", d.user_id, d.device_id, d.curve25519)
}

/// An Ed25519 public key from its unpadded base64, or `None`. Never vodozemac's
/// `Ed25519PublicKey::from_base64`: in 0.11 it panics on 44 base64 characters without padding
/// (it copies the 33 bytes they decode to into 32), and a key comes from the directory, a group
/// change or a file, where anyone can put any text. The same keys are accepted (43 characters).
pub(crate) fn ed25519_public_key(base64: &str) -> Option<Ed25519PublicKey> {
    let bytes: [u8; 32] = vodozemac::base64_decode(base64).ok()?.try_into().ok()?;
    Ed25519PublicKey::from_slice(&bytes).ok()
}

/// Check an Ed25519 signature (all values unpadded base64).
pub fn verify_signature(ed25519: &str, message: &[u8], signature: &str) -> bool {
    let (Some(key), Ok(signature)) = (ed25519_public_key(ed25519), Ed25519Signature::from_base64(signature)) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

/// Check a directory entry's self-signature.
pub fn verify_device_keys(keys: &DeviceKeys) -> bool {
    Curve25519PublicKey::from_base64(&keys.curve25519).is_ok()
        && verify_signature(&keys.ed25519, &keys.signing_bytes(), &keys.signature)
}

#[cfg(test)]
mod tests;
