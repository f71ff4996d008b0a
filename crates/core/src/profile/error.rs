//! What is wrong with a profile's own files (`profile.json`, `key.wrapped`), its key, or the
//! identity recorded in its database, with the parser's error as the `source`. The engine's
//! [`Error::Profile`](crate::Error::Profile) carries it (code `corrupt`).
//!
//! Invariant: nothing here holds key material. `key.wrapped` holds only a salt, a nonce and a
//! ciphertext, so its parse errors are kept; the keychain's entry is the key itself, so what
//! `keyring` says about it is not (see [`ProfileError::KeychainEntry`]).

use sotto_proto::{ErrorCode, InvalidId};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// `profile.json` does not parse.
    #[error("profile.json is not a Sotto profile")]
    Info(#[source] serde_json::Error),
    /// `key.wrapped` does not parse.
    #[error("key.wrapped is not a Sotto wrapped key")]
    WrappedKey(#[source] serde_json::Error),
    /// `key.wrapped` has a version or a KDF this version does not know.
    #[error("key.wrapped has unknown version {0}")]
    WrappedKeyVersion(u32),
    /// `key.wrapped` asks for more argon2 work than allowed (1 GiB, 10 passes, 8 lanes).
    #[error("key.wrapped asks for an unreasonable work factor")]
    WrappedKeyWork,
    /// A salt, nonce or ciphertext in `key.wrapped` is not base64.
    #[error("key.wrapped is damaged")]
    WrappedKeyEncoding(#[source] base64::DecodeError),
    /// The nonce in `key.wrapped` is not 24 bytes.
    #[error("key.wrapped is damaged")]
    WrappedKeyNonce,
    /// argon2 refuses the parameters in `key.wrapped`.
    #[error("key.wrapped has invalid argon2 parameters")]
    WrappedKeyParams(#[source] argon2::Error),
    /// argon2 refuses the salt in `key.wrapped`.
    #[error("key.wrapped has an invalid salt")]
    WrappedKeySalt(#[source] argon2::Error),
    /// The key read from the keychain or unwrapped is not 32 bytes.
    #[error("the stored profile key has the wrong length")]
    KeyLength,
    /// The keychain entry is not text of a key. `keyring`'s error is deliberately not kept:
    /// `BadEncoding` carries the entry's bytes, which are the key. (The other keychain errors
    /// are [`Error::KeychainUnavailable`](crate::Error::KeychainUnavailable) with a short reason
    /// for the same reason.)
    #[error("the keychain entry for this profile is not a Sotto key")]
    KeychainEntry,
    /// A row of the profile's identity (server, user id, device id) is missing from its database.
    #[error("the profile has no {0}")]
    MissingMeta(&'static str),
    /// The profile's trusted server certificate is not a fingerprint.
    #[error("the profile's trusted server certificate is not a fingerprint")]
    ServerCertificate,
    /// The profile's recorded user or device id is not one.
    #[error("the profile's {what} is not valid")]
    Identity {
        what: &'static str,
        #[source]
        source: InvalidId,
    },
}

impl ProfileError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Corrupt
    }
}
