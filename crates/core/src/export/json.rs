//! The JSON form of an export: `index.json` and one JSON document per conversation
//! (`docs/readable-export.md` is the format).
//!
//! Invariants: bodies and ids are written exactly as stored (serde escapes, nothing is
//! rewritten), times are ISO 8601 in UTC, and the index names its format and version
//! ([`FORMAT_NAME`], [`FORMAT_VERSION`]) so a reader can tell what it holds.

use std::fs::File;
use std::io::{BufWriter, Write};

use jiff::Timestamp;
use serde::Serialize;

use super::{Counter, Entry, FORMAT_NAME, FORMAT_VERSION, Job, close};
use crate::store::{
    Conversation, ConversationKind, Db, Message, MessageKind, MessageReason, MessageStatus, Quote, Reaction,
};
use crate::{ConversationId, Error, Result};

impl Job<'_> {
    pub(super) fn json_conversation(
        &self,
        db: &Db<'_>,
        staging: &std::path::Path,
        mut w: BufWriter<File>,
        entry: &mut Entry,
        counter: &mut Counter<'_>,
    ) -> Result<()> {
        w.write_all(b"{\"conversation\":")?;
        let mut conversation = JsonConversation::new(&entry.conversation, entry.messages);
        if entry.conversation.kind == ConversationKind::Direct {
            conversation.name = self.names.get(&entry.conversation.peer).map(String::as_str);
        }
        json(&mut w, &conversation)?;
        w.write_all(b",\n\"messages\":[")?;
        let mut first = true;
        Self::each_message(db, entry, counter, |m| {
            w.write_all(if first { "\n" } else { ",\n" }.as_bytes())?;
            first = false;
            let path = self.export_file(db, staging, m)?;
            let mut message = JsonMessage::new(m, path);
            message.sender_name = self.names.get(&m.sender_user).map(String::as_str);
            json(&mut w, &message)
        })?;
        w.write_all(b"\n]}\n")?;
        close(w)
    }

    pub(super) fn json_index(&self, mut w: BufWriter<File>, entries: &[Entry]) -> Result<()> {
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
    id: &'a ConversationId,
    kind: ConversationKind,
    title: &'a str,
    peer: &'a str,
    /// The other person's display name (one to one), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    messages: u64,
}

impl<'a> JsonConversation<'a> {
    fn new(c: &'a Conversation, messages: u64) -> Self {
        Self { id: &c.id, kind: c.kind, title: &c.title, peer: &c.peer, name: None, messages }
    }
}

#[derive(Serialize)]
struct JsonMessage<'a> {
    id: i64,
    message_id: &'a str,
    sender: &'a str,
    /// The sender's display name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    sender_name: Option<&'a str>,
    outgoing: bool,
    kind: MessageKind,
    body: &'a str,
    status: MessageStatus,
    reason: Option<&'a str>,
    sent_at: Option<String>,
    server_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<JsonFile<'a>>,
    /// The message it answers: its sender and id, and the start of its text as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<&'a Quote>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    reactions: &'a [Reaction],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    edited: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
}

/// A file message's file: `path` (relative to the export) when this device had it.
#[derive(Serialize)]
struct JsonFile<'a> {
    name: &'a str,
    mime: &'a str,
    size: u64,
    path: Option<String>,
}

impl<'a> JsonMessage<'a> {
    fn new(m: &'a Message, path: Option<String>) -> Self {
        Self {
            id: m.id,
            message_id: &m.message_id,
            sender: &m.sender_user,
            sender_name: None,
            outgoing: m.outgoing,
            kind: m.kind,
            body: &m.body,
            status: m.status,
            reason: m.reason.map(MessageReason::as_str),
            sent_at: iso(m.ts),
            server_at: m.server_ts.and_then(iso),
            file: m.file.as_ref().map(|f| JsonFile { name: &f.name, mime: &f.mime, size: f.size, path }),
            reply_to: m.reply_to.as_ref(),
            reactions: &m.reactions,
            edited: m.edited,
            deleted: m.deleted,
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
        None => Error::Encode { what: "a message", source: e },
    }
}
