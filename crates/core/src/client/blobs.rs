//! Files to and from the server's blob store: encrypted here ([`crate::attachment`]), uploaded
//! in parts that survive a dropped connection or a server restart, and downloaded with HTTP
//! ranges. Memory stays flat whatever the size: one part in flight up, one chunk at a time down.
//!
//! Up: the blob is reserved for its readers (`recipients`), the file is encrypted as it is
//! read, each part is sent at the server's committed offset, and the blob is completed. After a
//! transient failure the upload asks the server where it stands and goes on from there: the
//! ciphertext is made again under the same secret (so identical) and what the server has is
//! skipped. Down: the ciphertext goes to a temporary file beside the destination (resumed with
//! a `Range` after a failure), and the file appears at the destination only once all of it
//! decrypted and checked out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sotto_proto::routes::{self, BlobPart};
use sotto_proto::{BlobId, CreateBlobRequest, UserId};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use super::Client;
use crate::attachment::{self, AttachmentError, FileKey, FileSecret};
use crate::progress::{CancellationToken, Progress, watch};
use crate::{Error, Result};

/// The largest part sent in one request (the protocol's limit).
const MAX_PART_BYTES: u64 = sotto_proto::limits::MAX_BLOB_PART_BYTES;
/// Attempts after a transient failure before giving up (the file stays where it is).
const ATTEMPTS: u32 = 6;

/// An uploaded file: where it is, and what opens it (for the end-to-end message).
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub blob_id: BlobId,
    pub key: FileKey,
}

impl From<AttachmentError> for Error {
    fn from(e: AttachmentError) -> Self {
        match e {
            AttachmentError::Io(e) => Error::Io(e),
            AttachmentError::Randomness(e) => Error::Crypto(crate::CryptoError::Randomness(e)),
            other => Error::FileDamaged(other),
        }
    }
}

fn pause(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(5))
}

/// What an upload sends: a file encrypted as it is read, or a ciphertext already made.
enum Source<'a> {
    Plain { path: &'a Path, secret: Arc<FileSecret> },
    Ciphertext { path: &'a Path, key: &'a FileKey },
}

impl Client {
    /// Encrypt the file at `path` and upload it for `recipients` (this account can always read
    /// it). `progress` counts ciphertext bytes the server has; `cancel` stops it (the blob is
    /// then deleted).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn upload_file(
        &self,
        path: &Path,
        recipients: &[UserId],
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<UploadedFile> {
        let len = tokio::fs::metadata(path).await?.len();
        let size = attachment::encrypted_size(len);
        let blob_id = self.create_blob(size, recipients).await?;
        let source = Source::Plain { path, secret: Arc::new(FileSecret::generate()?) };
        let result = self.upload(&source, &blob_id, 0, size, progress, cancel).await;
        if result.is_err() {
            self.delete_blob(&blob_id).await;
        }
        Ok(UploadedFile { blob_id, key: result? })
    }

    /// Reserve a blob of `size` bytes for `recipients`.
    pub(crate) async fn create_blob(&self, size: u64, recipients: &[UserId]) -> Result<BlobId> {
        let request = CreateBlobRequest { size, recipients: recipients.to_vec() };
        Ok(self.call::<routes::CreateBlob>(&(), &request).await?.blob_id)
    }

    /// Delete an unfinished or unwanted blob (the server drops unfinished ones within a day anyway).
    pub(crate) async fn delete_blob(&self, blob_id: &BlobId) {
        if let Err(e) = self.call::<routes::DeleteBlob>(blob_id, &()).await {
            tracing::debug!(error = %e, "could not delete a blob (the server drops unfinished ones within a day)");
        }
    }

    /// Upload the ciphertext at `path` (made for `key`) into the blob `blob_id`, from where the
    /// server stands: a blob reserved before a restart goes on from its committed offset.
    pub(crate) async fn upload_ciphertext(
        &self,
        path: &Path,
        key: &FileKey,
        blob_id: &BlobId,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let offset = self.call::<routes::BlobUploadState>(blob_id, &()).await?.offset;
        self.upload(&Source::Ciphertext { path, key }, blob_id, offset, key.encrypted_size, progress, cancel).await?;
        Ok(())
    }

    /// Send `source` into the blob from `offset` and complete it, resuming after transient
    /// failures from where the server stands.
    async fn upload(
        &self,
        source: &Source<'_>,
        blob_id: &BlobId,
        mut offset: u64,
        size: u64,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<FileKey> {
        let part_size = MAX_PART_BYTES;
        let mut attempt = 0;
        loop {
            let sent = tokio::select! {
                sent = self.send_parts(source, blob_id, offset, part_size, size, progress) => sent,
                () = cancel.cancelled() => Err(Error::Cancelled),
            };
            match sent {
                Ok(key) => {
                    self.call::<routes::CompleteBlob>(blob_id, &()).await?;
                    return Ok(key);
                }
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tracing::info!(error = %e, attempt, "upload interrupted; resuming");
                    tokio::select! {
                        () = tokio::time::sleep(pause(attempt)) => {}
                        () = cancel.cancelled() => return Err(Error::Cancelled),
                    }
                    attempt += 1;
                    // Where the server stands (it may have taken the part whose answer was lost).
                    match self.call::<routes::BlobUploadState>(blob_id, &()).await {
                        Ok(state) => offset = state.offset,
                        Err(e) if e.is_transient() => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Send what follows `offset`, part by part.
    async fn send_parts(
        &self,
        source: &Source<'_>,
        blob_id: &BlobId,
        offset: u64,
        part_size: u64,
        size: u64,
        progress: &watch::Sender<Progress>,
    ) -> Result<FileKey> {
        match source {
            Source::Plain { path, secret } => {
                self.send_encrypted_parts(path, secret, blob_id, offset, part_size, size, progress).await
            }
            Source::Ciphertext { path, key } => {
                self.send_stored_parts(path, blob_id, offset, part_size, size, progress).await?;
                Ok((*key).clone())
            }
        }
    }

    /// Send a stored ciphertext from `offset`, part by part.
    async fn send_stored_parts(
        &self,
        path: &Path,
        blob_id: &BlobId,
        mut offset: u64,
        part_size: u64,
        size: u64,
        progress: &watch::Sender<Progress>,
    ) -> Result<()> {
        use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
        let mut file = tokio::fs::File::open(path).await?;
        if file.metadata().await?.len() != size {
            return Err(Error::FileDamaged(AttachmentError::SizeMismatch));
        }
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        Progress::publish(progress, offset, size);
        while offset < size {
            let len = usize::try_from(part_size.min(size - offset)).unwrap_or(usize::MAX);
            let mut part = vec![0u8; len];
            file.read_exact(&mut part).await?;
            offset = self.put_part(blob_id, offset, part).await?;
            Progress::publish(progress, offset, size);
        }
        Ok(())
    }

    /// Encrypt the file again from its start and send what follows `offset`, part by part.
    #[allow(clippy::too_many_arguments)]
    async fn send_encrypted_parts(
        &self,
        path: &Path,
        secret: &Arc<FileSecret>,
        blob_id: &BlobId,
        mut offset: u64,
        part_size: u64,
        size: u64,
        progress: &watch::Sender<Progress>,
    ) -> Result<FileKey> {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
        let encrypting = {
            let (path, secret) = (path.to_owned(), secret.clone());
            tokio::task::spawn_blocking(move || -> Result<FileKey> {
                let file = std::io::BufReader::new(std::fs::File::open(&path)?);
                let sink = ChannelWriter { tx };
                Ok(attachment::encrypt_with(&secret, file, sink, |_| {})?)
            })
        };
        // Ciphertext bytes made so far (those before `offset` are skipped: the server has them).
        let mut made = 0u64;
        let mut part: Vec<u8> = Vec::new();
        Progress::publish(progress, offset, size);
        while let Some(chunk) = rx.recv().await {
            let start = made;
            made += chunk.len() as u64;
            if made <= offset {
                continue;
            }
            let skip = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX);
            part.extend_from_slice(chunk.get(skip..).unwrap_or_default());
            while part.len() as u64 >= part_size {
                let rest = part.split_off(usize::try_from(part_size).unwrap_or(usize::MAX));
                offset = self.put_part(blob_id, offset, std::mem::replace(&mut part, rest)).await?;
                Progress::publish(progress, offset, size);
            }
        }
        let key = encrypting.await.map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
        if key.encrypted_size != size {
            return Err(Error::InvalidInput("The file changed while it was being sent; send it again.".into()));
        }
        if !part.is_empty() {
            offset = self.put_part(blob_id, offset, part).await?;
            Progress::publish(progress, offset, size);
        }
        if offset != size {
            return Err(Error::InvalidInput("The file changed while it was being sent; send it again.".into()));
        }
        Ok(key)
    }

    async fn put_part(&self, blob_id: &BlobId, offset: u64, bytes: Vec<u8>) -> Result<u64> {
        let part = BlobPart { blob_id: blob_id.clone(), offset };
        let token = self.access_token().await;
        let answer = match self.inner.api.put_blob_part(&token, &part, bytes.clone()).await {
            Err(e) if e.server_code() == Some(sotto_proto::ErrorCode::TokenExpired) => {
                let token = self.refresh_tokens(&token).await?;
                self.inner.api.put_blob_part(&token, &part, bytes).await
            }
            other => other,
        }?;
        Ok(answer.offset)
    }

    /// Download the blob `blob_id` and decrypt it with `key` into a new file at `dest` (never
    /// over an existing one). `progress` counts ciphertext bytes received; `cancel` stops it and
    /// leaves nothing behind.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn download_file(
        &self,
        blob_id: &BlobId,
        key: &FileKey,
        dest: &Path,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<u64> {
        if tokio::fs::try_exists(dest).await? {
            return Err(Error::FileExists(dest.display().to_string()));
        }
        let dir = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new().prefix(".sotto-download-").tempfile_in(&dir)?;
        let fetched = tokio::select! {
            // Decrypting checks it all (and the hash) anyway.
            fetched = self.fetch_ciphertext(blob_id, key, temp.path(), progress, false) => fetched,
            () = cancel.cancelled() => Err(Error::Cancelled),
        };
        fetched?;
        let (cipher, dest, key) = (temp.path().to_owned(), dest.to_owned(), key.clone());
        let size = tokio::task::spawn_blocking(move || {
            let input = std::io::BufReader::new(std::fs::File::open(&cipher)?);
            attachment::decrypt_to_file(input, &dest, &key, |_| {})
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
        drop(temp);
        Ok(size)
    }

    /// The blob's ciphertext into `path`, resumed from what it holds after a transient failure.
    /// With `check`, its size and SHA-256 are checked against `key` as it arrives (no second
    /// read): an error unless it is exactly the ciphertext the key describes.
    pub(crate) async fn fetch_ciphertext(
        &self,
        blob_id: &BlobId,
        key: &FileKey,
        path: &Path,
        progress: &watch::Sender<Progress>,
        check: bool,
    ) -> Result<()> {
        use sha2::Digest as _;
        let mut file = tokio::fs::OpenOptions::new().write(true).open(path).await?;
        let mut hash = sha2::Sha256::new();
        let mut have = 0u64;
        let mut attempt = 0;
        loop {
            let step = async {
                let token = self.access_token().await;
                let mut resp = match self.inner.api.get_blob(&token, blob_id, have).await {
                    Err(e) if e.server_code() == Some(sotto_proto::ErrorCode::TokenExpired) => {
                        let token = self.refresh_tokens(&token).await?;
                        self.inner.api.get_blob(&token, blob_id, have).await
                    }
                    other => other,
                }?;
                if have > 0 && resp.status() != reqwest::StatusCode::PARTIAL_CONTENT {
                    // The server sent the whole blob again: start over.
                    file.set_len(0).await?;
                    file.seek(std::io::SeekFrom::Start(0)).await?;
                    hash = sha2::Sha256::new();
                    have = 0;
                }
                while let Some(chunk) =
                    resp.chunk().await.map_err(|e| self.inner.api.offline(crate::NetworkError::http(e)))?
                {
                    have += chunk.len() as u64;
                    if have > key.encrypted_size {
                        return Err(Error::from(AttachmentError::SizeMismatch));
                    }
                    file.write_all(&chunk).await?;
                    if check {
                        hash.update(&chunk);
                    }
                    Progress::publish(progress, have, key.encrypted_size);
                }
                Ok(())
            };
            match step.await {
                Ok(()) => break,
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tracing::info!(error = %e, attempt, "download interrupted; resuming");
                    tokio::time::sleep(pause(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        file.flush().await?;
        file.sync_all().await?;
        if check {
            if have != key.encrypted_size {
                return Err(AttachmentError::Truncated.into());
            }
            if hex::encode(hash.finalize()) != key.sha256.to_ascii_lowercase() {
                return Err(AttachmentError::HashMismatch.into());
            }
        }
        Ok(())
    }
}

/// The encrypting thread's output, handed to the uploading task chunk by chunk (a few chunks
/// at most in between: memory stays flat).
struct ChannelWriter {
    tx: mpsc::Sender<Vec<u8>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx.blocking_send(buf.to_vec()).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
