//! Devices, their refresh tokens and the key directory (identity, one-time and fallback keys).
//!
//! Invariant: a one-time key is deleted in the same write job that hands it out, and write jobs
//! never interleave, so no key is handed out twice.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use sotto_proto::limits::MAX_UNCLAIMED_ONE_TIME_KEYS;
use sotto_proto::{
    ClaimedKey, DeviceAddress, DeviceConfirmation, DeviceId, DeviceKeys, KeyCounts, SignedKey, UserDevices, UserId,
    UserIdentity, UserSignature,
};

use super::{SqliteStore, dedup, id_col, inbox, sql_u64, u64_col};
use crate::store::{
    AddKeysOutcome, DeviceRecord, DeviceStore, REFRESH_GRACE_MS, RefreshOutcome, ReplaceKeysOutcome, SetKeysOutcome,
    StoreError, StoreResult,
};

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn create_device(
        &self,
        device: &DeviceAddress,
        name: Option<&str>,
        refresh_token_hash: &[u8],
        now_ms: u64,
    ) -> StoreResult<()> {
        let (device, name, hash, now) =
            (device.clone(), name.map(str::to_owned), refresh_token_hash.to_vec(), sql_u64(now_ms)?);
        self.write(move |c| {
            let user_exists =
                c.prepare_cached("SELECT 1 FROM accounts WHERE user_id = ?1")?.exists([device.user_id.as_str()])?;
            if !user_exists {
                return Err(StoreError::NotFound);
            }
            let inserted = c
                .prepare_cached(
                    "INSERT INTO devices (user_id, device_id, name, created_ts) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (user_id, device_id) DO NOTHING",
                )?
                .execute((device.user_id.as_str(), device.device_id.as_str(), name.as_deref(), now))?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            insert_refresh_token(c, &device, &hash, now)
        })
        .await
    }

    async fn device_exists(&self, device: &DeviceAddress) -> StoreResult<bool> {
        let device = device.clone();
        self.read(move |c| exists(c, &device)).await
    }

    async fn devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>> {
        let users = dedup(users);
        self.read(move |c| {
            devices_of_users(c, &users, "SELECT device_id FROM devices WHERE user_id = ?1 ORDER BY device_id")
        })
        .await
    }

    async fn keyed_devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>> {
        let users = dedup(users);
        self.read(move |c| {
            devices_of_users(
                c,
                &users,
                "SELECT device_id FROM devices WHERE user_id = ?1 AND curve25519 IS NOT NULL ORDER BY device_id",
            )
        })
        .await
    }

    async fn list_devices(&self, user: &UserId) -> StoreResult<Vec<DeviceRecord>> {
        let user = user.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT device_id, name, created_ts, curve25519 IS NOT NULL FROM devices
                 WHERE user_id = ?1 ORDER BY device_id",
            )?;
            let rows = stmt.query_map([user.as_str()], |r| {
                Ok(DeviceRecord {
                    device_id: id_col(r, 0)?,
                    name: r.get(1)?,
                    created_ts: u64_col(r, 2)?,
                    has_keys: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn delete_device(&self, device: &DeviceAddress) -> StoreResult<bool> {
        let device = device.clone();
        self.write(move |c| {
            // Inbox rows, keys and tokens cascade; shared payloads are left for collect_garbage.
            inbox::delete_entries(c, &device, i64::MAX)?;
            let deleted = c
                .prepare_cached("DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2")?
                .execute((device.user_id.as_str(), device.device_id.as_str()))?;
            Ok(deleted > 0)
        })
        .await
        .inspect(|_| self.garbage.store(true, std::sync::atomic::Ordering::Release))
    }

    async fn reauthenticate_device(
        &self,
        device: &DeviceAddress,
        refresh_token_hash: &[u8],
        now_ms: u64,
        tokens_since: u64,
    ) -> StoreResult<()> {
        let (device, hash, now, since) =
            (device.clone(), refresh_token_hash.to_vec(), sql_u64(now_ms)?, sql_u64(tokens_since)?);
        self.write(move |c| {
            if !exists(c, &device)? {
                return Err(StoreError::NotFound);
            }
            let addr = (device.user_id.as_str(), device.device_id.as_str());
            c.prepare_cached("DELETE FROM refresh_tokens WHERE user_id = ?1 AND device_id = ?2")?.execute(addr)?;
            c.prepare_cached("DELETE FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2")?.execute(addr)?;
            revoke_tokens_before(c, &device, since)?;
            insert_refresh_token(c, &device, &hash, now)
        })
        .await
    }

    async fn rotate_refresh_token(&self, old_hash: &[u8], new_hash: &[u8], now_ms: u64) -> StoreResult<RefreshOutcome> {
        let (old, new, now) = (old_hash.to_vec(), new_hash.to_vec(), sql_u64(now_ms)?);
        self.write(move |c| {
            let found = c
                .prepare_cached(
                    "SELECT user_id, device_id, spent, spent_ts, successor, regranted FROM refresh_tokens WHERE hash = ?1",
                )?
                .query_row([old.as_slice()], |r| {
                    Ok((
                        DeviceAddress { user_id: id_col(r, 0)?, device_id: id_col(r, 1)? },
                        r.get::<_, bool>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                        r.get::<_, bool>(5)?,
                    ))
                })
                .optional()?;
            let Some((device, spent, spent_ts, successor, regranted)) = found else {
                return Ok(RefreshOutcome::Unknown);
            };
            if !spent {
                c.prepare_cached("UPDATE refresh_tokens SET spent = 1, spent_ts = ?2, successor = ?3 WHERE hash = ?1")?
                    .execute((old.as_slice(), now, new.as_slice()))?;
                insert_refresh_token(c, &device, &new, now)?;
                return Ok(RefreshOutcome::Rotated(device));
            }
            // The answer to the first refresh may have been lost: once, shortly after, and only
            // while the token it gave was never used, the old one is taken again.
            let in_grace = spent_ts.is_some_and(|at| now.saturating_sub(at) <= sql_u64(REFRESH_GRACE_MS).unwrap_or(0));
            let unused_successor = match &successor {
                Some(hash) => c
                    .prepare_cached("SELECT 1 FROM refresh_tokens WHERE hash = ?1 AND spent = 0")?
                    .query_row([hash.as_slice()], |_| Ok(()))
                    .optional()?
                    .is_some(),
                None => false,
            };
            if in_grace && unused_successor && !regranted {
                c.prepare_cached("DELETE FROM refresh_tokens WHERE hash = ?1")?
                    .execute([successor.as_deref().unwrap_or_default()])?;
                c.prepare_cached("UPDATE refresh_tokens SET regranted = 1, successor = ?2 WHERE hash = ?1")?
                    .execute((old.as_slice(), new.as_slice()))?;
                insert_refresh_token(c, &device, &new, now)?;
                return Ok(RefreshOutcome::Rotated(device));
            }
            // A replay: someone else holds a copy of the device's tokens. Sign the device out
            // (every token), but keep it, its keys and its inbox: its owner signs in again.
            c.prepare_cached("DELETE FROM refresh_tokens WHERE user_id = ?1 AND device_id = ?2")?
                .execute((device.user_id.as_str(), device.device_id.as_str()))?;
            let tokens_since = u64::try_from(now).unwrap_or(0) / 1000 + 1;
            revoke_tokens_before(c, &device, sql_u64(tokens_since)?)?;
            Ok(RefreshOutcome::Replayed { device, tokens_since })
        })
        .await
    }

    async fn token_revocations(&self, after_secs: u64) -> StoreResult<Vec<(DeviceAddress, u64)>> {
        let after = sql_u64(after_secs)?;
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT user_id, device_id, tokens_since FROM devices WHERE tokens_since > ?1")?
                .query_map([after], |r| {
                    Ok((DeviceAddress { user_id: id_col(r, 0)?, device_id: id_col(r, 1)? }, u64_col(r, 2)?))
                })?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn set_device_keys(&self, keys: &DeviceKeys) -> StoreResult<SetKeysOutcome> {
        let keys = keys.clone();
        self.write(move |c| {
            let stored = c
                .prepare_cached(
                    "SELECT curve25519, ed25519, keys_signature FROM devices WHERE user_id = ?1 AND device_id = ?2",
                )?
                .query_row((keys.user_id.as_str(), keys.device_id.as_str()), |r| {
                    Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<String>>(2)?))
                })
                .optional()?;
            match stored {
                None => Err(StoreError::NotFound),
                Some((None, None, None)) => {
                    c.prepare_cached(
                        "UPDATE devices SET curve25519 = ?3, ed25519 = ?4, keys_signature = ?5
                         WHERE user_id = ?1 AND device_id = ?2",
                    )?
                    .execute((
                        keys.user_id.as_str(),
                        keys.device_id.as_str(),
                        keys.curve25519.as_str(),
                        keys.ed25519.as_str(),
                        keys.signature.as_str(),
                    ))?;
                    Ok(SetKeysOutcome::Stored)
                }
                Some((Some(curve), Some(ed), Some(sig)))
                    if curve == keys.curve25519 && ed == keys.ed25519 && sig == keys.signature =>
                {
                    Ok(SetKeysOutcome::Unchanged)
                }
                Some(_) => Ok(SetKeysOutcome::Conflict),
            }
        })
        .await
    }

    async fn replace_device_keys(&self, keys: &DeviceKeys) -> StoreResult<ReplaceKeysOutcome> {
        let keys = keys.clone();
        self.write(move |c| {
            let addr = (keys.user_id.as_str(), keys.device_id.as_str());
            let stored = c
                .prepare_cached(
                    "SELECT curve25519, ed25519, keys_signature FROM devices WHERE user_id = ?1 AND device_id = ?2",
                )?
                .query_row(addr, |r| {
                    Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<String>>(2)?))
                })
                .optional()?;
            match stored {
                None => Err(StoreError::NotFound),
                Some((Some(curve), Some(ed), Some(sig)))
                    if curve == keys.curve25519 && ed == keys.ed25519 && sig == keys.signature =>
                {
                    Ok(ReplaceKeysOutcome::Unchanged)
                }
                Some(_) => {
                    c.prepare_cached(
                        "UPDATE devices SET curve25519 = ?3, ed25519 = ?4, keys_signature = ?5, confirmation = NULL
                         WHERE user_id = ?1 AND device_id = ?2",
                    )?
                    .execute((
                        addr.0,
                        addr.1,
                        keys.curve25519.as_str(),
                        keys.ed25519.as_str(),
                        keys.signature.as_str(),
                    ))?;
                    c.prepare_cached("DELETE FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2")?
                        .execute(addr)?;
                    c.prepare_cached("DELETE FROM fallback_keys WHERE user_id = ?1 AND device_id = ?2")?
                        .execute(addr)?;
                    Ok(ReplaceKeysOutcome::Replaced)
                }
            }
        })
        .await
    }

    async fn device_keys(&self, device: &DeviceAddress) -> StoreResult<Option<DeviceKeys>> {
        let device = device.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT curve25519, ed25519, keys_signature FROM devices
                 WHERE user_id = ?1 AND device_id = ?2 AND curve25519 IS NOT NULL",
            )?
            .query_row((device.user_id.as_str(), device.device_id.as_str()), |r| {
                Ok(DeviceKeys {
                    user_id: device.user_id.clone(),
                    device_id: device.device_id.clone(),
                    curve25519: r.get(0)?,
                    ed25519: r.get(1)?,
                    signature: r.get(2)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn add_one_time_keys(
        &self,
        device: &DeviceAddress,
        one_time_keys: &[SignedKey],
        fallback: Option<&SignedKey>,
    ) -> StoreResult<AddKeysOutcome> {
        let (device, keys, fallback) = (device.clone(), one_time_keys.to_vec(), fallback.cloned());
        self.write(move |c| {
            if !exists(c, &device)? {
                return Err(StoreError::NotFound);
            }
            // Check every key before writing any, so a conflicting upload stores nothing.
            let mut uploaded: HashMap<&str, &SignedKey> = HashMap::with_capacity(keys.len());
            let mut new_keys = 0u64;
            {
                let mut stored = c.prepare_cached(
                    "SELECT key, signature FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 AND key_id = ?3",
                )?;
                for key in &keys {
                    let repeated = uploaded.insert(key.key_id.as_str(), key);
                    if repeated.is_some_and(|earlier| earlier != key) {
                        return Ok(AddKeysOutcome::Conflict);
                    }
                    let existing = stored
                        .query_row((device.user_id.as_str(), device.device_id.as_str(), key.key_id.as_str()), |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                        })
                        .optional()?;
                    match existing {
                        Some((k, sig)) if k != key.key || sig != key.signature => return Ok(AddKeysOutcome::Conflict),
                        Some(_) => {}
                        // Counted once however often the upload repeats it.
                        None if repeated.is_none() => new_keys += 1,
                        None => {}
                    }
                }
            }
            // Exact re-uploads (a retry) are not new, so a retry is never refused for the limit.
            let held = counts(c, &device)?.one_time_keys;
            if held.saturating_add(new_keys) > MAX_UNCLAIMED_ONE_TIME_KEYS as u64 {
                return Ok(AddKeysOutcome::TooMany { held });
            }
            let mut insert = c.prepare_cached(
                "INSERT INTO one_time_keys (user_id, device_id, key_id, key, signature) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (user_id, device_id, key_id) DO NOTHING",
            )?;
            for key in uploaded.values() {
                insert.execute((
                    device.user_id.as_str(),
                    device.device_id.as_str(),
                    key.key_id.as_str(),
                    key.key.as_str(),
                    key.signature.as_str(),
                ))?;
            }
            if let Some(key) = &fallback {
                c.prepare_cached(
                    "INSERT INTO fallback_keys (user_id, device_id, key_id, key, signature) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (user_id, device_id) DO UPDATE
                     SET key_id = excluded.key_id, key = excluded.key, signature = excluded.signature",
                )?
                .execute((
                    device.user_id.as_str(),
                    device.device_id.as_str(),
                    key.key_id.as_str(),
                    key.key.as_str(),
                    key.signature.as_str(),
                ))?;
            }
            Ok(AddKeysOutcome::Stored(counts(c, &device)?))
        })
        .await
    }

    async fn key_counts(&self, device: &DeviceAddress) -> StoreResult<KeyCounts> {
        let device = device.clone();
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            if !exists(&tx, &device)? {
                return Err(StoreError::NotFound);
            }
            counts(&tx, &device)
        })
        .await
    }

    async fn set_identity(&self, identity: &UserIdentity) -> StoreResult<SetKeysOutcome> {
        let identity = identity.clone();
        self.write(move |c| {
            if !c.prepare_cached("SELECT 1 FROM accounts WHERE user_id = ?1")?.exists([identity.user_id.as_str()])? {
                return Err(StoreError::NotFound);
            }
            match read_identity(c, &identity.user_id)? {
                Some(stored) if stored == identity => Ok(SetKeysOutcome::Unchanged),
                Some(_) => Ok(SetKeysOutcome::Conflict),
                None => {
                    write_identity(c, &identity)?;
                    Ok(SetKeysOutcome::Stored)
                }
            }
        })
        .await
    }

    async fn identity(&self, user: &UserId) -> StoreResult<Option<UserIdentity>> {
        let user = user.clone();
        self.read(move |c| read_identity(c, &user)).await
    }

    async fn replace_identity(&self, identity: &UserIdentity) -> StoreResult<bool> {
        let identity = identity.clone();
        self.write(move |c| {
            if !c.prepare_cached("SELECT 1 FROM accounts WHERE user_id = ?1")?.exists([identity.user_id.as_str()])? {
                return Err(StoreError::NotFound);
            }
            if read_identity(c, &identity.user_id)?.as_ref() == Some(&identity) {
                return Ok(false);
            }
            write_identity(c, &identity)?;
            c.prepare_cached("UPDATE devices SET confirmation = NULL WHERE user_id = ?1")?
                .execute([identity.user_id.as_str()])?;
            Ok(true)
        })
        .await
    }

    async fn confirm_device(&self, device: &DeviceAddress, ed25519: &str, signature: &str) -> StoreResult<bool> {
        let (device, ed25519, signature) = (device.clone(), ed25519.to_owned(), signature.to_owned());
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE devices SET confirmation = ?4 WHERE user_id = ?1 AND device_id = ?2 AND ed25519 = ?3",
                )?
                .execute((device.user_id.as_str(), device.device_id.as_str(), ed25519.as_str(), signature.as_str()))?;
            Ok(changed == 1)
        })
        .await
    }

    async fn set_user_signature(&self, signer: &UserId, signature: &UserSignature) -> StoreResult<()> {
        let (signer, signature) = (signer.clone(), signature.clone());
        self.write(move |c| {
            if !c.prepare_cached("SELECT 1 FROM accounts WHERE user_id = ?1")?.exists([signature.target.as_str()])? {
                return Err(StoreError::NotFound);
            }
            c.prepare_cached(
                "INSERT INTO user_signatures (signer, target, master_key, signature) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (signer, target) DO UPDATE SET master_key = excluded.master_key,
                    signature = excluded.signature",
            )?
            .execute((
                signer.as_str(),
                signature.target.as_str(),
                signature.master_key.as_str(),
                signature.signature.as_str(),
            ))?;
            Ok(())
        })
        .await
    }

    async fn delete_user_signature(&self, signer: &UserId, target: &UserId) -> StoreResult<bool> {
        let (signer, target) = (signer.clone(), target.clone());
        self.write(move |c| {
            let deleted = c
                .prepare_cached("DELETE FROM user_signatures WHERE signer = ?1 AND target = ?2")?
                .execute((signer.as_str(), target.as_str()))?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn query_devices(&self, asker: &UserId, users: &[UserId]) -> StoreResult<Vec<UserDevices>> {
        let users = dedup(users);
        let asker = asker.clone();
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            let mut account = tx.prepare_cached("SELECT 1 FROM accounts WHERE user_id = ?1")?;
            let mut devices = tx.prepare_cached(
                "SELECT device_id, curve25519, ed25519, keys_signature, confirmation FROM devices
                 WHERE user_id = ?1 AND curve25519 IS NOT NULL ORDER BY device_id",
            )?;
            let mut signature = tx.prepare_cached(
                "SELECT master_key, signature FROM user_signatures WHERE signer = ?1 AND target = ?2",
            )?;
            let mut out = Vec::with_capacity(users.len());
            for user in users {
                if !account.exists([user.as_str()])? {
                    continue;
                }
                let rows: Vec<(DeviceKeys, Option<String>)> = devices
                    .query_map([user.as_str()], |r| {
                        let keys = DeviceKeys {
                            user_id: user.clone(),
                            device_id: id_col(r, 0)?,
                            curve25519: r.get(1)?,
                            ed25519: r.get(2)?,
                            signature: r.get(3)?,
                        };
                        Ok((keys, r.get(4)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let confirmations = rows
                    .iter()
                    .filter_map(|(keys, signature)| {
                        let signature = signature.clone()?;
                        Some(DeviceConfirmation { device_id: keys.device_id.clone(), signature })
                    })
                    .collect();
                let identity = read_identity(&tx, &user)?;
                let devices = rows.into_iter().map(|(keys, _)| keys).collect();
                let verified_by_you = signature
                    .query_row((asker.as_str(), user.as_str()), |r| {
                        Ok(UserSignature { target: user.clone(), master_key: r.get(0)?, signature: r.get(1)? })
                    })
                    .optional()?;
                out.push(UserDevices { user_id: user, devices, identity, confirmations, verified_by_you });
            }
            Ok(out)
        })
        .await
    }

    async fn claim_keys(
        &self,
        devices: &[DeviceAddress],
        fallback_only: &[DeviceAddress],
    ) -> StoreResult<Vec<ClaimedKey>> {
        let devices = dedup(devices);
        let fallback_only: std::collections::HashSet<DeviceAddress> = fallback_only.iter().cloned().collect();
        self.write(move |c| {
            let mut lowest = c.prepare_cached(
                "SELECT key_id, key, signature FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2
                 ORDER BY key_id LIMIT 1",
            )?;
            let mut delete =
                c.prepare_cached("DELETE FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 AND key_id = ?3")?;
            let mut fallback = c.prepare_cached(
                "SELECT key_id, key, signature FROM fallback_keys WHERE user_id = ?1 AND device_id = ?2",
            )?;
            let mut claimed = Vec::with_capacity(devices.len());
            for device in devices {
                let addr = (device.user_id.as_str(), device.device_id.as_str());
                let one_time = if fallback_only.contains(&device) {
                    None
                } else {
                    lowest.query_row(addr, signed_key).optional()?
                };
                let (key, is_fallback) = match one_time {
                    Some(key) => {
                        delete.execute((addr.0, addr.1, key.key_id.as_str()))?;
                        (key, false)
                    }
                    None => match fallback.query_row(addr, signed_key).optional()? {
                        Some(key) => (key, true),
                        None => continue,
                    },
                };
                claimed.push(ClaimedKey {
                    user_id: device.user_id,
                    device_id: device.device_id,
                    key,
                    fallback: is_fallback,
                });
            }
            Ok(claimed)
        })
        .await
    }
}

/// Stores `identity` as its user's, in place of any other.
fn write_identity(c: &Connection, identity: &UserIdentity) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO identities (user_id, master_key, self_signing_key, user_signing_key, signature)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (user_id) DO UPDATE SET master_key = excluded.master_key,
            self_signing_key = excluded.self_signing_key, user_signing_key = excluded.user_signing_key,
            signature = excluded.signature",
    )?
    .execute((
        identity.user_id.as_str(),
        identity.master_key.as_str(),
        identity.self_signing_key.as_str(),
        identity.user_signing_key.as_str(),
        identity.signature.as_str(),
    ))?;
    Ok(())
}

fn read_identity(c: &Connection, user: &UserId) -> StoreResult<Option<UserIdentity>> {
    Ok(c.prepare_cached(
        "SELECT master_key, self_signing_key, user_signing_key, signature FROM identities WHERE user_id = ?1",
    )?
    .query_row([user.as_str()], |r| {
        Ok(UserIdentity {
            user_id: user.clone(),
            master_key: r.get(0)?,
            self_signing_key: r.get(1)?,
            user_signing_key: r.get(2)?,
            signature: r.get(3)?,
        })
    })
    .optional()?)
}

fn exists(c: &Connection, device: &DeviceAddress) -> StoreResult<bool> {
    Ok(c.prepare_cached("SELECT 1 FROM devices WHERE user_id = ?1 AND device_id = ?2")?
        .exists((device.user_id.as_str(), device.device_id.as_str()))?)
}

/// Refuse the device's access tokens issued before `since` (Unix seconds); never moves back.
fn revoke_tokens_before(c: &Connection, device: &DeviceAddress, since: i64) -> StoreResult<()> {
    c.prepare_cached("UPDATE devices SET tokens_since = max(tokens_since, ?3) WHERE user_id = ?1 AND device_id = ?2")?
        .execute((device.user_id.as_str(), device.device_id.as_str(), since))?;
    Ok(())
}

fn insert_refresh_token(c: &Connection, device: &DeviceAddress, hash: &[u8], now: i64) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO refresh_tokens (hash, user_id, device_id, created_ts, spent) VALUES (?1, ?2, ?3, ?4, 0)",
    )?
    .execute((hash, device.user_id.as_str(), device.device_id.as_str(), now))?;
    Ok(())
}

fn counts(c: &Connection, device: &DeviceAddress) -> StoreResult<KeyCounts> {
    let addr = (device.user_id.as_str(), device.device_id.as_str());
    let one_time_keys = c
        .prepare_cached("SELECT count(*) FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2")?
        .query_row(addr, |r| u64_col(r, 0))?;
    let has_fallback =
        c.prepare_cached("SELECT 1 FROM fallback_keys WHERE user_id = ?1 AND device_id = ?2")?.exists(addr)?;
    Ok(KeyCounts { one_time_keys, has_fallback })
}

fn signed_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<SignedKey> {
    Ok(SignedKey { key_id: id_col(r, 0)?, key: r.get(1)?, signature: r.get(2)? })
}

/// The devices `sql` (a query of device ids for the user bound to `?1`) finds for each user, in
/// one read transaction.
fn devices_of_users(c: &Connection, users: &[UserId], sql: &str) -> StoreResult<Vec<DeviceAddress>> {
    let tx = c.unchecked_transaction()?;
    let mut stmt = tx.prepare_cached(sql)?;
    let mut out = Vec::new();
    for user in users {
        for device_id in stmt.query_map([user.as_str()], |r| id_col::<DeviceId>(r, 0))? {
            out.push(DeviceAddress { user_id: user.clone(), device_id: device_id? });
        }
    }
    Ok(out)
}
