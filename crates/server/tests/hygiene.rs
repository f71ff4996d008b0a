//! The things every route shares: the JSON error shape, unknown routes and methods, body limits,
//! health, metrics, the OpenAPI document and rate limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use sotto_proto::routes;

/// Every routed path with its methods, lower case as OpenAPI writes them: the shared route table
/// and the operational routes.
fn routes() -> BTreeMap<String, BTreeSet<String>> {
    let mut routes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in routes::ROUTES {
        routes.entry(r.path.to_owned()).or_default().insert(r.method.as_str().to_lowercase());
    }
    for path in OPERATIONAL {
        routes.entry((*path).to_owned()).or_default().insert("get".to_owned());
    }
    routes
}

/// Routes outside the API's table, all public `GET`s.
const OPERATIONAL: &[&str] = &[routes::HEALTH_PATH, routes::READY_PATH, routes::METRICS_PATH, routes::OPENAPI_PATH];

/// Whether a route needs no token.
fn public(method: &str, path: &str) -> bool {
    OPERATIONAL.contains(&path)
        || routes::ROUTES
            .iter()
            .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method) && !r.authenticated)
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let server = Server::start().await;
    let alice = server.register("alice").await;
    for path in ["/v1/nope", "/nope", "/v1/accounts/extra", "/v2/accounts", "/v1/groups/G1/unknown"] {
        let resp = server.anon(Method::GET, path).send().await.unwrap();
        assert_error(resp, 404, "not_found").await;
    }
    // With a token too.
    assert_error(alice.get("/v1/nope").await, 404, "not_found").await;

    for (method, path) in [
        (Method::GET, "/v1/accounts"),
        (Method::PUT, "/v1/messages"),
        (Method::DELETE, "/healthz"),
        (Method::POST, "/v1/inbox"),
        (Method::PATCH, "/v1/groups"),
        (Method::POST, "/v1/jwks.json"),
    ] {
        let resp = server.anon(method.clone(), path).send().await.unwrap();
        let (body, text) = error_body(resp, 405).await;
        assert_eq!(serde_json::to_value(body.code).unwrap(), "method_not_allowed", "{method} {path}: {text}");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let server = Server::start().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let big = "x".repeat(1024 * 1024 + 1024);
    let resp = alice
        .post(
            "/v1/messages",
            &json!({"message_id": "too-big-0001", "payloads": [
                {"user_id": "bob", "device_id": bob.device().as_str(), "ciphertext": big}
            ]}),
        )
        .await;
    assert_error(resp, 413, "payload_too_large").await;
    // Unauthenticated routes too.
    let resp = server
        .anon(Method::POST, "/v1/accounts")
        .json(&json!({"user_id": "carol", "password": big}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 413, "payload_too_large").await;
    // Under the body limit but over the ciphertext limit: invalid_input.
    let resp = alice.send_direct_raw(&mid("too-big-0002"), &[(bob.addr(), "y".repeat(256 * 1024 + 1))]).await;
    assert_error(resp, 400, "invalid_input").await;
    // Nothing was delivered.
    assert!(bob.inbox_all().await.is_empty());
}

#[tokio::test]
async fn every_client_error_has_the_json_shape() {
    let server = Server::start().await;
    let alice = server.register_member("alice").await;
    let bob = server.register("bob").await;
    let group = alice.create_group("g", &[]).await;
    let g = format!("/v1/groups/{}", group.group_id);

    let json_header = ("content-type", "application/json");
    // (request, expected status)
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (server.anon(Method::POST, "/v1/accounts").header(json_header.0, json_header.1).body("{"), 400),
        (server.anon(Method::POST, "/v1/accounts").header(json_header.0, json_header.1).body(""), 400),
        (server.anon(Method::POST, "/v1/accounts").header(json_header.0, json_header.1).body("[]"), 400),
        (server.anon(Method::POST, "/v1/accounts").header("content-type", "text/plain").body("{}"), 415),
        (server.anon(Method::POST, "/v1/sessions").json(&json!({"user_id": "alice", "password": "wrongwrong"})), 401),
        (server.anon(Method::GET, "/v1/devices"), 401),
        (alice.req(Method::GET, &format!("{g}x")), 404),
        (alice.req(Method::GET, "/v1/groups/bad%20id"), 400),
        (alice.req(Method::GET, "/v1/groups/bad%20id/changes"), 400),
        (alice.req(Method::GET, &format!("{g}/changes?limit=0")), 400),
        (alice.req(Method::POST, &format!("{g}/changes")).json(&json!({"change": "{}", "signature": "x"})), 400),
        (alice.req(Method::DELETE, &g), 405),
        (bob.req(Method::GET, &g), 403),
        (alice.req(Method::POST, "/v1/keys/query").json(&json!({"user_ids": []})), 400),
        (alice.req(Method::GET, "/v1/backup"), 404),
        (alice.req(Method::PUT, "/v1/backup").json(&json!({"expected_version": 3, "blob": "b"})), 409),
        (alice.req(Method::POST, "/v1/messages").json(&json!({"message_id": "m-000001", "payloads": [{"user_id": "nobody", "device_id": "D", "ciphertext": "c"}]})), 404),
        (alice.req(Method::GET, "/v1/ws"), 400),
        (alice.req(Method::GET, "/v1/inbox?limit=x"), 400),
        (server.anon(Method::GET, "/missing"), 404),
        (server.anon(Method::DELETE, "/v1/accounts"), 405),
    ];
    for (req, status) in cases {
        let resp = req.send().await.unwrap();
        let url = resp.url().clone();
        let got = resp.status().as_u16();
        let (body, text) = error_body(resp, status).await;
        assert!((400..500).contains(&got), "{url}");
        assert_ne!(serde_json::to_value(body.code).unwrap(), "internal", "{url}: {text}");
    }
}

#[tokio::test]
async fn bodies_must_be_json_objects() {
    let server = Server::start_with(Launch::new().no_rate_limit()).await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let post = |client: Option<&Client>, path: &str, body: String| {
        let req = match client {
            Some(c) => c.req(Method::POST, path),
            None => server.anon(Method::POST, path),
        };
        req.header("content-type", "application/json").body(body)
    };
    let payload = json!([{"user_id": "bob", "device_id": bob.device().as_str(), "ciphertext": "c"}]);
    // Each route's fields in order, as an array: what serde would otherwise read as the struct.
    let routes: [(Option<&Client>, &str, Value); 4] = [
        (None, "/v1/accounts", json!(["carol", PASSWORD])),
        (None, "/v1/sessions", json!(["alice", PASSWORD])),
        (Some(&alice), "/v1/messages", json!(["array-0001", payload])),
        (Some(&bob), "/v1/inbox/ack", json!([0])),
    ];
    for (client, path, fields) in &routes {
        for (body, kind) in [
            (fields.to_string(), "an array"),
            (" \n\"carol\"".to_owned(), "a string"),
            ("12345678".to_owned(), "a number"),
            ("null".to_owned(), "null"),
            ("true".to_owned(), "a boolean"),
        ] {
            let resp = post(*client, path, body.clone()).send().await.unwrap();
            let err = assert_error(resp, 400, "invalid_json").await;
            assert!(err.message.contains("JSON object") && err.message.contains(kind), "{path} {body}: {err:?}");
        }
    }
    // Nothing was done: no account, no message.
    let resp = server.anon(Method::POST, "/v1/sessions").json(&json!({"user_id": "carol", "password": PASSWORD}));
    assert_error(resp.send().await.unwrap(), 401, "invalid_credentials").await;
    assert!(bob.inbox_all().await.is_empty());
    // The same fields as an object work on every one of those routes.
    server.register("carol").await;
    server.login("alice").await;
    alice.send_direct(&mid("object-0001"), &[(bob.addr(), "c".into())]).await;
    let resp = bob.post("/v1/inbox/ack", &json!({"up_to": 0})).await;
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let server = Server::start().await;
    let resp = server.anon(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    // Ready: the database answers.
    let resp = server.anon(Method::GET, routes::READY_PATH).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ready");

    // Some traffic, including ids in paths that must not become metric labels.
    let alice = server.register("alice").await;
    alice.get("/v1/groups/SecretGroupId123").await;
    server.anon(Method::GET, "/v1/unrouted-path-xyz").send().await.unwrap();
    // Methods a client makes up share one label: each would otherwise be a new series forever.
    for i in 0..20 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        server.anon(method, "/v1/accounts").send().await.unwrap();
    }
    let resp = server.anon(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let metrics = resp.text().await.unwrap();
    assert!(metrics.contains("sotto_http_requests_total"), "{metrics}");
    assert!(
        metrics.contains(r#"sotto_http_requests_total{method="POST",route="/v1/accounts",status="201"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/v1/groups/{group_id}""#), "{metrics}");
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    for leak in ["SecretGroupId123", "unrouted-path-xyz", "alice", alice.device().as_str(), "MADEUP"] {
        assert!(!metrics.contains(leak), "metrics contain {leak:?}");
    }

    let resp = server.anon(Method::GET, "/openapi.json").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = serde_json::from_str(&resp.text().await.unwrap()).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeMap<String, BTreeSet<String>> =
        paths.iter().map(|(p, ops)| (p.clone(), ops.as_object().unwrap().keys().cloned().collect())).collect();
    assert_eq!(documented, routes(), "the OpenAPI paths differ from the routes");
    // Protected routes declare the bearer scheme; public ones do not.
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    for (path, methods) in routes() {
        for m in methods {
            let op = &doc["paths"][&path][&m];
            let secured = op.get("security").is_some_and(|s| s.to_string().contains("bearer"));
            assert_eq!(secured, !public(&m, &path), "{m} {path} security");
        }
    }
}

#[tokio::test]
async fn rate_limits_answer_429_json() {
    let server = Server::start_with(Launch::new().args(["--rate-limit", "2", "--rate-burst", "2"])).await;
    let [alice, bob] = server.register_all(["alice", "bob"]).await;

    // Twenty requests at once (concurrent, so a slow machine cannot spread them out).
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move { alice.get("/v1/devices").await }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        let resp = t.await.unwrap();
        match resp.status().as_u16() {
            200 => ok += 1,
            _ => {
                assert_error(resp, 429, "rate_limited").await;
                limited += 1;
            }
        }
    }
    assert!(ok >= 1 && limited >= 1, "{ok} accepted, {limited} limited");
    // Per account: bob is not limited by alice's requests.
    assert_eq!(bob.get("/v1/devices").await.status(), 200);
    // The limit refills.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if alice.get("/v1/devices").await.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "alice stayed rate limited");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Password guessing is limited per user id (10 a minute), whatever the account limit.
    server.register("carol").await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..13 {
        let req =
            server.anon(Method::POST, "/v1/sessions").json(&json!({"user_id": "carol", "password": "wrong password"}));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap() }));
    }
    let (mut refused, mut limited) = (0, 0);
    for t in tasks {
        let resp = t.await.unwrap();
        if resp.status() == 429 {
            assert_error(resp, 429, "rate_limited").await;
            limited += 1;
        } else {
            assert_error(resp, 401, "invalid_credentials").await;
            refused += 1;
        }
    }
    assert!(limited >= 1, "13 wrong passwords at once were not limited");
    assert!(refused <= 11, "{refused} passwords were checked");
    // Right after, even the right password waits (the budget refills one attempt per 6 s).
    let resp = server
        .anon(Method::POST, "/v1/sessions")
        .json(&json!({"user_id": "carol", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    if started.elapsed() < Duration::from_secs(5) {
        assert_error(resp, 429, "rate_limited").await;
    }
}

#[tokio::test]
async fn rate_limit_zero_turns_limits_off() {
    let server = Server::start_with(Launch::new().no_rate_limit()).await;
    let alice = server.register("alice").await;
    for _ in 0..300 {
        let resp = alice.get("/v1/keys/count").await;
        assert_eq!(resp.status(), 200);
    }
}
