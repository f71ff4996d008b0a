//! Files of messages: what the app shows of them ([`FileInfo`], part of every [`Message`] of
//! kind `file`), and what the engine needs to move them ([`StoredFile`]: key, blob, where the
//! ciphertext is kept).
//!
//! Invariants: one row per file message, written in the transaction that writes the message;
//! `state = 'local'` only once the ciphertext in the profile checked out against the key's
//! SHA-256; the key never leaves this table except inside an end-to-end message or a backup.
//!
//! [`Message`]: super::Message

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sotto_proto::BlobId;

use crate::Result;
use crate::attachment::FileKey;
use crate::preview::ImagePreview;
use crate::store::{Db, StoreError};

/// Where a file's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Outgoing: kept here, and being sent to the server (the message goes out once it has it).
    Uploading,
    /// Incoming: on the server only; downloaded on demand (or automatically when small).
    Remote,
    /// Here, in the profile (encrypted), and checked.
    Local,
}

impl FileState {
    fn as_str(self) -> &'static str {
        match self {
            FileState::Uploading => "uploading",
            FileState::Remote => "remote",
            FileState::Local => "local",
        }
    }

    pub(super) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "uploading" => FileState::Uploading,
            "remote" => FileState::Remote,
            "local" => FileState::Local,
            _ => return Err(StoreError::unknown("attachments", "state").into()),
        })
    }
}

/// A message's file as the app shows it: no key, and the thumbnail only through
/// `Client::thumbnail` (kept out of every message page). `Debug` leaves the name out (it is the
/// message's content).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FileInfo {
    /// The name the sender gave it (never a path).
    pub name: String,
    pub mime: String,
    /// Bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    pub state: FileState,
    /// For an image: its size in pixels and a placeholder; a thumbnail is there to fetch.
    pub image: Option<ImageInfo>,
}

impl std::fmt::Debug for FileInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileInfo")
            .field("size", &self.size)
            .field("state", &self.state)
            .field("image", &self.image.is_some())
            .finish_non_exhaustive()
    }
}

/// An image's size and placeholder. `Debug` shows the size only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    pub blurhash: String,
}

impl std::fmt::Debug for ImageInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageInfo").field("width", &self.width).field("height", &self.height).finish_non_exhaustive()
    }
}

/// A file message's row as the engine uses it. `Debug` leaves the name out.
#[derive(Clone)]
pub struct StoredFile {
    pub name: String,
    pub mime: String,
    pub key: FileKey,
    pub blob_id: Option<BlobId>,
    pub state: FileState,
    /// The ciphertext's name in the profile's `files` directory.
    pub local: Option<String>,
    pub preview: Option<ImagePreview>,
}

impl std::fmt::Debug for StoredFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredFile")
            .field("key", &self.key)
            .field("blob_id", &self.blob_id)
            .field("state", &self.state)
            .field("preview", &self.preview)
            .finish_non_exhaustive()
    }
}

/// A file to store with its (just inserted) message.
pub struct NewFile<'a> {
    pub name: &'a str,
    pub mime: &'a str,
    pub key: &'a FileKey,
    pub blob_id: Option<&'a BlobId>,
    pub state: FileState,
    pub local: Option<&'a str>,
    pub preview: Option<&'a ImagePreview>,
}

/// The attachment columns of a message page (after the message's own), from `attachments a`
/// joined on the message; all NULL for a message without a file.
macro_rules! file_columns {
    () => {
        "a.name, a.mime, a.size, a.state, a.width, a.height, a.blurhash"
    };
}
pub(super) use file_columns;

/// The columns of [`file_columns!`] as read.
pub(super) type FileRow =
    (Option<String>, Option<String>, Option<i64>, Option<String>, Option<i64>, Option<i64>, Option<String>);

pub(super) fn to_file_info(row: FileRow) -> Result<Option<FileInfo>> {
    let (Some(name), Some(mime), Some(size), Some(state)) = (row.0, row.1, row.2, row.3) else { return Ok(None) };
    let image = match (row.4, row.5, row.6) {
        (Some(width), Some(height), Some(blurhash)) => Some(ImageInfo {
            width: u32::try_from(width).map_err(|_| StoreError::malformed("attachments", "width"))?,
            height: u32::try_from(height).map_err(|_| StoreError::malformed("attachments", "height"))?,
            blurhash,
        }),
        _ => None,
    };
    Ok(Some(FileInfo {
        name,
        mime,
        size: u64::try_from(size).map_err(|_| StoreError::malformed("attachments", "size"))?,
        state: FileState::parse(&state)?,
        image,
    }))
}

impl Db<'_> {
    pub fn insert_file(&self, message_row: i64, f: &NewFile<'_>) -> Result<()> {
        let key = serde_json::to_string(f.key).map_err(StoreError::json("attachments", "file_key"))?;
        let preview = f.preview;
        self.conn()
            .prepare_cached(
                "INSERT INTO attachments (message_row, name, mime, size, file_key, blob_id, state, local,
                    width, height, blurhash, thumbnail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                message_row,
                f.name,
                f.mime,
                i64::try_from(f.key.size).unwrap_or(i64::MAX),
                key,
                f.blob_id.map(BlobId::as_str),
                f.state.as_str(),
                f.local,
                preview.map(|p| p.width),
                preview.map(|p| p.height),
                preview.map(|p| p.blurhash.as_str()),
                preview.map(|p| p.thumbnail.as_slice()),
            ])?;
        Ok(())
    }

    pub fn stored_file(&self, message_row: i64) -> Result<Option<StoredFile>> {
        let row = self
            .conn()
            .prepare_cached(
                "SELECT name, mime, file_key, blob_id, state, local, width, height, blurhash, thumbnail
                 FROM attachments WHERE message_row = ?1",
            )?
            .query_row([message_row], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<u32>>(6)?,
                    r.get::<_, Option<u32>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<Vec<u8>>>(9)?,
                ))
            })
            .optional()?;
        let Some((name, mime, key, blob_id, state, local, width, height, blurhash, thumbnail)) = row else {
            return Ok(None);
        };
        let preview = match (width, height, blurhash, thumbnail) {
            (Some(width), Some(height), Some(blurhash), Some(thumbnail)) => {
                Some(ImagePreview { width, height, blurhash, thumbnail })
            }
            _ => None,
        };
        Ok(Some(StoredFile {
            name,
            mime,
            key: serde_json::from_str(&key).map_err(StoreError::json("attachments", "file_key"))?,
            blob_id: blob_id
                .map(|b| BlobId::parse(b.as_str()))
                .transpose()
                .map_err(StoreError::id("attachments", "blob_id"))?,
            state: FileState::parse(&state)?,
            local,
            preview,
        }))
    }

    /// The thumbnail of an image message, if it has one.
    pub fn thumbnail(&self, message_row: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT thumbnail FROM attachments WHERE message_row = ?1")?
            .query_row([message_row], |r| r.get::<_, Option<Vec<u8>>>(0))
            .optional()?
            .flatten())
    }

    /// The blob reserved for an outgoing file's upload.
    pub fn set_file_blob(&self, message_row: i64, blob_id: Option<&BlobId>) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE attachments SET blob_id = ?2 WHERE message_row = ?1")?
            .execute(params![message_row, blob_id.map(BlobId::as_str)])?;
        Ok(())
    }

    pub fn set_file_state(&self, message_row: i64, state: FileState, local: Option<&str>) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE attachments SET state = ?2, local = coalesce(?3, local) WHERE message_row = ?1")?
            .execute(params![message_row, state.as_str(), local])?;
        Ok(())
    }

    /// Outgoing files still to upload whose message is waiting to go out (not failed), oldest
    /// first.
    pub fn files_to_upload(&self) -> Result<Vec<i64>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT a.message_row FROM attachments a JOIN messages m ON m.id = a.message_row
             WHERE a.state = 'uploading' AND m.status = 'queued' ORDER BY a.message_row",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The row of a message by its message id in any conversation (message ids are random).
    pub fn message_row_by_id(&self, message_id: &str) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT id FROM messages WHERE message_id = ?1 ORDER BY id LIMIT 1")?
            .query_row([message_id], |r| r.get(0))
            .optional()?)
    }
}
