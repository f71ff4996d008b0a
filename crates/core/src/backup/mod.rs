//! The backup file: one file with everything a device needs to carry on elsewhere (its keys and
//! Olm sessions, group session keys, contacts and trust decisions, the whole history, unsent
//! messages), encrypted with a passphrase in the `age` format so that the standard `age` and
//! `rage` tools open it too. Its inner format is JSON Lines, documented in
//! `docs/backup-format.md`: a header line, one record per line, and a trailer that counts the
//! records, so a truncated file is detected.
//!
//! This module reads and writes the file against the database; [`crate::Client`] drives it
//! (`export_backup`, `restore_backup`) and does the network part of a restore.
//!
//! Invariants: the passphrase work factor is fixed ([`WORK_FACTOR`]) and a file asking for more
//! than [`MAX_WORK_FACTOR`] is refused before any work; memory stays bounded whatever the size
//! of the history (records are streamed one at a time, in both directions); no access or
//! refresh token is ever written to the file.

mod error;
mod export;
mod import;
mod records;

use std::io::{BufRead, Read};

pub use error::BackupError;
pub use export::BackupSummary;
pub(crate) use export::{Owner, write_backup};
pub(crate) use import::{Imported, load_records, open_backup};
pub(crate) use records::{Header, Record};

/// The keys of this device's groups' sealed names, as records (for another device of this user,
/// and the key backup).
pub(crate) fn name_key_records(db: &crate::store::Db<'_>) -> crate::Result<Vec<Record>> {
    Ok(db
        .group_name_keys()?
        .into_iter()
        .map(|(group_id, key)| Record::GroupNameKey { group_id, key: key.to_string() })
        .collect())
}

use crate::{Error, Result};

/// The `format` of the header line.
pub const FORMAT: &str = "sotto-backup";
/// The version of the inner format this version writes (and the newest it reads; every earlier
/// one reads too). 2 added files (`file`, `file_data`); 3 replies, edits and deletions on
/// `message`, and `reaction`, `message_version`, `waiting_action`, `outbox.action`; 4 `profile`.
pub const VERSION: u32 = 4;
/// scrypt work factor (log2 N) of the passphrase: 2^17 with r = 8 takes 128 MiB and about half
/// a second to a second on a current laptop core.
pub const WORK_FACTOR: u8 = 17;
/// The largest work factor accepted when opening a file: a hostile file cannot make a restore
/// spin for minutes (or allocate gigabytes) before the passphrase is even checked.
pub const MAX_WORK_FACTOR: u8 = WORK_FACTOR + 1;
/// The longest line accepted (a record holds at most one pickle or one stored ciphertext).
const MAX_LINE_BYTES: u64 = 4 * 1024 * 1024;

/// Open an age file with the backup passphrase; the reader yields the plaintext.
pub(crate) fn decrypt<R: BufRead>(input: R, passphrase: &str) -> Result<age::stream::StreamReader<R>> {
    let decryptor = match age::Decryptor::new_buffered(input) {
        Ok(d) => d,
        Err(age::DecryptError::Io(e)) if e.kind() != std::io::ErrorKind::UnexpectedEof => return Err(e.into()),
        Err(_) => return Err(Error::NotABackup),
    };
    if !decryptor.is_scrypt() {
        return Err(Error::NotABackup);
    }
    let mut identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|e| match e {
        age::DecryptError::DecryptionFailed
        | age::DecryptError::KeyDecryptionFailed
        | age::DecryptError::NoMatchingKeys => Error::BackupPassphrase,
        age::DecryptError::ExcessiveWork { required, .. } => {
            BackupError::ExcessiveWork { required, max: MAX_WORK_FACTOR }.into()
        }
        age::DecryptError::Io(e) => Error::Io(e),
        other => BackupError::Header(other).into(),
    })
}

/// Read one line (without its newline) into `line`; false at the end of the input. A line
/// longer than [`MAX_LINE_BYTES`] or without its newline, and a stream that does not decrypt
/// (cut short, altered), is a damaged file.
pub(crate) fn read_line<R: BufRead>(reader: &mut R, line: &mut String) -> Result<bool> {
    line.clear();
    let n = reader.by_ref().take(MAX_LINE_BYTES).read_line(line).map_err(stream_error)?;
    if n == 0 {
        return Ok(false);
    }
    if !line.ends_with('\n') {
        return Err(BackupError::PartialLine.into());
    }
    line.pop();
    Ok(true)
}

/// An error while reading the decrypted stream: the age payload failed its authentication
/// (truncated or altered) unless the file itself could not be read.
fn stream_error(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => BackupError::Stream(e).into(),
        _ => Error::Io(e),
    }
}

#[cfg(test)]
mod tests;
