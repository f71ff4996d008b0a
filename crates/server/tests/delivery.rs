//! Direct messages: device coverage, idempotency, the inbox over HTTP and WebSocket, ephemeral
//! events, and WebSocket connection rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::json;
use sotto_proto::{ClientFrame, DeviceAddress, EphemeralTarget, ErrorCode, InboxEntry, ServerFrame};
use tokio_tungstenite::tungstenite::Message;

fn set(devices: &[DeviceAddress]) -> BTreeSet<DeviceAddress> {
    devices.iter().cloned().collect()
}

fn payloads(devices: &[DeviceAddress], tag: &str) -> Vec<(DeviceAddress, String)> {
    devices.iter().map(|d| (d.clone(), format!("{tag}-for-{}", d.device_id))).collect()
}

/// A simple pair: alice (one keyed device) and bob (one keyed device).
async fn pair(server: &Server) -> (Client, Client) {
    (server.register_keyed("alice").await, server.register_keyed("bob").await)
}

async fn send_n(from: &Client, to: &Client, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}-{i:04}");
        from.send_direct(&mid(&id), &[(to.addr(), format!("ct-{id}"))]).await;
        ids.push(id);
    }
    ids
}

fn ids_of(entries: &[InboxEntry]) -> Vec<String> {
    entries.iter().map(|e| e.message_id.to_string()).collect()
}

fn assert_increasing(entries: &[InboxEntry]) {
    for w in entries.windows(2) {
        assert!(w[0].seq < w[1].seq, "seqs must strictly increase: {} then {}", w[0].seq, w[1].seq);
    }
}

#[tokio::test]
async fn direct_send_must_cover_exactly_the_current_devices() {
    let server = Server::start().await;
    let a1 = server.register_keyed("alice").await;
    let a2 = server.login_keyed("alice").await;
    let a3_unkeyed = server.login("alice").await;
    let b1 = server.register_keyed("bob").await;
    let b2 = server.login_keyed("bob").await;
    let b3_unkeyed = server.login("bob").await;
    let m = mid("message-0001");

    // Only one of bob's devices: bob's other keyed device and alice's other keyed device are missing.
    let resp = a1.send_direct_raw(&m, &payloads(&[b1.addr()], "x")).await;
    let err = assert_error(resp, 409, "devices_changed").await;
    let mismatch = err.devices.expect("devices_changed carries `devices`");
    assert_eq!(set(&mismatch.missing), set(&[b2.addr(), a2.addr()]));
    assert!(mismatch.unknown.is_empty());

    // Everything plus a device that does not exist / has no keys / is the sender itself.
    let complete = [b1.addr(), b2.addr(), a2.addr()];
    let ghost = DeviceAddress { user_id: uid("bob"), device_id: did("NoSuchDevice") };
    for extra in [ghost, b3_unkeyed.addr(), a1.addr()] {
        let mut devices = complete.to_vec();
        devices.push(extra.clone());
        let resp = a1.send_direct_raw(&m, &payloads(&devices, "x")).await;
        let err = assert_error(resp, 409, "devices_changed").await;
        let mismatch = err.devices.unwrap();
        assert_eq!(mismatch.unknown, vec![extra]);
        assert!(mismatch.missing.is_empty());
    }
    // Missing and unknown at once.
    let resp = a1.send_direct_raw(&m, &payloads(&[b1.addr(), b2.addr(), a3_unkeyed.addr()], "x")).await;
    let mismatch = assert_error(resp, 409, "devices_changed").await.devices.unwrap();
    assert_eq!(mismatch.missing, vec![a2.addr()]);
    assert_eq!(mismatch.unknown, vec![a3_unkeyed.addr()]);

    // Unknown recipient user.
    let nobody = DeviceAddress { user_id: uid("nobody"), device_id: did("D1") };
    let resp = a1.send_direct_raw(&m, &payloads(&[nobody], "x")).await;
    assert_error(resp, 404, "unknown_user").await;
    // Malformed sends.
    let resp = a1.send_direct_raw(&m, &[]).await;
    assert_error(resp, 400, "invalid_input").await;
    let resp = a1.send_direct_raw(&m, &[(b1.addr(), "a".into()), (b1.addr(), "b".into())]).await;
    assert_error(resp, 400, "invalid_input").await;
    let mut empty = payloads(&complete, "x");
    empty[0].1 = String::new();
    assert_error(a1.send_direct_raw(&m, &empty).await, 400, "invalid_input").await;
    let resp = a1.post("/v1/messages", &json!({"message_id": "short", "payloads": []})).await;
    let (_, text) = error_body(resp, 400).await;
    assert!(text.contains("invalid_json") || text.contains("invalid_input"), "{text}");

    // Nothing was delivered by any refused send.
    for c in [&a1, &a2, &a3_unkeyed, &b1, &b2, &b3_unkeyed] {
        assert!(c.inbox_all().await.is_empty(), "refused sends delivered something");
    }

    // The exact set: delivered to each, with its own ciphertext. The refused attempts did not
    // burn the message id.
    let receipt = a1.send_direct(&m, &payloads(&complete, "ok")).await;
    assert!(!receipt.duplicate);
    for c in [&b1, &b2, &a2] {
        let entries = c.inbox_all().await;
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.message_id, m);
        assert_eq!(e.sender_user, *a1.user());
        assert_eq!(e.sender_device.as_ref(), Some(a1.device()));
        assert_eq!(e.server_ts, receipt.server_ts);
        assert_eq!(direct_ciphertext(e), format!("ok-for-{}", c.device()));
    }
    for c in [&a1, &a3_unkeyed, &b3_unkeyed] {
        assert!(c.inbox_all().await.is_empty());
    }
}

#[tokio::test]
async fn resending_a_message_id_is_idempotent() {
    let server = Server::start().await;
    let (alice, bob) = pair(&server).await;
    let m = mid("idem-0001");
    let first = alice.send_direct(&m, &[(bob.addr(), "first".into())]).await;
    assert!(!first.duplicate);
    let again = alice.send_direct(&m, &[(bob.addr(), "first".into())]).await;
    assert!(again.duplicate);
    assert_eq!(again.server_ts, first.server_ts);
    assert_eq!(again.message_id, m);
    // Even with other content: not stored again.
    let changed = alice.send_direct(&m, &[(bob.addr(), "second".into())]).await;
    assert!(changed.duplicate);

    let entries = bob.inbox_all().await;
    assert_eq!(ids_of(&entries), vec![m.to_string()]);
    assert_eq!(direct_ciphertext(&entries[0]), "first");
    // Over the WebSocket too: exactly once.
    let mut ws = bob.ws().await;
    let (replayed, _) = ws.until_synced().await;
    assert_eq!(ids_of(&replayed), vec![m.to_string()]);

    // Idempotency is per sender: bob may use the same id.
    let bobs = bob.send_direct(&m, &[(alice.addr(), "from bob".into())]).await;
    assert!(!bobs.duplicate);
    assert_eq!(alice.inbox_all().await.len(), 1);
    // Nothing more arrives at bob.
    assert!(ws.frame_within(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn concurrent_resends_store_a_message_once() {
    let server = Server::start_with(Launch::new().no_rate_limit()).await;
    let (alice, bob) = pair(&server).await;
    let alice2 = server.login_keyed("alice").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        // Both of alice's devices retry the same message at once.
        let (from, to) = if i % 2 == 0 { (alice.clone(), alice2.addr()) } else { (alice2.clone(), alice.addr()) };
        let payloads = vec![(bob.addr(), format!("copy-{i}")), (to, format!("copy-{i}"))];
        tasks.push(tokio::spawn(async move { from.send_direct(&mid("same-id-0001"), &payloads).await }));
    }
    let mut first = 0;
    let mut ts = BTreeSet::new();
    for t in tasks {
        let receipt = t.await.unwrap();
        if !receipt.duplicate {
            first += 1;
        }
        ts.insert(receipt.server_ts);
    }
    assert_eq!(first, 1, "exactly one send stores the message");
    assert_eq!(ts.len(), 1, "every receipt reports the first store's timestamp");
    let entries = bob.inbox_all().await;
    assert_eq!(ids_of(&entries), vec!["same-id-0001"]);
}

#[tokio::test]
async fn websocket_replays_then_pushes() {
    let server = Server::start().await;
    let (alice, bob) = pair(&server).await;
    let bob2 = server.login_keyed("bob").await;
    let devices = [bob.addr(), bob2.addr()];

    alice.send_direct(&mid("before-connect"), &payloads(&devices, "early")).await;
    let mut ws = bob.ws().await;
    let (replay, synced) = ws.until_synced().await;
    assert_eq!(ids_of(&replay), vec!["before-connect"]);
    assert_eq!(synced, replay[0].seq);
    assert_eq!(direct_ciphertext(&replay[0]), format!("early-for-{}", bob.device()));

    // Pushed as it is stored, to each connected device with its own ciphertext.
    let mut ws2 = bob2.ws().await;
    ws2.until_synced().await;
    let receipt = alice.send_direct(&mid("after-connect"), &payloads(&devices, "late")).await;
    let e = ws.next_entry().await;
    assert_eq!(e.message_id.as_str(), "after-connect");
    assert!(e.seq > synced);
    assert_eq!(e.server_ts, receipt.server_ts);
    assert_eq!(e.sender_device.as_ref(), Some(alice.device()));
    assert_eq!(direct_ciphertext(&e), format!("late-for-{}", bob.device()));
    let e2 = ws2.next_entry().await;
    assert_eq!(direct_ciphertext(&e2), format!("late-for-{}", bob2.device()));
    // Pushing does not remove anything: only acks do.
    assert_eq!(ids_of(&bob.inbox_all().await), vec!["before-connect", "after-connect"]);
}

/// Concurrent senders race each other between commit and push; the socket must still deliver
/// every entry exactly once, in seq order with no gap (it fills gaps from the store), also when
/// the device had entries acked before (so its seqs do not start at 1).
#[tokio::test]
async fn concurrent_pushes_arrive_in_order_without_gaps_or_repeats() {
    let server = Server::start_with(Launch::new().no_rate_limit()).await;
    let bob = server.register_keyed("bob").await;
    let mut senders = Vec::new();
    for name in ["alice", "carol", "dave", "erin"] {
        senders.push(server.register_keyed(name).await);
    }
    // Earlier traffic, acked, so the next seq is well above 1.
    send_n(&senders[0], &bob, "old", 3).await;
    bob.ack(u64::MAX).await;

    let mut ws = bob.ws().await;
    let (replay, _) = ws.until_synced().await;
    assert!(replay.is_empty());
    let per_sender = 40;
    let mut tasks = Vec::new();
    for (i, sender) in senders.into_iter().enumerate() {
        let to = bob.addr();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_sender {
                let id = format!("race-{i}-{n:04}");
                sender.send_direct(&mid(&id), &[(to.clone(), format!("ct-{id}"))]).await;
            }
        }));
    }
    let total = 4 * per_sender;
    let mut got = Vec::new();
    while got.len() < total {
        let e = ws.next_entry().await;
        if got.len() == total / 2 {
            ws.send_frame(&ClientFrame::Ack { up_to: e.seq }).await;
        }
        got.push(e);
    }
    for t in tasks {
        t.await.unwrap();
    }
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "pushed seqs must be contiguous");
    }
    assert_eq!(got[0].seq, 4, "seqs continue after the acked ones");
    let unique: BTreeSet<String> = ids_of(&got).into_iter().collect();
    assert_eq!(unique.len(), total, "every message exactly once");
    // Nothing more arrives, and a reconnect replays exactly the unacked half.
    assert!(ws.frame_within(Duration::from_millis(300)).await.is_none());
    ws.close().await;
    let mut ws = bob.ws().await;
    let (replay, _) = ws.until_synced().await;
    assert_eq!(replay.len(), total - total / 2 - 1);
    assert_eq!(replay.first().map(|e| e.seq), Some(got[total / 2 + 1].seq));
}

#[tokio::test]
async fn offline_queue_replays_in_order_and_acks_stick() {
    let server = Server::start().await;
    let (alice, bob) = pair(&server).await;
    let sent = send_n(&alice, &bob, "offline", 20).await;

    let mut ws = bob.ws().await;
    let (replay, synced) = ws.until_synced().await;
    assert_eq!(ids_of(&replay), sent, "all 20, in send order");
    assert_increasing(&replay);
    assert_eq!(synced, replay[19].seq);
    for e in &replay {
        assert_eq!(direct_ciphertext(e), format!("ct-{}", e.message_id));
    }

    // Ack the first 10 over the socket, then reconnect: only the other 10 come back.
    ws.send_frame(&ClientFrame::Ack { up_to: replay[9].seq }).await;
    ws.close().await;
    let mut ws = bob.ws().await;
    let (again, synced2) = ws.until_synced().await;
    assert_eq!(ids_of(&again), sent[10..].to_vec());
    assert_eq!(again[0].seq, replay[10].seq, "seqs are stable across connections");
    assert_eq!(synced2, synced);
    assert_eq!(ids_of(&bob.inbox_all().await), sent[10..].to_vec());

    // New entries after an ack keep growing seqs (never reused).
    ws.send_frame(&ClientFrame::Ack { up_to: synced2 }).await;
    ws.close().await;
    assert!(bob.inbox_all().await.is_empty());
    alice.send_direct(&mid("after-ack-0001"), &[(bob.addr(), "x".into())]).await;
    let entries = bob.inbox_all().await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0].seq > synced2);
}

#[tokio::test]
async fn http_inbox_paging_and_ack() {
    let server = Server::start().await;
    let (alice, bob) = pair(&server).await;
    let sent = send_n(&alice, &bob, "page", 12).await;

    let p1 = bob.inbox(0, 5).await;
    assert_eq!(ids_of(&p1.entries), sent[..5].to_vec());
    assert!(p1.more);
    let p2 = bob.inbox(p1.entries[4].seq, 5).await;
    assert_eq!(ids_of(&p2.entries), sent[5..10].to_vec());
    assert!(p2.more);
    let p3 = bob.inbox(p2.entries[4].seq, 5).await;
    assert_eq!(ids_of(&p3.entries), sent[10..].to_vec());
    assert!(!p3.more);
    let exact = bob.inbox(p1.entries[4].seq, 7).await;
    assert_eq!(exact.entries.len(), 7);
    assert!(!exact.more, "`more` is false when the page ends exactly at the last entry");
    // Defaults: from the start, up to 100.
    let resp = bob.get("/v1/inbox").await;
    assert_eq!(resp.status(), 200);
    let all: sotto_proto::InboxPage = resp.json().await.unwrap();
    assert_eq!(ids_of(&all.entries), sent);
    assert!(!all.more);
    assert_increasing(&all.entries);

    // Ack the first five.
    bob.ack(p1.entries[4].seq).await;
    assert_eq!(ids_of(&bob.inbox_all().await), sent[5..].to_vec());
    bob.ack(0).await;
    assert_eq!(bob.inbox_all().await.len(), 7);
    // Ack is cumulative and idempotent.
    bob.ack(p1.entries[4].seq).await;
    assert_eq!(bob.inbox_all().await.len(), 7);
    bob.ack(p3.entries[1].seq).await;
    assert!(bob.inbox_all().await.is_empty());
    // The sender's inbox is untouched by all this.
    assert!(alice.inbox_all().await.is_empty());

    // Bad parameters.
    for q in ["limit=0", "limit=501", "after=-1", "after=abc", "bogus=1"] {
        let resp = bob.get(&format!("/v1/inbox?{q}")).await;
        assert_error(resp, 400, "invalid_input").await;
    }
    assert_error(bob.post("/v1/inbox/ack", &json!({"up_to": -1})).await, 400, "invalid_json").await;
    assert_error(bob.post("/v1/inbox/ack", &json!({"upto": 1})).await, 400, "invalid_json").await;
}

#[tokio::test]
async fn ephemeral_events_reach_online_devices_and_are_never_stored() {
    let server = Server::start().await;
    let (alice, bob) = pair(&server).await;
    let carol = server.register_keyed("carol").await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    let mut wb = bob.ws().await;
    wb.until_synced().await;
    let mut wc = carol.ws().await;
    wc.until_synced().await;

    // Before any conversation: refused, to a stranger as to a user id nobody has.
    for stranger in ["bob", "nobody"] {
        wa.send_frame(&ClientFrame::Ephemeral {
            to: EphemeralTarget::User { user_id: uid(stranger) },
            body: "typing-0".into(),
        })
        .await;
        match wa.next_frame().await {
            ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::Forbidden),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert!(wb.frame_within(Duration::from_millis(300)).await.is_none(), "a stranger's typing reached bob");
    // Bob writes to alice: now they share a conversation, either way.
    bob.send_direct(&mid("hello-alice"), &[(alice.addr(), "ct".into())]).await;
    let hello = wa.next_entry().await;
    assert_eq!(hello.message_id.as_str(), "hello-alice");
    assert_eq!(alice.post("/v1/inbox/ack", &json!({"up_to": hello.seq})).await.status(), 204);
    // Carol still shares none with alice.
    wc.send_frame(&ClientFrame::Ephemeral { to: EphemeralTarget::User { user_id: uid("alice") }, body: "x".into() })
        .await;
    assert!(matches!(wc.next_frame().await, ServerFrame::Error { code: ErrorCode::Forbidden, .. }));

    let typing =
        |body: &str| ClientFrame::Ephemeral { to: EphemeralTarget::User { user_id: uid("bob") }, body: body.into() };
    wa.send_frame(&typing("typing-1")).await;
    match wb.next_frame().await {
        ServerFrame::Ephemeral { from_user, from_device, group_id, body } => {
            assert_eq!(from_user, *alice.user());
            assert_eq!(from_device, *alice.device());
            assert_eq!(group_id, None);
            assert_eq!(body, "typing-1");
        }
        other => panic!("expected an ephemeral frame, got {other:?}"),
    }

    // A device that connects later never gets it; it does get the next one, first.
    let bob2 = server.login("bob").await;
    let mut wb2 = bob2.ws().await;
    let (replay, _) = wb2.until_synced().await;
    assert!(replay.is_empty());
    wa.send_frame(&typing("typing-2")).await;
    for ws in [&mut wb2, &mut wb] {
        match ws.next_frame().await {
            ServerFrame::Ephemeral { body, .. } => assert_eq!(body, "typing-2"),
            other => panic!("expected typing-2, got {other:?}"),
        }
    }
    // Not stored anywhere.
    for c in [&bob, &bob2, &alice] {
        assert!(c.inbox_all().await.is_empty(), "an ephemeral event was stored");
    }
    let mut wb3 = bob.ws().await; // replaces wb
    let (replay, up_to) = wb3.until_synced().await;
    assert!(replay.is_empty());
    assert_eq!(up_to, 0);

    // Too large a body: an error frame, and the socket stays usable.
    wa.send_frame(&typing(&"t".repeat(2049))).await;
    match wa.next_frame().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::InvalidInput),
        other => panic!("expected an error frame, got {other:?}"),
    }
    wa.send_frame(&typing("typing-3")).await;
    match wb3.next_frame().await {
        ServerFrame::Ephemeral { body, .. } => assert_eq!(body, "typing-3"),
        other => panic!("expected typing-3, got {other:?}"),
    }
    // The sender's own socket never echoes its events.
    assert!(wa.frame_within(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn a_second_socket_of_the_same_device_closes_the_first() {
    let server = Server::start().await;
    let (alice, bob) = pair(&server).await;
    let mut first = bob.ws().await;
    first.until_synced().await;
    let mut second = bob.ws().await;
    assert_eq!(first.expect_end().await, WsEnd::Close(Some(4000)));
    second.until_synced().await;
    alice.send_direct(&mid("to-second"), &[(bob.addr(), "x".into())]).await;
    assert_eq!(second.next_entry().await.message_id.as_str(), "to-second");

    // Signing the device out closes its socket too.
    let resp = bob.delete("/v1/sessions/current").await;
    assert_eq!(resp.status(), 204);
    assert_eq!(second.expect_end().await, WsEnd::Close(Some(4000)));
}

#[tokio::test]
async fn invalid_frames_get_an_error_and_the_socket_survives() {
    let server = Server::start().await;
    let (alice, bob) = pair(&server).await;
    // They have a conversation (typing between them is allowed).
    alice.send_direct(&mid("first-message"), &[(bob.addr(), "ct".into())]).await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    let mut wb = bob.ws().await;
    wb.until_synced().await;

    for bad in [
        "not json".to_owned(),
        r#"{"type":"ack"}"#.to_owned(),
        r#"{"type":"ack","up_to":1,"extra":2}"#.to_owned(),
        r#"{"type":"subscribe"}"#.to_owned(),
        r#"{"type":"ephemeral","to":{"type":"user","user_id":"NOT VALID"},"body":"x"}"#.to_owned(),
        // A frame is an object: not the sequence form serde also reads a tagged enum from.
        r#"["ack", 1]"#.to_owned(),
        "null".to_owned(),
    ] {
        wb.send_text(bad.clone()).await;
        match wb.next_frame().await {
            ServerFrame::Error { code, message } => {
                assert_eq!(code, ErrorCode::InvalidJson, "{bad}");
                assert!(!message.is_empty());
            }
            other => panic!("expected an error frame for {bad}, got {other:?}"),
        }
    }
    // Still reading: an event from bob reaches alice (they have written to each other).
    wb.send_frame(&ClientFrame::Ephemeral { to: EphemeralTarget::User { user_id: uid("alice") }, body: "hi".into() })
        .await;
    match wa.next_frame().await {
        ServerFrame::Ephemeral { body, .. } => assert_eq!(body, "hi"),
        other => panic!("expected bob's event, got {other:?}"),
    }
    // Still writing: a message to bob is pushed.
    alice.send_direct(&mid("still-alive"), &[(bob.addr(), "x".into())]).await;
    assert_eq!(wb.next_entry().await.message_id.as_str(), "still-alive");

    // A binary frame is a protocol violation: closed with 1008.
    futures_util::SinkExt::send(&mut wb.stream, Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(wb.expect_end().await, WsEnd::Close(Some(1008)));
}

#[tokio::test]
async fn an_oversize_frame_closes_the_socket() {
    let server = Server::start().await;
    let (_alice, bob) = pair(&server).await;
    let mut ws = bob.ws().await;
    ws.until_synced().await;
    // Just under the limit is read (and refused as a frame, not as a size).
    let big_ok = serde_json::to_string(&ClientFrame::Ephemeral {
        to: EphemeralTarget::User { user_id: uid("alice") },
        body: "b".repeat(60 * 1024),
    })
    .unwrap();
    ws.send_text(big_ok).await;
    match ws.next_frame().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::InvalidInput),
        other => panic!("expected an error frame, got {other:?}"),
    }
    // Over the limit (what an HTTP body may hold): the socket is closed.
    let too_big = "x".repeat(sotto_proto::limits::MAX_CLIENT_FRAME_BYTES + 1);
    let _ = futures_util::SinkExt::send(&mut ws.stream, Message::text(too_big)).await;
    let end = ws.expect_end().await;
    eprintln!("oversize frame: socket ended with {end:?}");
    // The device can reconnect.
    let mut again = bob.ws().await;
    again.until_synced().await;
}
