//! Inboxes: per-device queues of sequenced entries.
//!
//! Invariants: a device's seq comes from its `next_seq` counter, which only grows, so seqs
//! strictly increase and are never reused; a shared payload is deleted only when no inbox row
//! and no group history row references it (by `collect_garbage`, a write job, so it never races the delivery that
//! inserts a payload together with its rows).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use sotto_proto::{DeviceAddress, EntryBody, GroupId, InboxEntry, MessageId, UserId};

use tokio::sync::oneshot;

use super::{BadValue, SqliteStore, bad_column, id_col, opt_id_col, sql_bound, sql_u64, str_col, u64_col, writer};
use crate::store::{Delivery, DeliveryContent, DeliveryOutcome, InboxStore, StoreError, StoreResult};

#[async_trait]
impl InboxStore for SqliteStore {
    async fn deliver(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome> {
        if matches!(*delivery.content, DeliveryContent::PerDevice(_)) {
            return self.deliver_direct(delivery).await;
        }
        self.write(move |c| deliver(c, &delivery)).await
    }

    async fn share_conversation(&self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        let (a, b) = (a.clone(), b.clone());
        self.read(move |c| {
            let wrote = c
                .prepare_cached(
                    "SELECT 1 FROM contacts WHERE (user_id = ?1 AND peer_id = ?2) OR (user_id = ?2 AND peer_id = ?1)",
                )?
                .exists((a.as_str(), b.as_str()))?;
            if wrote {
                return Ok(true);
            }
            Ok(c.prepare_cached(
                "SELECT 1 FROM group_members x JOIN group_members y ON y.group_id = x.group_id
                 WHERE x.user_id = ?1 AND y.user_id = ?2",
            )?
            .exists((a.as_str(), b.as_str()))?)
        })
        .await
    }

    async fn have_written_to(&self, users: &[UserId], to: &UserId) -> StoreResult<Vec<UserId>> {
        let (users, to) = (users.to_vec(), to.clone());
        self.read(move |c| {
            let mut wrote = c.prepare_cached("SELECT 1 FROM contacts WHERE user_id = ?1 AND peer_id = ?2")?;
            let mut found = Vec::new();
            for user in users {
                if wrote.exists((user.as_str(), to.as_str()))? {
                    found.push(user);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn fetch(&self, device: &DeviceAddress, after: u64, limit: u32) -> StoreResult<Vec<InboxEntry>> {
        let device = device.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT i.seq, i.message_id, i.sender_user, i.sender_device, i.server_ts, i.ciphertext, p.body
                 FROM inbox i LEFT JOIN shared_payloads p ON p.id = i.payload_id
                 WHERE i.user_id = ?1 AND i.device_id = ?2 AND i.seq > ?3
                 ORDER BY i.seq LIMIT ?4",
            )?;
            let rows =
                stmt.query_map((device.user_id.as_str(), device.device_id.as_str(), sql_bound(after), limit), |r| {
                    let body = match (r.get::<_, Option<String>>(5)?, r.get::<_, Option<String>>(6)?) {
                        (Some(ciphertext), _) => EntryBody::Direct { ciphertext },
                        (None, Some(json)) => serde_json::from_str(&json).map_err(|e| bad_column(6, e))?,
                        (None, None) => return Err(bad_column(6, BadValue("inbox entry without a body"))),
                    };
                    Ok(InboxEntry {
                        seq: u64_col(r, 0)?,
                        message_id: id_col(r, 1)?,
                        sender_user: id_col(r, 2)?,
                        sender_device: opt_id_col(r, 3)?,
                        server_ts: u64_col(r, 4)?,
                        body,
                    })
                })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn ack(&self, device: &DeviceAddress, up_to: u64) -> StoreResult<u64> {
        let device = device.clone();
        let deleted = self.write(move |c| delete_entries(c, &device, sql_bound(up_to))).await?;
        if deleted > 0 {
            self.garbage.store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(deleted)
    }

    async fn ack_many(&self, acks: &[(DeviceAddress, u64)]) -> StoreResult<u64> {
        let acks = acks.to_vec();
        let deleted = self
            .write(move |c| {
                let mut deleted = 0;
                for (device, up_to) in &acks {
                    deleted += delete_entries(c, device, sql_bound(*up_to))?;
                }
                Ok(deleted)
            })
            .await?;
        if deleted > 0 {
            self.garbage.store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(deleted)
    }

    async fn collect_garbage(&self) -> StoreResult<u64> {
        if !self.garbage.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return Ok(0);
        }
        let collected = self.write(collect_unreferenced).await;
        if !matches!(collected, Ok(n) if n < COLLECT_BATCH as u64) {
            // Failed, or there may be more: try again next time.
            self.garbage.store(true, std::sync::atomic::Ordering::Release);
        }
        collected
    }

    async fn sent_at(&self, sender: &UserId, message_id: &MessageId) -> StoreResult<Option<u64>> {
        let (sender, message_id) = (sender.clone(), message_id.clone());
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT server_ts FROM sent_ids WHERE sender_user = ?1 AND message_id = ?2")?
                .query_row((sender.as_str(), message_id.as_str()), |r| u64_col(r, 0))
                .optional()?)
        })
        .await
    }

    async fn prune_sent_ids(&self, before_ms: u64) -> StoreResult<u64> {
        self.write(move |c| {
            let deleted =
                c.prepare_cached("DELETE FROM sent_ids WHERE server_ts < ?1")?.execute([sql_bound(before_ms)])?;
            Ok(deleted as u64)
        })
        .await
    }
}

/// Stores `delivery` unless its `(sender, message id)` was stored before. Runs inside the caller's
/// write job (group changes deliver their event in the same job).
pub(super) fn deliver(c: &Connection, delivery: &Delivery) -> StoreResult<DeliveryOutcome> {
    let DeliveryContent::Shared { body, recipients: devices } = &*delivery.content else {
        return deliver_direct(c, &[delivery])?
            .pop()
            .ok_or_else(|| StoreError::Database("no outcome for a direct message".into()));
    };
    let Some(server_ts) = record_sent(c, delivery)? else {
        return Ok(DeliveryOutcome::Duplicate { server_ts: sent_ts(c, delivery)? });
    };
    let message_id = delivery.message_id.as_str();
    let sender = delivery.sender_user.as_str();
    let sender_device = delivery.sender_device.as_ref().map(|d| d.as_str());
    let json =
        serde_json::to_string(body).map_err(|e| StoreError::Database(format!("cannot encode an inbox body: {e}")))?;
    let payload: i64 = c
        .prepare_cached("INSERT INTO shared_payloads (body) VALUES (?1) RETURNING id")?
        .query_row([json], |r| r.get(0))?;
    // A group message is also kept in its group's history (for members' new devices), even when
    // no other device receives it now.
    let in_history = match &**body {
        EntryBody::Group { group_id, .. } => record_history(c, group_id, payload, delivery)?,
        _ => false,
    };
    // One statement for every recipient's counter and one for every row: a statement per
    // recipient paid SQLite's per-statement journal each time, which was most of a 1,000-member
    // fan-out's cost.
    let mut seen = HashSet::new();
    let targets: Vec<(&str, &str)> =
        devices.iter().filter(|d| seen.insert(*d)).map(|d| (d.user_id.as_str(), d.device_id.as_str())).collect();
    let mut bump = c.prepare_cached(
        "UPDATE devices SET next_seq = next_seq + 1
         WHERE (user_id, device_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))
         RETURNING user_id, device_id, next_seq - 1",
    )?;
    let rows = bump.query_map([to_json(&targets)?], |r| {
        Ok((DeviceAddress { user_id: id_col(r, 0)?, device_id: id_col(r, 1)? }, u64_col(r, 2)?))
    })?;
    let recipients = rows.collect::<Result<Vec<_>, _>>()?;
    if recipients.is_empty() {
        if !in_history {
            c.prepare_cached("DELETE FROM shared_payloads WHERE id = ?1")?.execute([payload])?;
        }
    } else {
        let rows: Vec<(&str, &str, u64)> =
            recipients.iter().map(|(d, seq)| (d.user_id.as_str(), d.device_id.as_str(), *seq)).collect();
        c.prepare_cached(
            "INSERT INTO inbox (user_id, device_id, seq, message_id, sender_user, sender_device, server_ts, ciphertext, payload_id)
             SELECT value ->> 0, value ->> 1, value ->> 2, ?2, ?3, ?4, ?5, NULL, ?6 FROM json_each(?1)",
        )?
        .execute((to_json(&rows)?, message_id, sender, sender_device, server_ts, payload))?;
    }
    Ok(DeliveryOutcome::Stored { recipients })
}

/// Records `(sender, message id)` as delivered; the stored time, or `None` if it was delivered
/// before.
fn record_sent(c: &Connection, delivery: &Delivery) -> StoreResult<Option<i64>> {
    let server_ts = sql_u64(delivery.server_ts)?;
    let first = c
        .prepare_cached(
            "INSERT INTO sent_ids (sender_user, message_id, server_ts) VALUES (?1, ?2, ?3)
             ON CONFLICT (sender_user, message_id) DO NOTHING",
        )?
        .execute((delivery.sender_user.as_str(), delivery.message_id.as_str(), server_ts))?;
    Ok((first > 0).then_some(server_ts))
}

/// When `(sender, message id)` was first delivered.
fn sent_ts(c: &Connection, delivery: &Delivery) -> StoreResult<u64> {
    Ok(c.prepare_cached("SELECT server_ts FROM sent_ids WHERE sender_user = ?1 AND message_id = ?2")?
        .query_row((delivery.sender_user.as_str(), delivery.message_id.as_str()), |r| u64_col(r, 0))?)
}

/// Stores direct messages (`PerDevice` deliveries) together: one statement for the whole run's
/// idempotency records, one for its device counters and one for its contacts, plus one insert
/// per entry, where storing them one by one took four statements and a savepoint per message.
/// One outcome per delivery, in order, exactly as storing them one after the other would give:
/// - a `(sender, message id)` stored before, or earlier in the batch, is a duplicate with the
///   first one's time;
/// - each recipient device's `next_seq` grows by the number of entries it gets, numbered in the
///   batch's order; a device that no longer exists is skipped;
/// - each sender is recorded as having written to each recipient user.
///
/// On an error, statements of the batch may have run: the caller rolls back to a savepoint.
pub(super) fn deliver_direct(c: &Connection, deliveries: &[&Delivery]) -> StoreResult<Vec<DeliveryOutcome>> {
    // The first occurrence of each key in the batch, and the keys in the order they came.
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::with_capacity(deliveries.len());
    let mut keys: Vec<(&str, &str, i64)> = Vec::with_capacity(deliveries.len());
    for (n, delivery) in deliveries.iter().enumerate() {
        if !matches!(*delivery.content, DeliveryContent::PerDevice(_)) {
            return Err(StoreError::Database("a shared delivery took the direct path".into()));
        }
        let key = (delivery.sender_user.as_str(), delivery.message_id.as_str());
        if let std::collections::hash_map::Entry::Vacant(first) = first_of.entry(key) {
            first.insert(n);
            keys.push((key.0, key.1, sql_u64(delivery.server_ts)?));
        }
    }
    // Which messages of the batch are stored now (the others were stored before).
    let mut fresh = vec![false; deliveries.len()];
    {
        let mut record = c.prepare_cached(
            "INSERT INTO sent_ids (sender_user, message_id, server_ts)
             SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1) WHERE true
             ON CONFLICT (sender_user, message_id) DO NOTHING
             RETURNING sender_user, message_id",
        )?;
        let mut rows = record.query([to_json(&keys)?])?;
        while let Some(row) = rows.next()? {
            let key = (str_col(row, 0)?, str_col(row, 1)?);
            let n = first_of
                .get(&key)
                .copied()
                .ok_or_else(|| StoreError::Corrupt("a stored message id that was not sent".into()))?;
            if let Some(slot) = fresh.get_mut(n) {
                *slot = true;
            }
        }
    }
    let is_fresh = |n: usize| fresh.get(n).copied().unwrap_or(false);

    // How many entries each recipient device gets, then one statement raising every counter.
    let mut device_index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut counts: Vec<(&str, &str, i64)> = Vec::new();
    // Each message's entries: (its device's index in `counts`, device, ciphertext).
    let mut entries: Vec<Vec<(usize, &DeviceAddress, &str)>> = Vec::with_capacity(deliveries.len());
    for (n, delivery) in deliveries.iter().enumerate() {
        let mut mine = Vec::new();
        if let DeliveryContent::PerDevice(payloads) = &*delivery.content
            && is_fresh(n)
        {
            let mut seen = HashSet::with_capacity(payloads.len());
            for (device, ciphertext) in payloads.iter().filter(|(d, _)| seen.insert(d)) {
                let key = (device.user_id.as_str(), device.device_id.as_str());
                let i = *device_index.entry(key).or_insert_with(|| {
                    counts.push((key.0, key.1, 0));
                    counts.len() - 1
                });
                if let Some(count) = counts.get_mut(i) {
                    count.2 += 1;
                }
                mine.push((i, device, ciphertext.as_str()));
            }
        }
        entries.push(mine);
    }
    // Each device's next seq in this batch (None: the device was deleted meanwhile).
    let mut next: Vec<Option<u64>> = vec![None; counts.len()];
    if !counts.is_empty() {
        let mut bump = c.prepare_cached(
            "UPDATE devices SET next_seq = next_seq + w.k
             FROM (SELECT value ->> 0 AS u, value ->> 1 AS d, value ->> 2 AS k FROM json_each(?1)) AS w
             WHERE devices.user_id = w.u AND devices.device_id = w.d
             RETURNING user_id, device_id, next_seq",
        )?;
        let mut rows = bump.query([to_json(&counts)?])?;
        while let Some(row) = rows.next()? {
            let i = device_index
                .get(&(str_col(row, 0)?, str_col(row, 1)?))
                .copied()
                .ok_or_else(|| StoreError::Corrupt("a device's counter was raised without being asked".into()))?;
            let (after, k) = (u64_col(row, 2)?, counts.get(i).map_or(0, |c| c.2));
            let base = after
                .checked_sub(u64::try_from(k).unwrap_or(0))
                .ok_or_else(|| StoreError::Corrupt(format!("next_seq {after} of a device went below zero")))?;
            if let Some(slot) = next.get_mut(i) {
                *slot = Some(base);
            }
        }
    }

    // Numbers every entry in the batch's order and inserts it, and collects the
    // sender-to-recipient pairs (the first time each pair is seen). The rows go in one prepared
    // statement each: through `json_each`, SQLite parses a row's text again for every column it
    // reads, which measured slower than binding the ciphertext directly.
    let mut insert = c.prepare_cached(
        "INSERT INTO inbox (user_id, device_id, seq, message_id, sender_user, sender_device, server_ts, ciphertext, payload_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
    )?;
    let mut pairs: Vec<(&str, &str, i64)> = Vec::new();
    let mut paired: HashSet<(&str, &str)> = HashSet::new();
    let mut stored: Vec<Option<Vec<(DeviceAddress, u64)>>> = Vec::with_capacity(deliveries.len());
    for (n, (delivery, mine)) in deliveries.iter().zip(&entries).enumerate() {
        if !is_fresh(n) {
            stored.push(None);
            continue;
        }
        let sender = delivery.sender_user.as_str();
        let server_ts = sql_u64(delivery.server_ts)?;
        let mut recipients = Vec::with_capacity(mine.len());
        for &(i, device, ciphertext) in mine {
            let Some(Some(seq)) = next.get_mut(i) else { continue };
            insert.execute((
                device.user_id.as_str(),
                device.device_id.as_str(),
                sql_u64(*seq)?,
                delivery.message_id.as_str(),
                sender,
                delivery.sender_device.as_ref().map(|d| d.as_str()),
                server_ts,
                ciphertext,
            ))?;
            recipients.push((device.clone(), *seq));
            *seq += 1;
            let peer = device.user_id.as_str();
            if peer != sender && paired.insert((sender, peer)) {
                pairs.push((sender, peer, server_ts));
            }
        }
        stored.push(Some(recipients));
    }
    if !pairs.is_empty() {
        c.prepare_cached(
            "INSERT INTO contacts (user_id, peer_id, first_ts)
             SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1) WHERE true
             ON CONFLICT (user_id, peer_id) DO NOTHING",
        )?
        .execute([to_json(&pairs)?])?;
    }

    // Repeats are answered with their first delivery's time: from this batch, or stored before.
    let mut outcomes = Vec::with_capacity(deliveries.len());
    for (n, (delivery, recipients)) in deliveries.iter().zip(stored).enumerate() {
        let outcome = match recipients {
            Some(recipients) => DeliveryOutcome::Stored { recipients },
            None => {
                let first = first_of.get(&(delivery.sender_user.as_str(), delivery.message_id.as_str())).copied();
                match first.and_then(|f| (f != n).then(|| outcomes.get(f)).flatten()) {
                    Some(DeliveryOutcome::Duplicate { server_ts }) => {
                        DeliveryOutcome::Duplicate { server_ts: *server_ts }
                    }
                    Some(DeliveryOutcome::Stored { .. }) => DeliveryOutcome::Duplicate {
                        server_ts: first.and_then(|f| deliveries.get(f)).map_or(delivery.server_ts, |d| d.server_ts),
                    },
                    None => DeliveryOutcome::Duplicate { server_ts: sent_ts(c, delivery)? },
                }
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// A direct message queued for the writer, and where its outcome goes.
pub(super) struct DirectJob {
    delivery: Delivery,
    reply: oneshot::Sender<StoreResult<DeliveryOutcome>>,
}

impl DirectJob {
    pub(super) fn new(delivery: Delivery, reply: oneshot::Sender<StoreResult<DeliveryOutcome>>) -> Self {
        Self { delivery, reply }
    }
}

/// Direct messages queued one after the other, run as one write job by [`deliver_direct`]. If
/// that fails, each is stored alone, so one bad message fails only itself.
#[derive(Default)]
pub(super) struct DirectRun {
    jobs: Vec<DirectJob>,
    results: Vec<StoreResult<DeliveryOutcome>>,
}

impl DirectRun {
    pub(super) fn push(&mut self, job: DirectJob) {
        self.jobs.push(job);
    }

    /// Runs `deliveries` inside a savepoint of their own: kept if they succeed, undone if not.
    fn attempt(c: &Connection, deliveries: &[&Delivery]) -> StoreResult<StoreResult<Vec<DeliveryOutcome>>> {
        writer::run_cached(c, "SAVEPOINT direct")?;
        let outcome = deliver_direct(c, deliveries);
        if outcome.is_err() {
            writer::run_cached(c, "ROLLBACK TO direct")?;
        }
        writer::run_cached(c, "RELEASE direct")?;
        Ok(outcome)
    }
}

impl writer::Job for DirectRun {
    fn run(&mut self, c: &Connection) -> bool {
        let all: Vec<&Delivery> = self.jobs.iter().map(|j| &j.delivery).collect();
        let together = match Self::attempt(c, &all) {
            Ok(Ok(outcomes)) if outcomes.len() == all.len() => Ok(outcomes.into_iter().map(Ok).collect()),
            Ok(Ok(_)) => Err(StoreError::Database("a direct message got no outcome".into())),
            Ok(Err(e)) if all.len() == 1 => Ok(vec![Err(e)]),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, messages = all.len(), "a run of direct messages failed; storing them one by one");
                all.iter()
                    .map(|delivery| {
                        Ok(Self::attempt(c, &[*delivery])?.and_then(|mut o| {
                            o.pop().ok_or_else(|| StoreError::Database("a direct message got no outcome".into()))
                        }))
                    })
                    .collect()
            }
            Err(e) => Err(e),
        };
        match together {
            Ok(results) => {
                self.results = results;
                true
            }
            // The savepoints themselves failed (the transaction is likely gone): nothing of this
            // run may be reported as stored.
            Err(e) => {
                self.results = all.iter().map(|_| Err(e.clone())).collect();
                false
            }
        }
    }

    fn complete(self: Box<Self>, batch_error: Option<&str>) {
        let mut results = self.results.into_iter();
        for job in self.jobs {
            let result = match (results.next(), batch_error) {
                (Some(Err(e)), _) => Err(e),
                (Some(Ok(_)) | None, Some(e)) => Err(StoreError::Database(e.to_owned())),
                (Some(Ok(outcome)), None) => Ok(outcome),
                (None, None) => Err(StoreError::Database("a direct message was not run".into())),
            };
            // The sender may have gone away (its request was cancelled); the write stands regardless.
            let _ = job.reply.send(result);
        }
    }
}

/// Appends a group message to its group's history with the group's next seq; false when the
/// group does not exist (then nothing is recorded).
fn record_history(c: &Connection, group: &GroupId, payload: i64, delivery: &Delivery) -> StoreResult<bool> {
    let Some(seq) = c
        .prepare_cached("UPDATE groups SET next_seq = next_seq + 1 WHERE group_id = ?1 RETURNING next_seq - 1")?
        .query_row([group.as_str()], |r| r.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(false);
    };
    c.prepare_cached(
        "INSERT INTO group_history (group_id, seq, payload_id, message_id, sender_user, sender_device, server_ts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute((
        group.as_str(),
        seq,
        payload,
        delivery.message_id.as_str(),
        delivery.sender_user.as_str(),
        delivery.sender_device.as_ref().map(|d| d.as_str()),
        sql_u64(delivery.server_ts)?,
    ))?;
    c.prepare_cached("UPDATE shared_payloads SET retained = 1 WHERE id = ?1")?.execute([payload])?;
    Ok(true)
}

fn to_json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(format!("cannot encode recipients: {e}")))
}

/// Deletes the device's entries with `seq <= up_to`; returns how many were deleted. Shared
/// payloads they referenced are left for `collect_garbage`.
pub(super) fn delete_entries(c: &Connection, device: &DeviceAddress, up_to: i64) -> StoreResult<u64> {
    let deleted = c
        .prepare_cached("DELETE FROM inbox WHERE user_id = ?1 AND device_id = ?2 AND seq <= ?3")?
        .execute((device.user_id.as_str(), device.device_id.as_str(), up_to))?;
    Ok(deleted as u64)
}

/// Shared payloads collected per garbage-collection job (the rest wait for the next one).
pub(super) const COLLECT_BATCH: i64 = 10_000;

fn collect_unreferenced(c: &Connection) -> StoreResult<u64> {
    let deleted = c
        .prepare_cached(
            "DELETE FROM shared_payloads WHERE id IN (
                 SELECT p.id FROM shared_payloads p
                 WHERE p.retained = 0
                   AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.payload_id = p.id)
                   AND NOT EXISTS (SELECT 1 FROM group_history h WHERE h.payload_id = p.id)
                 LIMIT ?1)",
        )?
        .execute([COLLECT_BATCH])?;
    Ok(deleted as u64)
}
