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

/// The value of an unlabelled gauge in `server`'s `/metrics`.
async fn gauge(server: &Server, name: &str) -> i64 {
    let text = server.anon(reqwest::Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Waits (at most 20 s) until `nodes`' `sotto_housekeeping_leader` gauges read `expected`.
async fn leaders_become(nodes: &[&Server], expected: &[i64]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut now = Vec::new();
        for node in nodes {
            now.push(gauge(node, "sotto_housekeeping_leader").await);
        }
        if now == expected {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "leaders {now:?}, expected {expected:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Two nodes on one database behind a proxy on loopback: password guesses spread over both meet
/// one limit (ten per user and address in all, not per node); exactly one node leads the
/// housekeeping, and when it is killed the other takes over.
#[tokio::test]
async fn two_nodes_share_the_password_limit_and_one_leads_the_housekeeping() {
    let database = Database::create().await;
    let launch = || {
        Launch::new().env("SOTTO_DATABASE_URL", database.url.clone()).args(["--trusted-proxy", "127.0.0.1/32,::1/128"])
    };
    let mut a = Server::start_with(launch()).await;
    let b = Server::start_with(launch()).await;
    a.register("alice").await;
    let mut refused_after = None;
    for n in 0..20 {
        let node = if n % 2 == 0 { &a } else { &b };
        let resp = node
            .anon(reqwest::Method::POST, "/v1/sessions")
            .header("x-forwarded-for", "203.0.113.66")
            .json(&serde_json::json!({"user_id": "alice", "password": "not the password"}))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            assert_error(resp, 429, "rate_limited").await;
            refused_after = Some(n);
            break;
        }
        assert_error(resp, 401, "invalid_credentials").await;
    }
    assert_eq!(refused_after, Some(10), "ten guesses in all, through either node");

    // One leader; kill it, and the other node leads.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let a_leads = loop {
        match (gauge(&a, "sotto_housekeeping_leader").await, gauge(&b, "sotto_housekeeping_leader").await) {
            (1, 0) => break true,
            (0, 1) => break false,
            (1, 1) => panic!("two leaders"),
            _ => {
                assert!(std::time::Instant::now() < deadline, "no leader");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    if a_leads {
        a.kill9();
        leaders_become(&[&b], &[1]).await;
        // Back, it follows.
        a.restart().await;
        leaders_become(&[&a, &b], &[0, 1]).await;
    } else {
        drop(b);
        leaders_become(&[&a], &[1]).await;
    }
}

/// `--database-ca` and `--database-pool-size`: a node on a database whose certificate a private
/// CA issued connects with TLS verified (`sslmode=require`) and keeps at most its pool's size
/// open; both flags are refused for SQLite, and a CA file that is not one stops the start.
#[tokio::test]
async fn a_node_trusts_a_private_ca_and_keeps_its_pool_size() {
    let ca = std::env::var("SOTTO_TEST_POSTGRES_CA").unwrap_or_else(|_| {
        panic!("SOTTO_TEST_POSTGRES_CA is not set: start the cluster with `. scripts/postgres.sh`")
    });
    let database = Database::create().await;
    let url = database.url.replace("sslmode=disable", "sslmode=require");
    let server = Server::start_with(
        Launch::new()
            .env("SOTTO_DATABASE_URL", url.clone())
            .env("SOTTO_DATABASE_CA", ca.clone())
            .args(["--database-pool-size", "2"]),
    )
    .await;
    let users: Vec<_> = (0..6).map(|n| format!("user{n}")).collect();
    let registered = futures_util::future::join_all(users.iter().map(|u| server.register(u))).await;
    assert_eq!(registered.len(), 6);
    assert!(gauge(&server, "sotto_database_pool_connections").await <= 2);
    let tls: i64 = database
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND s.ssl",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(tls >= 1, "the node's connections are TLS");

    // Without the CA, the same URL is refused at the handshake: the server does not start.
    let refused = Launch::new()
        .binary(env!("CARGO_BIN_EXE_sotto-server"))
        .env("SOTTO_DATABASE_URL", url.clone())
        .try_start()
        .await
        .err()
        .expect("a database certificate from an unknown CA is refused");
    assert!(refused.to_string().contains("certificate"), "{refused}");
    for (flags, says) in [
        (vec!["--database-ca", ca.as_str()], "--database-ca applies to a PostgreSQL database"),
        (vec!["--database-pool-size", "4"], "--database-pool-size applies to a PostgreSQL database"),
    ] {
        let refused = Launch::new().binary(env!("CARGO_BIN_EXE_sotto-server")).args(flags).try_start().await.err();
        let refused = refused.expect("refused for SQLite").to_string();
        assert!(refused.contains(says), "{refused}");
    }
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let refused = Launch::new()
        .binary(env!("CARGO_BIN_EXE_sotto-server"))
        .env("SOTTO_DATABASE_URL", url)
        .env("SOTTO_DATABASE_CA", not_pem.display().to_string())
        .try_start()
        .await
        .err()
        .expect("refused");
    assert!(refused.to_string().contains("holds no certificate"), "{refused}");
}
