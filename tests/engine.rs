//! The engine end to end: several real clients (each with its own SQLCipher profile and keys in
//! the real keychain) talking through the real `sotto-server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Duration;

use sotto_core::{
    ClientEvent, ConversationId, ErrorCode, KeyChange, MessageKind, MessageReason, MessageStatus, Undecryptable,
    VerificationState,
};
use sotto_proto::{EntryBody, UserId};
use sotto_tests::*;

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

#[tokio::test]
async fn one_to_one_both_ways() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;

    let sent = alice.send_text(&uid("bob"), "hello bob").await.unwrap();
    assert_eq!(sent.status, MessageStatus::Sent);
    assert!(sent.server_ts.is_some());

    let summary = bob.sync().await.unwrap();
    assert_eq!(summary.messages, 1);
    let got = bob.messages(&ConversationId::Direct(uid("alice")), None, 50).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "hello bob");
    assert_eq!(got[0].status, MessageStatus::Received);
    assert_eq!(got[0].sender_user, "alice");
    assert!(!got[0].outgoing);
    let conversations = bob.conversations().unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].unread, 1);
    assert_eq!(conversations[0].last_preview, "hello bob");
    bob.mark_read(&conversations[0].id).unwrap();
    assert_eq!(bob.conversations().unwrap()[0].unread, 0);

    bob.send_text(&uid("alice"), "hi alice").await.unwrap();
    bob.send_text(&uid("alice"), "second line\nwith a newline").await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(
        bodies(&alice, &ConversationId::Direct(uid("bob"))),
        ["hello bob", "hi alice", "second line\nwith a newline"]
    );
    // Nothing is left in either inbox once the receipts those syncs sent are in: the syncs
    // acknowledged what they stored.
    bob.sync().await.unwrap();
    assert_eq!(alice.sync().await.unwrap().entries, 0);
    assert_eq!(bob.sync().await.unwrap().entries, 0);

    // Both see the same safety number.
    let a = alice.safety_number(&uid("bob")).await.unwrap();
    assert_eq!(a, bob.safety_number(&uid("alice")).await.unwrap());

    // Sending to someone who does not exist is a clear error, and nothing is queued.
    let err = alice.send_text(&uid("nobody"), "hi").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownUser);
    assert!(alice.conversations().unwrap().iter().all(|c| c.peer != "nobody"));
}

/// Messages sent over HTTP so far: direct and group sends answered 200.
async fn http_sends(server: &Server) -> u64 {
    counter(server, r#"sotto_http_requests_total{method="POST",route="/v1/messages",status="200"}"#).await
        + counter(
            server,
            r#"sotto_http_requests_total{method="POST",route="/v1/groups/{group_id}/messages",status="200"}"#,
        )
        .await
}

/// Waits for each of these queued messages to be reported sent (with the server's time).
async fn sent(events: &mut tokio::sync::broadcast::Receiver<ClientEvent>, ids: &[&String]) {
    let mut waiting: std::collections::BTreeSet<&String> = ids.iter().copied().collect();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !waiting.is_empty() {
            if let ClientEvent::StatusChanged { message } = events.recv().await.unwrap()
                && waiting.remove(&message.message_id)
            {
                assert_eq!(message.status, MessageStatus::Sent);
                assert!(message.server_ts.is_some());
            }
        }
    })
    .await
    .expect("the sends answered");
}

#[tokio::test]
async fn sends_go_over_the_socket_while_online_and_over_http_otherwise() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let group = alice.create_group("socket", &[uid("bob")]).await.unwrap().group_id;
    // Not connected: over HTTP.
    alice.send_text(&uid("bob"), "over http").await.unwrap();
    let over_http = http_sends(&server).await;
    assert!(over_http >= 1);
    assert_eq!(counter(&server, "sotto_socket_sends_total").await, 0);

    // Only alice runs the service while the counters are compared: bob's receipts would be sends
    // too, over HTTP or the socket depending on when his outbox runs.
    start_online(&alice).await;
    let mut events = alice.subscribe();
    let direct = alice.send_text(&uid("bob"), "over the socket").await.unwrap();
    let in_group = alice.send_group_text(&group, "to the group over the socket").await.unwrap();
    sent(&mut events, &[&direct.message_id, &in_group.message_id]).await;
    assert_eq!(http_sends(&server).await, over_http, "nothing more went over HTTP");
    let over_socket = counter(&server, "sotto_socket_sends_total").await;
    assert!(over_socket >= 2);

    // A message larger than a socket frame may be goes over HTTP, online or not.
    let long = "long message ".repeat(4_000);
    let large = alice.send_text(&uid("bob"), &long).await.unwrap();
    sent(&mut events, &[&large.message_id]).await;
    assert_eq!(http_sends(&server).await, over_http + 1);
    assert_eq!(counter(&server, "sotto_socket_sends_total").await, over_socket);

    start_online(&bob).await;
    let with_alice = ConversationId::Direct(uid("alice"));
    eventually("bob has everything", || {
        let direct = bodies(&bob, &with_alice);
        let group = bodies(&bob, &ConversationId::Group(group.clone()));
        (direct.len() == 3
            && direct[..2] == ["over http", "over the socket"]
            && direct[2] == long
            && group == ["to the group over the socket"])
        .then_some(())
    })
    .await;
    alice.shutdown();
    bob.shutdown();
}

#[tokio::test]
async fn sends_racing_a_server_crash_are_delivered_once() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    start_online(&alice).await;
    start_online(&bob).await;
    // A burst queued while online: the outbox sends them over the socket one after the other,
    // and the server dies in the middle, some sends answered, one maybe stored but unanswered.
    let texts: Vec<String> = (0..40).map(|i| format!("burst {i:02}")).collect();
    for text in &texts {
        alice.send_text(&uid("bob"), text).await.unwrap();
    }
    let to_bob = ConversationId::Direct(uid("bob"));
    let sent = |client: &sotto_core::Client| {
        client.messages(&to_bob, None, 100).unwrap().iter().filter(|m| m.status == MessageStatus::Sent).count()
    };
    eventually("some sent", || (sent(&alice) >= 5).then_some(())).await;
    assert!(counter(&server, "sotto_socket_sends_total").await > 0, "the burst goes over the socket");
    server.kill9();
    let before = sent(&alice);
    server.restart().await;
    eventually("all sent after the restart", || (sent(&alice) == texts.len()).then_some(())).await;
    let with_alice = ConversationId::Direct(uid("alice"));
    eventually("bob has every message", || (bodies(&bob, &with_alice).len() >= texts.len()).then_some(())).await;
    // Each once, in the order written (the burst is queued within a few milliseconds).
    assert_eq!(bodies(&bob, &with_alice), texts, "{before} were sent before the crash");
    alice.shutdown();
    bob.shutdown();
}

#[tokio::test]
async fn a_new_chat_is_an_empty_conversation_with_a_known_user() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, _bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let mut events = alice.subscribe();
    let conversation = alice.start_direct(&uid("bob")).await.unwrap();
    let with_bob = ConversationId::Direct(uid("bob"));
    assert_eq!((&conversation.id, conversation.title.as_str(), conversation.last_ts), (&with_bob, "bob", 0));
    assert_eq!(conversation.id.to_string(), "u:bob");
    assert!(alice.messages(&with_bob, None, 10).unwrap().is_empty());
    assert!(
        matches!(events.try_recv(), Ok(ClientEvent::ConversationUpdated { conversation }) if conversation.id == with_bob)
    );
    // Again: the same conversation, nothing new.
    assert_eq!(alice.start_direct(&uid("bob")).await.unwrap(), conversation);
    assert_eq!(alice.conversations().unwrap().len(), 1);
    // Unknown people are refused, and leave no conversation behind.
    assert_eq!(alice.start_direct(&uid("nobody")).await.unwrap_err().code(), ErrorCode::UnknownUser);
    assert_eq!(alice.conversations().unwrap().len(), 1);
    // Oneself: the note-to-self conversation.
    assert_eq!(alice.start_direct(&uid("alice")).await.unwrap().id, ConversationId::Direct(uid("alice")));
}

#[tokio::test]
async fn live_delivery_and_offline_queue_survive_a_server_restart() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    // Bob is not connected yet: the first message waits in his inbox.
    alice.send_text(&uid("bob"), "while you were away").await.unwrap();

    let mut events = bob.subscribe();
    start_online(&bob).await;
    alice.start();
    let conversation = ConversationId::Direct(uid("alice"));
    eventually("replayed message", || {
        bodies(&bob, &conversation).contains(&"while you were away".to_owned()).then_some(())
    })
    .await;

    // Live push while connected. With the service running a send returns at once, queued, and
    // its outcome follows as an event.
    let mut alice_events = alice.subscribe();
    let live = alice.send_text(&uid("bob"), "live").await.unwrap();
    assert_eq!(live.status, MessageStatus::Queued);
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let ClientEvent::StatusChanged { message } = alice_events.recv().await.unwrap()
                && message.message_id == live.message_id
            {
                assert_eq!(message.status, MessageStatus::Sent);
                assert!(message.server_ts.is_some());
                return;
            }
        }
    })
    .await
    .expect("the send's outcome as an event");
    let received = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let ClientEvent::MessageReceived { message } = events.recv().await.unwrap()
                && message.body == "live"
            {
                return message;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(received.conversation_id, conversation);

    // The server goes away: a send is stored as queued, not lost.
    server.kill9();
    let queued = alice.send_text(&uid("bob"), "sent while the server was down").await.unwrap();
    assert_eq!(queued.status, MessageStatus::Queued);
    let alice_conversation = ConversationId::Direct(uid("bob"));
    server.restart().await;
    // Both reconnect by themselves; the outbox sends, bob receives.
    eventually("queued message delivered", || {
        bodies(&bob, &conversation).contains(&"sent while the server was down".to_owned()).then_some(())
    })
    .await;
    eventually("queued message marked sent", || {
        let m = alice.messages(&alice_conversation, None, 10).unwrap();
        m.iter().find(|m| m.message_id == queued.message_id && m.status == MessageStatus::Sent).map(|_| ())
    })
    .await;
    let texts = bodies(&bob, &conversation);
    assert_eq!(texts.iter().filter(|t| t.as_str() == "sent while the server was down").count(), 1);
    alice.shutdown();
    bob.shutdown();
}

#[tokio::test]
async fn two_devices_of_one_user_see_everything() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice1 = register(&server, &dirs.path().join("alice1"), "alice").await;
    let alice2 = login(&server, &dirs.path().join("alice2"), "alice").await;
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    let with_bob = ConversationId::Direct(uid("bob"));

    // Until alice confirms her new device, it is given nothing: it knows a message came, not
    // what it says; bob sees the device as not confirmed by alice.
    bob.send_text(&uid("alice"), "before you confirmed it").await.unwrap();
    alice2.sync().await.unwrap();
    let withheld = alice2.messages(&with_bob, None, 10).unwrap();
    assert_eq!(withheld.len(), 1, "{withheld:?}");
    assert_eq!(withheld[0].kind, MessageKind::Undecryptable);
    assert_eq!(withheld[0].reason, Some(MessageReason::from(Undecryptable::Withheld)));
    assert!(!withheld[0].body.contains("before you confirmed it"));
    let listed = bob.lookup_users(&[uid("alice")]).await.unwrap();
    let new_device = listed.iter().find(|d| d.device_id == alice2.device_id().as_str()).unwrap();
    assert!(!new_device.confirmed);
    alice1.sync().await.unwrap();
    assert_eq!(bodies(&alice1, &with_bob), ["before you confirmed it"]);

    // Confirmed by comparing emoji with her first device, it reads what is sent from now on.
    link_device(&alice1, &alice2).await;
    assert!(bob.lookup_users(&[uid("alice")]).await.unwrap().iter().all(|d| d.confirmed));
    bob.send_text(&uid("alice"), "to both of your devices").await.unwrap();
    alice1.sync().await.unwrap();
    alice2.sync().await.unwrap();
    assert_eq!(bodies(&alice1, &with_bob), ["before you confirmed it", "to both of your devices"]);
    assert_eq!(bodies(&alice2, &with_bob), ["to both of your devices"]);

    // What one device sends shows on the other as sent by me.
    alice1.send_text(&uid("bob"), "from my laptop").await.unwrap();
    alice2.sync().await.unwrap();
    let on_2 = alice2.messages(&with_bob, None, 10).unwrap();
    let copy = on_2.iter().find(|m| m.body == "from my laptop").expect("sync copy on the other device");
    assert!(copy.outgoing);
    assert_eq!(copy.status, MessageStatus::Sent);
    bob.sync().await.unwrap();
    assert_eq!(
        bodies(&bob, &ConversationId::Direct(uid("alice"))),
        ["before you confirmed it", "to both of your devices", "from my laptop"]
    );
    // Unread counts only count others' messages (the withheld one included: it arrived).
    assert_eq!(alice2.conversations().unwrap()[0].unread, 2);
}

#[tokio::test]
async fn group_of_four_send_and_receive() {
    let server = Server::start().await;
    let dirs = profiles();
    let clients = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    let info = clients[0].create_group("weekend", &[uid("bob"), uid("carol"), uid("dave")]).await.unwrap();
    let group = info.group_id.clone();
    for c in &clients[1..] {
        c.sync().await.unwrap();
    }
    for (i, c) in clients.iter().enumerate() {
        c.send_group_text(&group, &format!("message {i} from {}", c.user_id())).await.unwrap();
    }
    let conversation = ConversationId::Group(group.clone());
    for c in &clients {
        c.sync().await.unwrap();
        let texts = bodies(c, &conversation);
        assert_eq!(texts.len(), 4, "{} sees {texts:?}", c.user_id());
        for (i, sender) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
            assert!(texts.contains(&format!("message {i} from {sender}")));
        }
        let all = c.messages(&conversation, None, 100).unwrap();
        assert!(all.iter().all(|m| m.kind != MessageKind::Undecryptable), "{:?}", all);
        assert!(all.iter().any(|m| m.kind == MessageKind::System && m.body.contains("created the group")));
    }
    // The group has the name its creator chose on every device.
    assert_eq!(clients[3].conversations().unwrap().iter().find(|c| c.id == conversation).unwrap().title, "weekend");
}

#[tokio::test]
async fn late_member_reads_from_join_and_removed_member_reads_nothing_after() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, dave] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    // A second device of bob's that only collects ciphertexts as the server delivers them.
    let tap = Tap::login(&server, "bob").await;

    let group = alice.create_group("plans", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    alice.send_group_text(&group, "before dave joined").await.unwrap();
    alice.add_members(&group, &[uid("dave")]).await.unwrap();
    alice.send_group_text(&group, "after dave joined").await.unwrap();

    dave.sync().await.unwrap();
    assert_eq!(bodies(&dave, &conversation), ["after dave joined"]);
    // Handed the earlier ciphertext directly, dave still cannot read it.
    let tapped = tap.inbox().await;
    // The messages (the profile keys that went before them aside).
    let sent = |c: &sotto_core::Client| -> Vec<String> {
        c.messages(&conversation, None, 100).unwrap().into_iter().map(|m| m.message_id).collect()
    };
    let texts = sent(&alice);
    let group_entries: Vec<_> = tapped
        .iter()
        .filter(|e| matches!(e.body, EntryBody::Group { .. }) && texts.contains(&e.message_id.to_string()))
        .cloned()
        .collect();
    assert_eq!(group_entries.len(), 2);
    dave.bench_receive(&as_new_deliveries(&group_entries[..1], 1_000_000)).await.unwrap();
    let early = dave.messages(&conversation, None, 100).unwrap();
    let early = early.iter().find(|m| m.message_id == group_entries[0].message_id.as_str()).unwrap();
    assert_eq!(early.kind, MessageKind::Undecryptable);
    assert_eq!(early.reason, Some(MessageReason::from(Undecryptable::BeforeKey)));
    assert!(early.body.is_empty());

    // Carol is removed; what is sent after cannot be decrypted by her, even given the ciphertext.
    carol.sync().await.unwrap();
    assert_eq!(bodies(&carol, &conversation), ["before dave joined", "after dave joined"]);
    alice.remove_member(&group, &uid("carol")).await.unwrap();
    alice.send_group_text(&group, "carol must not read this").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_group_text(&group, "nor this").await.unwrap();
    carol.sync().await.unwrap();
    assert_eq!(bodies(&carol, &conversation), ["before dave joined", "after dave joined"]);
    let texts = [sent(&alice), sent(&bob)].concat();
    let after: Vec<_> = tap
        .inbox()
        .await
        .into_iter()
        .filter(|e| {
            matches!(e.body, EntryBody::Group { .. })
                && !group_entries.iter().any(|g| g.message_id == e.message_id)
                && texts.contains(&e.message_id.to_string())
        })
        .collect();
    assert_eq!(after.len(), 2, "the tap is a device of bob's: it gets alice's message and bob's own");
    carol.bench_receive(&as_new_deliveries(&after, 1_000_000)).await.unwrap();
    let stolen = carol.messages(&conversation, None, 100).unwrap();
    for entry in &after {
        let m = stolen.iter().find(|m| m.message_id == entry.message_id.as_str()).unwrap();
        assert_eq!(m.kind, MessageKind::Undecryptable);
        assert_eq!(m.reason, Some(MessageReason::from(Undecryptable::MissingRoomKey)));
    }
    assert!(carol.search("carol must not", 10).unwrap().is_empty());
    // The remaining members read everything sent after the removal.
    for c in [&bob, &dave] {
        c.sync().await.unwrap();
        let texts = bodies(c, &conversation);
        assert!(texts.contains(&"carol must not read this".to_owned()), "{} sees {texts:?}", c.user_id());
    }
    dave.sync().await.unwrap();
    assert!(bodies(&dave, &conversation).contains(&"nor this".to_owned()));
    // Carol's own send is refused: she is not a member any more.
    let err = carol.send_group_text(&group, "hello?").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotMember);
}

#[tokio::test]
async fn duplicates_are_shown_once_and_tampering_is_undecryptable() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let tap = Tap::login(&server, "bob").await;
    let group = alice.create_group("dupes", &[uid("bob")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    alice.send_group_text(&group, "only once").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &conversation), ["only once"]);

    let entry = tap.inbox().await.into_iter().find(|e| matches!(e.body, EntryBody::Group { .. })).unwrap();
    // The same message delivered again (twice more, under new sequence numbers).
    let again = as_new_deliveries(&[entry.clone(), entry.clone()], 1_000_000);
    assert_eq!(bob.bench_receive(&again).await.unwrap(), 0);
    assert_eq!(bodies(&bob, &conversation), ["only once"]);

    // A tampered copy under a new message id: stored as undecryptable, nothing crashes.
    let EntryBody::Group { ciphertext, .. } = &entry.body else { unreachable!() };
    let mut envelope: serde_json::Value = serde_json::from_str(ciphertext).unwrap();
    let body = envelope["body"].as_str().unwrap().to_owned();
    let mut bytes: Vec<char> = body.chars().collect();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == 'A' { 'B' } else { 'A' };
    envelope["body"] = serde_json::Value::String(bytes.into_iter().collect());
    let mut tampered = entry.clone();
    tampered.message_id = sotto_proto::MessageId::parse("tampered-0001").unwrap();
    tampered.body = EntryBody::Group { group_id: group.clone(), ciphertext: envelope.to_string() };
    // And garbage in a one-to-one entry.
    let mut garbage = entry.clone();
    garbage.message_id = sotto_proto::MessageId::parse("garbage-00001").unwrap();
    garbage.body = EntryBody::Direct { ciphertext: "{\"not\":\"olm\"}".into() };
    bob.bench_receive(&as_new_deliveries(&[tampered, garbage], 2_000_000)).await.unwrap();
    let all = bob.messages(&conversation, None, 100).unwrap();
    let bad = all.iter().find(|m| m.message_id == "tampered-0001").unwrap();
    assert_eq!(
        (bad.kind, bad.reason),
        (MessageKind::Undecryptable, Some(MessageReason::from(Undecryptable::Tampered)))
    );
    let direct = bob.messages(&ConversationId::Direct(uid("alice")), None, 10).unwrap();
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].reason, Some(MessageReason::from(Undecryptable::Malformed)));
    // Replaying a real ciphertext under another message id is caught by the index check, and
    // shows nothing at all (no "undecryptable" placeholder).
    let mut replay = entry.clone();
    replay.message_id = sotto_proto::MessageId::parse("replayed-0001").unwrap();
    bob.bench_receive(&as_new_deliveries(&[replay], 3_000_000)).await.unwrap();
    let all = bob.messages(&conversation, None, 100).unwrap();
    assert!(all.iter().all(|m| m.message_id != "replayed-0001"), "{all:?}");
    // So does a one-to-one message replayed under a new id: a first message (a pre-key message)
    // and, once bob has answered, a normal one.
    alice.send_text(&uid("bob"), "the first one to one").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&uid("alice"), "an answer").await.unwrap();
    alice.sync().await.unwrap();
    alice.send_text(&uid("bob"), "one to one, once").await.unwrap();
    let mut olm = tap.inbox().await.into_iter().rev().find(|e| matches!(e.body, EntryBody::Direct { .. })).unwrap();
    // The ciphertext for bob's own device, as the server holds it before bob fetches it.
    let db = rusqlite::Connection::open(server.data_dir().join("sotto.db")).unwrap();
    let ciphertext: String = db
        .query_row(
            "SELECT ciphertext FROM inbox WHERE user_id = 'bob' AND device_id = ?1 AND message_id = ?2",
            [bob.device_id().as_str(), olm.message_id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    olm.body = EntryBody::Direct { ciphertext };
    bob.sync().await.unwrap();
    let to_alice = ConversationId::Direct(uid("alice"));
    let before = bob.messages(&to_alice, None, 100).unwrap().len();
    let mut olm_replay = olm.clone();
    olm_replay.message_id = sotto_proto::MessageId::parse("replayed-0002").unwrap();
    bob.bench_receive(&as_new_deliveries(&[olm_replay], 4_000_000)).await.unwrap();
    assert_eq!(bob.messages(&to_alice, None, 100).unwrap().len(), before, "the replay shows nothing");
    // The engine keeps working afterwards.
    alice.send_group_text(&group, "still fine").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &conversation), ["only once", "still fine"]);
}

#[tokio::test]
async fn a_contact_starting_over_on_a_new_device_shows_a_key_change() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    alice.send_text(&uid("bob"), "first").await.unwrap();
    let before = alice.safety_number(&uid("bob")).await.unwrap();
    bob.logout().await.unwrap();
    assert!(!dirs.path().join("bob").join("sotto.db").exists(), "logout deletes the profile");
    let bob = login(&server, &dirs.path().join("bob-new"), "bob").await;

    // Bob's only device now is one he has not confirmed (he has no other device, and no
    // recovery key): nothing is sent to it, and alice is told why.
    let mut events = alice.subscribe();
    let held = alice.send_text(&uid("bob"), "do you still have your keys?").await.unwrap();
    assert_eq!(held.status, MessageStatus::Failed);
    assert_eq!(held.reason, Some(MessageReason::Failed(ErrorCode::NoConfirmedDevice)));
    let changes = key_changes(&mut events);
    assert!(changes.iter().all(|(user, _, was_verified)| user == "bob" && !was_verified), "{changes:?}");
    let kinds: Vec<KeyChange> = changes.iter().map(|(_, change, _)| *change).collect();
    assert!(kinds.contains(&KeyChange::UnconfirmedDevice), "{kinds:?}");
    assert!(kinds.contains(&KeyChange::DeviceRemoved), "{kinds:?}");
    let lines = alice.messages(&ConversationId::Direct(uid("bob")), None, 10).unwrap();
    let notice = lines.iter().find(|m| m.kind == MessageKind::System).expect("a line about the new device");
    assert_eq!(notice.reason, Some(MessageReason::from(KeyChange::UnconfirmedDevice)));
    assert!(notice.body.contains("has not confirmed"), "{}", notice.body);
    assert_eq!(before, alice.safety_number(&uid("bob")).await.unwrap(), "a new device is not a new identity");

    // Bob starts over (with his password): a new identity, which alice sees as a key change.
    assert_eq!(bob.reset_identity("not the password").await.unwrap_err().code(), ErrorCode::InvalidCredentials);
    bob.reset_identity(PASSWORD).await.unwrap();
    let mut events = alice.subscribe();
    alice.send_text(&uid("bob"), "is this you?").await.unwrap();
    let kinds: Vec<KeyChange> = key_changes(&mut events).into_iter().map(|(_, change, _)| change).collect();
    assert!(kinds.contains(&KeyChange::MasterKeyChanged), "{kinds:?}");
    let lines = alice.messages(&ConversationId::Direct(uid("bob")), None, 10).unwrap();
    let changed = lines.iter().find(|m| m.reason == Some(MessageReason::from(KeyChange::MasterKeyChanged)));
    assert!(changed.expect("a line about the identity").body.contains("identity key changed"));
    assert_ne!(before, alice.safety_number(&uid("bob")).await.unwrap());
    // The new device gets the message sent after it was confirmed.
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &ConversationId::Direct(uid("alice"))), ["is this you?"]);
}

#[tokio::test]
async fn a_profile_reopens_with_its_history_and_keys() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice_dir = dirs.path().join("alice");
    let alice = register(&server, &alice_dir, "alice").await;
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    alice.send_text(&uid("bob"), "one").await.unwrap();
    bob.sync().await.unwrap();
    drop(alice);
    let alice = sotto_core::Client::open(&alice_dir, None).unwrap();
    assert_eq!(bodies(&alice, &ConversationId::Direct(uid("bob"))), ["one"]);
    // The Olm session survived: bob's reply decrypts, alice's next message too.
    bob.send_text(&uid("alice"), "two").await.unwrap();
    alice.sync().await.unwrap();
    alice.send_text(&uid("bob"), "three").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &ConversationId::Direct(uid("alice"))), ["one", "two", "three"]);
    assert_eq!(alice.search("thr", 10).unwrap().len(), 1);
    // One process per profile: a second open (or a register into it) is refused while it is open.
    assert_eq!(sotto_core::Client::open(&alice_dir, None).unwrap_err().code(), ErrorCode::ProfileInUse);
    let register_alice2 = || {
        sotto_core::Client::register(
            &alice_dir,
            sotto_core::SignIn {
                server: server.url(),
                trust: sotto_core::ServerTrust::System,
                user_id: "alice2",
                password: PASSWORD,
                device_name: None,
            },
            keychain(),
        )
    };
    assert_eq!(register_alice2().await.unwrap_err().code(), ErrorCode::ProfileInUse);
    drop(alice);
    // Creating a profile where one exists is refused, and the existing one is untouched.
    let before = snapshot(&alice_dir);
    assert_eq!(register_alice2().await.unwrap_err().code(), ErrorCode::ProfileExists);
    assert_eq!(snapshot(&alice_dir), before);
    let alice = sotto_core::Client::open(&alice_dir, None).unwrap();
    assert_eq!(bodies(&alice, &ConversationId::Direct(uid("bob"))).len(), 3);
}

#[tokio::test]
async fn expired_access_tokens_are_refreshed_over_http_and_the_socket() {
    let server = Server::start_with_short_tokens().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    wait_for_tokens_to_expire(&server).await;
    // Both tokens have expired: the requests refresh them and go through.
    alice.send_text(&uid("bob"), "after expiry").await.unwrap();
    assert_eq!(refreshes(&server).await, 1, "alice's send refreshed her token");
    start_online(&bob).await;
    assert_eq!(refreshes(&server).await, 2, "bob's socket refreshed his token");
    let conversation = ConversationId::Direct(uid("alice"));
    eventually("message over the refreshed socket", || (bodies(&bob, &conversation) == ["after expiry"]).then_some(()))
        .await;
    bob.shutdown();
    wait_for_tokens_to_expire(&server).await;
    // Refresh tokens rotate: a later refresh still works, and the profile reopens signed in.
    drop(alice);
    let alice = sotto_core::Client::open(&dirs.path().join("alice"), None).unwrap();
    alice.send_text(&uid("bob"), "again").await.unwrap();
    assert_eq!(refreshes(&server).await, 3, "alice's reopened profile refreshed with the rotated token");
    assert_eq!(bob.sync().await.unwrap().messages, 1);
}

#[tokio::test]
async fn a_message_that_arrives_before_its_key_is_decrypted_when_the_key_comes() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, _bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let tap = Tap::login(&server, "bob").await;
    let group = alice.create_group("order", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    alice.send_group_text(&group, "key comes second").await.unwrap();
    // Carol is handed the group message before her inbox gave her the key (the last group
    // entry: Alice's profile key goes first).
    let entry = tap.inbox().await.into_iter().rfind(|e| matches!(e.body, EntryBody::Group { .. })).unwrap();
    let mut events = carol.subscribe();
    carol.bench_receive(&as_new_deliveries(std::slice::from_ref(&entry), 1_000_000)).await.unwrap();
    let waiting = carol.messages(&conversation, None, 10).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].kind, MessageKind::Undecryptable);
    assert_eq!(waiting[0].reason, Some(MessageReason::from(Undecryptable::MissingRoomKey)));
    assert_eq!(carol.conversations().unwrap()[0].last_preview, "Message not decrypted yet");
    // The key arrives: the same message becomes readable, in place, and is not shown twice.
    carol.sync().await.unwrap();
    let texts: Vec<_> = carol
        .messages(&conversation, None, 10)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind != MessageKind::System)
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].id, waiting[0].id);
    assert_eq!(
        (texts[0].kind, texts[0].status, texts[0].body.as_str()),
        (MessageKind::Text, MessageStatus::Received, "key comes second")
    );
    assert_eq!(carol.search("second", 10).unwrap().len(), 1);
    let mut updated = false;
    while let Ok(event) = events.try_recv() {
        if let ClientEvent::StatusChanged { message } = event {
            updated |= message.id == waiting[0].id && message.kind == MessageKind::Text;
        }
    }
    assert!(updated, "a status_changed event tells the app the message is readable now");
}

/// When bob's one-time keys run out, a new contact's first message opens a session from his
/// fallback key; bob's device then replaces that key, so it does not open sessions for long.
#[tokio::test]
async fn a_used_fallback_key_is_replaced() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let db = rusqlite::Connection::open(server.data_dir().join("sotto.db")).unwrap();
    let fallback = || -> String {
        db.query_row(
            "SELECT key FROM fallback_keys WHERE user_id = 'bob' AND device_id = ?1",
            [bob.device_id().as_str()],
            |r| r.get(0),
        )
        .unwrap()
    };
    let before = fallback();
    // Someone claims every one-time key bob has (they are handed out once each).
    let tap = Tap::login(&server, "alice").await;
    let device = serde_json::json!({"devices": [{"user_id": "bob", "device_id": bob.device_id().as_str()}]});
    loop {
        let (status, claimed) = tap.post("/v1/keys/claim", &device).await;
        assert_eq!(status, 200);
        if claimed["keys"][0]["fallback"] == true {
            break;
        }
    }
    alice.send_text(&uid("bob"), "from the fallback key").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &ConversationId::Direct(uid("alice"))), ["from the fallback key"]);
    assert_ne!(fallback(), before, "bob's device replaced the fallback key it saw used");
    // Nothing breaks afterwards.
    alice.send_text(&uid("bob"), "and again").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &ConversationId::Direct(uid("alice"))), ["from the fallback key", "and again"]);
}

#[tokio::test]
async fn one_time_keys_are_topped_up_as_contacts_use_them() {
    let server = Server::start().await;
    let dirs = profiles();
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    start_online(&bob).await;
    // 60 new contacts each claim one of bob's one-time keys (more than the 50 he uploaded).
    let mut senders = Vec::new();
    for i in 0..60 {
        let name = format!("sender{i:02}");
        let c = register(&server, &dirs.path().join(&name), &name).await;
        c.send_text(&uid("bob"), &format!("hello from {name}")).await.unwrap();
        senders.push(c);
    }
    eventually("all 60 first messages", || {
        let n = bob.conversations().unwrap().len();
        (n == 60).then_some(())
    })
    .await;
    for c in bob.conversations().unwrap() {
        let m = bob.messages(&c.id, None, 10).unwrap();
        assert_eq!(m[0].kind, MessageKind::Text, "{} -> {:?}", c.id, m[0].reason);
    }

    // Bob's device kept the server stocked while it was online.
    let token = {
        let resp: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/v1/sessions", server.url()))
            .json(&serde_json::json!({"user_id": "sender00", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        resp["access_token"].as_str().unwrap().to_owned()
    };
    let claim: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/keys/claim", server.url()))
        .bearer_auth(token)
        .json(&serde_json::json!({"devices": [{"user_id": "bob", "device_id": bob.device_id().as_str()}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(claim["keys"][0]["fallback"], false, "bob's one-time keys were topped up: {claim}");
    bob.shutdown();
}

#[tokio::test]
async fn typing_notices_reach_the_other_side_while_online_and_are_never_stored() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let group = alice.create_group("typing", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let (to_bob, to_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));
    assert!(!alice.send_typing(&to_bob, true).unwrap(), "offline: nothing is sent");
    let mut bob_events = bob.subscribe();
    let mut carol_events = carol.subscribe();
    for c in [&alice, &bob, &carol] {
        start_online(c).await;
    }
    async fn typing(events: &mut tokio::sync::broadcast::Receiver<ClientEvent>) -> (ConversationId, String, bool) {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let ClientEvent::Typing { conversation_id, user_id, typing } = events.recv().await.unwrap() {
                    return (conversation_id, user_id, typing);
                }
            }
        })
        .await
        .expect("a typing notice")
    }
    // Before Alice's profile key went to a conversation, nobody there could open a notice.
    assert!(!alice.send_typing(&to_bob, true).unwrap(), "no key given yet: nothing is sent");
    alice.send_text(&uid("bob"), "hi").await.unwrap();
    alice.send_group_text(&group, "hi all").await.unwrap();
    let in_group = ConversationId::Group(group.clone());
    eventually("bob has the message", || (bodies(&bob, &to_alice) == ["hi"]).then_some(())).await;
    eventually("carol has the group message", || {
        bodies(&carol, &in_group).contains(&"hi all".to_owned()).then_some(())
    })
    .await;
    assert!(alice.send_typing(&to_bob, true).unwrap());
    assert_eq!(typing(&mut bob_events).await, (to_alice.clone(), "alice".to_owned(), true));
    let conversation = ConversationId::Group(group.clone());
    assert!(alice.send_typing(&conversation, false).unwrap());
    assert_eq!(typing(&mut bob_events).await, (conversation.clone(), "alice".to_owned(), false));
    assert_eq!(typing(&mut carol_events).await, (conversation.clone(), "alice".to_owned(), false));
    // Nothing of it was stored anywhere.
    assert_eq!(bob.messages(&to_alice, None, 10).unwrap().len(), 1);
    assert_eq!(bob.sync().await.unwrap().entries, 0);
    for c in [&alice, &bob, &carol] {
        c.shutdown();
    }
}

/// A member signs in on a new device (and confirms it) just after the group's key was shared:
/// the next message from the others reaches that device readable (the server refuses a send whose sender did not
/// know of the device, so the sender shares its key with it first).
#[tokio::test]
async fn a_members_new_device_reads_the_next_group_message() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let group = alice.create_group("pair", &[uid("bob")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    alice.send_group_text(&group, "before bob's new device").await.unwrap();
    bob.sync().await.unwrap();

    let bob2 = login_linked(&server, &dirs.path().join("bob2"), &bob).await;
    let sent = alice.send_group_text(&group, "after bob's new device").await.unwrap();
    assert_eq!(sent.status, sotto_core::MessageStatus::Sent);
    bob2.sync().await.unwrap();
    // The earlier one came with the keys bob's first device handed over when it confirmed this one.
    assert_eq!(bodies(&bob2, &conversation), ["before bob's new device", "after bob's new device"]);
    assert!(undecryptable(&bob2).is_empty(), "{:?}", undecryptable(&bob2));
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &conversation), ["before bob's new device", "after bob's new device"]);
}

/// Marking a contact verified holds while the safety number the person compared is current; any
/// key change ends it (and says it was verified before); a number that changed meanwhile is
/// refused.
#[tokio::test]
async fn a_verified_contact_stays_verified_until_their_identity_changes() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    alice.send_text(&uid("bob"), "hello").await.unwrap();
    bob.sync().await.unwrap();

    let before = alice.verification(&uid("bob")).await.unwrap();
    assert!(!before.verified && !before.changed_since_verified);
    assert!(!alice.is_verified(&uid("bob")).unwrap());
    // Not the number on screen: refused, nothing marked.
    let err = alice.set_verified(&uid("bob"), Some("12345 67890")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SafetyNumberChanged);
    assert!(!alice.is_verified(&uid("bob")).unwrap());
    // The number as shown, in groups of five: verified, on both counts.
    let grouped: Vec<String> = before
        .safety_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .chunks(5)
        .map(|c| c.iter().collect())
        .collect();
    let marked = alice.set_verified(&uid("bob"), Some(&grouped.join(" "))).await.unwrap();
    assert!(marked.verified && !marked.changed_since_verified);
    assert!(alice.is_verified(&uid("bob")).unwrap());
    // bob's safety number with alice is the same number, but only alice marked it.
    assert_eq!(bob.verification(&uid("alice")).await.unwrap().safety_number, before.safety_number);
    assert!(!bob.is_verified(&uid("alice")).unwrap());

    // A new key for bob's device, confirmed by his identity: nothing changes for alice.
    bob.reset_keys(PASSWORD).await.unwrap();
    alice.sync().await.unwrap();
    assert!(alice.is_verified(&uid("bob")).unwrap(), "a device's keys are not the identity");

    // bob starts over on a new device with a new identity: the mark no longer holds, alice is
    // told it once did (also in the event: the app may not have asked about bob this session),
    // and what she sends to bob is held until she accepts the new identity.
    let mut events = alice.subscribe();
    bob.logout().await.unwrap();
    let bob = login(&server, &dirs.path().join("bob-new"), "bob").await;
    bob.reset_identity(PASSWORD).await.unwrap();
    let held = alice.send_text(&uid("bob"), "are you still you?").await.unwrap();
    assert_eq!(held.reason, Some(MessageReason::Failed(ErrorCode::IdentityChangedHeld)));
    assert!(!alice.is_verified(&uid("bob")).unwrap());
    assert!(alice.is_held(&uid("bob")).unwrap());
    let told = key_changes(&mut events);
    assert!(told.contains(&("bob".to_owned(), KeyChange::MasterKeyChanged, true)), "{told:?}");
    let after = alice.verification(&uid("bob")).await.unwrap();
    assert!(!after.verified && after.changed_since_verified);
    assert_ne!(after.safety_number, before.safety_number);
    bob.sync().await.unwrap();
    assert!(bodies(&bob, &ConversationId::Direct(uid("alice"))).is_empty(), "nothing reached the new identity");
    // Accepting lets messages through again (unverified); comparing again verifies.
    let accepted = alice.accept_identity(&uid("bob")).await.unwrap();
    assert!(!accepted.verified && !accepted.changed_since_verified);
    assert!(!alice.is_held(&uid("bob")).unwrap());
    alice.send_text(&uid("bob"), "welcome back").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &ConversationId::Direct(uid("alice"))), ["welcome back"]);
    // Compared again: verified again. Cleared: neither.
    assert!(alice.set_verified(&uid("bob"), Some(&after.safety_number)).await.unwrap().verified);
    let cleared = alice.set_verified(&uid("bob"), None).await.unwrap();
    assert!(!cleared.verified && !cleared.changed_since_verified);
}

/// Alice verifies bob by comparing emoji: the request reaches both of bob's devices, the one he
/// accepts on goes on (the other is told to stop), and once both confirm the match each has the
/// other marked verified. A request from a device bob did not confirm is refused.
#[tokio::test]
async fn contacts_verify_each_other_by_comparing_emoji() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let phone = login_linked(&server, &dirs.path().join("bob-phone"), &bob).await;
    alice.send_text(&uid("bob"), "hello").await.unwrap();

    let id = alice.start_contact_verification(&uid("bob")).await.unwrap().id;
    let state = |client: &sotto_core::Client| {
        client.verification_list().unwrap().into_iter().find(|v| v.id == id).map(|v| v.state)
    };
    for device in [&bob, &phone] {
        device.sync().await.unwrap();
        assert_eq!(state(device), Some(VerificationState::Requested), "{}", device.device_id());
    }
    // Bob accepts on his phone; the laptop's request ends.
    phone.accept_verification(&id).await.unwrap();
    for client in [&alice, &phone, &alice, &bob] {
        client.sync().await.unwrap();
    }
    let shown = |client: &sotto_core::Client| match state(client) {
        Some(VerificationState::Compare { sas, .. }) => sas,
        other => panic!("{} shows {other:?}", client.user_id()),
    };
    assert_eq!(shown(&alice), shown(&phone));
    assert!(matches!(state(&bob), Some(VerificationState::Cancelled { .. })), "{:?}", state(&bob));
    alice.confirm_verification(&id).await.unwrap();
    phone.confirm_verification(&id).await.unwrap();
    alice.sync().await.unwrap();
    phone.sync().await.unwrap();
    assert_eq!(state(&alice), Some(VerificationState::Done { device_confirmed: false }));
    assert_eq!(state(&phone), Some(VerificationState::Done { device_confirmed: false }));
    assert!(alice.is_verified(&uid("bob")).unwrap());
    assert!(phone.is_verified(&uid("alice")).unwrap());
    // The mark is the safety number of the two identities, the same on every side.
    assert_eq!(
        alice.verification(&uid("bob")).await.unwrap().safety_number,
        phone.verification(&uid("alice")).await.unwrap().safety_number
    );

    // A device bob has not confirmed cannot ask alice to verify.
    let stranger = login(&server, &dirs.path().join("bob-stranger"), "bob").await;
    let asked = stranger.start_contact_verification(&uid("alice")).await.unwrap().id;
    alice.sync().await.unwrap();
    assert!(alice.verification_list().unwrap().iter().all(|v| v.id != asked), "alice is never asked");
    stranger.sync().await.unwrap();
    let refused = stranger.verification_list().unwrap().into_iter().find(|v| v.id == asked).unwrap();
    assert_eq!(refused.state, VerificationState::Cancelled { reason: "unconfirmed".into() });
}

/// Once confirmed, a new device gets the group keys from the device that confirmed it and reads
/// the groups' past messages from the server's group history, as a new laptop should.
#[tokio::test]
async fn a_linked_device_reads_the_groups_past_messages() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let group = alice.create_group("garden", &[uid("bob")]).await.unwrap().group_id;
    alice.send_group_text(&group, "tomatoes are in").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_group_text(&group, "so are the beans").await.unwrap();
    alice.sync().await.unwrap();

    let laptop = login(&server, &dirs.path().join("alice-laptop"), "alice").await;
    link_device(&alice, &laptop).await;
    let garden = ConversationId::Group(group.clone());
    assert_eq!(bodies(&laptop, &garden), ["tomatoes are in", "so are the beans"]);
    assert!(undecryptable(&laptop).is_empty(), "{:?}", undecryptable(&laptop));
    // The group's sealed name opens there too: its key came with the group keys.
    assert_eq!(laptop.group(&group).unwrap().unwrap().name, "garden");
    let titles: Vec<String> = laptop.conversations().unwrap().into_iter().map(|c| c.title).collect();
    assert!(titles.contains(&"garden".to_owned()), "{titles:?}");
}

/// The same confirmation with both devices online (the background service, as in the app):
/// every step travels over the sockets, no sync needed.
#[tokio::test]
async fn a_device_is_confirmed_while_both_are_online() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = register(&server, &dirs.path().join("alice"), "alice").await;
    let laptop = login(&server, &dirs.path().join("laptop"), "alice").await;
    start_online(&alice).await;
    start_online(&laptop).await;
    let id = alice.start_device_confirmation(laptop.device_id(), false).await.unwrap().id;
    let state_of = |client: &sotto_core::Client| {
        client.verification_list().unwrap().into_iter().find(|v| v.id == id).map(|v| v.state)
    };
    let compare = |client: &sotto_core::Client| match state_of(client) {
        Some(VerificationState::Compare { sas, .. }) => Some(sas),
        _ => None,
    };
    let on_alice = eventually("the emoji on the first device", || compare(&alice)).await;
    let on_laptop = eventually("the emoji on the laptop", || compare(&laptop)).await;
    assert_eq!(on_alice, on_laptop);
    alice.confirm_verification(&id).await.unwrap();
    laptop.confirm_verification(&id).await.unwrap();
    for client in [&alice, &laptop] {
        eventually("done", || {
            (state_of(client) == Some(VerificationState::Done { device_confirmed: true })).then_some(())
        })
        .await;
    }
    assert!(laptop.this_device_confirmed().unwrap());
    alice.shutdown();
    laptop.shutdown();
}

/// Alice verifies bob on her laptop; her phone learns it too (through her user-signing key's
/// signature of bob's master key, which the server gives back to her devices only).
#[tokio::test]
async fn a_verification_reaches_the_users_other_devices() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let phone = login_linked(&server, &dirs.path().join("alice-phone"), &alice).await;
    alice.send_text(&uid("bob"), "hello").await.unwrap();
    phone.sync().await.unwrap();
    assert!(!phone.is_verified(&uid("bob")).unwrap());

    let number = alice.verification(&uid("bob")).await.unwrap().safety_number;
    alice.set_verified(&uid("bob"), Some(&number)).await.unwrap();
    // The phone looks bob up (as any send or the details panel does) and finds the signature.
    phone.lookup_users(&[uid("bob")]).await.unwrap();
    assert!(phone.is_verified(&uid("bob")).unwrap());
    assert_eq!(phone.verification(&uid("bob")).await.unwrap().safety_number, number);
    // Bob sees nothing of it: the signature is alice's business.
    bob.lookup_users(&[uid("alice")]).await.unwrap();
    assert!(!bob.is_verified(&uid("alice")).unwrap());
}

/// Confirming a new device with the history box ticked copies the one-to-one conversations to
/// it (both directions, in order, not counted as unread); without it, they stay behind.
#[tokio::test]
async fn a_linked_device_gets_the_one_to_one_history_when_asked() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    alice.send_text(&uid("bob"), "first from alice").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&uid("alice"), "then bob").await.unwrap();
    alice.sync().await.unwrap();
    alice.send_text(&uid("bob"), "and alice again").await.unwrap();
    let with_bob = ConversationId::Direct(uid("bob"));

    let without = login(&server, &dirs.path().join("alice-tablet"), "alice").await;
    link_device(&alice, &without).await;
    assert!(without.messages(&with_bob, None, 10).unwrap().is_empty(), "not asked for: nothing copied");

    let laptop = login(&server, &dirs.path().join("alice-laptop"), "alice").await;
    link_device_with_history(&alice, &laptop).await;
    assert_eq!(bodies(&laptop, &with_bob), ["first from alice", "then bob", "and alice again"]);
    let copied = laptop.messages(&with_bob, None, 10).unwrap();
    assert_eq!(copied.iter().map(|m| m.outgoing).collect::<Vec<_>>(), [true, false, true]);
    assert_eq!(laptop.conversations().unwrap()[0].unread, 0, "history is not news");
    assert_eq!(laptop.search("bob", 10).unwrap().len(), 1, "copied messages are searchable");
    // And the conversation goes on from there.
    bob.send_text(&uid("alice"), "hello laptop").await.unwrap();
    laptop.sync().await.unwrap();
    assert_eq!(bodies(&laptop, &with_bob).last().unwrap(), "hello laptop");
}

/// On a server as shipped, a group's creator adds only people who have written to them; the
/// others are invited: they see the invitation, read nothing of the group, and after joining
/// read what is sent from then on. A declined invitation ends there.
#[tokio::test]
async fn strangers_are_invited_and_join_or_decline() {
    let server = Server::start_as_shipped().await;
    let dirs = profiles();
    let [alice, bob, carol, dave] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    bob.send_text(&uid("alice"), "hi alice").await.unwrap();
    alice.sync().await.unwrap();

    let info = alice.create_group("book club", &[uid("bob"), uid("carol"), uid("dave")]).await.unwrap();
    let group = info.group_id.clone();
    let conversation = ConversationId::Group(group.clone());
    assert_eq!(info.member_ids(), [uid("alice"), uid("bob")], "bob wrote to alice: added");
    assert_eq!(info.invited, [uid("carol"), uid("dave")], "the others are invited");
    alice.send_group_text(&group, "before carol joined").await.unwrap();

    // Carol sees the invitation and no message.
    carol.sync().await.unwrap();
    let invitations = carol.invitations().unwrap();
    assert_eq!(invitations.iter().map(|g| &g.group_id).collect::<Vec<_>>(), [&group]);
    // The invitation says what it is to: the inviter gave the name's key to carol's devices.
    assert_eq!(invitations[0].name, "book club");
    // Every line, system lines included.
    let lines = |c: &sotto_core::Client| -> Vec<String> {
        c.messages(&conversation, None, 100).unwrap().into_iter().map(|m| m.body).collect()
    };
    assert_eq!(lines(&carol), ["alice invited you to the group."], "only the invitation");
    let err = carol.send_group_text(&group, "may I?").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotMember);

    let joined = carol.accept_invitation(&group).await.unwrap();
    assert!(joined.joined && joined.member_ids().contains(&uid("carol")));
    assert!(carol.invitations().unwrap().is_empty());
    alice.sync().await.unwrap();
    alice.send_group_text(&group, "welcome carol").await.unwrap();
    carol.sync().await.unwrap();
    let texts = bodies(&carol, &conversation);
    assert!(texts.contains(&"welcome carol".to_owned()), "{texts:?}");
    assert!(!texts.contains(&"before carol joined".to_owned()), "{texts:?}");
    carol.send_group_text(&group, "thanks").await.unwrap();
    bob.sync().await.unwrap();
    assert!(bodies(&bob, &conversation).contains(&"thanks".to_owned()));
    assert!(lines(&bob).contains(&"carol joined the group.".to_owned()), "{:?}", lines(&bob));

    // Dave declines; he is no longer invited and stays out.
    dave.sync().await.unwrap();
    dave.decline_invitation(&group).await.unwrap();
    assert!(dave.invitations().unwrap().is_empty());
    let err = dave.accept_invitation(&group).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotInvited);
    alice.sync().await.unwrap();
    let after = alice.group(&group).unwrap().unwrap();
    assert!(after.invited.is_empty());
    assert!(lines(&alice).contains(&"dave declined the invitation.".to_owned()), "{:?}", lines(&alice));

    // Adding a stranger later invites them too.
    let erin = register_all(&server, dirs.path(), ["erin"]).await;
    let [erin] = erin;
    let after = alice.add_members(&group, &[uid("erin")]).await.unwrap();
    assert_eq!(after.invited, [uid("erin")]);
    erin.sync().await.unwrap();
    let invitations = erin.invitations().unwrap();
    assert_eq!(invitations.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["book club"]);
}
