//! Files to and from the server's blob store: encrypted here ([`crate::attachment`]), uploaded
//! in parts that survive a dropped connection or a server restart, and downloaded with HTTP
//! ranges. Memory stays flat whatever the size: a few parts up, a few hundred KiB down.
//!
//! Both directions run as two stages on two threads, so the cipher and the network work at the
//! same time: up, a blocking thread encrypts (or reads a stored ciphertext) into whole parts
//! while the task sends the previous one; down, the task receives while a blocking thread
//! decrypts (or writes), the task hashing what it passes on.
//!
//! Up: the blob is reserved for its readers (`recipients`), each part is sent at the server's
//! committed offset, and the blob is completed. After a transient failure the upload asks the
//! server where it stands and goes on from there: the ciphertext is made again under the same
//! secret (so identical) and what the server has is skipped. Down: what arrives is decrypted
//! into a temporary file beside the destination (a dropped connection resumes with a `Range`),
//! and the file appears at the destination only once all of it decrypted and checked out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sotto_proto::routes::{self, BlobPart};
use sotto_proto::{BlobId, CreateBlobRequest, UserId};
use tokio::sync::mpsc;

use super::Client;
use crate::attachment::{self, AttachmentError, FileKey, FileSecret};
use crate::network::ProtocolError;
use crate::progress::{CancellationToken, Progress, watch};
use crate::{Error, Result};

/// The largest part sent in one request (the protocol's limit).
const MAX_PART_BYTES: u64 = sotto_proto::limits::MAX_BLOB_PART_BYTES;
/// Attempts after a transient failure before giving up (the file stays where it is).
const ATTEMPTS: u32 = 6;
/// What a received file is gathered into before it is written.
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Chunks received but not yet decrypted or written (each what one read of the connection gave).
const RECEIVED_AHEAD: usize = 16;

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
#[derive(Clone)]
enum Source {
    Plain { path: PathBuf, secret: Arc<FileSecret> },
    Ciphertext { path: PathBuf, key: FileKey },
}

impl Source {
    /// Make the ciphertext from its start and hand `tx` what follows `offset`, in parts of
    /// `part_size` (the last one shorter); runs on a blocking thread, a part ahead of the
    /// upload. Returns the key, or stops early if the upload gave up (`tx` closed).
    fn make_parts(self, offset: u64, part_size: usize, size: u64, tx: mpsc::Sender<Bytes>) -> Result<FileKey> {
        match self {
            Source::Plain { path, secret } => {
                let mut parts = PartWriter { tx, skip: offset, part_size, part: Vec::new() };
                let file = std::io::BufReader::new(std::fs::File::open(&path)?);
                let key = attachment::encrypt_with(&secret, file, &mut parts, |_| {})?;
                parts.finish()?;
                Ok(key)
            }
            Source::Ciphertext { path, key } => {
                use std::io::{Read as _, Seek as _};
                let mut file = std::fs::File::open(&path)?;
                if file.metadata()?.len() != size {
                    return Err(Error::FileDamaged(AttachmentError::SizeMismatch));
                }
                file.seek(std::io::SeekFrom::Start(offset))?;
                let mut parts = PartWriter { tx, skip: 0, part_size, part: Vec::new() };
                let mut left = size.saturating_sub(offset);
                while left > 0 {
                    let len = usize::try_from(left.min(part_size as u64)).unwrap_or(part_size);
                    let mut part = vec![0u8; len];
                    file.read_exact(&mut part)?;
                    left -= len as u64;
                    parts.send(part)?;
                }
                Ok(key)
            }
        }
    }
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
        let source = Source::Plain { path: path.to_owned(), secret: Arc::new(FileSecret::generate()?) };
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
        let source = Source::Ciphertext { path: path.to_owned(), key: key.clone() };
        self.upload(&source, blob_id, offset, key.encrypted_size, progress, cancel).await?;
        Ok(())
    }

    /// Send `source` into the blob from `offset` and complete it, resuming after transient
    /// failures from where the server stands.
    async fn upload(
        &self,
        source: &Source,
        blob_id: &BlobId,
        mut offset: u64,
        size: u64,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<FileKey> {
        let part_size = usize::try_from(MAX_PART_BYTES).unwrap_or(usize::MAX);
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
                // `conflict`: another request is still writing this blob (one this device gave
                // up on, say after a cancel, that the server has not finished with), or the
                // server stands at another offset: ask where it stands and go on.
                Err(e)
                    if (e.is_transient() || e.server_code() == Some(sotto_proto::ErrorCode::Conflict))
                        && attempt < ATTEMPTS =>
                {
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

    /// Send what follows `offset`, part by part, each made on a blocking thread while the one
    /// before it travels.
    async fn send_parts(
        &self,
        source: &Source,
        blob_id: &BlobId,
        mut offset: u64,
        part_size: usize,
        size: u64,
        progress: &watch::Sender<Progress>,
    ) -> Result<FileKey> {
        // One part waits while one is sent (and one is being made): a few parts in memory.
        let (tx, mut rx) = mpsc::channel::<Bytes>(1);
        let making = {
            let source = source.clone();
            let from = offset;
            tokio::task::spawn_blocking(move || source.make_parts(from, part_size, size, tx))
        };
        Progress::publish(progress, offset, size);
        while let Some(part) = rx.recv().await {
            let end = offset + part.len() as u64;
            let answered = self.put_part(blob_id, offset, part).await?;
            if answered != end {
                return Err(Error::Protocol(ProtocolError::BlobOffset { expected: end, answered }));
            }
            offset = end;
            Progress::publish(progress, offset, size);
        }
        let key = making.await.map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
        if key.encrypted_size != size || offset != size {
            return Err(Error::InvalidInput("The file changed while it was being sent; send it again.".into()));
        }
        Ok(key)
    }

    async fn put_part(&self, blob_id: &BlobId, offset: u64, bytes: Bytes) -> Result<u64> {
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
    /// over an existing one). The bytes are hashed as they arrive and decrypted on a blocking
    /// thread meanwhile, into a temporary file beside `dest` that is moved there only once all
    /// of it decrypted and the hash matched. `progress` counts ciphertext bytes received;
    /// `cancel` stops it and leaves nothing behind.
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
        let (tx, rx) = mpsc::channel::<Bytes>(RECEIVED_AHEAD);
        let decrypting = {
            let (file, key) = (temp.reopen()?, key.clone());
            tokio::task::spawn_blocking(move || -> std::result::Result<u64, AttachmentError> {
                let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
                let input = ChannelReader::new(rx);
                let size = attachment::decrypt_checking(input, &mut out, &key, attachment::Hash::ByCaller, |_| {})?;
                out.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()?;
                Ok(size)
            })
        };
        let received = tokio::select! {
            received = self.receive_blob(blob_id, key.encrypted_size, progress, tx) => received,
            () = cancel.cancelled() => Err(Error::Cancelled),
        };
        // The sender is gone: the thread has seen the end of what came (short, after a failure
        // or a cancel, which does not decrypt).
        let decrypted = decrypting.await.map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        let sha256 = received?;
        let size = decrypted?;
        if sha256 != key.sha256.to_ascii_lowercase() {
            return Err(AttachmentError::HashMismatch.into());
        }
        temp.persist_noclobber(dest).map_err(|e| Error::Io(e.error))?;
        Ok(size)
    }

    /// The blob's ciphertext into `path`, its size and SHA-256 checked against `key` as it
    /// arrives (no second read) and written on a blocking thread while the next bytes come: an
    /// error unless it is exactly the ciphertext the key describes.
    pub(crate) async fn fetch_ciphertext(
        &self,
        blob_id: &BlobId,
        key: &FileKey,
        path: &Path,
        progress: &watch::Sender<Progress>,
    ) -> Result<()> {
        let (tx, mut rx) = mpsc::channel::<Bytes>(RECEIVED_AHEAD);
        let writing = {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
                use std::io::Write as _;
                let file = std::fs::OpenOptions::new().write(true).open(&path)?;
                let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
                let mut have = 0u64;
                while let Some(chunk) = rx.blocking_recv() {
                    out.write_all(&chunk)?;
                    have += chunk.len() as u64;
                }
                out.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()?;
                Ok(have)
            })
        };
        let received = self.receive_blob(blob_id, key.encrypted_size, progress, tx).await;
        let written = writing.await.map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        let sha256 = received?;
        if written? != key.encrypted_size {
            return Err(AttachmentError::Truncated.into());
        }
        if sha256 != key.sha256.to_ascii_lowercase() {
            return Err(AttachmentError::HashMismatch.into());
        }
        Ok(())
    }

    /// Receive the blob (`size` bytes) into `tx` as it arrives, resuming with a `Range` from
    /// what was passed on after a transient failure, and return the SHA-256 (hex) of what was
    /// passed on. More than `size` bytes is an error; fewer is for the receiving side to find.
    /// Ends early when the receiving side stopped (its own error says why).
    async fn receive_blob(
        &self,
        blob_id: &BlobId,
        size: u64,
        progress: &watch::Sender<Progress>,
        tx: mpsc::Sender<Bytes>,
    ) -> Result<String> {
        use sha2::Digest as _;
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
                // A server that ignores the range sends the whole blob again: what was passed
                // on already is skipped.
                let mut skip = if have > 0 && resp.status() != reqwest::StatusCode::PARTIAL_CONTENT { have } else { 0 };
                while let Some(mut chunk) =
                    resp.chunk().await.map_err(|e| self.inner.api.offline(crate::NetworkError::http(e)))?
                {
                    if skip > 0 {
                        let n = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
                        chunk = chunk.slice(n..);
                        skip -= n as u64;
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    have += chunk.len() as u64;
                    if have > size {
                        return Err(Error::from(AttachmentError::SizeMismatch));
                    }
                    hash.update(&chunk);
                    if tx.send(chunk).await.is_err() {
                        return Ok(());
                    }
                    Progress::publish(progress, have, size);
                }
                Ok(())
            };
            match step.await {
                Ok(()) => return Ok(hex::encode(hash.finalize())),
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tracing::info!(error = %e, attempt, "download interrupted; resuming");
                    tokio::time::sleep(pause(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The making thread's output cut into the parts the upload sends, handed over as each fills;
/// the bytes before `skip` (the server has them) are not sent.
struct PartWriter {
    tx: mpsc::Sender<Bytes>,
    skip: u64,
    part_size: usize,
    part: Vec<u8>,
}

impl PartWriter {
    fn send(&mut self, part: Vec<u8>) -> std::io::Result<()> {
        self.tx.blocking_send(Bytes::from(part)).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }

    /// Hand over what is left (the last, shorter part).
    fn finish(mut self) -> std::io::Result<()> {
        if self.part.is_empty() {
            return Ok(());
        }
        let part = std::mem::take(&mut self.part);
        self.send(part)
    }
}

impl std::io::Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let skipped = usize::try_from(self.skip).unwrap_or(usize::MAX).min(buf.len());
        self.skip -= skipped as u64;
        let (_, mut rest) = buf.split_at(skipped);
        while !rest.is_empty() {
            if self.part.capacity() == 0 {
                self.part.reserve_exact(self.part_size);
            }
            let room = self.part_size.saturating_sub(self.part.len()).max(1);
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.part.extend_from_slice(now);
            rest = later;
            if self.part.len() >= self.part_size {
                let part = std::mem::take(&mut self.part);
                self.send(part)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the receiving task passes on, read by the decrypting thread as one stream; it ends
/// where the task stopped sending.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        ChannelReader { rx, current: Bytes::new() }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let head = self.current.split_to(n);
        if let Some(into) = buf.get_mut(..n) {
            into.copy_from_slice(&head);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::io::{Read as _, Write as _};

    use super::*;

    /// What a `PartWriter` hands over for `stream` written in pieces of `piece` bytes.
    fn parts_of(stream: &[u8], piece: usize, skip: u64, part_size: usize) -> Vec<Vec<u8>> {
        let (tx, mut rx) = mpsc::channel(1024);
        let mut writer = PartWriter { tx, skip, part_size, part: Vec::new() };
        for chunk in stream.chunks(piece) {
            writer.write_all(chunk).unwrap();
        }
        writer.finish().unwrap();
        let mut parts = Vec::new();
        while let Ok(part) = rx.try_recv() {
            parts.push(part.to_vec());
        }
        parts
    }

    #[test]
    fn parts_are_whole_and_start_where_the_server_stands() {
        let stream: Vec<u8> = (0..1000u32).map(|i| (i % 253) as u8).collect();
        for piece in [1, 7, 100, 333, 1000] {
            for skip in [0u64, 1, 99, 100, 101, 999, 1000] {
                let parts = parts_of(&stream, piece, skip, 100);
                let skip = usize::try_from(skip).unwrap();
                // Every part but the last is whole, and together they are what follows `skip`.
                let (last, whole) = parts.split_last().map_or((None, &[][..]), |(l, w)| (Some(l), w));
                assert!(whole.iter().all(|p| p.len() == 100), "piece {piece} skip {skip}");
                assert!(last.is_none_or(|p| !p.is_empty() && p.len() <= 100));
                assert_eq!(parts.concat(), stream[skip..], "piece {piece} skip {skip}");
            }
        }
    }

    #[test]
    fn a_writer_whose_upload_gave_up_says_so() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut writer = PartWriter { tx, skip: 0, part_size: 4, part: Vec::new() };
        let e = writer.write_all(b"12345").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn the_reader_gives_the_chunks_as_one_stream_and_ends_where_they_stop() {
        let (tx, rx) = mpsc::channel(8);
        for chunk in [&b"abc"[..], b"", b"defgh", b"i"] {
            tx.try_send(Bytes::copy_from_slice(chunk)).unwrap();
        }
        drop(tx);
        let mut reader = ChannelReader::new(rx);
        let mut small = [0u8; 2];
        assert_eq!(reader.read(&mut small).unwrap(), 2);
        assert_eq!(&small, b"ab");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"cdefghi");
        assert_eq!(reader.read(&mut small).unwrap(), 0);
    }
}
