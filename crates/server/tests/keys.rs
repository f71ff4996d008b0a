//! The key directory: identity keys, one-time and fallback keys, queries and claims.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeSet, HashSet};

use common::*;
use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use serde_json::json;
use sotto_proto::{
    ClaimKeysRequest, ClaimKeysResponse, DeviceAddress, DeviceKeys, KeyCounts, QueryKeysResponse, SignedKey,
    UploadKeysRequest,
};

fn resign(keys: &mut DeviceKeys, signing: &ed25519_dalek::SigningKey) {
    keys.signature = b64(&signing.sign(&keys.signing_bytes()).to_bytes());
}

fn verify_signed_key(owner: &DeviceAddress, identity: &DeviceKeys, key: &SignedKey) {
    let ed: [u8; 32] = base64_decode(&identity.ed25519).try_into().unwrap();
    let sig: [u8; 64] = base64_decode(&key.signature).try_into().unwrap();
    VerifyingKey::from_bytes(&ed)
        .unwrap()
        .verify(&key.signing_bytes(owner), &Signature::from_bytes(&sig))
        .expect("a claimed key verifies against the device's identity key");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(s).unwrap()
}

async fn query(c: &Client, users: &[&str]) -> QueryKeysResponse {
    let resp = c.post("/v1/keys/query", &json!({ "user_ids": users })).await;
    assert_eq!(resp.status(), 200, "query: {}", resp.text().await.unwrap_or_default());
    resp.json().await.unwrap()
}

async fn claim(c: &Client, devices: &[DeviceAddress]) -> ClaimKeysResponse {
    let resp = c.post("/v1/keys/claim", &ClaimKeysRequest { devices: devices.to_vec() }).await;
    assert_eq!(resp.status(), 200, "claim: {}", resp.text().await.unwrap_or_default());
    resp.json().await.unwrap()
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

#[tokio::test]
async fn identity_keys_are_verified_and_immutable() {
    let server = Server::start().await;
    let alice = server.register("alice").await;
    let signing = new_signing_key();
    let good = device_keys(&alice.addr(), &signing);

    // One-time keys before identity keys.
    let otk = signed_key(&alice.addr(), &signing, "AAAA");
    let resp =
        alice.post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: vec![otk], fallback_key: None }).await;
    assert_error(resp, 409, "conflict").await;

    // Signature over other bytes, and by another key.
    let mut bad = good.clone();
    bad.signature = b64(&signing.sign(b"something else").to_bytes());
    assert_error(alice.put("/v1/keys/device", &bad).await, 400, "invalid_signature").await;
    let mut bad = good.clone();
    resign(&mut bad, &new_signing_key());
    assert_error(alice.put("/v1/keys/device", &bad).await, 400, "invalid_signature").await;
    // A field changed after signing.
    let mut bad = good.clone();
    bad.curve25519 = b64(&random_bytes::<32>());
    assert_error(alice.put("/v1/keys/device", &bad).await, 400, "invalid_signature").await;

    // Wrong lengths and encodings (re-signed, so only the shape is wrong).
    let mut short_curve = good.clone();
    short_curve.curve25519 = b64(&random_bytes::<31>());
    resign(&mut short_curve, &signing);
    assert_error(alice.put("/v1/keys/device", &short_curve).await, 400, "invalid_input").await;
    let mut long_ed = good.clone();
    long_ed.ed25519 = b64(&random_bytes::<33>());
    resign(&mut long_ed, &signing);
    assert_error(alice.put("/v1/keys/device", &long_ed).await, 400, "invalid_input").await;
    let mut padded = good.clone();
    padded.curve25519 = format!("{}=", good.curve25519);
    resign(&mut padded, &signing);
    assert_error(alice.put("/v1/keys/device", &padded).await, 400, "invalid_input").await;
    let mut short_sig = good.clone();
    short_sig.signature = b64(&random_bytes::<63>());
    assert_error(alice.put("/v1/keys/device", &short_sig).await, 400, "invalid_input").await;
    let mut not_b64 = good.clone();
    not_b64.signature = "!!!not base64!!!".into();
    assert_error(alice.put("/v1/keys/device", &not_b64).await, 400, "invalid_input").await;

    // Nothing was stored by the refused uploads.
    assert_eq!(query(&alice, &["alice"]).await.users[0].devices.len(), 0);

    // Good upload; identical re-upload; different keys refused.
    assert_eq!(alice.put("/v1/keys/device", &good).await.status(), 204);
    assert_eq!(alice.put("/v1/keys/device", &good).await.status(), 204);
    let other = device_keys(&alice.addr(), &new_signing_key());
    assert_error(alice.put("/v1/keys/device", &other).await, 409, "conflict").await;
    let same_ed_new_curve = device_keys(&alice.addr(), &signing);
    assert_error(alice.put("/v1/keys/device", &same_ed_new_curve).await, 409, "conflict").await;

    let q = query(&alice, &["alice"]).await;
    assert_eq!(q.users.len(), 1);
    assert_eq!(q.users[0].devices, vec![good]);
    let devices: serde_json::Value = alice.get("/v1/devices").await.json().await.unwrap();
    assert_eq!(devices["devices"][0]["has_keys"], true);
}

#[tokio::test]
async fn one_time_keys_upload_and_counts() {
    let server = Server::start().await;
    let alice = server.register_keyed("alice").await;
    let me = alice.addr();
    assert_eq!(alice.key_counts().await, KeyCounts { one_time_keys: 0, has_fallback: false });

    // Bad signature (one bad key spoils the whole upload).
    let mut bad = signed_key(&me, alice.signing(), "BAD0");
    bad.signature = b64(&alice.signing().sign(b"other bytes").to_bytes());
    let good = signed_key(&me, alice.signing(), "GOOD");
    let resp = alice
        .post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: vec![good.clone(), bad], fallback_key: None })
        .await;
    assert_error(resp, 400, "invalid_signature").await;
    // Signed by another key.
    let foreign = signed_key(&me, &new_signing_key(), "FRGN");
    let resp =
        alice.post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: vec![foreign], fallback_key: None }).await;
    assert_error(resp, 400, "invalid_signature").await;
    // Signed for another owner (replaying a key of another device).
    let mut elsewhere = me.clone();
    elsewhere.device_id = did("OTHERDEVICE");
    let replayed = signed_key(&elsewhere, alice.signing(), "RPLY");
    let resp =
        alice.post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: vec![replayed], fallback_key: None }).await;
    assert_error(resp, 400, "invalid_signature").await;
    // A bad fallback key.
    let mut bad_fallback = signed_key(&me, alice.signing(), "FB00");
    bad_fallback.signature = good.signature.clone();
    let resp = alice
        .post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: vec![], fallback_key: Some(bad_fallback) })
        .await;
    assert_error(resp, 400, "invalid_signature").await;
    // Wrong key length.
    let mut short =
        SignedKey { key_id: good.key_id.clone(), key: b64(&random_bytes::<16>()), signature: String::new() };
    short.signature = b64(&alice.signing().sign(&short.signing_bytes(&me)).to_bytes());
    let resp =
        alice.post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: vec![short], fallback_key: None }).await;
    assert_error(resp, 400, "invalid_input").await;
    // Too many in one upload.
    let many: Vec<SignedKey> = ids("M", 101).iter().map(|id| signed_key(&me, alice.signing(), id)).collect();
    let resp = alice.post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: many, fallback_key: None }).await;
    assert_error(resp, 400, "invalid_input").await;
    assert_eq!(alice.key_counts().await, KeyCounts { one_time_keys: 0, has_fallback: false });

    // Good uploads.
    let counts = alice.upload_otks(&ids("K", 5), Some("FALLBACK1")).await;
    assert_eq!(counts, KeyCounts { one_time_keys: 5, has_fallback: true });
    let counts = alice.upload_otks(&ids("L", 90), None).await;
    assert_eq!(counts, KeyCounts { one_time_keys: 95, has_fallback: true });
    assert_eq!(alice.key_counts().await, counts);

    // An exact re-upload is ignored; the same id with another key is refused, storing nothing.
    let key = signed_key(&me, alice.signing(), "X0001");
    let up = UploadKeysRequest { one_time_keys: vec![key.clone()], fallback_key: None };
    assert_eq!(alice.post("/v1/keys/one-time", &up).await.status(), 200);
    assert_eq!(alice.post("/v1/keys/one-time", &up).await.status(), 200);
    assert_eq!(alice.key_counts().await.one_time_keys, 96);
    let conflicting = signed_key(&me, alice.signing(), "X0001");
    let fresh = signed_key(&me, alice.signing(), "X0002");
    let resp = alice
        .post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: vec![fresh, conflicting], fallback_key: None })
        .await;
    assert_error(resp, 409, "conflict").await;
    assert_eq!(alice.key_counts().await.one_time_keys, 96);
}

#[tokio::test]
async fn unclaimed_one_time_keys_are_capped_per_device() {
    let server = Server::start_with(Launch::new().no_rate_limit()).await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let upload = |c: &Client, ids: &[String], fallback: Option<&str>| {
        let owner = c.addr();
        UploadKeysRequest {
            one_time_keys: ids.iter().map(|id| signed_key(&owner, c.signing(), id)).collect(),
            fallback_key: fallback.map(|id| signed_key(&owner, c.signing(), id)),
        }
    };

    // Two uploads of 60 at once: one is stored, the other refused whole.
    let (first, second) = (upload(&bob, &ids("A", 60), None), upload(&bob, &ids("B", 60), None));
    let (r1, r2) = tokio::join!(bob.post("/v1/keys/one-time", &first), bob.post("/v1/keys/one-time", &second));
    let mut statuses = [r1.status().as_u16(), r2.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    assert_eq!(bob.key_counts().await.one_time_keys, 60);

    // Up to the limit is accepted: 40 new ones (with an exact re-upload of 10 held ones, which
    // are not new) make 100.
    let stored = if r1.status() == 200 { first } else { second };
    let mut to_100 = upload(&bob, &ids("C", 40), None);
    to_100.one_time_keys.extend_from_slice(&stored.one_time_keys[..10]);
    let resp = bob.post("/v1/keys/one-time", &to_100).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(bob.key_counts().await, KeyCounts { one_time_keys: 100, has_fallback: false });

    // The 101st is refused with the counts, and nothing of that upload (not its fallback) is kept.
    let resp = bob.post("/v1/keys/one-time", &upload(&bob, &["D0000".to_owned()], Some("FB"))).await;
    let err = assert_error(resp, 400, "invalid_input").await;
    assert!(err.message.contains("holds 100") && err.message.contains("at most 100"), "{err:?}");
    assert_eq!(bob.key_counts().await, KeyCounts { one_time_keys: 100, has_fallback: false });
    // A retry of keys it holds is still fine at the limit.
    let retry = UploadKeysRequest { one_time_keys: stored.one_time_keys[..5].to_vec(), fallback_key: None };
    assert_eq!(bob.post("/v1/keys/one-time", &retry).await.status(), 200);
    assert_eq!(bob.key_counts().await.one_time_keys, 100);

    // After a claim, one more fits (and the one after that does not).
    claim(&alice, &[bob.addr()]).await;
    assert_eq!(bob.upload_otks(&["D0000".to_owned()], None).await.one_time_keys, 100);
    let resp = bob.post("/v1/keys/one-time", &upload(&bob, &["D0001".to_owned()], None)).await;
    assert_error(resp, 400, "invalid_input").await;
    // Another device has its own limit.
    let laptop = server.login_keyed("bob").await;
    assert_eq!(laptop.upload_otks(&ids("L", 100), None).await.one_time_keys, 100);
}

#[tokio::test]
async fn query_keys() {
    let server = Server::start().await;
    let [alice, bob1] = server.register_keyed_all(["alice", "bob"]).await;
    let _bob_unkeyed = server.login("bob").await;
    let bob2 = server.login_keyed("bob").await;

    // 101 users: refused; none: refused.
    let too_many: Vec<String> = (0..101).map(|i| format!("user{i:03}")).collect();
    let resp = alice.post("/v1/keys/query", &json!({ "user_ids": too_many })).await;
    assert_error(resp, 400, "invalid_input").await;
    let resp = alice.post("/v1/keys/query", &json!({ "user_ids": [] })).await;
    assert_error(resp, 400, "invalid_input").await;
    let resp = alice.post("/v1/keys/query", &json!({ "user_ids": ["Not Valid"] })).await;
    let (_, text) = error_body(resp, 400).await;
    assert!(text.contains("invalid_json") || text.contains("invalid_input"), "{text}");

    // Exactly 100: bob, alice and 98 unknown users.
    let mut users: Vec<String> = (0..98).map(|i| format!("ghost{i:03}")).collect();
    users.push("bob".into());
    users.push("alice".into());
    let resp = alice.post("/v1/keys/query", &json!({ "user_ids": users })).await;
    assert_eq!(resp.status(), 200);
    let q: QueryKeysResponse = resp.json().await.unwrap();
    let unknown: BTreeSet<String> = q.unknown_users.iter().map(ToString::to_string).collect();
    let want: BTreeSet<String> = (0..98).map(|i| format!("ghost{i:03}")).collect();
    assert_eq!(unknown, want);
    assert_eq!(q.users.len(), 2);
    let bob = q.users.iter().find(|u| u.user_id.as_str() == "bob").unwrap();
    // Only bob's devices with published keys.
    let got: BTreeSet<String> = bob.devices.iter().map(|d| d.device_id.to_string()).collect();
    let want: BTreeSet<String> = [bob1.device().to_string(), bob2.device().to_string()].into();
    assert_eq!(got, want);
    let a = q.users.iter().find(|u| u.user_id.as_str() == "alice").unwrap();
    assert_eq!(a.devices.len(), 1);
    assert_eq!(a.devices[0].device_id, *alice.device());
}

#[tokio::test]
async fn claim_one_time_then_fallback() {
    let server = Server::start().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let bob_no_otks = server.login_keyed("bob").await;
    let bob_unkeyed = server.login("bob").await;
    let bob_keys =
        query(&alice, &["bob"]).await.users[0].devices.iter().find(|d| d.device_id == *bob.device()).unwrap().clone();
    bob.upload_otks(&["K0001".to_owned(), "K0002".to_owned()], Some("FB")).await;

    let ghost = DeviceAddress { user_id: uid("bob"), device_id: did("NoSuchDevice") };
    let nobody = DeviceAddress { user_id: uid("nobody"), device_id: did("D1") };
    let r = claim(&alice, &[bob.addr(), bob_no_otks.addr(), bob_unkeyed.addr(), ghost.clone(), nobody.clone()]).await;
    assert_eq!(r.keys.len(), 1, "{r:?}");
    let k = &r.keys[0];
    assert_eq!((k.user_id.as_str(), &k.device_id, k.fallback), ("bob", bob.device(), false));
    assert_eq!(k.key.key_id.as_str(), "K0001");
    verify_signed_key(&bob.addr(), &bob_keys, &k.key);
    let missing: BTreeSet<DeviceAddress> = r.missing.into_iter().collect();
    let want: BTreeSet<DeviceAddress> = [bob_no_otks.addr(), bob_unkeyed.addr(), ghost, nobody].into();
    assert_eq!(missing, want);
    assert_eq!(bob.key_counts().await, KeyCounts { one_time_keys: 1, has_fallback: true });

    // The same device twice in one claim: one key.
    let r = claim(&alice, &[bob.addr(), bob.addr()]).await;
    assert_eq!(r.keys.len(), 1);
    assert_eq!((r.keys[0].key.key_id.as_str(), r.keys[0].fallback), ("K0002", false));
    assert_eq!(bob.key_counts().await, KeyCounts { one_time_keys: 0, has_fallback: true });

    // Empty: the fallback, as often as asked.
    for _ in 0..2 {
        let r = claim(&alice, &[bob.addr()]).await;
        assert_eq!(r.keys.len(), 1);
        assert!(r.keys[0].fallback);
        assert_eq!(r.keys[0].key.key_id.as_str(), "FB");
        verify_signed_key(&bob.addr(), &bob_keys, &r.keys[0].key);
        assert!(r.missing.is_empty());
    }
    assert_eq!(bob.key_counts().await, KeyCounts { one_time_keys: 0, has_fallback: true });

    // A new fallback key replaces the old one.
    bob.upload_otks(&[], Some("FB2")).await;
    let r = claim(&alice, &[bob.addr()]).await;
    assert_eq!((r.keys[0].key.key_id.as_str(), r.keys[0].fallback), ("FB2", true));

    // Bounds.
    let resp = alice.post("/v1/keys/claim", &json!({ "devices": [] })).await;
    assert_error(resp, 400, "invalid_input").await;
}

#[tokio::test]
async fn concurrent_claims_never_hand_out_a_key_twice() {
    let server = Server::start_with(Launch::new().no_rate_limit()).await;
    let bob = server.register_keyed("bob").await;
    let otk_ids = ids("OTK", 50);
    let counts = bob.upload_otks(&otk_ids, Some("FALLBACK")).await;
    assert_eq!(counts, KeyCounts { one_time_keys: 50, has_fallback: true });

    let claimers = server.register_all(["carol", "dave", "erin"]).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = claimers[i % claimers.len()].clone();
        let target = bob.addr();
        tasks.push(tokio::spawn(async move { claim(&c, &[target]).await }));
    }
    let mut one_time = Vec::new();
    let mut fallbacks = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.keys.len(), 1, "every claim gets a key: {r:?}");
        let k = &r.keys[0];
        if k.fallback {
            assert_eq!(k.key.key_id.as_str(), "FALLBACK");
            fallbacks += 1;
        } else {
            one_time.push(k.key.key_id.to_string());
        }
    }
    let distinct: HashSet<&String> = one_time.iter().collect();
    assert_eq!(distinct.len(), one_time.len(), "a one-time key was handed out twice");
    assert_eq!(one_time.len(), 50);
    assert_eq!(fallbacks, 10);
    let all: HashSet<&String> = otk_ids.iter().collect();
    assert_eq!(distinct, all);
    assert_eq!(bob.key_counts().await, KeyCounts { one_time_keys: 0, has_fallback: true });
}

#[tokio::test]
async fn a_key_reset_needs_the_password_and_retires_the_old_identity() {
    let server = Server::start().await;
    let mut alice = server.register_keyed("alice").await;
    let laptop = server.login_keyed("alice").await;
    let bob = server.register_keyed("bob").await;
    alice.upload_otks(&ids("OLD", 3), Some("OLDFB")).await;
    laptop.upload_otks(&ids("LAP", 2), None).await;
    let old = query(&bob, &["alice"]).await.users[0].devices.clone();
    let old_alice = old.iter().find(|d| d.device_id == *alice.device()).unwrap().clone();

    let signing = new_signing_key();
    let new_keys = device_keys(&alice.addr(), &signing);
    let reset = |c: &Client, password: &str, keys: &DeviceKeys| {
        let body = json!({ "password": password, "keys": keys });
        let req = c.req(reqwest::Method::POST, "/v1/keys/device/reset").json(&body);
        async move { req.send().await.unwrap() }
    };

    // Refused, and nothing changes: a wrong password, keys of another device, a bad signature,
    // no token.
    assert_error(reset(&alice, "not the password", &new_keys).await, 401, "invalid_credentials").await;
    assert_error(reset(&alice, PASSWORD, &device_keys(&laptop.addr(), &signing)).await, 403, "forbidden").await;
    let mut forged = new_keys.clone();
    resign(&mut forged, &new_signing_key());
    assert_error(reset(&alice, PASSWORD, &forged).await, 400, "invalid_signature").await;
    let resp = server
        .anon(reqwest::Method::POST, "/v1/keys/device/reset")
        .json(&json!({ "password": PASSWORD, "keys": new_keys }))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "unauthorized").await;
    // The plain upload route never replaces an identity.
    assert_error(alice.put("/v1/keys/device", &new_keys).await, 409, "conflict").await;
    assert!(query(&bob, &["alice"]).await.users[0].devices.contains(&old_alice), "the old identity is still listed");
    assert_eq!(alice.key_counts().await, KeyCounts { one_time_keys: 3, has_fallback: true });

    // Reset: the directory lists the new keys under the same device id.
    let resp = reset(&alice, PASSWORD, &new_keys).await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap_or_default());
    let listed = query(&bob, &["alice"]).await.users[0].devices.clone();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&new_keys));
    assert!(!listed.contains(&old_alice));
    // The old identity's one-time and fallback keys are gone, so nobody opens a session with a
    // key only the old identity could use; the laptop keeps its own.
    assert_eq!(alice.key_counts().await, KeyCounts { one_time_keys: 0, has_fallback: false });
    let claimed = claim(&bob, &[alice.addr(), laptop.addr()]).await;
    assert_eq!(claimed.missing, vec![alice.addr()]);
    assert_eq!(claimed.keys.len(), 1);
    assert_eq!(claimed.keys[0].device_id, *laptop.device());
    // Same device and token; one-time keys now need the new identity's signature.
    alice.signing = Some(signing);
    alice.upload_otks(&ids("NEW", 2), Some("NEWFB")).await;
    let claimed = claim(&bob, &[alice.addr()]).await;
    verify_signed_key(&alice.addr(), &new_keys, &claimed.keys[0].key);
    // Repeating the same reset (a lost answer) is a success that changes nothing.
    assert_eq!(reset(&alice, PASSWORD, &new_keys).await.status(), 204);
    assert_eq!(alice.key_counts().await.one_time_keys, 1);
    // The laptop is untouched.
    assert!(query(&bob, &["alice"]).await.users[0].devices.iter().any(|d| d.device_id == *laptop.device()));
    laptop.upload_otks(&ids("LAQ", 1), None).await;
}
