//! Secrets never leak: not into the log (even at debug level), not into error bodies, and not
//! into the database in the clear.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use ed25519_dalek::Signer;
use reqwest::Method;
use serde_json::json;
use sotto_proto::{ClientFrame, EphemeralTarget, GroupAction, GroupInfo, ServerFrame, Session};

const ALICE_PW: &str = "Zebra-Passw0rd-93f1c8-Quokka";
const BOB_PW: &str = "Marmot-Passw0rd-77aa91-Ibis";
const WRONG_PW: &str = "Wrong-Passw0rd-c0ffee-Heron";
const CT_MARKER: &str = "CIPHERTEXT-MARKER-4b1d9e";
const GROUP_MARKER: &str = "GROUPTEXT-MARKER-8e2f10";
const EPH_MARKER: &str = "EPHEMERAL-MARKER-5a6c3d";
const BACKUP_MARKER: &str = "BACKUP-MARKER-0d9b7e";

/// Collects every secret the scenario handles and every error text the server produced.
#[derive(Default)]
struct Ledger {
    secrets: Vec<(String, String)>,
    errors: Vec<String>,
}

impl Ledger {
    fn secret(&mut self, what: &str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 8, "{what} is too short to search for");
        self.secrets.push((what.to_owned(), value));
    }

    fn session(&mut self, who: &str, s: &Session) {
        self.secret(&format!("{who} access token"), s.access_token.clone());
        // The signature part alone, in case a token is logged in pieces.
        self.secret(&format!("{who} access token signature"), s.access_token.rsplit('.').next().unwrap());
        self.secret(&format!("{who} refresh token"), s.refresh_token.clone());
    }

    async fn error(&mut self, resp: reqwest::Response, status: u16) {
        let (_, text) = error_body(resp, status).await;
        self.errors.push(text);
    }

    fn check(&self, haystack: &str, where_: &str) {
        for (what, value) in &self.secrets {
            if let Some(line) = haystack.lines().find(|line| line.contains(value.as_str())) {
                let shown: String = line.chars().take(300).collect();
                panic!("{what} appears in {where_}: {shown}");
            }
        }
    }
}

#[tokio::test]
async fn secrets_stay_out_of_logs_errors_and_the_database() {
    // RUST_LOG=debug by default; SECRETS_TEST_LOG overrides it (e.g. `trace` shows that
    // tungstenite logs whole frames at trace level, see the report of this suite).
    let server = Server::start_with(
        Launch::new()
            .rust_log(std::env::var("SECRETS_TEST_LOG").unwrap_or_else(|_| "debug".into()))
            .args(["--group-adds", "direct"]),
    )
    .await;
    let mut l = Ledger::default();
    for (what, v) in [
        ("alice's password", ALICE_PW),
        ("bob's password", BOB_PW),
        ("a wrong password", WRONG_PW),
        ("a ciphertext", CT_MARKER),
        ("a group ciphertext", GROUP_MARKER),
        ("an ephemeral body", EPH_MARKER),
        ("a backup blob", BACKUP_MARKER),
    ] {
        l.secret(what, v);
    }

    // Accounts and keys.
    let mut alice = server.register_with("alice", ALICE_PW).await;
    let mut bob = server.register_with("bob", BOB_PW).await;
    l.session("alice", &alice.session);
    l.session("bob", &bob.session);
    for c in [&mut alice, &mut bob] {
        let keys = c.upload_keys().await;
        l.secret("a Curve25519 identity key", keys.curve25519);
        l.secret("an Ed25519 identity key", keys.ed25519);
        l.secret("a device-keys signature", keys.signature);
    }
    // Alice's identity, which confirms the device that signs her group changes.
    let identity = alice.publish_identity().await;
    l.secret("a master key", identity.master_key);
    l.secret("an identity signature", identity.signature);
    let otk_ids: Vec<String> = (0..3).map(|i| format!("KEY{i}")).collect();
    let owner = bob.addr();
    let otks: Vec<_> = otk_ids.iter().map(|id| signed_key(&owner, bob.signing(), id)).collect();
    let fallback = signed_key(&owner, bob.signing(), "FALLBACK");
    for k in otks.iter().chain([&fallback]) {
        l.secret("a one-time key", k.key.clone());
        l.secret("a one-time key signature", k.signature.clone());
    }
    let resp = bob.post("/v1/keys/one-time", &json!({"one_time_keys": otks, "fallback_key": fallback})).await;
    assert_eq!(resp.status(), 200);
    let resp = alice.post("/v1/keys/query", &json!({"user_ids": ["bob"]})).await;
    assert_eq!(resp.status(), 200);
    let resp = alice.post("/v1/keys/claim", &json!({"devices": [bob.addr()]})).await;
    assert_eq!(resp.status(), 200);
    // The token signing key itself.
    let pem = std::fs::read_to_string(server.data_dir().join("jwt-signing-key.pem")).unwrap();
    let pem_body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    l.secret("the token signing key", pem_body);

    // Messages, over HTTP and WebSocket.
    let mut wb = bob.ws().await;
    wb.until_synced().await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    for i in 0..3 {
        alice.send_direct(&mid(&format!("secret-msg-{i:03}")), &[(bob.addr(), format!("{CT_MARKER}-{i}"))]).await;
        wb.next_entry().await;
    }
    let create = GroupAction::Create { name: "secret club".into(), members: vec![uid("bob")], invited: vec![] };
    let create = alice.sign_change(&random_gid(), 1, None, create);
    l.secret("a group change signature", create.signature.clone());
    let resp = alice.post("/v1/groups", &create).await;
    assert_eq!(resp.status(), 201);
    let group: GroupInfo = resp.json().await.unwrap();
    wb.next_entry().await; // created
    wa.next_entry().await;
    let resp = alice
        .post(
            &format!("/v1/groups/{}/messages", group.group_id),
            &json!({"message_id": "group-secret-1", "ciphertext": GROUP_MARKER}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let last = wb.next_entry().await;
    wa.send_frame(&ClientFrame::Ephemeral {
        to: EphemeralTarget::User { user_id: uid("bob") },
        body: EPH_MARKER.into(),
    })
    .await;
    assert!(matches!(wb.next_frame().await, ServerFrame::Ephemeral { .. }));
    // A bad frame carrying a secret: the error frame must not echo it.
    wa.send_text(
        json!({"type": "ephemeral", "to": {"type": "user", "user_id": "bob"}, "body": EPH_MARKER, "x": 1}).to_string(),
    )
    .await;
    match wa.next_frame().await {
        ServerFrame::Error { message, .. } => l.errors.push(message),
        other => panic!("expected an error frame, got {other:?}"),
    }
    let page = bob.inbox(0, 100).await;
    assert!(!page.entries.is_empty());
    wb.send_frame(&ClientFrame::Ack { up_to: last.seq }).await;
    wb.close().await;
    wa.close().await;

    // Backup.
    let resp = alice.put("/v1/backup", &json!({"expected_version": 0, "blob": BACKUP_MARKER})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(alice.get("/v1/backup").await.status(), 200);

    // Token refresh, and a replay of the spent token.
    let resp = server
        .anon(Method::POST, "/v1/sessions/refresh")
        .json(&json!({"refresh_token": alice.session.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let lost: Session = resp.json().await.unwrap();
    l.session("alice (refreshed, answer lost)", &lost);
    // Presented once more (the answer was lost): a new pair; a third time is a replay.
    let present_again = || {
        server
            .anon(Method::POST, "/v1/sessions/refresh")
            .json(&json!({"refresh_token": alice.session.refresh_token}))
            .send()
    };
    let resp = present_again().await.unwrap();
    assert_eq!(resp.status(), 200);
    let refreshed: Session = resp.json().await.unwrap();
    l.session("alice (refreshed)", &refreshed);
    l.error(present_again().await.unwrap(), 401).await;
    let alice2 = server.login_with("alice", ALICE_PW).await;
    l.session("alice's second device", &alice2.session);
    // The replay signed alice's first device out; she signs in again.
    let alice = server.login_with("alice", ALICE_PW).await;
    l.session("alice's third device", &alice.session);

    // Error paths that carry secrets.
    let login = |body: String| {
        server.anon(Method::POST, "/v1/sessions").header("content-type", "application/json").body(body).send()
    };
    l.error(login(json!({"user_id": "alice", "password": WRONG_PW}).to_string()).await.unwrap(), 401).await;
    l.error(login(json!({"user_id": "mallory", "password": WRONG_PW}).to_string()).await.unwrap(), 401).await;
    // Malformed JSON, an unknown field, a wrong type, and the password typed into the user id.
    l.error(login(format!(r#"{{"user_id": "alice", "password": "{ALICE_PW}""#)).await.unwrap(), 400).await;
    l.error(
        login(json!({"user_id": "alice", "password": ALICE_PW, "remember": ALICE_PW}).to_string()).await.unwrap(),
        400,
    )
    .await;
    l.error(
        login(json!({"user_id": "alice", "password": ALICE_PW, "device_name": [ALICE_PW]}).to_string()).await.unwrap(),
        400,
    )
    .await;
    l.error(login(json!({"user_id": ALICE_PW, "password": ALICE_PW}).to_string()).await.unwrap(), 400).await;
    // A string where a number belongs: serde quotes such values, the server must not.
    l.error(alice2.post("/v1/inbox/ack", &json!({"up_to": ALICE_PW})).await, 400).await;
    l.error(
        login(json!({"user_id": "alice", "password": format!("{ALICE_PW}{}", "x".repeat(1100))}).to_string())
            .await
            .unwrap(),
        401,
    )
    .await;
    let resp = server
        .anon(Method::POST, "/v1/accounts")
        .json(&json!({"user_id": "alice", "password": ALICE_PW}))
        .send()
        .await
        .unwrap();
    l.error(resp, 409).await;
    let resp = server
        .anon(Method::POST, "/v1/accounts")
        .json(&json!({"user_id": "carol", "password": ALICE_PW, "x": ALICE_PW}))
        .send()
        .await
        .unwrap();
    l.error(resp, 400).await;
    let resp = server
        .anon(Method::POST, "/v1/accounts")
        .body(json!({"user_id": "carol", "password": ALICE_PW}).to_string())
        .send()
        .await
        .unwrap();
    l.error(resp, 415).await;
    // Removing a device with a wrong password.
    let resp = alice.delete_json(&format!("/v1/devices/{}", alice2.device()), &json!({"password": WRONG_PW})).await;
    l.error(resp, 401).await;
    // A bad signature over real key material.
    let signing = new_signing_key();
    let mut keys = device_keys(&alice2.addr(), &signing);
    keys.signature = b64(&signing.sign(b"not the keys").to_bytes());
    l.secret("rejected identity key", keys.curve25519.clone());
    l.secret("rejected signature", keys.signature.clone());
    l.error(alice2.put("/v1/keys/device", &keys).await, 400).await;
    // Tokens in places they do not belong.
    let resp =
        server.anon(Method::GET, "/v1/devices").bearer_auth(format!("{}x", alice2.token())).send().await.unwrap();
    l.error(resp, 401).await;
    let resp = server
        .anon(Method::POST, "/v1/sessions/refresh")
        .json(&json!({"refresh_token": refreshed.refresh_token, "again": refreshed.refresh_token}))
        .send()
        .await
        .unwrap();
    l.error(resp, 400).await;
    // Ciphertext in a refused send.
    let resp = alice.send_direct_raw(&mid("secret-msg-bad"), &[(alice2.addr(), format!("{CT_MARKER}-refused"))]).await;
    l.error(resp, 409).await;
    let resp = alice.post("/v1/backup", &json!({"expected_version": 0, "blob": BACKUP_MARKER})).await;
    l.error(resp, 405).await;
    let resp = alice.put("/v1/backup", &json!({"expected_version": 0, "blob": BACKUP_MARKER})).await;
    l.error(resp, 409).await;

    // Stop the server cleanly so every log line and the database are on disk.
    server.sigterm();
    let mut server = server;
    let status = server.wait_exit(TIMEOUT).await.expect("the server did not stop");
    assert!(status.success());

    // The log is real (debug level, with our requests in it) and holds no secret.
    let log = server.logs();
    assert!(log.contains("account registered"), "the log misses info lines:\n{log}");
    assert!(log.contains("DEBUG"), "the log has no debug lines:\n{log}");
    assert!(log.contains("refresh token was replayed"), "{log}");
    l.check(&log, "the server log");
    for e in &l.errors {
        l.check(e, &format!("the error body {e}"));
    }

    // The database files: no password, no refresh token, no access token.
    let db_secrets: Vec<&str> = [ALICE_PW, BOB_PW, WRONG_PW].into_iter().collect();
    let mut tokens: Vec<String> =
        l.secrets.iter().filter(|(w, _)| w.contains("token")).map(|(_, v)| v.clone()).collect();
    tokens.retain(|t| !t.is_empty());
    let mut files = 0;
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("sotto.db") {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        for s in db_secrets.iter().copied().chain(tokens.iter().map(String::as_str)) {
            assert!(!contains(&bytes, s.as_bytes()), "{name} contains a secret ({}...)", &s[..8]);
        }
    }
    assert!(files >= 1);
    // Passwords are argon2id hashes; refresh tokens are 32-byte hashes.
    let db = rusqlite::Connection::open(server.data_dir().join("sotto.db")).unwrap();
    let hashes: Vec<String> = db
        .prepare("SELECT password_hash FROM accounts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(hashes.len(), 2);
    for h in &hashes {
        assert!(h.starts_with("$argon2id$"), "not an argon2id hash: {h}");
    }
    let lens: Vec<i64> = db
        .prepare("SELECT length(hash) FROM refresh_tokens")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!lens.is_empty());
    assert!(lens.iter().all(|&n| n == 32), "{lens:?}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
