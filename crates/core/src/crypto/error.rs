//! Why encrypting, signing or deriving a key failed, keeping the library's error as the `source`.
//! The engine's [`Error::Crypto`](crate::Error::Crypto) carries it (code `crypto`). Nothing here
//! holds key material or plaintext: only what failed, and for whom.

use sotto_proto::{InvalidId, UserId};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The operating system gave no randomness.
    #[error("the system has no randomness to give")]
    Randomness(#[source] getrandom::Error),
    /// HKDF refused an output length (a programming error; never expected).
    #[error("deriving a key failed")]
    KeyDerivation,
    /// The thread deriving a key from a passphrase stopped before it finished.
    #[error("deriving a key from the passphrase stopped")]
    KeyDerivationStopped(#[source] tokio::task::JoinError),
    /// Authenticated encryption of something local (the wrapped profile key, the key backup) failed.
    #[error("encrypting {0} failed")]
    Seal(&'static str),
    /// The passphrase encryption of a backup file could not be set up.
    #[error("the backup file's encryption could not be set up")]
    BackupFile(#[source] age::EncryptError),
    /// A key the directory handed out is not signed by the device it is said to be of.
    #[error("a key for a device of {0} has a bad signature")]
    BadSignature(UserId),
    /// A key in the directory is not a valid key.
    #[error("a directory {what} key of {user} is malformed")]
    MalformedKey {
        what: &'static str,
        user: UserId,
        #[source]
        source: vodozemac::KeyError,
    },
    /// vodozemac could not start an Olm session from the claimed keys.
    #[error("an encrypted channel with a device of {user} could not be started")]
    SessionCreation {
        user: UserId,
        #[source]
        source: vodozemac::olm::SessionCreationError,
    },
    /// There is no Olm session to send over (one must be started first).
    #[error("no encrypted channel with a device of {0}")]
    NoSession(UserId),
    /// The Olm session refused to encrypt.
    #[error("encrypting for a device of {user} failed")]
    Encrypt {
        user: UserId,
        #[source]
        source: vodozemac::olm::EncryptionError,
    },
    /// A plaintext envelope, a ciphertext envelope or a stored request could not be encoded.
    #[error("encoding {what} failed")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A group send found no outbound Megolm session after preparing one.
    #[error("the group has no outbound session")]
    NoGroupSession,
    /// An id this device generated is not valid (a programming error; never expected).
    #[error("a generated id is not valid")]
    GeneratedId(#[source] InvalidId),
    /// A stored or received private cross-signing key is not a valid Ed25519 key.
    #[error("a cross-signing key is not a valid key")]
    CrossSigningKey(#[source] vodozemac::KeyError),
    /// Identity keys another device sent are not those of the identity pinned for the user.
    #[error("the identity keys received are not the user's identity")]
    CrossSigningMismatch,
    /// An Olm session with the same id is already stored.
    #[error("an encrypted channel with this id exists already")]
    DuplicateSession,
}

impl From<getrandom::Error> for CryptoError {
    fn from(e: getrandom::Error) -> Self {
        CryptoError::Randomness(e)
    }
}
