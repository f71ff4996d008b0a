//! Writing a backup: every table read in one read transaction (one consistent snapshot, on its
//! own connection, so the client keeps working meanwhile), each row written as one record into
//! the age stream as it is read.

use std::collections::BTreeMap;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use rusqlite::{Connection, Row};
use serde::Serialize;
use vodozemac::megolm::{InboundGroupSession, InboundGroupSessionPickle};
use vodozemac::olm::{AccountPickle, SessionPickle};
use zeroize::Zeroizing;

use super::records::{Counts, FILE_DATA_BYTES, Header, Record};
use super::{FORMAT, VERSION, WORK_FACTOR};
use crate::attachment::FileKey;
use crate::crypto::CryptoError;
use crate::progress::{CancellationToken, Progress, watch};
use crate::store::{StoreError, now_ms};
use crate::{Error, Result};

/// Meta keys a backup carries: the inbox position (never tokens or anything secret).
pub(super) const META_KEYS: &[&str] = &["inbox_seq", crate::store::META_READ_RECEIPTS];

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BackupSummary {
    /// Records between the header and the trailer.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub records: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub messages: u64,
    /// Size of the encrypted file.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes: u64,
}

/// Who the backup belongs to (the header's identity fields).
pub(crate) struct Owner<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub server: &'a str,
}

struct Lines<'a, W: Write> {
    out: W,
    written: u64,
    total: u64,
    progress: &'a watch::Sender<Progress>,
    cancel: &'a CancellationToken,
}

impl<W: Write> Lines<'_, W> {
    fn line<T: Serialize>(&mut self, value: &T) -> Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(|e| match e.io_error_kind() {
            Some(_) => Error::Io(std::io::Error::other(e)),
            None => Error::Encode { what: "a backup record", source: e },
        })?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn record(&mut self, record: &Record) -> Result<()> {
        self.line(record)?;
        self.written += 1;
        if self.written.is_multiple_of(64) {
            if self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            Progress::publish(self.progress, self.written, self.total);
        }
        Ok(())
    }
}

/// Write the backup of the database behind `conn` to `out`, encrypted with `passphrase`.
/// `pickle_key` decrypts the stored pickles. The caller removes `out`'s file on error.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_backup<W: Write>(
    conn: &mut Connection,
    pickle_key: &[u8; 32],
    files_dir: &Path,
    owner: &Owner<'_>,
    out: W,
    passphrase: &str,
    progress: &watch::Sender<Progress>,
    cancel: &CancellationToken,
) -> Result<(BackupSummary, W)> {
    if passphrase.is_empty() {
        return Err(Error::InvalidInput("The backup passphrase must not be empty.".into()));
    }
    // A deferred transaction: its first read fixes the snapshot every later read sees.
    let tx = conn.transaction()?;
    let kept = kept_files(&tx, files_dir)?;
    let counts = count(&tx, &kept)?;
    let mut recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    recipient.set_work_factor(WORK_FACTOR);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(CryptoError::BackupFile)?;
    let stream = encryptor.wrap_output(out)?;
    let total = counts.total();
    Progress::publish(progress, 0, total);
    let mut lines = Lines { out: stream, written: 0, total, progress, cancel };
    lines.line(&Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        created_ms: now_ms(),
        user_id: owner.user_id.to_owned(),
        device_id: owner.device_id.to_owned(),
        server: owner.server.to_owned(),
        counts,
    })?;
    write_records(&tx, pickle_key, &kept, &mut lines)?;
    if lines.written != total {
        return Err(StoreError::ChangedWhileRead.into());
    }
    // Checked once more at the end, so a cancel always wins over a small export.
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let records = lines.written;
    lines.line(&Record::End { records })?;
    Progress::publish(progress, records, total);
    let out = lines.out.finish()?;
    tx.finish()?;
    Ok((BackupSummary { records, messages: counts.message, bytes: 0 }, out))
}

/// The ciphertexts the profile keeps, by message row: where, and how long. A file missing from
/// the directory (or of another size than its key says) is left out: its message's file is
/// then restored as on the server only.
fn kept_files(c: &Connection, dir: &Path) -> Result<BTreeMap<i64, (PathBuf, u64)>> {
    let mut stmt = c.prepare("SELECT message_row, local, file_key FROM attachments WHERE local IS NOT NULL")?;
    let mut rows = stmt.query([])?;
    let mut kept = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let (row, local, key): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let key: FileKey = serde_json::from_str(&key).map_err(StoreError::json("attachments", "file_key"))?;
        let path = dir.join(local);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() == key.encrypted_size => {
                kept.insert(row, (path, key.encrypted_size));
            }
            Ok(_) | Err(_) => tracing::warn!(row, "a kept file is missing or damaged; the backup leaves it out"),
        }
    }
    Ok(kept)
}

/// How many `file_data` records a ciphertext of `len` bytes takes.
fn data_records(len: u64) -> u64 {
    len.div_ceil(FILE_DATA_BYTES as u64).max(1)
}

fn count(c: &Connection, kept: &BTreeMap<i64, (PathBuf, u64)>) -> Result<Counts> {
    let n = |sql: &str| -> Result<u64> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|v| v.max(0) as u64)?) };
    let placeholders = META_KEYS.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(",");
    Ok(Counts {
        meta: n(&format!("SELECT count(*) FROM meta WHERE key IN ({placeholders})"))?,
        account: n("SELECT count(*) FROM account")?,
        olm_session: n("SELECT count(*) FROM olm_sessions")?,
        inbound_group_session: n("SELECT count(*) FROM inbound_group_sessions")?,
        device: n("SELECT count(*) FROM devices")?,
        known_user: n("SELECT count(*) FROM known_users")?,
        cross_signing: n("SELECT count(*) FROM cross_signing")?,
        identity: n("SELECT count(*) FROM identities")?,
        group: n("SELECT count(*) FROM groups")?,
        group_change: n("SELECT count(*) FROM group_log")?,
        group_name_key: n("SELECT count(*) FROM group_name_keys")?,
        conversation: n("SELECT count(*) FROM conversations")?,
        message: n("SELECT count(*) FROM messages")?,
        file: n("SELECT count(*) FROM attachments")?,
        file_data: kept.values().map(|(_, len)| data_records(*len)).sum(),
        pending_decryption: n("SELECT count(*) FROM pending_decryption")?,
        received_direct: n("SELECT count(*) FROM received_direct")?,
        megolm_index: n("SELECT count(*) FROM megolm_indices")?,
        outbox: n("SELECT count(*) FROM outbox")?,
        reaction: n("SELECT count(*) FROM reactions")?,
        message_version: n("SELECT count(*) FROM message_versions")?,
        waiting_action: n("SELECT count(*) FROM waiting_actions")?,
        receipt: n("SELECT count(*) FROM receipts")?,
        read_mark: n("SELECT count(*) FROM read_marks")?,
        profile: n("SELECT count(*) FROM profiles")?,
    })
}

/// Every message's file, each followed by its kept ciphertext in pieces.
fn write_files<W: Write>(c: &Connection, kept: &BTreeMap<i64, (PathBuf, u64)>, lines: &mut Lines<'_, W>) -> Result<()> {
    let mut stmt = c.prepare(
        "SELECT message_row, name, mime, size, file_key, blob_id, state, width, height, blurhash, thumbnail
         FROM attachments ORDER BY message_row",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let message_row: i64 = r.get(0)?;
        let file_key: String = r.get(4)?;
        let thumbnail: Option<Vec<u8>> = r.get(10)?;
        let data = kept.get(&message_row);
        lines.record(&Record::File {
            message_row,
            name: r.get(1)?,
            mime: r.get(2)?,
            size: u64::try_from(r.get::<_, i64>(3)?).map_err(|_| StoreError::malformed("attachments", "size"))?,
            file_key: serde_json::from_str(&file_key).map_err(StoreError::json("attachments", "file_key"))?,
            blob_id: r.get(5)?,
            state: r.get(6)?,
            width: r.get(7)?,
            height: r.get(8)?,
            blurhash: r.get(9)?,
            thumbnail: thumbnail.map(|t| base64::engine::general_purpose::STANDARD.encode(t)),
            data: data.is_some(),
        })?;
        if let Some((path, len)) = data {
            let mut file = std::fs::File::open(path)?;
            let mut left = *len;
            let mut buf = vec![0u8; FILE_DATA_BYTES];
            loop {
                let take = usize::try_from(left.min(FILE_DATA_BYTES as u64)).unwrap_or(FILE_DATA_BYTES);
                let piece = buf.get_mut(..take).unwrap_or_default();
                file.read_exact(piece).map_err(|_| StoreError::ChangedWhileRead)?;
                let data = base64::engine::general_purpose::STANDARD.encode(&*piece);
                lines.record(&Record::FileData { message_row, data })?;
                left -= take as u64;
                if left == 0 {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Stream every row of `sql` through `to_record` into the output, one at a time.
fn each<W: Write>(
    c: &Connection,
    sql: &str,
    lines: &mut Lines<'_, W>,
    mut to_record: impl FnMut(&Row<'_>) -> Result<Record>,
) -> Result<()> {
    let mut stmt = c.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let record = to_record(row)?;
        lines.record(&record)?;
    }
    Ok(())
}

fn to_json<T: Serialize>(pickle: &T) -> Result<serde_json::Value> {
    serde_json::to_value(pickle).map_err(Error::encode("a pickle"))
}

fn write_records<W: Write>(
    c: &Connection,
    key: &[u8; 32],
    kept: &BTreeMap<i64, (PathBuf, u64)>,
    lines: &mut Lines<'_, W>,
) -> Result<()> {
    for k in META_KEYS {
        let value: Option<String> =
            rusqlite::OptionalExtension::optional(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0)),
            )?;
        if let Some(value) = value {
            lines.record(&Record::Meta { key: (*k).to_owned(), value })?;
        }
    }
    each(c, "SELECT pickle FROM account", lines, |r| {
        let pickle: Zeroizing<String> = Zeroizing::new(r.get(0)?);
        let pickle =
            AccountPickle::from_encrypted(&pickle, key).map_err(|_| StoreError::Pickle { what: "device account" })?;
        Ok(Record::Account { pickle: to_json(&pickle)? })
    })?;
    each(
        c,
        "SELECT session_id, curve25519, pickle, created_ts, last_used_ts FROM olm_sessions ORDER BY created_ts",
        lines,
        |r| {
            let pickle: Zeroizing<String> = Zeroizing::new(r.get(2)?);
            let pickle =
                SessionPickle::from_encrypted(&pickle, key).map_err(|_| StoreError::Pickle { what: "session" })?;
            Ok(Record::OlmSession {
                session_id: r.get(0)?,
                curve25519: r.get(1)?,
                pickle: to_json(&pickle)?,
                created_ts: r.get(3)?,
                last_used_ts: r.get(4)?,
            })
        },
    )?;
    each(
        c,
        "SELECT session_id, group_id, sender_user, sender_device, sender_curve, first_index, pickle, received_ts
         FROM inbound_group_sessions",
        lines,
        |r| {
            let pickle: Zeroizing<String> = Zeroizing::new(r.get(6)?);
            let session = InboundGroupSession::from_pickle(
                InboundGroupSessionPickle::from_encrypted(&pickle, key)
                    .map_err(|_| StoreError::Pickle { what: "group key" })?,
            );
            Ok(Record::InboundGroupSession {
                session_id: r.get(0)?,
                group_id: r.get(1)?,
                sender_user: r.get(2)?,
                sender_device: r.get(3)?,
                sender_curve: r.get(4)?,
                first_index: session.first_known_index(),
                session_key: session.export_at_first_known_index().to_base64(),
                received_ts: r.get(7)?,
            })
        },
    )?;
    each(
        c,
        "SELECT user_id, device_id, curve25519, ed25519, first_seen, active, confirmed FROM devices",
        lines,
        |r| {
            Ok(Record::Device {
                user_id: r.get(0)?,
                device_id: r.get(1)?,
                curve25519: r.get(2)?,
                ed25519: r.get(3)?,
                first_seen: r.get(4)?,
                active: r.get::<_, i64>(5)? != 0,
                confirmed: r.get::<_, i64>(6)? != 0,
            })
        },
    )?;
    each(c, "SELECT master, self_signing, user_signing FROM cross_signing", lines, |r| {
        Ok(Record::CrossSigning { master: r.get(0)?, self_signing: r.get(1)?, user_signing: r.get(2)? })
    })?;
    each(
        c,
        "SELECT user_id, master_key, self_signing_key, user_signing_key, signature, first_seen FROM identities",
        lines,
        |r| {
            Ok(Record::Identity {
                user_id: r.get(0)?,
                master_key: r.get(1)?,
                self_signing_key: r.get(2)?,
                user_signing_key: r.get(3)?,
                signature: r.get(4)?,
                first_seen: r.get(5)?,
            })
        },
    )?;
    each(c, "SELECT user_id, fetched_ts, verified FROM known_users", lines, |r| {
        Ok(Record::KnownUser { user_id: r.get(0)?, fetched_ts: r.get(1)?, verified: r.get(2)? })
    })?;
    let groups = "SELECT group_id, name, version, members, joined, head, warning, sealed_name, invited FROM groups";
    each(c, groups, lines, |r| {
        let members: String = r.get(3)?;
        let invited: String = r.get(8)?;
        Ok(Record::Group {
            group_id: r.get(0)?,
            name: r.get(1)?,
            version: r.get(2)?,
            members: serde_json::from_str(&members).map_err(StoreError::json("groups", "members"))?,
            joined: r.get::<_, i64>(4)? != 0,
            head: r.get(5)?,
            warning: r.get(6)?,
            sealed_name: r.get(7)?,
            invited: serde_json::from_str(&invited).map_err(StoreError::json("groups", "invited"))?,
        })
    })?;
    each(c, "SELECT group_id, key FROM group_name_keys", lines, |r| {
        Ok(Record::GroupNameKey { group_id: r.get(0)?, key: r.get(1)? })
    })?;
    each(c, "SELECT user_id, key, key_version, card_version, name, avatar FROM profiles", lines, |r| {
        let avatar: Option<Vec<u8>> = r.get(5)?;
        Ok(Record::Profile {
            user_id: r.get(0)?,
            key: r.get(1)?,
            key_version: r.get(2)?,
            card_version: r.get(3)?,
            name: r.get(4)?,
            avatar: avatar.map(vodozemac::base64_encode),
        })
    })?;
    each(c, "SELECT group_id, seq, hash, change, signature FROM group_log ORDER BY group_id, seq", lines, |r| {
        Ok(Record::GroupChange {
            group_id: r.get(0)?,
            seq: r.get(1)?,
            hash: r.get(2)?,
            change: r.get(3)?,
            signature: r.get(4)?,
        })
    })?;
    let conversations = "SELECT id, kind, peer, title, last_ts, last_preview, unread, muted_until, archived, pinned_ts,
                                marked_unread, draft FROM conversations";
    each(c, conversations, lines, |r| {
        Ok(Record::Conversation {
            id: r.get(0)?,
            kind: r.get(1)?,
            peer: r.get(2)?,
            title: r.get(3)?,
            last_ts: r.get(4)?,
            last_preview: r.get(5)?,
            unread: r.get(6)?,
            muted_until: r.get(7)?,
            archived: r.get(8)?,
            pinned_ts: r.get(9)?,
            marked_unread: r.get(10)?,
            draft: r.get(11)?,
        })
    })?;
    each(
        c,
        "SELECT id, conversation_id, message_id, sender_user, sender_device, kind, body, status, reason, outgoing, ts,
                server_ts, reply_sender, reply_id, edited_ts, deleted_ts
         FROM messages ORDER BY id",
        lines,
        |r| {
            Ok(Record::Message {
                id: r.get(0)?,
                conversation_id: r.get(1)?,
                message_id: r.get(2)?,
                sender_user: r.get(3)?,
                sender_device: r.get(4)?,
                kind: r.get(5)?,
                body: r.get(6)?,
                status: r.get(7)?,
                reason: r.get(8)?,
                outgoing: r.get::<_, i64>(9)? != 0,
                ts: r.get(10)?,
                server_ts: r.get(11)?,
                reply_sender: r.get(12)?,
                reply_id: r.get(13)?,
                edited_ts: r.get(14)?,
                deleted_ts: r.get(15)?,
            })
        },
    )?;
    write_files(c, kept, lines)?;
    each(
        c,
        "SELECT conversation_id, target_sender, target_id, reactor, emoji, ts, present FROM reactions",
        lines,
        |r| {
            Ok(Record::Reaction {
                conversation_id: r.get(0)?,
                target_sender: r.get(1)?,
                target_id: r.get(2)?,
                reactor: r.get(3)?,
                emoji: r.get(4)?,
                ts: r.get(5)?,
                present: r.get::<_, i64>(6)? != 0,
            })
        },
    )?;
    each(
        c,
        "SELECT message_row, reader, delivered_ts, read_ts FROM receipts ORDER BY message_row, reader",
        lines,
        |r| {
            Ok(Record::Receipt {
                message_row: r.get(0)?,
                reader: r.get(1)?,
                delivered_ts: r.get(2)?,
                read_ts: r.get(3)?,
            })
        },
    )?;
    each(c, "SELECT conversation_id, up_to_row FROM read_marks", lines, |r| {
        Ok(Record::ReadMark { conversation_id: r.get(0)?, up_to_row: r.get(1)? })
    })?;
    each(c, "SELECT message_row, body, ts FROM message_versions ORDER BY message_row, ts, rowid", lines, |r| {
        Ok(Record::MessageVersion { message_row: r.get(0)?, body: r.get(1)?, ts: r.get(2)? })
    })?;
    each(
        c,
        "SELECT conversation_id, target_sender, target_id, actor, action, ts, received_ts FROM waiting_actions
         ORDER BY rowid",
        lines,
        |r| {
            Ok(Record::WaitingAction {
                conversation_id: r.get(0)?,
                target_sender: r.get(1)?,
                target_id: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                ts: r.get(5)?,
                received_ts: r.get(6)?,
            })
        },
    )?;
    each(c, "SELECT message_row, session_id, entry FROM pending_decryption ORDER BY message_row", lines, |r| {
        Ok(Record::PendingDecryption { message_row: r.get(0)?, session_id: r.get(1)?, entry: r.get(2)? })
    })?;
    each(c, "SELECT sender_user, message_id FROM received_direct", lines, |r| {
        Ok(Record::ReceivedDirect { sender_user: r.get(0)?, message_id: r.get(1)? })
    })?;
    each(c, "SELECT session_id, message_index, message_id FROM megolm_indices", lines, |r| {
        Ok(Record::MegolmIndex { session_id: r.get(0)?, message_index: r.get(1)?, message_id: r.get(2)? })
    })?;
    each(
        c,
        &format!(
            "SELECT message_id, conversation_id, body, attempts, created_ts, action FROM outbox
             ORDER BY {}",
            crate::store::OUTBOX_ORDER
        ),
        lines,
        |r| {
            Ok(Record::Outbox {
                message_id: r.get(0)?,
                conversation_id: r.get(1)?,
                body: r.get(2)?,
                attempts: r.get(3)?,
                created_ts: r.get(4)?,
                action: r.get(5)?,
            })
        },
    )?;
    Ok(())
}
