//! Runs the shared store suite against [`PostgresStore`] (and behind the device cache), each test
//! on a database of its own (`sotto_test_<random>`, dropped after) on the cluster
//! `SOTTO_TEST_POSTGRES_URL` names; plus what only PostgreSQL has: migrations that several nodes
//! start at once, a newer schema refused untouched, two nodes (two pools) on one database.
//!
//! Without `SOTTO_TEST_POSTGRES_URL` these tests fail (they are never skipped): `. scripts/postgres.sh`
//! starts a throwaway cluster and sets it.

use std::future::Future;
use std::sync::Arc;

use sotto_proto::{EntryBody, GroupId, Role};

use super::{MIGRATIONS, PostgresConfig, PostgresStore, SCHEMA_VERSION};
use crate::store::tests as suite;
use crate::store::{AccountStore, DeliveryOutcome, DeviceStore, GroupStore, InboxStore, StoreError, StoreResult};
use suite::TestStore;

const URL_VAR: &str = "SOTTO_TEST_POSTGRES_URL";

impl TestStore for PostgresStore {
    fn shared_payload_rows(&self) -> impl Future<Output = StoreResult<u64>> + Send {
        PostgresStore::shared_payload_rows(self)
    }
}

/// The cluster the tests make their databases on.
fn cluster() -> PostgresConfig {
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{URL_VAR} is not set, and the PostgreSQL store tests need a cluster. Start a throwaway one \
             (it installs PostgreSQL if needed, and stops it when the shell exits) with\n\
             \n    . scripts/postgres.sh && cargo nextest run -p sotto-server\n\n\
             or name one you have, with a user allowed to create databases:\n\
             \n    {URL_VAR}=postgres://USER@127.0.0.1:5432/postgres?sslmode=disable"
        )
    });
    PostgresConfig::parse(&url).unwrap_or_else(|e| panic!("{URL_VAR}: {e}"))
}

async fn connect(config: &PostgresConfig) -> tokio_postgres::Client {
    let (client, connection) = config.inner().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A database of its own for one test, dropped when this is.
pub(crate) struct TestDatabase {
    cluster: PostgresConfig,
    name: String,
}

impl TestDatabase {
    async fn create() -> TestDatabase {
        let cluster = cluster();
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let name = format!("sotto_test_{}", u64::from_le_bytes(random));
        connect(&cluster).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        TestDatabase { cluster, name }
    }

    fn config(&self) -> PostgresConfig {
        self.cluster.with_dbname(&self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot wait for a future, and may run on a runtime's thread: a thread of its own
        // with its own runtime does it. FORCE ends connections a store may still hold.
        let (cluster, name) = (self.cluster.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                connect(&cluster).await.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}: {dropped:?}", self.name);
        }
    }
}

/// A new, empty store on a database of its own (the suite's `fresh`).
async fn fresh() -> (TestDatabase, PostgresStore) {
    let database = TestDatabase::create().await;
    let store = PostgresStore::open(&database.config()).await.unwrap();
    (database, store)
}

suite::store_suite!(fresh);

/// The same suite through the device cache the server puts in front of the store.
mod cached {
    async fn fresh() -> (super::TestDatabase, crate::store::tests::WithCachedDevices<super::PostgresStore>) {
        let (database, store) = super::fresh().await;
        (database, crate::store::tests::WithCachedDevices::new(store))
    }

    crate::store::tests::store_suite!(fresh);
}

async fn schema_version(client: &tokio_postgres::Client) -> i32 {
    client.query_one("SELECT version FROM sotto_schema", &[]).await.unwrap().get(0)
}

async fn tables(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query("SELECT tablename::TEXT FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Nodes that start together on a new database: one migrates, the others wait for it and find the
/// schema current; opening again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_migrate_once() {
    let database = TestDatabase::create().await;
    let config = database.config();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move { PostgresStore::open(&config).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().unwrap());
    }
    let client = connect(&config).await;
    assert_eq!(schema_version(&client).await, SCHEMA_VERSION);
    assert_eq!(client.query_one("SELECT count(*) FROM sotto_schema", &[]).await.unwrap().get::<_, i64>(0), 1);
    drop(stores);
    let again = PostgresStore::open(&config).await.unwrap();
    again.create_account(&suite::user("alice"), "h", 1).await.unwrap();
    assert_eq!(schema_version(&client).await, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_newer_schema_is_refused_untouched() {
    let database = TestDatabase::create().await;
    let client = connect(&database.config()).await;
    let future = SCHEMA_VERSION + 1;
    client
        .batch_execute(&format!(
            "CREATE TABLE sotto_schema (version INTEGER NOT NULL);
             INSERT INTO sotto_schema VALUES ({future});
             CREATE TABLE from_the_future (x INTEGER);"
        ))
        .await
        .unwrap();
    let err = PostgresStore::open(&database.config()).await.err().unwrap();
    let StoreError::Database(message) = err else { panic!("expected a database error, got {err:?}") };
    assert_eq!(
        message,
        format!("database schema version {future} is newer than this server supports ({SCHEMA_VERSION})")
    );
    assert_eq!(tables(&client).await, ["from_the_future", "sotto_schema"]);
    assert_eq!(schema_version(&client).await, future);
}

/// A migration that fails leaves the database as it was: no table of it, no version.
#[tokio::test]
async fn a_failed_migration_changes_nothing() {
    let database = TestDatabase::create().await;
    let client = connect(&database.config()).await;
    // Migration 0001 creates `accounts`: one already there makes it fail halfway.
    client.batch_execute("CREATE TABLE devices (x INTEGER)").await.unwrap();
    assert!(PostgresStore::open(&database.config()).await.is_err());
    assert_eq!(tables(&client).await, ["devices"]);
    assert!(MIGRATIONS[0].contains("CREATE TABLE accounts"), "the test's premise");
}

/// Two nodes (two pools) on one database claim one device's keys at once: no one-time key is
/// handed out twice, and every one is handed out before the fallback key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_claim_each_key_once() {
    let database = TestDatabase::create().await;
    let nodes = [
        PostgresStore::open(&database.config()).await.unwrap(),
        PostgresStore::open(&database.config()).await.unwrap(),
    ]
    .map(Arc::new);
    let a1 = suite::device(&*nodes[0], "alice", "D1").await;
    let keys: Vec<_> = (0..40).map(|i| suite::key(&format!("K{i:03}"), &format!("k{i}"))).collect();
    nodes[1].add_one_time_keys(&a1, &keys, Some(&suite::key("FALLBACK", "f"))).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (node, a1) = (Arc::clone(&nodes[n % 2]), a1.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.extend(node.claim_keys(std::slice::from_ref(&a1), &[]).await.unwrap());
            }
            got
        }));
    }
    let mut one_time = std::collections::HashSet::new();
    let mut fallbacks = 0;
    for task in tasks {
        for claimed in task.await.unwrap() {
            if claimed.fallback {
                fallbacks += 1;
            } else {
                assert!(one_time.insert(claimed.key.key_id.clone()), "{:?} handed out twice", claimed.key.key_id);
            }
        }
    }
    assert_eq!((one_time.len(), fallbacks), (40, 16 * 3 - 40));
}

/// Two stores (two nodes' pools) on one new database, and a device of each of four users.
async fn two_nodes_and_four_devices() -> (TestDatabase, [Arc<PostgresStore>; 2], Vec<sotto_proto::DeviceAddress>) {
    let database = TestDatabase::create().await;
    let nodes = [
        PostgresStore::open(&database.config()).await.unwrap(),
        PostgresStore::open(&database.config()).await.unwrap(),
    ]
    .map(Arc::new);
    let mut devices = Vec::new();
    for user in ["alice", "bob", "carol", "dave"] {
        devices.push(suite::device(&*nodes[0], user, "D1").await);
    }
    (database, nodes, devices)
}

/// Two nodes deliver to the same devices at once (a fan-out each to overlapping members, in
/// different orders): each device's seqs are 1..=n with no gap and no repeat, and nothing
/// deadlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_in_order() {
    let (_database, nodes, devices) = two_nodes_and_four_devices().await;
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        let node = Arc::clone(&nodes[n as usize % 2]);
        let mut to = devices.clone();
        if n % 2 == 1 {
            to.reverse();
        }
        tasks.push(tokio::spawn(async move {
            let to: Vec<&_> = to.iter().collect();
            node.deliver(suite::shared("erin", n, 1000, "G1", &to)).await
        }));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap().unwrap(), DeliveryOutcome::Stored { .. }));
    }
    for device in &devices {
        let seqs: Vec<u64> = nodes[1].fetch(device, 0, 100).await.unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "{device:?}");
    }
}

/// The same for direct messages, each one statement: many at once through two nodes, to the
/// same devices in different orders, each also sent twice at once (a retry racing the first
/// try): every device gets seqs 1..=n, each message is stored once and the repeat is answered as
/// a duplicate with the first one's time; a device deleted meanwhile is left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_direct_messages_in_order_and_once() {
    let (_database, nodes, devices) = two_nodes_and_four_devices().await;
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        for attempt in 0..2usize {
            let node = Arc::clone(&nodes[(n as usize + attempt) % 2]);
            let mut to = devices.clone();
            if n % 2 == 1 {
                to.reverse();
            }
            tasks.push(tokio::spawn(async move {
                let to: Vec<(&_, &str)> = to.iter().map(|d| (d, "ciphertext")).collect();
                node.deliver(suite::direct("erin", n, 1000 + u64::from(n), &to)).await
            }));
        }
    }
    let (mut stored, mut duplicates) = (0, 0);
    for task in tasks {
        match task.await.unwrap().unwrap() {
            DeliveryOutcome::Stored { recipients } => {
                assert_eq!(recipients.len(), 4);
                stored += 1;
            }
            DeliveryOutcome::Duplicate { server_ts } => {
                assert!((1000..1040).contains(&server_ts));
                duplicates += 1;
            }
        }
    }
    assert_eq!((stored, duplicates), (40, 40));
    for device in &devices {
        let entries = nodes[1].fetch(device, 0, 100).await.unwrap();
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "{device:?}");
        let mut ids: Vec<String> = entries.iter().map(|e| e.message_id.to_string()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40, "each message once");
    }
    // A recipient without a device row any more is left out; the others get theirs.
    nodes[0].delete_device(&devices[3]).await.unwrap();
    let to: Vec<(&_, &str)> = devices.iter().map(|d| (d, "late")).collect();
    let DeliveryOutcome::Stored { recipients } = nodes[1].deliver(suite::direct("erin", 99, 5000, &to)).await.unwrap()
    else {
        panic!("stored")
    };
    assert_eq!(recipients.iter().map(|(_, seq)| *seq).collect::<Vec<_>>(), [41, 41, 41]);
    assert!(!recipients.iter().any(|(d, _)| *d == devices[3]));
}

/// A batch of direct messages in one statement (see the suite's test).
#[tokio::test]
async fn a_batch_of_direct_messages_keeps_order_and_idempotency() {
    let (_database, store) = fresh().await;
    let client = store.client().await.unwrap();
    suite::direct_batch_keeps_order_and_idempotency(&store, async |batch| {
        super::direct::deliver_direct(&client, batch).await.unwrap()
    })
    .await;
}

/// A batch whose statement fails is stored message by message: only the bad one fails.
#[tokio::test]
async fn one_bad_message_fails_only_itself() {
    let (_database, store) = fresh().await;
    suite::one_bad_message_in_a_batch_fails_only_itself(&store, async |batch| {
        let mut jobs = Vec::new();
        let mut answers = Vec::new();
        for delivery in batch {
            let (done, answer) = tokio::sync::oneshot::channel();
            jobs.push((delivery, done));
            answers.push(answer);
        }
        super::direct::store_batch(&store.pool, jobs).await;
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        results
    })
    .await;
}

/// A transaction that fails halfway (a group whose member is not an account fails on the
/// foreign key after the group row was inserted) leaves nothing behind: no group, no event, no
/// idempotency record.
#[tokio::test]
async fn a_failed_change_leaves_nothing() {
    let (_database, store) = fresh().await;
    let a1 = suite::device(&store, "alice", "D1").await;
    let group = sotto_proto::GroupInfo {
        group_id: GroupId::parse("BROKEN").unwrap(),
        name: "broken".into(),
        version: 1,
        created_ts: 1,
        members: vec![sotto_proto::GroupMember { user_id: suite::user("nobody"), role: Role::Owner }],
        invited: vec![],
    };
    let failed =
        store.create_group(&group, &suite::log_entry(&group), suite::shared("alice", 9, 1, "BROKEN", &[&a1])).await;
    let Err(StoreError::Database(message)) = failed else { panic!("expected a database error, got {failed:?}") };
    // The error names the constraint, never the row's values.
    assert!(message.contains("23503"), "{message}");
    assert!(!message.contains("nobody"), "{message}");
    assert_eq!(store.group(&group.group_id).await.unwrap(), None);
    assert!(store.fetch(&a1, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.shared_payload_rows().await.unwrap(), 0);
    assert!(matches!(
        store.deliver(suite::shared("alice", 9, 2, "BROKEN", &[&a1])).await.unwrap(),
        DeliveryOutcome::Stored { .. }
    ));
    assert!(matches!(store.fetch(&a1, 0, 10).await.unwrap()[0].body, EntryBody::Group { .. }));
}

/// `sslmode=require` means TLS with a verified certificate: the test cluster's is self-signed,
/// which no system trusts, so the connection is refused at the handshake rather than made in the
/// clear or to an unverified server.
#[tokio::test]
async fn require_verifies_the_certificate() {
    let database = TestDatabase::create().await;
    let mut config = database.config();
    config.inner_mut().ssl_mode(tokio_postgres::config::SslMode::Require);
    let err = PostgresStore::open(&config).await.err().unwrap();
    let StoreError::Database(message) = err else { panic!("expected a database error, got {err:?}") };
    assert!(message.contains("TLS") && message.contains("certificate"), "{message}");
}

#[tokio::test]
async fn the_password_stays_out_of_debug() {
    let config =
        PostgresConfig::parse("postgres://sotto:hunter2-secret@db.example:5433/sotto?sslmode=require").unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("db.example") && shown.contains("Require"), "{shown}");
    assert!(PostgresConfig::parse("postgres://sotto@db.example").is_err(), "a URL without a database");
    assert!(PostgresConfig::parse("not a url at all =").is_err());
}

/// Two nodes' rate limits, each with its own pool on one database.
async fn two_limited_nodes(database: &TestDatabase) -> [crate::limits::RateLimits; 2] {
    use crate::limits::{LimitStore, RateLimit, RateLimits};
    let limit = RateLimit { per_second: std::num::NonZeroU32::MIN, burst: std::num::NonZeroU32::MIN };
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn LimitStore> = Arc::new(PostgresStore::open(&database.config()).await.unwrap());
        nodes.push(RateLimits::new(Some(limit), true).shared_in(store));
    }
    let [a, b]: [RateLimits; 2] = nodes.try_into().unwrap();
    [a, b]
}

/// Password guesses spread over two nodes, all at once, meet one limit: ten per user and address
/// in all, not ten per node; each refusal says when to try again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_count_password_guesses_together() {
    let database = TestDatabase::create().await;
    let nodes = Arc::new(two_limited_nodes(&database).await);
    let alice = suite::user("alice");
    let client: std::net::IpAddr = "203.0.113.9".parse().unwrap();
    let mut tasks = Vec::new();
    for n in 0..30 {
        let (nodes, alice) = (nodes.clone(), alice.clone());
        tasks.push(tokio::spawn(async move { nodes[n % 2].check_login(&alice, client).await }));
    }
    let mut allowed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => allowed += 1,
            Err(crate::error::AppError::RetryLater { code, after, .. }) => {
                assert_eq!(code, sotto_proto::ErrorCode::RateLimited);
                assert!(after >= std::time::Duration::from_secs(1) && after <= std::time::Duration::from_secs(7));
            }
            Err(other) => panic!("expected a rate limit, got {other:?}"),
        }
    }
    assert_eq!(allowed, 10, "ten guesses per user and address, across both nodes");
    // Another address is limited on its own; the same user's per-user budget (100) still has room.
    nodes[1].check_login(&alice, "198.51.100.4".parse().unwrap()).await.unwrap();
    // A signed-in device's rechecks, and sign-ins per address, are shared too.
    let device = suite::addr("alice", "D1");
    for n in 0..10 {
        nodes[n % 2].check_recheck(&device).await.unwrap();
    }
    assert!(nodes[0].check_recheck(&device).await.is_err());
    for n in 0..30 {
        nodes[n % 2].check_address(client).await.unwrap();
    }
    assert!(nodes[1].check_address(client).await.is_err());
}

/// One-time key claims through two nodes: a device gives at most 20 one-time keys to everyone
/// together before claims get its fallback key; a device past its limit costs the claimer
/// nothing; buckets that are full again are forgotten.
#[tokio::test]
async fn two_nodes_share_the_one_time_key_budget() {
    let database = TestDatabase::create().await;
    let nodes = two_limited_nodes(&database).await;
    let target = suite::addr("bob", "B1");
    let other = suite::addr("carol", "C1");
    let mut one_time = 0;
    for n in 0..40 {
        let claimer = suite::user(&format!("claimer{}", n % 5));
        let allowed = nodes[n % 2].one_time_key_claims(&claimer, std::slice::from_ref(&target)).await.unwrap();
        one_time += usize::from(allowed == [true]);
    }
    assert_eq!(one_time, 20);
    let allowed =
        nodes[0].one_time_key_claims(&suite::user("claimer0"), &[target.clone(), other.clone()]).await.unwrap();
    assert_eq!(allowed, [false, true]);

    let client = connect(&database.config()).await;
    assert!(bucket_rows(&client).await > 0);
    // No user id or address is kept in the clear.
    let keys = client.query("SELECT bucket FROM rate_limits", &[]).await.unwrap();
    assert!(keys.iter().all(|r| r.get::<_, Vec<u8>>(0).len() == 32));
    // Buckets that are full again (moved into the past here) are forgotten; the others stay.
    client
        .execute("UPDATE rate_limits SET full_ms = 1 WHERE bucket = (SELECT bucket FROM rate_limits LIMIT 1)", &[])
        .await
        .unwrap();
    let before = bucket_rows(&client).await;
    let forgotten = nodes[1].forget_full_buckets().await.unwrap();
    assert!(forgotten >= 1);
    assert_eq!(bucket_rows(&client).await, before - forgotten as i64);
}

async fn bucket_rows(client: &tokio_postgres::Client) -> i64 {
    client.query_one("SELECT count(*) FROM rate_limits", &[]).await.unwrap().get(0)
}

/// Of two nodes, exactly one is the housekeeping leader; when it stops (its connection closes),
/// the other takes over.
#[tokio::test]
async fn one_node_leads_the_housekeeping_and_another_takes_over() {
    use super::leader::{Leadership, TRY_EVERY};
    let database = TestDatabase::create().await;
    let config = database.config();
    let (stop_a, stop_b) = (tokio_util::sync::CancellationToken::new(), tokio_util::sync::CancellationToken::new());
    let a = Leadership::campaign(&config, stop_a.clone());
    let b = Leadership::campaign(&config, stop_b.clone());
    let deadline = std::time::Instant::now() + 3 * TRY_EVERY;
    while !(a.is_leader() || b.is_leader()) {
        assert!(std::time::Instant::now() < deadline, "no leader");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(a.is_leader() != b.is_leader(), "exactly one leader");
    let (leader_stop, follower) = if a.is_leader() { (stop_a, b) } else { (stop_b, a) };
    leader_stop.cancel();
    let deadline = std::time::Instant::now() + 3 * TRY_EVERY;
    while !follower.is_leader() {
        assert!(std::time::Instant::now() < deadline, "the other node did not take over");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `--database-ca`: with the CA that issued the database's certificate, `sslmode=require`
/// connects (TLS, the certificate and the address verified) and works; with another CA, or with
/// a file that holds no certificate, it does not.
#[tokio::test]
async fn a_private_ca_is_trusted_when_given() {
    let ca = std::env::var("SOTTO_TEST_POSTGRES_CA").unwrap_or_else(|_| {
        panic!("SOTTO_TEST_POSTGRES_CA is not set: start the cluster with `. scripts/postgres.sh`")
    });
    let database = TestDatabase::create().await;
    let mut config = database.config().trusting(std::path::Path::new(&ca)).unwrap();
    config.inner_mut().ssl_mode(tokio_postgres::config::SslMode::Require);
    let store = PostgresStore::open(&config).await.unwrap();
    let alice = suite::device(&store, "alice", "A1").await;
    assert!(store.device_exists(&alice).await.unwrap());
    let ssl: bool = store
        .client()
        .await
        .unwrap()
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the connection is TLS");

    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let other_ca = rcgen::generate_simple_self_signed(vec!["Another CA".to_owned()]).unwrap();
    std::fs::write(&other, other_ca.cert.pem()).unwrap();
    let mut config = database.config().trusting(&other).unwrap();
    config.inner_mut().ssl_mode(tokio_postgres::config::SslMode::Require);
    let err = PostgresStore::open(&config).await.err().unwrap();
    assert!(err.to_string().contains("certificate"), "{err}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = database.config().trusting(&empty).err().unwrap();
    assert!(err.contains("holds no certificate"), "{err}");
    let err = database.config().trusting(&dir.path().join("missing.pem")).err().unwrap();
    assert!(err.contains("cannot read"), "{err}");
}

/// The bus's notifications commit without waiting for the WAL, and only they: the pooled
/// connection they went through commits durably again afterwards (the setting is the
/// statement's transaction's, not the session's).
#[tokio::test]
async fn a_notification_leaves_its_connection_committing_durably() {
    let database = TestDatabase::create().await;
    let store = PostgresStore::open(&database.config().with_pool_size(std::num::NonZeroUsize::MIN)).await.unwrap();
    let setting = async |store: &PostgresStore| -> String {
        store.client().await.unwrap().query_one("SHOW synchronous_commit", &[]).await.unwrap().get(0)
    };
    // The test cluster commits asynchronously by default; the one pooled connection does not.
    store.client().await.unwrap().batch_execute("SET synchronous_commit = on").await.unwrap();
    assert_eq!(setting(&store).await, "on");
    super::bus::notify(&store, &["a wake-up".to_owned(), "another".to_owned()]).await.unwrap();
    assert_eq!(setting(&store).await, "on");
}
