//! Accounts, sign-in, token refresh, sign-out, device removal and the JWKS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use sotto_proto::{AccessClaims, DeviceList, Jwks, Session};

async fn refresh(server: &Server, token: &str) -> reqwest::Response {
    server.anon(Method::POST, "/v1/sessions/refresh").json(&json!({ "refresh_token": token })).send().await.unwrap()
}

async fn device_ids(c: &Client) -> Vec<String> {
    let resp = c.get("/v1/devices").await;
    assert_eq!(resp.status(), 200);
    let list: DeviceList = resp.json().await.unwrap();
    list.devices.into_iter().map(|d| d.device_id.to_string()).collect()
}

#[tokio::test]
async fn register_validation() {
    let server = Server::start().await;
    let post = |body: serde_json::Value| server.anon(Method::POST, "/v1/accounts").json(&body).send();

    // Success: 201 with a full session.
    let resp = post(json!({"user_id": "alice", "password": PASSWORD, "device_name": "Laptop"})).await.unwrap();
    assert_eq!(resp.status(), 201);
    let session: Session = resp.json().await.unwrap();
    assert_eq!(session.user_id.as_str(), "alice");
    assert!(!session.device_id.as_str().is_empty());
    assert!(!session.access_token.is_empty() && !session.refresh_token.is_empty());
    assert_eq!(session.expires_in, 900);
    let alice = server.client(session, PASSWORD);
    let resp = alice.get("/v1/devices").await;
    assert_eq!(resp.status(), 200);
    let list: DeviceList = resp.json().await.unwrap();
    assert_eq!(list.devices.len(), 1);
    assert_eq!(list.devices[0].name.as_deref(), Some("Laptop"));
    assert!(!list.devices[0].has_keys);

    // The same id again.
    let resp = post(json!({"user_id": "alice", "password": "another password"})).await.unwrap();
    assert_error(resp, 409, "user_exists").await;

    // Invalid user ids (upper case, too short, bad first char, too long).
    for bad in ["Alice", "al", ".alice", "a b c", &"x".repeat(65)] {
        let resp = post(json!({"user_id": bad, "password": PASSWORD})).await.unwrap();
        let (body, text) = error_body(resp, 400).await;
        let code = serde_json::to_value(body.code).unwrap();
        assert!(code == "invalid_json" || code == "invalid_input", "user id {bad:?}: {text}");
    }

    // Password too short / too long.
    let resp = post(json!({"user_id": "bob", "password": "short"})).await.unwrap();
    assert_error(resp, 400, "invalid_input").await;
    let resp = post(json!({"user_id": "bob", "password": "p".repeat(1025)})).await.unwrap();
    assert_error(resp, 400, "invalid_input").await;

    // Device names: too long, control characters.
    let resp = post(json!({"user_id": "bob", "password": PASSWORD, "device_name": "n".repeat(65)})).await.unwrap();
    assert_error(resp, 400, "invalid_input").await;
    let resp = post(json!({"user_id": "bob", "password": PASSWORD, "device_name": "lap\u{7}top"})).await.unwrap();
    assert_error(resp, 400, "invalid_input").await;

    // Unknown field, malformed JSON, wrong type.
    let resp = post(json!({"user_id": "bob", "password": PASSWORD, "admin": true})).await.unwrap();
    assert_error(resp, 400, "invalid_json").await;
    let resp = server
        .anon(Method::POST, "/v1/accounts")
        .header("content-type", "application/json")
        .body(r#"{"user_id": "bob", "password": "#)
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "invalid_json").await;
    let resp = post(json!({"user_id": "bob", "password": 12345678})).await.unwrap();
    assert_error(resp, 400, "invalid_json").await;

    // No content type.
    let resp = server
        .anon(Method::POST, "/v1/accounts")
        .body(json!({"user_id": "bob", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_error(resp, 415, "unsupported_media_type").await;

    // None of the refused attempts created bob.
    let resp = server
        .anon(Method::POST, "/v1/sessions")
        .json(&json!({"user_id": "bob", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn login_and_credentials() {
    let server = Server::start().await;
    let first = server.register("alice").await;
    let second = server.login("alice").await;
    assert_eq!(second.user(), first.user());
    assert_ne!(second.device(), first.device(), "a login makes a new device");
    let mut ids = device_ids(&first).await;
    ids.sort();
    let mut want = vec![first.device().to_string(), second.device().to_string()];
    want.sort();
    assert_eq!(ids, want);

    let login = |user: &str, password: &str| {
        server.anon(Method::POST, "/v1/sessions").json(&json!({"user_id": user, "password": password})).send()
    };
    let resp = login("alice", "wrong password!").await.unwrap();
    let wrong = assert_error(resp, 401, "invalid_credentials").await;
    let resp = login("nobody", PASSWORD).await.unwrap();
    let unknown = assert_error(resp, 401, "invalid_credentials").await;
    assert_eq!(wrong.message, unknown.message, "a wrong password and an unknown user look the same");
    // Failed logins made no devices.
    assert_eq!(device_ids(&first).await.len(), 2);
}

#[tokio::test]
async fn refresh_rotates_survives_a_lost_answer_and_replay_signs_out() {
    let mut server = Server::start().await;
    let alice = server.register("alice").await;
    let s0 = alice.session.clone();

    // Rotation: a new pair; the new access token works.
    let resp = refresh(&server, &s0.refresh_token).await;
    assert_eq!(resp.status(), 200);
    let lost: Session = resp.json().await.unwrap();
    assert_eq!(lost.user_id, s0.user_id);
    assert_eq!(lost.device_id, s0.device_id);
    assert_ne!(lost.refresh_token, s0.refresh_token);
    // That answer never reached the client (a dropped connection): it retries with the same
    // token, and gets a working pair for the same device; the pair it never saw is dropped.
    let resp = refresh(&server, &s0.refresh_token).await;
    assert_eq!(resp.status(), 200);
    let s1: Session = resp.json().await.unwrap();
    assert_eq!(s1.device_id, s0.device_id);
    assert_ne!(s1.refresh_token, lost.refresh_token);
    assert_error(refresh(&server, &lost.refresh_token).await, 401, "unauthorized").await;
    let a1 = server.client(s1.clone(), PASSWORD);
    assert_eq!(a1.get("/v1/devices").await.status(), 200);

    // Second rotation with the current token works too.
    let resp = refresh(&server, &s1.refresh_token).await;
    assert_eq!(resp.status(), 200);
    let s2: Session = resp.json().await.unwrap();

    // Presenting the spent s0 token once more (its successor was used) is a replay: it fails ...
    let resp = refresh(&server, &s0.refresh_token).await;
    assert_error(resp, 401, "unauthorized").await;
    // ... and signs the device out: the newest refresh token fails too and its access token dies
    // at once, also after a restart. The device stays (its keys, its inbox): its owner signs it
    // in again with the password.
    let resp = refresh(&server, &s2.refresh_token).await;
    assert_error(resp, 401, "unauthorized").await;
    let a2 = server.client(s2.clone(), PASSWORD);
    assert_error(a2.get("/v1/devices").await, 401, "unauthorized").await;
    server.restart().await;
    assert_error(a2.get("/v1/devices").await, 401, "unauthorized").await;
    let other = server.login("alice").await;
    let listed = device_ids(&other).await;
    assert!(listed.contains(&s0.device_id.to_string()), "{listed:?}");
    let resp = server
        .anon(Method::POST, "/v1/sessions")
        .json(&json!({"user_id": "alice", "password": PASSWORD, "device_id": s0.device_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let again = server.client(resp.json().await.unwrap(), PASSWORD);
    assert_eq!(again.get("/v1/devices").await.status(), 200);

    // Garbage and malformed refresh requests.
    let resp = refresh(&server, "not-a-token").await;
    assert_error(resp, 401, "unauthorized").await;
    let resp = server
        .anon(Method::POST, "/v1/sessions/refresh")
        .json(&json!({"refresh_token": s2.refresh_token, "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "invalid_json").await;
}

#[tokio::test]
async fn logout_removes_the_device_at_once() {
    let server = Server::start().await;
    let laptop = server.register("alice").await;
    let phone = server.login("alice").await;
    assert_eq!(device_ids(&laptop).await.len(), 2);

    let resp = phone.delete("/v1/sessions/current").await;
    assert_eq!(resp.status(), 204);
    // The access token stops working at once, long before it expires.
    assert_error(phone.get("/v1/devices").await, 401, "unauthorized").await;
    assert_error(phone.delete("/v1/sessions/current").await, 401, "unauthorized").await;
    // Its refresh token is gone too.
    assert_error(refresh(&server, &phone.session.refresh_token).await, 401, "unauthorized").await;
    // The other device no longer sees it.
    assert_eq!(device_ids(&laptop).await, vec![laptop.device().to_string()]);
    assert_eq!(laptop.get("/v1/devices").await.status(), 200);
}

#[tokio::test]
async fn delete_other_device_needs_the_password() {
    let server = Server::start().await;
    let laptop = server.register("alice").await;
    let phone = server.login("alice").await;
    let bob = server.register("bob").await;
    let path = format!("/v1/devices/{}", phone.device());

    // Wrong password.
    let resp = laptop.delete_json(&path, &json!({"password": "not the password"})).await;
    assert_error(resp, 401, "invalid_credentials").await;
    assert_eq!(phone.get("/v1/devices").await.status(), 200);
    // Unknown device.
    let resp = laptop.delete_json("/v1/devices/NoSuchDevice", &json!({"password": PASSWORD})).await;
    assert_error(resp, 404, "not_found").await;
    // Another user's device is not one of mine: 404, and it keeps working.
    let resp = laptop.delete_json(&format!("/v1/devices/{}", bob.device()), &json!({"password": PASSWORD})).await;
    assert_error(resp, 404, "not_found").await;
    assert_eq!(bob.get("/v1/devices").await.status(), 200);
    // Missing body.
    let resp = laptop.delete(&path).await;
    let (_, text) = error_body(resp, 415).await;
    assert!(text.contains("unsupported_media_type"), "{text}");

    // Right password: gone, and its token stops working.
    let resp = laptop.delete_json(&path, &json!({"password": PASSWORD})).await;
    assert_eq!(resp.status(), 204);
    assert_error(phone.get("/v1/devices").await, 401, "unauthorized").await;
    assert_eq!(device_ids(&laptop).await, vec![laptop.device().to_string()]);
    // Deleting it again: 404.
    let resp = laptop.delete_json(&path, &json!({"password": PASSWORD})).await;
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test]
async fn jwks_verifies_access_tokens() {
    let server = Server::start().await;
    let alice = server.register("alice").await;
    let resp = server.anon(Method::GET, "/v1/jwks.json").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let jwks: Jwks = resp.json().await.unwrap();
    assert_eq!(jwks.keys.len(), 1);
    let jwk = &jwks.keys[0];
    assert_eq!(
        (jwk.kty.as_str(), jwk.crv.as_str(), jwk.alg.as_str(), jwk.use_.as_str()),
        ("OKP", "Ed25519", "EdDSA", "sig")
    );
    assert!(!jwk.kid.is_empty());

    let header = jsonwebtoken::decode_header(alice.token()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(jwk.kid.as_str()));

    let key = jsonwebtoken::DecodingKey::from_ed_components(&jwk.x).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["sotto-server"]);
    let data = jsonwebtoken::decode::<AccessClaims>(alice.token(), &key, &validation).unwrap();
    assert_eq!(data.claims.sub, "alice");
    assert_eq!(data.claims.dev, alice.device().as_str());
    assert_eq!(data.claims.exp - data.claims.iat, 900);
    assert!(data.claims.iat.abs_diff(unix_secs()) < 60);

    // A token signed by another key does not verify against the JWKS.
    let forged = sign_token(&new_signing_key(), &data.claims);
    assert!(jsonwebtoken::decode::<AccessClaims>(&forged, &key, &validation).is_err());
}

#[tokio::test]
async fn access_token_ttl_flag() {
    let server = Server::start_with(Launch::new().args(["--access-token-ttl", "60"])).await;
    let alice = server.register("alice").await;
    assert_eq!(alice.session.expires_in, 60);
    let claims: AccessClaims = {
        let key = jsonwebtoken::DecodingKey::from_ed_components(
            &server.http.get(server.url("/v1/jwks.json")).send().await.unwrap().json::<Jwks>().await.unwrap().keys[0].x,
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_issuer(&["sotto-server"]);
        jsonwebtoken::decode(alice.token(), &key, &validation).unwrap().claims
    };
    assert_eq!(claims.exp - claims.iat, 60);
}

/// A refresh must never spend the token and then refuse the request (e.g. with 429): the client
/// never saw the new token, so it can only retry with the old one, which would then look like a
/// replay and revoke the device. Either the refresh is not rate limited, or a 429 leaves the
/// token usable.
/// A removed device's token (kept by whoever held it) does not spend its account's budget: the
/// device is checked before the rate limit.
#[tokio::test]
async fn a_removed_devices_token_does_not_drain_the_accounts_rate_limit() {
    let server = Server::start_with(Launch::new().args(["--rate-limit", "1", "--rate-burst", "3"])).await;
    let laptop = server.register("alice").await;
    let stolen = server.login("alice").await;
    assert_eq!(stolen.delete("/v1/sessions/current").await.status(), 204);
    for _ in 0..20 {
        assert_error(stolen.get("/v1/devices").await, 401, "unauthorized").await;
    }
    assert_eq!(laptop.get("/v1/devices").await.status(), 200);
}

#[tokio::test]
async fn a_rate_limited_account_can_still_refresh_safely() {
    let server = Server::start_with(Launch::new().args(["--rate-limit", "1", "--rate-burst", "1"])).await;
    let alice = server.register("alice").await;
    let token = alice.session.refresh_token.clone();
    // Use up alice's budget.
    let mut exhausted = false;
    for _ in 0..5 {
        if alice.get("/v1/devices").await.status() == 429 {
            exhausted = true;
            break;
        }
    }
    assert!(exhausted, "the account was never rate limited");
    let deadline = std::time::Instant::now() + TIMEOUT;
    let session: Session = loop {
        let resp = refresh(&server, &token).await;
        match resp.status().as_u16() {
            200 => break resp.json().await.unwrap(),
            429 => {
                assert_error(resp, 429, "rate_limited").await;
                assert!(std::time::Instant::now() < deadline, "still rate limited after 10 s");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            _ => {
                let (_, text) = error_body(resp, 401).await;
                panic!("a refused refresh spent the token: {text}");
            }
        }
    };
    // The new refresh token works (nothing was revoked on the way).
    let resp = refresh(&server, &session.refresh_token).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn signing_an_existing_device_in_again_revokes_its_tokens_and_one_time_keys() {
    let mut server = Server::start().await;
    let alice = server.register_keyed("alice").await;
    let ids: Vec<String> = (0..3).map(|i| format!("K{i}")).collect();
    alice.upload_otks(&ids, Some("F")).await;
    let login = |body: serde_json::Value| server.anon(Method::POST, "/v1/sessions").json(&body).send();

    // A wrong password is refused before the device is touched.
    let resp =
        login(json!({"user_id": "alice", "password": "wrong password", "device_id": alice.device()})).await.unwrap();
    assert_error(resp, 401, "invalid_credentials").await;
    assert_eq!(alice.get("/v1/devices").await.status(), 200);

    let resp = login(json!({"user_id": "alice", "password": PASSWORD, "device_id": alice.device()})).await.unwrap();
    assert_eq!(resp.status(), 200);
    let session: Session = resp.json().await.unwrap();
    assert_eq!(&session.device_id, alice.device(), "the same device, not a new one");
    let again = server.client(session, PASSWORD);
    // The earlier access and refresh tokens stopped working, and stay stopped after a restart;
    // the new ones work.
    assert_error(alice.get("/v1/devices").await, 401, "unauthorized").await;
    assert_error(refresh(&server, &alice.session.refresh_token).await, 401, "unauthorized").await;
    server.restart().await;
    assert_error(alice.get("/v1/devices").await, 401, "unauthorized").await;
    assert_eq!(device_ids(&again).await, [alice.device().to_string()]);
    // The unclaimed one-time keys are gone; the fallback key stays, and so do the identity keys.
    let counts = again.key_counts().await;
    assert_eq!((counts.one_time_keys, counts.has_fallback), (0, true));
    let resp = again.post("/v1/keys/query", &json!({"user_ids": ["alice"]})).await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["users"][0]["devices"][0]["device_id"], alice.device().as_str());
    let resp = refresh(&server, &again.session.refresh_token).await;
    assert_eq!(resp.status(), 200);

    // Another account's device, or one that does not exist: 404, and no device is created.
    let bob = server.register("bob").await;
    let login = |body: serde_json::Value| server.anon(Method::POST, "/v1/sessions").json(&body).send();
    let resp = login(json!({"user_id": "alice", "password": PASSWORD, "device_id": bob.device()})).await.unwrap();
    assert_error(resp, 404, "not_found").await;
    let resp = login(json!({"user_id": "alice", "password": PASSWORD, "device_id": "NOSUCHDEVICE"})).await.unwrap();
    assert_error(resp, 404, "not_found").await;
    assert_eq!(device_ids(&again).await.len(), 1);
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_keeps_every_device_signed_in() {
    let server = Server::start().await;
    let alice = server.register("alice").await;
    let laptop = server.login("alice").await;
    let bob = server.register("bob").await;
    const NEW: &str = "a brand new password";
    let body = |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let sign_in = |password: &str| {
        server.anon(Method::POST, "/v1/sessions").json(&json!({ "user_id": "alice", "password": password })).send()
    };

    // Refused, and nothing changes: a wrong current password, a new one of the wrong length, an
    // unknown field, no token.
    let resp = alice.put("/v1/account/password", &body("not the password", NEW)).await;
    assert_error(resp, 401, "invalid_credentials").await;
    assert_error(alice.put("/v1/account/password", &body(PASSWORD, "short")).await, 400, "invalid_input").await;
    let too_long = "p".repeat(1025);
    assert_error(alice.put("/v1/account/password", &body(PASSWORD, &too_long)).await, 400, "invalid_input").await;
    let resp =
        alice.put("/v1/account/password", &json!({ "current_password": PASSWORD, "new_password": NEW, "x": 1 })).await;
    assert_error(resp, 400, "invalid_json").await;
    let resp = server.anon(Method::PUT, "/v1/account/password").json(&body(PASSWORD, NEW)).send().await.unwrap();
    assert_error(resp, 401, "unauthorized").await;
    assert_eq!(sign_in(PASSWORD).await.unwrap().status(), 200, "the old password still works");
    assert_error(sign_in(NEW).await.unwrap(), 401, "invalid_credentials").await;

    // Changed from the laptop.
    let resp = laptop.put("/v1/account/password", &body(PASSWORD, NEW)).await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap_or_default());
    assert_error(sign_in(PASSWORD).await.unwrap(), 401, "invalid_credentials").await;
    assert_eq!(sign_in(NEW).await.unwrap().status(), 200);
    // Only alice's password changed.
    assert_eq!(server.login_with("bob", PASSWORD).await.user(), bob.user());

    // Every device stays signed in: access tokens work and refresh tokens still trade.
    for device in [&alice, &laptop] {
        assert_eq!(device.get("/v1/devices").await.status(), 200);
        let resp = refresh(&server, &device.session.refresh_token).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    }
    // What needs the password takes the new one only.
    let target = format!("/v1/devices/{}", laptop.device());
    let resp = alice.delete_json(&target, &json!({ "password": PASSWORD })).await;
    assert_error(resp, 401, "invalid_credentials").await;
    let resp = alice.put("/v1/account/password", &body(PASSWORD, "yet another password")).await;
    assert_error(resp, 401, "invalid_credentials").await;

    // Guessing the current password is rate limited like sign-in (10 tries per user id).
    let mut limited = false;
    for _ in 0..12 {
        let resp = alice.put("/v1/account/password", &body("a wrong guess", "whatever it is")).await;
        if resp.status() == 429 {
            assert_error(resp, 429, "rate_limited").await;
            limited = true;
            break;
        }
        assert_error(resp, 401, "invalid_credentials").await;
    }
    assert!(limited, "wrong current passwords are rate limited");
}
