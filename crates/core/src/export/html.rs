//! The HTML form of an export: `index.html` and one self-contained page per conversation, with
//! the style sheet inlined.
//!
//! Invariants: every piece of text from a message, a title or a user id goes through [`esc`]
//! (`html-escape`) before it reaches a page; each page forbids every script and remote load by
//! its own Content-Security-Policy (only inline styles), so an exported page can load nothing.

use std::fs::File;
use std::io::{BufWriter, Write};

use jiff::ZonedDateTime;

use super::{Counter, Entry, Job, close};
use crate::Result;
use crate::store::{
    ConversationKind, Db, FileInfo, Message, MessageKind, MessageReason, MessageStatus, Quote, Reaction,
};

impl Job<'_> {
    pub(super) fn html_conversation(
        &self,
        db: &Db<'_>,
        staging: &std::path::Path,
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
                person(&mut w, &c.peer, &self.names)?;
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
            let file = self.export_file(db, staging, m)?;
            html_message(&mut w, m, when.as_ref(), file.as_deref(), &self.names)
        })?;
        if day.is_some() {
            w.write_all(b"</section>\n")?;
        }
        w.write_all(b"</main>\n</body>\n</html>\n")?;
        close(w)
    }

    pub(super) fn html_index(&self, mut w: BufWriter<File>, entries: &[Entry]) -> Result<()> {
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
                    person(&mut w, &c.peer, &self.names)?;
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
}

/// Images only from the export's own `files` folder (opened from disk: `file:`; served: `'self'`).
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' file:";

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
.file { margin: .25rem 0; overflow-wrap: anywhere; }
.file img { display: block; max-width: 100%; max-height: 24rem; border-radius: 6px; }
.status { margin: .25rem 0 0; font-size: .8rem; color: var(--warn); background: var(--warn-bg);
  border-radius: .35rem; padding: .1rem .4rem; display: inline-block; }
.system { text-align: center; color: var(--muted); font-size: .85rem; font-style: italic; margin: .75rem 2rem;
  overflow-wrap: anywhere; }
.system time { font-style: normal; margin-right: .35rem; }
.empty { color: var(--muted); font-style: italic; }
.quote { margin: .1rem 0 .3rem; padding: .1rem .5rem; border-left: 3px solid var(--line); color: var(--muted);
  font-size: .875rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.quote .sender { font-size: .8rem; }
.edited { color: var(--muted); font-size: .75rem; margin-left: .35rem; }
.reactions { margin: .25rem 0 0; font-size: .85rem; color: var(--muted); overflow-wrap: anywhere; }
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

/// A person: their display name and their id (`Alice (alice)`), or the id alone.
fn person(w: &mut impl Write, user: &str, names: &Names) -> Result<()> {
    if let Some(name) = names.get(user).filter(|n| n.as_str() != user) {
        esc(w, name)?;
        w.write_all(b" (")?;
        esc(w, user)?;
        w.write_all(b")")?;
    } else {
        esc(w, user)?;
    }
    Ok(())
}

type Names = std::collections::HashMap<String, String>;

fn html_message(
    w: &mut impl Write,
    m: &Message,
    when: Option<&ZonedDateTime>,
    file: Option<&str>,
    names: &Names,
) -> Result<()> {
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
        person(w, &m.sender_user, names)?;
    }
    w.write_all(b"</span>")?;
    html_time(w, when)?;
    w.write_all(b"</header>\n")?;
    if let Some(quote) = &m.reply_to {
        html_quote(w, quote, names)?;
    }
    if m.kind == MessageKind::Undecryptable {
        w.write_all(b"<p class=\"body notice\">This message could not be decrypted. ")?;
        esc(w, undecryptable_words(m.reason.map(MessageReason::as_str)))?;
        w.write_all(b"</p>\n")?;
    } else if m.deleted {
        w.write_all(b"<p class=\"body notice\">This message was deleted.</p>\n")?;
    } else {
        if let Some(info) = &m.file {
            html_file(w, info, file)?;
        }
        if !(m.kind == MessageKind::File && m.body.is_empty()) {
            w.write_all(b"<p class=\"body\">")?;
            esc(w, &m.body)?;
            if m.edited {
                w.write_all(b"<span class=\"edited\">(edited)</span>")?;
            }
            w.write_all(b"</p>\n")?;
        }
        html_reactions(w, &m.reactions)?;
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

/// The message a reply answers, as it is now.
fn html_quote(w: &mut impl Write, quote: &Quote, names: &Names) -> Result<()> {
    w.write_all(b"<blockquote class=\"quote\"><span class=\"sender\">")?;
    person(w, &quote.sender_user, names)?;
    w.write_all(b"</span>")?;
    if quote.deleted {
        w.write_all(b"Message deleted")?;
    } else if quote.id.is_none() {
        w.write_all(b"The original message is not in this export")?;
    } else {
        esc(w, &quote.body)?;
    }
    w.write_all(b"</blockquote>\n")?;
    Ok(())
}

/// Reactions: each emoji and who gave it.
fn html_reactions(w: &mut impl Write, reactions: &[Reaction]) -> Result<()> {
    if reactions.is_empty() {
        return Ok(());
    }
    w.write_all(b"<p class=\"reactions\">")?;
    for (i, r) in reactions.iter().enumerate() {
        if i > 0 {
            w.write_all(" \u{b7} ".as_bytes())?;
        }
        esc(w, &r.emoji)?;
        w.write_all(b" ")?;
        esc(w, &r.users.join(", "))?;
    }
    w.write_all(b"</p>\n")?;
    Ok(())
}

/// A file: an image shown (when this device had it), a link to any other file, or words saying
/// it was never downloaded here.
fn html_file(w: &mut impl Write, info: &FileInfo, path: Option<&str>) -> Result<()> {
    w.write_all(b"<p class=\"file\">")?;
    match path {
        Some(path) if info.image.is_some() => {
            let url = url_path(path);
            write!(w, "<a href=\"{url}\"><img src=\"{url}\" alt=\"")?;
            esc(w, &info.name)?;
            w.write_all(b"\"></a>")?;
        }
        Some(path) => {
            write!(w, "<a href=\"{}\">", url_path(path))?;
            esc(w, &info.name)?;
            w.write_all(b"</a>")?;
        }
        None => esc(w, &info.name)?,
    }
    write!(w, " <span class=\"meta\">({})</span>", human_size(info.size))?;
    if path.is_none() {
        w.write_all(b" <span class=\"notice\">not downloaded on this device, so not in this export</span>")?;
    }
    w.write_all(b"</p>\n")?;
    Ok(())
}

/// A relative path as a URL path: every byte but unreserved characters and `/` percent-encoded
/// (a name with `#`, `%` or spaces still links to its file; nothing in it can end the attribute).
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `512 bytes`, `1.5 KB`, `20 MB` (decimal units, as file managers show them).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let shown = if value < 10.0 { format!("{value:.1}") } else { format!("{value:.0}") };
    format!("{shown} {}", UNITS.get(unit).copied().unwrap_or("TB"))
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
