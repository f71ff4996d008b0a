//! Blobs as files under the data directory: `blobs/incoming/<id>` while the upload runs,
//! `blobs/<id>` once complete (moved there by an atomic rename). The directories are 0700 and
//! the files 0600, like the rest of the data directory (see `crate::private`). Metadata is in the
//! [`BlobIndex`]; a file's length beyond the committed offset (a part a killed server did not
//! finish) is cut off before the next part is written.

use std::collections::HashSet;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt as _;
use sotto_proto::{BlobId, UserId};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use super::{BlobError, BlobReader, BlobResult, BlobRules, BlobStore, PartBody};
use crate::store::{BlobIndex, BlobRecord, CreateBlobOutcome};

/// The folder under the data directory.
pub const BLOB_DIR: &str = "blobs";
/// The folder of uploads in progress, under [`BLOB_DIR`].
pub const INCOMING_DIR: &str = "incoming";
/// Expired blobs deleted per index query.
const EXPIRE_BATCH: u32 = 100;

/// The file-system blob store.
pub struct FsBlobStore {
    dir: PathBuf,
    incoming: PathBuf,
    index: Arc<dyn BlobIndex>,
    rules: BlobRules,
    /// Blobs a request is writing (a part, completion, deletion) right now.
    busy: Mutex<HashSet<BlobId>>,
}

/// Holds a blob in [`FsBlobStore::busy`] until dropped.
struct BusyGuard<'a> {
    store: &'a FsBlobStore,
    blob: BlobId,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.store.busy.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.blob);
    }
}

impl FsBlobStore {
    /// Opens (creating them owner-only) `data_dir/blobs` and its `incoming` folder, and tightens
    /// blob files an earlier run or an operator left readable to others (one `stat` per file).
    pub fn open(data_dir: &Path, index: Arc<dyn BlobIndex>, rules: BlobRules) -> std::io::Result<FsBlobStore> {
        let dir = data_dir.join(BLOB_DIR);
        let incoming = dir.join(INCOMING_DIR);
        crate::private::create_dir(&dir)?;
        crate::private::create_dir(&incoming)?;
        for folder in [&dir, &incoming] {
            for entry in std::fs::read_dir(folder)? {
                let entry = entry?;
                if entry.file_type()?.is_file() {
                    crate::private::tighten_file(&entry.path())?;
                }
            }
        }
        Ok(FsBlobStore { dir, incoming, index, rules, busy: Mutex::new(HashSet::new()) })
    }

    fn try_lock(&self, blob: &BlobId) -> BlobResult<BusyGuard<'_>> {
        if self.busy.lock().unwrap_or_else(PoisonError::into_inner).insert(blob.clone()) {
            Ok(BusyGuard { store: self, blob: blob.clone() })
        } else {
            Err(BlobError::Busy)
        }
    }

    fn incoming_path(&self, blob: &BlobId) -> PathBuf {
        self.incoming.join(blob.as_str())
    }

    fn final_path(&self, blob: &BlobId) -> PathBuf {
        self.dir.join(blob.as_str())
    }

    async fn record(&self, blob: &BlobId) -> BlobResult<BlobRecord> {
        self.index.blob(blob).await?.ok_or(BlobError::NotFound)
    }

    /// Writes `len` bytes of `body` at `committed` into the incoming file and syncs them; on any
    /// failure the file is cut back to `committed`.
    async fn write_part(&self, blob: &BlobId, committed: u64, len: u64, body: &mut PartBody) -> BlobResult<()> {
        let path = self.incoming_path(blob);
        let mut file = open_private(&path).await?;
        let on_disk = file.metadata().await?.len();
        if on_disk < committed {
            return Err(BlobError::Io(format!("blob file holds {on_disk} bytes, {committed} are committed")));
        }
        // Bytes past the committed offset are a part that was never acknowledged.
        if on_disk > committed {
            file.set_len(committed).await?;
        }
        file.seek(SeekFrom::Start(committed)).await?;
        let written = write_body(&mut file, len, body).await;
        let synced = match written {
            Ok(()) => file.sync_data().await.map_err(BlobError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = synced {
            if let Err(cut) = file.set_len(committed).await {
                tracing::warn!(error = %cut, "cannot cut a failed part off a blob file");
            }
            return Err(e);
        }
        Ok(())
    }

    async fn remove_files(&self, blob: &BlobId) -> BlobResult<()> {
        for path in [self.incoming_path(blob), self.final_path(blob)] {
            match tokio::fs::remove_file(&path).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Copies exactly `len` bytes from `body` into `file`.
async fn write_body(file: &mut tokio::fs::File, len: u64, body: &mut PartBody) -> BlobResult<()> {
    let mut got: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| BlobError::BodyLength { expected: len, got })?;
        got = got.saturating_add(chunk.len() as u64);
        if got > len {
            return Err(BlobError::BodyLength { expected: len, got });
        }
        file.write_all(&chunk).await?;
    }
    if got != len {
        return Err(BlobError::BodyLength { expected: len, got });
    }
    file.flush().await?;
    Ok(())
}

/// Opens `path` for writing, creating it owner-only if missing.
async fn open_private(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

/// Flushes a directory entry change (a rename, a create) to disk.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    tokio::fs::File::open(dir).await?.sync_all().await?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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
impl BlobStore for FsBlobStore {
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
        self.write_part(blob, offset, len, body).await?;
        if !self.index.advance_blob(blob, offset, end).await? {
            // Deleted (or expired) meanwhile: its file must not outlive it.
            self.remove_files(blob).await?;
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
        let (incoming, done) = (self.incoming_path(blob), self.final_path(blob));
        if record.size == 0 {
            open_private(&incoming).await?.sync_all().await?;
        }
        match tokio::fs::rename(&incoming, &done).await {
            Ok(()) => {}
            // Moved by an earlier completion that stopped before it was recorded.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tokio::fs::try_exists(&done).await? => {}
            Err(e) => return Err(e.into()),
        }
        sync_dir(&self.dir).await?;
        sync_dir(&self.incoming).await?;
        let expires_ms = now_ms.saturating_add(millis(self.rules.retention));
        if !self.index.complete_blob(blob, now_ms, expires_ms).await? {
            return Err(BlobError::NotFound);
        }
        Ok(BlobRecord { complete: true, completed_ms: Some(now_ms), expires_ms, ..record })
    }

    async fn open_range(&self, blob: &BlobId, start: u64, len: u64) -> BlobResult<BlobReader> {
        let mut file = match tokio::fs::File::open(self.final_path(blob)).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            other => other?,
        };
        file.seek(SeekFrom::Start(start)).await?;
        Ok(Box::pin(file.take(len)))
    }

    async fn delete(&self, blob: &BlobId) -> BlobResult<bool> {
        let _busy = self.try_lock(blob)?;
        // Files first: a crash in between leaves the row, and deleting again finishes the job.
        self.remove_files(blob).await?;
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
                self.remove_files(&blob).await?;
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

    /// A full disk is `StorageFull` (507), whatever the platform calls the error.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_full_disk_is_storage_full() {
        let mut full = tokio::fs::OpenOptions::new().write(true).open("/dev/full").await.unwrap();
        let mut body: PartBody =
            Box::pin(futures_util::stream::iter([Ok(axum::body::Bytes::from(vec![7u8; 1 << 16]))]));
        let err = write_body(&mut full, 1 << 16, &mut body).await.unwrap_err();
        assert!(matches!(err, BlobError::StorageFull), "{err:?}");
    }

    #[tokio::test]
    async fn a_body_longer_or_shorter_than_declared_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = tokio::fs::File::create(dir.path().join("f")).await.unwrap();
        let body = |n: usize| -> PartBody {
            Box::pin(futures_util::stream::iter([Ok(axum::body::Bytes::from(vec![1u8; n]))]))
        };
        assert!(matches!(
            write_body(&mut file, 10, &mut body(11)).await,
            Err(BlobError::BodyLength { expected: 10, got: 11 })
        ));
        assert!(matches!(
            write_body(&mut file, 10, &mut body(9)).await,
            Err(BlobError::BodyLength { expected: 10, got: 9 })
        ));
        assert!(write_body(&mut file, 10, &mut body(10)).await.is_ok());
    }
}
