//! Direct messages, several in one statement: sends that arrive while earlier ones are being
//! stored wait in a queue and are stored together, as SQLite's writer thread commits its queued
//! jobs in one transaction. One statement (so one commit, one WAL flush and one round trip) for
//! many messages is what lets a shared database keep up with an embedded one.
//!
//! The statement keeps every guarantee of storing them one by one: each `(sender, message id)` is
//! stored once (a repeat, in the batch or from before, is a duplicate with the first one's time);
//! each recipient device's `next_seq` is raised under its row's lock by the number of messages
//! it gets, which are numbered in the order they came; rows are locked in one order — the
//! idempotency keys sorted, then the device rows sorted — so concurrent batches (on this node
//! or another) wait for each other and never deadlock. If the statement fails, each message is
//! tried alone, so one bad message fails only itself.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::{GenericClient, Pool};
use sotto_proto::DeviceAddress;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{at, id_at, opt_id_at, query, sql_u64, u64_at};
use crate::store::{Delivery, DeliveryContent, DeliveryOutcome, StoreError, StoreResult};

/// Messages in one statement at most.
const MAX_BATCH: usize = 256;
/// Batches being stored at once (each on a connection of its own).
const WORKERS: usize = 4;

/// One row per message of the batch that was stored (`first`), with each of its recipients and
/// the seq it got (or NULLs: a message whose recipients were all deleted meanwhile).
const DELIVER_DIRECT: &str = "
    WITH msg AS (
        SELECT * FROM unnest($1::INT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[])
            AS m(n, sender_user, message_id, server_ts, sender_device)
    ), first AS (
        INSERT INTO sent_ids (sender_user, message_id, server_ts)
        SELECT sender_user, message_id, server_ts FROM msg ORDER BY sender_user, message_id
        ON CONFLICT (sender_user, message_id) DO NOTHING
        RETURNING sender_user, message_id
    ), fresh AS (
        SELECT m.* FROM msg m JOIN first f ON f.sender_user = m.sender_user AND f.message_id = m.message_id
    ), rcpt AS (
        SELECT r.* FROM unnest($6::INT[], $7::TEXT[], $8::TEXT[], $9::TEXT[]) AS r(n, user_id, device_id, ciphertext)
        WHERE r.n IN (SELECT n FROM fresh)
    ), locked AS (
        SELECT d.user_id, d.device_id FROM devices d
        WHERE (d.user_id, d.device_id) IN (SELECT user_id, device_id FROM rcpt)
        ORDER BY d.user_id, d.device_id
        FOR NO KEY UPDATE OF d
    ), wanted AS (
        SELECT user_id, device_id, count(*) AS k FROM rcpt GROUP BY user_id, device_id
    ), bumped AS (
        UPDATE devices d SET next_seq = d.next_seq + w.k
        FROM locked l JOIN wanted w ON w.user_id = l.user_id AND w.device_id = l.device_id
        WHERE d.user_id = l.user_id AND d.device_id = l.device_id
        RETURNING d.user_id, d.device_id, d.next_seq - w.k AS base
    ), numbered AS (
        SELECT r.n, r.user_id, r.device_id, r.ciphertext,
               b.base + row_number() OVER (PARTITION BY r.user_id, r.device_id ORDER BY r.n) - 1 AS seq
        FROM rcpt r JOIN bumped b ON b.user_id = r.user_id AND b.device_id = r.device_id
    ), stored AS (
        INSERT INTO inbox (user_id, device_id, seq, message_id, sender_user, sender_device, server_ts, ciphertext)
        SELECT x.user_id, x.device_id, x.seq, m.message_id, m.sender_user, m.sender_device, m.server_ts, x.ciphertext
        FROM numbered x JOIN fresh m ON m.n = x.n
    ), met AS (
        INSERT INTO contacts (user_id, peer_id, first_ts)
        SELECT DISTINCT ON (m.sender_user, r.user_id) m.sender_user, r.user_id, m.server_ts
        FROM numbered r JOIN fresh m ON m.n = r.n
        WHERE r.user_id <> m.sender_user
        ORDER BY m.sender_user, r.user_id, m.n
        ON CONFLICT (user_id, peer_id) DO NOTHING
    )
    SELECT f.n, x.user_id, x.device_id, x.seq FROM fresh f LEFT JOIN numbered x ON x.n = f.n";

/// Stores direct messages (`PerDevice` deliveries) in one statement, on `c` (alone, or inside
/// the caller's transaction). One outcome per delivery, in order.
pub(super) async fn deliver_direct<C: GenericClient>(
    c: &C,
    deliveries: &[&Delivery],
) -> StoreResult<Vec<DeliveryOutcome>> {
    // A repeat inside the batch is answered from its first occurrence, as it would be one by one.
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut repeat_of: Vec<Option<usize>> = Vec::with_capacity(deliveries.len());
    let (mut ns, mut senders, mut ids, mut times, mut sender_devices) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut r_ns, mut r_users, mut r_devices, mut r_texts) = (vec![], vec![], vec![], vec![]);
    for (n, delivery) in deliveries.iter().enumerate() {
        let key = (delivery.sender_user.as_str(), delivery.message_id.as_str());
        if let Some(first) = first_of.get(&key) {
            repeat_of.push(Some(*first));
            continue;
        }
        first_of.insert(key, n);
        repeat_of.push(None);
        let DeliveryContent::PerDevice(payloads) = &*delivery.content else {
            return Err(StoreError::Database("a group message took the direct path".into()));
        };
        let index = i32::try_from(n).map_err(|_| StoreError::Database("too many messages in one batch".into()))?;
        ns.push(index);
        senders.push(key.0);
        ids.push(key.1);
        times.push(sql_u64(delivery.server_ts)?);
        sender_devices.push(delivery.sender_device.as_ref().map(|d| d.as_str()));
        let mut seen = std::collections::HashSet::new();
        for (device, ciphertext) in payloads.iter().filter(|(d, _)| seen.insert(d)) {
            r_ns.push(index);
            r_users.push(device.user_id.as_str());
            r_devices.push(device.device_id.as_str());
            r_texts.push(ciphertext.as_str());
        }
    }
    let rows = query(
        c,
        DELIVER_DIRECT,
        &[&ns, &senders, &ids, &times, &sender_devices, &r_ns, &r_users, &r_devices, &r_texts],
    )
    .await?;
    let mut stored: HashMap<usize, Vec<(DeviceAddress, u64)>> = HashMap::new();
    for row in &rows {
        let n: i32 = at(row, 0)?;
        let n = usize::try_from(n).map_err(|_| StoreError::Corrupt(format!("message index {n}")))?;
        let recipients = stored.entry(n).or_default();
        if let Some(user_id) = opt_id_at(row, 1)? {
            recipients.push((DeviceAddress { user_id, device_id: id_at(row, 2)? }, u64_at(row, 3)?));
        }
    }
    // The others were stored before: their first time.
    let earlier: Vec<&Delivery> = deliveries
        .iter()
        .zip(&repeat_of)
        .enumerate()
        .filter(|(n, (_, repeat))| repeat.is_none() && !stored.contains_key(n))
        .map(|(_, (delivery, _))| *delivery)
        .collect();
    let mut earlier_ts: HashMap<(&str, &str), u64> = HashMap::new();
    if !earlier.is_empty() {
        let senders: Vec<&str> = earlier.iter().map(|d| d.sender_user.as_str()).collect();
        let ids: Vec<&str> = earlier.iter().map(|d| d.message_id.as_str()).collect();
        let rows = query(
            c,
            "SELECT s.sender_user, s.message_id, s.server_ts FROM sent_ids s
             JOIN unnest($1::TEXT[], $2::TEXT[]) AS w(sender_user, message_id)
               ON s.sender_user = w.sender_user AND s.message_id = w.message_id",
            &[&senders, &ids],
        )
        .await?;
        for row in &rows {
            let (sender, id): (&str, &str) = (at(row, 0)?, at(row, 1)?);
            if let Some(d) = earlier.iter().find(|d| d.sender_user.as_str() == sender && d.message_id.as_str() == id) {
                earlier_ts.insert((d.sender_user.as_str(), d.message_id.as_str()), u64_at(row, 2)?);
            }
        }
    }
    let mut outcomes: Vec<DeliveryOutcome> = Vec::with_capacity(deliveries.len());
    for (n, (delivery, repeat)) in deliveries.iter().zip(&repeat_of).enumerate() {
        let outcome = match repeat {
            None => match stored.remove(&n) {
                Some(mut recipients) => {
                    recipients.sort_unstable_by(|(a, _), (b, _)| {
                        (a.user_id.as_str(), a.device_id.as_str()).cmp(&(b.user_id.as_str(), b.device_id.as_str()))
                    });
                    DeliveryOutcome::Stored { recipients }
                }
                None => DeliveryOutcome::Duplicate {
                    server_ts: *earlier_ts
                        .get(&(delivery.sender_user.as_str(), delivery.message_id.as_str()))
                        .ok_or_else(|| StoreError::Database("a message was neither stored nor stored before".into()))?,
                },
            },
            Some(first) => match (outcomes.get(*first), deliveries.get(*first)) {
                (Some(DeliveryOutcome::Stored { .. }), Some(original)) => {
                    DeliveryOutcome::Duplicate { server_ts: original.server_ts }
                }
                (Some(DeliveryOutcome::Duplicate { server_ts }), _) => {
                    DeliveryOutcome::Duplicate { server_ts: *server_ts }
                }
                _ => return Err(StoreError::Database("a repeat came before its message".into())),
            },
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

pub(super) type Job = (Delivery, oneshot::Sender<StoreResult<DeliveryOutcome>>);

/// The queue of direct messages waiting to be stored, and the task that stores them in batches.
pub(super) struct DirectQueue {
    tx: mpsc::UnboundedSender<Job>,
}

impl DirectQueue {
    /// Starts the task (it ends when the queue is dropped).
    pub(super) fn start(pool: Pool) -> DirectQueue {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(pool, rx));
        DirectQueue { tx }
    }

    /// Stores `delivery` with whatever else is waiting.
    pub(super) async fn deliver(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome> {
        let (done, outcome) = oneshot::channel();
        self.tx.send((delivery, done)).map_err(|_| StoreError::Database("the store is closing".into()))?;
        outcome.await.map_err(|_| StoreError::Database("the store stopped before the message was stored".into()))?
    }
}

/// Waits for a free worker, then takes everything queued (up to [`MAX_BATCH`]) as one batch:
/// while every worker is busy, messages gather into the next batch.
async fn dispatch(pool: Pool, mut rx: mpsc::UnboundedReceiver<Job>) {
    let workers = Arc::new(Semaphore::new(WORKERS));
    loop {
        let Ok(permit) = workers.clone().acquire_owned().await else { return };
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            store_batch(&pool, batch).await;
            drop(permit);
        });
    }
}

pub(super) async fn store_batch(pool: &Pool, batch: Vec<Job>) {
    let (deliveries, senders): (Vec<Delivery>, Vec<_>) = batch.into_iter().unzip();
    let all: Vec<&Delivery> = deliveries.iter().collect();
    let together = match pool.get().await {
        Ok(client) => deliver_direct(&client, &all).await,
        Err(e) => Err(super::pool_error(e)),
    };
    match together {
        Ok(outcomes) => {
            for (done, outcome) in senders.into_iter().zip(outcomes) {
                let _ = done.send(Ok(outcome));
            }
        }
        // One message's fault must not fail the others: each alone (the first attempt wrote
        // nothing, being one statement).
        Err(e) if all.len() > 1 => {
            tracing::debug!(error = %e, messages = all.len(), "a batch of direct messages failed; storing them one by one");
            for (delivery, done) in all.into_iter().zip(senders) {
                let alone = match pool.get().await {
                    Ok(client) => deliver_direct(&client, &[delivery]).await,
                    Err(e) => Err(super::pool_error(e)),
                };
                let _ = done.send(alone.and_then(|mut o| {
                    o.pop().ok_or_else(|| StoreError::Database("no outcome for a direct message".into()))
                }));
            }
        }
        Err(e) => {
            for done in senders {
                let _ = done.send(Err(e.clone()));
            }
        }
    }
}
