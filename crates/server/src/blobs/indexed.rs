//! The rules of [`BlobStore`] over any place that keeps bytes: metadata, quota, offsets, one
//! writer per blob and expiry live here, on the [`BlobIndex`]; a [`ByteStore`] only writes a
//! part, seals a complete blob, reads a range and removes a blob's bytes. The file system
//! ([`super::fs`]) and S3-compatible object stores ([`super::s3`]) are the two byte stores.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sotto_proto::{BlobId, UserId};

use super::{BlobError, BlobReader, BlobResult, BlobRules, BlobStore, PartBody};
use crate::store::{BlobIndex, BlobRecord, CreateBlobOutcome};

/// Expired blobs deleted per index query.
const EXPIRE_BATCH: u32 = 100;

/// Where a blob's bytes are kept.
#[async_trait]
pub trait ByteStore: Send + Sync {
    /// Stores exactly `len` bytes of `body` as the part that starts at `committed` (every byte
    /// before it is stored already). Durable when it returns `Ok`; on an error nothing past
    /// `committed` may count (a later part at `committed` replaces whatever was left).
    async fn write_part(&self, blob: &BlobId, committed: u64, len: u64, body: &mut PartBody) -> BlobResult<()>;
    /// All `size` bytes are stored: make them readable as the blob. Repeating it after a crash
    /// between sealing and recording it must succeed.
    async fn seal(&self, blob: &BlobId, size: u64) -> BlobResult<()>;
    /// `len` bytes of a sealed blob from `start` ([`BlobError::NotFound`] if there are none).
    async fn open_range(&self, blob: &BlobId, start: u64, len: u64) -> BlobResult<BlobReader>;
    /// Removes the blob's bytes, sealed or not; nothing to remove is fine.
    async fn remove(&self, blob: &BlobId) -> BlobResult<()>;
}

/// A [`BlobStore`] over a [`ByteStore`] and the [`BlobIndex`].
pub struct IndexedBlobStore<B> {
    bytes: B,
    index: Arc<dyn BlobIndex>,
    rules: BlobRules,
    /// Blobs a request is writing (a part, completion, deletion) right now.
    busy: Mutex<HashSet<BlobId>>,
}

/// Holds a blob in [`IndexedBlobStore::busy`] until dropped.
struct BusyGuard<'a> {
    busy: &'a Mutex<HashSet<BlobId>>,
    blob: BlobId,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.busy.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.blob);
    }
}

impl<B: ByteStore> IndexedBlobStore<B> {
    pub fn new(bytes: B, index: Arc<dyn BlobIndex>, rules: BlobRules) -> Self {
        IndexedBlobStore { bytes, index, rules, busy: Mutex::new(HashSet::new()) }
    }

    fn try_lock(&self, blob: &BlobId) -> BlobResult<BusyGuard<'_>> {
        if self.busy.lock().unwrap_or_else(PoisonError::into_inner).insert(blob.clone()) {
            Ok(BusyGuard { busy: &self.busy, blob: blob.clone() })
        } else {
            Err(BlobError::Busy)
        }
    }

    async fn record(&self, blob: &BlobId) -> BlobResult<BlobRecord> {
        self.index.blob(blob).await?.ok_or(BlobError::NotFound)
    }
}

/// A new random blob id: 128 bits, unpadded base64url (22 characters).
fn new_blob_id() -> BlobResult<BlobId> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| BlobError::Io(format!("random source: {e}")))?;
    BlobId::parse(URL_SAFE_NO_PAD.encode(bytes)).map_err(|e| BlobError::Io(e.to_string()))
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl<B: ByteStore> BlobStore for IndexedBlobStore<B> {
    async fn create(&self, uploader: &UserId, size: u64, readers: &[UserId], now_ms: u64) -> BlobResult<BlobRecord> {
        if size > self.rules.max_blob_bytes {
            return Err(BlobError::TooLarge { size, max: self.rules.max_blob_bytes });
        }
        let record = BlobRecord {
            blob_id: new_blob_id()?,
            uploader: uploader.clone(),
            size,
            committed: 0,
            complete: false,
            created_ms: now_ms,
            completed_ms: None,
            expires_ms: now_ms.saturating_add(millis(self.rules.upload_window)),
        };
        match self.index.create_blob(&record, readers, self.rules.quota_bytes).await? {
            CreateBlobOutcome::Created => Ok(record),
            CreateBlobOutcome::QuotaExceeded { used } => {
                Err(BlobError::QuotaExceeded { used, size, quota: self.rules.quota_bytes })
            }
        }
    }

    async fn info(&self, blob: &BlobId, reader: &UserId) -> BlobResult<BlobRecord> {
        self.index.blob_for(blob, reader).await?.ok_or(BlobError::NotFound)
    }

    async fn append(&self, blob: &BlobId, offset: u64, len: u64, body: &mut PartBody) -> BlobResult<BlobRecord> {
        let _busy = self.try_lock(blob)?;
        let record = self.record(blob).await?;
        let end = offset.checked_add(len).ok_or(BlobError::PastEnd { offset, len, size: record.size })?;
        if offset < record.committed && end <= record.committed {
            // A retry of a part that was committed (its answer was lost): nothing to write.
            return Ok(record);
        }
        if offset != record.committed || record.complete {
            return Err(BlobError::WrongOffset { offset, committed: record.committed });
        }
        if end > record.size {
            return Err(BlobError::PastEnd { offset, len, size: record.size });
        }
        if len == 0 {
            return Ok(record);
        }
        self.bytes.write_part(blob, offset, len, body).await?;
        if !self.index.advance_blob(blob, offset, end).await? {
            // Deleted (or expired) meanwhile: its bytes must not outlive it.
            self.bytes.remove(blob).await?;
            return Err(BlobError::NotFound);
        }
        Ok(BlobRecord { committed: end, ..record })
    }

    async fn complete(&self, blob: &BlobId, now_ms: u64) -> BlobResult<BlobRecord> {
        let _busy = self.try_lock(blob)?;
        let record = self.record(blob).await?;
        if record.complete {
            return Ok(record);
        }
        if record.committed != record.size {
            return Err(BlobError::Incomplete { committed: record.committed, size: record.size });
        }
        self.bytes.seal(blob, record.size).await?;
        let expires_ms = now_ms.saturating_add(millis(self.rules.retention));
        if !self.index.complete_blob(blob, now_ms, expires_ms).await? {
            return Err(BlobError::NotFound);
        }
        Ok(BlobRecord { complete: true, completed_ms: Some(now_ms), expires_ms, ..record })
    }

    async fn open_range(&self, blob: &BlobId, start: u64, len: u64) -> BlobResult<BlobReader> {
        self.bytes.open_range(blob, start, len).await
    }

    async fn delete(&self, blob: &BlobId) -> BlobResult<bool> {
        let _busy = self.try_lock(blob)?;
        // Bytes first: a crash in between leaves the row, and deleting again finishes the job.
        self.bytes.remove(blob).await?;
        Ok(self.index.delete_blob(blob).await?)
    }

    async fn expire(&self, now_ms: u64) -> BlobResult<u64> {
        let mut deleted = 0;
        loop {
            let expired = self.index.expired_blobs(now_ms, EXPIRE_BATCH).await?;
            let batch = expired.len();
            let before = deleted;
            for blob in expired {
                // One being written right now goes at the next sweep.
                let Ok(_busy) = self.try_lock(&blob) else { continue };
                // Completed since it was listed (a new expiry) or already gone: not this time.
                if self.index.blob(&blob).await?.is_none_or(|r| r.expires_ms > now_ms) {
                    continue;
                }
                self.bytes.remove(&blob).await?;
                if self.index.delete_blob(&blob).await? {
                    deleted += 1;
                }
            }
            // A full batch with nothing deleted (all busy): the rest waits for the next sweep.
            if batch < EXPIRE_BATCH as usize || deleted == before {
                return Ok(deleted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_128_random_bits() {
        let a = new_blob_id().unwrap();
        let b = new_blob_id().unwrap();
        assert_eq!(a.as_str().len(), 22);
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(a.as_str()).unwrap().len(), 16);
    }
}
