//! Readable export: one conversation or all of them as self-contained HTML pages or JSON files,
//! for people to keep, print or archive outside the app (format: `docs/readable-export.md`).
//! This module is the public API and the job; the formats are written by `html` and `json`.
//!
//! This is the one place where the engine writes plaintext outside the encrypted database, and
//! only because the user asked for it; the folder is created readable by its owner only.
//!
//! Invariants: the target is a new or empty folder and nothing that exists is ever overwritten;
//! everything is written into a hidden sibling folder that is renamed into place only when it is
//! complete, and removed on any error or cancellation. Messages are streamed page by page from
//! one read snapshot (a connection of the export's own), so memory does not grow with the
//! history and the engine keeps working meanwhile. File names come from a slug of the title
//! plus a hash of the conversation id, never from a title or user id as given.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::progress::{CancellationToken, Progress, watch};
use crate::store::{Conversation, Db, Message, Reader};
use crate::{Client, ConversationId, Error, Result};

mod html;
mod json;

/// The name and version written into `index.json`.
pub const FORMAT_NAME: &str = "sotto-readable-export";
pub const FORMAT_VERSION: u32 = 1;

/// Messages read per query: bounds the memory an export needs.
const PAGE: u32 = 500;
/// Longest slug taken from a title for a file name.
const SLUG_CHARS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `index.html` and one self-contained page per conversation.
    Html,
    /// `index.json` and one JSON document per conversation.
    Json,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Html => "html",
            ExportFormat::Json => "json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum ExportScope {
    /// Every conversation on this device.
    All,
    /// One conversation, by its id (`u:<user id>` or `g:<group id>`).
    Conversation(ConversationId),
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExportSummary {
    pub conversations: u64,
    pub messages: u64,
    /// The folder the export is in.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub path: PathBuf,
}

impl Client {
    /// Write the conversations in `scope` as readable files into `dir`, which must not exist or
    /// be an empty folder. Times in HTML are shown in this computer's time zone.
    ///
    /// Blocking (file and database I/O): call it on a blocking thread. `progress` counts
    /// messages; a cancelled export returns [`Error::Cancelled`] and leaves no folder behind.
    #[tracing::instrument(skip_all, fields(format = ?format), err)]
    pub fn export_readable(
        &self,
        dir: &Path,
        format: ExportFormat,
        scope: ExportScope,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<ExportSummary> {
        let mut reader = self.reader()?;
        // People's display names, shown beside their ids.
        let names = self
            .profiles()?
            .into_iter()
            .filter_map(|p| Some((p.user_id, p.name?)))
            .collect::<std::collections::HashMap<_, _>>();
        let job = Job {
            names,
            format,
            files: crate::profile::ProfilePaths::new(self.profile_dir()).files(),
            tz: TimeZone::system(),
            user_id: self.user_id().as_str(),
            exported_at: Timestamp::now(),
            progress,
            cancel,
        };
        job.run(&mut reader, dir, &scope)
    }
}

/// One export's settings; the time zone and clock are explicit so tests can fix them.
struct Job<'a> {
    format: ExportFormat,
    /// Display names by user id (those known).
    names: std::collections::HashMap<String, String>,
    /// The profile's kept (encrypted) files.
    files: PathBuf,
    tz: TimeZone,
    user_id: &'a str,
    exported_at: Timestamp,
    progress: &'a watch::Sender<Progress>,
    cancel: &'a CancellationToken,
}

/// What the index says about one exported conversation.
struct Entry {
    conversation: Conversation,
    file: String,
    messages: u64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
}

/// Messages written so far, for progress and cancellation.
struct Counter<'a> {
    done: u64,
    total: u64,
    progress: &'a watch::Sender<Progress>,
    cancel: &'a CancellationToken,
}

impl Counter<'_> {
    /// Called before each message is written.
    fn check(&self) -> Result<()> {
        if self.cancel.is_cancelled() { Err(Error::Cancelled) } else { Ok(()) }
    }

    /// Called after each message was written.
    fn step(&mut self) {
        self.done += 1;
        Progress::publish(self.progress, self.done, self.total);
    }
}

impl Job<'_> {
    fn run(&self, reader: &mut Reader, dir: &Path, scope: &ExportScope) -> Result<ExportSummary> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let parent = target_parent(dir)?;
        check_target(dir)?;
        let (entries, staging) = reader.snapshot(|db| {
            let conversations = match scope {
                ExportScope::All => db.conversations()?,
                ExportScope::Conversation(id) => {
                    vec![db.conversation(id)?.ok_or_else(|| Error::UnknownConversation(id.to_string()))?]
                }
            };
            let mut counts = Vec::with_capacity(conversations.len());
            for c in &conversations {
                counts.push(db.message_count(&c.id)?);
            }
            let total = counts.iter().sum();
            // Owner-only (0700 on Unix); removed when dropped before `finish`.
            let staging = tempfile::Builder::new().prefix(".sotto-export-").tempdir_in(&parent)?;
            Progress::publish(self.progress, 0, total);
            let mut counter = Counter { done: 0, total, progress: self.progress, cancel: self.cancel };
            let mut names = FileNames::default();
            let mut entries = Vec::with_capacity(conversations.len());
            for (conversation, messages) in conversations.into_iter().zip(counts) {
                let file = names.assign(&conversation, self.format.extension());
                let mut entry = Entry { conversation, file, messages, first_ts: None, last_ts: None };
                let out = create(&staging.path().join(&entry.file))?;
                let staged = staging.path();
                match self.format {
                    ExportFormat::Html => self.html_conversation(db, staged, out, &mut entry, &mut counter)?,
                    ExportFormat::Json => self.json_conversation(db, staged, out, &mut entry, &mut counter)?,
                }
                entries.push(entry);
            }
            Ok((entries, staging))
        })?;
        match self.format {
            ExportFormat::Html => self.html_index(create(&staging.path().join("index.html"))?, &entries)?,
            ExportFormat::Json => self.json_index(create(&staging.path().join("index.json"))?, &entries)?,
        }
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        finish(staging, dir)?;
        let messages = entries.iter().map(|e| e.messages).sum();
        tracing::info!(conversations = entries.len(), messages, "readable export written");
        Ok(ExportSummary { conversations: entries.len() as u64, messages, path: dir.to_path_buf() })
    }

    /// Every message of a conversation, oldest first, a page at a time from the snapshot.
    fn each_message(
        db: &Db<'_>,
        entry: &mut Entry,
        counter: &mut Counter<'_>,
        mut write: impl FnMut(&Message) -> Result<()>,
    ) -> Result<()> {
        let mut after = 0;
        loop {
            let page = db.messages_after(&entry.conversation.id, after, PAGE)?;
            let Some(last) = page.last() else { return Ok(()) };
            after = last.id;
            for m in &page {
                counter.check()?;
                write(m)?;
                entry.first_ts = Some(entry.first_ts.map_or(m.ts, |t| t.min(m.ts)));
                entry.last_ts = Some(entry.last_ts.map_or(m.ts, |t| t.max(m.ts)));
                counter.step();
            }
        }
    }

    /// A file message's file, decrypted into the export's `files` folder when this device has
    /// it: its path relative to the export (`None`: not downloaded here, or not a file).
    fn export_file(&self, db: &Db<'_>, staging: &Path, m: &Message) -> Result<Option<String>> {
        let Some(info) = &m.file else { return Ok(None) };
        let Some(stored) = db.stored_file(m.id)? else { return Ok(None) };
        let (Some(local), crate::store::FileState::Local | crate::store::FileState::Uploading) =
            (&stored.local, stored.state)
        else {
            return Ok(None);
        };
        let dir = staging.join("files");
        std::fs::create_dir_all(&dir)?;
        let relative = format!("files/{}-{}", m.id, disk_name(&info.name));
        let input = std::io::BufReader::new(File::open(self.files.join(local))?);
        crate::attachment::decrypt_to_file(input, &staging.join(&relative), &stored.key, |_| {})?;
        Ok(Some(relative))
    }

    fn local(&self, ms: i64) -> Option<ZonedDateTime> {
        Timestamp::from_millisecond(ms).ok().map(|t| t.to_zoned_datetime(self.tz.clone()))
    }
}

// ---- the target folder ----

/// The folder the target goes into; it must exist.
fn target_parent(dir: &Path) -> Result<PathBuf> {
    if dir.file_name().is_none() {
        return Err(Error::InvalidInput(format!("{} cannot be an export folder; name a new folder.", dir.display())));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::InvalidInput(format!("The folder {} does not exist.", parent.display())));
    }
    Ok(parent)
}

/// The target must not exist, or be an empty folder (not a link to one).
fn check_target(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
        Ok(meta) if meta.is_dir() && std::fs::read_dir(dir)?.next().is_none() => Ok(()),
        Ok(_) => Err(Error::TargetExists(dir.display().to_string())),
    }
}

/// Move the finished export into place. An empty target folder is replaced; one that gained
/// files meanwhile is left alone and the export removed.
fn finish(staging: tempfile::TempDir, dir: &Path) -> Result<()> {
    check_target(dir)?;
    if dir.is_dir() {
        // Fails (and nothing is lost) if the folder is not empty any more.
        std::fs::remove_dir(dir).map_err(|_| Error::TargetExists(dir.display().to_string()))?;
    }
    let path = staging.keep();
    if let Err(e) = std::fs::rename(&path, dir) {
        if let Err(cleanup) = std::fs::remove_dir_all(&path) {
            tracing::warn!(error = %cleanup, "could not remove an unfinished export");
        }
        return Err(e.into());
    }
    Ok(())
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create_new(path)?))
}

fn close(w: BufWriter<File>) -> Result<()> {
    let file = w.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    file.sync_all()?;
    Ok(())
}

/// File names: a slug of the title (ASCII letters, digits and `-` only, so no title can name
/// another folder) and the start of a hash of the conversation id, unique within the export.
#[derive(Default)]
struct FileNames {
    used: HashSet<String>,
}

impl FileNames {
    fn assign(&mut self, conversation: &Conversation, extension: &str) -> String {
        let digest = sha2::Sha256::digest(conversation.id.to_string().as_bytes());
        let base = format!("{}-{}", slug(&conversation.title), hex::encode(digest.get(..4).unwrap_or_default()));
        let mut name = format!("{base}.{extension}");
        let mut n = 2;
        while !self.used.insert(name.clone()) {
            name = format!("{base}-{n}.{extension}");
            n += 1;
        }
        name
    }
}

/// A file's name as a name on any file system: characters Windows refuses become `_`, and it
/// does not end in a dot or a space.
fn disk_name(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_control() || "<>:\"/\\|?*".contains(c) { '_' } else { c }).collect();
    let trimmed = cleaned.trim_end_matches(['.', ' ']);
    if trimmed.is_empty() { "file".to_owned() } else { trimmed.to_owned() }
}

fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if out.len() >= SLUG_CHARS {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() { "conversation".to_owned() } else { trimmed.to_owned() }
}

#[cfg(test)]
mod tests;
