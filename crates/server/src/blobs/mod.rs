//! The blob store: opaque, client-encrypted attachments, uploaded in parts and downloaded by range.
//!
//! Clients encrypt each file themselves (a streaming AEAD under a fresh key carried inside the
//! end-to-end message) and upload only ciphertext: the server sees blob ids, sizes, who uploaded
//! a blob and who may fetch it, never content.
//!
//! Rules every [`BlobStore`] keeps (the handlers in [`crate::api::blobs`] add who may call what):
//! - a blob id is random (128 bits), never derived from the content;
//! - a blob, its bytes and its metadata are visible only to its uploader and the recipients named
//!   at creation (by account); to anyone else it does not exist (`not_found`, never `forbidden`);
//! - a blob larger than [`BlobRules::max_blob_bytes`] is refused at creation (`blob_too_large`),
//!   and so is one that would take the uploader's blobs, complete or in progress, past
//!   [`BlobRules::quota_bytes`] (`quota_exceeded`); the quota counts declared sizes, reserved at
//!   creation;
//! - a part starts at the committed offset; its bytes are written and synced before the offset
//!   advances, so a server killed mid-part resumes at the last committed offset; a part that fails
//!   (a full disk: `insufficient_storage`, a broken body) leaves the committed offset unchanged;
//! - one part (or completion, or deletion) of a blob runs at a time; another gets `conflict`;
//! - only a complete blob can be downloaded (`upload_incomplete` before);
//! - an upload not completed within [`BlobRules::upload_window`] of its creation, and a complete
//!   blob [`BlobRules::retention`] after its completion, is deleted by housekeeping
//!   ([`BlobStore::expire`]), its bytes with it.
//!
//! [`indexed::IndexedBlobStore`] keeps these rules over the [`crate::store::BlobIndex`] and a
//! [`indexed::ByteStore`]: [`fs::FsBytes`] keeps the bytes in files under the data directory,
//! [`s3::S3Bytes`] as objects in an S3-compatible bucket.

pub mod fs;
pub mod indexed;
pub mod s3;

use std::io;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use futures_util::Stream;
use sotto_proto::{BlobId, BlobUpload, UserId};
use tokio::io::AsyncRead;

use crate::store::{BlobRecord, StoreError};

/// Default `--max-blob-bytes`: 100 MiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 100 * 1024 * 1024;
/// Default `--blob-quota-bytes`: 2 GiB.
pub const DEFAULT_BLOB_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Default `--blob-retention-days`.
pub const DEFAULT_BLOB_RETENTION_DAYS: u64 = 30;
/// How long an upload may stay incomplete.
pub const DEFAULT_UPLOAD_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The limits and lifetimes of blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRules {
    /// The largest blob.
    pub max_blob_bytes: u64,
    /// What one account's blobs (complete or in progress) may take together.
    pub quota_bytes: u64,
    /// How long after creation an incomplete upload is dropped.
    pub upload_window: Duration,
    /// How long after completion a blob is deleted.
    pub retention: Duration,
}

impl Default for BlobRules {
    fn default() -> Self {
        BlobRules {
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            quota_bytes: DEFAULT_BLOB_QUOTA_BYTES,
            upload_window: DEFAULT_UPLOAD_WINDOW,
            retention: Duration::from_secs(DEFAULT_BLOB_RETENTION_DAYS * 24 * 3600),
        }
    }
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No such blob, or not one the caller may see.
    #[error("no such blob")]
    NotFound,
    /// The declared size is over the per-file limit.
    #[error("blob of {size} bytes is over the limit of {max}")]
    TooLarge { size: u64, max: u64 },
    /// The uploader's blobs would pass the quota.
    #[error("quota exceeded: {used} bytes used of {quota}, {size} more asked")]
    QuotaExceeded { used: u64, size: u64, quota: u64 },
    /// The blob is not fully uploaded (or not completed yet).
    #[error("upload incomplete: {committed} of {size} bytes")]
    Incomplete { committed: u64, size: u64 },
    /// A part does not start at the committed offset.
    #[error("part at {offset}, but the committed offset is {committed}")]
    WrongOffset { offset: u64, committed: u64 },
    /// A part would end past the blob's declared size.
    #[error("part of {len} bytes at {offset} ends past the blob's size {size}")]
    PastEnd { offset: u64, len: u64, size: u64 },
    /// The body had another length than the request declared, or broke off.
    #[error("the part's body has {got} bytes where {expected} were declared")]
    BodyLength { expected: u64, got: u64 },
    /// Another part, completion or deletion of this blob is running.
    #[error("another request is writing this blob")]
    Busy,
    /// The disk is full.
    #[error("no space left for blobs")]
    StorageFull,
    /// The byte store failed.
    #[error("blob I/O error: {0}")]
    Io(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<io::Error> for BlobError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
            BlobError::StorageFull
        } else {
            BlobError::Io(e.to_string())
        }
    }
}

pub type BlobResult<T> = Result<T, BlobError>;

/// The body of a part, as it arrives.
pub type PartBody = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;
/// A range of a blob's bytes, read as it is sent.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Where `record`'s upload stands, as the API answers it.
pub fn upload_state(record: &BlobRecord) -> BlobUpload {
    BlobUpload { offset: record.committed, size: record.size, complete: record.complete }
}

/// The bytes and metadata of blobs. See the module documentation for the rules.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Reserves a new, empty blob of `size` bytes that `uploader` and `readers` may read.
    async fn create(&self, uploader: &UserId, size: u64, readers: &[UserId], now_ms: u64) -> BlobResult<BlobRecord>;
    /// The blob's metadata, if `reader` may see it ([`BlobError::NotFound`] otherwise).
    async fn info(&self, blob: &BlobId, reader: &UserId) -> BlobResult<BlobRecord>;
    /// Appends a part of `len` bytes read from `body` at `offset`, which must be the committed
    /// offset. A part that lies entirely below the committed offset (a retry whose answer was
    /// lost) writes nothing and answers the current state. What of `body` is not read is left to
    /// the caller.
    async fn append(&self, blob: &BlobId, offset: u64, len: u64, body: &mut PartBody) -> BlobResult<BlobRecord>;
    /// Makes a fully uploaded blob downloadable; a complete one is answered as it is.
    async fn complete(&self, blob: &BlobId, now_ms: u64) -> BlobResult<BlobRecord>;
    /// `len` bytes of a complete blob from `start` (the caller checked the range).
    async fn open_range(&self, blob: &BlobId, start: u64, len: u64) -> BlobResult<BlobReader>;
    /// Deletes the blob and its bytes; returns whether it existed.
    async fn delete(&self, blob: &BlobId) -> BlobResult<bool>;
    /// Deletes every blob past its upload window or retention; returns how many.
    async fn expire(&self, now_ms: u64) -> BlobResult<u64>;
}
