//! The key backup blob stored in the server's backup slot (`docs/key-backup.md`): a JSON
//! envelope whose header says how to get the key (a random recovery key, or argon2id over a
//! passphrase) and carries a check value for it, around an XChaCha20-Poly1305 ciphertext of the
//! group session keys. The header and the owner's user id are the AEAD's associated data, so
//! none of them can be swapped without the open failing.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sotto_proto::UserId;
use sotto_proto::limits::MAX_BACKUP_BYTES;
use zeroize::Zeroizing;

use super::recovery::{Argon2Params, RecoveryKey};
use crate::backup::Record;
use crate::crypto::CryptoError;
use crate::{Error, Result};

/// The `format` of the envelope.
pub const FORMAT: &str = "sotto-key-backup";
/// The version of the envelope and its contents this version writes and reads.
pub const VERSION: u32 = 1;
const CHECK_BYTES: usize = 16;

/// How the recovery key is obtained.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Kdf {
    /// 32 random bytes the user was shown once.
    RecoveryKey,
    /// argon2id over the user's passphrase.
    Argon2id(Argon2Params),
}

/// The envelope, as stored in the slot.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    kdf: Kdf,
    /// Derived from the recovery key (HKDF, its own label): tells a wrong key from a damaged blob.
    key_check: String,
    nonce: String,
    ciphertext: String,
}

/// What every version's envelope has: read first, to refuse a newer version with the right error.
#[derive(Deserialize)]
struct EnvelopeStart {
    format: String,
    version: u32,
}

/// The keys derived from a recovery key: one encrypts, one only checks.
pub(crate) struct BackupKey {
    encryption: Zeroizing<[u8; 32]>,
    check: [u8; CHECK_BYTES],
}

impl BackupKey {
    pub(crate) fn derive(recovery: &RecoveryKey) -> Result<Self> {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(None, recovery.as_bytes());
        let mut encryption = Zeroizing::new([0u8; 32]);
        let mut check = [0u8; CHECK_BYTES];
        hkdf.expand(b"sotto-key-backup-v1 encryption", encryption.as_mut())
            .and_then(|()| hkdf.expand(b"sotto-key-backup-v1 check", &mut check))
            .map_err(|_| Error::Crypto(CryptoError::KeyDerivation))?;
        Ok(Self { encryption, check })
    }
}

/// The decrypted contents: Megolm session keys in exported form, as the backup file's
/// `inbound_group_session` records, one per (session id, sender identity key); and the user's
/// private cross-signing keys (a `cross_signing` record), so the recovery key also confirms a
/// new device.
#[derive(Default)]
pub(crate) struct Contents {
    sessions: BTreeMap<(String, String), Record>,
    cross_signing: Option<Record>,
    /// `group_name_key` records, by group id.
    name_keys: BTreeMap<String, Record>,
}

#[derive(Serialize, Deserialize)]
struct ContentsWire {
    sessions: Vec<Record>,
    /// Absent in backups from before identities.
    #[serde(default)]
    cross_signing: Option<Record>,
    /// Absent in backups from before sealed group names.
    #[serde(default)]
    name_keys: Vec<Record>,
}

impl Contents {
    /// Adds sessions, keeping for each the copy that reaches further back (lower first index).
    /// Returns how many were new or reach further back than the copy already held.
    pub(crate) fn merge(&mut self, records: impl IntoIterator<Item = Record>) -> usize {
        let mut changed = 0;
        for record in records {
            let Record::InboundGroupSession { session_id, sender_curve, first_index, .. } = &record else { continue };
            let key = (session_id.clone(), sender_curve.clone());
            let better = match self.sessions.get(&key) {
                Some(Record::InboundGroupSession { first_index: held, .. }) => first_index < held,
                _ => true,
            };
            if better {
                self.sessions.insert(key, record);
                changed += 1;
            }
        }
        changed
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    /// The user's private cross-signing keys, if the backup holds them.
    pub(crate) fn cross_signing(&self) -> Option<&Record> {
        self.cross_signing.as_ref()
    }

    /// Keep `record` (a `cross_signing` record) as the user's cross-signing keys. Returns
    /// whether that changed anything.
    pub(crate) fn set_cross_signing(&mut self, record: Record) -> bool {
        let same = match (&self.cross_signing, &record) {
            (Some(Record::CrossSigning { master: a, .. }), Record::CrossSigning { master: b, .. }) => a == b,
            _ => false,
        };
        self.cross_signing = Some(record);
        !same
    }

    /// Keep these `group_name_key` records (a group's key replaces the one held). Returns how
    /// many were new or different.
    pub(crate) fn set_name_keys(&mut self, records: impl IntoIterator<Item = Record>) -> usize {
        let mut changed = 0;
        for record in records {
            let Record::GroupNameKey { group_id, key } = &record else { continue };
            let same =
                matches!(self.name_keys.get(group_id), Some(Record::GroupNameKey { key: held, .. }) if held == key);
            if !same {
                self.name_keys.insert(group_id.clone(), record);
                changed += 1;
            }
        }
        changed
    }

    /// The groups' name keys held (`group_name_key` records).
    pub(crate) fn name_keys(&self) -> impl Iterator<Item = &Record> {
        self.name_keys.values()
    }

    pub(crate) fn into_records(self) -> impl Iterator<Item = Record> {
        self.sessions.into_values()
    }
}

/// The header of a stored blob: how to get its key. Checks the format and version first.
pub(crate) fn read_kdf(blob: &str) -> Result<Kdf> {
    let start: EnvelopeStart =
        serde_json::from_str(blob).map_err(|_| Error::KeyBackupDamaged("it is not a Sotto key backup".into()))?;
    if start.format != FORMAT {
        return Err(Error::KeyBackupDamaged("it is not a Sotto key backup".into()));
    }
    if start.version > VERSION {
        return Err(Error::KeyBackupTooNew { found: start.version, known: VERSION });
    }
    let envelope: Envelope =
        serde_json::from_str(blob).map_err(|_| Error::KeyBackupDamaged("its header is not valid".into()))?;
    Ok(envelope.kdf)
}

fn associated_data(user: &UserId, kdf: &Kdf, key_check: &str) -> Result<String> {
    let kdf = serde_json::to_string(kdf).map_err(Error::encode("the key backup settings"))?;
    Ok(format!("{FORMAT}\n{VERSION}\n{user}\n{kdf}\n{key_check}"))
}

/// Encrypt `contents` for `user`'s backup slot. [`Error::KeyBackupTooLarge`] when the result would
/// not fit in the slot.
pub(crate) fn seal(key: &BackupKey, kdf: &Kdf, user: &UserId, contents: &Contents) -> Result<String> {
    let wire = ContentsWireRef {
        sessions: contents.sessions.values().collect(),
        cross_signing: contents.cross_signing.as_ref(),
        name_keys: contents.name_keys.values().collect(),
    };
    let plain = Zeroizing::new(serde_json::to_vec(&wire).map_err(Error::encode("the key backup"))?);
    let blob = seal_plaintext(key, kdf, user, &plain)?;
    if blob.len() > MAX_BACKUP_BYTES {
        return Err(Error::KeyBackupTooLarge { bytes: blob.len() as u64, sessions: contents.len() as u64 });
    }
    Ok(blob)
}

/// The envelope around `plain` (the contents' JSON), encrypted for `user`.
pub(crate) fn seal_plaintext(key: &BackupKey, kdf: &Kdf, user: &UserId, plain: &[u8]) -> Result<String> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(CryptoError::from)?;
    let key_check = vodozemac::base64_encode(key.check);
    let aad = associated_data(user, kdf, &key_check)?;
    let ciphertext = XChaCha20Poly1305::new((&*key.encryption).into())
        .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad: aad.as_bytes() })
        .map_err(|_| Error::Crypto(CryptoError::Seal("the key backup")))?;
    let envelope = Envelope {
        format: FORMAT.into(),
        version: VERSION,
        kdf: kdf.clone(),
        key_check,
        nonce: vodozemac::base64_encode(nonce),
        ciphertext: vodozemac::base64_encode(ciphertext),
    };
    serde_json::to_string(&envelope).map_err(Error::encode("the key backup"))
}

#[derive(Serialize)]
struct ContentsWireRef<'a> {
    sessions: Vec<&'a Record>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cross_signing: Option<&'a Record>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    name_keys: Vec<&'a Record>,
}

/// Decrypt `user`'s blob. A key that is not the backup's is [`Error::WrongRecoveryKey`]; a blob
/// that fails to decrypt with the right key is [`Error::KeyBackupDamaged`].
pub(crate) fn open(key: &BackupKey, user: &UserId, blob: &str) -> Result<Contents> {
    read_kdf(blob)?;
    let envelope: Envelope =
        serde_json::from_str(blob).map_err(|_| Error::KeyBackupDamaged("its header is not valid".into()))?;
    let check = vodozemac::base64_decode(&envelope.key_check)
        .map_err(|_| Error::KeyBackupDamaged("its key check is not valid".into()))?;
    if check.as_slice() != key.check.as_slice() {
        return Err(Error::WrongRecoveryKey);
    }
    let damaged = |what: &str| Error::KeyBackupDamaged(what.into());
    let nonce: [u8; 24] = vodozemac::base64_decode(&envelope.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| damaged("its nonce is not valid"))?;
    let ciphertext =
        vodozemac::base64_decode(&envelope.ciphertext).map_err(|_| damaged("its ciphertext is not base64"))?;
    let aad = associated_data(user, &envelope.kdf, &envelope.key_check)?;
    let plain = Zeroizing::new(
        XChaCha20Poly1305::new((&*key.encryption).into())
            .decrypt(&XNonce::from(nonce), Payload { msg: &ciphertext, aad: aad.as_bytes() })
            .map_err(|_| damaged("it was altered, or belongs to another account"))?,
    );
    let wire: ContentsWire =
        serde_json::from_slice(&plain).map_err(|_| damaged("its contents are not valid inside"))?;
    let mut contents = Contents::default();
    contents.merge(wire.sessions);
    if let Some(record @ Record::CrossSigning { .. }) = wire.cross_signing {
        contents.cross_signing = Some(record);
    }
    contents.set_name_keys(wire.name_keys);
    Ok(contents)
}
