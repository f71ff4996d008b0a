//! Inboxes: per-device queues of sequenced entries.
//!
//! Invariants: a device's seq comes from its `next_seq` counter, which only grows, so seqs
//! strictly increase and are never reused; a shared payload is deleted only when no inbox row
//! and no group history row references it (by `collect_garbage`, a write job, so it never races the delivery that
//! inserts a payload together with its rows).

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use sotto_proto::{DeviceAddress, EntryBody, GroupId, InboxEntry, MessageId, UserId};

use super::{BadValue, SqliteStore, bad_column, id_col, opt_id_col, sql_bound, sql_u64, u64_col};
use crate::store::{Delivery, DeliveryContent, DeliveryOutcome, InboxStore, StoreError, StoreResult};

#[async_trait]
impl InboxStore for SqliteStore {
    async fn deliver(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome> {
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
    let sender = delivery.sender_user.as_str();
    let message_id = delivery.message_id.as_str();
    let server_ts = sql_u64(delivery.server_ts)?;
    let first = c
        .prepare_cached(
            "INSERT INTO sent_ids (sender_user, message_id, server_ts) VALUES (?1, ?2, ?3)
             ON CONFLICT (sender_user, message_id) DO NOTHING",
        )?
        .execute((sender, message_id, server_ts))?;
    if first == 0 {
        let server_ts = c
            .prepare_cached("SELECT server_ts FROM sent_ids WHERE sender_user = ?1 AND message_id = ?2")?
            .query_row((sender, message_id), |r| u64_col(r, 0))?;
        return Ok(DeliveryOutcome::Duplicate { server_ts });
    }

    let mut next_seq = c.prepare_cached(
        "UPDATE devices SET next_seq = next_seq + 1 WHERE user_id = ?1 AND device_id = ?2 RETURNING next_seq - 1",
    )?;
    let mut insert = c.prepare_cached(
        "INSERT INTO inbox (user_id, device_id, seq, message_id, sender_user, sender_device, server_ts, ciphertext, payload_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let sender_device = delivery.sender_device.as_ref().map(|d| d.as_str());
    let mut seen = HashSet::new();
    let mut recipients = Vec::new();
    // Allocates the device's next seq and inserts its row; `None` if the device does not exist
    // (deleted while the message was on its way): it is skipped.
    let mut store_row =
        |device: &DeviceAddress, ciphertext: Option<&str>, payload: Option<i64>| -> StoreResult<Option<u64>> {
            let addr = (device.user_id.as_str(), device.device_id.as_str());
            let Some(seq) = next_seq.query_row(addr, |r| u64_col(r, 0)).optional()? else {
                return Ok(None);
            };
            insert.execute((
                addr.0,
                addr.1,
                sql_u64(seq)?,
                message_id,
                sender,
                sender_device,
                server_ts,
                ciphertext,
                payload,
            ))?;
            Ok(Some(seq))
        };

    match &delivery.content {
        DeliveryContent::PerDevice(payloads) => {
            for (device, ciphertext) in payloads {
                if seen.insert(device)
                    && let Some(seq) = store_row(device, Some(ciphertext), None)?
                {
                    recipients.push((device.clone(), seq));
                }
            }
            let mut wrote_to = c.prepare_cached(
                "INSERT INTO contacts (user_id, peer_id, first_ts) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id, peer_id) DO NOTHING",
            )?;
            let peers: HashSet<&str> =
                recipients.iter().map(|(d, _)| d.user_id.as_str()).filter(|u| *u != sender).collect();
            for peer in peers {
                wrote_to.execute((sender, peer, server_ts))?;
            }
        }
        DeliveryContent::Shared { body, recipients: devices } => {
            let json = serde_json::to_string(body)
                .map_err(|e| StoreError::Database(format!("cannot encode an inbox body: {e}")))?;
            let payload: i64 = c
                .prepare_cached("INSERT INTO shared_payloads (body) VALUES (?1) RETURNING id")?
                .query_row([json], |r| r.get(0))?;
            // A group message is also kept in its group's history (for members' new devices),
            // even when no other device receives it now.
            let in_history = match &**body {
                EntryBody::Group { group_id, .. } => record_history(c, group_id, payload, delivery)?,
                _ => false,
            };
            // One statement for every recipient's counter and one for every row: a statement
            // per recipient paid SQLite's per-statement journal each time, which was most of a
            // 1,000-member fan-out's cost.
            let targets: Vec<(&str, &str)> = devices
                .iter()
                .filter(|d| seen.insert(*d))
                .map(|d| (d.user_id.as_str(), d.device_id.as_str()))
                .collect();
            let mut bump = c.prepare_cached(
                "UPDATE devices SET next_seq = next_seq + 1
                 WHERE (user_id, device_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))
                 RETURNING user_id, device_id, next_seq - 1",
            )?;
            let rows = bump.query_map([to_json(&targets)?], |r| {
                Ok((DeviceAddress { user_id: id_col(r, 0)?, device_id: id_col(r, 1)? }, u64_col(r, 2)?))
            })?;
            for row in rows {
                recipients.push(row?);
            }
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
        }
    }
    Ok(DeliveryOutcome::Stored { recipients })
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
