//! The profile key: 32 random bytes that open the profile's SQLCipher database and, through a
//! derived key, encrypt vodozemac pickles.
//!
//! The key is never written in plain text. It lives in the OS keychain (`keyring`: Secret Service,
//! macOS Keychain, Windows Credential Manager) and, when the user chose a passphrase, also in
//! `key.wrapped`: XChaCha20-Poly1305 under a key derived from the passphrase with argon2id. A
//! keychain that is missing, locked or empty is an error to report, never a reason to replace the
//! key: replacing it would make the database unreadable.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::ProfileError;
use crate::crypto::CryptoError;
use crate::{Error, Result};

const KEYCHAIN_SERVICE: &str = "im.sotto.profile";
const WRAP_AAD: &str = "sotto-profile-key-v1";
/// argon2id work factor for the passphrase: 64 MiB, 3 passes (OWASP's recommendation band).
const ARGON2_M_KIB: u32 = 64 * 1024;
const ARGON2_T: u32 = 3;
const ARGON2_P: u32 = 1;

/// The 32-byte profile key. No `Debug`, `Clone` or `Serialize`; zeroed on drop.
pub struct ProfileKey(Zeroizing<[u8; 32]>);

impl ProfileKey {
    pub(crate) fn generate() -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(CryptoError::from)?;
        Ok(Self(key))
    }

    /// A key from raw bytes, for benchmarks that create (and later reopen) a synthetic database
    /// with `sotto_core::bench::Store::open`. Never used for a real profile.
    #[cfg(any(test, feature = "bench"))]
    pub fn bench_from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| ProfileError::KeyLength)?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// `PRAGMA key` value for SQLCipher: a raw key, so no KDF runs on open.
    pub(crate) fn sqlcipher_key(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("x'{}'", hex::encode(self.0.as_slice())))
    }

    /// The key vodozemac pickles are encrypted with, separate from the database key.
    pub(crate) fn pickle_key(&self) -> Result<Zeroizing<[u8; 32]>> {
        let mut out = Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<sha2::Sha256>::new(None, self.0.as_ref())
            .expand(b"sotto-pickle-key-v1", out.as_mut())
            .map_err(|_| Error::Crypto(CryptoError::KeyDerivation))?;
        Ok(out)
    }

    /// Store the key in the OS keychain under this profile's id.
    pub(crate) fn save_to_keychain(&self, profile_id: &str) -> Result<()> {
        let entry = keychain_entry(profile_id)?;
        entry.set_secret(self.0.as_ref()).map_err(keychain_error)
    }

    pub(crate) fn load_from_keychain(profile_id: &str) -> Result<Self> {
        let entry = keychain_entry(profile_id)?;
        let mut secret = entry.get_secret().map_err(keychain_error)?;
        let key = Self::from_slice(&secret);
        secret.zeroize();
        key
    }

    /// Forget the key in the keychain (after the profile's files are gone).
    pub(crate) fn delete_from_keychain(profile_id: &str) -> Result<()> {
        match keychain_entry(profile_id)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keychain_error(e)),
        }
    }

    /// Wrap the key with a passphrase into `path` (written atomically).
    pub(crate) fn save_wrapped(&self, path: &Path, profile_id: &str, passphrase: &str) -> Result<()> {
        if passphrase.is_empty() {
            return Err(Error::InvalidInput("The passphrase must not be empty.".into()));
        }
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut salt).map_err(CryptoError::from)?;
        getrandom::fill(&mut nonce).map_err(CryptoError::from)?;
        let params = WrapParams { m_kib: ARGON2_M_KIB, t: ARGON2_T, p: ARGON2_P };
        let kek = derive_kek(passphrase, &salt, params)?;
        let aad = format!("{WRAP_AAD}\n{profile_id}");
        let ciphertext = XChaCha20Poly1305::new((&*kek).into())
            .encrypt(&XNonce::from(nonce), Payload { msg: self.0.as_ref(), aad: aad.as_bytes() })
            .map_err(|_| Error::Crypto(CryptoError::Seal("the profile key")))?;
        let file = WrappedKey {
            version: 1,
            kdf: "argon2id".into(),
            params,
            salt: B64.encode(salt),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(Error::encode("key.wrapped"))?;
        crate::profile::write_atomic(path, &json)
    }

    pub(crate) fn load_wrapped(path: &Path, profile_id: &str, passphrase: &str) -> Result<Self> {
        let bytes = std::fs::read(path)?;
        let file: WrappedKey = serde_json::from_slice(&bytes).map_err(ProfileError::WrappedKey)?;
        if file.version != 1 || file.kdf != "argon2id" {
            return Err(ProfileError::WrappedKeyVersion(file.version).into());
        }
        // Bound the work an edited file can ask for (1 GiB, 10 passes).
        if file.params.m_kib > 1024 * 1024 || file.params.t > 10 || file.params.p > 8 {
            return Err(ProfileError::WrappedKeyWork.into());
        }
        let decode = |s: &str| B64.decode(s).map_err(ProfileError::WrappedKeyEncoding);
        let salt = decode(&file.salt)?;
        let nonce = decode(&file.nonce)?;
        let ciphertext = decode(&file.ciphertext)?;
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| ProfileError::WrappedKeyNonce)?;
        let kek = derive_kek(passphrase, &salt, file.params)?;
        let aad = format!("{WRAP_AAD}\n{profile_id}");
        let plain = Zeroizing::new(
            XChaCha20Poly1305::new((&*kek).into())
                .decrypt(&XNonce::from(nonce), Payload { msg: &ciphertext, aad: aad.as_bytes() })
                .map_err(|_| Error::WrongPassphrase)?,
        );
        Self::from_slice(&plain)
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
struct WrapParams {
    m_kib: u32,
    t: u32,
    p: u32,
}

/// `key.wrapped`: the profile key encrypted under an argon2id-derived key.
#[derive(Serialize, Deserialize)]
struct WrappedKey {
    version: u32,
    kdf: String,
    params: WrapParams,
    salt: String,
    nonce: String,
    ciphertext: String,
}

fn derive_kek(passphrase: &str, salt: &[u8], params: WrapParams) -> Result<Zeroizing<[u8; 32]>> {
    let params =
        argon2::Params::new(params.m_kib, params.t, params.p, Some(32)).map_err(ProfileError::WrappedKeyParams)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(passphrase.as_bytes(), salt, out.as_mut()).map_err(ProfileError::WrappedKeySalt)?;
    Ok(out)
}

fn keychain_entry(profile_id: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(KEYCHAIN_SERVICE, profile_id).map_err(keychain_error)
}

/// Keyring errors become short reasons on purpose, never kept as a `source`: some carry the
/// entry's bytes (`BadEncoding`, `BadDataFormat`), which are the profile key, and others platform
/// detail. See [`ProfileError::KeychainEntry`].
fn keychain_error(e: keyring::Error) -> Error {
    match e {
        keyring::Error::NoEntry => Error::KeyMissing,
        keyring::Error::NoStorageAccess(_) => Error::KeychainLocked,
        keyring::Error::NoDefaultStore => Error::KeychainUnavailable("no keychain service is running".into()),
        keyring::Error::PlatformFailure(e) => Error::KeychainUnavailable(e.to_string()),
        keyring::Error::NotSupportedByStore(what) => Error::KeychainUnavailable(what),
        keyring::Error::BadEncoding(_) | keyring::Error::BadDataFormat(..) => ProfileError::KeychainEntry.into(),
        other => Error::KeychainUnavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_key_round_trips_and_rejects_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.wrapped");
        let key = ProfileKey::generate().unwrap();
        key.save_wrapped(&path, "p1", "correct horse").unwrap();
        let back = ProfileKey::load_wrapped(&path, "p1", "correct horse").unwrap();
        assert_eq!(back.0.as_slice(), key.0.as_slice());
        assert!(matches!(ProfileKey::load_wrapped(&path, "p1", "wrong"), Err(Error::WrongPassphrase)));
        // Bound to the profile id: a wrapped key copied to another profile does not open.
        assert!(matches!(ProfileKey::load_wrapped(&path, "p2", "correct horse"), Err(Error::WrongPassphrase)));
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(!raw.contains(&hex::encode(key.0.as_slice())));
    }

    #[test]
    fn a_damaged_wrapped_key_keeps_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.wrapped");
        ProfileKey::generate().unwrap().save_wrapped(&path, "p1", "correct horse").unwrap();
        let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        file["salt"] = "not base64!".into();
        std::fs::write(&path, file.to_string()).unwrap();
        let err = ProfileKey::load_wrapped(&path, "p1", "correct horse").err().unwrap();
        assert_eq!(err.code(), sotto_proto::ErrorCode::Corrupt);
        assert_eq!(err.to_string(), "The profile's data is damaged: key.wrapped is damaged");
        let cause = std::error::Error::source(&err).and_then(std::error::Error::source).unwrap();
        assert!(cause.downcast_ref::<base64::DecodeError>().is_some(), "{cause:?}");

        std::fs::write(&path, "{").unwrap();
        let err = ProfileKey::load_wrapped(&path, "p1", "correct horse").err().unwrap();
        assert!(matches!(err, Error::Profile(ProfileError::WrappedKey(_))), "{err:?}");
        assert_eq!(err.code(), sotto_proto::ErrorCode::Corrupt);
    }

    #[test]
    fn a_keychain_entry_that_is_not_a_key_keeps_no_bytes() {
        let err = keychain_error(keyring::Error::BadEncoding(b"secret key bytes".to_vec()));
        assert_eq!(err.code(), sotto_proto::ErrorCode::Corrupt);
        assert!(std::error::Error::source(&err).and_then(std::error::Error::source).is_none());
        assert!(!format!("{err:?} {err}").contains("115, 101, 99"), "{err:?}");
    }

    #[test]
    fn derived_keys_differ_from_the_profile_key() {
        let key = ProfileKey::generate().unwrap();
        assert_ne!(key.pickle_key().unwrap().as_slice(), key.0.as_slice());
        assert_eq!(key.sqlcipher_key().len(), 2 + 64 + 1);
    }
}
