//! Sign-in with a JWT from an integrator's own backend (`--external-jwt-issuer` and
//! `--external-jwt-key`), as in the seed's JWT flow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use reqwest::Method;
use serde_json::json;
use sotto_proto::{AccessClaims, Session};

const ISSUER: &str = "https://backend.example";

fn claims(sub: &str, iss: &str, exp: u64) -> AccessClaims {
    AccessClaims { iss: iss.into(), sub: sub.into(), dev: String::new(), iat: unix_secs(), exp }
}

async fn exchange(server: &Server, token: &str) -> reqwest::Response {
    server
        .anon(Method::POST, "/v1/sessions/external")
        .json(&json!({"token": token, "device_name": "Work laptop"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn external_tokens_sign_devices_in() {
    let backend = new_signing_key();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("backend.pub.pem");
    std::fs::write(&key_path, backend.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    let server = Server::start_with(Launch::new().args([
        "--external-jwt-issuer",
        ISSUER,
        "--external-jwt-key",
        key_path.to_str().unwrap(),
    ]))
    .await;
    let later = unix_secs() + 300;

    // First use creates the account; a second token signs in a second device of the same user.
    let resp = exchange(&server, &sign_token(&backend, &claims("erin", ISSUER, later))).await;
    assert_eq!(resp.status(), 200);
    let first: Session = resp.json().await.unwrap();
    assert_eq!(first.user_id.as_str(), "erin");
    let resp = exchange(&server, &sign_token(&backend, &claims("erin", ISSUER, later))).await;
    let second: Session = resp.json().await.unwrap();
    assert_ne!(second.device_id, first.device_id);
    let erin = server.client(first.clone(), PASSWORD);
    let resp = erin.get("/v1/devices").await;
    assert_eq!(resp.status(), 200);
    let list: sotto_proto::DeviceList = resp.json().await.unwrap();
    assert_eq!(list.devices.len(), 2);
    assert!(list.devices.iter().any(|d| d.name.as_deref() == Some("Work laptop")));

    // A token naming an account made with a password does not open it, and makes no device.
    let alice = server.register("alice").await;
    let resp = exchange(&server, &sign_token(&backend, &claims("alice", ISSUER, later))).await;
    assert_error(resp, 403, "forbidden").await;
    let resp = alice.get("/v1/devices").await;
    let list: sotto_proto::DeviceList = resp.json().await.unwrap();
    assert_eq!(list.devices.len(), 1);

    // The account has no password: password sign-in fails like any wrong password.
    let resp = server
        .anon(Method::POST, "/v1/sessions")
        .json(&json!({"user_id": "erin", "password": "!external"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "invalid_credentials").await;
    // Nor can anything that needs the password be done: a clear error, not a wrong password.
    let resp = erin
        .put("/v1/account/password", &json!({"current_password": "!external", "new_password": "a new password"}))
        .await;
    assert_error(resp, 409, "no_password").await;
    let mut keyed = erin.clone();
    let keys = keyed.upload_keys().await;
    let resp = keyed.post("/v1/keys/device/reset", &json!({"password": "", "keys": keys})).await;
    assert_error(resp, 409, "no_password").await;

    // Refused: another issuer, another key, expired, a bad user id, and an external token used
    // directly as a Sotto access token.
    assert_error(
        exchange(&server, &sign_token(&backend, &claims("erin", "https://evil.example", later))).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        exchange(&server, &sign_token(&new_signing_key(), &claims("erin", ISSUER, later))).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        exchange(&server, &sign_token(&backend, &claims("erin", ISSUER, unix_secs() - 120))).await,
        401,
        "token_expired",
    )
    .await;
    assert_error(
        exchange(&server, &sign_token(&backend, &claims("Not Valid", ISSUER, later))).await,
        400,
        "invalid_input",
    )
    .await;
    assert_error(exchange(&server, "not-a-jwt").await, 401, "unauthorized").await;
    let direct = sign_token(&backend, &claims("erin", ISSUER, later));
    let resp = server.anon(Method::GET, "/v1/devices").bearer_auth(direct).send().await.unwrap();
    assert_error(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn single_use_tokens_sign_in_once_also_after_a_restart() {
    let backend = new_signing_key();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("backend.pub.pem");
    std::fs::write(&key_path, backend.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    let mut server = Server::start_with(Launch::new().args([
        "--external-jwt-issuer",
        ISSUER,
        "--external-jwt-key",
        key_path.to_str().unwrap(),
        "--external-jwt-single-use",
    ]))
    .await;
    let later = unix_secs() + 300;
    let with_jti = |jti: &str| sign_token(&backend, &json!({"iss": ISSUER, "sub": "erin", "exp": later, "jti": jti}));

    let token = with_jti("login-1");
    assert_eq!(exchange(&server, &token).await.status(), 200);
    // The same token again (a copy, a replay): refused, and no device is made.
    assert_error(exchange(&server, &token).await, 401, "unauthorized").await;
    server.process.restart().await;
    assert_error(exchange(&server, &token).await, 401, "unauthorized").await;
    // Another token of the issuer works; one without a `jti` is refused.
    let resp = exchange(&server, &with_jti("login-2")).await;
    assert_eq!(resp.status(), 200);
    let erin = server.client(resp.json().await.unwrap(), PASSWORD);
    let list: sotto_proto::DeviceList = erin.get("/v1/devices").await.json().await.unwrap();
    assert_eq!(list.devices.len(), 2);
    assert_error(exchange(&server, &sign_token(&backend, &claims("erin", ISSUER, later))).await, 401, "unauthorized")
        .await;
    let long = "j".repeat(257);
    assert_error(exchange(&server, &with_jti(&long)).await, 400, "invalid_input").await;
}

#[tokio::test]
async fn without_an_external_issuer_the_route_is_refused() {
    let server = Server::start().await;
    let token = sign_token(&new_signing_key(), &claims("erin", ISSUER, unix_secs() + 300));
    assert_error(exchange(&server, &token).await, 404, "not_found").await;
}
