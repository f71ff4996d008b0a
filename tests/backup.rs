//! Backup files end to end: export from a real profile, restore into a fresh profile directory
//! against the real server, and carry on talking (1:1 and in a group) without undecryptable
//! messages, also when the old device kept talking after the backup was taken. Bad files (wrong
//! passphrase, cut short, newer format) change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::Write as _;
use std::path::Path;

use sotto_core::progress::{CancellationToken, Progress};
use sotto_core::{Client, ConversationId, ErrorCode, Restore};
use sotto_proto::{EntryBody, UserId};
use sotto_tests::*;

const BACKUP_PASSPHRASE: &str = "a long backup passphrase";

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

async fn export(client: &Client, path: &Path) -> sotto_core::BackupSummary {
    let progress = Progress::unobserved();
    let rx = progress.subscribe();
    let summary = client.export_backup(path, BACKUP_PASSPHRASE, &progress, &CancellationToken::new()).await.unwrap();
    let last = *rx.borrow();
    assert_eq!(last.done, last.total, "progress ends at the total");
    assert_eq!(last.total, summary.records);
    summary
}

async fn restore(server: &Server, dir: &Path, file: &Path, user: &str, passphrase: &str) -> sotto_core::Result<Client> {
    let restore = Restore {
        file,
        backup_passphrase: passphrase,
        server: server.url(),
        trust: sotto_core::ServerTrust::System,
        user_id: user,
        password: PASSWORD,
    };
    Client::restore_backup(dir, restore, keychain(), &Progress::unobserved(), &CancellationToken::new()).await
}

#[tokio::test]
async fn a_restored_device_reads_its_history_and_keeps_talking_after_the_old_copy_moved_on() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let (to_bob, to_alice) = (ConversationId::Direct(uid("bob")), ConversationId::Direct(uid("alice")));

    alice.send_text(&uid("bob"), "before the backup").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&uid("alice"), "a reply before the backup").await.unwrap();
    alice.sync().await.unwrap();
    let group = alice.create_group("team", &[uid("bob")]).await.unwrap().group_id;
    alice.send_group_text(&group, "group line before the backup").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_group_text(&group, "bob's group line before the backup").await.unwrap();
    alice.sync().await.unwrap();

    // A trust decision: alice compared the safety number with bob.
    let compared = alice.verification(&uid("bob")).await.unwrap().safety_number;
    assert!(alice.set_verified(&uid("bob"), Some(&compared)).await.unwrap().verified);

    let file = dirs.path().join("alice.sotto");
    let summary = export(&alice, &file).await;
    assert!(summary.messages >= 4 && summary.bytes > 0, "{summary:?}");
    // The file is an age file, never plain text.
    let raw = std::fs::read(&file).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1\n-> scrypt "));
    assert!(!raw.windows(6).any(|w| w == b"before"));

    // The old copy keeps talking after the backup: its Olm sessions move on, both ways.
    alice.send_text(&uid("bob"), "after the backup").await.unwrap();
    bob.sync().await.unwrap();
    bob.send_text(&uid("alice"), "a reply after the backup").await.unwrap();
    alice.sync().await.unwrap();
    alice.send_group_text(&group, "group line after the backup").await.unwrap();
    bob.sync().await.unwrap();

    let restored = restore(&server, &dirs.path().join("alice-restored"), &file, "alice", BACKUP_PASSPHRASE).await;
    let restored = restored.unwrap_or_else(|e| panic!("restore: [{}] {e}", e.code()));
    assert_eq!(restored.device_id(), alice.device_id(), "the same device signs in again");
    // The old copy's tokens stopped working the moment the device signed in again.
    assert_eq!(alice.sync().await.unwrap_err().code(), ErrorCode::SignedOut);
    // The trust decision came back with the same keys.
    assert!(restored.is_verified(&uid("bob")).unwrap());

    // The group comes back as this device had verified it from its signed changes.
    let team = restored.group(&group).unwrap().unwrap();
    assert!(team.signed && team.joined);
    assert_eq!(team.name, "team");
    assert_eq!(team.member_ids(), [uid("alice"), uid("bob")]);

    // Old 1:1 and group history is there, and searchable.
    assert_eq!(bodies(&restored, &to_bob), ["before the backup", "a reply before the backup"]);
    let group_conversation = ConversationId::Group(group.clone());
    assert_eq!(
        bodies(&restored, &group_conversation),
        ["group line before the backup", "bob's group line before the backup"]
    );
    let hits = restored.search("reply", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message.body, "a reply before the backup");

    // New messages both ways, 1:1 and in the group.
    restored.sync().await.unwrap();
    let renewal = bob.sync().await.unwrap();
    assert_eq!(renewal.messages, 0, "the session renewal shows nothing");
    bob.send_text(&uid("alice"), "to the restored device").await.unwrap();
    bob.send_group_text(&group, "bob's group line after the restore").await.unwrap();
    restored.sync().await.unwrap();
    restored.send_text(&uid("bob"), "from the restored device").await.unwrap();
    restored.send_group_text(&group, "group line from the restored device").await.unwrap();
    bob.sync().await.unwrap();

    assert_eq!(
        bodies(&restored, &to_bob),
        ["before the backup", "a reply before the backup", "to the restored device", "from the restored device"]
    );
    assert!(bodies(&restored, &group_conversation).ends_with(&[
        "bob's group line after the restore".to_owned(),
        "group line from the restored device".to_owned()
    ]));
    assert!(bodies(&bob, &to_alice).ends_with(&["from the restored device".to_owned()]));
    assert!(bodies(&bob, &group_conversation).ends_with(&["group line from the restored device".to_owned()]));
    assert_eq!(undecryptable(&restored), Vec::<String>::new());
    assert_eq!(undecryptable(&bob), Vec::<String>::new());
}

#[tokio::test]
async fn a_backup_of_a_removed_device_restores_as_a_new_device() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    alice.send_text(&uid("bob"), "old news").await.unwrap();
    bob.sync().await.unwrap();
    let file = dirs.path().join("alice.sotto");
    export(&alice, &file).await;
    let old_device = alice.device_id().clone();
    alice.logout().await.unwrap();

    let restored = restore(&server, &dirs.path().join("alice2"), &file, "alice", BACKUP_PASSPHRASE).await.unwrap();
    assert_ne!(restored.device_id(), &old_device, "a new device");
    let to_bob = ConversationId::Direct(uid("bob"));
    assert_eq!(bodies(&restored, &to_bob), ["old news"]);
    bob.send_text(&uid("alice"), "welcome back").await.unwrap();
    restored.sync().await.unwrap();
    restored.send_text(&uid("bob"), "thanks").await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(bodies(&restored, &to_bob), ["old news", "welcome back", "thanks"]);
    assert_eq!(bodies(&bob, &ConversationId::Direct(uid("alice"))), ["old news", "welcome back", "thanks"]);
    assert_eq!(undecryptable(&restored), Vec::<String>::new());
}

/// An age file with the backup passphrase holding `lines` (to build files Sotto never writes).
fn age_file(path: &Path, lines: &str) {
    let mut recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from(BACKUP_PASSPHRASE.to_owned()));
    recipient.set_work_factor(10);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut out = encryptor.wrap_output(std::fs::File::create(path).unwrap()).unwrap();
    out.write_all(lines.as_bytes()).unwrap();
    out.finish().unwrap();
}

#[tokio::test]
async fn bad_files_and_refusals_change_nothing() {
    let server = Server::start().await;
    let dirs = profiles();
    let alice_dir = dirs.path().join("alice");
    let alice = register(&server, &alice_dir, "alice").await;
    let _bob = register(&server, &dirs.path().join("bob"), "bob").await;
    alice.send_text(&uid("bob"), "keep me").await.unwrap();
    let file = dirs.path().join("alice.sotto");
    assert_eq!(alice.last_backup_at().unwrap(), None, "no backup yet");
    export(&alice, &file).await;
    let made = alice.last_backup_at().unwrap().expect("the backup's time is remembered");

    // Export never overwrites a file, and a cancelled export leaves no file behind.
    let (progress, cancel) = (Progress::unobserved(), CancellationToken::new());
    let err = alice.export_backup(&file, BACKUP_PASSPHRASE, &progress, &cancel).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileExists);
    let exports = dirs.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    let existing = exports.join("taken.sotto");
    std::fs::write(&existing, b"someone else's file").unwrap();
    assert_eq!(
        alice.export_backup(&existing, "pw", &progress, &cancel).await.unwrap_err().code(),
        ErrorCode::FileExists
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"someone else's file");
    cancel.cancel();
    let cancelled = exports.join("cancelled.sotto");
    assert_eq!(
        alice.export_backup(&cancelled, "pw", &progress, &cancel).await.unwrap_err().code(),
        ErrorCode::Cancelled
    );
    let left: Vec<_> = std::fs::read_dir(&exports).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("taken.sotto")], "no partial file is left");
    assert_eq!(alice.last_backup_at().unwrap(), Some(made), "failed exports don't count as backups");

    alice.shutdown();
    drop(alice);
    let before = snapshot(&alice_dir);

    // A wrong passphrase: nothing is created.
    let target = dirs.path().join("restored");
    let err = restore(&server, &target, &file, "alice", "not the passphrase").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::BackupPassphrase);
    assert!(!target.exists());

    // Cut short: damaged; an existing empty directory stays empty.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dirs.path().join("cut.sotto");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    std::fs::create_dir(&target).unwrap();
    let err = restore(&server, &target, &cut, "alice", BACKUP_PASSPHRASE).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::BackupDamaged, "{err}");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    // The last line missing (a record boundary), though the age stream itself is whole.
    let header = r#"{"format":"sotto-backup","version":1,"created_ms":1,"user_id":"alice","device_id":"D","server":"x","counts":{}}"#;
    let no_trailer = dirs.path().join("no-trailer.sotto");
    age_file(&no_trailer, &format!("{header}\n{{\"type\":\"known_user\",\"user_id\":\"bob\",\"fetched_ts\":1}}\n"));
    let err = restore(&server, &target, &no_trailer, "alice", BACKUP_PASSPHRASE).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::BackupDamaged, "{err}");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    std::fs::remove_dir(&target).unwrap();

    // A newer format version, and a file that is no Sotto backup.
    let newer = dirs.path().join("newer.sotto");
    age_file(
        &newer,
        &format!("{}\n{{\"type\":\"end\",\"records\":0}}\n", header.replace("\"version\":1", "\"version\":5")),
    );
    let err = restore(&server, &target, &newer, "alice", BACKUP_PASSPHRASE).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::BackupTooNew);
    assert!(!target.exists());
    let other = dirs.path().join("notes.txt");
    std::fs::write(&other, "just some notes\n").unwrap();
    assert_eq!(
        restore(&server, &target, &other, "alice", BACKUP_PASSPHRASE).await.unwrap_err().code(),
        ErrorCode::NotABackup
    );
    assert!(!target.exists());

    // Someone else's account, and an existing profile, are refused.
    let err = restore(&server, &target, &file, "bob", BACKUP_PASSPHRASE).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(!target.exists());
    let err = restore(&server, &alice_dir, &file, "alice", BACKUP_PASSPHRASE).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProfileExists);

    // A cancelled restore leaves nothing.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let restore_args = Restore {
        file: &file,
        backup_passphrase: BACKUP_PASSPHRASE,
        server: server.url(),
        trust: sotto_core::ServerTrust::System,
        user_id: "alice",
        password: PASSWORD,
    };
    let err =
        Client::restore_backup(&target, restore_args, keychain(), &Progress::unobserved(), &cancel).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Cancelled);
    assert!(!target.exists());

    assert_eq!(snapshot(&alice_dir), before, "the source profile is untouched");
    // And the real file still restores.
    let restored = restore(&server, &target, &file, "alice", BACKUP_PASSPHRASE).await.unwrap();
    assert_eq!(bodies(&restored, &ConversationId::Direct(uid("bob"))), ["keep me"]);
}

#[tokio::test]
async fn an_olm_message_that_does_not_decrypt_renews_the_session_at_most_once_an_hour() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    // Another device of alice's, whose inbox shows what alice's engine sends to her own devices.
    let tap = Tap::login(&server, "alice").await;
    let own_device = alice.device_id().clone();
    let from_alice = |entries: &[sotto_proto::InboxEntry]| {
        entries
            .iter()
            .filter(|e| e.sender_user.as_str() == "alice" && e.sender_device.as_ref() == Some(&own_device))
            .count()
    };

    bob.send_text(&uid("alice"), "one").await.unwrap();
    bob.send_text(&uid("alice"), "two").await.unwrap();
    // The copies meant for the tap device cannot be decrypted by alice's engine: as if a session
    // had broken.
    let for_tap: Vec<_> =
        tap.inbox().await.into_iter().filter(|e| matches!(e.body, EntryBody::Direct { .. })).collect();
    assert_eq!(for_tap.len(), 2);
    let mut broken = as_new_deliveries(&for_tap, 1_000_000);
    for (i, e) in broken.iter_mut().enumerate() {
        e.message_id = sotto_proto::MessageId::parse(format!("broken-copy-{i}")).unwrap();
    }
    assert_eq!(from_alice(&tap.inbox().await), 0);
    alice.bench_receive(&broken[..1]).await.unwrap();
    assert_eq!(undecryptable(&alice).len(), 1);
    // Alice started new sessions with bob's device, then asked it for the message again: two
    // silent messages to bob (and, as every direct send does, to her own other device).
    assert_eq!(from_alice(&tap.inbox().await), 2);
    assert_eq!(bob.sync().await.unwrap().messages, 0, "the renewal and the request show nothing");
    // A second failure within the hour does not renew again; it only asks for that message.
    alice.bench_receive(&broken[1..]).await.unwrap();
    assert_eq!(undecryptable(&alice).len(), 2);
    assert_eq!(from_alice(&tap.inbox().await), 3);
    // Bob never sent messages with those ids: he sends nothing again, only that they were no
    // messages, and alice's placeholders go.
    assert_eq!(bob.sync().await.unwrap().messages, 0);
    alice.sync().await.unwrap();
    assert_eq!(undecryptable(&alice).len(), 0);

    // Bob now sends with the new session, and alice reads it (and the real copies).
    bob.send_text(&uid("alice"), "three").await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(bodies(&alice, &ConversationId::Direct(uid("bob"))), ["one", "two", "three"]);
}
