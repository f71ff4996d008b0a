//! Sotto client engine: everything the desktop app and the `sotto` CLI do, without a window.
//!
//! - [`profile`]: the profile directory and its key (OS keychain, or a passphrase).
//! - `store`: the SQLCipher database: crypto state, history with full-text search, outbox.
//! - `crypto`: the device's Olm account, Olm sessions and Megolm group sessions (vodozemac).
//! - [`backup`]: the passphrase-encrypted backup file (age, JSON Lines inside).
//! - [`key_backup`]: group session keys backed up to the server under a recovery key.
//! - [`Client`]: the public handle: accounts, directory and trust, sending, receiving, groups.
//! - [`export`]: readable copies of conversations (HTML or JSON) for people to keep.
//! - [`ConversationId`]: which conversation (`u:<user id>` or `g:<group id>`).
//! - [`server_url`]: a server address as people type it, normalized and checked.
//!
//! Invariants: no plaintext or key reaches the disk outside the SQLCipher database and the
//! keychain; no secret appears in logs or `Debug` output; a locked keychain is an error, never a
//! reason to delete or re-create a profile.

pub mod api;
pub mod attachment;
pub mod backup;
mod client;
mod conversation_id;
pub(crate) mod crypto;
mod error;
pub mod events;
pub mod export;
/// The engine's decoding of what arrives from the server and from files, driven without a
/// server, for the fuzz targets (`crates/fuzz`). Only with the `fuzzing` feature. Not an API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod key_backup;
pub mod network;
pub mod preview;
pub mod profile;
pub mod progress;
pub mod server_url;
pub(crate) mod store;
pub mod tls;

pub use backup::{BackupError, BackupSummary};
pub use client::{
    AvatarChange, CertificateProblem, Client, DEFAULT_AUTO_DOWNLOAD_BYTES, DeviceSummary, KeyBackupKind,
    KeyBackupRestore, KeyBackupStatus, KeyReset, ProfileChange, RecoverySecret, Restore, SignIn, SyncSummary, Transfer,
    UploadedFile, Verification, VerificationState, VerificationView,
};
pub use conversation_id::ConversationId;
pub use crypto::CryptoError;
pub use crypto::Undecryptable;
pub use crypto::sas::{SasEmoji, ShortAuthString};
pub use error::{Error, Result};
pub use events::{ClientEvent, ConnectionState, GroupWarning, KeyChange};
pub use export::{ExportFormat, ExportScope, ExportSummary};
pub use network::{NetworkError, ProtocolError};
pub use profile::{KeyOptions, ProfileError};
pub use progress::Progress;
pub use server_url::ServerUrl;
pub use sotto_proto::ErrorCode;
pub use store::{
    ContactProfile, Conversation, ConversationKind, DbColumn, FileInfo, FileState, ImageInfo, LocalGroup, Message,
    MessageKind, MessageReason, MessageStatus, Quote, Reaction, Receipts, SearchHit, StoreError,
};
pub use tls::{Fingerprint, ServerTrust};

/// The storage layer opened directly, for `sotto-bench`: the SQLCipher store with the real
/// schema, its queries, and (through [`Db::conn`](bench::Db::conn)) its raw connection. Not an
/// API: only with the `bench` feature, which nothing but the benchmarks enables.
#[cfg(feature = "bench")]
pub mod bench {
    pub use crate::client::BenchGroupChange;
    pub use crate::crypto::profile_key::new_profile_key;
    pub use crate::store::{Db, MESSAGE_COLUMN_COUNT, NewMessage, OpenMode, SEARCH_SQL, Store, fts_query};
}
