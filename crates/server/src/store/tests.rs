//! The store test suite, shared by every implementation: each function checks one part of the
//! contract of the traits in [`crate::store`] against a fresh, empty store. [`store_suite!`]
//! owns the list of them: an implementation's test module runs the whole suite with one line
//! (`sqlite/tests.rs`: `store_suite!(fresh);`), so no implementation can miss a test. A suite
//! function left out of the list is dead code, which the lints refuse. It runs against SQLite,
//! PostgreSQL, and each of them behind the server's device cache ([`WithCachedDevices`]).

/// Every test of the suite as a `#[tokio::test]` against the implementation `$fresh` makes:
/// `$fresh` is an async fn returning `(guard, store)`, a fresh, empty store and what must live
/// as long as it (e.g. its temporary directory).
macro_rules! store_suite {
    ($fresh:path) => {
        $crate::store::tests::store_suite!(@each $fresh;
            accounts,
            external_token_ids,
            devices,
            delete_device_removes_everything,
            refresh_tokens,
            reauthentication,
            identity_keys,
            identity_reset,
            query_devices,
            identities_and_confirmations,
            one_time_keys,
            claim_keys,
            claims_limited_to_fallback,
            deliver_and_fetch,
            shared_conversations,
            duplicate_delivery,
            prune_sent_ids,
            ack_and_sequence,
            shared_payloads_are_collected,
            groups,
            group_log,
            group_history,
            backups,
            profiles,
            blob_index,
        );
        // Many tasks on one shared store, on a runtime with several threads.
        $crate::store::tests::store_suite!(@concurrent $fresh;
            concurrent_claims,
            concurrent_deliveries,
            deliveries_racing_device_deletions,
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (_guard, store) = $fresh().await;
                $crate::store::tests::$name(&store).await;
            }
        )*
    };
    (@concurrent $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (_guard, store) = $fresh().await;
                $crate::store::tests::$name(::std::sync::Arc::new(store)).await;
            }
        )*
    };
}
pub(crate) use store_suite;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use sotto_proto::{
    BlobId, ClaimedKey, DeviceAddress, DeviceConfirmation, DeviceId, DeviceKeys, EntryBody, GroupHistoryMessage,
    GroupId, GroupInfo, GroupMember, InboxEntry, KeyCounts, KeyId, MembershipChange, MembershipEvent, MessageId, Role,
    SignedGroupChange, SignedKey, UserDevices, UserId, UserIdentity, UserSignature,
};

use crate::store::cache::CachedDevices;
use crate::store::{
    AccountStore, AddKeysOutcome, BackupStore, BlobIndex, BlobRecord, CreateBlobOutcome, Delivery, DeliveryContent,
    DeliveryOutcome, DeviceRecord, DeviceStore, GroupStore, InboxStore, LogEntry, ProfileStore, REFRESH_GRACE_MS,
    RefreshOutcome, ReplaceKeysOutcome, SetKeysOutcome, StoreError, StoreResult,
};

/// What the suite needs from an implementation besides the store traits.
pub(crate) trait TestStore:
    AccountStore + DeviceStore + InboxStore + GroupStore + BackupStore + ProfileStore + BlobIndex + Send + Sync + 'static
{
    /// How many shared payloads are stored (to check that acknowledged ones are collected).
    fn shared_payload_rows(&self) -> impl Future<Output = StoreResult<u64>> + Send;
}

// ---- helpers ----

pub(crate) fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

pub(crate) fn addr(u: &str, d: &str) -> DeviceAddress {
    DeviceAddress { user_id: user(u), device_id: DeviceId::parse(d).unwrap() }
}

pub(crate) fn msg(n: u32) -> MessageId {
    MessageId::parse(format!("msg-{n:08}")).unwrap()
}

pub(crate) fn key(id: &str, material: &str) -> SignedKey {
    SignedKey { key_id: KeyId::parse(id).unwrap(), key: material.into(), signature: format!("sig-{material}") }
}

fn identity(device: &DeviceAddress, tag: &str) -> DeviceKeys {
    DeviceKeys {
        user_id: device.user_id.clone(),
        device_id: device.device_id.clone(),
        curve25519: format!("curve-{tag}"),
        ed25519: format!("ed-{tag}"),
        signature: format!("sig-{tag}"),
    }
}

pub(crate) async fn account<S: TestStore>(s: &S, u: &str) {
    s.create_account(&user(u), "$argon2id$hash", 1).await.unwrap();
}

/// Creates the account if needed and the device, with refresh token hash `rt-{user}-{device}`.
pub(crate) async fn device<S: TestStore>(s: &S, u: &str, d: &str) -> DeviceAddress {
    match s.create_account(&user(u), "$argon2id$hash", 1).await {
        Ok(()) | Err(StoreError::AlreadyExists) => {}
        Err(e) => panic!("{e}"),
    }
    let a = addr(u, d);
    s.create_device(&a, Some("phone"), format!("rt-{u}-{d}").as_bytes(), 2).await.unwrap();
    a
}

pub(crate) fn direct(sender: &str, n: u32, ts: u64, to: &[(&DeviceAddress, &str)]) -> Delivery {
    Delivery {
        sender_user: user(sender),
        sender_device: Some(DeviceId::parse("SENDER").unwrap()),
        message_id: msg(n),
        server_ts: ts,
        content: DeliveryContent::PerDevice(to.iter().map(|(a, c)| ((*a).clone(), (*c).to_owned())).collect()).into(),
    }
}

pub(crate) fn shared(sender: &str, n: u32, ts: u64, group: &str, to: &[&DeviceAddress]) -> Delivery {
    Delivery {
        sender_user: user(sender),
        sender_device: None,
        message_id: msg(n),
        server_ts: ts,
        content: DeliveryContent::Shared {
            body: Box::new(EntryBody::Group {
                group_id: GroupId::parse(group).unwrap(),
                ciphertext: format!("group-ct-{n}"),
            }),
            recipients: to.iter().map(|a| (*a).clone()).collect(),
        }
        .into(),
    }
}

fn stored(outcome: DeliveryOutcome) -> Vec<DeviceAddress> {
    match outcome {
        DeliveryOutcome::Stored { recipients } => recipients.into_iter().map(|(d, _)| d).collect(),
        other => panic!("expected Stored, got {other:?}"),
    }
}

async fn seqs<S: TestStore>(s: &S, d: &DeviceAddress) -> Vec<u64> {
    s.fetch(d, 0, 1000).await.unwrap().iter().map(|e| e.seq).collect()
}

fn group_info(id: &str, version: u64, members: &[(&str, Role)]) -> GroupInfo {
    GroupInfo {
        group_id: GroupId::parse(id).unwrap(),
        name: format!("group {id} v{version}"),
        version,
        created_ts: 10,
        members: members.iter().map(|(u, r)| GroupMember { user_id: user(u), role: *r }).collect(),
        invited: vec![],
    }
}

/// Stands for the signed change that brought group `id` to version `seq` (the store keeps it as
/// given, without reading it).
pub(crate) fn signed_change(id: &str, seq: u64) -> SignedGroupChange {
    SignedGroupChange { change: format!("change {seq} of {id}"), signature: format!("sig-{id}-{seq}") }
}

/// The log entry of the change that made `group`.
pub(crate) fn log_entry(group: &GroupInfo) -> LogEntry {
    let id = group.group_id.as_str();
    LogEntry {
        seq: group.version,
        hash: format!("hash-{id}-{}", group.version),
        signed: signed_change(id, group.version),
    }
}

pub(crate) fn membership_event(group: &GroupInfo, change: MembershipChange, n: u32, to: &[&DeviceAddress]) -> Delivery {
    let event = MembershipEvent {
        group_id: group.group_id.clone(),
        change,
        actor: user("alice"),
        users: vec![],
        group: group.clone(),
        signed: Some(log_entry(group).signed),
    };
    Delivery {
        sender_user: user("alice"),
        sender_device: None,
        message_id: msg(n),
        server_ts: 100 + u64::from(n),
        content: DeliveryContent::Shared {
            body: Box::new(EntryBody::Membership(Box::new(event))),
            recipients: to.iter().map(|a| (*a).clone()).collect(),
        }
        .into(),
    }
}

// ---- accounts ----

pub(crate) async fn accounts<S: TestStore>(s: &S) {
    s.create_account(&user("alice"), "hash-a", 5).await.unwrap();
    assert!(matches!(s.create_account(&user("alice"), "other", 6).await, Err(StoreError::AlreadyExists)));
    assert_eq!(s.password_hash(&user("alice")).await.unwrap().as_deref(), Some("hash-a"));
    assert_eq!(s.password_hash(&user("nobody")).await.unwrap(), None);
    s.create_account(&user("bob"), "hash-b", 5).await.unwrap();
    let mut found = s.existing_users(&[user("carol"), user("bob"), user("alice"), user("bob")]).await.unwrap();
    found.sort();
    assert_eq!(found, vec![user("alice"), user("bob")]);
    assert!(s.existing_users(&[]).await.unwrap().is_empty());

    // A password change is a compare-and-set on the hash the caller verified.
    assert!(!s.replace_password_hash(&user("alice"), "not-the-hash", "hash-x").await.unwrap());
    assert_eq!(s.password_hash(&user("alice")).await.unwrap().as_deref(), Some("hash-a"));
    assert!(s.replace_password_hash(&user("alice"), "hash-a", "hash-a2").await.unwrap());
    assert_eq!(s.password_hash(&user("alice")).await.unwrap().as_deref(), Some("hash-a2"));
    assert!(!s.replace_password_hash(&user("alice"), "hash-a", "hash-a3").await.unwrap(), "the old hash is stale");
    assert_eq!(s.password_hash(&user("bob")).await.unwrap().as_deref(), Some("hash-b"), "others untouched");
    assert!(matches!(s.replace_password_hash(&user("nobody"), "h", "h2").await, Err(StoreError::NotFound)));
}

// ---- devices ----

pub(crate) async fn devices<S: TestStore>(s: &S) {
    let nobody = addr("nobody", "D1");
    assert!(matches!(s.create_device(&nobody, None, b"rt-x", 1).await, Err(StoreError::NotFound)));
    let a2 = device(s, "alice", "D2").await;
    let a1 = device(s, "alice", "D1").await;
    let b1 = device(s, "bob", "B1").await;
    assert!(matches!(s.create_device(&a1, None, b"rt-other", 3).await, Err(StoreError::AlreadyExists)));
    assert!(s.device_exists(&a1).await.unwrap());
    assert!(!s.device_exists(&addr("alice", "D9")).await.unwrap());

    assert_eq!(
        s.devices_of(&[user("bob"), user("alice"), user("nobody")]).await.unwrap(),
        vec![b1.clone(), a1.clone(), a2.clone()]
    );
    assert!(s.keyed_devices_of(&[user("alice"), user("bob")]).await.unwrap().is_empty());
    assert_eq!(s.set_device_keys(&identity(&a2, "a2")).await.unwrap(), SetKeysOutcome::Stored);
    assert_eq!(s.keyed_devices_of(&[user("alice"), user("bob")]).await.unwrap(), vec![a2.clone()]);

    let listed = s.list_devices(&user("alice")).await.unwrap();
    assert_eq!(
        listed,
        vec![
            DeviceRecord {
                device_id: a1.device_id.clone(),
                name: Some("phone".into()),
                created_ts: 2,
                has_keys: false
            },
            DeviceRecord { device_id: a2.device_id.clone(), name: Some("phone".into()), created_ts: 2, has_keys: true },
        ]
    );
    assert!(s.list_devices(&user("nobody")).await.unwrap().is_empty());
}

pub(crate) async fn delete_device_removes_everything<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    let b1 = device(s, "bob", "B1").await;
    s.set_device_keys(&identity(&a1, "a1")).await.unwrap();
    s.add_one_time_keys(&a1, &[key("K1", "k1")], Some(&key("F", "f"))).await.unwrap();
    stored(s.deliver(direct("bob", 1, 10, &[(&a1, "ct-a1"), (&b1, "ct-b1")])).await.unwrap());
    stored(s.deliver(shared("bob", 2, 11, "G1", &[&a1, &b1])).await.unwrap());

    assert!(s.delete_device(&a1).await.unwrap());
    assert!(!s.delete_device(&a1).await.unwrap());
    assert!(!s.device_exists(&a1).await.unwrap());
    assert!(s.fetch(&a1, 0, 100).await.unwrap().is_empty());
    assert_eq!(s.device_keys(&a1).await.unwrap(), None);
    assert!(s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap().is_empty());
    assert_eq!(
        s.rotate_refresh_token(b"rt-alice-D1", b"rt-new", 20).await.unwrap(),
        RefreshOutcome::Unknown,
        "the device's refresh tokens must be gone"
    );
    // The other recipient still has both entries; the shared payload is still referenced by it.
    assert_eq!(seqs(s, &b1).await, vec![1, 2]);
    s.collect_garbage().await.unwrap();
    assert_eq!(s.shared_payload_rows().await.unwrap(), 1);
    s.ack(&b1, 2).await.unwrap();
    assert_eq!(s.collect_garbage().await.unwrap(), 1);
    assert_eq!(s.shared_payload_rows().await.unwrap(), 0);

    // The same id can be created again, empty.
    let again = device(s, "alice", "D1").await;
    assert_eq!(s.device_keys(&again).await.unwrap(), None);
    assert_eq!(s.key_counts(&again).await.unwrap(), KeyCounts { one_time_keys: 0, has_fallback: false });
}

pub(crate) async fn refresh_tokens<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    let b1 = device(s, "bob", "B1").await;
    let rotated = RefreshOutcome::Rotated(a1.clone());
    assert_eq!(s.rotate_refresh_token(b"never-issued", b"x", 3).await.unwrap(), RefreshOutcome::Unknown);
    assert_eq!(s.rotate_refresh_token(b"rt-alice-D1", b"t2", 3).await.unwrap(), rotated);
    // The answer carrying t2 was lost: the old token is taken once more, shortly after, and t2
    // (never used) is dropped.
    assert_eq!(s.rotate_refresh_token(b"rt-alice-D1", b"t2b", 4).await.unwrap(), rotated);
    assert_eq!(s.rotate_refresh_token(b"t2", b"x", 5).await.unwrap(), RefreshOutcome::Unknown);
    // Only once: presenting it a third time is a replay, which revokes every token of the
    // device (t2b included) and its access tokens, and keeps the device.
    let replayed = RefreshOutcome::Replayed { device: a1.clone(), tokens_since: 1 };
    assert_eq!(s.rotate_refresh_token(b"rt-alice-D1", b"t2c", 5).await.unwrap(), replayed);
    assert_eq!(s.rotate_refresh_token(b"t2b", b"y", 6).await.unwrap(), RefreshOutcome::Unknown);
    assert_eq!(s.rotate_refresh_token(b"t2c", b"y", 6).await.unwrap(), RefreshOutcome::Unknown);
    assert!(s.device_exists(&a1).await.unwrap());
    assert_eq!(s.token_revocations(0).await.unwrap(), vec![(a1.clone(), 1)]);
    assert!(s.token_revocations(1).await.unwrap().is_empty());

    // A token whose successor was used is no longer taken: that is a replay at once.
    s.reauthenticate_device(&a1, b"r1", 10_000, 11).await.unwrap();
    assert_eq!(s.rotate_refresh_token(b"r1", b"r2", 10_001).await.unwrap(), rotated);
    assert_eq!(s.rotate_refresh_token(b"r2", b"r3", 10_002).await.unwrap(), rotated);
    let replayed = RefreshOutcome::Replayed { device: a1.clone(), tokens_since: 11 };
    assert_eq!(s.rotate_refresh_token(b"r1", b"z", 10_003).await.unwrap(), replayed);
    // Nor after the grace window.
    s.reauthenticate_device(&a1, b"q1", 20_000, 21).await.unwrap();
    assert_eq!(s.rotate_refresh_token(b"q1", b"q2", 20_000).await.unwrap(), rotated);
    let late = 20_000 + REFRESH_GRACE_MS + 1;
    let replayed = RefreshOutcome::Replayed { device: a1.clone(), tokens_since: late / 1000 + 1 };
    assert_eq!(s.rotate_refresh_token(b"q1", b"q3", late).await.unwrap(), replayed);
    // Revocations only move forward.
    s.reauthenticate_device(&a1, b"p1", late + 1, 5).await.unwrap();
    assert_eq!(s.token_revocations(0).await.unwrap(), vec![(a1.clone(), late / 1000 + 1)]);
    // Other devices are untouched.
    assert_eq!(s.rotate_refresh_token(b"rt-bob-B1", b"b2", 7).await.unwrap(), RefreshOutcome::Rotated(b1));
}

pub(crate) async fn reauthentication<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    let b1 = device(s, "bob", "B1").await;
    s.set_device_keys(&identity(&a1, "a1")).await.unwrap();
    s.add_one_time_keys(&a1, &[key("K1", "k1"), key("K2", "k2")], Some(&key("F", "f"))).await.unwrap();
    s.add_one_time_keys(&b1, &[key("K1", "k1")], None).await.unwrap();
    stored(s.deliver(direct("bob", 1, 10, &[(&a1, "ct-a1")])).await.unwrap());
    assert_eq!(s.rotate_refresh_token(b"rt-alice-D1", b"t2", 3).await.unwrap(), RefreshOutcome::Rotated(a1.clone()));

    s.reauthenticate_device(&a1, b"restored", 4, 1).await.unwrap();
    // Every earlier token is gone (neither the current nor a spent one counts as a replay), and
    // the new one works.
    assert_eq!(s.rotate_refresh_token(b"t2", b"x", 5).await.unwrap(), RefreshOutcome::Unknown);
    assert_eq!(s.rotate_refresh_token(b"rt-alice-D1", b"x", 5).await.unwrap(), RefreshOutcome::Unknown);
    assert_eq!(s.rotate_refresh_token(b"restored", b"t3", 6).await.unwrap(), RefreshOutcome::Rotated(a1.clone()));
    // One-time keys are gone; identity keys, the fallback key and the inbox stay.
    assert_eq!(s.key_counts(&a1).await.unwrap(), KeyCounts { one_time_keys: 0, has_fallback: true });
    assert_eq!(s.device_keys(&a1).await.unwrap(), Some(identity(&a1, "a1")));
    assert_eq!(seqs(s, &a1).await, vec![1]);
    // Other devices are untouched; an unknown device is NotFound.
    assert_eq!(s.key_counts(&b1).await.unwrap().one_time_keys, 1);
    assert!(matches!(
        s.reauthenticate_device(&addr("alice", "NOPE"), b"y", 7, 1).await,
        Err(crate::store::StoreError::NotFound)
    ));
}

// ---- keys ----

pub(crate) async fn identity_keys<S: TestStore>(s: &S) {
    let missing = addr("alice", "NOPE");
    assert!(matches!(s.set_device_keys(&identity(&missing, "x")).await, Err(StoreError::NotFound)));
    let a1 = device(s, "alice", "D1").await;
    assert_eq!(s.device_keys(&a1).await.unwrap(), None);
    assert_eq!(s.set_device_keys(&identity(&a1, "one")).await.unwrap(), SetKeysOutcome::Stored);
    assert_eq!(s.set_device_keys(&identity(&a1, "one")).await.unwrap(), SetKeysOutcome::Unchanged);
    assert_eq!(s.set_device_keys(&identity(&a1, "two")).await.unwrap(), SetKeysOutcome::Conflict);
    let mut other_sig = identity(&a1, "one");
    other_sig.signature = "different".into();
    assert_eq!(s.set_device_keys(&other_sig).await.unwrap(), SetKeysOutcome::Conflict);
    assert_eq!(s.device_keys(&a1).await.unwrap(), Some(identity(&a1, "one")));
}

pub(crate) async fn identity_reset<S: TestStore>(s: &S) {
    assert!(matches!(s.replace_device_keys(&identity(&addr("alice", "NOPE"), "x")).await, Err(StoreError::NotFound)));
    let a1 = device(s, "alice", "D1").await;
    let a2 = device(s, "alice", "D2").await;
    for d in [&a1, &a2] {
        s.set_device_keys(&identity(d, "old")).await.unwrap();
        s.add_one_time_keys(d, &[key("K1", "k1"), key("K2", "k2")], Some(&key("F", "f"))).await.unwrap();
    }
    stored(s.deliver(direct("bob", 1, 10, &[(&a1, "ct-a1")])).await.unwrap());

    assert_eq!(s.replace_device_keys(&identity(&a1, "new")).await.unwrap(), ReplaceKeysOutcome::Replaced);
    assert_eq!(s.device_keys(&a1).await.unwrap(), Some(identity(&a1, "new")));
    // The old identity's one-time and fallback keys are gone: nobody can claim them any more.
    assert_eq!(s.key_counts(&a1).await.unwrap(), KeyCounts { one_time_keys: 0, has_fallback: false });
    assert!(s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap().is_empty());
    // The device, its refresh token and its inbox stay.
    assert!(s.device_exists(&a1).await.unwrap());
    assert_eq!(seqs(s, &a1).await, vec![1]);
    assert_eq!(s.rotate_refresh_token(b"rt-alice-D1", b"t2", 3).await.unwrap(), RefreshOutcome::Rotated(a1.clone()));
    // A retry with the same keys changes nothing: keys uploaded since stay.
    s.add_one_time_keys(&a1, &[key("N1", "n1")], None).await.unwrap();
    assert_eq!(s.replace_device_keys(&identity(&a1, "new")).await.unwrap(), ReplaceKeysOutcome::Unchanged);
    assert_eq!(s.key_counts(&a1).await.unwrap().one_time_keys, 1);
    // The other device is untouched.
    assert_eq!(s.device_keys(&a2).await.unwrap(), Some(identity(&a2, "old")));
    assert_eq!(s.key_counts(&a2).await.unwrap(), KeyCounts { one_time_keys: 2, has_fallback: true });
    // A device that never published keys gets its first ones.
    let a3 = device(s, "alice", "D3").await;
    assert_eq!(s.replace_device_keys(&identity(&a3, "first")).await.unwrap(), ReplaceKeysOutcome::Replaced);
    assert_eq!(s.keyed_devices_of(&[user("alice")]).await.unwrap(), vec![a1, a2, a3]);
}

pub(crate) async fn query_devices<S: TestStore>(s: &S) {
    let a2 = device(s, "alice", "D2").await;
    let a1 = device(s, "alice", "D1").await;
    let _unkeyed = device(s, "alice", "D3").await;
    let b1 = device(s, "bob", "B1").await;
    account(s, "carol").await;
    for d in [&a2, &a1, &b1] {
        s.set_device_keys(&identity(d, d.device_id.as_str())).await.unwrap();
    }
    let got =
        s.query_devices(&user("alice"), &[user("bob"), user("nobody"), user("carol"), user("alice")]).await.unwrap();
    assert_eq!(
        got,
        vec![
            listed("bob", vec![identity(&b1, "B1")]),
            listed("carol", vec![]),
            listed("alice", vec![identity(&a1, "D1"), identity(&a2, "D2")]),
        ]
    );
}

fn listed(user_id: &str, devices: Vec<DeviceKeys>) -> UserDevices {
    UserDevices { user_id: user(user_id), devices, identity: None, confirmations: vec![], verified_by_you: None }
}

fn user_identity(user_id: &str, master: &str) -> UserIdentity {
    UserIdentity {
        user_id: user(user_id),
        master_key: master.into(),
        self_signing_key: format!("ssk-{master}"),
        user_signing_key: format!("usk-{master}"),
        signature: format!("sig-{master}"),
    }
}

pub(crate) async fn identities_and_confirmations<S: TestStore>(s: &S) {
    assert!(matches!(s.set_identity(&user_identity("nobody", "M")).await, Err(StoreError::NotFound)));
    let a1 = device(s, "alice", "D1").await;
    let a2 = device(s, "alice", "D2").await;
    for d in [&a1, &a2] {
        s.set_device_keys(&identity(d, "old")).await.unwrap();
    }
    assert_eq!(s.identity(&user("alice")).await.unwrap(), None);
    // Nothing to confirm against a device without keys or one that does not exist.
    let a3 = device(s, "alice", "D3").await;
    assert!(!s.confirm_device(&a3, "ed-old", "c").await.unwrap());
    assert!(!s.confirm_device(&addr("alice", "NOPE"), "ed-old", "c").await.unwrap());

    assert_eq!(s.set_identity(&user_identity("alice", "M1")).await.unwrap(), SetKeysOutcome::Stored);
    assert_eq!(s.set_identity(&user_identity("alice", "M1")).await.unwrap(), SetKeysOutcome::Unchanged);
    // An identity never changes through this call.
    assert_eq!(s.set_identity(&user_identity("alice", "M2")).await.unwrap(), SetKeysOutcome::Conflict);
    assert_eq!(s.identity(&user("alice")).await.unwrap(), Some(user_identity("alice", "M1")));

    let ed = identity(&a1, "old").ed25519;
    // A confirmation is stored only for the keys it was checked against.
    assert!(!s.confirm_device(&a1, "some other key", "c1").await.unwrap());
    assert!(s.confirm_device(&a1, &ed, "c1").await.unwrap());
    let got = s.query_devices(&user("alice"), &[user("alice")]).await.unwrap();
    assert_eq!(got[0].identity, Some(user_identity("alice", "M1")));
    assert_eq!(
        got[0].confirmations,
        vec![DeviceConfirmation { device_id: a1.device_id.clone(), signature: "c1".into() }]
    );

    // A key reset drops the confirmation: it covered the old keys.
    s.replace_device_keys(&identity(&a1, "new")).await.unwrap();
    assert!(s.query_devices(&user("alice"), &[user("alice")]).await.unwrap()[0].confirmations.is_empty());
    // Starting over: the new identity replaces the old, and no device stays confirmed.
    assert!(s.confirm_device(&a2, &identity(&a2, "old").ed25519, "c2").await.unwrap());
    assert!(s.replace_identity(&user_identity("alice", "M3")).await.unwrap());
    assert!(!s.replace_identity(&user_identity("alice", "M3")).await.unwrap(), "a retry changes nothing");
    let got = s.query_devices(&user("alice"), &[user("alice")]).await.unwrap();
    assert_eq!(got[0].identity, Some(user_identity("alice", "M3")));
    assert!(got[0].confirmations.is_empty());
    assert!(matches!(s.replace_identity(&user_identity("nobody", "M")).await, Err(StoreError::NotFound)));
    // Signatures of other users are given back to their signer only.
    account(s, "bob").await;
    let signed = UserSignature { target: user("bob"), master_key: "MB".into(), signature: "sig".into() };
    s.set_user_signature(&user("alice"), &signed).await.unwrap();
    assert_eq!(s.query_devices(&user("alice"), &[user("bob")]).await.unwrap()[0].verified_by_you, Some(signed.clone()));
    assert_eq!(s.query_devices(&user("bob"), &[user("bob")]).await.unwrap()[0].verified_by_you, None);
    let resigned = UserSignature { master_key: "MB2".into(), ..signed };
    s.set_user_signature(&user("alice"), &resigned).await.unwrap();
    assert_eq!(s.query_devices(&user("alice"), &[user("bob")]).await.unwrap()[0].verified_by_you, Some(resigned));
    assert!(s.delete_user_signature(&user("alice"), &user("bob")).await.unwrap());
    assert!(!s.delete_user_signature(&user("alice"), &user("bob")).await.unwrap());
    assert_eq!(s.query_devices(&user("alice"), &[user("bob")]).await.unwrap()[0].verified_by_you, None);
    let nobody = UserSignature { target: user("nobody"), master_key: "M".into(), signature: "s".into() };
    assert!(matches!(s.set_user_signature(&user("alice"), &nobody).await, Err(StoreError::NotFound)));
    // Deleting a device deletes its confirmation with it.
    assert!(s.confirm_device(&a2, &identity(&a2, "old").ed25519, "c2").await.unwrap());
    assert!(s.delete_device(&a2).await.unwrap());
    assert!(s.query_devices(&user("alice"), &[user("alice")]).await.unwrap()[0].confirmations.is_empty());
}

pub(crate) async fn one_time_keys<S: TestStore>(s: &S) {
    let missing = addr("alice", "NOPE");
    assert!(matches!(s.add_one_time_keys(&missing, &[key("K1", "k1")], None).await, Err(StoreError::NotFound)));
    assert!(matches!(s.key_counts(&missing).await, Err(StoreError::NotFound)));
    let a1 = device(s, "alice", "D1").await;
    assert_eq!(s.key_counts(&a1).await.unwrap(), KeyCounts { one_time_keys: 0, has_fallback: false });

    let first = [key("K1", "k1"), key("K2", "k2")];
    assert_eq!(
        s.add_one_time_keys(&a1, &first, None).await.unwrap(),
        AddKeysOutcome::Stored(KeyCounts { one_time_keys: 2, has_fallback: false })
    );
    // An exact re-upload (a retry) is ignored; new keys are added; the fallback is stored.
    assert_eq!(
        s.add_one_time_keys(&a1, &[key("K2", "k2"), key("K3", "k3")], Some(&key("F1", "f1"))).await.unwrap(),
        AddKeysOutcome::Stored(KeyCounts { one_time_keys: 3, has_fallback: true })
    );
    // A known key id with another key: nothing of this upload is stored, not even the fallback.
    assert_eq!(
        s.add_one_time_keys(&a1, &[key("K4", "k4"), key("K1", "changed")], Some(&key("F2", "f2"))).await.unwrap(),
        AddKeysOutcome::Conflict
    );
    // Also a conflict: the same id twice in one upload with different keys.
    assert_eq!(
        s.add_one_time_keys(&a1, &[key("K5", "k5"), key("K5", "other")], None).await.unwrap(),
        AddKeysOutcome::Conflict
    );
    assert_eq!(s.key_counts(&a1).await.unwrap(), KeyCounts { one_time_keys: 3, has_fallback: true });
    let claimed = s.claim_keys(&[a1.clone(), a1.clone(), a1.clone(), a1.clone()], &[]).await.unwrap();
    assert_eq!(claimed.len(), 1, "one key per device, however often it is named");
    assert_eq!(claimed[0].key, key("K1", "k1"));
    // The fallback is replaced when a new one is given.
    s.add_one_time_keys(&a1, &[], Some(&key("F3", "f3"))).await.unwrap();
    s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap();
    s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap();
    let fallback = s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap();
    assert_eq!(fallback[0].key, key("F3", "f3"));
    assert!(fallback[0].fallback);
}

pub(crate) async fn claim_keys<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    let b1 = device(s, "bob", "B1").await;
    let bare = device(s, "bob", "B2").await;
    let ghost = addr("carol", "C1");
    s.add_one_time_keys(&a1, &[key("K3", "k3"), key("K1", "k1"), key("K2", "k2")], Some(&key("FA", "fa")))
        .await
        .unwrap();
    s.add_one_time_keys(&b1, &[], Some(&key("FB", "fb"))).await.unwrap();

    let got = s.claim_keys(&[ghost.clone(), a1.clone(), bare.clone(), b1.clone()], &[]).await.unwrap();
    assert_eq!(got.len(), 2, "devices with no key and unknown devices are left out: {got:?}");
    assert_eq!((got[0].user_id.clone(), got[0].device_id.clone()), (a1.user_id.clone(), a1.device_id.clone()));
    assert_eq!(got[0].key, key("K1", "k1"), "lowest key id first");
    assert!(!got[0].fallback);
    assert_eq!(got[1].device_id, b1.device_id);
    assert_eq!(got[1].key, key("FB", "fb"));
    assert!(got[1].fallback);

    assert_eq!(s.key_counts(&a1).await.unwrap(), KeyCounts { one_time_keys: 2, has_fallback: true });
    assert_eq!(s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap()[0].key.key_id.as_str(), "K2");
    assert_eq!(s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap()[0].key.key_id.as_str(), "K3");
    for _ in 0..2 {
        let fb = s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap();
        assert_eq!(fb[0].key, key("FA", "fa"));
        assert!(fb[0].fallback, "the fallback is handed out again and again");
    }
    assert_eq!(s.key_counts(&a1).await.unwrap(), KeyCounts { one_time_keys: 0, has_fallback: true });
}

/// An external token id is spent once; an expired one is forgotten and may come again.
pub(crate) async fn external_token_ids<S: TestStore>(s: &S) {
    assert!(s.spend_external_token_id("jti-1", 1_000, 500).await.unwrap());
    assert!(!s.spend_external_token_id("jti-1", 1_000, 600).await.unwrap(), "a second use is refused");
    assert!(s.spend_external_token_id("jti-2", 2_000, 600).await.unwrap());
    // Past jti-1's expiry it is gone (its token would be refused as expired anyway); jti-2 stays.
    assert!(s.spend_external_token_id("jti-1", 3_000, 1_001).await.unwrap());
    assert!(!s.spend_external_token_id("jti-2", 2_000, 1_002).await.unwrap());
}

/// A device named in `fallback_only` gets its fallback key and keeps its one-time keys.
pub(crate) async fn claims_limited_to_fallback<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    let b1 = device(s, "bob", "B1").await;
    s.add_one_time_keys(&a1, &[key("K1", "k1")], Some(&key("FA", "fa"))).await.unwrap();
    s.add_one_time_keys(&b1, &[key("K1", "kb")], Some(&key("FB", "fb"))).await.unwrap();
    let got = s.claim_keys(&[a1.clone(), b1.clone()], std::slice::from_ref(&a1)).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].key.clone(), got[0].fallback), (key("FA", "fa"), true));
    assert_eq!((got[1].key.clone(), got[1].fallback), (key("K1", "kb"), false));
    assert_eq!(s.key_counts(&a1).await.unwrap(), KeyCounts { one_time_keys: 1, has_fallback: true });
    assert_eq!(s.key_counts(&b1).await.unwrap(), KeyCounts { one_time_keys: 0, has_fallback: true });
}

/// 20 tasks claim the same device's keys at once: no one-time key is handed out twice.
pub(crate) async fn concurrent_claims<S: TestStore>(s: Arc<S>) {
    const KEYS: usize = 50;
    const TASKS: usize = 20;
    const CLAIMS_PER_TASK: usize = 3;
    let a1 = device(&*s, "alice", "D1").await;
    let keys: Vec<SignedKey> = (0..KEYS).map(|i| key(&format!("K{i:03}"), &format!("k{i}"))).collect();
    s.add_one_time_keys(&a1, &keys, Some(&key("FALLBACK", "f"))).await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (s, a1) = (Arc::clone(&s), a1.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..CLAIMS_PER_TASK {
                got.extend(s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap());
            }
            got
        }));
    }
    let mut one_time = HashSet::new();
    let mut fallbacks = 0;
    for task in tasks {
        for claimed in task.await.unwrap() {
            if claimed.fallback {
                assert_eq!(claimed.key.key_id.as_str(), "FALLBACK");
                fallbacks += 1;
            } else {
                assert!(one_time.insert(claimed.key.key_id.clone()), "{:?} handed out twice", claimed.key.key_id);
            }
        }
    }
    assert_eq!(one_time.len(), KEYS);
    assert_eq!(fallbacks, TASKS * CLAIMS_PER_TASK - KEYS);
    let last = s.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap();
    assert!(last[0].fallback);
}

// ---- inbox ----

/// A direct message either way, or a group, is a shared conversation; nothing else is.
pub(crate) async fn shared_conversations<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "A1").await;
    let b1 = device(s, "bob", "B1").await;
    let c1 = device(s, "carol", "C1").await;
    let d1 = device(s, "dave", "D1").await;
    let (alice, bob, carol, dave) = (&a1.user_id, &b1.user_id, &c1.user_id, &d1.user_id);
    assert!(!s.share_conversation(alice, bob).await.unwrap());
    stored(s.deliver(direct("alice", 1, 1000, &[(&b1, "ct")])).await.unwrap());
    assert!(s.share_conversation(alice, bob).await.unwrap());
    assert!(s.share_conversation(bob, alice).await.unwrap(), "either way");
    assert!(!s.share_conversation(alice, carol).await.unwrap());
    // A group message (a shared body) is not a direct message: carol is not bob's contact.
    stored(s.deliver(shared("carol", 2, 1001, "G1", &[&b1])).await.unwrap());
    assert!(!s.share_conversation(bob, carol).await.unwrap());
    // A group with both of them is.
    let g = group_info("G2", 1, &[("carol", Role::Owner), ("dave", Role::Member)]);
    s.create_group(&g, &log_entry(&g), membership_event(&g, MembershipChange::Created, 3, &[&c1, &d1])).await.unwrap();
    assert!(s.share_conversation(dave, carol).await.unwrap());
    assert!(!s.share_conversation(dave, alice).await.unwrap());
}

pub(crate) async fn deliver_and_fetch<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    let b1 = device(s, "bob", "B1").await;
    let ghost = addr("bob", "GONE");
    let got =
        stored(s.deliver(direct("carol", 1, 1000, &[(&a1, "ct-a1"), (&ghost, "ct-x"), (&b1, "ct-b1")])).await.unwrap());
    assert_eq!(got, vec![a1.clone(), b1.clone()], "devices that do not exist are skipped");

    let entries = s.fetch(&a1, 0, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!((e.seq, &e.message_id, e.sender_user.as_str(), e.server_ts), (1, &msg(1), "carol", 1000));
    assert_eq!(e.sender_device.as_ref().map(DeviceId::as_str), Some("SENDER"));
    assert_eq!(e.body, EntryBody::Direct { ciphertext: "ct-a1".into() });
    assert_eq!(s.fetch(&b1, 0, 10).await.unwrap()[0].body, EntryBody::Direct { ciphertext: "ct-b1".into() });

    let got = stored(s.deliver(shared("carol", 2, 1001, "G1", &[&a1, &b1])).await.unwrap());
    assert_eq!(got, vec![a1.clone(), b1.clone()]);
    let entries = s.fetch(&a1, 0, 10).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].seq, 2);
    assert_eq!(entries[1].sender_device, None);
    assert_eq!(
        entries[1].body,
        EntryBody::Group { group_id: GroupId::parse("G1").unwrap(), ciphertext: "group-ct-2".into() }
    );
    assert_eq!(s.shared_payload_rows().await.unwrap(), 1, "a shared body is stored once");

    // after and limit.
    assert_eq!(s.fetch(&a1, 1, 10).await.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
    assert_eq!(s.fetch(&a1, 0, 1).await.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1]);
    assert!(s.fetch(&a1, 2, 10).await.unwrap().is_empty());
    assert!(s.fetch(&a1, u64::MAX, 10).await.unwrap().is_empty());
    assert!(s.fetch(&ghost, 0, 10).await.unwrap().is_empty());

    // Nobody to deliver to: recorded as sent, nothing stored, no payload left behind.
    assert!(stored(s.deliver(shared("carol", 3, 1002, "G1", &[&ghost])).await.unwrap()).is_empty());
    assert_eq!(s.shared_payload_rows().await.unwrap(), 1);
}

pub(crate) async fn duplicate_delivery<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    stored(s.deliver(direct("bob", 1, 1000, &[(&a1, "first")])).await.unwrap());
    // Same sender and message id, other content and time: a duplicate, nothing stored.
    assert_eq!(
        s.deliver(direct("bob", 1, 2000, &[(&a1, "second")])).await.unwrap(),
        DeliveryOutcome::Duplicate { server_ts: 1000 }
    );
    assert_eq!(
        s.deliver(shared("bob", 1, 3000, "G1", &[&a1])).await.unwrap(),
        DeliveryOutcome::Duplicate { server_ts: 1000 }
    );
    let entries = s.fetch(&a1, 0, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].body, EntryBody::Direct { ciphertext: "first".into() });
    assert_eq!(s.shared_payload_rows().await.unwrap(), 0);
    // Another sender may use the same message id.
    stored(s.deliver(direct("carol", 1, 4000, &[(&a1, "carol's")])).await.unwrap());
    assert_eq!(seqs(s, &a1).await, vec![1, 2]);
}

pub(crate) async fn prune_sent_ids<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    stored(s.deliver(direct("bob", 1, 1000, &[(&a1, "old")])).await.unwrap());
    stored(s.deliver(direct("bob", 2, 5000, &[(&a1, "new")])).await.unwrap());
    let bob = UserId::parse("bob").unwrap();
    let first = direct("bob", 1, 0, &[]).message_id;
    assert_eq!(s.sent_at(&bob, &first).await.unwrap(), Some(1000));
    assert_eq!(s.sent_at(&UserId::parse("carol").unwrap(), &first).await.unwrap(), None);
    assert_eq!(s.prune_sent_ids(1000).await.unwrap(), 0, "only records strictly older are pruned");
    assert_eq!(s.prune_sent_ids(2000).await.unwrap(), 1);
    assert_eq!(s.sent_at(&bob, &first).await.unwrap(), None);
    // A resend of the pruned id is a new message; the other is still a duplicate.
    stored(s.deliver(direct("bob", 1, 6000, &[(&a1, "again")])).await.unwrap());
    assert_eq!(
        s.deliver(direct("bob", 2, 6000, &[(&a1, "again")])).await.unwrap(),
        DeliveryOutcome::Duplicate { server_ts: 5000 }
    );
    assert_eq!(s.prune_sent_ids(u64::MAX).await.unwrap(), 2);
}

pub(crate) async fn ack_and_sequence<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    let b1 = device(s, "bob", "B1").await;
    for n in 1..=4 {
        stored(s.deliver(direct("bob", n, 1000, &[(&a1, "ct")])).await.unwrap());
    }
    assert_eq!(seqs(s, &a1).await, vec![1, 2, 3, 4]);
    assert_eq!(s.ack(&a1, 2).await.unwrap(), 2);
    assert_eq!(seqs(s, &a1).await, vec![3, 4], "only entries <= up_to are deleted");
    assert_eq!(s.ack(&a1, 2).await.unwrap(), 0, "acking again is harmless");
    // Acking everything (and beyond) never makes a seq come back.
    assert_eq!(s.ack(&a1, 1_000).await.unwrap(), 2);
    assert!(seqs(s, &a1).await.is_empty());
    // The outcome reports the seq each device got (the relay pushes entries by it).
    match s.deliver(direct("bob", 5, 1000, &[(&a1, "ct"), (&b1, "ct")])).await.unwrap() {
        DeliveryOutcome::Stored { recipients } => assert_eq!(recipients, vec![(a1.clone(), 5), (b1.clone(), 1)]),
        other => panic!("expected Stored, got {other:?}"),
    }
    assert_eq!(seqs(s, &a1).await, vec![5]);
    assert_eq!(seqs(s, &b1).await, vec![1], "each device has its own sequence");
    assert_eq!(s.ack(&a1, u64::MAX).await.unwrap(), 1);
    assert_eq!(seqs(s, &b1).await, vec![1], "an ack touches only its own device");
    // Several devices at once.
    stored(s.deliver(direct("bob", 6, 1000, &[(&a1, "ct"), (&b1, "ct")])).await.unwrap());
    stored(s.deliver(direct("bob", 7, 1000, &[(&a1, "ct"), (&b1, "ct")])).await.unwrap());
    assert_eq!(s.ack_many(&[(a1.clone(), 6), (b1.clone(), 3)]).await.unwrap(), 4);
    assert_eq!(seqs(s, &a1).await, vec![7]);
    assert!(seqs(s, &b1).await.is_empty());
}

/// Direct messages stored as one batch by `together` (each backend's batch, called by the
/// backend's own test): messages to one device are numbered in the order they came; a repeat
/// inside the batch, and one stored before, are duplicates with the first one's time; a message
/// whose recipients are all gone is stored with none; senders are recorded as contacts.
pub(crate) async fn direct_batch_keeps_order_and_idempotency<S: TestStore>(
    store: &S,
    together: impl AsyncFnOnce(&[&Delivery]) -> Vec<DeliveryOutcome>,
) {
    let a1 = device(store, "alice", "A1").await;
    let b1 = device(store, "bob", "B1").await;
    store.deliver(direct("carol", 1, 100, &[(&a1, "earlier")])).await.unwrap();
    let gone = addr("nobody", "N1");
    let batch = [
        direct("carol", 2, 200, &[(&a1, "c2"), (&b1, "c2")]),
        direct("carol", 1, 201, &[(&a1, "again")]),
        direct("dave", 1, 202, &[(&a1, "d1")]),
        direct("carol", 2, 203, &[(&a1, "repeat in the batch")]),
        direct("erin", 1, 204, &[(&gone, "to nobody")]),
        direct("carol", 3, 205, &[(&a1, "c3"), (&a1, "the same device twice")]),
    ];
    let all: Vec<&Delivery> = batch.iter().collect();
    let outcomes = together(&all).await;
    assert_eq!(outcomes.len(), batch.len());
    let seqs = |o: &DeliveryOutcome| -> Vec<(String, u64)> {
        match o {
            DeliveryOutcome::Stored { recipients } => {
                recipients.iter().map(|(d, s)| (d.user_id.to_string(), *s)).collect()
            }
            DeliveryOutcome::Duplicate { .. } => Vec::new(),
        }
    };
    assert_eq!(seqs(&outcomes[0]), [("alice".to_owned(), 2), ("bob".to_owned(), 1)]);
    assert!(matches!(outcomes[1], DeliveryOutcome::Duplicate { server_ts: 100 }));
    assert_eq!(seqs(&outcomes[2]), [("alice".to_owned(), 3)]);
    assert!(matches!(outcomes[3], DeliveryOutcome::Duplicate { server_ts: 200 }));
    assert!(matches!(&outcomes[4], DeliveryOutcome::Stored { recipients } if recipients.is_empty()));
    assert_eq!(seqs(&outcomes[5]), [("alice".to_owned(), 4)]);
    let texts: Vec<String> = store
        .fetch(&a1, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| match e.body {
            EntryBody::Direct { ciphertext } => ciphertext,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, ["earlier", "c2", "d1", "c3"]);
    assert!(store.share_conversation(&user("dave"), &user("alice")).await.unwrap());
    assert!(!store.share_conversation(&user("erin"), &user("nobody")).await.unwrap());
    // The counters moved by exactly what was stored.
    let DeliveryOutcome::Stored { recipients } =
        store.deliver(direct("carol", 4, 300, &[(&a1, "c4"), (&b1, "c4")])).await.unwrap()
    else {
        panic!("stored")
    };
    assert_eq!(recipients.iter().map(|(_, seq)| *seq).collect::<Vec<_>>(), [5, 2]);
}

/// A batch with one message that cannot be stored (a time past what the database holds), stored
/// by `together` (each backend's batch): only that message fails, the others are stored.
pub(crate) async fn one_bad_message_in_a_batch_fails_only_itself<S: TestStore>(
    store: &S,
    together: impl AsyncFnOnce(Vec<Delivery>) -> Vec<StoreResult<DeliveryOutcome>>,
) {
    let a1 = device(store, "alice", "A1").await;
    let batch = [(1, 100), (2, u64::MAX), (3, 300)].map(|(n, ts)| direct("carol", n, ts, &[(&a1, "x")]));
    let results = together(batch.to_vec()).await;
    assert_eq!(results.len(), 3);
    assert!(matches!(results[0], Ok(DeliveryOutcome::Stored { .. })), "{:?}", results[0]);
    assert!(results[1].is_err(), "{:?}", results[1]);
    assert!(matches!(results[2], Ok(DeliveryOutcome::Stored { .. })), "{:?}", results[2]);
    let seqs: Vec<u64> = store.fetch(&a1, 0, 10).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2]);
    // The failed one left no idempotency record: it can be sent again once fixed.
    assert!(matches!(
        store.deliver(direct("carol", 2, 400, &[(&a1, "x")])).await.unwrap(),
        DeliveryOutcome::Stored { .. }
    ));
}

/// Many concurrent deliveries to one device get distinct, gapless, increasing seqs.
pub(crate) async fn concurrent_deliveries<S: TestStore>(s: Arc<S>) {
    let a1 = device(&*s, "alice", "D1").await;
    let mut tasks = Vec::new();
    for n in 0..50 {
        let (s, a1) = (Arc::clone(&s), a1.clone());
        tasks.push(tokio::spawn(async move { s.deliver(direct("bob", n, 1000, &[(&a1, "ct")])).await }));
    }
    for task in tasks {
        stored(task.await.unwrap().unwrap());
    }
    let entries = s.fetch(&a1, 0, 100).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=50).collect::<Vec<_>>());
    let ids: HashSet<_> = entries.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(ids.len(), 50);
}

/// Deliveries (direct and shared) to devices that are being deleted at the same time all
/// succeed: a deleted device is left out, never an error (a deadlock between a delivery's locks
/// and a deletion's would surface here as one), and the devices that stay get gapless seqs.
pub(crate) async fn deliveries_racing_device_deletions<S: TestStore>(s: Arc<S>) {
    let mut doomed = Vec::new();
    for d in 0..8 {
        doomed.push(device(&*s, "alice", &format!("GONE{d}")).await);
    }
    let kept = device(&*s, "bob", "KEPT").await;
    let mut everyone = doomed.clone();
    everyone.push(kept.clone());
    let mut tasks = Vec::new();
    for sender in ["carol", "dave", "erin"] {
        let (s, everyone) = (Arc::clone(&s), everyone.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..30 {
                // The devices in a different order each time.
                let mut to = everyone.clone();
                let turn = n as usize % to.len();
                to.rotate_left(turn);
                let delivery = if n % 3 == 0 {
                    shared(sender, n, 1000, "G1", &to.iter().collect::<Vec<_>>())
                } else {
                    direct(sender, n, 1000, &to.iter().map(|d| (d, "ct")).collect::<Vec<_>>())
                };
                s.deliver(delivery).await.map_err(|e| format!("{sender} {n}: {e}"))?;
            }
            Ok::<(), String>(())
        }));
    }
    for d in &doomed {
        assert!(s.delete_device(d).await.unwrap());
        tokio::task::yield_now().await;
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(seqs(&*s, &kept).await, (1..=90).collect::<Vec<u64>>());
    for d in &doomed {
        assert!(s.fetch(d, 0, 100).await.unwrap().is_empty(), "a deleted device kept entries");
    }
}

pub(crate) async fn shared_payloads_are_collected<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "D1").await;
    let a2 = device(s, "alice", "D2").await;
    let b1 = device(s, "bob", "B1").await;
    stored(s.deliver(shared("carol", 1, 1000, "G1", &[&a1, &a2, &b1, &a1])).await.unwrap());
    stored(s.deliver(shared("carol", 2, 1001, "G1", &[&a1, &b1])).await.unwrap());
    stored(s.deliver(direct("carol", 3, 1002, &[(&a1, "ct")])).await.unwrap());
    assert_eq!(s.shared_payload_rows().await.unwrap(), 2);
    assert_eq!(seqs(s, &a1).await, vec![1, 2, 3], "a repeated recipient gets one entry");

    assert_eq!(s.ack(&a1, 3).await.unwrap(), 3);
    assert_eq!(s.ack(&a2, 1).await.unwrap(), 1);
    assert_eq!(s.collect_garbage().await.unwrap(), 0);
    assert_eq!(s.shared_payload_rows().await.unwrap(), 2, "b1 still references both");
    assert_eq!(s.ack(&b1, 1).await.unwrap(), 1);
    // Acks never delete a payload themselves; collection does, once nobody references it.
    assert_eq!(s.shared_payload_rows().await.unwrap(), 2);
    assert_eq!(s.collect_garbage().await.unwrap(), 1);
    assert_eq!(s.shared_payload_rows().await.unwrap(), 1, "message 1 is acked by every recipient");
    assert_eq!(
        s.fetch(&b1, 0, 10).await.unwrap()[0].body,
        EntryBody::Group { group_id: GroupId::parse("G1").unwrap(), ciphertext: "group-ct-2".into() }
    );
    assert_eq!(s.ack(&b1, 2).await.unwrap(), 1);
    assert_eq!(s.collect_garbage().await.unwrap(), 1);
    assert_eq!(s.shared_payload_rows().await.unwrap(), 0);
    assert_eq!(s.collect_garbage().await.unwrap(), 0, "nothing acked since: nothing to do");
}

// ---- groups ----

pub(crate) async fn groups<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "A1").await;
    let a2 = device(s, "alice", "A2").await;
    let b1 = device(s, "bob", "B1").await;
    let c1 = device(s, "carol", "C1").await;
    let g1 = GroupId::parse("G1").unwrap();

    // Members given unsorted: they come back sorted by user id.
    let v1 = group_info("G1", 1, &[("bob", Role::Member), ("alice", Role::Owner)]);
    s.create_group(&v1, &log_entry(&v1), membership_event(&v1, MembershipChange::Created, 1, &[&a1, &a2, &b1]))
        .await
        .unwrap();
    let mut sorted = v1.clone();
    sorted.members.sort_by(|x, y| x.user_id.cmp(&y.user_id));
    assert_eq!(s.group(&g1).await.unwrap(), Some(sorted.clone()));
    let created = s.fetch(&b1, 0, 10).await.unwrap();
    assert!(matches!(
        &created[0].body,
        EntryBody::Membership(e) if e.change == MembershipChange::Created && e.signed == Some(signed_change("G1", 1))
    ));

    let again = group_info("G1", 1, &[("carol", Role::Owner)]);
    assert!(matches!(
        s.create_group(&again, &log_entry(&again), membership_event(&again, MembershipChange::Created, 2, &[&c1]))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    assert!(s.fetch(&c1, 0, 10).await.unwrap().is_empty(), "a refused change delivers nothing");

    let v0 = group_info("G0", 1, &[("bob", Role::Owner)]);
    s.create_group(&v0, &log_entry(&v0), membership_event(&v0, MembershipChange::Created, 3, &[&b1])).await.unwrap();
    let of_bob: Vec<_> = s.groups_of(&user("bob")).await.unwrap().into_iter().map(|g| g.group_id).collect();
    assert_eq!(of_bob, vec![GroupId::parse("G0").unwrap(), g1.clone()]);
    assert_eq!(s.groups_of(&user("alice")).await.unwrap(), vec![sorted]);
    assert!(s.groups_of(&user("carol")).await.unwrap().is_empty());

    assert_eq!(s.role(&g1, &user("alice")).await.unwrap(), Some(Role::Owner));
    assert_eq!(s.role(&g1, &user("bob")).await.unwrap(), Some(Role::Member));
    assert_eq!(s.role(&g1, &user("carol")).await.unwrap(), None);
    assert_eq!(s.role(&GroupId::parse("NOPE").unwrap(), &user("alice")).await.unwrap(), None);
    assert_eq!(s.member_devices(&g1).await.unwrap(), vec![a1.clone(), a2.clone(), b1.clone()]);
    assert!(s.member_devices(&GroupId::parse("NOPE").unwrap()).await.unwrap().is_empty());

    // Update: bob leaves, carol joins as admin.
    let v2 = group_info("G1", 2, &[("carol", Role::Admin), ("alice", Role::Owner)]);
    let stale = group_info("G1", 2, &[("alice", Role::Owner)]);
    assert!(matches!(
        s.update_group(0, &stale, &log_entry(&stale), membership_event(&stale, MembershipChange::Removed, 4, &[&c1]))
            .await,
        Err(StoreError::VersionConflict { current: 1 })
    ));
    let gone = group_info("GONE", 2, &[("alice", Role::Owner)]);
    assert!(matches!(
        s.update_group(1, &gone, &log_entry(&gone), membership_event(&gone, MembershipChange::Added, 5, &[&c1])).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.fetch(&c1, 0, 10).await.unwrap().is_empty(), "refused updates deliver nothing");
    s.update_group(1, &v2, &log_entry(&v2), membership_event(&v2, MembershipChange::Added, 6, &[&a1, &a2, &b1, &c1]))
        .await
        .unwrap();
    let got = s.group(&g1).await.unwrap().unwrap();
    assert_eq!((got.version, got.name.as_str(), got.created_ts), (2, "group G1 v2", 10));
    assert_eq!(
        got.members,
        vec![
            GroupMember { user_id: user("alice"), role: Role::Owner },
            GroupMember { user_id: user("carol"), role: Role::Admin },
        ]
    );
    assert_eq!(s.role(&g1, &user("bob")).await.unwrap(), None);
    assert_eq!(s.member_devices(&g1).await.unwrap(), vec![a1.clone(), a2.clone(), c1.clone()]);
    assert_eq!(s.fetch(&c1, 0, 10).await.unwrap().len(), 1);
    assert_eq!(seqs(s, &b1).await, vec![1, 2, 3], "the removed member is told too");

    // Dismiss.
    assert!(matches!(
        s.dismiss_group(&g1, 1, membership_event(&v2, MembershipChange::Dismissed, 7, &[&a1])).await,
        Err(StoreError::VersionConflict { current: 2 })
    ));
    assert!(matches!(
        s.dismiss_group(
            &GroupId::parse("NOPE").unwrap(),
            1,
            membership_event(&v2, MembershipChange::Dismissed, 8, &[&a1])
        )
        .await,
        Err(StoreError::NotFound)
    ));
    s.dismiss_group(&g1, 2, membership_event(&v2, MembershipChange::Dismissed, 9, &[&a1, &a2, &c1])).await.unwrap();
    assert_eq!(s.group(&g1).await.unwrap(), None);
    assert_eq!(s.role(&g1, &user("alice")).await.unwrap(), None);
    assert!(s.groups_of(&user("alice")).await.unwrap().is_empty());
    assert!(s.member_devices(&g1).await.unwrap().is_empty());
    let last = s.fetch(&c1, 0, 10).await.unwrap();
    assert!(matches!(&last.last().unwrap().body, EntryBody::Membership(e) if e.change == MembershipChange::Dismissed));
    assert!(matches!(
        s.update_group(2, &v2, &log_entry(&v2), membership_event(&v2, MembershipChange::Added, 10, &[&a1])).await,
        Err(StoreError::NotFound)
    ));
}

/// The log: entries in order, paged by `after` and `limit`, one per group, only what a completed
/// write appended, and gone with its group.
pub(crate) async fn group_log<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "A1").await;
    device(s, "bob", "B1").await;
    let g = GroupId::parse("GL").unwrap();
    let nope = GroupId::parse("NOPE").unwrap();
    assert_eq!(s.log_head(&nope).await.unwrap(), None);
    assert!(s.group_log(&nope, 0, 10).await.unwrap().is_empty());

    let v1 = group_info("GL", 1, &[("alice", Role::Owner)]);
    s.create_group(&v1, &log_entry(&v1), membership_event(&v1, MembershipChange::Created, 1, &[&a1])).await.unwrap();
    assert_eq!(s.log_head(&g).await.unwrap(), Some((1, "hash-GL-1".into())));
    let other = group_info("GM", 1, &[("bob", Role::Owner)]);
    s.create_group(&other, &log_entry(&other), membership_event(&other, MembershipChange::Created, 2, &[]))
        .await
        .unwrap();
    let members = [("alice", Role::Owner), ("bob", Role::Member)];
    for version in 2..=4 {
        let next = group_info("GL", version, &members);
        let event = membership_event(&next, MembershipChange::Added, 10 + version as u32, &[&a1]);
        s.update_group(version - 1, &next, &log_entry(&next), event).await.unwrap();
    }
    let entries = |seqs: std::ops::RangeInclusive<u64>| seqs.map(|n| signed_change("GL", n)).collect::<Vec<_>>();
    assert_eq!(s.group_log(&g, 0, 100).await.unwrap(), entries(1..=4));
    assert_eq!(s.group_log(&g, 2, 100).await.unwrap(), entries(3..=4));
    assert_eq!(s.group_log(&g, 0, 2).await.unwrap(), entries(1..=2));
    assert_eq!(s.group_log(&g, 1, 1).await.unwrap(), entries(2..=2));
    assert!(s.group_log(&g, 4, 100).await.unwrap().is_empty());
    assert_eq!(s.log_head(&g).await.unwrap(), Some((4, "hash-GL-4".into())));
    assert_eq!(s.group_log(&GroupId::parse("GM").unwrap(), 0, 100).await.unwrap(), [signed_change("GM", 1)]);

    // Failed updates append nothing and change nothing: a stale version, a member who is not an
    // account, an entry at a seq the log already holds (a caller's bug, failing on the log
    // itself after the group was written).
    let v5 = group_info("GL", 5, &[("alice", Role::Owner)]);
    let event = |n| membership_event(&v5, MembershipChange::Removed, n, &[&a1]);
    assert!(matches!(
        s.update_group(3, &v5, &log_entry(&v5), event(20)).await,
        Err(StoreError::VersionConflict { current: 4 })
    ));
    let stranger = group_info("GL", 5, &[("alice", Role::Owner), ("nobody", Role::Member)]);
    assert!(s.update_group(4, &stranger, &log_entry(&stranger), event(21)).await.is_err());
    let taken = LogEntry { seq: 2, ..log_entry(&v5) };
    assert!(s.update_group(4, &v5, &taken, event(22)).await.is_err());
    assert_eq!(s.group(&g).await.unwrap(), Some(group_info("GL", 4, &members)));
    assert_eq!(s.log_head(&g).await.unwrap(), Some((4, "hash-GL-4".into())));
    assert_eq!(s.group_log(&g, 0, 100).await.unwrap(), entries(1..=4));
    assert_eq!(s.fetch(&a1, 0, 100).await.unwrap().len(), 4, "a failed update delivers nothing");

    // Dismissed: the log goes with the group, and a new group of that id starts a new one.
    s.dismiss_group(&g, 4, membership_event(&v5, MembershipChange::Dismissed, 23, &[&a1])).await.unwrap();
    assert_eq!(s.log_head(&g).await.unwrap(), None);
    assert!(s.group_log(&g, 0, 100).await.unwrap().is_empty());
    let again = GroupInfo { name: "again".into(), ..v1 };
    s.create_group(&again, &log_entry(&again), membership_event(&again, MembershipChange::Created, 24, &[]))
        .await
        .unwrap();
    assert_eq!(s.group_log(&g, 0, 100).await.unwrap(), entries(1..=1));
    assert_eq!(s.group_log(&GroupId::parse("GM").unwrap(), 0, 100).await.unwrap(), [signed_change("GM", 1)]);
}

// ---- backup ----

pub(crate) async fn backups<S: TestStore>(s: &S) {
    account(s, "alice").await;
    account(s, "bob").await;
    let alice = user("alice");
    assert_eq!(s.get_backup(&alice).await.unwrap(), None);
    assert!(matches!(s.put_backup(&alice, 1, b"x").await, Err(StoreError::VersionConflict { current: 0 })));
    assert_eq!(s.put_backup(&alice, 0, b"first").await.unwrap(), 1);
    assert!(matches!(s.put_backup(&alice, 0, b"lost").await, Err(StoreError::VersionConflict { current: 1 })));
    assert_eq!(s.put_backup(&alice, 1, b"second").await.unwrap(), 2);
    assert_eq!(s.get_backup(&alice).await.unwrap(), Some((2, b"second".to_vec())));
    assert_eq!(s.get_backup(&user("bob")).await.unwrap(), None);
    assert_eq!(s.put_backup(&user("bob"), 0, &[0u8, 255, 1]).await.unwrap(), 1);
    assert_eq!(s.get_backup(&user("bob")).await.unwrap(), Some((1, vec![0u8, 255, 1])));
}

// ---- profiles ----

pub(crate) async fn profiles<S: TestStore>(s: &S) {
    account(s, "alice").await;
    let alice = user("alice");
    assert_eq!(s.get_profile(&alice).await.unwrap(), None);
    s.put_profile(&alice, b"sealed one", 1).await.unwrap();
    s.put_profile(&alice, b"sealed two", 2).await.unwrap();
    assert_eq!(s.get_profile(&alice).await.unwrap(), Some(b"sealed two".to_vec()));
    assert_eq!(s.get_profile(&user("bob")).await.unwrap(), None);
}

// ---- blobs ----

fn blob_record(id: &str, uploader: &str, size: u64, expires_ms: u64) -> BlobRecord {
    BlobRecord {
        blob_id: sotto_proto::BlobId::parse(format!("{id:A<22}")).unwrap(),
        uploader: user(uploader),
        size,
        committed: 0,
        complete: false,
        created_ms: 10,
        completed_ms: None,
        expires_ms,
    }
}

pub(crate) async fn blob_index<S: TestStore>(s: &S) {
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let one = blob_record("one", "alice", 100, 1_000);
    assert_eq!(
        s.create_blob(&one, &[bob.clone(), bob.clone(), alice.clone()], 250).await.unwrap(),
        CreateBlobOutcome::Created
    );
    // The quota counts every blob of the uploader, incomplete ones included, and only theirs.
    let two = blob_record("two", "alice", 151, 2_000);
    assert_eq!(s.create_blob(&two, &[], 250).await.unwrap(), CreateBlobOutcome::QuotaExceeded { used: 100 });
    assert_eq!(s.blob(&two.blob_id).await.unwrap(), None, "nothing stored when refused");
    let two = blob_record("two", "alice", 150, 2_000);
    assert_eq!(s.create_blob(&two, &[], 250).await.unwrap(), CreateBlobOutcome::Created);
    let bobs = blob_record("bobs", "bob", 250, 3_000);
    assert_eq!(s.create_blob(&bobs, &[], 250).await.unwrap(), CreateBlobOutcome::Created);

    // The uploader and the readers see it; nobody else does.
    assert_eq!(s.blob_for(&one.blob_id, &alice).await.unwrap(), Some(one.clone()));
    assert_eq!(s.blob_for(&one.blob_id, &bob).await.unwrap(), Some(one.clone()));
    assert_eq!(s.blob_for(&one.blob_id, &carol).await.unwrap(), None);
    assert_eq!(s.blob_for(&two.blob_id, &bob).await.unwrap(), None);

    // The committed offset moves only from where it is, forward, up to the size.
    assert!(s.advance_blob(&one.blob_id, 0, 60).await.unwrap());
    assert!(!s.advance_blob(&one.blob_id, 0, 70).await.unwrap(), "not from a stale offset");
    assert!(!s.advance_blob(&one.blob_id, 60, 101).await.unwrap(), "not past the size");
    assert!(!s.complete_blob(&one.blob_id, 50, 5_000).await.unwrap(), "not before every byte is there");
    assert!(s.advance_blob(&one.blob_id, 60, 100).await.unwrap());
    assert!(s.complete_blob(&one.blob_id, 50, 5_000).await.unwrap());
    assert!(s.complete_blob(&one.blob_id, 60, 9_000).await.unwrap(), "completing again is fine...");
    let done = s.blob(&one.blob_id).await.unwrap().unwrap();
    assert_eq!(
        (done.committed, done.complete, done.completed_ms, done.expires_ms),
        (100, true, Some(50), 5_000),
        "...and changes nothing"
    );
    assert!(!s.advance_blob(&one.blob_id, 100, 100).await.unwrap(), "a complete blob takes no parts");

    // Expiry: by `expires_ms`, oldest first, at most `limit`.
    assert_eq!(s.expired_blobs(999, 10).await.unwrap(), vec![]);
    assert_eq!(s.expired_blobs(3_000, 10).await.unwrap(), vec![two.blob_id.clone(), bobs.blob_id.clone()]);
    assert_eq!(s.expired_blobs(10_000, 1).await.unwrap(), vec![two.blob_id.clone()]);
    assert!(s.delete_blob(&two.blob_id).await.unwrap());
    assert!(!s.delete_blob(&two.blob_id).await.unwrap());
    assert_eq!(s.expired_blobs(10_000, 10).await.unwrap(), vec![bobs.blob_id.clone(), one.blob_id.clone()]);
    // Deleting frees the quota.
    let three = blob_record("three", "alice", 150, 2_000);
    assert_eq!(s.create_blob(&three, &[], 250).await.unwrap(), CreateBlobOutcome::Created);
    // Readers go with their blob.
    assert!(s.delete_blob(&one.blob_id).await.unwrap());
    assert!(s.create_blob(&one, &[], 1_000).await.is_ok(), "the id is free again, without old readers");
    assert_eq!(s.blob_for(&one.blob_id, &bob).await.unwrap(), None);
}

// ---- group history ----

fn history_seqs(messages: &[sotto_proto::GroupHistoryMessage]) -> Vec<String> {
    messages.iter().map(|m| m.message_id.to_string()).collect()
}

pub(crate) async fn group_history<S: TestStore>(s: &S) {
    let a1 = device(s, "alice", "A1").await;
    let b1 = device(s, "bob", "B1").await;
    let c1 = device(s, "carol", "C1").await;
    let g = GroupId::parse("GH").unwrap();
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));

    let v1 = group_info("GH", 1, &[("alice", Role::Owner), ("bob", Role::Member)]);
    s.create_group(&v1, &log_entry(&v1), membership_event(&v1, MembershipChange::Created, 1, &[&a1, &b1]))
        .await
        .unwrap();
    // Alice alone on her device: nobody else receives it now, but it is kept for her history.
    s.deliver(shared("alice", 10, 1000, "GH", &[])).await.unwrap();
    s.deliver(shared("bob", 11, 1001, "GH", &[&a1])).await.unwrap();
    // A membership event is not a group message: not in the history.
    let v2 = group_info("GH", 2, &[("alice", Role::Owner), ("bob", Role::Member), ("carol", Role::Member)]);
    s.update_group(1, &v2, &log_entry(&v2), membership_event(&v2, MembershipChange::Added, 2, &[&a1, &b1, &c1]))
        .await
        .unwrap();
    s.deliver(shared("alice", 12, 1002, "GH", &[&b1, &c1])).await.unwrap();
    // Bob is removed; what follows is not his.
    let v3 = group_info("GH", 3, &[("alice", Role::Owner), ("carol", Role::Member)]);
    s.update_group(2, &v3, &log_entry(&v3), membership_event(&v3, MembershipChange::Removed, 3, &[&a1, &b1, &c1]))
        .await
        .unwrap();
    s.deliver(shared("carol", 13, 1003, "GH", &[&a1])).await.unwrap();
    // Bob is added back: from here on he reads again.
    let v4 = v2.clone();
    let v4 = GroupInfo { version: 4, ..v4 };
    s.update_group(3, &v4, &log_entry(&v4), membership_event(&v4, MembershipChange::Added, 4, &[&a1, &b1, &c1]))
        .await
        .unwrap();
    s.deliver(shared("carol", 14, 1004, "GH", &[&a1, &b1])).await.unwrap();

    let all = s.group_history(&g, &alice, u64::MAX, 100).await.unwrap();
    assert_eq!(history_seqs(&all), ["msg-00000014", "msg-00000013", "msg-00000012", "msg-00000011", "msg-00000010"]);
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), [5, 4, 3, 2, 1]);
    assert_eq!(all[4].ciphertext, "group-ct-10");
    assert_eq!(all[4].server_ts, 1000);
    assert_eq!(
        history_seqs(&s.group_history(&g, &bob, u64::MAX, 100).await.unwrap()),
        ["msg-00000014", "msg-00000012", "msg-00000011", "msg-00000010"],
        "nothing from while bob was removed"
    );
    assert_eq!(
        history_seqs(&s.group_history(&g, &carol, u64::MAX, 100).await.unwrap()),
        ["msg-00000014", "msg-00000013", "msg-00000012"],
        "nothing from before carol joined"
    );
    // Paging: newest first, `before` excludes.
    let page = s.group_history(&g, &bob, u64::MAX, 2).await.unwrap();
    assert_eq!(history_seqs(&page), ["msg-00000014", "msg-00000012"]);
    let next = s.group_history(&g, &bob, page[1].seq, 2).await.unwrap();
    assert_eq!(history_seqs(&next), ["msg-00000011", "msg-00000010"]);
    assert!(s.group_history(&g, &bob, 1, 10).await.unwrap().is_empty());
    assert!(s.group_history(&g, &user("dave"), u64::MAX, 10).await.unwrap().is_empty());

    // Every recipient acks: the bodies stay for the history.
    for d in [&a1, &b1, &c1] {
        s.ack(d, 1000).await.unwrap();
    }
    s.collect_garbage().await.unwrap();
    assert_eq!(s.group_history(&g, &alice, u64::MAX, 100).await.unwrap().len(), 5);
    assert_eq!(s.shared_payload_rows().await.unwrap(), 5, "membership events were collected, messages kept");

    // Retention: the two oldest go, and their bodies with them.
    assert_eq!(s.prune_group_history(1002).await.unwrap(), 2);
    assert_eq!(
        history_seqs(&s.group_history(&g, &bob, u64::MAX, 100).await.unwrap()),
        ["msg-00000014", "msg-00000012"]
    );
    s.collect_garbage().await.unwrap();
    assert_eq!(s.shared_payload_rows().await.unwrap(), 3);

    // Dismissal deletes the rest.
    s.dismiss_group(&g, 4, membership_event(&v4, MembershipChange::Dismissed, 5, &[&a1])).await.unwrap();
    assert!(s.group_history(&g, &alice, u64::MAX, 100).await.unwrap().is_empty());
    s.ack(&a1, 1000).await.unwrap();
    s.collect_garbage().await.unwrap();
    assert_eq!(s.shared_payload_rows().await.unwrap(), 0);
}

// ---- the device cache in front of a store ----

/// A store with [`CachedDevices`] in front of its [`DeviceStore`], as the server runs it: the
/// suite runs against it too (`store_suite!` over a `fresh` that wraps the store), so the cache
/// can never answer differently from the store it fronts.
pub(crate) struct WithCachedDevices<S> {
    store: Arc<S>,
    devices: CachedDevices,
}

impl<S: TestStore> WithCachedDevices<S> {
    pub(crate) fn new(store: S) -> Self {
        let store = Arc::new(store);
        WithCachedDevices { devices: CachedDevices::new(store.clone()), store }
    }
}

impl<S: TestStore> TestStore for WithCachedDevices<S> {
    fn shared_payload_rows(&self) -> impl Future<Output = StoreResult<u64>> + Send {
        self.store.shared_payload_rows()
    }
}

#[async_trait]
impl<S: TestStore> DeviceStore for WithCachedDevices<S> {
    async fn create_device(
        &self,
        device: &DeviceAddress,
        name: Option<&str>,
        refresh_token_hash: &[u8],
        now_ms: u64,
    ) -> StoreResult<()> {
        self.devices.create_device(device, name, refresh_token_hash, now_ms).await
    }
    async fn device_exists(&self, device: &DeviceAddress) -> StoreResult<bool> {
        self.devices.device_exists(device).await
    }
    async fn devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>> {
        self.devices.devices_of(users).await
    }
    async fn keyed_devices_of(&self, users: &[UserId]) -> StoreResult<Vec<DeviceAddress>> {
        self.devices.keyed_devices_of(users).await
    }
    async fn list_devices(&self, user: &UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.devices.list_devices(user).await
    }
    async fn delete_device(&self, device: &DeviceAddress) -> StoreResult<bool> {
        self.devices.delete_device(device).await
    }
    async fn reauthenticate_device(
        &self,
        device: &DeviceAddress,
        refresh_token_hash: &[u8],
        now_ms: u64,
        tokens_since: u64,
    ) -> StoreResult<()> {
        self.devices.reauthenticate_device(device, refresh_token_hash, now_ms, tokens_since).await
    }
    async fn rotate_refresh_token(&self, old_hash: &[u8], new_hash: &[u8], now_ms: u64) -> StoreResult<RefreshOutcome> {
        self.devices.rotate_refresh_token(old_hash, new_hash, now_ms).await
    }
    async fn token_revocations(&self, after_secs: u64) -> StoreResult<Vec<(DeviceAddress, u64)>> {
        self.devices.token_revocations(after_secs).await
    }
    async fn set_device_keys(&self, keys: &DeviceKeys) -> StoreResult<SetKeysOutcome> {
        self.devices.set_device_keys(keys).await
    }
    async fn device_keys(&self, device: &DeviceAddress) -> StoreResult<Option<DeviceKeys>> {
        self.devices.device_keys(device).await
    }
    async fn replace_device_keys(&self, keys: &DeviceKeys) -> StoreResult<ReplaceKeysOutcome> {
        self.devices.replace_device_keys(keys).await
    }
    async fn add_one_time_keys(
        &self,
        device: &DeviceAddress,
        one_time_keys: &[SignedKey],
        fallback: Option<&SignedKey>,
    ) -> StoreResult<AddKeysOutcome> {
        self.devices.add_one_time_keys(device, one_time_keys, fallback).await
    }
    async fn key_counts(&self, device: &DeviceAddress) -> StoreResult<KeyCounts> {
        self.devices.key_counts(device).await
    }
    async fn set_identity(&self, identity: &UserIdentity) -> StoreResult<SetKeysOutcome> {
        self.devices.set_identity(identity).await
    }
    async fn identity(&self, user: &UserId) -> StoreResult<Option<UserIdentity>> {
        self.devices.identity(user).await
    }
    async fn replace_identity(&self, identity: &UserIdentity) -> StoreResult<bool> {
        self.devices.replace_identity(identity).await
    }
    async fn confirm_device(&self, device: &DeviceAddress, ed25519: &str, signature: &str) -> StoreResult<bool> {
        self.devices.confirm_device(device, ed25519, signature).await
    }
    async fn set_user_signature(&self, signer: &UserId, signature: &UserSignature) -> StoreResult<()> {
        self.devices.set_user_signature(signer, signature).await
    }
    async fn delete_user_signature(&self, signer: &UserId, target: &UserId) -> StoreResult<bool> {
        self.devices.delete_user_signature(signer, target).await
    }
    async fn query_devices(&self, asker: &UserId, users: &[UserId]) -> StoreResult<Vec<UserDevices>> {
        self.devices.query_devices(asker, users).await
    }
    async fn claim_keys(
        &self,
        devices: &[DeviceAddress],
        fallback_only: &[DeviceAddress],
    ) -> StoreResult<Vec<ClaimedKey>> {
        self.devices.claim_keys(devices, fallback_only).await
    }
}

#[async_trait]
impl<S: TestStore> AccountStore for WithCachedDevices<S> {
    async fn create_account(&self, user: &UserId, password_hash: &str, now_ms: u64) -> StoreResult<()> {
        self.store.create_account(user, password_hash, now_ms).await
    }
    async fn password_hash(&self, user: &UserId) -> StoreResult<Option<String>> {
        self.store.password_hash(user).await
    }
    async fn existing_users(&self, users: &[UserId]) -> StoreResult<Vec<UserId>> {
        self.store.existing_users(users).await
    }
    async fn replace_password_hash(&self, user: &UserId, expected: &str, new_hash: &str) -> StoreResult<bool> {
        self.store.replace_password_hash(user, expected, new_hash).await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.store.ping().await
    }
    async fn spend_external_token_id(&self, jti: &str, exp: u64, now_secs: u64) -> StoreResult<bool> {
        self.store.spend_external_token_id(jti, exp, now_secs).await
    }
}

#[async_trait]
impl<S: TestStore> InboxStore for WithCachedDevices<S> {
    async fn deliver(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome> {
        self.store.deliver(delivery).await
    }
    async fn share_conversation(&self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        self.store.share_conversation(a, b).await
    }
    async fn have_written_to(&self, users: &[UserId], to: &UserId) -> StoreResult<Vec<UserId>> {
        self.store.have_written_to(users, to).await
    }
    async fn fetch(&self, device: &DeviceAddress, after: u64, limit: u32) -> StoreResult<Vec<InboxEntry>> {
        self.store.fetch(device, after, limit).await
    }
    async fn ack(&self, device: &DeviceAddress, up_to: u64) -> StoreResult<u64> {
        self.store.ack(device, up_to).await
    }
    async fn ack_many(&self, acks: &[(DeviceAddress, u64)]) -> StoreResult<u64> {
        self.store.ack_many(acks).await
    }
    async fn collect_garbage(&self) -> StoreResult<u64> {
        self.store.collect_garbage().await
    }
    async fn sent_at(&self, sender: &UserId, message_id: &MessageId) -> StoreResult<Option<u64>> {
        self.store.sent_at(sender, message_id).await
    }
    async fn prune_sent_ids(&self, before_ms: u64) -> StoreResult<u64> {
        self.store.prune_sent_ids(before_ms).await
    }
}

#[async_trait]
impl<S: TestStore> GroupStore for WithCachedDevices<S> {
    async fn create_group(&self, group: &GroupInfo, entry: &LogEntry, event: Delivery) -> StoreResult<()> {
        self.store.create_group(group, entry, event).await
    }
    async fn group(&self, group: &GroupId) -> StoreResult<Option<GroupInfo>> {
        self.store.group(group).await
    }
    async fn groups_of(&self, user: &UserId) -> StoreResult<Vec<GroupInfo>> {
        self.store.groups_of(user).await
    }
    async fn role(&self, group: &GroupId, user: &UserId) -> StoreResult<Option<Role>> {
        self.store.role(group, user).await
    }
    async fn member_devices(&self, group: &GroupId) -> StoreResult<Vec<DeviceAddress>> {
        self.store.member_devices(group).await
    }
    async fn update_group(
        &self,
        expected_version: u64,
        new: &GroupInfo,
        entry: &LogEntry,
        event: Delivery,
    ) -> StoreResult<()> {
        self.store.update_group(expected_version, new, entry, event).await
    }
    async fn log_head(&self, group: &GroupId) -> StoreResult<Option<(u64, String)>> {
        self.store.log_head(group).await
    }
    async fn group_log(&self, group: &GroupId, after: u64, limit: u32) -> StoreResult<Vec<SignedGroupChange>> {
        self.store.group_log(group, after, limit).await
    }
    async fn group_with_log(
        &self,
        group: &GroupId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Option<(GroupInfo, Vec<SignedGroupChange>)>> {
        self.store.group_with_log(group, after, limit).await
    }
    async fn dismiss_group(&self, group: &GroupId, expected_version: u64, event: Delivery) -> StoreResult<()> {
        self.store.dismiss_group(group, expected_version, event).await
    }
    async fn group_history(
        &self,
        group: &GroupId,
        user: &UserId,
        before: u64,
        limit: u32,
    ) -> StoreResult<Vec<GroupHistoryMessage>> {
        self.store.group_history(group, user, before, limit).await
    }
    async fn prune_group_history(&self, before_ms: u64) -> StoreResult<u64> {
        self.store.prune_group_history(before_ms).await
    }
}

#[async_trait]
impl<S: TestStore> BackupStore for WithCachedDevices<S> {
    async fn get_backup(&self, user: &UserId) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.store.get_backup(user).await
    }
    async fn put_backup(&self, user: &UserId, expected: u64, blob: &[u8]) -> StoreResult<u64> {
        self.store.put_backup(user, expected, blob).await
    }
}

#[async_trait]
impl<S: TestStore> ProfileStore for WithCachedDevices<S> {
    async fn get_profile(&self, user: &UserId) -> StoreResult<Option<Vec<u8>>> {
        self.store.get_profile(user).await
    }
    async fn put_profile(&self, user: &UserId, ciphertext: &[u8], now_ms: u64) -> StoreResult<()> {
        self.store.put_profile(user, ciphertext, now_ms).await
    }
}

#[async_trait]
impl<S: TestStore> BlobIndex for WithCachedDevices<S> {
    async fn create_blob(&self, record: &BlobRecord, readers: &[UserId], quota: u64) -> StoreResult<CreateBlobOutcome> {
        self.store.create_blob(record, readers, quota).await
    }
    async fn blob_for(&self, blob: &BlobId, reader: &UserId) -> StoreResult<Option<BlobRecord>> {
        self.store.blob_for(blob, reader).await
    }
    async fn blob(&self, blob: &BlobId) -> StoreResult<Option<BlobRecord>> {
        self.store.blob(blob).await
    }
    async fn advance_blob(&self, blob: &BlobId, from: u64, to: u64) -> StoreResult<bool> {
        self.store.advance_blob(blob, from, to).await
    }
    async fn complete_blob(&self, blob: &BlobId, now_ms: u64, expires_ms: u64) -> StoreResult<bool> {
        self.store.complete_blob(blob, now_ms, expires_ms).await
    }
    async fn delete_blob(&self, blob: &BlobId) -> StoreResult<bool> {
        self.store.delete_blob(blob).await
    }
    async fn expired_blobs(&self, now_ms: u64, limit: u32) -> StoreResult<Vec<BlobId>> {
        self.store.expired_blobs(now_ms, limit).await
    }
}
