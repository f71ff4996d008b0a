//! Inboxes: per-device queues of sequenced entries.
//!
//! Invariants: a device's seq comes from its `next_seq` counter, raised under the device row's
//! lock, which the delivery holds until it commits: seqs strictly increase, are never reused, and
//! a device's entries become visible in seq order (a reader that saw seq n has seen every entry
//! below it that is still stored). Deliveries lock their recipients' rows sorted by (user,
//! device), so two fan-outs to overlapping members wait for each other and never deadlock. A
//! shared payload is deleted only when no inbox row and no group history row references it; rows
//! referencing a payload are only ever written by the transaction that wrote the payload, so
//! garbage collection cannot race a delivery.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use sotto_proto::{DeviceAddress, EntryBody, GroupId, InboxEntry, MessageId, UserId};

use super::{PostgresStore, at, execute, id_at, opt_id_at, query, query_one, query_opt, sql_bound, sql_u64, u64_at};
use crate::store::{Delivery, DeliveryContent, DeliveryOutcome, InboxStore, StoreError, StoreResult};

/// Shared payloads collected per garbage-collection statement (the rest wait for the next one).
pub(super) const COLLECT_BATCH: i64 = 10_000;

#[async_trait]
impl InboxStore for PostgresStore {
    async fn deliver(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome> {
        if let DeliveryContent::PerDevice(_) = *delivery.content {
            // With whatever other direct messages are waiting, in one statement.
            return self.direct.deliver(delivery).await;
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let outcome = deliver(&tx, &delivery).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn share_conversation(&self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        let client = self.client().await?;
        let row = query_one(
            &client,
            "SELECT EXISTS (SELECT 1 FROM contacts
                            WHERE (user_id = $1 AND peer_id = $2) OR (user_id = $2 AND peer_id = $1))
                 OR EXISTS (SELECT 1 FROM group_members x JOIN group_members y ON y.group_id = x.group_id
                            WHERE x.user_id = $1 AND y.user_id = $2)",
            &[&a.as_str(), &b.as_str()],
        )
        .await?;
        at(&row, 0)
    }

    async fn have_written_to(&self, users: &[UserId], to: &UserId) -> StoreResult<Vec<UserId>> {
        let names: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT user_id FROM contacts WHERE peer_id = $2 AND user_id = ANY($1)",
            &[&names, &to.as_str()],
        )
        .await?;
        let wrote: HashSet<&str> = rows.iter().map(|r| at(r, 0)).collect::<StoreResult<_>>()?;
        Ok(users.iter().filter(|u| wrote.contains(u.as_str())).cloned().collect())
    }

    async fn fetch(&self, device: &DeviceAddress, after: u64, limit: u32) -> StoreResult<Vec<InboxEntry>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT i.seq, i.message_id, i.sender_user, i.sender_device, i.server_ts, i.ciphertext, p.body
             FROM inbox i LEFT JOIN shared_payloads p ON p.id = i.payload_id
             WHERE i.user_id = $1 AND i.device_id = $2 AND i.seq > $3
             ORDER BY i.seq LIMIT $4",
            &[&device.user_id.as_str(), &device.device_id.as_str(), &sql_bound(after), &i64::from(limit)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                let body = match (at::<Option<String>>(r, 5)?, at::<Option<&str>>(r, 6)?) {
                    (Some(ciphertext), _) => EntryBody::Direct { ciphertext },
                    (None, Some(json)) => {
                        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("inbox body: {e}")))?
                    }
                    (None, None) => {
                        return Err(StoreError::Corrupt("inbox entry without a body".into()));
                    }
                };
                Ok(InboxEntry {
                    seq: u64_at(r, 0)?,
                    message_id: id_at(r, 1)?,
                    sender_user: id_at(r, 2)?,
                    sender_device: opt_id_at(r, 3)?,
                    server_ts: u64_at(r, 4)?,
                    body,
                })
            })
            .collect()
    }

    async fn ack(&self, device: &DeviceAddress, up_to: u64) -> StoreResult<u64> {
        self.ack_many(&[(device.clone(), up_to)]).await
    }

    async fn ack_many(&self, acks: &[(DeviceAddress, u64)]) -> StoreResult<u64> {
        let users: Vec<&str> = acks.iter().map(|(d, _)| d.user_id.as_str()).collect();
        let devices: Vec<&str> = acks.iter().map(|(d, _)| d.device_id.as_str()).collect();
        let up_to: Vec<i64> = acks.iter().map(|(_, n)| sql_bound(*n)).collect();
        let client = self.client().await?;
        let deleted = execute(
            &client,
            "DELETE FROM inbox i USING unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS a(user_id, device_id, up_to)
             WHERE i.user_id = a.user_id AND i.device_id = a.device_id AND i.seq <= a.up_to",
            &[&users, &devices, &up_to],
        )
        .await?;
        if deleted > 0 {
            self.mark_garbage();
        }
        Ok(deleted)
    }

    async fn collect_garbage(&self) -> StoreResult<u64> {
        if !self.garbage.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return Ok(0);
        }
        let collected = async {
            let client = self.client().await?;
            // SKIP LOCKED: nodes collecting at the same time split the work instead of waiting
            // on (or deadlocking over) the same rows.
            execute(
                &client,
                "DELETE FROM shared_payloads WHERE id IN (
                     SELECT p.id FROM shared_payloads p
                     WHERE NOT p.retained
                       AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.payload_id = p.id)
                       AND NOT EXISTS (SELECT 1 FROM group_history h WHERE h.payload_id = p.id)
                     LIMIT $1 FOR UPDATE SKIP LOCKED)",
                &[&COLLECT_BATCH],
            )
            .await
        }
        .await;
        if !matches!(collected, Ok(n) if n < COLLECT_BATCH as u64) {
            // Failed, or there may be more: try again next time.
            self.mark_garbage();
        }
        collected
    }

    async fn sent_at(&self, sender: &UserId, message_id: &MessageId) -> StoreResult<Option<u64>> {
        let client = self.client().await?;
        query_opt(
            &client,
            "SELECT server_ts FROM sent_ids WHERE sender_user = $1 AND message_id = $2",
            &[&sender.as_str(), &message_id.as_str()],
        )
        .await?
        .map(|r| u64_at(&r, 0))
        .transpose()
    }

    async fn prune_sent_ids(&self, before_ms: u64) -> StoreResult<u64> {
        let client = self.client().await?;
        execute(&client, "DELETE FROM sent_ids WHERE server_ts < $1", &[&sql_bound(before_ms)]).await
    }
}

/// Stores `delivery` unless its `(sender, message id)` was stored before, inside the caller's
/// transaction (group changes deliver their event in theirs).
pub(super) async fn deliver<C: GenericClient>(c: &C, delivery: &Delivery) -> StoreResult<DeliveryOutcome> {
    let (body, devices) = match &*delivery.content {
        DeliveryContent::PerDevice(_) => {
            let mut outcomes = super::direct::deliver_direct(c, &[delivery]).await?;
            return outcomes.pop().ok_or_else(|| StoreError::Database("no outcome for a direct message".into()));
        }
        DeliveryContent::Shared { body, recipients } => (body, recipients),
    };
    let sender = delivery.sender_user.as_str();
    let message_id = delivery.message_id.as_str();
    let server_ts = sql_u64(delivery.server_ts)?;
    let sender_device = delivery.sender_device.as_ref().map(|d| d.as_str());
    // A concurrent delivery of the same pair holds the key: this waits for it, then does nothing.
    let first = execute(
        c,
        "INSERT INTO sent_ids (sender_user, message_id, server_ts) VALUES ($1, $2, $3)
         ON CONFLICT (sender_user, message_id) DO NOTHING",
        &[&sender, &message_id, &server_ts],
    )
    .await?;
    if first == 0 {
        return duplicate(c, sender, message_id).await;
    }
    let json =
        serde_json::to_string(body).map_err(|e| StoreError::Database(format!("cannot encode an inbox body: {e}")))?;
    let payload: i64 =
        at(&query_one(c, "INSERT INTO shared_payloads (body) VALUES ($1) RETURNING id", &[&json]).await?, 0)?;
    // A group message is also kept in its group's history (for members' new devices), even when
    // no other device receives it now.
    let in_history = match &**body {
        EntryBody::Group { group_id, .. } => record_history(c, group_id, payload, delivery).await?,
        _ => false,
    };
    let mut seen = HashSet::new();
    let devices: Vec<&DeviceAddress> = devices.iter().filter(|d| seen.insert(*d)).collect();
    let seqs = next_seqs(c, devices.iter().copied()).await?;
    let recipients: Vec<(&DeviceAddress, u64)> =
        devices.iter().filter_map(|d| seqs.get(*d).map(|seq| (*d, *seq))).collect();
    if recipients.is_empty() {
        if !in_history {
            execute(c, "DELETE FROM shared_payloads WHERE id = $1", &[&payload]).await?;
        }
    } else {
        let users: Vec<&str> = recipients.iter().map(|(d, _)| d.user_id.as_str()).collect();
        let ids: Vec<&str> = recipients.iter().map(|(d, _)| d.device_id.as_str()).collect();
        let numbers: Vec<i64> = recipients.iter().map(|(_, seq)| sql_u64(*seq)).collect::<StoreResult<_>>()?;
        execute(
            c,
            "INSERT INTO inbox (user_id, device_id, seq, message_id, sender_user, sender_device, server_ts, payload_id)
             SELECT r.user_id, r.device_id, r.seq, $4, $5, $6, $7, $8
             FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS r(user_id, device_id, seq)",
            &[&users, &ids, &numbers, &message_id, &sender, &sender_device, &server_ts, &payload],
        )
        .await?;
    }
    Ok(DeliveryOutcome::Stored { recipients: recipients.into_iter().map(|(d, seq)| (d.clone(), seq)).collect() })
}

/// What a repeated `(sender, message id)` is answered with: when it was first stored.
async fn duplicate<C: GenericClient>(c: &C, sender: &str, message_id: &str) -> StoreResult<DeliveryOutcome> {
    let row = query_one(
        c,
        "SELECT server_ts FROM sent_ids WHERE sender_user = $1 AND message_id = $2",
        &[&sender, &message_id],
    )
    .await?;
    Ok(DeliveryOutcome::Duplicate { server_ts: u64_at(&row, 0)? })
}

/// Takes the next seq of each of `devices` that exists (one deleted while the message was on its
/// way is left out). The rows are locked in (user, device) order first, the order every
/// transaction locks devices in, and stay locked until the commit.
async fn next_seqs<'a, C: GenericClient>(
    c: &C,
    devices: impl Iterator<Item = &'a DeviceAddress>,
) -> StoreResult<HashMap<DeviceAddress, u64>> {
    let mut sorted: Vec<&DeviceAddress> = devices.collect();
    if sorted.is_empty() {
        return Ok(HashMap::new());
    }
    sorted.sort_unstable_by(|a, b| {
        (a.user_id.as_str(), a.device_id.as_str()).cmp(&(b.user_id.as_str(), b.device_id.as_str()))
    });
    let users: Vec<&str> = sorted.iter().map(|d| d.user_id.as_str()).collect();
    let ids: Vec<&str> = sorted.iter().map(|d| d.device_id.as_str()).collect();
    query(
        c,
        "SELECT 1 FROM devices d JOIN unnest($1::TEXT[], $2::TEXT[]) AS w(user_id, device_id)
             ON d.user_id = w.user_id AND d.device_id = w.device_id
         ORDER BY d.user_id, d.device_id FOR NO KEY UPDATE OF d",
        &[&users, &ids],
    )
    .await?;
    let rows = query(
        c,
        "UPDATE devices d SET next_seq = d.next_seq + 1
         FROM unnest($1::TEXT[], $2::TEXT[]) AS w(user_id, device_id)
         WHERE d.user_id = w.user_id AND d.device_id = w.device_id
         RETURNING d.user_id, d.device_id, d.next_seq - 1",
        &[&users, &ids],
    )
    .await?;
    rows.iter().map(|r| Ok((DeviceAddress { user_id: id_at(r, 0)?, device_id: id_at(r, 1)? }, u64_at(r, 2)?))).collect()
}

/// Appends a group message to its group's history with the group's next seq (taken under the
/// group row's lock, like membership changes); false when the group does not exist.
async fn record_history<C: GenericClient>(
    c: &C,
    group: &GroupId,
    payload: i64,
    delivery: &Delivery,
) -> StoreResult<bool> {
    let Some(row) = query_opt(
        c,
        "UPDATE groups SET next_seq = next_seq + 1 WHERE group_id = $1 RETURNING next_seq - 1",
        &[&group.as_str()],
    )
    .await?
    else {
        return Ok(false);
    };
    let seq: i64 = at(&row, 0)?;
    execute(
        c,
        "INSERT INTO group_history (group_id, seq, payload_id, message_id, sender_user, sender_device, server_ts)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &group.as_str(),
            &seq,
            &payload,
            &delivery.message_id.as_str(),
            &delivery.sender_user.as_str(),
            &delivery.sender_device.as_ref().map(|d| d.as_str()),
            &sql_u64(delivery.server_ts)?,
        ],
    )
    .await?;
    execute(c, "UPDATE shared_payloads SET retained = TRUE WHERE id = $1", &[&payload]).await?;
    Ok(true)
}
