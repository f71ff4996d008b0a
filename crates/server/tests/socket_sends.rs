//! Sends over the WebSocket (`send` frames): the same checks, idempotency and answers as the
//! HTTP routes, one answer frame per message id, and nothing lost or stored twice when a socket
//! ends with sends in flight.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use sotto_proto::limits::MAX_SOCKET_SENDS;
use sotto_proto::{
    ClientFrame, DeviceAddress, DevicePayload, EntryBody, ErrorCode, InboxEntry, MessageId, SendDirectRequest,
    SendGroupRequest, SendReceipt, ServerFrame, SocketSend,
};

/// A server without the per-account request limit (these tests send hundreds of messages).
async fn unlimited() -> Server {
    Server::start_with(Launch::new().args(["--rate-limit", "0"])).await
}

fn direct(id: &str, payloads: &[(DeviceAddress, &str)]) -> SocketSend {
    SocketSend::Direct {
        request: SendDirectRequest {
            message_id: mid(id),
            payloads: payloads
                .iter()
                .map(|(d, c)| DevicePayload {
                    user_id: d.user_id.clone(),
                    device_id: d.device_id.clone(),
                    ciphertext: (*c).to_owned(),
                })
                .collect(),
        },
    }
}

/// An answer to one send.
#[derive(Debug)]
enum Answer {
    Sent(SendReceipt),
    Failed { message_id: MessageId, code: ErrorCode, error: sotto_proto::ErrorBody, retry_after: Option<u64> },
}

impl Answer {
    fn id(&self) -> &str {
        match self {
            Answer::Sent(r) => r.message_id.as_str(),
            Answer::Failed { message_id, .. } => message_id.as_str(),
        }
    }

    fn receipt(&self) -> &SendReceipt {
        match self {
            Answer::Sent(r) => r,
            other => panic!("expected a receipt, got {other:?}"),
        }
    }
}

/// The next `n` answers (entries and other frames pushed meanwhile are skipped).
async fn answers(ws: &mut Ws, n: usize) -> Vec<Answer> {
    let mut out = Vec::new();
    while out.len() < n {
        match ws.next_frame().await {
            ServerFrame::Sent { receipt } => out.push(Answer::Sent(receipt)),
            ServerFrame::SendFailed { message_id, status, error, retry_after_secs } => {
                let expected = match error.code {
                    ErrorCode::DevicesChanged => 409,
                    ErrorCode::RateLimited => 429,
                    ErrorCode::UnknownUser | ErrorCode::NotFound => 404,
                    ErrorCode::NotMember => 403,
                    _ => 400,
                };
                assert_eq!(status, expected, "the status HTTP would answer {:?} with", error.code);
                out.push(Answer::Failed { message_id, code: error.code, error, retry_after: retry_after_secs })
            }
            ServerFrame::Entry { .. } | ServerFrame::Ephemeral { .. } => {}
            other => panic!("expected an answer to a send, got {other:?}"),
        }
    }
    out
}

/// Entries pushed to `ws` until `n` arrived.
async fn entries(ws: &mut Ws, n: usize) -> Vec<InboxEntry> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(ws.next_entry().await);
    }
    out
}

fn ciphertext(entry: &InboxEntry) -> &str {
    match &entry.body {
        EntryBody::Direct { ciphertext } => ciphertext,
        other => panic!("expected a direct entry, got {other:?}"),
    }
}

#[tokio::test]
async fn a_frame_of_sends_is_stored_in_its_order_and_each_send_answered() {
    let server = Server::start().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    let mut wb = bob.ws().await;
    wb.until_synced().await;

    let ids: Vec<String> = (0..10).map(|i| format!("in-order-{i:02}")).collect();
    let sends: Vec<SocketSend> = ids.iter().map(|id| direct(id, &[(bob.addr(), &format!("ct-{id}"))])).collect();
    wa.send_frame(&ClientFrame::Send { sends }).await;

    let got = answers(&mut wa, ids.len()).await;
    assert_eq!(got.iter().map(Answer::id).collect::<Vec<_>>(), ids, "one answer per send, in order");
    for answer in &got {
        assert!(!answer.receipt().duplicate);
    }
    let pushed = entries(&mut wb, ids.len()).await;
    assert_eq!(pushed.iter().map(|e| e.message_id.as_str()).collect::<Vec<_>>(), ids, "stored in the frame's order");
    assert!(pushed.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(ciphertext(&pushed[3]), "ct-in-order-03");
    assert!(
        pushed.iter().all(|e| e.sender_user == alice.addr().user_id && e.sender_device == Some(alice.addr().device_id))
    );
    // The stamp the receipt names is the one the entry carries.
    assert_eq!(got[0].receipt().server_ts, pushed[0].server_ts);
}

#[tokio::test]
async fn a_send_repeated_over_the_socket_or_http_is_a_duplicate_and_delivered_once() {
    let server = Server::start().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;

    let send = direct("once-only", &[(bob.addr(), "ct")]);
    wa.send_frame(&ClientFrame::Send { sends: vec![send.clone()] }).await;
    let first = answers(&mut wa, 1).await.remove(0);
    assert!(!first.receipt().duplicate);
    // Again on the socket, in one frame twice, and over HTTP: all duplicates of the first.
    wa.send_frame(&ClientFrame::Send { sends: vec![send.clone(), send.clone()] }).await;
    for again in answers(&mut wa, 2).await {
        assert!(again.receipt().duplicate);
        assert_eq!(again.receipt().server_ts, first.receipt().server_ts);
    }
    let over_http = alice.send_direct(&mid("once-only"), &[(bob.addr(), "ct".into())]).await;
    assert!(over_http.duplicate);
    // Sent over HTTP first, then over the socket: a duplicate too.
    alice.send_direct(&mid("http-first"), &[(bob.addr(), "ct".into())]).await;
    wa.send_frame(&ClientFrame::Send { sends: vec![direct("http-first", &[(bob.addr(), "ct")])] }).await;
    assert!(answers(&mut wa, 1).await[0].receipt().duplicate);

    let inbox = bob.inbox_all().await;
    let ids: Vec<&str> = inbox.iter().map(|e| e.message_id.as_str()).collect();
    assert_eq!(ids, ["once-only", "http-first"]);
}

#[tokio::test]
async fn one_bad_send_in_a_frame_fails_alone_with_what_http_would_answer() {
    let server = Server::start().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let bob_phone = server.login_keyed("bob").await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;

    let both = [(bob.addr(), "ct"), (bob_phone.addr(), "ct")];
    let sends = vec![
        direct("good-one", &both),
        // Bob's phone is left out: `devices_changed`, naming it.
        direct("misses-a-device", &[(bob.addr(), "ct")]),
        // An empty ciphertext.
        direct("empty-ciphertext", &[(bob.addr(), ""), (bob_phone.addr(), "ct")]),
        // Someone with no account.
        direct("to-nobody", &[(DeviceAddress { user_id: uid("nobody"), device_id: did("dev") }, "ct")]),
        // A group that does not exist.
        SocketSend::Group {
            group_id: random_gid(),
            request: SendGroupRequest {
                message_id: mid("no-group"),
                ciphertext: "ct".into(),
                member_devices: None,
                members: None,
            },
        },
        direct("good-two", &both),
    ];
    wa.send_frame(&ClientFrame::Send { sends }).await;
    let got = answers(&mut wa, 6).await;
    let by_id: BTreeMap<&str, &Answer> = got.iter().map(|a| (a.id(), a)).collect();
    assert_eq!(by_id.len(), 6, "every send answered once: {got:?}");
    let code = |id: &str| match by_id[id] {
        Answer::Failed { code, .. } => *code,
        Answer::Sent(r) => panic!("{id} was stored: {r:?}"),
    };
    assert!(!by_id["good-one"].receipt().duplicate);
    assert!(!by_id["good-two"].receipt().duplicate);
    assert_eq!(code("misses-a-device"), ErrorCode::DevicesChanged);
    let Answer::Failed { error, .. } = by_id["misses-a-device"] else { unreachable!() };
    let mismatch = error.devices.as_ref().expect("the devices to add");
    assert_eq!(mismatch.missing, vec![bob_phone.addr()]);
    assert!(mismatch.unknown.is_empty());
    assert_eq!(code("empty-ciphertext"), ErrorCode::InvalidInput);
    assert_eq!(code("to-nobody"), ErrorCode::UnknownUser);
    assert_eq!(code("no-group"), ErrorCode::NotFound);

    let ids: Vec<String> = bob.inbox_all().await.into_iter().map(|e| e.message_id.to_string()).collect();
    assert_eq!(ids, ["good-one", "good-two"]);
    // The refused ones were not stored: sent right, they are new messages, not duplicates.
    wa.send_frame(&ClientFrame::Send { sends: vec![direct("misses-a-device", &both)] }).await;
    assert!(!answers(&mut wa, 1).await[0].receipt().duplicate);
}

#[tokio::test]
async fn group_sends_over_the_socket_reach_the_members_and_only_members_may_send() {
    let server = Server::start_team().await;
    let alice = server.register_member("alice").await;
    let [bob, carol, dave] = server.register_keyed_all(["bob", "carol", "dave"]).await;
    let group = alice.create_group("socket", &["bob", "carol"]).await;
    for c in [&alice, &bob, &carol, &dave] {
        let inbox = c.inbox_all().await;
        if let Some(last) = inbox.last() {
            c.ack(last.seq).await;
        }
    }
    let mut wb = bob.ws().await;
    wb.until_synced().await;
    let mut wc = carol.ws().await;
    wc.until_synced().await;
    let mut wd = dave.ws().await;
    wd.until_synced().await;

    let request = |id: &str| SendGroupRequest {
        message_id: mid(id),
        ciphertext: format!("group-ct-{id}"),
        member_devices: None,
        members: None,
    };
    wb.send_frame(&ClientFrame::Send {
        sends: vec![SocketSend::Group { group_id: group.group_id.clone(), request: request("group-msg-1") }],
    })
    .await;
    assert!(!answers(&mut wb, 1).await[0].receipt().duplicate);
    let got = wc.next_entry().await;
    assert_eq!(got.message_id.as_str(), "group-msg-1");
    assert!(matches!(&got.body, EntryBody::Group { ciphertext, .. } if ciphertext == "group-ct-group-msg-1"));

    // Dave is not a member.
    wd.send_frame(&ClientFrame::Send {
        sends: vec![SocketSend::Group { group_id: group.group_id.clone(), request: request("group-msg-dave") }],
    })
    .await;
    match &answers(&mut wd, 1).await[0] {
        Answer::Failed { code, .. } => assert_eq!(*code, ErrorCode::NotMember),
        other => panic!("a non-member's send was stored: {other:?}"),
    }
    assert!(wc.frame_within(Duration::from_millis(300)).await.is_none(), "nothing reached the members");
}

#[tokio::test]
async fn sends_cut_off_by_the_socket_closing_are_stored_once_when_sent_again() {
    let server = unlimited().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let ids: Vec<String> = (0..MAX_SOCKET_SENDS * 3).map(|i| format!("racing-{i:04}")).collect();
    let frames: Vec<ClientFrame> = ids
        .chunks(MAX_SOCKET_SENDS)
        .map(|chunk| ClientFrame::Send { sends: chunk.iter().map(|id| direct(id, &[(bob.addr(), "ct")])).collect() })
        .collect();

    // Send everything and drop the connection once the first frame is answered: the others are
    // being stored at that moment, some sends will be and some cut off.
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    for frame in &frames {
        wa.send_frame(frame).await;
    }
    answers(&mut wa, 1).await;
    drop(wa);

    // Reconnect at once (the old socket may still be finishing) and send all of it again.
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    for frame in &frames {
        wa.send_frame(frame).await;
    }
    let got = answers(&mut wa, ids.len()).await;
    assert_eq!(got.iter().map(Answer::id).collect::<Vec<_>>().len(), ids.len());
    let duplicates = got.iter().filter(|a| a.receipt().duplicate).count();
    eprintln!("{duplicates} of {} sends had been stored before the socket closed", ids.len());
    assert!(duplicates >= MAX_SOCKET_SENDS, "the first frame was answered, so stored: {duplicates}");

    // Bob has each message exactly once.
    let inbox = bob.inbox_all().await;
    let mut stored: Vec<&str> = inbox.iter().map(|e| e.message_id.as_str()).collect();
    stored.sort_unstable();
    assert_eq!(stored, ids.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn pipelined_frames_past_the_in_flight_cap_are_all_answered() {
    let server = unlimited().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    // More than the server keeps in flight per socket (256): it stops reading for a while,
    // then goes on.
    let ids: Vec<String> = (0..MAX_SOCKET_SENDS * 6).map(|i| format!("pipelined-{i:04}")).collect();
    for chunk in ids.chunks(MAX_SOCKET_SENDS) {
        let sends = chunk.iter().map(|id| direct(id, &[(bob.addr(), "ct")])).collect();
        wa.send_frame(&ClientFrame::Send { sends }).await;
    }
    let got = answers(&mut wa, ids.len()).await;
    let mut answered: Vec<&str> = got.iter().map(Answer::id).collect();
    answered.sort_unstable();
    assert_eq!(answered, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(got.iter().all(|a| !a.receipt().duplicate));
    assert_eq!(bob.inbox_all().await.len(), ids.len());
}

#[tokio::test]
async fn bad_send_frames_get_an_error_that_quotes_no_ciphertext() {
    let server = Server::start().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;

    let too_many: Vec<SocketSend> =
        (0..=MAX_SOCKET_SENDS).map(|i| direct(&format!("many-{i:04}"), &[(bob.addr(), "ct")])).collect();
    wa.send_frame(&ClientFrame::Send { sends: too_many }).await;
    match wa.next_frame().await {
        ServerFrame::Error { code, message } => {
            assert_eq!(code, ErrorCode::InvalidInput);
            assert!(message.contains(&MAX_SOCKET_SENDS.to_string()), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    wa.send_frame(&ClientFrame::Send { sends: vec![] }).await;
    assert!(matches!(wa.next_frame().await, ServerFrame::Error { code: ErrorCode::InvalidInput, .. }));

    let secret = "SECRET-CIPHERTEXT-4b1d";
    for bad in [
        // An unknown field beside a ciphertext: named, the ciphertext not quoted.
        format!(
            r#"{{"type":"send","sends":[{{"type":"direct","request":{{"message_id":"message-1","payloads":[{{"user_id":"bob","device_id":"{}","ciphertext":"{secret}","extra":1}}]}}}}]}}"#,
            bob.addr().device_id
        ),
        // A ciphertext where a list belongs.
        format!(
            r#"{{"type":"send","sends":[{{"type":"direct","request":{{"message_id":"message-2","payloads":"{secret}"}}}}]}}"#
        ),
        // A ciphertext where a message id belongs.
        format!(
            r#"{{"type":"send","sends":[{{"type":"direct","request":{{"message_id":"{secret} x","payloads":[]}}}}]}}"#
        ),
    ] {
        wa.send_text(bad.clone()).await;
        match wa.next_frame().await {
            ServerFrame::Error { code, message } => {
                assert_eq!(code, ErrorCode::InvalidJson, "{bad}");
                assert!(!message.contains("SECRET"), "the error quotes the frame: {message}");
            }
            other => panic!("expected an error for {bad}, got {other:?}"),
        }
    }
    assert!(!server.logs().contains(secret), "the log quotes a ciphertext");
    // The socket still works.
    wa.send_frame(&ClientFrame::Send { sends: vec![direct("after-errors", &[(bob.addr(), "ct")])] }).await;
    assert!(!answers(&mut wa, 1).await[0].receipt().duplicate);
}

#[tokio::test]
async fn socket_sends_count_against_the_account_rate_limit() {
    let server = Server::start_with(Launch::new().args(["--rate-limit", "1", "--rate-burst", "5"])).await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    let sends: Vec<SocketSend> = (0..20).map(|i| direct(&format!("limited-{i:02}"), &[(bob.addr(), "ct")])).collect();
    wa.send_frame(&ClientFrame::Send { sends }).await;
    let got = answers(&mut wa, 20).await;
    let limited: Vec<&Answer> =
        got.iter().filter(|a| matches!(a, Answer::Failed { code: ErrorCode::RateLimited, .. })).collect();
    let stored = got.iter().filter(|a| matches!(a, Answer::Sent(_))).count();
    assert!((1..=6).contains(&stored), "{stored} stored with a burst of 5");
    assert_eq!(stored + limited.len(), 20, "{got:?}");
    for a in limited {
        let Answer::Failed { retry_after, .. } = a else { unreachable!() };
        assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "{a:?}");
    }
    assert_eq!(bob.inbox_all().await.len(), stored);
}
