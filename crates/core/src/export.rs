//! Readable export: one conversation or all of them as self-contained HTML pages or JSON files,
//! for people to keep, print or archive outside the app (format: `docs/readable-export.md`).
//!
//! This is the one place where the engine writes plaintext outside the encrypted database, and
//! only because the user asked for it; the folder is created readable by its owner only.
//!
//! Invariants: the target is a new or empty folder and nothing that exists is ever overwritten;
//! everything is written into a hidden sibling folder that is renamed into place only when it is
//! complete, and removed on any error or cancellation. Messages are streamed page by page from
//! one read snapshot (a connection of the export's own), so memory does not grow with the
//! history and the engine keeps working meanwhile. File names come from a slug of the title
//! plus a hash of the conversation id, never from a title or user id as given. Every piece of
//! text in HTML is escaped by `html-escape`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::progress::{CancellationToken, Progress, watch};
use crate::store::{Conversation, ConversationKind, Db, Message, MessageKind, MessageReason, MessageStatus, Reader};
use crate::{Client, Error, Result};

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
    Conversation(String),
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
        let job = Job {
            format,
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
                    vec![db.conversation(id)?.ok_or_else(|| Error::UnknownConversation(id.clone()))?]
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
                match self.format {
                    ExportFormat::Html => self.html_conversation(db, out, &mut entry, &mut counter)?,
                    ExportFormat::Json => self.json_conversation(db, out, &mut entry, &mut counter)?,
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

    fn local(&self, ms: i64) -> Option<ZonedDateTime> {
        Timestamp::from_millisecond(ms).ok().map(|t| t.to_zoned_datetime(self.tz.clone()))
    }

    // ---- HTML ----

    fn html_conversation(
        &self,
        db: &Db<'_>,
        mut w: BufWriter<File>,
        entry: &mut Entry,
        counter: &mut Counter<'_>,
    ) -> Result<()> {
        let c = &entry.conversation;
        html_head(&mut w, &c.title)?;
        w.write_all(b"<nav><a href=\"index.html\">\xE2\x86\x90 All conversations</a></nav>\n<header><h1>")?;
        esc(&mut w, &c.title)?;
        w.write_all(b"</h1>\n<p class=\"meta\">")?;
        match c.kind {
            ConversationKind::Direct => {
                w.write_all(b"Conversation with ")?;
                esc(&mut w, &c.peer)?;
            }
            ConversationKind::Group => {
                w.write_all(b"Group ")?;
                esc(&mut w, &c.peer)?;
            }
        }
        write!(w, " \u{b7} {} \u{b7} exported by ", messages_words(entry.messages))?;
        esc(&mut w, self.user_id)?;
        w.write_all(b" on ")?;
        self.html_moment(&mut w, self.exported_at.as_millisecond())?;
        w.write_all(b"</p>\n</header>\n<main>\n")?;
        if entry.messages == 0 {
            w.write_all(b"<p class=\"empty\">No messages.</p>\n")?;
        }
        let mut day = None;
        Self::each_message(db, entry, counter, |m| {
            let when = self.local(m.ts);
            let this_day = when.as_ref().map(ZonedDateTime::date);
            if day != Some(this_day) {
                if day.is_some() {
                    w.write_all(b"</section>\n")?;
                }
                w.write_all(b"<section class=\"day\">\n<h2>")?;
                match &when {
                    Some(z) => write!(w, "<time datetime=\"{}\">{}</time>", z.date(), z.strftime("%A, %-d %B %Y"))?,
                    None => w.write_all(b"Unknown date")?,
                }
                w.write_all(b"</h2>\n")?;
                day = Some(this_day);
            }
            html_message(&mut w, m, when.as_ref())
        })?;
        if day.is_some() {
            w.write_all(b"</section>\n")?;
        }
        w.write_all(b"</main>\n</body>\n</html>\n")?;
        close(w)
    }

    fn html_index(&self, mut w: BufWriter<File>, entries: &[Entry]) -> Result<()> {
        html_head(&mut w, "Sotto conversations")?;
        w.write_all(b"<header><h1>Conversations</h1>\n<p class=\"meta\">Exported from Sotto by ")?;
        esc(&mut w, self.user_id)?;
        w.write_all(b" on ")?;
        self.html_moment(&mut w, self.exported_at.as_millisecond())?;
        let total: u64 = entries.iter().map(|e| e.messages).sum();
        write!(w, " \u{b7} {} in {} ", messages_words(total), entries.len())?;
        w.write_all(if entries.len() == 1 { "conversation" } else { "conversations" }.as_bytes())?;
        w.write_all(b"</p>\n</header>\n<main>\n<ul class=\"index\">\n")?;
        for e in entries {
            let c = &e.conversation;
            w.write_all(b"<li><a href=\"")?;
            esc(&mut w, &e.file)?;
            w.write_all(b"\">")?;
            esc(&mut w, &c.title)?;
            w.write_all(b"</a>\n<span class=\"meta\">")?;
            match c.kind {
                ConversationKind::Direct => {
                    w.write_all(b"with ")?;
                    esc(&mut w, &c.peer)?;
                }
                ConversationKind::Group => w.write_all(b"group")?,
            }
            write!(w, " \u{b7} {}", messages_words(e.messages))?;
            if let (Some(first), Some(last)) =
                (e.first_ts.and_then(|t| self.local(t)), e.last_ts.and_then(|t| self.local(t)))
            {
                let (a, b) = (first.strftime("%-d %b %Y"), last.strftime("%-d %b %Y"));
                if first.date() == last.date() {
                    write!(w, " \u{b7} {a}")?;
                } else {
                    write!(w, " \u{b7} {a} \u{2013} {b}")?;
                }
            }
            w.write_all(b"</span></li>\n")?;
        }
        w.write_all(b"</ul>\n")?;
        if entries.is_empty() {
            w.write_all(b"<p class=\"empty\">No conversations.</p>\n")?;
        }
        w.write_all(b"</main>\n</body>\n</html>\n")?;
        close(w)
    }

    /// A full local date and time with its offset, e.g. `4 March 2026, 14:03 (UTC+01:00)`.
    fn html_moment(&self, w: &mut impl Write, ms: i64) -> Result<()> {
        match self.local(ms) {
            Some(z) => write!(
                w,
                "<time datetime=\"{}\">{}</time>",
                z.timestamp().display_with_offset(z.offset()),
                z.strftime("%-d %B %Y, %H:%M (UTC%:z)")
            )?,
            None => w.write_all(b"an unknown time")?,
        }
        Ok(())
    }

    // ---- JSON ----

    fn json_conversation(
        &self,
        db: &Db<'_>,
        mut w: BufWriter<File>,
        entry: &mut Entry,
        counter: &mut Counter<'_>,
    ) -> Result<()> {
        w.write_all(b"{\"conversation\":")?;
        json(&mut w, &JsonConversation::new(&entry.conversation, entry.messages))?;
        w.write_all(b",\n\"messages\":[")?;
        let mut first = true;
        Self::each_message(db, entry, counter, |m| {
            w.write_all(if first { "\n" } else { ",\n" }.as_bytes())?;
            first = false;
            json(&mut w, &JsonMessage::new(m))
        })?;
        w.write_all(b"\n]}\n")?;
        close(w)
    }

    fn json_index(&self, mut w: BufWriter<File>, entries: &[Entry]) -> Result<()> {
        let index = JsonIndex {
            format: FORMAT_NAME,
            version: FORMAT_VERSION,
            exported_at: self.exported_at.to_string(),
            user_id: self.user_id,
            conversations: entries
                .iter()
                .map(|e| JsonIndexEntry {
                    conversation: JsonConversation::new(&e.conversation, e.messages),
                    file: &e.file,
                    first_at: e.first_ts.and_then(iso),
                    last_at: e.last_ts.and_then(iso),
                })
                .collect(),
        };
        serde_json::to_writer_pretty(&mut w, &index).map_err(json_error)?;
        w.write_all(b"\n")?;
        close(w)
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
        let digest = sha2::Sha256::digest(conversation.id.as_bytes());
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

// ---- HTML pieces ----

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

const CSS: &str = r#"
:root { color-scheme: light dark; --bg: #fbfaf7; --fg: #1f2023; --muted: #6a6b70; --line: #e4e2dc;
  --in: #ffffff; --out: #eaf1fb; --accent: #2b5fb3; --warn: #8a4a00; --warn-bg: #fff3df; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #16171a; --fg: #e7e6e3; --muted: #9c9ca3; --line: #2d2e33;
    --in: #202226; --out: #1c2940; --accent: #8fb6f5; --warn: #f2b45c; --warn-bg: #2d2414; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 46rem; padding: 2rem 1.25rem 4rem; background: var(--bg); color: var(--fg);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
a { color: var(--accent); }
nav { margin-bottom: 1.5rem; font-size: .9rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
.meta { color: var(--muted); font-size: .875rem; margin: 0; }
header { border-bottom: 1px solid var(--line); padding-bottom: 1rem; margin-bottom: 1.5rem; }
h2 { font-size: .8rem; font-weight: 600; letter-spacing: .04em; text-transform: uppercase; color: var(--muted);
  text-align: center; margin: 2rem 0 1rem; }
.message { background: var(--in); border: 1px solid var(--line); border-radius: .75rem; padding: .5rem .85rem;
  margin: .5rem 2.5rem .5rem 0; }
.message.out { background: var(--out); margin: .5rem 0 .5rem 2.5rem; }
.message header { border: 0; padding: 0; margin: 0 0 .15rem; font-size: .8rem; color: var(--muted); }
.sender { font-weight: 600; color: var(--fg); margin-right: .5rem; overflow-wrap: anywhere; }
.offset { font-size: .75em; }
.body { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.notice { font-style: italic; color: var(--muted); }
.status { margin: .25rem 0 0; font-size: .8rem; color: var(--warn); background: var(--warn-bg);
  border-radius: .35rem; padding: .1rem .4rem; display: inline-block; }
.system { text-align: center; color: var(--muted); font-size: .85rem; font-style: italic; margin: .75rem 2rem;
  overflow-wrap: anywhere; }
.system time { font-style: normal; margin-right: .35rem; }
.empty { color: var(--muted); font-style: italic; }
.index { list-style: none; padding: 0; margin: 0; }
.index li { padding: .75rem 0; border-bottom: 1px solid var(--line); }
.index a { font-weight: 600; font-size: 1.05rem; margin-right: .5rem; overflow-wrap: anywhere; }
@media print {
  :root { --bg: #fff; --fg: #000; --muted: #444; --line: #bbb; --in: #fff; --out: #f3f3f3; --accent: #000;
    --warn: #000; --warn-bg: #fff; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav { display: none; }
  a { text-decoration: none; }
  .message, .system { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"#;

fn html_head(w: &mut impl Write, title: &str) -> Result<()> {
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
    )?;
    esc(w, title)?;
    write!(w, "</title>\n<style>{CSS}</style>\n</head>\n<body>\n")?;
    Ok(())
}

fn html_message(w: &mut impl Write, m: &Message, when: Option<&ZonedDateTime>) -> Result<()> {
    if m.kind == MessageKind::System {
        w.write_all(b"<p class=\"system\">")?;
        html_time(w, when)?;
        if m.body.is_empty() {
            w.write_all(b"Something changed in this conversation.")?;
        } else {
            esc(w, &m.body)?;
        }
        w.write_all(b"</p>\n")?;
        return Ok(());
    }
    let mut class = String::from(if m.outgoing { "message out" } else { "message in" });
    match m.status {
        MessageStatus::Failed => class.push_str(" failed"),
        MessageStatus::Queued => class.push_str(" queued"),
        _ => {}
    }
    if m.kind == MessageKind::Undecryptable {
        class.push_str(" undecryptable");
    }
    write!(w, "<article class=\"{class}\">\n<header><span class=\"sender\">")?;
    if m.outgoing {
        w.write_all(b"You")?;
    } else {
        esc(w, &m.sender_user)?;
    }
    w.write_all(b"</span>")?;
    html_time(w, when)?;
    w.write_all(b"</header>\n")?;
    if m.kind == MessageKind::Undecryptable {
        w.write_all(b"<p class=\"body notice\">This message could not be decrypted. ")?;
        esc(w, undecryptable_words(m.reason.map(MessageReason::as_str)))?;
        w.write_all(b"</p>\n")?;
    } else {
        w.write_all(b"<p class=\"body\">")?;
        esc(w, &m.body)?;
        w.write_all(b"</p>\n")?;
    }
    match m.status {
        MessageStatus::Failed => {
            w.write_all(b"<p class=\"status\">Not sent: ")?;
            esc(w, send_failure_words(m.reason.map(MessageReason::as_str)))?;
            w.write_all(b"</p>\n")?;
        }
        MessageStatus::Queued => {
            w.write_all(b"<p class=\"status\">Not sent yet: it was still waiting to be sent.</p>\n")?;
        }
        _ => {}
    }
    w.write_all(b"</article>\n")?;
    Ok(())
}

/// `14:03 +01:00`, with the full moment in the `datetime` attribute.
fn html_time(w: &mut impl Write, when: Option<&ZonedDateTime>) -> Result<()> {
    match when {
        Some(z) => write!(
            w,
            "<time datetime=\"{}\">{} <span class=\"offset\">{}</span></time>",
            z.timestamp().display_with_offset(z.offset()),
            z.strftime("%H:%M"),
            z.strftime("%:z")
        )?,
        None => w.write_all(b"<time>unknown time</time>")?,
    }
    Ok(())
}

fn esc(w: &mut (impl Write + ?Sized), text: &str) -> Result<()> {
    html_escape::encode_safe_to_writer(text, w)?;
    Ok(())
}

fn messages_words(n: u64) -> String {
    if n == 1 { "1 message".to_owned() } else { format!("{n} messages") }
}

/// Why a message cannot be read, in words (the stored reason is a code, see
/// [`crate::crypto::Undecryptable`]); the same words the app shows.
fn undecryptable_words(reason: Option<&str>) -> &'static str {
    match reason {
        Some("unknown_device") => "It came from a device Sotto did not know.",
        Some("olm_session") => "The secure connection with the sender's device could not be set up.",
        Some("before_key") => "It was sent before you joined, so this device never got its key.",
        Some("tampered") => "It was changed on the way, so Sotto does not show it.",
        Some("replayed") => "It is a copy of a message already received.",
        Some("sender_mismatch") => "It claims to be from someone other than the device that sent it.",
        Some("malformed") => "It arrived damaged.",
        _ => "The key for this message had not arrived.",
    }
}

/// Why an outgoing message was refused, in words (the stored reason is an [`Error::code`]).
fn send_failure_words(reason: Option<&str>) -> &'static str {
    match reason {
        Some("offline") => "the server could not be reached.",
        Some("not_member") => "you were not in this group any more.",
        Some("unknown_user") => "this person was not on the server.",
        Some("no_devices") => "they had no devices signed in.",
        Some("rate_limited") => "too many messages at once.",
        _ => "the server refused it.",
    }
}

// ---- JSON pieces ----

#[derive(Serialize)]
struct JsonIndex<'a> {
    format: &'static str,
    version: u32,
    exported_at: String,
    user_id: &'a str,
    conversations: Vec<JsonIndexEntry<'a>>,
}

#[derive(Serialize)]
struct JsonIndexEntry<'a> {
    #[serde(flatten)]
    conversation: JsonConversation<'a>,
    file: &'a str,
    first_at: Option<String>,
    last_at: Option<String>,
}

#[derive(Serialize)]
struct JsonConversation<'a> {
    id: &'a str,
    kind: ConversationKind,
    title: &'a str,
    peer: &'a str,
    messages: u64,
}

impl<'a> JsonConversation<'a> {
    fn new(c: &'a Conversation, messages: u64) -> Self {
        Self { id: &c.id, kind: c.kind, title: &c.title, peer: &c.peer, messages }
    }
}

#[derive(Serialize)]
struct JsonMessage<'a> {
    id: i64,
    message_id: &'a str,
    sender: &'a str,
    outgoing: bool,
    kind: MessageKind,
    body: &'a str,
    status: MessageStatus,
    reason: Option<&'a str>,
    sent_at: Option<String>,
    server_at: Option<String>,
}

impl<'a> JsonMessage<'a> {
    fn new(m: &'a Message) -> Self {
        Self {
            id: m.id,
            message_id: &m.message_id,
            sender: &m.sender_user,
            outgoing: m.outgoing,
            kind: m.kind,
            body: &m.body,
            status: m.status,
            reason: m.reason.map(MessageReason::as_str),
            sent_at: iso(m.ts),
            server_at: m.server_ts.and_then(iso),
        }
    }
}

/// ISO 8601 in UTC, e.g. `2026-03-04T13:03:00.123Z`.
fn iso(ms: i64) -> Option<String> {
    Timestamp::from_millisecond(ms).ok().map(|t| t.to_string())
}

fn json<T: Serialize>(w: &mut impl Write, value: &T) -> Result<()> {
    serde_json::to_writer(w, value).map_err(json_error)
}

fn json_error(e: serde_json::Error) -> Error {
    match e.io_error_kind() {
        Some(kind) => Error::Io(std::io::Error::new(kind, e)),
        None => Error::Corrupt(format!("a message could not be written as JSON: {e}")),
    }
}

#[cfg(test)]
mod tests;
