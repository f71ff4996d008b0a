//! File messages: sending a file, receiving one, and getting its bytes.
//!
//! Sending: the file is encrypted under a fresh key into the profile's `files` directory at
//! once (so it can be sent even if the original moves, and after a restart), and stored as a
//! `queued` message of kind `file` whose file is `uploading`. The upload reserves a blob for the
//! conversation's readers (its id is kept, so an interrupted upload resumes where the server
//! stands), sends the ciphertext in parts and completes it; only then does the message join the
//! outbox, and its end-to-end payload (blob id, key, name, type, preview) goes out like a text.
//!
//! Receiving: the payload is stored with the message (`remote`); the ciphertext is fetched into
//! the profile on demand, or at once when it is no larger than the auto-download limit, and is
//! `local` only once its SHA-256 matches the key's. Saving decrypts the kept ciphertext to a new
//! file (written beside it and moved into place only when it all checked out).
//!
//! Invariants: a file's key leaves the profile only inside end-to-end messages; the profile
//! holds files encrypted only; nothing half-fetched is ever marked `local`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sotto_proto::{BlobId, ErrorCode, GroupId, UserId};

use super::Client;
use crate::attachment::{self, FileSecret};
use crate::crypto::payload::FileContent;
use crate::events::ClientEvent;
use crate::preview::{self, ImagePreview};
use crate::profile::ProfilePaths;
use crate::progress::{CancellationToken, Progress, watch};
use crate::store::{
    Db, FileInfo, FileState, ImageInfo, Message, MessageKind, MessageStatus, NewFile, StoreError, now_ms,
};
use crate::{ConversationId, Error, Result};

/// Files up to this size are downloaded as they arrive (unless the setting says otherwise).
pub const DEFAULT_AUTO_DOWNLOAD_BYTES: u64 = 16 * 1024 * 1024;
/// Meta key: the auto-download limit in bytes (0: never).
const META_AUTO_DOWNLOAD: &str = "auto_download_bytes";
/// The longest file name kept (in characters); longer ones are shortened, keeping the extension.
const MAX_NAME_CHARS: usize = 200;
/// The longest media type kept.
const MAX_MIME_BYTES: usize = 127;

/// Which way a file is moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Transfer {
    Upload,
    Download,
}

/// Transfers running now, by message row: what cancels each, and the lock that keeps two
/// transfers of the same file from racing.
#[derive(Default)]
pub(crate) struct Transfers {
    running: std::sync::Mutex<HashMap<i64, CancellationToken>>,
    locks: std::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Incoming files to fetch in the background (small enough for auto-download).
    queued: std::sync::Mutex<std::collections::VecDeque<i64>>,
    pub(crate) wake: tokio::sync::Notify,
}

impl Transfers {
    fn lock_for(&self, row: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget locks nobody holds or waits for.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(row).or_default().clone()
    }

    fn start(&self, row: i64) -> CancellationToken {
        let token = CancellationToken::new();
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(row, token.clone());
        token
    }

    fn end(&self, row: i64) {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&row);
    }

    fn cancel(&self, row: i64) -> bool {
        let running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        running.get(&row).map(CancellationToken::cancel).is_some()
    }
}

/// The content of a queued file message, as its end-to-end payload carries it.
pub(crate) fn outgoing_content(db: &Db<'_>, message: &Message) -> Result<FileContent> {
    let stored = db.stored_file(message.id)?.ok_or(StoreError::Missing("file of a queued file message"))?;
    let blob_id = stored.blob_id.ok_or(StoreError::Missing("blob of an uploaded file"))?;
    Ok(FileContent {
        blob_id,
        key: stored.key,
        name: stored.name,
        mime: stored.mime,
        caption: message.body.clone(),
        preview: stored.preview,
    })
}

/// A received file stored with its message (row `row`): the name made harmless, the type
/// checked, the preview kept only if it is a small image that decodes.
pub(crate) fn store_received(db: &Db<'_>, row: i64, file: &FileContent) -> Result<FileInfo> {
    let name = clean_name(&file.name);
    let mime = clean_mime(&file.mime);
    let preview = file.preview.as_ref().filter(|p| match preview::check(p) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "a received file's preview was dropped");
            false
        }
    });
    db.insert_file(
        row,
        &NewFile {
            name: &name,
            mime: &mime,
            key: &file.key,
            blob_id: Some(&file.blob_id),
            state: FileState::Remote,
            local: None,
            preview,
        },
    )?;
    Ok(info(name, mime, file.key.size, FileState::Remote, preview))
}

fn info(name: String, mime: String, size: u64, state: FileState, preview: Option<&ImagePreview>) -> FileInfo {
    FileInfo {
        name,
        mime,
        size,
        state,
        image: preview.map(|p| ImageInfo { width: p.width, height: p.height, blurhash: p.blurhash.clone() }),
    }
}

/// A name to show and to offer when saving: its last path component only, without control
/// characters, not empty, and not too long.
pub(crate) fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    if cleaned.is_empty() {
        return "file".to_owned();
    }
    if cleaned.chars().count() <= MAX_NAME_CHARS {
        return cleaned.to_owned();
    }
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if ext.chars().count() <= 16 => (stem, Some(ext)),
        _ => (cleaned, None),
    };
    let keep = MAX_NAME_CHARS - ext.map_or(0, |e| e.chars().count() + 1);
    let stem: String = stem.chars().take(keep).collect();
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem,
    }
}

/// A media type as `type/subtype` of plain characters, else `application/octet-stream`.
fn clean_mime(mime: &str) -> String {
    let ok = mime.len() <= MAX_MIME_BYTES
        && mime.split_once('/').is_some_and(|(t, s)| {
            let token =
                |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
            token(t) && token(s)
        });
    if ok { mime.to_ascii_lowercase() } else { "application/octet-stream".to_owned() }
}

/// A file picked to send, measured and encrypted into the profile.
struct Prepared {
    name: String,
    mime: String,
    key: attachment::FileKey,
    local: String,
    preview: Option<ImagePreview>,
}

impl Client {
    pub(super) fn files_dir(&self) -> PathBuf {
        ProfilePaths::new(&self.inner.dir).files()
    }

    /// The auto-download limit: incoming files up to this many bytes are fetched as they
    /// arrive; 0 turns it off.
    pub fn auto_download_limit(&self) -> Result<u64> {
        let stored = self.read(|db| db.meta(META_AUTO_DOWNLOAD))?;
        Ok(stored.and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_AUTO_DOWNLOAD_BYTES))
    }

    pub fn set_auto_download_limit(&self, bytes: u64) -> Result<()> {
        self.read(|db| db.set_meta(META_AUTO_DOWNLOAD, &bytes.to_string()))
    }

    /// Send the file at `path` to `to`, with `caption` (may be empty). Like
    /// [`Client::send_text`], it returns the stored message at once when the background service
    /// runs (`queued`; the upload's progress and the outcome follow as events), and otherwise
    /// uploads and sends before returning.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn send_file(&self, to: &UserId, path: &Path, caption: &str) -> Result<Message> {
        self.check_recipient(to).await?;
        self.queue_file(&ConversationId::Direct(to.clone()), to.as_str(), path, caption).await
    }

    /// Send the file at `path` to a group.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn send_group_file(&self, group: &GroupId, path: &Path, caption: &str) -> Result<Message> {
        let title = self.group_title_to_send(group)?;
        self.queue_file(&ConversationId::Group(group.clone()), &title, path, caption).await
    }

    async fn queue_file(
        &self,
        conversation_id: &ConversationId,
        title: &str,
        path: &Path,
        caption: &str,
    ) -> Result<Message> {
        super::send::check_caption(caption)?;
        let len = tokio::fs::metadata(path).await.map_err(|e| file_error(path, e))?.len();
        // Reserved first when the server can be reached: a file it would refuse (too large, a
        // full quota) is refused now, before it is encrypted and kept, and nothing is stored.
        let expected = attachment::encrypted_size(len);
        let mut reserved = match self.reserve_for(conversation_id, expected).await {
            Ok(blob_id) => Some(blob_id),
            Err(e) if e.is_transient() => None,
            Err(e) => return Err(e),
        };
        let prepared = match self.prepare_file(path).await {
            Ok(prepared) => prepared,
            Err(e) => {
                if let Some(blob_id) = &reserved {
                    self.delete_blob(blob_id).await;
                }
                return Err(e);
            }
        };
        if prepared.key.encrypted_size != expected
            && let Some(blob_id) = reserved.take()
        {
            // The file changed size meanwhile: reserved again at the upload.
            self.delete_blob(&blob_id).await;
        }
        let message = match self.store_file_message(conversation_id, title, caption, &prepared, reserved.as_ref()) {
            Ok(message) => message,
            Err(e) => {
                let _ = std::fs::remove_file(self.files_dir().join(&prepared.local));
                if let Some(blob_id) = &reserved {
                    self.delete_blob(blob_id).await;
                }
                return Err(e);
            }
        };
        self.emit(ClientEvent::MessageReceived { message: message.clone() });
        if self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
            self.inner.transfers.wake.notify_one();
            return Ok(message);
        }
        self.upload_queued(message.id).await;
        self.flush_outbox().await;
        let after = self.read(|db| db.message(message.id))?;
        Ok(after.unwrap_or(message))
    }

    /// Read the file at `path`: its name, type and preview, and its ciphertext into the profile.
    async fn prepare_file(&self, path: &Path) -> Result<Prepared> {
        let meta = tokio::fs::metadata(path).await.map_err(|e| file_error(path, e))?;
        if !meta.is_file() {
            return Err(Error::InvalidInput(format!("{} is not a file.", path.display())));
        }
        let name = clean_name(&path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let mut mime = mime_guess::from_path(path).first_or_octet_stream().essence_str().to_owned();
        let dir = self.files_dir();
        let (source, files) = (path.to_owned(), dir.clone());
        let image = mime.starts_with("image/");
        let (key, local, preview) = tokio::task::spawn_blocking(move || -> Result<_> {
            // Only what claims to be an image is decoded (bounded); one that does not decode is
            // sent as a plain file.
            let preview = if image {
                match preview::of_file(&source) {
                    Ok(preview) => preview,
                    Err(e) => {
                        tracing::info!(error = %e, "no preview for this image; sent as a file");
                        None
                    }
                }
            } else {
                None
            };
            std::fs::create_dir_all(&files)?;
            restrict(&files)?;
            let local = uuid::Uuid::new_v4().simple().to_string();
            let mut temp = tempfile::Builder::new().prefix(".sending-").tempfile_in(&files)?;
            let input = std::io::BufReader::new(std::fs::File::open(&source).map_err(|e| file_error(&source, e))?);
            let key = attachment::encrypt_with(
                &FileSecret::generate()?,
                input,
                std::io::BufWriter::new(temp.as_file_mut()),
                |_| {},
            )?;
            temp.as_file().sync_all()?;
            temp.persist_noclobber(files.join(&local)).map_err(|e| Error::Io(e.error))?;
            Ok((key, local, preview))
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
        if image && preview.is_none() {
            mime = "application/octet-stream".to_owned();
        }
        Ok(Prepared { name, mime: clean_mime(&mime), key, local, preview })
    }

    fn store_file_message(
        &self,
        conversation_id: &ConversationId,
        title: &str,
        caption: &str,
        p: &Prepared,
        blob_id: Option<&BlobId>,
    ) -> Result<Message> {
        let message_id = super::send::new_message_id()?;
        let own = self.inner.own.clone();
        let now = now_ms();
        self.transact(|_, db| {
            let outgoing = super::send::NewOutgoing { own: &own, conversation_id, title, message_id: &message_id, now };
            let mut message = outgoing.insert(db, MessageKind::File, caption)?;
            db.insert_file(
                message.id,
                &NewFile {
                    name: &p.name,
                    mime: &p.mime,
                    key: &p.key,
                    blob_id,
                    state: FileState::Uploading,
                    local: Some(&p.local),
                    preview: p.preview.as_ref(),
                },
            )?;
            message.file =
                Some(info(p.name.clone(), p.mime.clone(), p.key.size, FileState::Uploading, p.preview.as_ref()));
            db.touch_for(&message)?;
            Ok(message)
        })
    }

    /// Upload every file waiting to go out, one after another; each that completes joins the
    /// outbox. Stops at the first network failure (the rest would fail too).
    pub(crate) async fn upload_waiting(&self) {
        let rows = match self.read(|db| db.files_to_upload()) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the files to upload");
                return;
            }
        };
        for row in rows {
            if !self.upload_queued(row).await {
                break;
            }
        }
    }

    /// Upload one queued file message's file, then queue the message itself. Returns false after
    /// a transient failure (the upload is tried again later).
    async fn upload_queued(&self, row: i64) -> bool {
        match self.upload_stored(row).await {
            Ok(()) => true,
            Err(e) if e.is_transient() => {
                tracing::info!(error = %e, "a file upload was postponed; the server is unreachable");
                false
            }
            Err(e) => {
                tracing::warn!(code = %e.code(), "a file could not be sent");
                let failed = self.transact(|_, db| {
                    db.set_message_status(row, MessageStatus::Failed, Some(e.code().into()), None)?;
                    db.message(row)
                });
                match failed {
                    Ok(Some(message)) => self.emit(ClientEvent::StatusChanged { message }),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "cannot record a failed upload"),
                }
                true
            }
        }
    }

    async fn upload_stored(&self, row: i64) -> Result<()> {
        let lock = self.inner.transfers.lock_for(row);
        let _held = lock.lock().await;
        let (message, stored) = self.read(|db| Ok((db.message(row)?, db.stored_file(row)?)))?;
        let (Some(message), Some(stored)) = (message, stored) else { return Ok(()) };
        if stored.state != FileState::Uploading || message.status != MessageStatus::Queued {
            return Ok(());
        }
        let local = stored.local.as_deref().ok_or(StoreError::Missing("file to upload"))?;
        let path = self.files_dir().join(local);
        let cancel = self.inner.transfers.start(row);
        let (progress, forwarding) = self.progress_events(&message, Transfer::Upload);
        let result = async {
            let blob_id = match &stored.blob_id {
                Some(blob_id) => blob_id.clone(),
                None => self.reserve_blob(&message, &stored.key).await?,
            };
            match self.upload_ciphertext(&path, &stored.key, &blob_id, &progress, &cancel).await {
                // The reservation lapsed (a day passed offline) or the server lost it: start over.
                Err(Error::Server { code: ErrorCode::NotFound, .. }) => {
                    self.read(|db| db.set_file_blob(row, None))?;
                    let blob_id = self.reserve_blob(&message, &stored.key).await?;
                    self.upload_ciphertext(&path, &stored.key, &blob_id, &progress, &cancel).await
                }
                other => other,
            }
        }
        .await;
        self.inner.transfers.end(row);
        drop(progress);
        let _ = forwarding.await;
        result?;
        let updated = self.transact(|_, db| {
            db.set_file_state(row, FileState::Local, None)?;
            db.enqueue(&message.message_id, &message.conversation_id, &message.body, now_ms())?;
            db.message(row)
        })?;
        if let Some(message) = updated {
            self.emit(ClientEvent::StatusChanged { message });
        }
        self.inner.outbox_wake.notify_one();
        Ok(())
    }

    /// Reserve a blob for a file message's readers, and remember it (an upload that stops here
    /// goes on into the same blob).
    async fn reserve_blob(&self, message: &Message, key: &attachment::FileKey) -> Result<BlobId> {
        let blob_id = self.reserve_for(&message.conversation_id, key.encrypted_size).await?;
        self.read(|db| db.set_file_blob(message.id, Some(&blob_id)))?;
        Ok(blob_id)
    }

    /// Reserve a blob of `size` bytes readable by the conversation's other members: the peer,
    /// or the group's members as its signed changes make them.
    async fn reserve_for(&self, conversation_id: &ConversationId, size: u64) -> Result<BlobId> {
        let recipients: Vec<UserId> = match conversation_id {
            ConversationId::Direct(user) => vec![user.clone()],
            ConversationId::Group(group) => {
                let local = self.sync_group_log(group).await?;
                if !local.joined {
                    return Err(Error::NotMember);
                }
                let own = self.user_id();
                local.member_ids().into_iter().filter(|u| u != own).collect()
            }
        };
        self.create_blob(size, &recipients).await
    }

    /// Stop the upload or download of a message's file. An upload stopped this way fails the
    /// message (it can be sent again with [`Client::retry`]); a download leaves the file on the
    /// server. Returns whether a transfer was running.
    pub fn cancel_transfer(&self, message_row: i64) -> bool {
        self.inner.transfers.cancel(message_row)
    }

    /// Fetch a message's file into the profile (kept encrypted), unless it is there already.
    /// Progress follows as `file_progress` events, and the message (its file now `local`) as
    /// `status_changed`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn download(&self, message_row: i64) -> Result<Message> {
        let lock = self.inner.transfers.lock_for(message_row);
        let _held = lock.lock().await;
        let (message, stored) = self.read(|db| Ok((db.message(message_row)?, db.stored_file(message_row)?)))?;
        let (Some(message), Some(stored)) = (message, stored) else {
            return Err(Error::InvalidInput("That message has no file.".into()));
        };
        if stored.state != FileState::Remote {
            return Ok(message);
        }
        let blob_id = stored.blob_id.clone().ok_or(StoreError::Missing("blob of a received file"))?;
        let files = self.files_dir();
        tokio::fs::create_dir_all(&files).await?;
        restrict(&files)?;
        let cancel = self.inner.transfers.start(message_row);
        let (progress, forwarding) = self.progress_events(&message, Transfer::Download);
        let local = uuid::Uuid::new_v4().simple().to_string();
        let result = async {
            let temp = tempfile::Builder::new().prefix(".receiving-").tempfile_in(&files)?;
            // Checked against the key's size and hash as it arrives.
            tokio::select! {
                fetched = self.fetch_ciphertext(&blob_id, &stored.key, temp.path(), &progress) => fetched?,
                () = cancel.cancelled() => return Err(Error::Cancelled),
            }
            temp.persist_noclobber(files.join(&local)).map_err(|e| Error::Io(e.error))?;
            Ok(())
        }
        .await;
        self.inner.transfers.end(message_row);
        drop(progress);
        let _ = forwarding.await;
        result?;
        let updated = self.transact(|_, db| {
            db.set_file_state(message_row, FileState::Local, Some(&local))?;
            db.message(message_row)
        })?;
        let updated = updated.ok_or(StoreError::Missing("message just downloaded"))?;
        self.emit(ClientEvent::StatusChanged { message: updated.clone() });
        Ok(updated)
    }

    /// Save a message's file, decrypted, as a new file at `dest` (never over an existing one),
    /// fetching it first if needed. Returns its size.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn save_file(&self, message_row: i64, dest: &Path) -> Result<u64> {
        if tokio::fs::try_exists(dest).await? {
            return Err(Error::FileExists(dest.display().to_string()));
        }
        self.download(message_row).await?;
        let stored = self.read(|db| db.stored_file(message_row))?.ok_or(StoreError::Missing("file just fetched"))?;
        let local = stored.local.ok_or(StoreError::Missing("file just fetched"))?;
        let (source, dest, key) = (self.files_dir().join(local), dest.to_owned(), stored.key);
        tokio::task::spawn_blocking(move || {
            let input = std::io::BufReader::new(std::fs::File::open(&source)?);
            Ok(attachment::decrypt_to_file(input, &dest, &key, |_| {})?)
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }

    /// A message's file, decrypted into memory (fetched first if needed), for showing it — an
    /// image at full size — without writing its plaintext anywhere. Refused above `max_bytes`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn file_bytes(&self, message_row: i64, max_bytes: u64) -> Result<Vec<u8>> {
        let size = self.read(|db| db.stored_file(message_row))?.map(|f| f.key.size);
        match size {
            None => return Err(Error::InvalidInput("That message has no file.".into())),
            Some(size) if size > max_bytes => {
                return Err(Error::InvalidInput("This file is too large to show here; save it instead.".into()));
            }
            Some(_) => {}
        }
        self.download(message_row).await?;
        let stored = self.read(|db| db.stored_file(message_row))?.ok_or(StoreError::Missing("file just fetched"))?;
        let local = stored.local.ok_or(StoreError::Missing("file just fetched"))?;
        let (source, key) = (self.files_dir().join(local), stored.key);
        tokio::task::spawn_blocking(move || {
            let input = std::io::BufReader::new(std::fs::File::open(&source)?);
            let mut plain = Vec::with_capacity(usize::try_from(key.size).unwrap_or(0));
            attachment::decrypt(input, &mut plain, &key, |_| {})?;
            Ok(plain)
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }

    /// A message by its message id (the id every side shares), in whichever conversation.
    pub fn message_by_id(&self, message_id: &str) -> Result<Option<Message>> {
        self.read(|db| match db.message_row_by_id(message_id)? {
            Some(row) => db.message(row),
            None => Ok(None),
        })
    }

    /// An image message's thumbnail (a small JPEG), if it has one.
    pub fn thumbnail(&self, message_row: i64) -> Result<Option<Vec<u8>>> {
        self.read(|db| db.thumbnail(message_row))
    }

    /// New incoming files: fetch the small ones now (in the background when the service runs).
    pub(crate) async fn auto_download(&self, rows: Vec<i64>) {
        if rows.is_empty() {
            return;
        }
        let limit = match self.auto_download_limit() {
            Ok(limit) => limit,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the auto-download limit");
                return;
            }
        };
        let small: Vec<i64> = rows
            .into_iter()
            .filter(|row| {
                matches!(self.read(|db| db.message(*row)), Ok(Some(Message { file: Some(f), .. })) if f.size <= limit)
            })
            .collect();
        if self.inner.started.load(std::sync::atomic::Ordering::Relaxed) {
            let mut queued = self.inner.transfers.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            queued.extend(small);
            drop(queued);
            self.inner.transfers.wake.notify_one();
            return;
        }
        for row in small {
            if let Err(e) = self.download(row).await {
                tracing::info!(error = %e, "a file was not downloaded automatically");
            }
        }
    }

    /// The background transfers: uploads of files waiting to go out, then automatic downloads;
    /// woken by new work, and every minute for uploads that failed for a while.
    pub(crate) async fn run_transfers(&self) {
        while !self.inner.cancel.is_cancelled() {
            self.upload_waiting().await;
            loop {
                let next =
                    self.inner.transfers.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front();
                let Some(row) = next else { break };
                if let Err(e) = self.download(row).await {
                    tracing::info!(error = %e, "a file was not downloaded automatically");
                }
            }
            tokio::select! {
                () = self.inner.transfers.wake.notified() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                () = self.inner.cancel.cancelled() => break,
            }
        }
    }

    /// A progress channel for a transfer, forwarded as `file_progress` events until it is dropped.
    fn progress_events(
        &self,
        message: &Message,
        direction: Transfer,
    ) -> (watch::Sender<Progress>, tokio::task::JoinHandle<()>) {
        let progress = Progress::unobserved();
        let mut rx = progress.subscribe();
        let (client, message_row, conversation_id) = (self.clone(), message.id, message.conversation_id.clone());
        let forwarding = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Progress { done, total } = *rx.borrow_and_update();
                client.emit(ClientEvent::FileProgress {
                    message_row,
                    conversation_id: conversation_id.clone(),
                    direction,
                    done,
                    total,
                });
            }
        });
        (progress, forwarding)
    }
}

fn file_error(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::InvalidInput(format!("There is no file at {}.", path.display())),
        std::io::ErrorKind::PermissionDenied => {
            Error::InvalidInput(format!("Sotto may not read {} (permission denied).", path.display()))
        }
        _ => Error::Io(e),
    }
}

fn restrict(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_names_not_paths() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\x\\photo.jpg"), "photo.jpg");
        assert_eq!(clean_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_name("..."), "file");
        assert_eq!(clean_name(".hidden"), "hidden");
        assert_eq!(clean_name(""), "file");
        let long = format!("{}.pdf", "x".repeat(500));
        let cleaned = clean_name(&long);
        assert_eq!(cleaned.chars().count(), MAX_NAME_CHARS);
        assert!(cleaned.ends_with(".pdf"));
    }

    /// What a hostile sender puts in a file message is made harmless before anything shows it:
    /// a path for a name, a "thumbnail" that is no image, a made-up type.
    #[test]
    fn a_received_file_keeps_only_what_checks_out() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::profile::ProfileKey::bench_from_bytes([3; 32]);
        let mut store =
            crate::store::Store::open(&dir.path().join("db"), &key, crate::store::OpenMode::Create).unwrap();
        let conversation = ConversationId::Direct(UserId::parse("mallory").unwrap());
        let mut sealed = Vec::new();
        let file_key = attachment::encrypt(&b"x"[..], &mut sealed, |_| {}).unwrap();
        let hostile = FileContent {
            blob_id: BlobId::parse("bbbbbbbbbbbbbbbbbbbbbb").unwrap(),
            key: file_key,
            name: "../../.bashrc".into(),
            mime: "text/html\r\nx: y".into(),
            caption: String::new(),
            preview: Some(ImagePreview {
                width: 10,
                height: 10,
                blurhash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj".into(),
                thumbnail: b"<script>not an image</script>".to_vec(),
            }),
        };
        let info = store
            .transaction(|db| {
                db.ensure_conversation(&conversation, "mallory")?;
                let m = db
                    .insert_message(&crate::store::NewMessage::received_text(&conversation, "m1", "mallory", "", 1))?
                    .unwrap();
                store_received(db, m.id, &hostile)
            })
            .unwrap();
        assert_eq!(info.name, "bashrc");
        assert_eq!(info.mime, "application/octet-stream");
        assert_eq!(info.state, FileState::Remote);
        assert!(info.image.is_none(), "a preview that does not decode is dropped");
        assert_eq!(store.db().thumbnail(1).unwrap(), None);
    }

    #[test]
    fn media_types_are_checked() {
        assert_eq!(clean_mime("image/PNG"), "image/png");
        assert_eq!(clean_mime("text/html; charset=utf-8"), "application/octet-stream");
        assert_eq!(clean_mime("nonsense"), "application/octet-stream");
        assert_eq!(clean_mime("a/b\n"), "application/octet-stream");
    }
}
