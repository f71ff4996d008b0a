//! The embedded store: one SQLite database file in WAL mode.
//!
//! Writes go through ONE connection owned by a dedicated writer thread ([`writer`]), which runs
//! queued jobs in batches (group commit), each job in its own savepoint. Every operation that
//! must be atomic (a claim of one-time keys, a delivery with its idempotency record, a group
//! change with its event) is one job, and jobs never interleave. Reads run on a small pool of
//! read-only connections on tokio's blocking threads; in WAL mode they never block the writer
//! and always see the last committed batch.
//!
//! Durability: `synchronous=NORMAL` in WAL mode means a committed batch survives a crash of the
//! process (kill -9), but the last batches before a power loss or an OS crash can be lost;
//! `synchronous=FULL` would make them durable too, at the cost of one fsync per batch.
//!
//! The schema lives in numbered migrations (`migrations/NNNN_*.sql`), applied in one
//! transaction at open and tracked with `PRAGMA user_version`. A database written by a newer
//! server (a higher user_version) is refused without being changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, Row};
use sotto_proto::InvalidId;
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

mod accounts;
mod backup;
mod blobs;
mod devices;
mod groups;
mod inbox;
mod profiles;
mod writer;

#[cfg(test)]
mod tests;

/// The migrations, in order; migration `i` (0-based) brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_group_history.sql"),
    include_str!("migrations/0003_identities.sql"),
    include_str!("migrations/0004_group_log.sql"),
    include_str!("migrations/0005_token_revocation.sql"),
    include_str!("migrations/0006_external_token_ids.sql"),
    include_str!("migrations/0007_contacts.sql"),
    include_str!("migrations/0008_group_invites.sql"),
    include_str!("migrations/0009_blobs.sql"),
    include_str!("migrations/0010_profiles.sql"),
];

/// The schema version this binary writes.
const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Read connections. Reads wait for a free one rather than opening more, so connections (and
/// their prepared statements and parsed schema) are reused instead of re-created under load.
const READERS: usize = 8;

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite store. Share it as `Arc<SqliteStore>`; dropping the last one stops the writer
/// thread after the jobs already queued are done.
pub struct SqliteStore {
    writer: Option<Writer>,
    readers: Arc<ReaderPool>,
    /// One permit per read connection.
    reader_slots: Arc<tokio::sync::Semaphore>,
    /// Set when inbox rows were deleted since the last garbage collection.
    garbage: std::sync::atomic::AtomicBool,
}

struct Writer {
    jobs: mpsc::Sender<writer::Queued>,
    thread: JoinHandle<()>,
    /// Ends when the writer thread ends (it holds the sending side of its wake-ups).
    checkpoints: JoinHandle<()>,
}

/// The least time between two background checkpoints. Frequent small checkpoints keep each one's
/// burst of I/O small: measured on an ext4 disk under load, checkpoints every 500 ms stalled
/// commits for ~100 ms (p99), every 50 ms for ~12 ms, every 10 ms for ~6 ms.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(10);
/// WAL pages after which the writer checkpoints by itself (if the checkpoint thread falls behind).
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// Checkpoints in the background (PASSIVE: never blocks the writer or readers), so commits on the
/// writer thread do not stall on copying and syncing the WAL into the database file. It runs only
/// after commits (`committed` wakes it), so an idle server does no work.
fn checkpoint_loop(path: PathBuf, committed: mpsc::Receiver<()>) {
    let conn = match Connection::open(&path).and_then(|c| c.busy_timeout(BUSY_TIMEOUT).map(|()| c)) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "checkpoint thread cannot open the database; the writer checkpoints instead");
            return;
        }
    };
    while committed.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "background checkpoint failed");
        }
        std::thread::sleep(CHECKPOINT_INTERVAL);
    }
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) the database at `path`, migrates it to
    /// the current schema and starts the writer thread.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir(dir)
                .map_err(|e| StoreError::Database(format!("cannot create the database directory: {e}")))?;
        }
        make_files_private(path)?;
        let mut conn = Connection::open(path)?;
        // Refuse a newer schema before changing anything (not even the journal mode).
        let version = user_version(&conn)?;
        if version > SCHEMA_VERSION {
            return Err(newer_schema(version));
        }
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!("cannot switch the database to WAL mode (got {mode})")));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Savepoint journals (one per job of a batch) stay in memory instead of a temp file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)?;
        migrate(&mut conn)?;

        // Capacity 1: commits made while a checkpoint runs coalesce into one more checkpoint.
        let (committed, commits) = mpsc::sync_channel(1);
        let db_path = path.to_path_buf();
        let checkpoints = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(db_path, commits))
            .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::run(conn, queue, committed))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            writer: Some(Writer { jobs, thread, checkpoints }),
            readers: Arc::new(ReaderPool { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }),
            reader_slots: Arc::new(tokio::sync::Semaphore::new(READERS)),
            // A restart may leave payloads whose last entry was acked just before it stopped.
            garbage: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Runs `op` as one write job (atomic, serialized with every other write) and waits for its
    /// batch to commit. Dropping the future does not cancel the write.
    async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.submit(|reply| writer::Queued::Job(Box::new(writer::TypedJob::new(op, reply)))).await
    }

    /// Stores a direct message as a write job shared with the direct messages queued next to it
    /// (see [`inbox::DirectRun`]).
    async fn deliver_direct(&self, delivery: crate::store::Delivery) -> StoreResult<crate::store::DeliveryOutcome> {
        self.submit(|reply| writer::Queued::Direct(inbox::DirectJob::new(delivery, reply))).await
    }

    /// Queues what `queued` makes for the writer thread and waits for the answer it sends back
    /// once its batch has committed.
    async fn submit<T>(
        &self,
        queued: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> writer::Queued,
    ) -> StoreResult<T> {
        let Some(writer) = &self.writer else {
            return Err(writer_stopped());
        };
        let (reply, answer) = oneshot::channel();
        writer.jobs.send(queued(reply)).map_err(|_| writer_stopped())?;
        answer.await.map_err(|_| writer_stopped())?
    }

    /// Runs `op` on a read-only connection on a blocking thread. An `op` that runs more than one
    /// statement and needs them consistent opens a transaction itself.
    async fn read<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let slot = Arc::clone(&self.reader_slots)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Database("the read pool is closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let result = readers.with(op);
            drop(slot);
            result
        })
        .await
        .map_err(|e| StoreError::Database(format!("read task failed: {e}")))?
    }

    /// Rows in `shared_payloads` (tests check that acknowledged payloads are collected).
    #[cfg(test)]
    pub(crate) async fn shared_payload_rows(&self) -> StoreResult<u64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM shared_payloads", [], |r| u64_col(r, 0))?)).await
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(Writer { jobs, thread, checkpoints }) = self.writer.take() {
            // Closing the channel ends the thread once it has finished the queued jobs; waiting
            // for it means the database is closed (and checkpointed) when the store is gone.
            drop(jobs);
            if thread.join().is_err() {
                tracing::error!("sqlite writer thread panicked");
            }
            // The writer's end of the wake-ups is gone now, so the checkpoint thread stops.
            if checkpoints.join().is_err() {
                tracing::error!("sqlite checkpoint thread panicked");
            }
        }
    }
}

/// Read-only connections, reused.
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn with<T>(&self, op: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = op(&conn);
        if conn.is_autocommit() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < READERS {
                idle.push(conn);
            }
        }
        result
    }

    fn open(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }
}

/// Creates the database file owner-only before SQLite opens it (SQLite would create it with the
/// umask's mode, and its WAL and shared-memory files copy the database file's mode), and tightens
/// the ones a previous run left looser.
fn make_files_private(path: &Path) -> StoreResult<()> {
    let private = |e: std::io::Error| StoreError::Database(format!("cannot make the database files private: {e}"));
    crate::private::create_file(path).map_err(private)?;
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        crate::private::tighten_file(Path::new(&companion)).map_err(private)?;
    }
    Ok(())
}

fn user_version(conn: &Connection) -> StoreResult<u32> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("database schema version {v} is invalid")))
}

fn newer_schema(version: u32) -> StoreError {
    StoreError::Database(format!(
        "database schema version {version} is newer than this server supports ({SCHEMA_VERSION})"
    ))
}

/// Applies the missing migrations, all in one transaction.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have migrated in the meantime.
    let from = user_version(&tx)?;
    if from > SCHEMA_VERSION {
        return Err(newer_schema(from));
    }
    if from == SCHEMA_VERSION {
        return Ok(());
    }
    for (sql, version) in MIGRATIONS.iter().zip(1u32..).skip(from as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
    }
    tx.commit()?;
    tracing::info!(from, to = SCHEMA_VERSION, "database schema migrated");
    Ok(())
}

fn writer_stopped() -> StoreError {
    StoreError::Database("the database writer has stopped".into())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        // rusqlite's messages never include bound values, so they are safe to log.
        match e {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

/// A stored value that does not decode.
#[derive(Debug)]
struct BadValue(&'static str);

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BadValue {}

fn bad_column(idx: usize, err: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(err))
}

/// A validated id (`UserId`, `DeviceId`, ...) stored as TEXT.
fn id_col<T: TryFrom<String, Error = InvalidId>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    T::try_from(s).map_err(|e| bad_column(idx, e))
}

fn opt_id_col<T: TryFrom<String, Error = InvalidId>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>> {
    let s: Option<String> = row.get(idx)?;
    s.map(T::try_from).transpose().map_err(|e| bad_column(idx, e))
}

/// A u64 stored as a (non-negative) INTEGER.
/// A TEXT column, borrowed from its row (no copy, e.g. to look it up in a map).
fn str_col<'r>(row: &'r Row<'_>, idx: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(idx)?.as_str().map_err(|e| bad_column(idx, e))
}

fn u64_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v))
}

/// A u64 to store. SQLite integers are i64; larger values (never real timestamps, versions or
/// sequence numbers) are refused.
fn sql_u64(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Database("integer out of range for the database".into()))
}

/// A u64 bound to compare with: values past i64::MAX compare like i64::MAX.
fn sql_bound(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `items` without repeats, first occurrence kept, order preserved.
fn dedup<T: Clone + Eq + std::hash::Hash>(items: &[T]) -> Vec<T> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items.iter().filter(|i| seen.insert(*i)).cloned().collect()
}
