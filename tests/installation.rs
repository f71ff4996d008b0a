//! An installation changes machines or stores: `sotto-server migrate` moves a real SQLite
//! installation (accounts, devices, keys, inboxes with messages waiting, groups and their
//! history, backups, profiles) into PostgreSQL, checked table by table; the server then runs on
//! PostgreSQL with the same data directory, and its people carry on: waiting messages arrive,
//! they sign in on new devices with their passwords, and keep writing to each other. A target
//! that is not empty is refused untouched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use sotto_core::{ClientEvent, ConversationId, ProfileChange};
use sotto_proto::UserId;
use sotto_tests::*;

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

/// `sotto-server migrate --from sqlite:… --to …`: its JSON report, or its error.
fn migrate(server: &Server, to: &str) -> std::process::Output {
    let from = format!("sqlite:{}", server.data_dir().join("sotto.db").display());
    std::process::Command::new(binary("sotto-server"))
        .args(["migrate", "--from", &from])
        .env("SOTTO_MIGRATE_TO", to)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_installation_moves_to_postgresql_and_everyone_carries_on() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    alice.set_profile(ProfileChange { name: Some("Alice".into()), avatar: None }).await.unwrap();
    let group = alice.create_group("book club", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    alice.send_group_text(&group, "first chapter by Friday").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&uid("alice"), "before the move").await.unwrap();
    // Waiting in the inboxes when the server stops: alice's one-to-one, carol's group messages.
    alice.send_group_text(&group, "while carol was away").await.unwrap();

    server.kill9();
    let database = PostgresDatabase::create().await;
    let out = migrate(&server, &database.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = |table: &str| {
        report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table).unwrap()["rows"].as_u64().unwrap()
    };
    assert_eq!(rows("accounts"), 3);
    assert!(rows("inbox") >= 2 && rows("group_history") >= 2 && rows("profiles") == 1, "{report:#}");

    // Into a database that holds anything: refused, and it is left as it was.
    let again = migrate(&server, &database.url);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // The same data directory (signing key, files), now on PostgreSQL.
    std::fs::rename(server.data_dir().join("sotto.db"), server.data_dir().join("sotto.db.moved")).unwrap();
    server.set_env("SOTTO_DATABASE_URL", &database.url);
    server.restart().await;
    assert!(!server.data_dir().join("sotto.db").exists(), "the server runs on PostgreSQL");

    // What waited arrives; tokens issued before still work.
    alice.sync().await.unwrap();
    assert_eq!(bodies(&alice, &ConversationId::Direct(uid("bob"))), ["before the move"]);
    carol.sync().await.unwrap();
    let club = ConversationId::Group(group.clone());
    assert_eq!(bodies(&carol, &club), ["first chapter by Friday", "while carol was away"]);
    assert_eq!(carol.profile(&uid("alice")).unwrap().and_then(|p| p.name).as_deref(), Some("Alice"));
    // A new device signs in with the password kept in the accounts moved over.
    let bob2 = login(&server, &dirs.path().join("bob2"), "bob").await;
    link_device(&bob, &bob2).await;
    // And they keep writing, one to one and in the group.
    bob2.send_group_text(&group, "read it twice").await.unwrap();
    for c in [&alice, &carol] {
        c.sync().await.unwrap();
        assert!(bodies(c, &club).contains(&"read it twice".to_owned()), "{}", c.user_id());
    }
    let stored: i64 =
        database.client().await.query_one("SELECT count(*) FROM group_history", &[]).await.unwrap().get(0);
    assert!(stored >= 3, "new group messages are in PostgreSQL: {stored}");
}

/// A target that does not keep what it was given (here a trigger changes a row as it is
/// written) fails the check: nothing is committed, and the error says which table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_that_does_not_read_back_the_same_is_not_committed() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, _bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    alice.send_text(&uid("bob"), "kept as it was").await.unwrap();
    server.kill9();
    let database = PostgresDatabase::create().await;
    let schema = std::process::Command::new(binary("sotto-server"))
        .args(["--migrate-only", "--data-dir"])
        .arg(dirs.path().join("unused"))
        .env("SOTTO_DATABASE_URL", &database.url)
        .output()
        .unwrap();
    assert!(schema.status.success(), "{}", String::from_utf8_lossy(&schema.stderr));
    let db = database.client().await;
    db.batch_execute(
        "CREATE FUNCTION shift() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN NEW.server_ts := NEW.server_ts + 1; RETURN NEW; END $$;
         CREATE TRIGGER shift BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION shift();",
    )
    .await
    .unwrap();
    let out = migrate(&server, &database.url);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("inbox") && stderr.contains("checksums") && stderr.contains("nothing was committed"),
        "{stderr}"
    );
    let accounts: i64 = db.query_one("SELECT count(*) FROM accounts", &[]).await.unwrap().get(0);
    assert_eq!(accounts, 0, "nothing of the copy stayed");
}

/// Two nodes on a new database (B with A's signing key), alice signed up through A and bob
/// through B. Bind every field (`database: _database`, not `..`), database first: the clients
/// and profiles then go first, the nodes next, the database last.
struct TwoNodes {
    alice: sotto_core::Client,
    bob: sotto_core::Client,
    dirs: tempfile::TempDir,
    b: Server,
    a: Server,
    database: PostgresDatabase,
}

impl TwoNodes {
    async fn start() -> TwoNodes {
        let database = PostgresDatabase::create().await;
        let a = Server::start_on_postgres(&database.url, None).await;
        let b = Server::start_on_postgres(&database.url, Some(&a)).await;
        let dirs = profiles();
        let alice = register(&a, &dirs.path().join("alice"), "alice").await;
        let bob = register(&b, &dirs.path().join("bob"), "bob").await;
        TwoNodes { alice, bob, dirs, b, a, database }
    }
}

/// Two nodes on one PostgreSQL database, sharing the signing key: alice is connected to one,
/// bob and carol to the other. One-to-one and group messages reach the other node's sockets
/// at once (the entry crosses in a NOTIFY, and the socket there sends it without reading the
/// store; one too large for a notification crosses as a wake-up, and is read from the store),
/// typing notices cross too, and a device
/// deleted through one node is signed out on the other (its cached device list and socket go).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_push_to_each_others_sockets() {
    let TwoNodes { database: _database, a, b, dirs, alice, bob } = TwoNodes::start().await;
    let carol = register(&b, &dirs.path().join("carol"), "carol").await;
    let mut bob_events = bob.subscribe();
    for c in [&alice, &bob, &carol] {
        start_online(c).await;
    }
    let (with_bob, with_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));
    alice.send_text(&uid("bob"), "across the nodes").await.unwrap();
    eventually("bob, on the other node, has it", || (bodies(&bob, &with_alice) == ["across the nodes"]).then_some(()))
        .await;
    bob.send_text(&uid("alice"), "and back").await.unwrap();
    eventually("alice has the answer", || {
        (bodies(&alice, &with_bob) == ["across the nodes", "and back"]).then_some(())
    })
    .await;
    // Over a notification's 7800 bytes once encrypted: bob's socket is woken and reads it.
    let long = ["a long one"; 1000].join(" ");
    alice.send_text(&uid("bob"), &long).await.unwrap();
    eventually("bob has the long one", || bodies(&bob, &with_alice).contains(&long).then_some(())).await;
    let group = alice.create_group("spread out", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let spread = ConversationId::Group(group.clone());
    alice.send_group_text(&group, "hello both").await.unwrap();
    for c in [&bob, &carol] {
        eventually("the group message", || bodies(c, &spread).contains(&"hello both".to_owned()).then_some(())).await;
    }
    // Typing (sealed, relayed without being stored) crosses too.
    assert!(alice.send_typing(&with_bob, true).unwrap());
    let typing = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if let ClientEvent::Typing { conversation_id, typing, .. } = bob_events.recv().await.unwrap() {
                return (conversation_id, typing);
            }
        }
    })
    .await
    .expect("alice's typing notice on bob's node");
    assert_eq!(typing, (with_alice.clone(), true));

    // Carol signs in on a second device through node A; her first device deletes it through
    // node B: node A's socket and cached device list of it go, and it is signed out there.
    let carol2 = login(&a, &dirs.path().join("carol2"), "carol").await;
    start_online(&carol2).await;
    let mut state = carol2.connection_state();
    carol.delete_device(carol2.device_id(), PASSWORD).await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        state.wait_for(|s| *s == sotto_core::ConnectionState::Offline),
    )
    .await
    .expect("carol's deleted device is disconnected on the other node")
    .unwrap();
    let err = carol2.sync().await.unwrap_err();
    assert_eq!(err.code(), sotto_proto::ErrorCode::SignedOut, "{err}");
    // Operators see it: events from the other node and their lag, and the database pool.
    let metrics = reqwest::get(format!("{}/metrics", b.url())).await.unwrap().text().await.unwrap();
    let value = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("sotto_bus_events_received_total") > 0.0, "{metrics}");
    // alice's first message and the group message (bob and carol) were pushed as they crossed.
    assert!(value("sotto_bus_entries_pushed_total") >= 2.0, "{metrics}");
    assert!(value("sotto_bus_notification_lag_seconds_count") > 0.0);
    assert!(value("sotto_database_pool_connections") >= 1.0);
    for c in [&alice, &bob, &carol, &carol2] {
        c.shutdown();
    }
}

/// Whoever can connect to the database (by PostgreSQL's default, any role of the cluster) can
/// send and hear notifications on the nodes' channel. Such a stranger hears the entry crossing
/// to bob, then sends what a node would: the entry replayed, an entry of its own with the seq
/// bob's next message gets (his socket would send it, his client acknowledge it, and the real
/// one be skipped), his socket closed, his tokens refused, a newer socket of his elsewhere —
/// unsealed, and under a seal copied from the real notification. The nodes refuse all of it
/// and count it; bob stays connected and signed in, and alice's next message reaches him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_on_the_database_cannot_speak_for_the_nodes() {
    let TwoNodes { database, a, b, dirs: _dirs, alice, bob } = TwoNodes::start().await;
    for c in [&alice, &bob] {
        start_online(c).await;
    }
    let (stranger, mut heard) = database.stranger().await;
    stranger.batch_execute("LISTEN sotto_bus").await.unwrap();
    let with_alice = ConversationId::Direct(uid("alice"));
    alice.send_text(&uid("bob"), "first").await.unwrap();
    eventually("bob has the first one", || (bodies(&bob, &with_alice) == ["first"]).then_some(())).await;
    let crossing = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let payload = heard.recv().await.unwrap();
            if payload.contains(r#""t":"pushed""#) {
                return payload;
            }
        }
    })
    .await
    .expect("the stranger hears the entry crossing to bob");
    let (seal, body) = crossing.split_once('.').unwrap();
    let real: serde_json::Value = serde_json::from_str(body).unwrap();
    let bob_device = real["event"]["to"][0][0].clone();
    assert_eq!(bob_device["user_id"], "bob", "{real}");
    let next_seq = real["event"]["to"][0][1].as_u64().unwrap() + 1;

    let states = bob.connection_state();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut forged_entry = real.clone();
    forged_entry["n"] = serde_json::json!(real["n"].as_u64().unwrap() + 1);
    forged_entry["sent_ms"] = serde_json::json!(now_ms);
    forged_entry["event"]["entry"]["message_id"] = serde_json::json!("forged-by-a-stranger");
    forged_entry["event"]["to"][0][1] = serde_json::json!(next_seq);
    let as_node = |n: u64, event: serde_json::Value| serde_json::json!({"node": real["node"], "sent_ms": now_ms, "n": real["n"].as_u64().unwrap() + n, "event": event});
    let forgeries = [
        forged_entry,
        as_node(2, serde_json::json!({"t": "disconnect", "device": bob_device})),
        as_node(3, serde_json::json!({"t": "revoked", "device": bob_device, "since": u64::MAX / 2})),
        as_node(4, serde_json::json!({"t": "connected", "device": bob_device})),
    ];
    let mut sent = vec![crossing.clone()];
    for forgery in &forgeries {
        sent.push(forgery.to_string());
        sent.push(format!("{seal}.{forgery}"));
    }
    for payload in &sent {
        stranger.execute("SELECT pg_notify('sotto_bus', $1)", &[payload]).await.unwrap();
    }

    alice.send_text(&uid("bob"), "second").await.unwrap();
    eventually("bob has the second one, right after the first", || {
        (bodies(&bob, &with_alice) == ["first", "second"]).then_some(())
    })
    .await;
    bob.sync().await.expect("bob is still signed in");
    assert!(!states.has_changed().unwrap(), "bob's connection stayed up: {:?}", *states.borrow());
    // Node B refused every forgery (8: four events, each without a seal and under a copied one)
    // and the replay. Node A refused those without a seal, and skipped the others unopened:
    // they claim to be its own.
    let refused = |metrics: &str, kind: &str| -> f64 {
        let prefix = format!("sotto_bus_events_refused_total{{kind=\"{kind}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0.0, |v| v.parse().unwrap())
    };
    let metrics = reqwest::get(format!("{}/metrics", b.url())).await.unwrap().text().await.unwrap();
    assert_eq!(refused(&metrics, "unsigned") + refused(&metrics, "malformed"), 8.0, "{metrics}");
    assert_eq!(refused(&metrics, "replayed"), 1.0, "{metrics}");
    // The operator is told once (at most once a minute), at the first: the replay.
    let told: Vec<String> =
        b.logs().lines().filter(|l| l.contains("a notification on the bus was refused")).map(String::from).collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("already applied: a replay"), "{told:?}");
    let metrics = reqwest::get(format!("{}/metrics", a.url())).await.unwrap().text().await.unwrap();
    assert_eq!(refused(&metrics, "malformed"), 4.0, "{metrics}");
    assert_eq!(refused(&metrics, "unsigned") + refused(&metrics, "replayed"), 0.0, "{metrics}");
    for c in [&alice, &bob] {
        c.shutdown();
    }
}

/// A proxy in front of two nodes, as a load balancer with health checks would be: each new
/// connection goes to the first node that accepts it.
async fn proxy(nodes: Vec<u16>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { return };
            let nodes = nodes.clone();
            tokio::spawn(async move {
                for node in nodes {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", node)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Two nodes behind a proxy; the one everybody is connected to is killed with -9 in the middle
/// of a stream of messages. The clients reconnect through the proxy to the other node and go
/// on: every message arrives once, in order, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_nothing_and_its_clients_go_on_through_the_other() {
    let database = PostgresDatabase::create().await;
    let mut a = Server::start_on_postgres(&database.url, None).await;
    let b = Server::start_on_postgres(&database.url, Some(&a)).await;
    let port = proxy(vec![a.port(), b.port()]).await;
    let url = format!("http://127.0.0.1:{port}");
    let dirs = profiles();
    let sign_up = |name: &'static str| {
        let dir = dirs.path().join(name);
        let url = url.clone();
        async move { register_at(&url, &dir, name).await }
    };
    let alice = sign_up("alice").await;
    let bob = sign_up("bob").await;
    for c in [&alice, &bob] {
        start_online(c).await;
    }
    let with_alice = ConversationId::Direct(uid("alice"));
    let expected: Vec<String> = (0..40).map(|i| format!("message {i}")).collect();
    for (i, body) in expected.iter().enumerate() {
        alice.send_text(&uid("bob"), body).await.unwrap();
        if i == 15 {
            a.kill9();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eventually("every message at bob, through the other node", || {
        (bodies(&bob, &with_alice) == expected).then_some(())
    })
    .await;
    let sent = alice.messages(&ConversationId::Direct(uid("bob")), None, 100).unwrap();
    assert!(sent.iter().all(|m| m.status == sotto_core::MessageStatus::Sent), "all acknowledged in the end");
    assert!(b.logs().contains("listening"), "node B served them");
    for c in [&alice, &bob] {
        c.shutdown();
    }
}

/// A signing key rotated while it rolls over the nodes: node A has the new key (and the old one
/// as its previous key), node B still only the old one. Alice signed up through A (a token of
/// the new key); when A goes, her client reaches B, which does not know that key: it asks for a
/// refresh instead of signing her out, and she goes on with a token B signs. Bob's token of the
/// old key works on A all along, and the nodes keep hearing each other on the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_rolling_over_the_nodes_signs_nobody_out() {
    let database = PostgresDatabase::create().await;
    let mut a = Server::start_on_postgres(&database.url, None).await;
    let b = Server::start_on_postgres(&database.url, Some(&a)).await;
    let dirs = profiles();
    let bob = register(&a, &dirs.path().join("bob"), "bob").await;
    // Rotate on A: the key becomes the previous one, and A makes a new one as it starts.
    a.kill9();
    std::fs::rename(a.data_dir().join("jwt-signing-key.pem"), a.data_dir().join("jwt-previous-signing-key.pem"))
        .unwrap();
    a.restart().await;
    let jwks: serde_json::Value =
        reqwest::get(format!("{}/v1/jwks.json", a.url())).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "the new key and the previous one: {jwks}");

    let port = proxy(vec![a.port(), b.port()]).await;
    let alice = register_at(&format!("http://127.0.0.1:{port}"), &dirs.path().join("alice"), "alice").await;
    for c in [&alice, &bob] {
        start_online(c).await;
    }
    let (with_alice, with_bob) = (ConversationId::Direct(uid("alice")), ConversationId::Direct(uid("bob")));
    bob.send_text(&uid("alice"), "old key, new node").await.unwrap();
    eventually("alice has bob's message", || (bodies(&alice, &with_bob) == ["old key, new node"]).then_some(())).await;
    a.kill9();
    // Sent through B (queued until her client finds it, if the send meets A's closed socket).
    alice.send_text(&uid("bob"), "new key, old node").await.unwrap();
    eventually("alice's message is stored, through B", || {
        let sent = alice.messages(&with_bob, None, 10).unwrap();
        sent.iter().all(|m| m.status != sotto_core::MessageStatus::Queued).then_some(())
    })
    .await;
    let statuses: Vec<_> = alice.messages(&with_bob, None, 10).unwrap().iter().map(|m| m.status).collect();
    assert_eq!(statuses, [sotto_core::MessageStatus::Received, sotto_core::MessageStatus::Sent]);
    // Bob's client talks to A itself: back up (with both keys), it has him again.
    a.restart().await;
    eventually("bob has alice's message", || {
        (bodies(&bob, &with_alice) == ["old key, new node", "new key, old node"]).then_some(())
    })
    .await;
    // B refused the new key's token as one to refresh (401), and alice refreshed there.
    let metrics = reqwest::get(format!("{}/metrics", b.url())).await.unwrap().text().await.unwrap();
    let requests = |route: &str, status: &str| {
        metrics.lines().any(|l| {
            l.starts_with("sotto_http_requests_total{")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(requests("/v1/sessions/refresh", "200"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("sotto_http_requests_total{") && l.contains("status=\"401\"")));
    // The bus kept working across the rotation: A seals its events with both keys, and B,
    // which has only the old one, took them.
    assert!(!metrics.contains("sotto_bus_events_refused_total{"), "{metrics}");
    assert!(
        metrics.lines().any(|l| l.starts_with("sotto_bus_events_received_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    alice.sync().await.expect("alice is still signed in, through B");
    for c in [&alice, &bob] {
        c.shutdown();
    }
}
