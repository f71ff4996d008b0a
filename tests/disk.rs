//! Invariants 1 and 2 on real files: after a conversation with known marker words, no file of
//! either profile and no file of the server's data directory holds a marker in plain text, and
//! a profile's database does not open without its key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use sotto_core::ConversationId;
use sotto_proto::UserId;
use sotto_tests::*;

const MARKERS: [&str; 4] = ["zanzibarquokka", "plaintextmarker7731", "xylophonewombat", "grouponlymarker42"];

#[tokio::test]
async fn no_plaintext_on_disk_and_no_database_without_its_key() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let alice_dir = dirs.path().join("alice");
    let bob_dir = dirs.path().join("bob");
    let alice = register(&server, &alice_dir, "alice").await;
    let bob = register(&server, &bob_dir, "bob").await;
    let carol = register(&server, &dirs.path().join("carol"), "carol").await;
    let bob_id = UserId::parse("bob").unwrap();
    let alice_id = UserId::parse("alice").unwrap();

    alice.send_text(&bob_id, &format!("meet at {} tomorrow", MARKERS[0])).await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&alice_id, &format!("the code is {} ok", MARKERS[1])).await.unwrap();
    alice.sync().await.unwrap();
    let group = alice.create_group(MARKERS[2], &[bob_id.clone(), UserId::parse("carol").unwrap()]).await.unwrap();
    alice.send_group_text(&group.group_id, &format!("{} for the group", MARKERS[3])).await.unwrap();
    bob.sync().await.unwrap();
    carol.sync().await.unwrap();
    // The history is really there, and searchable, inside the profiles.
    assert_eq!(bob.search(MARKERS[0], 10).unwrap().len(), 1);
    assert_eq!(alice.search(MARKERS[1], 10).unwrap().len(), 1);
    assert_eq!(bob.search(MARKERS[3], 10).unwrap().len(), 1);
    assert!(bodies(&bob, &ConversationId::Direct(alice_id.clone())).len() == 2);
    assert!(bodies(&carol, &ConversationId::Group(group.group_id.clone()))[0].contains(MARKERS[3]));

    // Scan with the clients still open (WAL files present) and again after they close.
    for (label, dir) in [("alice", &alice_dir), ("bob", &bob_dir)] {
        let hits = files_containing(dir, &MARKERS[..2]);
        assert!(hits.is_empty(), "{label}'s profile holds plaintext: {hits:?}");
        let hits = files_containing(dir, &[MARKERS[3]]);
        assert!(hits.is_empty(), "{label}'s profile holds plaintext: {hits:?}");
    }
    // The server knows the group's name (membership is not end-to-end encrypted, by design),
    // but never a message body.
    let hits = files_containing(&server.data_dir(), &[MARKERS[0], MARKERS[1], MARKERS[3]]);
    assert!(hits.is_empty(), "the server's data holds plaintext: {hits:?}");
    let hits = files_containing(dirs.path(), &[MARKERS[0], MARKERS[1], MARKERS[3]]);
    assert!(hits.is_empty(), "a profile holds plaintext: {hits:?}");
    server.kill9();
    drop((alice, bob, carol));
    let hits = files_containing(dirs.path(), &[MARKERS[0], MARKERS[1], MARKERS[3]]);
    assert!(hits.is_empty(), "a profile holds plaintext after closing: {hits:?}");
    let hits = files_containing(&server.data_dir(), &[MARKERS[0], MARKERS[1], MARKERS[3]]);
    assert!(hits.is_empty(), "the server's data holds plaintext after stopping: {hits:?}");
    // No key material in plain files either: profile.json names the keychain entry only.
    let info = std::fs::read_to_string(alice_dir.join("profile.json")).unwrap();
    assert!(info.contains("\"keychain\": true"), "{info}");
    assert!(!alice_dir.join("key.wrapped").exists());

    // The database does not open without its key, nor with a wrong one.
    let db = alice_dir.join("sotto.db");
    let plain = rusqlite::Connection::open(&db).unwrap();
    let err = plain.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).unwrap_err();
    assert!(err.to_string().contains("not a database"), "{err}");
    let wrong = rusqlite::Connection::open(&db).unwrap();
    wrong.pragma_update(None, "key", format!("x'{}'", "ab".repeat(32))).unwrap();
    let err = wrong.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).unwrap_err();
    assert!(err.to_string().contains("not a database"), "{err}");
    drop((plain, wrong));
    // And the profile still opens with the right one, history intact.
    let alice = sotto_core::Client::open(&alice_dir, None).unwrap();
    assert_eq!(alice.search(MARKERS[1], 10).unwrap().len(), 1);
}
