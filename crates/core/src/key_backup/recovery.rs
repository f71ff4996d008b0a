//! The recovery key: 32 bytes that open the key backup. Either random, shown to the user once as
//! text, or derived from a passphrase with argon2id (salt and work factor in the backup's header).
//!
//! The text is base58 of `"SK" ‖ key ‖ check`, where `check` is the first two bytes of a SHA-256
//! over the rest, grouped in fours: a mistyped or truncated key is caught before anything is
//! tried, with a typed error.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::crypto::CryptoError;
use crate::store::StoreError;
use crate::{Error, Result};

const PREFIX: [u8; 2] = *b"SK";
const CHECK_BYTES: usize = 2;
const KEY_BYTES: usize = 32;
const TEXT_BYTES: usize = PREFIX.len() + KEY_BYTES + CHECK_BYTES;

/// argon2id work factor for new passphrase backups: 64 MiB, 3 passes (as for profile passphrases).
const ARGON2_M_KIB: u32 = 64 * 1024;
const ARGON2_T: u32 = 3;
const ARGON2_P: u32 = 1;
/// The most a backup's header may ask for (a hostile server cannot make a restore spin for
/// minutes or allocate gigabytes).
const MAX_M_KIB: u32 = 1024 * 1024;
const MAX_T: u32 = 10;
const MAX_P: u32 = 8;
/// Shortest passphrase accepted for a new backup, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// The 32-byte recovery key. No `Debug`, `Clone` or `Serialize`; zeroed on drop.
pub struct RecoveryKey(Zeroizing<[u8; KEY_BYTES]>);

/// How the passphrase becomes the recovery key (stored in the backup's header; not secret).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Argon2Params {
    /// Unpadded standard base64 of 16 random bytes.
    pub salt: String,
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Argon2Params {
    /// New parameters with a fresh salt.
    pub(crate) fn generate() -> Result<Self> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(CryptoError::from)?;
        Ok(Self { salt: vodozemac::base64_encode(salt), m_kib: ARGON2_M_KIB, t: ARGON2_T, p: ARGON2_P })
    }
}

impl RecoveryKey {
    pub(crate) fn generate() -> Result<Self> {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::fill(key.as_mut()).map_err(CryptoError::from)?;
        Ok(Self(key))
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| StoreError::malformed("meta", "key_backup_key"))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    /// The key derived from `passphrase` with the header's parameters. Takes a fraction of a
    /// second and 64 MiB by design: call it off the async threads.
    pub(crate) fn from_passphrase(passphrase: &str, params: &Argon2Params) -> Result<Self> {
        if params.m_kib > MAX_M_KIB || params.t > MAX_T || params.p > MAX_P {
            return Err(Error::KeyBackupDamaged("it asks for an unreasonable passphrase work factor".into()));
        }
        let salt = vodozemac::base64_decode(&params.salt)
            .map_err(|_| Error::KeyBackupDamaged("its passphrase salt is not valid".into()))?;
        let argon_params = argon2::Params::new(params.m_kib, params.t, params.p, Some(KEY_BYTES))
            .map_err(|_| Error::KeyBackupDamaged("its passphrase parameters are not valid".into()))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
        let mut out = Zeroizing::new([0u8; KEY_BYTES]);
        argon
            .hash_password_into(passphrase.as_bytes(), &salt, out.as_mut())
            .map_err(|_| Error::KeyBackupDamaged("its passphrase salt is not valid".into()))?;
        Ok(Self(out))
    }

    /// The text shown to the user once: eleven or twelve groups of four base58 characters.
    pub(crate) fn to_text(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(TEXT_BYTES));
        raw.extend_from_slice(&PREFIX);
        raw.extend_from_slice(self.0.as_slice());
        let check = checksum(&raw);
        raw.extend_from_slice(&check);
        let encoded = Zeroizing::new(bs58::encode(raw.as_slice()).into_string());
        let mut text = Zeroizing::new(String::with_capacity(encoded.len() + encoded.len() / 4));
        for (i, c) in encoded.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                text.push(' ');
            }
            text.push(c);
        }
        text
    }

    /// Parse the text form; spaces and line breaks anywhere are ignored. A typo, a truncated key
    /// or a text that is not a recovery key is [`Error::RecoveryKeyInvalid`].
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let compact: Zeroizing<String> = Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
        let raw = Zeroizing::new(bs58::decode(compact.as_str()).into_vec().map_err(|_| Error::RecoveryKeyInvalid)?);
        if raw.len() != TEXT_BYTES {
            return Err(Error::RecoveryKeyInvalid);
        }
        let (body, check) = raw.split_at(TEXT_BYTES - CHECK_BYTES);
        if !body.starts_with(&PREFIX) || checksum(body) != check {
            return Err(Error::RecoveryKeyInvalid);
        }
        Self::from_bytes(body.get(PREFIX.len()..).ok_or(Error::RecoveryKeyInvalid)?)
            .map_err(|_| Error::RecoveryKeyInvalid)
    }
}

fn checksum(body: &[u8]) -> [u8; CHECK_BYTES] {
    let digest = sha2::Sha256::new_with_prefix(b"sotto-recovery-key-v1").chain_update(body).finalize();
    let mut out = [0u8; CHECK_BYTES];
    out.copy_from_slice(digest.get(..CHECK_BYTES).unwrap_or(&[0; CHECK_BYTES]));
    out
}
