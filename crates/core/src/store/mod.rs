//! The profile's SQLCipher database: crypto state, devices, groups, history with its full-text
//! index, and the outbox. One connection, owned by the engine behind a mutex; every change that
//! belongs together (decrypt → store → index) is one transaction.
//!
//! Invariant: the database only opens with the profile key (checked before anything is read or
//! written), temporary tables and sort spills stay in memory, and a schema newer than this
//! version knows is refused without touching the file.

mod crypto;
mod error;
mod groups;
mod history;
mod profiles;

use std::path::Path;

pub use crypto::{BackupScope, DeviceRecord, Devices, InboundGroupRecord, OutboundGroupRecord, StoredSecrets};
pub use error::{DbColumn, StoreError};
pub use groups::{LocalGroup, VerifiedChange};
pub(crate) use history::OUTBOX_ORDER;
pub use history::{
    Conversation, ConversationKind, Decrypted, FileInfo, FileState, ImageInfo, META_READ_RECEIPTS, Message,
    MessageKind, MessageReason, MessageStatus, NewFile, NewMessage, OutboxItem, Quote, Reaction, ReceiptStep, Receipts,
    SearchHit, WaitingAction,
};
#[cfg(feature = "bench")]
pub use history::{MESSAGE_COLUMN_COUNT, SEARCH_SQL, fts_query};
pub use profiles::ContactProfile;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::profile::ProfileKey;

use crate::{Error, Result};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_restore.sql"),
    include_str!("migrations/0003_key_backup.sql"),
    include_str!("migrations/0004_message_order.sql"),
    include_str!("migrations/0005_verified.sql"),
    include_str!("migrations/0006_identities.sql"),
    include_str!("migrations/0007_group_log.sql"),
    include_str!("migrations/0008_group_invites.sql"),
    include_str!("migrations/0009_attachments.sql"),
    include_str!("migrations/0010_message_actions.sql"),
    include_str!("migrations/0011_receipts.sql"),
    include_str!("migrations/0012_conversation_controls.sql"),
    include_str!("migrations/0013_disappearing.sql"),
    include_str!("migrations/0014_profiles.sql"),
    include_str!("migrations/0015_sent_actions.sql"),
    include_str!("migrations/0016_outbox_order.sql"),
];

pub struct Store {
    conn: Connection,
    /// Declared after `conn`: dropped (and joined) after the main connection is closed.
    _checkpointer: Option<Checkpointer>,
}

/// Copies the WAL back into the database on its own thread and connection, so that no commit
/// (a received batch, a send) stalls on a checkpoint. SQLite's automatic checkpoint is off on
/// the main connection.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl Checkpointer {
    fn start(path: &Path, key: &ProfileKey) -> Result<Self> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.pragma_update(None, "key", key.sqlcipher_key().as_str())?;
        conn.busy_timeout(std::time::Duration::from_millis(100))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("sotto-checkpoint".into()).spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::park_timeout(CHECKPOINT_EVERY);
                // PASSIVE never blocks the writer; a busy or failed round is retried next time.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "checkpoint skipped");
                }
            }
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Whether [`Store::open`] makes a new database or opens the one there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// A new database: refused if the file exists.
    Create,
    /// The profile's database: refused if there is none.
    Existing,
}

impl Store {
    /// Open (or create, with [`OpenMode::Create`]) the database at `path` with the profile key.
    pub fn open(path: &Path, key: &ProfileKey, mode: OpenMode) -> Result<Self> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if mode == OpenMode::Create {
            if path.exists() {
                return Err(Error::ProfileExists(path.display().to_string()));
            }
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if !path.exists() {
            return Err(Error::NoProfile(path.display().to_string()));
        }
        let conn = Connection::open_with_flags(path, flags)?;
        conn.pragma_update(None, "key", key.sqlcipher_key().as_str())?;
        // The first read proves the key; a wrong key reads as "not a database".
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::NotADatabase => {
                return Err(Error::DatabaseKey);
            }
            Err(e) => return Err(e.into()),
        }
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Pages are decrypted on every cache miss: a larger cache (16 MiB) keeps the hot part of
        // the history and its indexes decrypted in memory.
        conn.pragma_update(None, "cache_size", -16_384)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let mut store = Self { conn, _checkpointer: None };
        store.migrate()?;
        store._checkpointer = Some(Checkpointer::start(path, key)?);
        Ok(store)
    }

    /// A read-only connection of its own to the database at `path`, for long reads (a backup
    /// export) that must not hold the engine's connection. A transaction on it reads one
    /// consistent snapshot while the engine keeps writing (WAL).
    pub(crate) fn open_reader(path: &Path, key: &ProfileKey) -> Result<Connection> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.pragma_update(None, "key", key.sqlcipher_key().as_str())?;
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::NotADatabase => {
                return Err(Error::DatabaseKey);
            }
            Err(e) => return Err(e.into()),
        }
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    fn migrate(&mut self) -> Result<()> {
        let current: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(Error::ProfileTooNew { found: current, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Reads and single-statement writes outside a transaction.
    pub fn db(&self) -> Db<'_> {
        Db { conn: &self.conn }
    }

    /// Run `f` in one transaction; nothing of it is stored unless it returns `Ok`.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction()?;
        let out = f(&Db { conn: &tx })?;
        tx.commit()?;
        Ok(out)
    }
}

/// A second, read-only connection to a profile's database for long reads (a readable export)
/// that must not hold the engine's connection: in WAL mode it reads one consistent snapshot while
/// the engine keeps writing.
pub struct Reader {
    conn: Connection,
}

impl Reader {
    /// Open the database at `path` read-only with the profile key.
    pub fn open(path: &Path, key: &ProfileKey) -> Result<Self> {
        if !path.exists() {
            return Err(Error::NoProfile(path.display().to_string()));
        }
        let conn = Store::open_reader(path, key)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(Error::ProfileTooNew { found: version, known });
        }
        if version < known {
            // Readers never migrate: the engine's own connection does that when it opens.
            return Err(StoreError::NotMigrated.into());
        }
        Ok(Self { conn })
    }

    /// Run `f` in one read transaction: every query in it sees the same snapshot, whatever the
    /// engine commits meanwhile.
    pub fn snapshot<T>(&mut self, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
        let out = f(&Db { conn: &tx })?;
        // Nothing was written: ending the transaction only releases the snapshot.
        tx.rollback()?;
        Ok(out)
    }
}

/// The database's queries; inside [`Store::transaction`] they compose into one commit.
pub struct Db<'a> {
    conn: &'a Connection,
}

impl Db<'_> {
    pub fn conn(&self) -> &Connection {
        self.conn
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.conn.execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
