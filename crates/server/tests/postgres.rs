//! The real binary on PostgreSQL (`--database postgres://…`): `--migrate-only` creates the schema
//! and exits, a server on it registers, delivers, survives a kill -9 and keeps no SQLite file.
//! Each test makes its own database on the cluster `SOTTO_TEST_POSTGRES_URL` names (see
//! `scripts/postgres.sh`), and fails without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;

/// A database of its own on the test cluster, dropped with this; `url` is its URL.
struct Database {
    cluster: tokio_postgres::Config,
    name: String,
    url: String,
}

async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

impl Database {
    async fn create() -> Database {
        let url = std::env::var("SOTTO_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!("SOTTO_TEST_POSTGRES_URL is not set: start a throwaway cluster with `. scripts/postgres.sh`")
        });
        let cluster: tokio_postgres::Config = url.parse().unwrap();
        let name = format!("sotto_test_{}", u64::from_le_bytes(random_bytes::<8>()));
        connect(&cluster).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        // The cluster's URL with this database in place of its own.
        let (base, query) = url.split_once('?').map_or((url.as_str(), ""), |(b, q)| (b, q));
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        let url = if query.is_empty() { format!("{server}/{name}") } else { format!("{server}/{name}?{query}") };
        Database { cluster, name, url }
    }

    async fn client(&self) -> tokio_postgres::Client {
        let mut config = self.cluster.clone();
        config.dbname(&self.name);
        connect(&config).await
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (cluster, name) = (self.cluster.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                connect(&cluster).await.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
            })
        })
        .join();
    }
}

#[tokio::test]
async fn migrate_only_creates_the_schema_and_exits() {
    let database = Database::create().await;
    let data_dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sotto-server"))
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(["--database", &database.url, "--migrate-only"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let client = database.client().await;
    let version: i32 = client.query_one("SELECT version FROM sotto_schema", &[]).await.unwrap().get(0);
    assert!(version >= 1);
    let accounts: i64 = client.query_one("SELECT count(*) FROM accounts", &[]).await.unwrap().get(0);
    assert_eq!(accounts, 0);
    // It did not start serving, and made no SQLite database.
    assert!(!data_dir.path().join("sotto.db").exists());

    // A URL that is neither SQLite nor PostgreSQL is refused, without echoing it (it may hold a
    // password).
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sotto-server"))
        .args(["--database", "mysql://root:hunter2@db/sotto", "--migrate-only"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("sqlite:PATH or a postgres:// URL") && !stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn a_server_on_postgres_delivers_and_survives_a_kill() {
    let database = Database::create().await;
    let mut server = Server::start_with(Launch::new().env("SOTTO_DATABASE_URL", database.url.clone())).await;
    let alice = server.register_keyed("alice").await;
    let bob = server.register_keyed("bob").await;
    let receipt = alice.send_direct(&mid("pg-message-1"), &[(bob.addr(), "ct-1".into())]).await;
    assert!(!receipt.duplicate);
    // Idempotent by (sender, message id), also on PostgreSQL.
    assert!(alice.send_direct(&mid("pg-message-1"), &[(bob.addr(), "ct-1".into())]).await.duplicate);

    server.kill9();
    server.restart().await;
    let entries = bob.inbox_all().await;
    assert_eq!(entries.iter().map(|e| e.message_id.to_string()).collect::<Vec<_>>(), ["pg-message-1"]);
    alice.send_direct(&mid("pg-message-2"), &[(bob.addr(), "ct-2".into())]).await;
    let seqs: Vec<u64> = bob.inbox_all().await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2]);
    // The state is in PostgreSQL, not in a file of the data directory.
    assert!(!server.data_dir().join("sotto.db").exists());
    let stored: i64 = database.client().await.query_one("SELECT count(*) FROM inbox", &[]).await.unwrap().get(0);
    assert_eq!(stored, 2);
}
