//! Blobs as files under the data directory: `blobs/incoming/<id>` while the upload runs,
//! `blobs/<id>` once complete (moved there by an atomic rename). The directories are 0700 and
//! the files 0600, like the rest of the data directory (see `crate::private`). Metadata is in the
//! [`BlobIndex`]; a file's length beyond the committed offset (a part a killed server did not
//! finish) is cut off before the next part is written.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use sotto_proto::BlobId;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWrite, AsyncWriteExt as _};

use super::indexed::{ByteStore, IndexedBlobStore};
use super::{BlobError, BlobReader, BlobResult, BlobRules, PartBody};
use crate::store::BlobIndex;

/// The folder under the data directory.
pub const BLOB_DIR: &str = "blobs";
/// The folder of uploads in progress, under [`BLOB_DIR`].
pub const INCOMING_DIR: &str = "incoming";
/// What a part's body is gathered into before it is written (a part arrives in pieces of a few
/// KiB). Small enough that a part in flight reaches the disk as it comes.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Blob bytes as files under the data directory.
pub struct FsBytes {
    dir: PathBuf,
    incoming: PathBuf,
}

/// The file-system blob store.
pub type FsBlobStore = IndexedBlobStore<FsBytes>;

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
        Ok(IndexedBlobStore::new(FsBytes { dir, incoming }, index, rules))
    }
}

impl FsBytes {
    fn incoming_path(&self, blob: &BlobId) -> PathBuf {
        self.incoming.join(blob.as_str())
    }

    fn final_path(&self, blob: &BlobId) -> PathBuf {
        self.dir.join(blob.as_str())
    }
}

#[async_trait]
impl ByteStore for FsBytes {
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
        // The body comes in pieces of a few KiB; gathered, they reach the disk in a few large
        // writes (each a trip to a blocking thread) instead of hundreds of small ones.
        let mut buffered = tokio::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, &mut file);
        let written = write_body(&mut buffered, len, body).await;
        drop(buffered);
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

    /// Moves the file out of `incoming` (atomically), so only complete blobs are in `blobs/`.
    async fn seal(&self, blob: &BlobId, size: u64) -> BlobResult<()> {
        let (incoming, done) = (self.incoming_path(blob), self.final_path(blob));
        if size == 0 {
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
        Ok(())
    }

    async fn open_range(&self, blob: &BlobId, start: u64, len: u64) -> BlobResult<BlobReader> {
        let mut file = match tokio::fs::File::open(self.final_path(blob)).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            other => other?,
        };
        file.seek(SeekFrom::Start(start)).await?;
        Ok(Box::pin(file.take(len)))
    }

    async fn remove(&self, blob: &BlobId) -> BlobResult<()> {
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
async fn write_body(file: &mut (impl AsyncWrite + Unpin), len: u64, body: &mut PartBody) -> BlobResult<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
