//! One housekeeping leader among the nodes: the node whose connection holds a session-level
//! advisory lock. The lock goes with the connection — a node that stops, crashes or loses the
//! database loses it, and another node takes it within [`TRY_EVERY`]. Housekeeping is also safe
//! when two nodes run it at once (its statements take rows with `SKIP LOCKED`), so the moment
//! when an old leader has not yet noticed its connection is gone costs repeated work, never
//! correctness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::PostgresConfig;
use crate::store::{StoreError, StoreResult};

/// The advisory lock the leader holds ("sotto-hk" in ASCII; not the migrations' lock).
const LEADER_LOCK: i64 = 0x736f_7474_6f2d_686b;
/// How often a follower tries to become the leader, and the leader checks its connection.
pub const TRY_EVERY: Duration = Duration::from_secs(5);
/// A check of the leader's connection that takes longer than this counts as a lost connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this node is the housekeeping leader now. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Leadership(Arc<AtomicBool>);

impl Leadership {
    /// A node alone (SQLite): always the leader.
    pub fn alone() -> Leadership {
        Leadership(Arc::new(AtomicBool::new(true)))
    }

    pub fn is_leader(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Tries to become the leader among the nodes on `config`'s database, and stays it while its
    /// connection lasts; gives it up with `stop`.
    pub fn campaign(config: &PostgresConfig, stop: CancellationToken) -> Leadership {
        let leadership = Leadership(Arc::new(AtomicBool::new(false)));
        tokio::spawn(campaign(config.clone(), leadership.clone(), stop));
        leadership
    }

    fn set(&self, leader: bool) {
        if self.0.swap(leader, Ordering::AcqRel) != leader {
            if leader {
                tracing::info!("this node is the housekeeping leader");
            } else {
                tracing::info!("this node is no longer the housekeeping leader");
            }
        }
    }
}

async fn campaign(config: PostgresConfig, leadership: Leadership, stop: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    loop {
        let result = hold(&config, &leadership, &stop).await;
        leadership.set(false);
        match result {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "the housekeeping leader's connection failed; connecting again"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(TRY_EVERY);
    }
}

/// On one connection: tries the lock every [`TRY_EVERY`] until it has it, then checks the
/// connection as often. `Ok` on `stop` (the lock goes with the connection), `Err` when the
/// connection fails.
async fn hold(config: &PostgresConfig, leadership: &Leadership, stop: &CancellationToken) -> StoreResult<()> {
    let (client, connection) = config.connect().await?;
    let mut driver = tokio::spawn(connection);
    let mut tick = tokio::time::interval(TRY_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            () = stop.cancelled() => break Ok(()),
            ended = &mut driver => {
                break Err(match ended {
                    Ok(Err(e)) => e.into(),
                    _ => StoreError::Database("the connection closed".into()),
                });
            }
            _ = tick.tick() => {
                // The leader checks its connection; a follower tries the lock.
                let check = if leadership.is_leader() {
                    client.query_one("SELECT true", &[])
                } else {
                    client.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                };
                match tokio::time::timeout(CHECK_TIMEOUT, check).await {
                    Ok(Ok(row)) => leadership.set(row.try_get::<_, bool>(0)?),
                    Ok(Err(e)) => break Err(e.into()),
                    Err(_) => break Err(StoreError::Database("the database did not answer in time".into())),
                }
            }
        }
    };
    // Closing the connection releases the lock at once (no other node waits for a timeout).
    drop(client);
    driver.abort();
    result
}
