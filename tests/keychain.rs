//! The profile key and the real keychain (a Secret Service under D-Bus, as on a Linux desktop),
//! and the passphrase fallback for machines without one. Whatever the keychain does, a profile
//! is never deleted, overwritten or re-created, and nothing stored is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use sotto_core::{ConversationId, ErrorCode};
use sotto_proto::UserId;
use sotto_tests::*;

const SERVICE: &str = "im.sotto.profile";
/// A D-Bus address with nothing behind it: what a machine without a keychain looks like.
const NO_BUS: &str = "unix:path=/nonexistent/sotto-test-bus";

fn profile_id(dir: &std::path::Path) -> String {
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("profile.json")).unwrap()).unwrap();
    info["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_key_lives_in_the_secret_service_and_a_missing_entry_loses_nothing() {
    let server = Server::start().await;
    let dirs = profiles();
    let dir = dirs.path().join("alice");
    let alice = register(&server, &dir, "alice").await;
    let bob = register(&server, &dirs.path().join("bob"), "bob").await;
    alice.send_text(&UserId::parse("bob").unwrap(), "kept safe").await.unwrap();
    bob.send_text(&UserId::parse("alice").unwrap(), "reply").await.unwrap();
    alice.sync().await.unwrap();
    drop(alice);

    // The key is a 32-byte secret in the Secret Service under the profile's id.
    let entry = keyring::Entry::new(SERVICE, &profile_id(&dir)).unwrap();
    let secret = entry.get_secret().expect("the profile key is in the keychain");
    assert_eq!(secret.len(), 32);
    assert!(!dir.join("key.wrapped").exists());

    // The entry disappears (another app, a reset keyring): a typed error, every file untouched.
    let before = snapshot(&dir);
    entry.delete_credential().unwrap();
    let err = sotto_core::Client::open(&dir, None).unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeyMissing);
    assert_eq!(snapshot(&dir), before, "a failed unlock must not change the profile");
    // A wrong key in its place (e.g. restored from elsewhere) does not open the database either,
    // and does not damage it.
    entry.set_secret(&[7u8; 32]).unwrap();
    let err = sotto_core::Client::open(&dir, None).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DatabaseKey);
    assert_eq!(snapshot(&dir), before);

    // The right key back: everything is there.
    entry.set_secret(&secret).unwrap();
    let alice = sotto_core::Client::open(&dir, None).unwrap();
    let with_bob = ConversationId::Direct(UserId::parse("bob").unwrap());
    assert_eq!(bodies(&alice, &with_bob), ["kept safe", "reply"]);
}

#[tokio::test]
async fn without_a_keychain_a_passphrase_protects_the_profile() {
    let server = Server::start().await;
    let dirs = profiles();
    let mut cli = Cli::new(&server, dirs.path().join("carol"));
    cli.env.push(("DBUS_SESSION_BUS_ADDRESS".into(), NO_BUS.into()));

    // No keychain and no passphrase: a clear error, and no half-made profile left behind.
    let out = cli.run(&["register", "carol", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert_eq!(out.error_code(), "keychain_unavailable", "{}", out.stderr);
    assert!(!cli.profile.join("profile.json").exists());
    assert!(!cli.profile.join("sotto.db").exists());

    // With a passphrase the profile is created, protected by the passphrase alone.
    let out = cli
        .run(&["--passphrase-stdin", "register", "carol", "--password-stdin"], &format!("{PASSWORD}\nmy passphrase\n"));
    assert_eq!(out.json()["user_id"], "carol");
    let info = std::fs::read_to_string(cli.profile.join("profile.json")).unwrap();
    assert!(info.contains("\"keychain\": false") && info.contains("\"passphrase\": true"), "{info}");
    assert!(cli.profile.join("key.wrapped").exists());

    let dan = register(&server, &dirs.path().join("dan"), "dan").await;
    dan.send_text(&UserId::parse("carol").unwrap(), "can you read this").await.unwrap();

    let before = snapshot(&cli.profile);
    let out = cli.run(&["sync"], "");
    assert_eq!(out.error_code(), "passphrase_required");
    let out = cli.run(&["--passphrase-stdin", "sync"], "not my passphrase\n");
    assert_eq!(out.error_code(), "wrong_passphrase");
    assert_eq!(snapshot(&cli.profile), before, "failed unlocks must not change the profile");

    let out = cli.run(&["--passphrase-stdin", "sync"], "my passphrase\n");
    assert_eq!(out.json()["messages"], 1);
    let history = cli.run(&["--passphrase-stdin", "history", "dan"], "my passphrase\n").json();
    assert_eq!(history[0]["body"], "can you read this");
}

#[tokio::test]
async fn a_keychain_profile_with_a_passphrase_opens_where_the_keychain_is_gone() {
    let server = Server::start().await;
    let dirs = profiles();
    let mut cli = Cli::new(&server, dirs.path().join("erin"));
    // Created with the real keychain, plus a passphrase as a spare key.
    let out =
        cli.run(&["--passphrase-stdin", "register", "erin", "--password-stdin"], &format!("{PASSWORD}\nspare key\n"));
    assert_eq!(out.json()["user_id"], "erin");
    let info = std::fs::read_to_string(cli.profile.join("profile.json")).unwrap();
    assert!(info.contains("\"keychain\": true") && info.contains("\"passphrase\": true"), "{info}");
    let frank = register(&server, &dirs.path().join("frank"), "frank").await;
    cli.run(&["send", "frank", "sent with the keychain"], "").json();

    // The same profile on a session without a keychain (e.g. over SSH).
    cli.env.push(("DBUS_SESSION_BUS_ADDRESS".into(), NO_BUS.into()));
    let before = snapshot(&cli.profile);
    let out = cli.run(&["history", "frank"], "");
    assert_eq!(out.error_code(), "passphrase_required");
    assert_eq!(snapshot(&cli.profile), before);
    let history = cli.run(&["--passphrase-stdin", "history", "frank"], "spare key\n").json();
    assert_eq!(history[0]["body"], "sent with the keychain");
    frank.sync().await.unwrap();
    assert_eq!(bodies(&frank, &ConversationId::Direct(UserId::parse("erin").unwrap())), ["sent with the keychain"]);
}
