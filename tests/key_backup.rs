//! The server key backup end to end: a user's new device restores group keys from the backup
//! (with the recovery key, or a passphrase) and reads the groups' history from the server; wrong
//! keys change nothing; the server gives nobody history from before they joined; two devices of
//! one user backing up at once lose none of each other's keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use sotto_core::progress::CancellationToken;
use sotto_core::{
    Client, ConversationId, ErrorCode, KeyBackupKind, MessageKind, MessageReason, Progress, RecoverySecret,
    Undecryptable,
};
use sotto_proto::{GroupId, UserId};
use sotto_tests::*;

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

/// The undecryptable messages of a conversation: (message id, reason).
fn undecryptable(client: &Client, conversation_id: &ConversationId) -> Vec<(String, Option<MessageReason>)> {
    client
        .messages(conversation_id, None, 1000)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MessageKind::Undecryptable)
        .map(|m| (m.message_id, m.reason))
        .collect()
}

async fn send(client: &Client, group: &GroupId, text: &str) {
    let sent = client.send_group_text(group, text).await.unwrap();
    assert_eq!(sent.status, sotto_core::MessageStatus::Sent, "{text}");
}

#[tokio::test]
async fn a_new_device_restores_group_history_with_the_recovery_key() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, _dave] = register_all(&server, dirs.path(), ["alice", "bob", "dave"]).await;
    let group = alice.create_group("team", &[uid("bob"), uid("dave")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());

    send(&alice, &group, "a1").await;
    bob.sync().await.unwrap();
    send(&bob, &group, "b1").await;
    alice.sync().await.unwrap();
    send(&alice, &group, "a2").await;

    let recovery_key = alice.enable_key_backup(false).await.unwrap();
    let status = alice.key_backup_status().unwrap();
    assert!(status.enabled && status.kind == Some(KeyBackupKind::RecoveryKey), "{status:?}");
    assert_eq!((status.sessions, status.backed_up), (2, 2), "alice's own session and bob's");
    // Turning it on again would orphan the first recovery key.
    assert_eq!(alice.enable_key_backup(false).await.err().unwrap().code(), ErrorCode::KeyBackupExists);

    // After the backup was turned on: both sides rotate (dave is removed), so new keys arrive
    // and must reach the backup without anyone asking.
    alice.remove_member(&group, &uid("dave")).await.unwrap();
    send(&alice, &group, "a3 after dave left").await;
    bob.sync().await.unwrap();
    send(&bob, &group, "b2 after dave left").await;
    alice.sync().await.unwrap();
    let status = alice.key_backup_status().unwrap();
    assert_eq!((status.sessions, status.backed_up), (4, 4), "{status:?}");

    // A new device of alice's: the server already gives it the group's history, but without the
    // keys nothing of it can be read.
    let alice2 = login(&server, &dirs.path().join("alice2"), "alice").await;
    alice2.fetch_groups().await.unwrap();
    assert_eq!(alice2.fetch_group_history(&group).await.unwrap(), (5, 5));
    let missing = undecryptable(&alice2, &conversation);
    assert_eq!(missing.len(), 5, "{missing:?}");
    assert!(missing.iter().all(|(_, r)| *r == Some(Undecryptable::MissingRoomKey.into())), "{missing:?}");

    // A typo, and another recovery key: refused, and nothing changed.
    let mut typo: Vec<char> = recovery_key.chars().collect();
    typo[3] = if typo[3] == 'x' { 'y' } else { 'x' };
    let typo: String = typo.into_iter().collect();
    let err = alice2.restore_key_backup(RecoverySecret::RecoveryKey(&typo)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::RecoveryKeyInvalid);
    let other_key = {
        let carol = register(&server, &dirs.path().join("carol"), "carol").await;
        carol.enable_key_backup(false).await.unwrap()
    };
    let err = alice2.restore_key_backup(RecoverySecret::RecoveryKey(&other_key)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::WrongRecoveryKey);
    let err = alice2.restore_key_backup(RecoverySecret::Passphrase("a passphrase of some length")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::WrongRecoveryKey, "a recovery-key backup opens with no passphrase");
    assert!(!alice2.key_backup_status().unwrap().enabled);
    assert_eq!(undecryptable(&alice2, &conversation).len(), 5);

    // The right key, cancelled before it could start: nothing changed either.
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let secret = RecoverySecret::RecoveryKey(&recovery_key);
    let err = alice2.restore_key_backup_with(secret, &Progress::unobserved(), &cancelled).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Cancelled);
    assert!(!alice2.key_backup_status().unwrap().enabled);
    assert_eq!(undecryptable(&alice2, &conversation).len(), 5);

    // The right key: the waiting messages are decrypted in place, in their order, none twice. The
    // progress counts the keys, then the one group whose history was read.
    let progress = Progress::unobserved();
    let secret = RecoverySecret::RecoveryKey(&recovery_key);
    let restored = alice2.restore_key_backup_with(secret, &progress, &CancellationToken::new()).await.unwrap();
    assert_eq!(*progress.borrow(), Progress { done: 2, total: 2 });
    assert_eq!((restored.sessions, restored.imported, restored.decrypted_pending), (4, 4, 5), "{restored:?}");
    assert_eq!((restored.messages, restored.undecryptable), (0, 0), "nothing new, nothing duplicated");
    assert_eq!(bodies(&alice2, &conversation), ["a1", "b1", "a2", "a3 after dave left", "b2 after dave left"]);
    assert!(undecryptable(&alice2, &conversation).is_empty());
    let own: Vec<bool> = alice2
        .messages(&conversation, None, 100)
        .unwrap()
        .iter()
        .filter(|m| m.body.starts_with('a'))
        .map(|m| m.outgoing)
        .collect();
    assert!(own.iter().all(|o| *o), "alice's messages are hers on the new device too");
    // The new device now keeps the backup up to date as well.
    assert!(alice2.key_backup_status().unwrap().enabled);

    // The server holds ciphertext only: neither text nor recovery key is in its files.
    let compact: String = recovery_key.chars().filter(|c| *c != ' ').collect();
    let found = files_containing(&server.data_dir(), &["after dave left", &compact, &recovery_key[..14]]);
    assert!(found.is_empty(), "{found:?}");
}

#[tokio::test]
async fn a_new_device_restores_with_the_passphrase_and_reads_history() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let group = alice.create_group("pair", &[uid("bob")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    send(&alice, &group, "hello from alice").await;
    bob.sync().await.unwrap();
    send(&bob, &group, "hello from bob").await;
    alice.sync().await.unwrap();

    assert_eq!(
        alice.enable_key_backup_with_passphrase("short", false).await.unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    alice.enable_key_backup_with_passphrase("our shared key backup passphrase", false).await.unwrap();
    assert_eq!(alice.key_backup_status().unwrap().kind, Some(KeyBackupKind::Passphrase));

    // Alice's old device is gone by the time she restores.
    let alice2 = login(&server, &dirs.path().join("alice2"), "alice").await;
    let old = alice.device_id().clone();
    alice.shutdown();
    drop(alice);
    alice2.delete_device(&old, PASSWORD).await.unwrap();

    let err = alice2.restore_key_backup(RecoverySecret::Passphrase("not our passphrase at all")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::WrongRecoveryKey);
    assert!(alice2.conversations().unwrap().is_empty(), "a failed restore fetched and changed nothing");

    // Something new arrives before the restore: this device is not confirmed yet, so it cannot
    // read it. The earlier history read afterwards goes above it.
    send(&bob, &group, "while alice2 waited").await;
    alice2.sync().await.unwrap();
    assert!(bodies(&alice2, &conversation).is_empty());
    assert_eq!(undecryptable(&alice2, &conversation).len(), 1);

    let restored =
        alice2.restore_key_backup(RecoverySecret::Passphrase("our shared key backup passphrase")).await.unwrap();
    assert_eq!((restored.sessions, restored.groups, restored.messages, restored.undecryptable), (2, 1, 2, 0));
    // The backup held alice's identity keys: restoring confirmed this device. What bob sent while
    // alice had no confirmed device was given to none of hers, so it stays unreadable, in place.
    assert!(restored.confirmed);
    assert_eq!(bodies(&alice2, &conversation), ["hello from alice", "hello from bob"]);
    let waiting = alice2.messages(&conversation, None, 10).unwrap();
    assert_eq!(waiting.last().unwrap().kind, MessageKind::Undecryptable);
    let conversations = alice2.conversations().unwrap();
    assert_eq!(conversations[0].title, "pair");
    assert_eq!(conversations[0].unread, 1, "only the message that came while waiting; history is not news");

    // And the conversation goes on: bob's device sees alice's confirmed device and shares with it.
    send(&bob, &group, "still there?").await;
    alice2.sync().await.unwrap();
    assert_eq!(bodies(&alice2, &conversation).last().unwrap(), "still there?");
}

#[tokio::test]
async fn history_is_only_what_was_sent_while_a_member() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, _bob, carol, _dave] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    let group = alice.create_group("team", &[uid("bob")]).await.unwrap().group_id;
    send(&alice, &group, "before carol 1").await;
    send(&alice, &group, "before carol 2").await;
    alice.add_members(&group, &[uid("carol")]).await.unwrap();
    send(&alice, &group, "after carol joined").await;

    // Carol's new device asks the server for the history: only what came after she joined.
    let carol_tap = Tap::login(&server, "carol").await;
    let (status, page) = carol_tap.get(&format!("/v1/groups/{group}/history")).await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> =
        page["messages"].as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "{page}");
    assert_eq!(page["more"], false);
    // Through the client too: the earlier messages are not even stored as undecryptable.
    carol.sync().await.unwrap();
    carol.fetch_group_history(&group).await.unwrap();
    let conversation = ConversationId::Group(group.clone());
    assert_eq!(bodies(&carol, &conversation), ["after carol joined"]);
    assert!(undecryptable(&carol, &conversation).is_empty());

    // Alice sees all three; dave, no member, none; bad input gets a clear error.
    let alice_tap = Tap::login(&server, "alice").await;
    let (_, page) = alice_tap.get(&format!("/v1/groups/{group}/history?limit=2")).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    assert_eq!(page["more"], true);
    let oldest = page["messages"][1]["seq"].as_u64().unwrap();
    let (_, rest) = alice_tap.get(&format!("/v1/groups/{group}/history?before={oldest}")).await;
    assert_eq!(rest["messages"].as_array().unwrap().len(), 1);
    let dave_tap = Tap::login(&server, "dave").await;
    let (status, body) = dave_tap.get(&format!("/v1/groups/{group}/history")).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_member")), "{body}");
    let (status, body) = alice_tap.get(&format!("/v1/groups/{group}/history?limit=0")).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_input")), "{body}");
    let (status, body) = alice_tap.get("/v1/groups/NOSUCHGROUP/history").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
}

#[tokio::test]
async fn two_devices_backing_up_at_once_keep_each_others_keys() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice1 = register(&server, &dirs.path().join("alice1"), "alice").await;
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    let recovery_key = alice1.enable_key_backup(false).await.unwrap();
    let alice2 = login(&server, &dirs.path().join("alice2"), "alice").await;
    alice2.restore_key_backup(RecoverySecret::RecoveryKey(&recovery_key)).await.unwrap();
    bob.sync().await.unwrap();

    // Each device starts groups of its own and writes to them at the same time: each send starts
    // a Megolm session and uploads it right away, racing the other device's upload.
    let mut groups = Vec::new();
    for round in 0..3 {
        let g1 = alice1.create_group(&format!("one {round}"), &[uid("bob")]).await.unwrap().group_id;
        let g2 = alice2.create_group(&format!("two {round}"), &[uid("bob")]).await.unwrap().group_id;
        let (t1, t2) = (format!("from device one, round {round}"), format!("from device two, round {round}"));
        let (m1, m2) = tokio::join!(alice1.send_group_text(&g1, &t1), alice2.send_group_text(&g2, &t2));
        m1.unwrap();
        m2.unwrap();
        groups.push((g1, t1));
        groups.push((g2, t2));
    }
    for client in [&alice1, &alice2] {
        let status = client.key_backup_status().unwrap();
        assert_eq!(status.backed_up, status.sessions, "{status:?}");
        assert_eq!(status.error, None);
    }

    // A third device reads every group, whichever device wrote it.
    let alice3 = login(&server, &dirs.path().join("alice3"), "alice").await;
    let restored = alice3.restore_key_backup(RecoverySecret::RecoveryKey(&recovery_key)).await.unwrap();
    assert_eq!((restored.sessions, restored.groups, restored.undecryptable), (6, 6, 0), "{restored:?}");
    for (group, text) in groups {
        assert_eq!(bodies(&alice3, &ConversationId::Group(group.clone())), [text]);
    }
}
