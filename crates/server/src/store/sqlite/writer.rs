//! The writer thread: the only place that writes to the database.
//!
//! Write jobs arrive over a channel. The thread takes every job already queued (up to
//! [`MAX_BATCH`]) and runs them in one transaction, each inside its own savepoint, then commits
//! once. Under load, many sends share one commit (and one WAL sync) instead of paying one each:
//! this group commit is what makes the relay fast. Direct messages queued next to each other
//! are merged into one job first ([`DirectRun`]: set-based statements for all of them).
//! Invariants:
//! - a job that fails is rolled back to its savepoint, so it leaves nothing behind and the other
//!   jobs of its batch are not affected;
//! - a job's result is sent back only after the batch is committed; if the commit fails, every
//!   job of the batch that had succeeded gets the commit's error instead (nothing of it is stored);
//! - jobs run one after the other, so a job sees every write of the jobs before it and can never
//!   interleave with another (this is what makes a claim of a one-time key atomic).

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::inbox::{DirectJob, DirectRun};
use crate::store::{StoreError, StoreResult};

/// Most jobs run in one transaction. Bounds how long one batch holds the write lock and how much
/// one commit writes to the WAL.
pub(super) const MAX_BATCH: usize = 256;

/// One queued write: an operation on the writer connection, plus where to send its result.
pub(super) trait Job: Send {
    /// Runs the operation inside the batch's transaction; true if it succeeded (its savepoint is
    /// then released, else rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the result: the operation's own, or `batch_error` if the operation succeeded but
    /// its batch could not be committed.
    fn complete(self: Box<Self>, batch_error: Option<&str>);
}

pub(super) type BoxedJob = Box<dyn Job>;

/// What the writer thread receives: a job, or a direct message, which is stored together with
/// the direct messages queued next to it (see [`DirectRun`]).
pub(super) enum Queued {
    Job(BoxedJob),
    Direct(DirectJob),
}

/// A job running `op` and answering on `reply`.
pub(super) struct TypedJob<T, F> {
    op: Option<F>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    pub(super) fn new(op: F, reply: oneshot::Sender<StoreResult<T>>) -> Self {
        Self { op: Some(op), result: None, reply }
    }
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = match self.op.take() {
            Some(op) => op(conn),
            None => Err(StoreError::Database("write job ran twice".into())),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn complete(self: Box<Self>, batch_error: Option<&str>) {
        let result = match (self.result, batch_error) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Some(e)) | (None, Some(e)) => Err(StoreError::Database(e.to_owned())),
            (Some(Ok(v)), None) => Ok(v),
            (None, None) => Err(StoreError::Database("write job did not run".into())),
        };
        // The caller may have gone away (its request was cancelled); the write stands regardless.
        let _ = self.reply.send(result);
    }
}

/// The writer thread's body: runs batches until every sender is dropped.
/// `committed` is poked (without blocking) after every batch, to wake the checkpoint thread.
pub(super) fn run(conn: Connection, queue: Receiver<Queued>, committed: SyncSender<()>) {
    while let Ok(first) = queue.recv() {
        let mut queued = Vec::with_capacity(16);
        queued.push(first);
        while queued.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => queued.push(next),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        run_batch(&conn, merge_direct(queued));
        // Full means a checkpoint is already due; disconnected means it could not start (the
        // writer then checkpoints by itself, see `wal_autocheckpoint`).
        let _ = committed.try_send(());
    }
    tracing::debug!("sqlite writer stopped");
}

/// The batch as jobs, each run of consecutive direct messages made one job. Only neighbours are
/// merged, so every job still sees the writes of all the jobs queued before it.
fn merge_direct(queued: Vec<Queued>) -> Vec<BoxedJob> {
    let mut jobs: Vec<BoxedJob> = Vec::with_capacity(queued.len());
    let mut direct: Option<DirectRun> = None;
    for item in queued {
        match item {
            Queued::Direct(message) => direct.get_or_insert_with(DirectRun::default).push(message),
            Queued::Job(job) => {
                if let Some(run) = direct.take() {
                    jobs.push(Box::new(run));
                }
                jobs.push(job);
            }
        }
    }
    if let Some(run) = direct {
        jobs.push(Box::new(run));
    }
    jobs
}

/// Runs one of the batch's bookkeeping statements, prepared once per connection (parsing them for
/// every job showed in profiles).
pub(super) fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `jobs` in as few transactions as possible (one, unless the transaction is lost midway)
/// and completes every one of them.
pub(super) fn run_batch(conn: &Connection, jobs: Vec<BoxedJob>) {
    let total = jobs.len();
    let mut pending = jobs.into_iter();
    loop {
        if pending.len() == 0 {
            return;
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            tracing::warn!(error = %msg, jobs = pending.len(), "sqlite write batch could not begin");
            for job in pending {
                job.complete(Some(&msg));
            }
            return;
        }
        let mut ran: Vec<BoxedJob> = Vec::with_capacity(pending.len());
        let mut lost: Option<String> = None;
        for mut job in pending.by_ref() {
            if let Err(e) = run_cached(conn, "SAVEPOINT job") {
                lost = Some(e.to_string());
                ran.push(job);
                break;
            }
            let ok = job.run(conn);
            ran.push(job);
            // A failed statement can make SQLite roll back the whole transaction (a full disk, an
            // I/O error); then the jobs before this one are gone too.
            let end = if ok { Ok(()) } else { run_cached(conn, "ROLLBACK TO job") }
                .and_then(|()| run_cached(conn, "RELEASE job"));
            if let Err(e) = end {
                lost = Some(e.to_string());
                break;
            }
            if conn.is_autocommit() {
                lost = Some("the write transaction was rolled back".into());
                break;
            }
        }
        let failure = match lost {
            Some(msg) => Some(msg),
            None => conn.execute_batch("COMMIT").err().map(|e| e.to_string()),
        };
        match failure {
            None => {
                tracing::debug!(jobs = ran.len(), "sqlite write batch committed");
                for job in ran {
                    job.complete(None);
                }
            }
            Some(msg) => {
                // A failed COMMIT (e.g. a deferred constraint) leaves the transaction open.
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                tracing::warn!(error = %msg, jobs = ran.len(), of = total, "sqlite write batch failed");
                for job in ran {
                    job.complete(Some(&msg));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job<T: Send + 'static>(
        op: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> (BoxedJob, oneshot::Receiver<StoreResult<T>>) {
        let (tx, rx) = oneshot::channel();
        (Box::new(TypedJob::new(op, tx)), rx)
    }

    fn insert(v: i64) -> impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static {
        move |c: &Connection| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(())
        }
    }

    fn values(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn failing_job_rolls_back_only_itself() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)").unwrap();
        let (a, ra) = job(insert(1));
        // Writes, then fails: its write must not survive.
        let (b, rb) = job(|c: &Connection| -> StoreResult<()> {
            c.execute("INSERT INTO t (v) VALUES (2)", [])?;
            Err(StoreError::NotFound)
        });
        let (c, rc) = job(insert(3));
        run_batch(&conn, vec![a, b, c]);
        assert!(ra.blocking_recv().unwrap().is_ok());
        assert!(matches!(rb.blocking_recv().unwrap(), Err(StoreError::NotFound)));
        assert!(rc.blocking_recv().unwrap().is_ok());
        assert_eq!(values(&conn), vec![1, 3]);
        assert!(conn.is_autocommit());
    }

    #[test]
    fn failed_commit_fails_every_job() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE t (v INTEGER NOT NULL REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);
             INSERT INTO p (id) VALUES (1);",
        )
        .unwrap();
        // 1 is a valid reference; 99 violates the deferred foreign key, which only COMMIT checks.
        let (a, ra) = job(insert(1));
        let (b, rb) = job(insert(99));
        run_batch(&conn, vec![a, b]);
        assert!(matches!(ra.blocking_recv().unwrap(), Err(StoreError::Database(_))));
        assert!(matches!(rb.blocking_recv().unwrap(), Err(StoreError::Database(_))));
        assert!(conn.is_autocommit(), "the failed transaction must be rolled back");
        assert!(values(&conn).is_empty());
        // The connection is usable afterwards.
        let (c, rc) = job(insert(1));
        run_batch(&conn, vec![c]);
        assert!(rc.blocking_recv().unwrap().is_ok());
        assert_eq!(values(&conn), vec![1]);
    }

    #[test]
    fn lost_transaction_fails_the_jobs_run_so_far_and_retries_the_rest() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)").unwrap();
        let (a, ra) = job(insert(1));
        // A buggy job that ends the batch's transaction itself.
        let (b, rb) = job(|c: &Connection| -> StoreResult<()> {
            c.execute_batch("ROLLBACK")?;
            Ok(())
        });
        let (c, rc) = job(insert(3));
        run_batch(&conn, vec![a, b, c]);
        assert!(ra.blocking_recv().unwrap().is_err());
        assert!(rb.blocking_recv().unwrap().is_err());
        assert!(rc.blocking_recv().unwrap().is_ok());
        assert_eq!(values(&conn), vec![3]);
    }
}
