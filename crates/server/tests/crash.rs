//! Crash safety (kill -9 in the middle of a burst of sends) and graceful shutdown (SIGTERM).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use sotto_proto::{ClientFrame, DevicePayload, SendDirectRequest, SendReceipt};

const TASKS: usize = 6;
const PER_TASK: usize = 50;
/// Kill the server once this many sends were acknowledged.
const KILL_AFTER: usize = 100;

#[tokio::test]
async fn acknowledged_messages_survive_kill_9() {
    let mut server = Server::start_with(Launch::new().no_rate_limit()).await;
    let sender = server.register("sender").await;
    let recipient = server.register_keyed("recipient").await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (sender, to, acked, refused) = (sender.clone(), recipient.addr(), acked.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let id = format!("crash-{t}-{i:03}");
                let req = SendDirectRequest {
                    message_id: mid(&id),
                    payloads: vec![DevicePayload {
                        user_id: to.user_id.clone(),
                        device_id: to.device_id.clone(),
                        ciphertext: format!("ct-{id}"),
                    }],
                };
                let Ok(resp) = sender.req(Method::POST, "/v1/messages").json(&req).send().await else {
                    return; // the server is gone
                };
                if resp.status() != 200 {
                    refused.lock().unwrap().push(format!("{id}: {}", resp.status()));
                    continue;
                }
                // Only a complete, parsed receipt counts as acknowledged.
                if let Ok(receipt) = resp.json::<SendReceipt>().await {
                    assert_eq!(receipt.message_id.as_str(), id);
                    assert!(!receipt.duplicate);
                    acked.lock().unwrap().push(id);
                } else {
                    return;
                }
            }
        }));
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < KILL_AFTER && !tasks.iter().all(|t| t.is_finished()) {
        assert!(Instant::now() < deadline, "the burst did not make progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    let at_kill = acked.lock().unwrap().len();
    for t in tasks {
        t.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(refused.lock().unwrap().is_empty(), "sends refused before the crash: {:?}", refused.lock().unwrap());
    assert!(acked.len() >= KILL_AFTER.min(TASKS * PER_TASK));
    eprintln!("acknowledged before kill -9: {} (of {} attempted)", acked.len(), TASKS * PER_TASK);
    if at_kill >= TASKS * PER_TASK {
        eprintln!("warning: the whole burst finished before the kill");
    }

    // Restart over the same data directory and port (the tokens stay valid: same signing key).
    server.restart().await;

    let mut ws = recipient.ws().await;
    let (entries, synced) = ws.until_synced().await;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for e in &entries {
        assert_eq!(e.sender_user.as_str(), "sender");
        assert_eq!(direct_ciphertext(e), format!("ct-{}", e.message_id));
        *seen.entry(e.message_id.to_string()).or_default() += 1;
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "stored more than once: {duplicated:?}");
    let missing: Vec<&String> = acked.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(missing.is_empty(), "{} acknowledged messages were lost: {missing:?}", missing.len());
    for w in entries.windows(2) {
        assert!(w[0].seq < w[1].seq);
    }
    eprintln!("delivered after restart: {} (acknowledged {})", entries.len(), acked.len());

    // Drain with acks, then a reconnect replays nothing.
    if !entries.is_empty() {
        ws.send_frame(&ClientFrame::Ack { up_to: synced }).await;
    }
    ws.close().await;
    let mut ws = recipient.ws().await;
    let (again, _) = ws.until_synced().await;
    assert!(again.is_empty(), "acked entries came back: {}", again.len());
    ws.close().await;

    // Resending acknowledged ids: duplicates, nothing delivered again.
    let unique: HashSet<&String> = acked.iter().collect();
    assert_eq!(unique.len(), acked.len());
    for id in acked.iter().step_by((acked.len() / 5).max(1)).take(5) {
        let receipt = sender.send_direct(&mid(id), &[(recipient.addr(), format!("ct-{id}"))]).await;
        assert!(receipt.duplicate, "{id} was not recognised as a duplicate");
    }
    assert!(recipient.inbox_all().await.is_empty());
    // And the server works normally after the crash.
    let fresh = sender.send_direct(&mid("after-crash-0001"), &[(recipient.addr(), "x".into())]).await;
    assert!(!fresh.duplicate);
    assert_eq!(recipient.inbox_all().await.len(), 1);
}

#[tokio::test]
async fn sigterm_exits_cleanly_with_an_open_socket() {
    let mut server = Server::start().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    alice.send_direct(&mid("before-shutdown"), &[(bob.addr(), "kept".into())]).await;
    let mut ws = alice.ws().await;
    ws.until_synced().await;

    server.sigterm();
    let end = ws.expect_end().await;
    let status = server.wait_exit(TIMEOUT).await.expect("the server did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}\n{}", server.logs());
    let logs = server.logs();
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
    assert_eq!(end, WsEnd::Close(Some(1001)), "the socket must be told the server is going away");

    // Everything is still there after a restart.
    server.restart().await;
    let entries = bob.inbox_all().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(direct_ciphertext(&entries[0]), "kept");
}

/// With a shutdown grace, SIGTERM first turns `/readyz` to 503 ("shutting down") while the server
/// still serves requests and keeps its sockets open, so a proxy moves new requests elsewhere;
/// after the grace it closes the sockets (1001) and exits.
#[tokio::test]
async fn sigterm_with_a_grace_says_not_ready_and_still_serves_until_it_ends() {
    let mut server = Server::start_with(Launch::new().args(["--shutdown-grace-secs", "3"])).await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let mut ws = bob.ws().await;
    ws.until_synced().await;
    let ready = |server: &Server| {
        let request = server.anon(Method::GET, "/readyz");
        async move {
            let resp = request.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    assert_eq!(ready(&server).await, (200, "ready".to_owned()));

    let signalled = Instant::now();
    server.sigterm();
    let deadline = signalled + Duration::from_secs(2);
    while ready(&server).await.0 != 503 {
        assert!(Instant::now() < deadline, "/readyz still says ready after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ready(&server).await, (503, "shutting down".to_owned()));
    // Still serving: a send is stored and pushed to the open socket.
    alice.send_direct(&mid("during-the-grace"), &[(bob.addr(), "still served".into())]).await;
    let entry = ws.next_entry().await;
    assert_eq!(entry.message_id.as_str(), "during-the-grace");
    assert!(signalled.elapsed() < Duration::from_secs(3), "the grace had already ended");
    let end = ws.expect_end().await;
    assert_eq!(end, WsEnd::Close(Some(1001)));
    assert!(signalled.elapsed() >= Duration::from_secs(3), "sockets closed before the grace ended");
    let status = server.wait_exit(TIMEOUT).await.expect("the server did not exit after its grace");
    assert!(status.success(), "exit status {status:?}\n{}", server.logs());
}

/// Every open socket must get a 1001 close frame before the process exits. The failure is a race
/// (it shows in roughly one shutdown in ten), so this shuts down 50 times, with four sockets
/// each, over one data directory (the accounts and tokens survive the restarts).
#[tokio::test]
async fn sigterm_sends_going_away_to_every_open_socket() {
    let mut server = Server::start().await;
    let mut devices = vec![server.register("alice").await];
    for _ in 0..3 {
        devices.push(server.login("alice").await);
    }
    let mut failures = Vec::new();
    for round in 0..50 {
        if round > 0 {
            server.restart().await;
        }
        let mut sockets = Vec::new();
        for device in &devices {
            let mut ws = device.ws().await;
            ws.until_synced().await;
            sockets.push(ws);
        }
        server.sigterm();
        for (i, ws) in sockets.iter_mut().enumerate() {
            let end = ws.expect_end().await;
            if end != WsEnd::Close(Some(1001)) {
                failures.push(format!("round {round}, socket {i}: {end:?}"));
            }
        }
        let status = server.wait_exit(TIMEOUT).await.expect("the server did not exit within 10 s of SIGTERM");
        assert!(status.success());
    }
    assert!(failures.is_empty(), "sockets closed without a going-away frame:\n{}", failures.join("\n"));
}
