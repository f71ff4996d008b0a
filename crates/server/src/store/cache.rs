//! An in-memory cache of each user's devices in front of any [`DeviceStore`].
//!
//! Every authenticated request asks whether its device still exists, and every 1:1 send asks for
//! the recipients' keyed devices; both are answered from here after the first read. The cache is
//! invalidated by the mutations that go through it (a device created, keyed or deleted), and a
//! read that raced a mutation is not cached (a generation counter detects it), so it never serves
//! a state older than the last completed mutation.
//!
//! With several server nodes on one database, a node's invalidations go to the others over the
//! bus ([`crate::bus`]), which apply them here ([`CachedDevices::invalidate_here`]); after the bus
//! reconnects (events may have been missed) the whole cache goes ([`CachedDevices::clear`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use sotto_proto::{
    ClaimedKey, DeviceAddress, DeviceId, DeviceKeys, KeyCounts, SignedKey, UserDevices, UserId, UserIdentity,
    UserSignature,
};

use super::{
    AddKeysOutcome, DeviceRecord, DeviceStore, RefreshOutcome, ReplaceKeysOutcome, SetKeysOutcome, StoreResult,
};

/// Users whose device lists are kept; past this the cache starts over.
const MAX_USERS: usize = 100_000;

/// A user's devices: id and whether it has published identity keys.
type Devices = Arc<Vec<(DeviceId, bool)>>;

pub struct CachedDevices {
    inner: Arc<dyn DeviceStore>,
    users: Mutex<HashMap<UserId, Devices>>,
    /// Bumped by every invalidation; a read that saw another value is not cached.
    generation: AtomicU64,
    /// The other nodes, when there are any.
    pub bus: crate::bus::BusSlot,
}

impl CachedDevices {
    pub fn new(inner: Arc<dyn DeviceStore>) -> Self {
        CachedDevices {
            inner,
            users: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            bus: crate::bus::BusSlot::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<UserId, Devices>> {
        // Every mutation of the map is a single insert, remove or clear: a poisoned lock still
        // holds a consistent map.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn invalidate(&self, user: &UserId) {
        self.invalidate_here(std::slice::from_ref(user));
        crate::bus::publish(&self.bus, crate::bus::BusEvent::DevicesChanged { users: vec![user.clone()] });
    }

    /// Another node changed these users' devices.
    pub fn invalidate_here(&self, changed: &[UserId]) {
        let mut users = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        for user in changed {
            users.remove(user);
        }
    }

    /// Everything goes (events from other nodes may have been missed).
    pub fn clear(&self) {
        let mut users = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        users.clear();
    }

    /// The devices of each of `users` (deduplicated), in the order given.
    async fn lookup(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, Devices)>> {
        let mut found = Vec::with_capacity(users.len());
        let mut missing = Vec::new();
        {
            let cache = self.lock();
            let mut seen = HashSet::new();
            for user in users.iter().filter(|u| seen.insert(*u)) {
                match cache.get(user) {
                    Some(devices) => found.push((user.clone(), devices.clone())),
                    None => missing.push(user.clone()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let all = self.inner.devices_of(&missing).await?;
        let keyed: HashSet<DeviceAddress> = self.inner.keyed_devices_of(&missing).await?.into_iter().collect();
        let mut per_user: HashMap<UserId, Vec<(DeviceId, bool)>> =
            missing.iter().map(|u| (u.clone(), Vec::new())).collect();
        for device in all {
            let has_keys = keyed.contains(&device);
            per_user.entry(device.user_id).or_default().push((device.device_id, has_keys));
        }
        let mut cache = self.lock();
        let fresh = self.generation.load(Ordering::Acquire) == generation;
        if fresh && cache.len() + per_user.len() > MAX_USERS {
            cache.clear();
        }
        for user in missing {
            let devices: Devices = Arc::new(per_user.remove(&user).unwrap_or_default());
            if fresh {
                cache.insert(user.clone(), devices.clone());
            }
            found.push((user, devices));
        }
        // Back to the order the caller gave (hits first, then misses, would surprise callers).
        let position: HashMap<&UserId, usize> = users.iter().enumerate().rev().map(|(i, u)| (u, i)).collect();
        found.sort_by_key(|(u, _)| position.get(u).copied().unwrap_or(usize::MAX));
        Ok(found)
    }

    fn flatten(found: Vec<(UserId, Devices)>, keyed_only: bool) -> Vec<DeviceAddress> {
        found
            .into_iter()
            .flat_map(|(user, devices)| {
                devices
                    .iter()
                    .filter(|(_, has_keys)| *has_keys || !keyed_only)
                    .map(|(device_id, _)| DeviceAddress { user_id: user.clone(), device_id: device_id.clone() })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

#[async_trait]
impl DeviceStore for CachedDevices {
    async fn create_device(
        &self,
        device: &DeviceAddress,
        name: Option<&str>,
        refresh_token_hash: &[u8],
        now_ms: u64,
    ) -> StoreResult<()> {
        let result = self.inner.create_device(device, name, refresh_token_hash, now_ms).await;
        self.invalidate(&device.user_id);
        result
    }

    async fn device_exists(&self, device: &DeviceAddress) -> StoreResult<bool> {
        let found = self.lookup(std::slice::from_ref(&device.user_id)).await?;
        Ok(found.iter().any(|(_, devices)| devices.iter().any(|(id, _)| *id == device.device_id)))
    }

    async fn devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>> {
        Ok(Self::flatten(self.lookup(users).await?, false))
    }

    async fn keyed_devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>> {
        Ok(Self::flatten(self.lookup(users).await?, true))
    }

    async fn list_devices(&self, user: &UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.inner.list_devices(user).await
    }

    async fn delete_device(&self, device: &DeviceAddress) -> StoreResult<bool> {
        let result = self.inner.delete_device(device).await;
        self.invalidate(&device.user_id);
        result
    }

    async fn reauthenticate_device(
        &self,
        device: &DeviceAddress,
        refresh_token_hash: &[u8],
        now_ms: u64,
        tokens_since: u64,
    ) -> StoreResult<()> {
        // The device list and whether the device has keys do not change.
        self.inner.reauthenticate_device(device, refresh_token_hash, now_ms, tokens_since).await
    }

    async fn rotate_refresh_token(&self, old_hash: &[u8], new_hash: &[u8], now_ms: u64) -> StoreResult<RefreshOutcome> {
        self.inner.rotate_refresh_token(old_hash, new_hash, now_ms).await
    }

    async fn token_revocations(&self, after_secs: u64) -> StoreResult<Vec<(DeviceAddress, u64)>> {
        self.inner.token_revocations(after_secs).await
    }

    async fn set_device_keys(&self, keys: &DeviceKeys) -> StoreResult<SetKeysOutcome> {
        let result = self.inner.set_device_keys(keys).await;
        self.invalidate(&keys.user_id);
        result
    }

    async fn replace_device_keys(&self, keys: &DeviceKeys) -> StoreResult<ReplaceKeysOutcome> {
        // The device list does not change, but a device without keys may get some.
        let result = self.inner.replace_device_keys(keys).await;
        self.invalidate(&keys.user_id);
        result
    }

    async fn device_keys(&self, device: &DeviceAddress) -> StoreResult<Option<DeviceKeys>> {
        self.inner.device_keys(device).await
    }

    async fn add_one_time_keys(
        &self,
        device: &DeviceAddress,
        one_time_keys: &[SignedKey],
        fallback: Option<&SignedKey>,
    ) -> StoreResult<AddKeysOutcome> {
        self.inner.add_one_time_keys(device, one_time_keys, fallback).await
    }

    async fn key_counts(&self, device: &DeviceAddress) -> StoreResult<KeyCounts> {
        self.inner.key_counts(device).await
    }

    async fn set_identity(&self, identity: &UserIdentity) -> StoreResult<SetKeysOutcome> {
        self.inner.set_identity(identity).await
    }

    async fn identity(&self, user: &UserId) -> StoreResult<Option<UserIdentity>> {
        self.inner.identity(user).await
    }

    async fn replace_identity(&self, identity: &UserIdentity) -> StoreResult<bool> {
        self.inner.replace_identity(identity).await
    }

    async fn confirm_device(&self, device: &DeviceAddress, ed25519: &str, signature: &str) -> StoreResult<bool> {
        self.inner.confirm_device(device, ed25519, signature).await
    }

    async fn set_user_signature(&self, signer: &UserId, signature: &UserSignature) -> StoreResult<()> {
        self.inner.set_user_signature(signer, signature).await
    }

    async fn delete_user_signature(&self, signer: &UserId, target: &UserId) -> StoreResult<bool> {
        self.inner.delete_user_signature(signer, target).await
    }

    async fn query_devices(&self, asker: &UserId, users: &[UserId]) -> StoreResult<Vec<UserDevices>> {
        self.inner.query_devices(asker, users).await
    }

    async fn claim_keys(
        &self,
        devices: &[DeviceAddress],
        fallback_only: &[DeviceAddress],
    ) -> StoreResult<Vec<ClaimedKey>> {
        self.inner.claim_keys(devices, fallback_only).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AccountStore;
    use crate::store::sqlite::SqliteStore;

    fn addr(user: &str, device: &str) -> DeviceAddress {
        DeviceAddress { user_id: UserId::parse(user).unwrap(), device_id: DeviceId::parse(device).unwrap() }
    }

    fn keys_for(d: &DeviceAddress) -> DeviceKeys {
        DeviceKeys {
            user_id: d.user_id.clone(),
            device_id: d.device_id.clone(),
            curve25519: "c".into(),
            ed25519: "e".into(),
            signature: "s".into(),
        }
    }

    #[tokio::test]
    async fn follows_every_mutation_made_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let cache = CachedDevices::new(store.clone());
        let (a1, a2, b1) = (addr("alice", "A1"), addr("alice", "A2"), addr("bob", "B1"));
        for user in ["alice", "bob"] {
            store.create_account(&UserId::parse(user).unwrap(), "h", 1).await.unwrap();
        }
        let alice = [a1.user_id.clone()];
        // A miss caches the (empty) list; creating a device through the cache invalidates it.
        assert!(!cache.device_exists(&a1).await.unwrap());
        cache.create_device(&a1, None, b"t1", 1).await.unwrap();
        assert!(cache.device_exists(&a1).await.unwrap());
        cache.create_device(&a2, None, b"t2", 1).await.unwrap();
        cache.create_device(&b1, None, b"t3", 1).await.unwrap();
        assert_eq!(cache.devices_of(&alice).await.unwrap(), vec![a1.clone(), a2.clone()]);
        assert!(cache.keyed_devices_of(&alice).await.unwrap().is_empty());
        // Keys make a device keyed at once.
        cache.set_device_keys(&keys_for(&a2)).await.unwrap();
        assert_eq!(cache.keyed_devices_of(&alice).await.unwrap(), vec![a2.clone()]);
        // The caller's order of users is kept, hits and misses alike, without duplicates.
        let both = [b1.user_id.clone(), a1.user_id.clone(), b1.user_id.clone()];
        assert_eq!(cache.devices_of(&both).await.unwrap(), vec![b1.clone(), a1.clone(), a2.clone()]);
        // Deleting is seen at once.
        assert!(cache.delete_device(&a2).await.unwrap());
        assert!(!cache.device_exists(&a2).await.unwrap());
        assert_eq!(cache.devices_of(&alice).await.unwrap(), vec![a1.clone()]);
        // And the cache agrees with the store underneath.
        assert_eq!(cache.devices_of(&both).await.unwrap(), store.devices_of(&both).await.unwrap());
    }
}
