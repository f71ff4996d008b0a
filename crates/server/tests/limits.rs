//! Limits against hostile clients, on the real server: password guessing cannot lock the owner
//! out, forwarding headers count only from a trusted proxy, a flood of bogus sign-ins keeps
//! memory bounded and ordinary requests answered, refreshes are limited without costing a
//! device its session, one-time keys cannot be drained, and `/metrics` can require a token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, Response};
use serde_json::json;
use sotto_proto::{ClaimKeysResponse, KeyCounts, UploadKeysRequest};

/// A sign-in attempt for `user` that a proxy on loopback forwarded for `client`.
async fn sign_in_from(server: &Server, client: &str, user: &str, password: &str) -> Response {
    server
        .anon(Method::POST, "/v1/sessions")
        .header("x-forwarded-for", client)
        .json(&json!({"user_id": user, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Wrong passwords for `user` from `client` until one is refused with 429 (at most `tries`);
/// checks that refusal's shape and returns how many were checked before it.
async fn guess_until_limited(server: &Server, client: &str, user: &str, tries: usize) -> usize {
    for checked in 0..tries {
        let resp = sign_in_from(server, client, user, "not the password").await;
        if resp.status() == 429 {
            let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
            assert_error(resp, 429, "rate_limited").await;
            return checked;
        }
        assert_error(resp, 401, "invalid_credentials").await;
    }
    panic!("{tries} wrong passwords from {client} were never limited");
}

fn behind_proxy() -> Launch {
    Launch::new().args(["--trusted-proxy", "127.0.0.1/32,::1/128"])
}

#[tokio::test]
async fn guessing_from_one_address_does_not_lock_the_owner_out() {
    let server = Server::start_with(behind_proxy()).await;
    let alice = server.register("alice").await;

    let checked = guess_until_limited(&server, "203.0.113.66", "alice", 20).await;
    assert_eq!(checked, 10, "ten guesses per user and address, then a wait");
    // The owner, from elsewhere, signs in at once.
    let resp = sign_in_from(&server, "198.51.100.7", "alice", PASSWORD).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    // Her signed-in device changes the password while the guessing goes on.
    let resp = alice
        .put("/v1/account/password", &json!({"current_password": PASSWORD, "new_password": "a brand new password"}))
        .await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    // The guesser is still waiting, whatever password it tries.
    assert_error(sign_in_from(&server, "203.0.113.66", "alice", "a brand new password").await, 429, "rate_limited")
        .await;
}

#[tokio::test]
async fn without_a_trusted_proxy_forwarding_headers_are_ignored() {
    let server = Server::start().await;
    server.register("alice").await;
    // Each guess claims another address; the server counts the TCP peer, so they share a budget.
    for i in 0..10 {
        let resp = sign_in_from(&server, &format!("203.0.113.{i}"), "alice", "not the password").await;
        assert_error(resp, 401, "invalid_credentials").await;
    }
    assert_error(sign_in_from(&server, "203.0.113.200", "alice", "not the password").await, 429, "rate_limited").await;
}

#[tokio::test]
async fn guessing_from_many_addresses_meets_the_per_user_limit_but_never_a_signed_in_device() {
    let server = Server::start_with(behind_proxy()).await;
    let alice = server.register("alice").await;
    let laptop = server.login("alice").await;
    // 100 attempts at alice from anywhere, then two a minute: one guess from each of 120
    // addresses, eight at a time.
    let (mut checked, mut limited) = (0, 0);
    for batch in 0..15 {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (http, url, client) = (server.http.clone(), server.url("/v1/sessions"), format!("10.9.{batch}.{i}"));
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .header("x-forwarded-for", client)
                    .json(&json!({"user_id": "alice", "password": "not the password"}))
                    .send()
                    .await
                    .unwrap()
            }));
        }
        for task in tasks {
            let resp = task.await.unwrap();
            if resp.status() == 429 {
                assert_error(resp, 429, "rate_limited").await;
                limited += 1;
            } else {
                assert_error(resp, 401, "invalid_credentials").await;
                checked += 1;
            }
        }
    }
    // The laptop's sign-in was the first of the 100.
    assert_eq!((checked, limited), (99, 21), "100 attempts at one user from anywhere, then a wait");
    // A new address is now refused too (that is the point of the per-user limit) ...
    assert_error(sign_in_from(&server, "192.0.2.1", "alice", PASSWORD).await, 429, "rate_limited").await;
    // ... but signed-in devices work, including what needs the password.
    assert_eq!(alice.get("/v1/devices").await.status(), 200);
    let resp = alice.delete_json(&format!("/v1/devices/{}", laptop.device()), &json!({"password": PASSWORD})).await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    let resp = alice
        .put("/v1/account/password", &json!({"current_password": PASSWORD, "new_password": "a brand new password"}))
        .await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
}

/// Reads a line like `VmHWM:   123456 kB` of `/proc/PID/status`, in MiB.
fn proc_status_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in {status}"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

#[tokio::test]
async fn a_flood_of_bogus_sign_ins_keeps_memory_bounded_and_the_server_answering() {
    const SIGN_INS: usize = 1000;
    const CONCURRENCY: usize = 64;
    let server = Server::start_with(Launch::new().args(["--password-hashers", "2"])).await;
    let alice = server.register("alice").await;
    let pid = server.process.pid().unwrap();
    let before = proc_status_mib(pid, "VmRSS:");

    // An ordinary signed-in client keeps working through it.
    let ordinary = {
        let alice = alice.clone();
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut requests = 0;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3) {
                let t = Instant::now();
                assert_eq!(alice.get("/v1/devices").await.status(), 200);
                slowest = slowest.max(t.elapsed());
                requests += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (requests, slowest)
        })
    };
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, url, next) = (server.http.clone(), server.url("/v1/sessions"), next.clone());
        workers.push(tokio::spawn(async move {
            let (mut refused, mut busy) = (0, 0);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= SIGN_INS {
                    return (refused, busy);
                }
                let user = format!("nobody-{i}");
                let resp = http.post(&url).json(&json!({"user_id": user, "password": "a guess"})).send().await.unwrap();
                match resp.status().as_u16() {
                    401 => refused += 1,
                    503 => {
                        assert!(resp.headers().contains_key("retry-after"));
                        assert_error(resp, 503, "server_busy").await;
                        busy += 1;
                    }
                    other => panic!("a bogus sign-in got {other}: {}", resp.text().await.unwrap()),
                }
            }
        }));
    }
    let (mut refused, mut busy) = (0, 0);
    for worker in workers {
        let (r, b) = worker.await.unwrap();
        refused += r;
        busy += b;
    }
    let (requests, slowest) = ordinary.await.unwrap();
    let peak = proc_status_mib(pid, "VmHWM:");
    let after = proc_status_mib(pid, "VmRSS:");
    eprintln!(
        "{SIGN_INS} bogus sign-ins: {refused} checked, {busy} told to retry; RSS {before} MiB before, peak {peak} MiB, \
         {after} MiB after; {requests} ordinary requests, slowest {slowest:?}"
    );
    assert_eq!(refused + busy, SIGN_INS);
    assert!(refused >= 2 * 17, "at least the hashers' queue was checked: {refused}");
    // Two hashers hold 19 MiB each; unbounded, 64 at once held over a GiB.
    assert!(peak <= before + 100, "peak RSS {peak} MiB (from {before} MiB)");
    assert!(slowest < Duration::from_secs(2), "an ordinary request took {slowest:?}");
    // And the real owner can still sign in once the flood has passed.
    let resp = sign_in_from(&server, "ignored", "alice", PASSWORD).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn refreshes_are_limited_per_address_and_a_refusal_does_not_spend_the_token() {
    let server = Server::start_with(behind_proxy()).await;
    let alice = server.register("alice").await;
    let refresh_from = |client: &'static str, token: String| {
        server
            .anon(Method::POST, "/v1/sessions/refresh")
            .header("x-forwarded-for", client)
            .json(&json!({"refresh_token": token}))
            .send()
    };
    let mut limited = false;
    for _ in 0..200 {
        let resp = refresh_from("203.0.113.5", "made-up".into()).await.unwrap();
        if resp.status() == 429 {
            assert_error(resp, 429, "rate_limited").await;
            limited = true;
            break;
        }
        assert_error(resp, 401, "unauthorized").await;
    }
    assert!(limited, "200 refreshes from one address were never limited");
    // Alice's real token, from the flooded address: refused, and not spent ...
    let token = alice.session.refresh_token.clone();
    assert_error(refresh_from("203.0.113.5", token.clone()).await.unwrap(), 429, "rate_limited").await;
    // ... so from her own address it refreshes (a spent one would be a replay and sign her out).
    let resp = refresh_from("198.51.100.20", token).await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn one_time_keys_cannot_be_drained() {
    let server = Server::start().await;
    let [alice, carol] = server.register_all(["alice", "carol"]).await;
    let bob = server.register_keyed("bob").await;
    let keys: Vec<_> = (0..50).map(|i| signed_key(&bob.addr(), bob.signing(), &format!("K{i:03}"))).collect();
    let fallback = signed_key(&bob.addr(), bob.signing(), "FALLBACK");
    let resp =
        bob.post("/v1/keys/one-time", &UploadKeysRequest { one_time_keys: keys, fallback_key: Some(fallback) }).await;
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let claim = |who: &Client| {
        let (who, bob) = (who.clone(), bob.addr());
        async move {
            let resp = who.post("/v1/keys/claim", &json!({"devices": [bob]})).await;
            assert_eq!(resp.status(), 200);
            let got: ClaimKeysResponse = resp.json().await.unwrap();
            assert_eq!(got.keys.len(), 1, "a claim always gets a key: {got:?}");
            got.keys[0].fallback
        }
    };
    // Twenty one-time keys of one device, whoever claims them, then its fallback key.
    let mut one_time = 0;
    for i in 0..30 {
        let fallback = claim(if i % 2 == 0 { &alice } else { &carol }).await;
        if !fallback {
            one_time += 1;
        }
    }
    assert_eq!(one_time, 20);
    assert!(claim(&carol).await, "another claimer gets the fallback key too");
    assert_eq!(bob.key_counts().await, KeyCounts { one_time_keys: 30, has_fallback: true });
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics-token");
    std::fs::write(&token_file, "a-long-enough-metrics-token\n").unwrap();
    let server = Server::start_with(Launch::new().args(["--metrics-token-file", token_file.to_str().unwrap()])).await;
    let get = |token: Option<&str>| {
        let req = server.anon(Method::GET, "/metrics");
        match token {
            Some(t) => req.bearer_auth(t).send(),
            None => req.send(),
        }
    };
    assert_error(get(None).await.unwrap(), 401, "unauthorized").await;
    assert_error(get(Some("a-long-enough-metrics-tokem")).await.unwrap(), 401, "unauthorized").await;
    let resp = get(Some("a-long-enough-metrics-token")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("# EOF"));
    // Health checks stay open.
    assert_eq!(server.anon(Method::GET, "/healthz").send().await.unwrap().status(), 200);
}
