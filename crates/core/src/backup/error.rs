//! Why a backup file cannot be restored although its passphrase opened it: what is wrong with
//! it, with the cause as the `source` where the cause names no content. The engine's
//! [`Error::Backup`](crate::Error::Backup) carries it (code `backup_damaged`).
//!
//! Invariant: the file's records hold the device's keys in the clear (inside the age
//! encryption), so the JSON and key-decoding errors of a record are never kept: serde_json's
//! message quotes the value it refused. Only the record's number is kept.

use sotto_proto::{ErrorCode, InvalidId};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The age header asks for more scrypt work than [`super::MAX_WORK_FACTOR`].
    #[error("it asks for a passphrase work factor of {required}, more than the {max} Sotto accepts")]
    ExcessiveWork { required: u8, max: u8 },
    /// The age header is not valid (beyond a wrong passphrase or an unreadable file).
    #[error("its encryption header is not valid")]
    Header(#[source] age::DecryptError),
    /// The encrypted stream failed its authentication: cut short or altered.
    #[error("it is cut short or was altered")]
    Stream(#[source] std::io::Error),
    /// The last line has no newline (or is longer than a record can be).
    #[error("it ends in the middle of a record")]
    PartialLine,
    #[error("it is empty")]
    Empty,
    /// The header names a format version below the first one.
    #[error("its format version {0} is not one Sotto ever wrote")]
    UnknownVersion(u32),
    /// The header line is not a valid header (it holds no keys, so its error is kept).
    #[error("its header is not valid")]
    HeaderLine(#[source] serde_json::Error),
    /// The file ends before its trailer line.
    #[error("it is cut short (its last line is missing)")]
    NoTrailer,
    /// Record `number` (1-based) is not a valid record.
    #[error("record {0} is not valid")]
    Record(u64),
    /// The trailer counts another number of records than the file holds.
    #[error("it says {said} records but holds {held}")]
    Count { said: u64, held: u64 },
    #[error("it continues after its last line")]
    AfterTrailer,
    /// Record `number` is refused by the database (a unique or foreign-key constraint).
    #[error("record {number} repeats or contradicts an earlier one")]
    Contradiction {
        number: u64,
        #[source]
        source: rusqlite::Error,
    },
    /// A file's ciphertext is cut short, out of place, or not the one its key describes.
    #[error("a file in it is incomplete or damaged")]
    FileData,
    #[error("it holds two device accounts")]
    TwoAccounts,
    /// The device account record is not a vodozemac account pickle.
    #[error("its device account is not valid")]
    Account,
    /// The cross-signing keys are not keys, or appear twice.
    #[error("its identity keys are not valid")]
    CrossSigning,
    /// A pinned identity is not one (bad user id or signature).
    #[error("a pinned identity is not valid")]
    Identity,
    /// An Olm session record is not a vodozemac session pickle.
    #[error("a session is not valid")]
    Session,
    /// A group key is not an exported Megolm session key.
    #[error("a group key is not valid")]
    GroupKey,
    /// A group key's session id or first index differ from what its record says.
    #[error("a group key does not match its session")]
    GroupKeyMismatch,
    /// The header's device id is not a device id.
    #[error("its device id is not valid")]
    DeviceId(#[source] InvalidId),
}

impl BackupError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::BackupDamaged
    }
}
