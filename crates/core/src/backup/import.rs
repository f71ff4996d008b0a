//! Reading a backup: the header is checked first (passphrase, format, version) before anything
//! is created; then every record is inserted, one line at a time, in the caller's transaction.
//! Nothing counts as restored unless the trailer arrived and its count matches.

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use rusqlite::params;
use vodozemac::megolm::{ExportedSessionKey, InboundGroupSession, SessionConfig};
use vodozemac::olm::{AccountPickle, SessionPickle};
use zeroize::Zeroizing;

use super::records::{Header, HeaderStart, Record};
use super::{BackupError, FORMAT, VERSION, decrypt, read_line};
use crate::progress::{CancellationToken, Progress, watch};
use sotto_proto::{UserId, UserIdentity};

use crate::crypto::cross_signing::{CrossSigningSecrets, verify_identity};
use crate::store::{Db, StoredSecrets, now_ms};
use crate::{Error, Result};

/// The decrypted stream of a backup, after its header.
pub(crate) type BackupReader<R> = BufReader<age::stream::StreamReader<R>>;

/// What a restore read.
pub(crate) struct Imported {
    pub records: u64,
    pub messages: u64,
    /// The file held the device's account (and so its Olm sessions).
    pub has_account: bool,
    /// The file whose ciphertext is being read back (from `file_data` records).
    receiving: Option<Receiving>,
}

/// A kept file's ciphertext as its pieces arrive: written into the new profile's `files`
/// directory and checked against its key once all of it is there.
struct Receiving {
    message_row: i64,
    file: std::io::BufWriter<std::fs::File>,
    hash: Sha256,
    left: u64,
    key: crate::attachment::FileKey,
}

/// Decrypt `input` with the passphrase and read its header. Errors: a wrong passphrase, not a
/// Sotto backup, a newer format version, or a damaged file.
pub(crate) fn open_backup<R: BufRead>(input: R, passphrase: &str) -> Result<(Header, BackupReader<R>)> {
    let mut reader = BufReader::new(decrypt(input, passphrase)?);
    let mut line = Zeroizing::new(String::new());
    if !read_line(&mut reader, &mut line)? {
        return Err(BackupError::Empty.into());
    }
    let start: HeaderStart = serde_json::from_str(&line).map_err(|_| Error::NotABackup)?;
    if start.format != FORMAT {
        return Err(Error::NotABackup);
    }
    if start.version > VERSION {
        return Err(Error::BackupTooNew { found: start.version, known: VERSION });
    }
    if start.version == 0 {
        return Err(BackupError::UnknownVersion(start.version).into());
    }
    let header: Header = serde_json::from_str(&line).map_err(BackupError::HeaderLine)?;
    Ok((header, reader))
}

/// Insert every record after the header into `db` (the caller's transaction, on a new profile
/// whose pickles are encrypted with `pickle_key`). Stops with [`Error::Cancelled`] when asked.
pub(crate) fn load_records<R: BufRead>(
    reader: &mut R,
    header: &Header,
    db: &Db<'_>,
    pickle_key: &[u8; 32],
    files_dir: &Path,
    progress: &watch::Sender<Progress>,
    cancel: &CancellationToken,
) -> Result<Imported> {
    let total = header.counts.total();
    Progress::publish(progress, 0, total);
    let mut line = Zeroizing::new(String::new());
    let mut out = Imported { records: 0, messages: 0, has_account: false, receiving: None };
    loop {
        if !read_line(reader, &mut line)? {
            return Err(BackupError::NoTrailer.into());
        }
        // serde_json's error is not kept: it would quote the record, which may hold a key.
        let record: Record =
            serde_json::from_str(&line).map_err(|_| BackupError::Record(out.records.saturating_add(1)))?;
        if let Record::End { records } = record {
            if out.receiving.is_some() {
                return Err(BackupError::FileData.into());
            }
            if records != out.records {
                return Err(BackupError::Count { said: records, held: out.records }.into());
            }
            if read_line(reader, &mut line)? {
                return Err(BackupError::AfterTrailer.into());
            }
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            Progress::publish(progress, total, total);
            return Ok(out);
        }
        insert(db, pickle_key, files_dir, record, &mut out).map_err(|e| match e {
            Error::Storage(source @ rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                BackupError::Contradiction { number: out.records.saturating_add(1), source }.into()
            }
            other => other,
        })?;
        out.records += 1;
        if out.records.is_multiple_of(64) {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            Progress::publish(progress, out.records.min(total), total);
        }
    }
}

fn insert(db: &Db<'_>, pickle_key: &[u8; 32], files_dir: &Path, record: Record, out: &mut Imported) -> Result<()> {
    let c = db.conn();
    // A kept file's pieces come right after its `file` record, all of them.
    if out.receiving.is_some() && !matches!(record, Record::FileData { .. }) {
        return Err(BackupError::FileData.into());
    }
    match record {
        Record::Meta { key, value } => {
            if super::export::META_KEYS.contains(&key.as_str()) {
                db.set_meta(&key, &value)?;
            }
        }
        Record::Account { pickle } => {
            if out.has_account {
                return Err(BackupError::TwoAccounts.into());
            }
            out.has_account = true;
            let pickle: AccountPickle = serde_json::from_value(pickle).map_err(|_| BackupError::Account)?;
            db.save_account(&pickle.encrypt(pickle_key), 0)?;
        }
        Record::OlmSession { session_id, curve25519, pickle, created_ts, last_used_ts } => {
            let pickle: SessionPickle = serde_json::from_value(pickle).map_err(|_| BackupError::Session)?;
            // Restored sessions only decrypt (see `client::renew`).
            c.prepare_cached(
                "INSERT INTO olm_sessions (session_id, curve25519, pickle, created_ts, last_used_ts, receive_only)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            )?
            .execute(params![
                session_id,
                curve25519,
                pickle.encrypt(pickle_key),
                created_ts,
                last_used_ts
            ])?;
        }
        Record::InboundGroupSession {
            session_id,
            group_id,
            sender_user,
            sender_device,
            sender_curve,
            first_index,
            session_key,
            received_ts,
        } => {
            let key = Zeroizing::new(session_key);
            let exported = ExportedSessionKey::from_base64(&key).map_err(|_| BackupError::GroupKey)?;
            let session = InboundGroupSession::import(&exported, SessionConfig::version_1());
            if session.session_id() != session_id || session.first_known_index() != first_index {
                return Err(BackupError::GroupKeyMismatch.into());
            }
            c.prepare_cached(
                "INSERT INTO inbound_group_sessions
                    (session_id, group_id, sender_user, sender_device, sender_curve, first_index, pickle, received_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                session_id,
                group_id,
                sender_user,
                sender_device,
                sender_curve,
                i64::from(first_index),
                session.pickle().encrypt(pickle_key),
                received_ts
            ])?;
        }
        Record::Device { user_id, device_id, curve25519, ed25519, first_seen, active, confirmed } => {
            c.prepare_cached(
                "INSERT INTO devices (user_id, device_id, curve25519, ed25519, first_seen, active, confirmed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                user_id,
                device_id,
                curve25519,
                ed25519,
                first_seen,
                i64::from(active),
                i64::from(confirmed)
            ])?;
        }
        Record::CrossSigning { master, self_signing, user_signing } => {
            let stored = StoredSecrets {
                master: Zeroizing::new(master),
                self_signing: Zeroizing::new(self_signing),
                user_signing: Zeroizing::new(user_signing),
            };
            // Refuse keys that are not keys now, rather than at the first use.
            CrossSigningSecrets::from_stored(&stored).map_err(|_| BackupError::CrossSigning)?;
            if db.cross_signing()?.is_some() {
                return Err(BackupError::CrossSigning.into());
            }
            db.save_cross_signing(&stored)?;
        }
        Record::Identity { user_id, master_key, self_signing_key, user_signing_key, signature, first_seen } => {
            let user_id = UserId::parse(user_id).map_err(|_| BackupError::Identity)?;
            let identity = UserIdentity { user_id, master_key, self_signing_key, user_signing_key, signature };
            if !verify_identity(&identity) {
                return Err(BackupError::Identity.into());
            }
            db.pin_identity(&identity, first_seen)?;
        }
        Record::KnownUser { user_id, fetched_ts, verified } => {
            c.prepare_cached("INSERT INTO known_users (user_id, fetched_ts, verified) VALUES (?1, ?2, ?3)")?
                .execute(params![user_id, fetched_ts, verified])?;
        }
        Record::Group { group_id, name, version, members, joined, head, warning, sealed_name, invited } => {
            let members = serde_json::to_string(&members).map_err(Error::encode("a group member list"))?;
            // Files from before invitations have none.
            let invited = if invited.is_null() { serde_json::json!([]) } else { invited };
            let invited = serde_json::to_string(&invited).map_err(Error::encode("a list of invited users"))?;
            c.prepare_cached(
                "INSERT INTO groups (group_id, name, version, members, joined, head, warning, sealed_name, invited)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                group_id,
                name,
                version,
                members,
                i64::from(joined),
                head,
                warning,
                sealed_name,
                invited
            ])?;
        }
        Record::Profile { user_id, key, key_version, card_version, name, avatar } => {
            // A picture that does not decode is left out (it is read again from the server).
            let avatar = avatar.and_then(|a| vodozemac::base64_decode(a).ok());
            c.prepare_cached(
                "INSERT INTO profiles (user_id, key, key_version, card_version, name, avatar)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![user_id, key, key_version, card_version, name, avatar])?;
        }
        Record::GroupNameKey { group_id, key } => {
            c.prepare_cached("INSERT INTO group_name_keys (group_id, key) VALUES (?1, ?2)")?
                .execute(params![group_id, key])?;
        }
        Record::GroupChange { group_id, seq, hash, change, signature } => {
            c.prepare_cached(
                "INSERT INTO group_log (group_id, seq, hash, change, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![group_id, seq, hash, change, signature])?;
        }
        Record::Conversation {
            id,
            kind,
            peer,
            title,
            last_ts,
            last_preview,
            unread,
            muted_until,
            archived,
            pinned_ts,
            marked_unread,
            draft,
        } => {
            c.prepare_cached(
                "INSERT INTO conversations (id, kind, peer, title, last_ts, last_preview, unread, muted_until, archived,
                    pinned_ts, marked_unread, draft)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                id,
                kind,
                peer,
                title,
                last_ts,
                last_preview,
                unread,
                muted_until,
                archived,
                pinned_ts,
                marked_unread,
                draft
            ])?;
        }
        Record::Message {
            id,
            conversation_id,
            message_id,
            sender_user,
            sender_device,
            kind,
            body,
            status,
            reason,
            outgoing,
            ts,
            server_ts,
            reply_sender,
            reply_id,
            edited_ts,
            deleted_ts,
        } => {
            c.prepare_cached(
                "INSERT INTO messages (id, conversation_id, message_id, sender_user, sender_device, kind, body, status,
                    reason, outgoing, ts, server_ts, reply_sender, reply_id, edited_ts, deleted_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                id,
                conversation_id,
                message_id,
                sender_user,
                sender_device,
                kind,
                body,
                status,
                reason,
                i64::from(outgoing),
                ts,
                server_ts,
                reply_sender,
                reply_id,
                edited_ts,
                deleted_ts
            ])?;
            out.messages += 1;
        }
        Record::Reaction { conversation_id, target_sender, target_id, reactor, emoji, ts, present } => {
            c.prepare_cached(
                "INSERT INTO reactions (conversation_id, target_sender, target_id, reactor, emoji, ts, present)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                conversation_id,
                target_sender,
                target_id,
                reactor,
                emoji,
                ts,
                i64::from(present)
            ])?;
        }
        Record::Receipt { message_row, reader, delivered_ts, read_ts } => {
            c.prepare_cached(
                "INSERT INTO receipts (message_row, reader, delivered_ts, read_ts) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![message_row, reader, delivered_ts, read_ts])?;
        }
        Record::ReadMark { conversation_id, up_to_row } => {
            c.prepare_cached(
                "INSERT INTO read_marks (conversation_id, up_to_row) VALUES (?1, ?2)
                 ON CONFLICT (conversation_id) DO UPDATE SET up_to_row = max(up_to_row, excluded.up_to_row)",
            )?
            .execute(params![conversation_id, up_to_row])?;
        }
        Record::MessageVersion { message_row, body, ts } => {
            c.prepare_cached("INSERT INTO message_versions (message_row, body, ts) VALUES (?1, ?2, ?3)")?
                .execute(params![message_row, body, ts])?;
        }
        Record::WaitingAction { conversation_id, target_sender, target_id, actor, action, ts, received_ts } => {
            c.prepare_cached(
                "INSERT INTO waiting_actions (conversation_id, target_sender, target_id, actor, action, ts, received_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![conversation_id, target_sender, target_id, actor, action, ts, received_ts])?;
        }
        Record::File {
            message_row,
            name,
            mime,
            size,
            file_key,
            blob_id,
            state,
            width,
            height,
            blurhash,
            thumbnail,
            data,
        } => {
            if file_key.size != size {
                return Err(BackupError::FileData.into());
            }
            let thumbnail = thumbnail
                .map(|t| base64::engine::general_purpose::STANDARD.decode(t))
                .transpose()
                .map_err(|_| BackupError::FileData)?;
            // Without its bytes, a file is as on the server (and an unsent one cannot be sent).
            let (state, local) = match data {
                true => (state, Some(uuid::Uuid::new_v4().simple().to_string())),
                false if state == "uploading" => (state, None),
                false => ("remote".to_owned(), None),
            };
            c.prepare_cached(
                "INSERT INTO attachments (message_row, name, mime, size, file_key, blob_id, state, local,
                    width, height, blurhash, thumbnail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                message_row,
                name,
                mime,
                i64::try_from(size).map_err(|_| BackupError::FileData)?,
                serde_json::to_string(&file_key).map_err(crate::Error::encode("a file key"))?,
                blob_id,
                state,
                local,
                width,
                height,
                blurhash,
                thumbnail
            ])?;
            if let Some(local) = local {
                std::fs::create_dir_all(files_dir)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    std::fs::set_permissions(files_dir, std::fs::Permissions::from_mode(0o700))?;
                }
                let file = std::fs::File::create_new(files_dir.join(local))?;
                out.receiving = Some(Receiving {
                    message_row,
                    file: std::io::BufWriter::new(file),
                    hash: Sha256::new(),
                    left: file_key.encrypted_size,
                    key: file_key,
                });
            }
        }
        Record::FileData { message_row, data } => {
            let Some(receiving) = out.receiving.as_mut().filter(|r| r.message_row == message_row) else {
                return Err(BackupError::FileData.into());
            };
            let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| BackupError::FileData)?;
            let len = bytes.len() as u64;
            if len == 0 || len > receiving.left {
                return Err(BackupError::FileData.into());
            }
            receiving.hash.update(&bytes);
            receiving.file.write_all(&bytes)?;
            receiving.left -= len;
            if receiving.left == 0 {
                let Some(done) = out.receiving.take() else { return Err(BackupError::FileData.into()) };
                let file = done.file.into_inner().map_err(|e| Error::Io(e.into_error()))?;
                file.sync_all()?;
                if hex::encode(done.hash.finalize()) != done.key.sha256.to_ascii_lowercase() {
                    return Err(BackupError::FileData.into());
                }
            }
        }
        Record::PendingDecryption { message_row, session_id, entry } => {
            db.add_pending(message_row, session_id.as_deref(), &entry)?;
        }
        Record::ReceivedDirect { sender_user, message_id } => {
            db.mark_direct_received(&sender_user, &message_id)?;
        }
        Record::MegolmIndex { session_id, message_index, message_id } => {
            c.prepare_cached(
                "INSERT INTO megolm_indices (session_id, message_index, message_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![session_id, message_index, message_id])?;
        }
        Record::Outbox { message_id, conversation_id, body, attempts, created_ts, action } => {
            // Without an encrypted request: it is encrypted afresh, with the sessions of now.
            c.prepare_cached(
                // Numbered in the order the backup lists them, which is the order they go in.
                "INSERT INTO outbox (message_id, conversation_id, body, request, attempts, next_attempt_ts, created_ts,
                    action, queued)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, (SELECT coalesce(max(queued), 0) + 1 FROM outbox))",
            )?
            .execute(params![
                message_id,
                conversation_id,
                body,
                attempts,
                now_ms(),
                created_ts,
                action
            ])?;
        }
        Record::End { .. } => {}
    }
    Ok(())
}
