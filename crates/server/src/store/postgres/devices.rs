//! Devices, their refresh tokens and the key directory (identity, one-time and fallback keys).
//!
//! Invariants: a one-time key is taken by one `DELETE … RETURNING` whose row was chosen with
//! `FOR UPDATE SKIP LOCKED`, so two claims never get the same key (nor wait for each other).
//! Every change to a device's tokens or keys first locks the device's row (`FOR NO KEY UPDATE`,
//! which does not block the foreign-key checks of rows being added for it), so uploads are
//! checked against the limit one after another and a refresh token is spent once.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use sotto_proto::limits::MAX_UNCLAIMED_ONE_TIME_KEYS;
use sotto_proto::{
    ClaimedKey, DeviceAddress, DeviceConfirmation, DeviceId, DeviceKeys, KeyCounts, SignedKey, UserDevices, UserId,
    UserIdentity, UserSignature,
};
use tokio_postgres::Row;
use tokio_postgres::{IsolationLevel, types::ToSql};

use super::{PostgresStore, at, dedup, execute, id_at, query, query_one, query_opt, sql_u64, u64_at};
use crate::store::{
    AddKeysOutcome, DeviceRecord, DeviceStore, REFRESH_GRACE_MS, RefreshOutcome, ReplaceKeysOutcome, SetKeysOutcome,
    StoreError, StoreResult,
};

#[async_trait]
impl DeviceStore for PostgresStore {
    async fn create_device(
        &self,
        device: &DeviceAddress,
        name: Option<&str>,
        refresh_token_hash: &[u8],
        now_ms: u64,
    ) -> StoreResult<()> {
        let now = sql_u64(now_ms)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !account_exists(&tx, &device.user_id).await? {
            return Err(StoreError::NotFound);
        }
        let inserted = execute(
            &tx,
            "INSERT INTO devices (user_id, device_id, name, created_ts) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, device_id) DO NOTHING",
            &[&device.user_id.as_str(), &device.device_id.as_str(), &name, &now],
        )
        .await?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists);
        }
        insert_refresh_token(&tx, device, refresh_token_hash, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn device_exists(&self, device: &DeviceAddress) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(query_opt(
            &client,
            "SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2",
            &[&device.user_id.as_str(), &device.device_id.as_str()],
        )
        .await?
        .is_some())
    }

    async fn devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>> {
        self.devices_of_users(users, false).await
    }

    async fn keyed_devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>> {
        self.devices_of_users(users, true).await
    }

    async fn list_devices(&self, user: &UserId) -> StoreResult<Vec<DeviceRecord>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT device_id, name, created_ts, curve25519 IS NOT NULL FROM devices
             WHERE user_id = $1 ORDER BY device_id",
            &[&user.as_str()],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeviceRecord {
                    device_id: id_at(r, 0)?,
                    name: at(r, 1)?,
                    created_ts: u64_at(r, 2)?,
                    has_keys: at(r, 3)?,
                })
            })
            .collect()
    }

    async fn delete_device(&self, device: &DeviceAddress) -> StoreResult<bool> {
        // Inbox rows, keys and tokens cascade (the delete waits for a delivery holding the row,
        // and the cascade then sees that delivery's rows too); shared payloads are left for
        // collect_garbage.
        let client = self.client().await?;
        let deleted = execute(
            &client,
            "DELETE FROM devices WHERE user_id = $1 AND device_id = $2",
            &[&device.user_id.as_str(), &device.device_id.as_str()],
        )
        .await?;
        self.mark_garbage();
        Ok(deleted > 0)
    }

    async fn reauthenticate_device(
        &self,
        device: &DeviceAddress,
        refresh_token_hash: &[u8],
        now_ms: u64,
        tokens_since: u64,
    ) -> StoreResult<()> {
        let (now, since) = (sql_u64(now_ms)?, sql_u64(tokens_since)?);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !lock_device(&tx, device).await? {
            return Err(StoreError::NotFound);
        }
        let addr: [&(dyn ToSql + Sync); 2] = [&device.user_id.as_str(), &device.device_id.as_str()];
        execute(&tx, "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2", &addr).await?;
        execute(&tx, "DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2", &addr).await?;
        revoke_tokens_before(&tx, device, since).await?;
        insert_refresh_token(&tx, device, refresh_token_hash, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_refresh_token(&self, old_hash: &[u8], new_hash: &[u8], now_ms: u64) -> StoreResult<RefreshOutcome> {
        let now = sql_u64(now_ms)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A token's device never changes: find it, lock it, then read the token under that lock
        // (a concurrent refresh of the same token waits here, then sees it spent).
        let Some(row) =
            query_opt(&tx, "SELECT user_id, device_id FROM refresh_tokens WHERE hash = $1", &[&old_hash]).await?
        else {
            return Ok(RefreshOutcome::Unknown);
        };
        let device = DeviceAddress { user_id: id_at(&row, 0)?, device_id: id_at(&row, 1)? };
        if !lock_device(&tx, &device).await? {
            return Ok(RefreshOutcome::Unknown);
        }
        let Some(row) = query_opt(
            &tx,
            "SELECT spent, spent_ts, successor, regranted FROM refresh_tokens WHERE hash = $1",
            &[&old_hash],
        )
        .await?
        else {
            return Ok(RefreshOutcome::Unknown);
        };
        let (spent, spent_ts, successor, regranted): (bool, Option<i64>, Option<Vec<u8>>, bool) =
            (at(&row, 0)?, at(&row, 1)?, at(&row, 2)?, at(&row, 3)?);
        if !spent {
            execute(
                &tx,
                "UPDATE refresh_tokens SET spent = TRUE, spent_ts = $2, successor = $3 WHERE hash = $1",
                &[&old_hash, &now, &new_hash],
            )
            .await?;
            insert_refresh_token(&tx, &device, new_hash, now).await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Rotated(device));
        }
        // The answer to the first refresh may have been lost: once, shortly after, and only
        // while the token it gave was never used, the old one is taken again.
        let in_grace = spent_ts.is_some_and(|at| now.saturating_sub(at) <= sql_u64(REFRESH_GRACE_MS).unwrap_or(0));
        let unused_successor = match &successor {
            Some(hash) => {
                query_opt(&tx, "SELECT 1 FROM refresh_tokens WHERE hash = $1 AND NOT spent", &[hash]).await?.is_some()
            }
            None => false,
        };
        if in_grace && unused_successor && !regranted {
            execute(&tx, "DELETE FROM refresh_tokens WHERE hash = $1", &[&successor.as_deref().unwrap_or_default()])
                .await?;
            execute(
                &tx,
                "UPDATE refresh_tokens SET regranted = TRUE, successor = $2 WHERE hash = $1",
                &[&old_hash, &new_hash],
            )
            .await?;
            insert_refresh_token(&tx, &device, new_hash, now).await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Rotated(device));
        }
        // A replay: someone else holds a copy of the device's tokens. Sign the device out
        // (every token), but keep it, its keys and its inbox: its owner signs in again.
        execute(
            &tx,
            "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2",
            &[&device.user_id.as_str(), &device.device_id.as_str()],
        )
        .await?;
        let tokens_since = u64::try_from(now).unwrap_or(0) / 1000 + 1;
        revoke_tokens_before(&tx, &device, sql_u64(tokens_since)?).await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Replayed { device, tokens_since })
    }

    async fn token_revocations(&self, after_secs: u64) -> StoreResult<Vec<(DeviceAddress, u64)>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT user_id, device_id, tokens_since FROM devices WHERE tokens_since > $1",
            &[&sql_u64(after_secs)?],
        )
        .await?;
        rows.iter()
            .map(|r| Ok((DeviceAddress { user_id: id_at(r, 0)?, device_id: id_at(r, 1)? }, u64_at(r, 2)?)))
            .collect()
    }

    async fn set_device_keys(&self, keys: &DeviceKeys) -> StoreResult<SetKeysOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let outcome = match stored_keys(&tx, keys).await? {
            None => return Err(StoreError::NotFound),
            Some(StoredKeys::None) => {
                write_keys(&tx, keys).await?;
                SetKeysOutcome::Stored
            }
            Some(StoredKeys::Same) => SetKeysOutcome::Unchanged,
            Some(StoredKeys::Other) => SetKeysOutcome::Conflict,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn replace_device_keys(&self, keys: &DeviceKeys) -> StoreResult<ReplaceKeysOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let outcome = match stored_keys(&tx, keys).await? {
            None => return Err(StoreError::NotFound),
            Some(StoredKeys::Same) => ReplaceKeysOutcome::Unchanged,
            Some(StoredKeys::None | StoredKeys::Other) => {
                write_keys(&tx, keys).await?;
                let addr: [&(dyn ToSql + Sync); 2] = [&keys.user_id.as_str(), &keys.device_id.as_str()];
                execute(&tx, "DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2", &addr).await?;
                execute(&tx, "DELETE FROM fallback_keys WHERE user_id = $1 AND device_id = $2", &addr).await?;
                ReplaceKeysOutcome::Replaced
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn device_keys(&self, device: &DeviceAddress) -> StoreResult<Option<DeviceKeys>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT curve25519, ed25519, keys_signature FROM devices
             WHERE user_id = $1 AND device_id = $2 AND curve25519 IS NOT NULL",
            &[&device.user_id.as_str(), &device.device_id.as_str()],
        )
        .await?;
        row.map(|r| {
            Ok(DeviceKeys {
                user_id: device.user_id.clone(),
                device_id: device.device_id.clone(),
                curve25519: at(&r, 0)?,
                ed25519: at(&r, 1)?,
                signature: at(&r, 2)?,
            })
        })
        .transpose()
    }

    async fn add_one_time_keys(
        &self,
        device: &DeviceAddress,
        one_time_keys: &[SignedKey],
        fallback: Option<&SignedKey>,
    ) -> StoreResult<AddKeysOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Uploads of one device run one after the other from here, so the limit below holds
        // (claims running meanwhile only lower the count).
        if !lock_device(&tx, device).await? {
            return Err(StoreError::NotFound);
        }
        // Check every key before writing any, so a conflicting upload stores nothing.
        let mut uploaded: HashMap<&str, &SignedKey> = HashMap::with_capacity(one_time_keys.len());
        for key in one_time_keys {
            if uploaded.insert(key.key_id.as_str(), key).is_some_and(|earlier| earlier != key) {
                return Ok(AddKeysOutcome::Conflict);
            }
        }
        let ids: Vec<&str> = uploaded.keys().copied().collect();
        let stored = query(
            &tx,
            "SELECT key_id, key, signature FROM one_time_keys
             WHERE user_id = $1 AND device_id = $2 AND key_id = ANY($3)",
            &[&device.user_id.as_str(), &device.device_id.as_str(), &ids],
        )
        .await?;
        let mut new_keys = uploaded.len() as u64;
        for row in &stored {
            let (id, k, sig): (&str, &str, &str) = (at(row, 0)?, at(row, 1)?, at(row, 2)?);
            match uploaded.get(id) {
                Some(key) if key.key != k || key.signature != sig => return Ok(AddKeysOutcome::Conflict),
                // Exact re-uploads (a retry) are not new, so a retry is never refused for the limit.
                _ => new_keys = new_keys.saturating_sub(1),
            }
        }
        let held = counts(&tx, device).await?.one_time_keys;
        if held.saturating_add(new_keys) > MAX_UNCLAIMED_ONE_TIME_KEYS as u64 {
            return Ok(AddKeysOutcome::TooMany { held });
        }
        let (mut key_ids, mut keys, mut signatures) = (Vec::new(), Vec::new(), Vec::new());
        for key in uploaded.values() {
            key_ids.push(key.key_id.as_str());
            keys.push(key.key.as_str());
            signatures.push(key.signature.as_str());
        }
        execute(
            &tx,
            "INSERT INTO one_time_keys (user_id, device_id, key_id, key, signature)
             SELECT $1, $2, * FROM unnest($3::TEXT[], $4::TEXT[], $5::TEXT[])
             ON CONFLICT (user_id, device_id, key_id) DO NOTHING",
            &[&device.user_id.as_str(), &device.device_id.as_str(), &key_ids, &keys, &signatures],
        )
        .await?;
        if let Some(key) = fallback {
            execute(
                &tx,
                "INSERT INTO fallback_keys (user_id, device_id, key_id, key, signature) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id, device_id) DO UPDATE
                 SET key_id = excluded.key_id, key = excluded.key, signature = excluded.signature",
                &[
                    &device.user_id.as_str(),
                    &device.device_id.as_str(),
                    &key.key_id.as_str(),
                    &key.key.as_str(),
                    &key.signature.as_str(),
                ],
            )
            .await?;
        }
        let counts = counts(&tx, device).await?;
        tx.commit().await?;
        Ok(AddKeysOutcome::Stored(counts))
    }

    async fn key_counts(&self, device: &DeviceAddress) -> StoreResult<KeyCounts> {
        let client = self.client().await?;
        // One statement: one snapshot for the device and both counts.
        let row = query_opt(
            &client,
            "SELECT (SELECT count(*) FROM one_time_keys k WHERE k.user_id = d.user_id AND k.device_id = d.device_id),
                    EXISTS (SELECT 1 FROM fallback_keys f WHERE f.user_id = d.user_id AND f.device_id = d.device_id)
             FROM devices d WHERE d.user_id = $1 AND d.device_id = $2",
            &[&device.user_id.as_str(), &device.device_id.as_str()],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(KeyCounts { one_time_keys: u64_at(&row, 0)?, has_fallback: at(&row, 1)? })
    }

    async fn set_identity(&self, identity: &UserIdentity) -> StoreResult<SetKeysOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !account_exists(&tx, &identity.user_id).await? {
            return Err(StoreError::NotFound);
        }
        let inserted = execute(
            &tx,
            "INSERT INTO identities (user_id, master_key, self_signing_key, user_signing_key, signature)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO NOTHING",
            &[
                &identity.user_id.as_str(),
                &identity.master_key,
                &identity.self_signing_key,
                &identity.user_signing_key,
                &identity.signature,
            ],
        )
        .await?;
        let outcome = if inserted == 1 {
            SetKeysOutcome::Stored
        } else if read_identity(&tx, &identity.user_id).await?.as_ref() == Some(identity) {
            SetKeysOutcome::Unchanged
        } else {
            SetKeysOutcome::Conflict
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn identity(&self, user: &UserId) -> StoreResult<Option<UserIdentity>> {
        let client = self.client().await?;
        read_identity(&client, user).await
    }

    async fn replace_identity(&self, identity: &UserIdentity) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !account_exists(&tx, &identity.user_id).await? {
            return Err(StoreError::NotFound);
        }
        // Creates or locks the identity's row; the old one is read under that lock.
        let previous = read_identity_for_update(&tx, &identity.user_id).await?;
        if previous.as_ref() == Some(identity) {
            return Ok(false);
        }
        execute(
            &tx,
            "INSERT INTO identities (user_id, master_key, self_signing_key, user_signing_key, signature)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id) DO UPDATE SET master_key = excluded.master_key,
                self_signing_key = excluded.self_signing_key, user_signing_key = excluded.user_signing_key,
                signature = excluded.signature",
            &[
                &identity.user_id.as_str(),
                &identity.master_key,
                &identity.self_signing_key,
                &identity.user_signing_key,
                &identity.signature,
            ],
        )
        .await?;
        // The user's device rows, locked in the order every transaction locks devices.
        query(
            &tx,
            "SELECT 1 FROM devices WHERE user_id = $1 ORDER BY device_id FOR NO KEY UPDATE",
            &[&identity.user_id.as_str()],
        )
        .await?;
        execute(&tx, "UPDATE devices SET confirmation = NULL WHERE user_id = $1", &[&identity.user_id.as_str()])
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn confirm_device(&self, device: &DeviceAddress, ed25519: &str, signature: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        let changed = execute(
            &client,
            "UPDATE devices SET confirmation = $4 WHERE user_id = $1 AND device_id = $2 AND ed25519 = $3",
            &[&device.user_id.as_str(), &device.device_id.as_str(), &ed25519, &signature],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn set_user_signature(&self, signer: &UserId, signature: &UserSignature) -> StoreResult<()> {
        let client = self.client().await?;
        // Accounts are never deleted: one that exists now still does when the row is written.
        if !account_exists(&client, &signature.target).await? {
            return Err(StoreError::NotFound);
        }
        execute(
            &client,
            "INSERT INTO user_signatures (signer, target, master_key, signature) VALUES ($1, $2, $3, $4)
             ON CONFLICT (signer, target) DO UPDATE SET master_key = excluded.master_key,
                signature = excluded.signature",
            &[
                &signer.as_str(),
                &signature.target.as_str(),
                &signature.master_key.as_str(),
                &signature.signature.as_str(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_user_signature(&self, signer: &UserId, target: &UserId) -> StoreResult<bool> {
        let client = self.client().await?;
        let deleted = execute(
            &client,
            "DELETE FROM user_signatures WHERE signer = $1 AND target = $2",
            &[&signer.as_str(), &target.as_str()],
        )
        .await?;
        Ok(deleted == 1)
    }

    async fn query_devices(&self, asker: &UserId, users: &[UserId]) -> StoreResult<Vec<UserDevices>> {
        let users = dedup(users);
        let names: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let mut client = self.client().await?;
        let tx =
            client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        let existing: HashSet<String> = query(&tx, "SELECT user_id FROM accounts WHERE user_id = ANY($1)", &[&names])
            .await?
            .iter()
            .map(|r| at(r, 0))
            .collect::<StoreResult<_>>()?;
        let mut devices: HashMap<String, Vec<(DeviceKeys, Option<String>)>> = HashMap::new();
        for r in query(
            &tx,
            "SELECT user_id, device_id, curve25519, ed25519, keys_signature, confirmation FROM devices
             WHERE user_id = ANY($1) AND curve25519 IS NOT NULL ORDER BY user_id, device_id",
            &[&names],
        )
        .await?
        {
            let keys = DeviceKeys {
                user_id: id_at(&r, 0)?,
                device_id: id_at(&r, 1)?,
                curve25519: at(&r, 2)?,
                ed25519: at(&r, 3)?,
                signature: at(&r, 4)?,
            };
            devices.entry(keys.user_id.as_str().to_owned()).or_default().push((keys, at(&r, 5)?));
        }
        let mut identities: HashMap<String, UserIdentity> = HashMap::new();
        for r in query(
            &tx,
            "SELECT user_id, master_key, self_signing_key, user_signing_key, signature FROM identities
             WHERE user_id = ANY($1)",
            &[&names],
        )
        .await?
        {
            let identity = identity_from(&r)?;
            identities.insert(identity.user_id.as_str().to_owned(), identity);
        }
        let mut signatures: HashMap<String, UserSignature> = HashMap::new();
        for r in query(
            &tx,
            "SELECT target, master_key, signature FROM user_signatures WHERE signer = $1 AND target = ANY($2)",
            &[&asker.as_str(), &names],
        )
        .await?
        {
            let signature = UserSignature { target: id_at(&r, 0)?, master_key: at(&r, 1)?, signature: at(&r, 2)? };
            signatures.insert(signature.target.as_str().to_owned(), signature);
        }
        tx.commit().await?;
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            if !existing.contains(user.as_str()) {
                continue;
            }
            let rows = devices.remove(user.as_str()).unwrap_or_default();
            let confirmations = rows
                .iter()
                .filter_map(|(keys, signature)| {
                    Some(DeviceConfirmation { device_id: keys.device_id.clone(), signature: signature.clone()? })
                })
                .collect();
            out.push(UserDevices {
                identity: identities.remove(user.as_str()),
                verified_by_you: signatures.remove(user.as_str()),
                devices: rows.into_iter().map(|(keys, _)| keys).collect(),
                confirmations,
                user_id: user,
            });
        }
        Ok(out)
    }

    async fn claim_keys(
        &self,
        devices: &[DeviceAddress],
        fallback_only: &[DeviceAddress],
    ) -> StoreResult<Vec<ClaimedKey>> {
        let devices = dedup(devices);
        let fallback_only: HashSet<&DeviceAddress> = fallback_only.iter().collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut claimed = Vec::with_capacity(devices.len());
        for device in devices {
            let addr: [&(dyn ToSql + Sync); 2] = [&device.user_id.as_str(), &device.device_id.as_str()];
            let one_time = if fallback_only.contains(&device) {
                None
            } else {
                // The lowest key nobody else is claiming right now, deleted as it is read. A key
                // another claim holds is skipped, not waited for: that claim deletes it.
                query_opt(
                    &tx,
                    "DELETE FROM one_time_keys WHERE (user_id, device_id, key_id) = (
                         SELECT user_id, device_id, key_id FROM one_time_keys
                         WHERE user_id = $1 AND device_id = $2
                         ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING key_id, key, signature",
                    &addr,
                )
                .await?
            };
            let (row, fallback) = match one_time {
                Some(row) => (row, false),
                None => match query_opt(
                    &tx,
                    "SELECT key_id, key, signature FROM fallback_keys WHERE user_id = $1 AND device_id = $2",
                    &addr,
                )
                .await?
                {
                    Some(row) => (row, true),
                    None => continue,
                },
            };
            claimed.push(ClaimedKey {
                key: signed_key(&row)?,
                user_id: device.user_id,
                device_id: device.device_id,
                fallback,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }
}

impl PostgresStore {
    /// Each given user's devices (those with identity keys if `keyed_only`), users in the order
    /// given, each one's devices by id; read in one statement.
    async fn devices_of_users(&self, users: &[UserId], keyed_only: bool) -> StoreResult<Vec<DeviceAddress>> {
        let users = dedup(users);
        let names: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT user_id, device_id FROM devices
             WHERE user_id = ANY($1) AND ($2 = FALSE OR curve25519 IS NOT NULL) ORDER BY user_id, device_id",
            &[&names, &keyed_only],
        )
        .await?;
        let mut by_user: HashMap<&str, Vec<DeviceId>> = HashMap::new();
        for r in &rows {
            by_user.entry(at(r, 0)?).or_default().push(id_at(r, 1)?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for user in &users {
            for device_id in by_user.remove(user.as_str()).unwrap_or_default() {
                out.push(DeviceAddress { user_id: user.clone(), device_id });
            }
        }
        Ok(out)
    }
}

/// What a device has as identity keys, compared with `keys`; `None` if the device does not
/// exist. Locks the device's row.
enum StoredKeys {
    None,
    Same,
    Other,
}

async fn stored_keys<C: GenericClient>(c: &C, keys: &DeviceKeys) -> StoreResult<Option<StoredKeys>> {
    let Some(row) = query_opt(
        c,
        "SELECT curve25519, ed25519, keys_signature FROM devices
         WHERE user_id = $1 AND device_id = $2 FOR NO KEY UPDATE",
        &[&keys.user_id.as_str(), &keys.device_id.as_str()],
    )
    .await?
    else {
        return Ok(None);
    };
    let stored: (Option<&str>, Option<&str>, Option<&str>) = (at(&row, 0)?, at(&row, 1)?, at(&row, 2)?);
    Ok(Some(match stored {
        (None, None, None) => StoredKeys::None,
        (Some(curve), Some(ed), Some(sig))
            if curve == keys.curve25519 && ed == keys.ed25519 && sig == keys.signature =>
        {
            StoredKeys::Same
        }
        _ => StoredKeys::Other,
    }))
}

/// Stores `keys` as the device's identity keys and drops its confirmation (it covered others).
async fn write_keys<C: GenericClient>(c: &C, keys: &DeviceKeys) -> StoreResult<()> {
    execute(
        c,
        "UPDATE devices SET curve25519 = $3, ed25519 = $4, keys_signature = $5, confirmation = NULL
         WHERE user_id = $1 AND device_id = $2",
        &[
            &keys.user_id.as_str(),
            &keys.device_id.as_str(),
            &keys.curve25519.as_str(),
            &keys.ed25519.as_str(),
            &keys.signature.as_str(),
        ],
    )
    .await?;
    Ok(())
}

/// Locks the device's row until the commit; false if there is no such device.
async fn lock_device<C: GenericClient>(c: &C, device: &DeviceAddress) -> StoreResult<bool> {
    Ok(query_opt(
        c,
        "SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2 FOR NO KEY UPDATE",
        &[&device.user_id.as_str(), &device.device_id.as_str()],
    )
    .await?
    .is_some())
}

async fn account_exists<C: GenericClient>(c: &C, user: &UserId) -> StoreResult<bool> {
    Ok(query_opt(c, "SELECT 1 FROM accounts WHERE user_id = $1", &[&user.as_str()]).await?.is_some())
}

fn identity_from(r: &Row) -> StoreResult<UserIdentity> {
    Ok(UserIdentity {
        user_id: id_at(r, 0)?,
        master_key: at(r, 1)?,
        self_signing_key: at(r, 2)?,
        user_signing_key: at(r, 3)?,
        signature: at(r, 4)?,
    })
}

async fn read_identity<C: GenericClient>(c: &C, user: &UserId) -> StoreResult<Option<UserIdentity>> {
    query_opt(
        c,
        "SELECT user_id, master_key, self_signing_key, user_signing_key, signature FROM identities WHERE user_id = $1",
        &[&user.as_str()],
    )
    .await?
    .as_ref()
    .map(identity_from)
    .transpose()
}

async fn read_identity_for_update<C: GenericClient>(c: &C, user: &UserId) -> StoreResult<Option<UserIdentity>> {
    query_opt(
        c,
        "SELECT user_id, master_key, self_signing_key, user_signing_key, signature FROM identities
         WHERE user_id = $1 FOR UPDATE",
        &[&user.as_str()],
    )
    .await?
    .as_ref()
    .map(identity_from)
    .transpose()
}

/// Refuse the device's access tokens issued before `since` (Unix seconds); never moves back.
async fn revoke_tokens_before<C: GenericClient>(c: &C, device: &DeviceAddress, since: i64) -> StoreResult<()> {
    execute(
        c,
        "UPDATE devices SET tokens_since = GREATEST(tokens_since, $3) WHERE user_id = $1 AND device_id = $2",
        &[&device.user_id.as_str(), &device.device_id.as_str(), &since],
    )
    .await?;
    Ok(())
}

async fn insert_refresh_token<C: GenericClient>(
    c: &C,
    device: &DeviceAddress,
    hash: &[u8],
    now: i64,
) -> StoreResult<()> {
    execute(
        c,
        "INSERT INTO refresh_tokens (hash, user_id, device_id, created_ts, spent) VALUES ($1, $2, $3, $4, FALSE)",
        &[&hash, &device.user_id.as_str(), &device.device_id.as_str(), &now],
    )
    .await?;
    Ok(())
}

async fn counts<C: GenericClient>(c: &C, device: &DeviceAddress) -> StoreResult<KeyCounts> {
    let row = query_one(
        c,
        "SELECT (SELECT count(*) FROM one_time_keys WHERE user_id = $1 AND device_id = $2),
                EXISTS (SELECT 1 FROM fallback_keys WHERE user_id = $1 AND device_id = $2)",
        &[&device.user_id.as_str(), &device.device_id.as_str()],
    )
    .await?;
    Ok(KeyCounts { one_time_keys: u64_at(&row, 0)?, has_fallback: at(&row, 1)? })
}

fn signed_key(r: &Row) -> StoreResult<SignedKey> {
    Ok(SignedKey { key_id: id_at(r, 0)?, key: at(r, 1)?, signature: at(r, 2)? })
}
