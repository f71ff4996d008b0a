//! Runs the shared store suite against [`SqliteStore`] (one line: `store_suite!(fresh)`), plus
//! what only SQLite has: the file, reopening, migrations and the writer's batches.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use sotto_proto::{EntryBody, GroupId, MembershipChange, Role};
use tempfile::TempDir;

use super::{SCHEMA_VERSION, SqliteStore};
use crate::store::{
    AccountStore, BackupStore, DeliveryOutcome, DeviceStore, GroupStore, InboxStore, StoreError, StoreResult,
};

use crate::store::tests as suite;

use suite::TestStore;

impl TestStore for SqliteStore {
    fn shared_payload_rows(&self) -> impl Future<Output = StoreResult<u64>> + Send {
        SqliteStore::shared_payload_rows(self)
    }
}

/// A new, empty store in its own temporary directory (the suite's `fresh`).
async fn fresh() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("sotto.db")).unwrap();
    (dir, store)
}

suite::store_suite!(fresh);

/// The same suite through the device cache the server puts in front of the store.
mod cached {
    async fn fresh() -> (tempfile::TempDir, crate::store::tests::WithCachedDevices<super::SqliteStore>) {
        let (dir, store) = super::fresh().await;
        (dir, crate::store::tests::WithCachedDevices::new(store))
    }

    crate::store::tests::store_suite!(fresh);
}

#[tokio::test]
async fn reopening_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet is created.
    let path = dir.path().join("data").join("sotto.db");
    let a1 = {
        let store = SqliteStore::open(&path).unwrap();
        let a1 = suite::device(&store, "alice", "D1").await;
        for n in 1..=3 {
            store.deliver(suite::direct("bob", n, 1000, &[(&a1, "ct")])).await.unwrap();
        }
        store.ack(&a1, 3).await.unwrap();
        store.put_backup(&suite::user("alice"), 0, b"blob").await.unwrap();
        a1
    };
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.device_exists(&a1).await.unwrap());
    assert_eq!(store.password_hash(&suite::user("alice")).await.unwrap().as_deref(), Some("$argon2id$hash"));
    assert_eq!(store.get_backup(&suite::user("alice")).await.unwrap(), Some((1, b"blob".to_vec())));
    // Idempotency records and the sequence counter survive too.
    assert_eq!(
        store.deliver(suite::direct("bob", 2, 5000, &[(&a1, "ct")])).await.unwrap(),
        DeliveryOutcome::Duplicate { server_ts: 1000 }
    );
    store.deliver(suite::direct("bob", 4, 5000, &[(&a1, "ct")])).await.unwrap();
    assert_eq!(store.fetch(&a1, 0, 10).await.unwrap()[0].seq, 4);
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_new_database_is_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.db");
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(user_version(&path), i64::from(SCHEMA_VERSION));
    // Opening again applies nothing and fails nothing.
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(user_version(&path), i64::from(SCHEMA_VERSION));
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.db");
    let future = i64::from(SCHEMA_VERSION) + 1;
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("CREATE TABLE from_the_future (x); PRAGMA user_version = {future};")).unwrap();
    }
    let err = SqliteStore::open(&path).err().unwrap();
    let StoreError::Database(message) = err else { panic!("expected a database error, got {err:?}") };
    assert_eq!(
        message,
        format!("database schema version {future} is newer than this server supports ({SCHEMA_VERSION})")
    );
    let conn = Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, vec!["from_the_future".to_owned()]);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "not even the journal mode was changed");
    assert_eq!(user_version(&path), future);
}

/// A job that fails halfway (here: a group whose member is not an account fails on the foreign
/// key after the group row was inserted) leaves nothing behind, while the jobs queued with it in
/// the same batch are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_does_not_disturb_its_batch() {
    let (_dir, store) = fresh().await;
    let store = Arc::new(store);
    let a1 = suite::device(&*store, "alice", "D1").await;
    let group = sotto_proto::GroupInfo {
        group_id: GroupId::parse("BROKEN").unwrap(),
        name: "broken".into(),
        version: 1,
        created_ts: 1,
        members: vec![sotto_proto::GroupMember { user_id: suite::user("nobody"), role: Role::Owner }],
        invited: vec![],
    };
    let event = suite::shared("alice", 999, 1, "BROKEN", &[&a1]);
    let mut tasks = Vec::new();
    for n in 0..40 {
        let (store, a1) = (Arc::clone(&store), a1.clone());
        tasks.push(tokio::spawn(async move { store.deliver(suite::direct("bob", n, 1, &[(&a1, "ct")])).await }));
    }
    let failed = store.create_group(&group, &suite::log_entry(&group), event).await;
    assert!(matches!(failed, Err(StoreError::Database(_))), "{failed:?}");
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.group(&group.group_id).await.unwrap(), None);
    assert_eq!(store.log_head(&group.group_id).await.unwrap(), None);
    let entries = store.fetch(&a1, 0, 100).await.unwrap();
    assert_eq!(entries.len(), 40);
    assert!(entries.iter().all(|e| matches!(e.body, EntryBody::Direct { .. })), "the failed job's event was stored");
    assert_eq!(store.shared_payload_rows().await.unwrap(), 0);
    // The failed job's idempotency record was rolled back with it: the event can be sent again.
    assert!(matches!(
        store.deliver(suite::shared("alice", 999, 2, "BROKEN", &[&a1])).await.unwrap(),
        DeliveryOutcome::Stored { .. }
    ));
}

/// A second write connection on the store's file, set up as the writer's (to run a batch by
/// hand while the store's own writer is idle).
fn writer_connection(dir: &TempDir) -> Connection {
    let conn = Connection::open(dir.path().join("sotto.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn
}

/// A run of direct messages stored with one set of statements (see the suite's test).
#[tokio::test]
async fn a_batch_of_direct_messages_keeps_order_and_idempotency() {
    let (dir, store) = fresh().await;
    let conn = writer_connection(&dir);
    suite::direct_batch_keeps_order_and_idempotency(&store, async |batch| {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let outcomes = super::inbox::deliver_direct(&conn, batch).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        outcomes
    })
    .await;
}

/// A run of direct messages that fails as a whole is stored message by message by the writer:
/// only the bad one fails, and nothing of the failed attempt is left.
#[tokio::test]
async fn one_bad_message_fails_only_itself() {
    let (dir, store) = fresh().await;
    let conn = writer_connection(&dir);
    suite::one_bad_message_in_a_batch_fails_only_itself(&store, async |batch| {
        let mut run = super::inbox::DirectRun::default();
        let mut answers = Vec::new();
        for delivery in batch {
            let (reply, answer) = tokio::sync::oneshot::channel();
            run.push(super::inbox::DirectJob::new(delivery, reply));
            answers.push(answer);
        }
        super::writer::run_batch(&conn, vec![Box::new(run)]);
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        results
    })
    .await;
}

/// Direct messages sent at once are stored in runs by the writer; every one is stored once,
/// in the order each sender sent them, however they were grouped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_sent_at_once_are_each_stored_once_in_order() {
    let (_dir, store) = fresh().await;
    let store = Arc::new(store);
    let a1 = suite::device(&*store, "alice", "D1").await;
    let b1 = suite::device(&*store, "bob", "D1").await;
    let mut tasks = Vec::new();
    for sender in ["carol", "dave", "erin"] {
        let (store, a1, b1) = (Arc::clone(&store), a1.clone(), b1.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..200 {
                // Every 10th is sent twice, at once.
                let d = suite::direct(sender, n, u64::from(n), &[(&a1, sender), (&b1, sender)]);
                if n % 10 == 0 {
                    let again = suite::direct(sender, n, u64::from(n) + 1, &[(&a1, sender), (&b1, sender)]);
                    let (x, y) = tokio::join!(store.deliver(d), store.deliver(again));
                    let stored =
                        [x.unwrap(), y.unwrap()].iter().filter(|o| matches!(o, DeliveryOutcome::Stored { .. })).count();
                    assert_eq!(stored, 1);
                } else {
                    assert!(matches!(store.deliver(d).await.unwrap(), DeliveryOutcome::Stored { .. }));
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for device in [&a1, &b1] {
        let entries = store.fetch(device, 0, 1000).await.unwrap();
        assert_eq!(entries.len(), 600);
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=600).collect::<Vec<u64>>());
        for sender in ["carol", "dave", "erin"] {
            let ids: Vec<String> =
                entries.iter().filter(|e| e.sender_user.as_str() == sender).map(|e| e.message_id.to_string()).collect();
            let sent: Vec<String> = (0..200).map(|n| suite::msg(n).to_string()).collect();
            assert_eq!(ids, sent, "{sender}'s messages to {device:?}");
        }
    }
}

#[tokio::test]
async fn store_is_shareable_as_trait_objects() {
    let (_dir, store) = fresh().await;
    let store = Arc::new(store);
    let accounts: Arc<dyn AccountStore> = store.clone();
    let devices: Arc<dyn DeviceStore> = store.clone();
    let groups: Arc<dyn GroupStore> = store.clone();
    let _inbox: Arc<dyn InboxStore> = store.clone();
    let _backup: Arc<dyn BackupStore> = store;
    accounts.create_account(&suite::user("alice"), "h", 1).await.unwrap();
    assert!(devices.devices_of(&[suite::user("alice")]).await.unwrap().is_empty());
    assert!(groups.groups_of(&suite::user("alice")).await.unwrap().is_empty());
}

/// A database from before group history: its groups' current members read the history that
/// starts after the upgrade, and their bodies are kept past every ack.
#[tokio::test]
async fn upgrading_to_group_history_keeps_members_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(super::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO accounts VALUES ('alice', 'h', 1), ('bob', 'h', 1);
             INSERT INTO devices (user_id, device_id, created_ts) VALUES ('alice', 'A1', 1), ('bob', 'B1', 1);
             INSERT INTO groups VALUES ('OLD', 'old group', 1, 1);
             INSERT INTO group_members VALUES ('OLD', 'alice', 'owner'), ('OLD', 'bob', 'member');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), i64::from(SCHEMA_VERSION));
    let b1 = suite::addr("bob", "B1");
    store.deliver(suite::shared("alice", 1, 1000, "OLD", &[&b1])).await.unwrap();
    store.ack(&b1, 10).await.unwrap();
    store.collect_garbage().await.unwrap();
    let group = GroupId::parse("OLD").unwrap();
    let history = store.group_history(&group, &suite::user("bob"), u64::MAX, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].ciphertext, "group-ct-1");
}

/// A database of the release before identities (schema 2) with devices and their keys opens,
/// migrates, keeps every key, and lists no identity and no confirmation until clients publish.
#[tokio::test]
async fn upgrading_to_identities_keeps_devices_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(super::MIGRATIONS[0]).unwrap();
        conn.execute_batch(super::MIGRATIONS[1]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO accounts VALUES ('alice', 'h', 1);
             INSERT INTO devices (user_id, device_id, created_ts, curve25519, ed25519, keys_signature)
                VALUES ('alice', 'A1', 1, 'curve', 'ed', 'sig');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), i64::from(SCHEMA_VERSION));
    let listed = store.query_devices(&suite::user("alice"), &[suite::user("alice")]).await.unwrap();
    assert_eq!(listed[0].devices.len(), 1);
    assert_eq!(listed[0].devices[0].curve25519, "curve");
    assert_eq!((listed[0].identity.as_ref(), listed[0].confirmations.len()), (None, 0));
    // The first client to start publishes the identity and confirms its device.
    let identity = sotto_proto::UserIdentity {
        user_id: suite::user("alice"),
        master_key: "m".into(),
        self_signing_key: "s".into(),
        user_signing_key: "u".into(),
        signature: "x".into(),
    };
    assert_eq!(store.set_identity(&identity).await.unwrap(), crate::store::SetKeysOutcome::Stored);
    assert!(store.confirm_device(&suite::addr("alice", "A1"), "ed", "c").await.unwrap());
}

/// A database from before signed group changes (schema 3) keeps its groups, with no log until a
/// member signs the member list; that first entry is stored at the group's next version.
#[tokio::test]
async fn upgrading_to_the_group_log_keeps_groups_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.db");
    {
        let conn = Connection::open(&path).unwrap();
        for migration in &super::MIGRATIONS[..3] {
            conn.execute_batch(migration).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO accounts VALUES ('alice', 'h', 1), ('bob', 'h', 1);
             INSERT INTO groups (group_id, name, version, created_ts) VALUES ('OLD', 'old group', 3, 1);
             INSERT INTO group_members VALUES ('OLD', 'alice', 'owner'), ('OLD', 'bob', 'member');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), i64::from(SCHEMA_VERSION));
    let group = GroupId::parse("OLD").unwrap();
    let old = store.group(&group).await.unwrap().unwrap();
    assert_eq!((old.name.as_str(), old.version, old.members.len()), ("old group", 3, 2));
    assert_eq!(store.log_head(&group).await.unwrap(), None);
    assert!(store.group_log(&group, 0, 10).await.unwrap().is_empty());

    let adopted = sotto_proto::GroupInfo { version: 4, ..old };
    let event = suite::membership_event(&adopted, MembershipChange::Created, 1, &[]);
    store.update_group(3, &adopted, &suite::log_entry(&adopted), event).await.unwrap();
    assert_eq!(store.log_head(&group).await.unwrap(), Some((4, "hash-OLD-4".into())));
    assert_eq!(store.group_log(&group, 0, 10).await.unwrap(), [suite::signed_change("OLD", 4)]);
}
