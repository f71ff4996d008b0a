//! Password change and key reset end to end: the real server, real clients, real profiles. Both
//! keep every message already stored; a key reset shows contacts the key-change notice, and
//! everyone keeps talking (1:1 and in a group). A wrong password changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use sotto_core::{Client, ClientEvent, ConversationId, ErrorCode, KeyChange, MessageKind, MessageReason, SignIn};
use sotto_proto::UserId;
use sotto_tests::*;

const NEW_PASSWORD: &str = "a brand new password";

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

async fn sign_in(server: &Server, dir: &std::path::Path, password: &str) -> sotto_core::Result<Client> {
    let sign_in = SignIn {
        server: server.url(),
        trust: sotto_core::ServerTrust::System,
        user_id: "alice",
        password,
        device_name: Some("another"),
    };
    Client::login(dir, sign_in, keychain()).await
}

#[tokio::test]
async fn a_password_change_keeps_the_device_signed_in_with_its_history() {
    // Access tokens live one second, so syncing after the change needs the stored refresh token.
    let server = Server::start_with_short_tokens().await;
    let dirs = profiles();
    let alice_dir = dirs.path().join("alice");
    let alice = register(&server, &alice_dir, "alice").await;
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    let (to_bob, to_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));
    alice.send_text(&uid("bob"), "before the change").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&uid("alice"), "a reply before the change").await.unwrap();
    alice.sync().await.unwrap();

    // Refused, and nothing changes: a wrong current password, a new one that is too short.
    let err = alice.change_password("not the password", NEW_PASSWORD).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidCredentials, "{err}");
    assert_eq!(alice.change_password(PASSWORD, "short").await.unwrap_err().code(), ErrorCode::InvalidInput);

    alice.change_password(PASSWORD, NEW_PASSWORD).await.unwrap();
    // The old password no longer signs in (and leaves no profile behind); the new one does.
    let refused = sign_in(&server, &dirs.path().join("refused"), PASSWORD).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidCredentials);
    assert!(!dirs.path().join("refused").join("sotto.db").exists());
    let second = sign_in(&server, &dirs.path().join("alice-second"), NEW_PASSWORD).await.unwrap();
    link_device(&alice, &second).await;

    // The device keeps syncing after its access token expired, also from a reopened profile.
    let before = refreshes(&server).await;
    wait_for_tokens_to_expire(&server).await;
    bob.send_text(&uid("alice"), "after the change").await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(refreshes(&server).await, before + 2, "bob's send and alice's sync refreshed their tokens");
    drop(alice);
    let alice = Client::open(&alice_dir, None).unwrap();
    alice.sync().await.unwrap();
    alice.send_text(&uid("bob"), "still here").await.unwrap();
    bob.sync().await.unwrap();
    second.sync().await.unwrap();

    let expected = ["before the change", "a reply before the change", "after the change", "still here"];
    assert_eq!(bodies(&alice, &to_bob), expected);
    assert_eq!(bodies(&bob, &to_alice), expected);
    assert_eq!(bodies(&second, &to_bob), ["after the change", "still here"]);
    assert_eq!(alice.search("reply", 10).unwrap().len(), 1);
    assert!(undecryptable(&alice).is_empty() && undecryptable(&bob).is_empty());
}

#[tokio::test]
async fn a_key_reset_keeps_history_and_contacts_see_the_key_change() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice_dir = dirs.path().join("alice");
    let alice = register(&server, &alice_dir, "alice").await;
    let [bob, carol] = register_all(&server, dirs.path(), ["bob", "carol"]).await;
    let (to_bob, to_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));

    // History before the reset: 1:1 both ways, and a group of three (carol only shares the group
    // with alice).
    alice.send_text(&uid("bob"), "before the reset").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&uid("alice"), "a reply before the reset").await.unwrap();
    alice.sync().await.unwrap();
    let group = alice.create_group("team", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let in_group = ConversationId::Group(group.clone());
    alice.send_group_text(&group, "alice's group line before").await.unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();
    bob.send_group_text(&group, "bob's group line before").await.unwrap();
    carol.send_group_text(&group, "carol's group line before").await.unwrap();
    alice.sync().await.unwrap();
    bob.sync().await.unwrap();
    let safety_before = bob.safety_number(&uid("alice")).await.unwrap();
    let keys_before = bob.lookup_users(&[uid("alice")]).await.unwrap();

    // A wrong password changes nothing.
    let err = alice.reset_keys("not the password").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidCredentials, "{err}");
    assert_eq!(bob.lookup_users(&[uid("alice")]).await.unwrap()[0].ed25519, keys_before[0].ed25519);
    assert_eq!(alice.safety_number(&uid("bob")).await.unwrap(), safety_before);

    // A message bob sent with the old keys, still in alice's inbox, is read before they go.
    bob.send_text(&uid("alice"), "on its way during the reset").await.unwrap();
    let reset = alice.reset_keys(PASSWORD).await.unwrap();
    assert_ne!(reset.ed25519, keys_before[0].ed25519);
    assert!(reset.notified_devices >= 2, "bob's and carol's devices hear from the new keys: {reset:?}");

    // Bob learns of it at his next sync: the notice in the conversation, and the event.
    let mut bob_events = bob.subscribe();
    bob.sync().await.unwrap();
    assert_eq!(key_changes(&mut bob_events), [("alice".to_owned(), KeyChange::IdentityChanged, false)]);
    let lines = bob.messages(&to_alice, None, 100).unwrap();
    let notice = lines.iter().find(|m| m.kind == MessageKind::System).expect("a key-change line");
    assert_eq!(notice.reason, Some(MessageReason::from(KeyChange::IdentityChanged)));
    assert!(notice.body.contains("security keys of alice"), "{}", notice.body);
    assert_eq!(bob.lookup_users(&[uid("alice")]).await.unwrap()[0].ed25519, reset.ed25519);
    // The device's new keys are confirmed by alice's identity, which did not change: neither did
    // the safety number.
    let safety_after = bob.safety_number(&uid("alice")).await.unwrap();
    assert_eq!(safety_after, safety_before);
    assert_eq!(alice.safety_number(&uid("bob")).await.unwrap(), safety_after);
    // Carol, who shares only the group with alice, learns of it too (no 1:1 conversation to
    // show a line in).
    let mut carol_events = carol.subscribe();
    carol.sync().await.unwrap();
    assert_eq!(key_changes(&mut carol_events), [("alice".to_owned(), KeyChange::IdentityChanged, false)]);
    // Both see the line in the group too: the one place carol talks with alice.
    for client in [&bob, &carol] {
        let lines = client.messages(&in_group, None, 100).unwrap();
        let notices: Vec<_> = lines.iter().filter(|m| m.kind == MessageKind::System).collect();
        let reasons: Vec<_> = notices.iter().filter_map(|m| m.reason).collect();
        assert!(reasons.contains(&KeyChange::IdentityChanged.into()), "{}: {lines:?}", client.user_id());
        assert!(notices.iter().any(|m| m.body.contains("security keys of alice")), "{lines:?}");
    }

    // Everyone keeps talking, 1:1 and in the group.
    alice.send_text(&uid("bob"), "from the new keys").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&uid("alice"), "a reply to the new keys").await.unwrap();
    alice.sync().await.unwrap();
    alice.send_group_text(&group, "alice's group line after").await.unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();
    bob.send_group_text(&group, "bob's group line after").await.unwrap();
    carol.send_group_text(&group, "carol's group line after").await.unwrap();
    alice.sync().await.unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();

    let direct = [
        "before the reset",
        "a reply before the reset",
        "on its way during the reset",
        "from the new keys",
        "a reply to the new keys",
    ];
    let group_lines = [
        "alice's group line before",
        "bob's group line before",
        "carol's group line before",
        "alice's group line after",
        "bob's group line after",
        "carol's group line after",
    ];
    assert_eq!(bodies(&alice, &to_bob), direct);
    assert_eq!(bodies(&bob, &to_alice), direct);
    for client in [&alice, &bob, &carol] {
        // Each sees its own line where it wrote it: compare the lines, not their order.
        let mut lines = bodies(client, &in_group);
        lines.sort();
        let mut expected = group_lines.map(str::to_owned);
        expected.sort();
        assert_eq!(lines, expected, "{}", client.user_id());
        assert!(undecryptable(client).is_empty(), "{}: {:?}", client.user_id(), undecryptable(client));
    }
    // Alice's history is intact and searchable, also after reopening her profile with the new keys.
    drop(alice);
    let alice = Client::open(&alice_dir, None).unwrap();
    assert_eq!(bodies(&alice, &to_bob), direct);
    assert_eq!(alice.search("before", 10).unwrap().len(), 5);
    assert_eq!(alice.safety_number(&uid("bob")).await.unwrap(), safety_after);
    bob.send_text(&uid("alice"), "after reopening").await.unwrap();
    alice.sync().await.unwrap();
    assert!(bodies(&alice, &to_bob).ends_with(&["after reopening".to_owned()]));
}

#[tokio::test]
async fn the_cli_changes_the_password_and_resets_keys() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice = Cli::new(&server, dirs.path().join("alice")).registered("alice");
    let bob = Cli::new(&server, dirs.path().join("bob")).registered("bob");
    alice.run(&["send", "bob", "hello before"], "").json();
    bob.run(&["sync"], "").json();

    // Password: the current one first, then the new one.
    let wrong = alice.run(&["account", "password", "--password-stdin"], &format!("nope nope nope\n{NEW_PASSWORD}\n"));
    assert_eq!(wrong.error_code(), "invalid_credentials");
    assert!(wrong.stderr.contains("hint:"), "{}", wrong.stderr);
    let missing = alice.run(&["account", "password", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(!missing.ok && missing.stderr.contains("new password"), "{}", missing.stderr);
    let changed = alice.run(&["account", "password", "--password-stdin"], &format!("{PASSWORD}\n{NEW_PASSWORD}\n"));
    assert!(changed.ok, "{}", changed.stderr);

    // Key reset: the old password is refused now; the new one gives the device new keys.
    let before = bob.run(&["devices", "alice"], "").json();
    let refused = alice.run(&["keys", "reset", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert_eq!(refused.error_code(), "invalid_credentials");
    assert_eq!(bob.run(&["devices", "alice"], "").json(), before);
    let reset = alice.run(&["keys", "reset", "--password-stdin"], &format!("{NEW_PASSWORD}\n")).json();
    assert!(reset["ed25519"].as_str().is_some_and(|k| Some(k) != before[0]["ed25519"].as_str()), "{reset}");

    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let reasons: Vec<&str> = history.as_array().unwrap().iter().filter_map(|m| m["reason"].as_str()).collect();
    assert_eq!(reasons, ["identity_changed"], "{history}");
    bob.run(&["send", "alice", "hello after"], "").json();
    alice.run(&["sync"], "").json();
    let history = alice.run(&["history", "bob"], "").json();
    let texts: Vec<&str> = history.as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello before", "hello after"]);
}

/// A loopback TCP proxy to `target` that forwards everything, except that once a request for
/// `cut_after` went through, the answer to it is dropped and the connection closed: the server
/// did the work, the client never hears of it (a network failure at the worst moment).
async fn lossy_proxy(target: u16, cut_after: &'static [u8]) -> String {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let done = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(("127.0.0.1", target)).await.unwrap();
            let (mut client_rx, mut client_tx) = client.into_split();
            let (mut server_rx, mut server_tx) = server.into_split();
            let (cut, done) = (Arc::new(AtomicBool::new(false)), done.clone());
            let cut_up = cut.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = client_rx.read(&mut buf).await {
                    let chunk = &buf[..n];
                    if !done.load(Ordering::SeqCst) && chunk.windows(cut_after.len()).any(|w| w == cut_after) {
                        done.store(true, Ordering::SeqCst);
                        cut_up.store(true, Ordering::SeqCst);
                    }
                    if server_tx.write_all(chunk).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = server_rx.read(&mut buf).await {
                    if cut.load(Ordering::SeqCst) {
                        // The server answered: drop the answer and the connection.
                        break;
                    }
                    if client_tx.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = client_tx.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn a_key_reset_whose_answer_is_lost_is_settled_by_the_next_sync() {
    let server = Server::start().await;
    let proxy = lossy_proxy(server.port(), b"POST /v1/keys/device/reset ").await;
    let dirs = profiles();
    let sign_in = SignIn {
        server: &proxy,
        trust: sotto_core::ServerTrust::System,
        user_id: "alice",
        password: PASSWORD,
        device_name: None,
    };
    let alice = Client::register(&dirs.path().join("alice"), sign_in, keychain()).await.unwrap();
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    let (to_bob, to_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));
    alice.send_text(&uid("bob"), "before the reset").await.unwrap();
    bob.sync().await.unwrap();
    let old_key = alice.safety_number(&uid("bob")).await.unwrap();

    // The server takes the new keys, but the answer never arrives.
    let err = alice.reset_keys(PASSWORD).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Offline, "{err}");
    // The next sync finds the new keys in the directory and adopts them: alice can read what is
    // sent to the new keys, and her contacts hear of the change.
    alice.sync().await.unwrap();
    // The safety number comes from the users' identities, which a device's new keys leave alone.
    let new_key = alice.safety_number(&uid("bob")).await.unwrap();
    assert_eq!(new_key, old_key);
    let mut events = bob.subscribe();
    bob.sync().await.unwrap();
    assert_eq!(key_changes(&mut events), [("alice".to_owned(), KeyChange::IdentityChanged, false)]);
    assert_eq!(bob.safety_number(&uid("alice")).await.unwrap(), new_key);
    bob.send_text(&uid("alice"), "to the new keys").await.unwrap();
    alice.sync().await.unwrap();
    alice.send_text(&uid("bob"), "from the new keys").await.unwrap();
    bob.sync().await.unwrap();
    let expected = ["before the reset", "to the new keys", "from the new keys"];
    assert_eq!(bodies(&alice, &to_bob), expected);
    assert_eq!(bodies(&bob, &to_alice), expected);
    assert!(undecryptable(&alice).is_empty() && undecryptable(&bob).is_empty());
}

/// A message a contact sends over the old sessions while the recipient resets its keys cannot be
/// decrypted with the new ones: the recipient asks the sending device for it again, and it
/// appears in place of the undecryptable one — once, on the device that missed it only.
#[tokio::test]
async fn a_message_sent_to_the_old_keys_during_a_reset_is_sent_again_and_read() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let bob2 = login_linked(&server, &dirs.path().join("bob2"), &bob).await;
    let (to_bob, to_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));
    alice.send_text(&uid("bob"), "before the reset").await.unwrap();
    bob.sync().await.unwrap();
    bob2.sync().await.unwrap();

    alice.reset_keys(PASSWORD).await.unwrap();
    // bob has not heard of the reset yet: this goes out over the old session, to the old keys.
    bob.send_text(&uid("alice"), "sent while alice reset").await.unwrap();
    alice.sync().await.unwrap();
    let missing = undecryptable(&alice);
    assert_eq!(missing.len(), 1, "the message to the old keys can't be read yet: {missing:?}");

    // bob's device learns of the new keys and the request, and sends the message again.
    bob.sync().await.unwrap();
    let mut events = alice.subscribe();
    alice.sync().await.unwrap();
    assert!(undecryptable(&alice).is_empty(), "{:?}", undecryptable(&alice));
    assert_eq!(bodies(&alice, &to_bob), ["before the reset", "sent while alice reset"]);
    let replaced = alice.messages(&to_bob, None, 10).unwrap().into_iter().find(|m| m.body == "sent while alice reset");
    let replaced = replaced.expect("the re-sent message");
    assert!(!replaced.outgoing && replaced.sender_device.is_some());
    let mut changed = false;
    while let Ok(event) = events.try_recv() {
        changed |= matches!(event, ClientEvent::StatusChanged { ref message } if message.id == replaced.id);
    }
    assert!(changed, "the window is told the message became readable");
    // That was bob's first message to alice: his profile key came with it again.
    assert!(alice.profile(&uid("bob")).unwrap().is_some(), "bob's profile key came with the message sent again");

    // Nobody got it twice: not bob's other device (which had it), not bob.
    bob2.sync().await.unwrap();
    assert_eq!(bodies(&bob, &to_alice), ["before the reset", "sent while alice reset"]);
    assert_eq!(bodies(&bob2, &to_alice), ["before the reset", "sent while alice reset"]);
    // And they keep talking.
    alice.send_text(&uid("bob"), "got it").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&bob, &to_alice).last().map(String::as_str), Some("got it"));
    assert!(undecryptable(&bob).is_empty() && undecryptable(&bob2).is_empty());
}
