//! Authentication on every protected route, and access control between users and group roles.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use sotto_proto::{AccessClaims, ClientFrame, EphemeralTarget, ErrorCode, GroupAction, GroupInfo, Role, ServerFrame};

/// Every route of `api/mod.rs` that needs a token, with a body of the right shape.
fn protected_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    let payload = json!({"user_id": "bob", "device_id": "D1", "ciphertext": "x"});
    let change = json!({"change": "{}", "signature": "x"});
    vec![
        (Method::DELETE, "/v1/sessions/current", None),
        (Method::GET, "/v1/devices", None),
        (Method::DELETE, "/v1/devices/D1", Some(json!({"password": PASSWORD}))),
        (
            Method::PUT,
            "/v1/keys/device",
            Some(json!({"user_id": "alice", "device_id": "D1", "curve25519": "x", "ed25519": "x", "signature": "x"})),
        ),
        (Method::POST, "/v1/keys/one-time", Some(json!({"one_time_keys": []}))),
        (Method::GET, "/v1/keys/count", None),
        (Method::POST, "/v1/keys/query", Some(json!({"user_ids": ["bob"]}))),
        (Method::POST, "/v1/keys/claim", Some(json!({"devices": [{"user_id": "bob", "device_id": "D1"}]}))),
        (Method::POST, "/v1/messages", Some(json!({"message_id": "msg-00000001", "payloads": [payload]}))),
        (Method::GET, "/v1/inbox", None),
        (Method::POST, "/v1/inbox/ack", Some(json!({"up_to": 1}))),
        (Method::GET, "/v1/ws", None),
        (Method::POST, "/v1/groups", Some(change.clone())),
        (Method::GET, "/v1/groups", None),
        (Method::GET, "/v1/groups/G1", None),
        (Method::POST, "/v1/groups/G1/changes", Some(change)),
        (Method::GET, "/v1/groups/G1/changes", None),
        (Method::POST, "/v1/groups/G1/messages", Some(json!({"message_id": "msg-00000001", "ciphertext": "x"}))),
        (Method::GET, "/v1/backup", None),
        (Method::PUT, "/v1/backup", Some(json!({"expected_version": 0, "blob": "x"}))),
    ]
}

#[tokio::test]
async fn every_protected_route_refuses_bad_tokens() {
    let server = Server::start().await;
    let alice = server.register("alice").await;
    let doomed = server.login("alice").await;
    assert_eq!(doomed.delete("/v1/sessions/current").await.status(), 204);

    let now = unix_secs();
    let claims = AccessClaims {
        iss: "sotto-server".into(),
        sub: "alice".into(),
        dev: alice.device().to_string(),
        iat: now,
        exp: now + 600,
    };
    // Sanity: a token minted with the server's own key and these claims is accepted, so the
    // refusals below are about the one thing each case changes.
    let good = server.mint_token(&claims);
    let resp = server.anon(Method::GET, "/v1/devices").bearer_auth(&good).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let forged = sign_token(&new_signing_key(), &claims);
    let server_kid = {
        let jwks: sotto_proto::Jwks =
            server.anon(Method::GET, "/v1/jwks.json").send().await.unwrap().json().await.unwrap();
        jwks.keys[0].kid.clone()
    };
    let forged_as_server = sign_token_as(&new_signing_key(), &server_kid, &claims);
    let expired = server.mint_token(&AccessClaims { iat: now - 1000, exp: now - 120, ..claims.clone() });
    let wrong_issuer = server.mint_token(&AccessClaims { iss: "someone-else".into(), ..claims.clone() });
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        format!("{header}.{payload}.")
    };
    // Algorithm confusion: HS256 with the server's public key as the HMAC secret.
    let jwks: sotto_proto::Jwks = server.anon(Method::GET, "/v1/jwks.json").send().await.unwrap().json().await.unwrap();
    let public = URL_SAFE_NO_PAD.decode(&jwks.keys[0].x).unwrap();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    // Valid signature, but the device does not exist (signed out above).
    let deleted = server.mint_token(&AccessClaims { dev: doomed.device().to_string(), ..claims.clone() });
    assert_ne!(deleted, doomed.session.access_token);

    // (label, Authorization header value, expected code)
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "unauthorized"),
        ("garbage", Some("Bearer garbage".into()), "unauthorized"),
        ("empty bearer", Some("Bearer ".into()), "unauthorized"),
        ("basic auth", Some(format!("Basic {}", URL_SAFE_NO_PAD.encode("alice:pw"))), "unauthorized"),
        // A token of this server's issuer under another key asks for a refresh (as after a key
        // rotation); it grants nothing.
        ("forged", Some(format!("Bearer {forged}")), "token_expired"),
        ("forged under the server's kid", Some(format!("Bearer {forged_as_server}")), "unauthorized"),
        ("alg none", Some(format!("Bearer {unsigned}")), "unauthorized"),
        ("HS256 with the public key", Some(format!("Bearer {hs256}")), "unauthorized"),
        ("wrong issuer", Some(format!("Bearer {wrong_issuer}")), "unauthorized"),
        ("expired", Some(format!("Bearer {expired}")), "token_expired"),
        ("deleted device (minted)", Some(format!("Bearer {deleted}")), "unauthorized"),
        ("deleted device (issued)", Some(format!("Bearer {}", doomed.token())), "unauthorized"),
    ];

    let mut checked = 0;
    for (method, path, body) in protected_routes() {
        for (label, header, code) in &cases {
            let mut req = server.anon(method.clone(), path);
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.unwrap();
            let (err, text) = error_body(resp, 401).await;
            assert_eq!(
                serde_json::to_value(err.code).unwrap(),
                Value::String((*code).into()),
                "{method} {path} with {label}: {text}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 20 * cases.len());

    // The WebSocket handshake is refused the same way.
    for token in [None, Some("garbage"), Some(forged.as_str()), Some(expired.as_str()), Some(deleted.as_str())] {
        match ws_connect(&server.ws_url(), token).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            Err(e) => panic!("unexpected websocket error: {e}"),
            Ok(_) => panic!("websocket accepted token {token:?}"),
        }
    }
    // And the good token still works (nothing above revoked anything).
    assert_eq!(alice.get("/v1/devices").await.status(), 200);
}

#[tokio::test]
async fn group_access_control() {
    let server = Server::start_team().await;
    let [alice, bob, carol] = server.register_members(["alice", "bob", "carol"]).await;
    server.register("dave").await;

    let group = alice.create_group("team", &["bob", "dave"]).await;
    let g = format!("/v1/groups/{}", group.group_id);
    let id = &group.group_id;
    // Changes of every kind, each signed by the one sending it at the head of the log.
    let (seq, prev) = alice.next_change(id).await;
    let actions = || {
        [
            GroupAction::Add { users: vec![uid("carol")] },
            GroupAction::Remove { user: uid("dave") },
            GroupAction::Remove { user: uid("alice") },
            GroupAction::SetRole { user: uid("dave"), role: Role::Admin },
            GroupAction::Dismiss,
        ]
    };

    // Carol, not a member: every group route says not_member.
    assert_error(carol.get(&g).await, 403, "not_member").await;
    assert_error(carol.get(&format!("{g}/changes")).await, 403, "not_member").await;
    let send = json!({"message_id": "carol-msg-1", "ciphertext": "hi"});
    assert_error(carol.post(&format!("{g}/messages"), &send).await, 403, "not_member").await;
    for action in actions().into_iter().chain([GroupAction::Leave]) {
        let resp = carol.post_change(id, &carol.sign_change(id, seq, prev.clone(), action)).await;
        assert_error(resp, 403, "not_member").await;
    }
    // ... nor is the group in her list.
    let list: Value = carol.get("/v1/groups").await.json().await.unwrap();
    assert_eq!(list["groups"].as_array().unwrap().len(), 0);
    // ... nor may she send typing events to it.
    let mut ws = carol.ws().await;
    ws.until_synced().await;
    ws.send_frame(&ClientFrame::Ephemeral {
        to: EphemeralTarget::Group { group_id: group.group_id.clone() },
        body: "typing".into(),
    })
    .await;
    match ws.next_frame().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::NotMember),
        other => panic!("expected an error frame, got {other:?}"),
    }

    // Bob, a plain member: may read, may not administer.
    assert_eq!(bob.get(&g).await.status(), 200);
    assert_eq!(bob.get(&format!("{g}/changes")).await.status(), 200);
    for action in actions() {
        let resp = bob.post_change(id, &bob.sign_change(id, seq, prev.clone(), action)).await;
        assert_error(resp, 403, "not_admin").await;
    }

    // Nothing changed.
    let after: GroupInfo = alice.get(&g).await.json().await.unwrap();
    assert_eq!(after, group);

    // A group that does not exist.
    assert_error(alice.get("/v1/groups/NoSuchGroup").await, 404, "not_found").await;
    assert_error(alice.get("/v1/groups/NoSuchGroup/changes").await, 404, "not_found").await;
    assert_error(alice.post("/v1/groups/NoSuchGroup/messages", &send).await, 404, "not_found").await;
}

#[tokio::test]
async fn devices_and_users_cannot_touch_each_others_resources() {
    let server = Server::start().await;
    let mut alice = server.register("alice").await;
    let alice2 = server.login("alice").await;
    let bob = server.register("bob").await;
    alice.upload_keys().await;

    // A device publishing keys for another device of the same user, or of another user.
    let signing = new_signing_key();
    for target in [alice2.addr(), bob.addr()] {
        let keys = device_keys(&target, &signing);
        assert_error(alice.put("/v1/keys/device", &keys).await, 403, "forbidden").await;
    }
    // Nothing was published for them.
    let devices: Value = alice2.get("/v1/devices").await.json().await.unwrap();
    for d in devices["devices"].as_array().unwrap() {
        let mine = d["device_id"] == json!(alice.device().as_str());
        assert_eq!(d["has_keys"], json!(mine), "{d}");
    }
    let resp = alice.post("/v1/keys/query", &json!({"user_ids": ["bob"]})).await;
    let q: Value = resp.json().await.unwrap();
    assert_eq!(q["users"][0]["devices"].as_array().unwrap().len(), 0);

    // The backup slot is per user.
    let resp = bob.put("/v1/backup", &json!({"expected_version": 0, "blob": "bob's secret"})).await;
    assert_eq!(resp.status(), 200);
    assert_error(alice.get("/v1/backup").await, 404, "not_found").await;
    // Alice writing "version 0" does not touch bob's slot.
    let resp = alice.put("/v1/backup", &json!({"expected_version": 0, "blob": "alice's"})).await;
    assert_eq!(resp.status(), 200);
    let b: Value = bob.get("/v1/backup").await.json().await.unwrap();
    assert_eq!(b["blob"], "bob's secret");

    // Alice cannot remove bob's device, and ack/inbox are always the caller's own.
    let resp = alice.delete_json(&format!("/v1/devices/{}", bob.device()), &json!({"password": PASSWORD})).await;
    assert_error(resp, 404, "not_found").await;
    assert_eq!(bob.get("/v1/devices").await.status(), 200);
}

/// RFC 7235 section 2.1: the authentication scheme is case-insensitive, so `bearer <token>` is
/// as valid as `Bearer <token>` (some HTTP libraries lower-case it).
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let server = Server::start().await;
    let alice = server.register("alice").await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let resp = server
            .anon(Method::GET, "/v1/devices")
            .header("authorization", format!("{scheme} {}", alice.token()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "scheme {scheme:?}");
    }
}
