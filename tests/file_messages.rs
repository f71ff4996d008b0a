//! File messages end to end: real server, real engines and the real `sotto` CLI.
//!
//! - 1:1 files at the chunk edges arrive as `file` messages with their name, type and size;
//!   small ones are fetched as they arrive (kept encrypted in the profile), and saved whole.
//! - An image carries its size, a blurhash and a thumbnail that decodes as a small JPEG.
//! - Group files reach the members; an account outside the group cannot fetch the blob even
//!   knowing its id (read from the server's disk, as the server would know it).
//! - A file sent while the server is down waits (encrypted in the sender's profile) and goes out
//!   after it is back.
//! - The attacker's test: the server changes a stored file; the recipient refuses it, shows
//!   nothing as downloaded and writes nothing.
//! - The CLI: `send --file --caption`, `history` with the file, `download MESSAGE_ID --to`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use sotto_core::progress::{CancellationToken, Progress};
use sotto_core::{Client, ConversationId, ErrorCode, FileState, Message, MessageKind, MessageStatus};
use sotto_proto::{BlobId, UserId};
use sotto_tests::*;

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn last(client: &Client, conversation: &ConversationId) -> Message {
    client.messages(conversation, None, 1).unwrap().pop().expect("a message")
}

/// The blobs the server keeps (file names are blob ids).
fn stored_blobs(server: &Server) -> Vec<PathBuf> {
    let dir = server.data_dir().join("blobs");
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_files_arrive_with_their_names_and_are_saved_whole() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let from_alice = ConversationId::Direct(uid("alice"));
    const CHUNK: usize = 64 * 1024;
    for (i, len) in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1].into_iter().enumerate() {
        let bytes = tagged_bytes(len, &format!("secret-{i}"));
        let path = write(work.path(), &format!("notes-{i}.txt"), &bytes);
        let sent = alice.send_file(&uid("bob"), &path, if i == 1 { "the one byte" } else { "" }).await.unwrap();
        assert_eq!(sent.status, MessageStatus::Sent, "{sent:?}");
        assert_eq!(sent.kind, MessageKind::File);
        let file = sent.file.as_ref().unwrap();
        assert_eq!(file.state, FileState::Local, "the sender keeps its copy");
        assert_eq!(
            (file.name.as_str(), file.mime.as_str(), file.size),
            (&*format!("notes-{i}.txt"), "text/plain", len as u64)
        );

        bob.sync().await.unwrap();
        let got = last(&bob, &from_alice);
        assert_eq!(got.kind, MessageKind::File);
        assert_eq!(got.message_id, sent.message_id);
        assert_eq!(got.body, if i == 1 { "the one byte" } else { "" });
        let file = got.file.as_ref().unwrap();
        assert_eq!((file.name.as_str(), file.size), (&*format!("notes-{i}.txt"), len as u64));
        assert_eq!(file.state, FileState::Local, "small files are fetched as they arrive");
        assert!(file.image.is_none());
        let dest = work.path().join(format!("saved-{i}"));
        assert_eq!(bob.save_file(got.id, &dest).await.unwrap(), len as u64);
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
        // Saving never overwrites.
        assert_eq!(bob.save_file(got.id, &dest).await.unwrap_err().code(), ErrorCode::FileExists);
    }
    // The conversation list says what it is; search finds the caption.
    let conversation = bob.conversations().unwrap().into_iter().find(|c| c.id == from_alice).unwrap();
    assert_eq!(conversation.last_preview, "📎 notes-4.txt");
    let hits = bob.search("one byte", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message.file.as_ref().unwrap().name, "notes-1.txt");

    // Neither the server nor the profiles hold the plaintext: the profiles keep files encrypted.
    for dir in [server.data_dir(), dirs.path().to_path_buf()] {
        let leaks = files_containing(&dir, &["secret-4-", "secret-2-"]);
        assert!(leaks.is_empty(), "{leaks:?}");
    }

    // Above the auto-download limit, a file waits on the server until asked for.
    bob.set_auto_download_limit(1024).unwrap();
    let bytes = tagged_bytes(300 * 1024, "bigger");
    let path = write(work.path(), "report.pdf", &bytes);
    alice.send_file(&uid("bob"), &path, "the report").await.unwrap();
    bob.sync().await.unwrap();
    let got = last(&bob, &from_alice);
    let file = got.file.as_ref().unwrap();
    assert_eq!((file.mime.as_str(), file.state), ("application/pdf", FileState::Remote));
    let fetched = bob.download(got.id).await.unwrap();
    assert_eq!(fetched.file.unwrap().state, FileState::Local);
    let dest = work.path().join("report-saved.pdf");
    bob.save_file(got.id, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    // Shown from memory (the app's image viewer), within a limit.
    assert_eq!(bob.file_bytes(got.id, bytes.len() as u64).await.unwrap(), bytes);
    let too_large = bob.file_bytes(got.id, bytes.len() as u64 - 1).await.unwrap_err();
    assert_eq!(too_large.code(), ErrorCode::InvalidInput);
    // Nothing but the caption is indexed (never the file's content).
    assert!(bob.search("bigger", 10).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_carries_a_preview_that_is_checked() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let picture = image::RgbImage::from_fn(800, 600, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let path = work.path().join("holiday.png");
    picture.save(&path).unwrap();

    alice.send_file(&uid("bob"), &path, "the beach").await.unwrap();
    bob.sync().await.unwrap();
    let got = last(&bob, &ConversationId::Direct(uid("alice")));
    let file = got.file.as_ref().unwrap();
    assert_eq!(file.mime, "image/png");
    let info = file.image.as_ref().expect("an image preview");
    assert_eq!((info.width, info.height), (800, 600));
    assert!(!info.blurhash.is_empty());
    let thumbnail = bob.thumbnail(got.id).unwrap().expect("a thumbnail");
    let small = image::load_from_memory_with_format(&thumbnail, image::ImageFormat::Jpeg).unwrap();
    assert!(small.width() <= 320 && small.height() <= 320, "{}x{}", small.width(), small.height());
    let conversation = bob.conversations().unwrap().into_iter().next().unwrap();
    assert_eq!(conversation.last_preview, "📷 the beach");

    // A file named like an image that is not one goes as a plain file, without a preview.
    let fake = write(work.path(), "fake.jpg", b"not a jpeg at all");
    let sent = alice.send_file(&uid("bob"), &fake, "").await.unwrap();
    let file = sent.file.unwrap();
    assert!(file.image.is_none());
    assert_eq!(file.mime, "application/octet-stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_files_reach_the_members_and_no_one_else() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol, dave] = register_all(&server, dirs.path(), ["alice", "bob", "carol", "dave"]).await;
    let work = tempfile::tempdir().unwrap();
    let group = alice.create_group("photos", &[uid("bob"), uid("carol")]).await.unwrap().group_id;
    let conversation = ConversationId::Group(group.clone());
    const CHUNK: usize = 64 * 1024;
    for (i, len) in [0, 1, CHUNK - 1, CHUNK + 1, 200 * 1024 + 5].into_iter().enumerate() {
        let bytes = tagged_bytes(len, &format!("group-secret-{i}"));
        let path = write(work.path(), &format!("minutes-{i}.txt"), &bytes);
        let sent = alice.send_group_file(&group, &path, "minutes of the meeting").await.unwrap();
        assert_eq!(sent.status, MessageStatus::Sent, "{sent:?}");
        for (member, name) in [(&bob, "bob"), (&carol, "carol")] {
            member.sync().await.unwrap();
            let got = last(member, &conversation);
            assert_eq!(got.kind, MessageKind::File, "{name}");
            assert_eq!(got.body, "minutes of the meeting");
            assert_eq!(got.file.as_ref().unwrap().name, format!("minutes-{i}.txt"));
            let dest = work.path().join(format!("minutes-{i}-{name}.txt"));
            member.save_file(got.id, &dest).await.unwrap();
            assert_eq!(std::fs::read(&dest).unwrap(), bytes, "{name}, {len} bytes");
        }
    }

    // Dave is not in the group: even with the blob's id (the server knows it), he gets nothing.
    let blobs = stored_blobs(&server);
    assert_eq!(blobs.len(), 5, "{blobs:?}");
    let blob_id = BlobId::parse(blobs[0].file_name().unwrap().to_str().unwrap()).unwrap();
    let key = sotto_core::attachment::encrypt(&b"x"[..], std::io::sink(), |_| {}).unwrap();
    let dest = work.path().join("dave");
    let err = dave
        .download_file(&blob_id, &key, &dest, &Progress::unobserved(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(!dest.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_while_the_server_is_down_goes_out_when_it_is_back() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let bytes = tagged_bytes(150 * 1024, "offline");
    let path = write(work.path(), "later.bin", &bytes);
    server.kill9();
    let queued = alice.send_file(&uid("bob"), &path, "when you can").await.unwrap();
    assert_eq!(queued.status, MessageStatus::Queued);
    assert_eq!(queued.file.as_ref().unwrap().state, FileState::Uploading);
    // The original may go: the profile keeps what is to be sent (encrypted).
    std::fs::remove_file(&path).unwrap();

    server.restart().await;
    alice.sync().await.unwrap();
    let sent = last(&alice, &ConversationId::Direct(uid("bob")));
    assert_eq!(sent.status, MessageStatus::Sent, "{sent:?}");
    assert_eq!(sent.file.unwrap().state, FileState::Local);
    bob.sync().await.unwrap();
    let got = last(&bob, &ConversationId::Direct(uid("alice")));
    let dest = work.path().join("later-saved.bin");
    bob.save_file(got.id, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_on_the_server_is_refused_and_never_shown_as_downloaded() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    bob.set_auto_download_limit(0).unwrap();
    let work = tempfile::tempdir().unwrap();
    let path = write(work.path(), "contract.txt", &tagged_bytes(3 * 64 * 1024 + 17, "contract"));
    alice.send_file(&uid("bob"), &path, "").await.unwrap();

    // The server (or whoever holds its disk) flips one byte of the stored ciphertext.
    let blobs = stored_blobs(&server);
    let mut blob = std::fs::read(&blobs[0]).unwrap();
    blob[100_000] ^= 0x01;
    std::fs::write(&blobs[0], &blob).unwrap();

    bob.sync().await.unwrap();
    let got = last(&bob, &ConversationId::Direct(uid("alice")));
    let err = bob.download(got.id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileDamaged, "{err}");
    let dest = work.path().join("contract-saved.txt");
    assert_eq!(bob.save_file(got.id, &dest).await.unwrap_err().code(), ErrorCode::FileDamaged);
    assert!(!dest.exists(), "nothing is written in place of the file");
    assert_eq!(bob.file_bytes(got.id, u64::MAX).await.unwrap_err().code(), ErrorCode::FileDamaged);
    let after = last(&bob, &ConversationId::Direct(uid("alice")));
    assert_eq!(after.file.unwrap().state, FileState::Remote, "never marked as here");
    let kept: Vec<_> = std::fs::read_dir(bob.profile_dir().join("files"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(kept.is_empty(), "nothing half-fetched is kept: {kept:?}");
}

#[tokio::test]
async fn the_cli_sends_lists_and_saves_files() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] =
        ["alice", "bob", "carol"].map(|name| Cli::new(&server, dirs.path().join(name)).registered(name));
    let work = tempfile::tempdir().unwrap();
    let bytes = tagged_bytes(70_000, "cli-file");
    let path = write(work.path(), "slides.pdf", &bytes);
    let path = path.to_str().unwrap();

    let sent = alice.run(&["send", "bob", "--file", path, "--caption", "for tomorrow"], "").json();
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["kind"], "file");
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    bob.run(&["sync"], "").json();
    let history = bob.run(&["history", "alice"], "").json();
    let got = &history[0];
    assert_eq!(got["message_id"], message_id.as_str());
    assert_eq!(got["body"], "for tomorrow");
    assert_eq!(got["file"]["name"], "slides.pdf");
    assert_eq!(got["file"]["mime"], "application/pdf");
    assert_eq!(got["file"]["size"], 70_000);
    let dest = work.path().join("got.pdf");
    let saved = bob.run(&["download", &message_id, "--to", dest.to_str().unwrap()], "").json();
    assert_eq!(saved["size"], 70_000);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    // Again to the same path: refused, the file kept.
    let again = bob.run(&["download", &message_id, "--to", dest.to_str().unwrap()], "");
    assert_eq!(again.error_code(), "file_exists");
    // Text and --file together make no sense; a missing file is a clear error.
    assert!(!alice.run(&["send", "bob", "text", "--file", path], "").ok);
    let missing = alice.run(&["send", "bob", "--file", "/nonexistent/file.txt"], "");
    assert!(missing.stderr.contains("There is no file at /nonexistent/file.txt"), "{}", missing.stderr);

    // In a group.
    alice.run(&["group", "create", "team", "bob", "carol"], "").json();
    let sent = alice.run(&["send", "--group", "team", "--file", path], "").json();
    assert_eq!(sent["status"], "sent");
    carol.run(&["sync"], "").json();
    let history = carol.run(&["history", "--group", "team"], "").json();
    let file = history.as_array().unwrap().iter().find(|m| m["kind"] == "file").unwrap();
    let dest = work.path().join("carol.pdf");
    carol.run(&["download", file["message_id"].as_str().unwrap(), "--to", dest.to_str().unwrap()], "").json();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_come_back_from_a_backup_even_once_the_server_dropped_them() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let kept = tagged_bytes(200 * 1024 + 1, "kept-in-backup");
    let path = write(work.path(), "kept.txt", &kept);
    alice.send_file(&uid("bob"), &path, "keep this").await.unwrap();
    bob.sync().await.unwrap();
    let got = last(&bob, &ConversationId::Direct(uid("alice")));
    assert_eq!(got.file.as_ref().unwrap().state, FileState::Local);
    // And one bob never fetched: the backup knows where it is and what opens it.
    bob.set_auto_download_limit(0).unwrap();
    let remote = tagged_bytes(5000, "still-on-server");
    let path = write(work.path(), "remote.txt", &remote);
    alice.send_file(&uid("bob"), &path, "").await.unwrap();
    bob.sync().await.unwrap();

    let backup = work.path().join("bob.sotto-backup");
    let passphrase = "a long backup passphrase";
    bob.export_backup(&backup, passphrase, &Progress::unobserved(), &CancellationToken::new()).await.unwrap();
    drop(bob);
    // The server loses the first file (its retention ran out).
    let blobs = stored_blobs(&server);
    assert_eq!(blobs.len(), 2);
    let first = blobs.iter().find(|b| std::fs::metadata(b).unwrap().len() > 100_000).unwrap();
    std::fs::remove_file(first).unwrap();

    let restore = sotto_core::Restore {
        file: &backup,
        backup_passphrase: passphrase,
        server: server.url(),
        trust: sotto_core::ServerTrust::System,
        user_id: "bob",
        password: PASSWORD,
    };
    let dir = dirs.path().join("bob-restored");
    let bob = Client::restore_backup(&dir, restore, keychain(), &Progress::unobserved(), &CancellationToken::new())
        .await
        .unwrap();
    let history = bob.messages(&ConversationId::Direct(uid("alice")), None, 10).unwrap();
    let files: Vec<&Message> = history.iter().filter(|m| m.kind == MessageKind::File).collect();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].file.as_ref().unwrap().state, FileState::Local);
    assert_eq!(files[0].body, "keep this");
    assert_eq!(files[1].file.as_ref().unwrap().state, FileState::Remote);
    let dest = work.path().join("kept-restored.txt");
    bob.save_file(files[0].id, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), kept, "from the backup: the server no longer has it");
    let dest = work.path().join("remote-restored.txt");
    bob.save_file(files[1].id, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), remote);
    // The backup holds the files encrypted, twice over: never the plaintext.
    let leaks = files_containing(work.path(), &["kept-in-backup-000000000100"]);
    assert!(leaks.iter().all(|(p, _)| p.extension().is_some_and(|e| e == "txt")), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_exports_write_the_files_beside_the_pages() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let picture = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
    let photo = work.path().join("cat?.png");
    picture.save_with_format(&photo, image::ImageFormat::Png).unwrap();
    alice.send_file(&uid("bob"), &photo, "our cat").await.unwrap();
    let notes = tagged_bytes(2000, "export-notes");
    alice.send_file(&uid("bob"), &write(work.path(), "notes.txt", &notes), "").await.unwrap();
    bob.sync().await.unwrap();
    // One more that bob's device never fetched.
    bob.set_auto_download_limit(0).unwrap();
    alice.send_file(&uid("bob"), &write(work.path(), "big.bin", b"never fetched"), "").await.unwrap();
    bob.sync().await.unwrap();

    for (format, page) in [(sotto_core::ExportFormat::Html, "html"), (sotto_core::ExportFormat::Json, "json")] {
        let out = work.path().join(format!("export-{page}"));
        bob.export_readable(
            &out,
            format,
            sotto_core::ExportScope::All,
            &Progress::unobserved(),
            &CancellationToken::new(),
        )
        .unwrap();
        let files: Vec<PathBuf> = std::fs::read_dir(out.join("files")).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(files.len(), 2, "only what this device has: {files:?}");
        let notes_file = files.iter().find(|p| p.to_string_lossy().ends_with("-notes.txt")).unwrap();
        assert_eq!(std::fs::read(notes_file).unwrap(), notes);
        let cat = files.iter().find(|p| p.to_string_lossy().ends_with("-cat_.png")).expect("a name any disk takes");
        assert_eq!(image::open(cat).unwrap().width(), 64);
        let page = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == page) && !p.ends_with(format!("index.{page}")))
            .unwrap();
        let text = std::fs::read_to_string(page).unwrap();
        let cat_name = cat.file_name().unwrap().to_str().unwrap();
        if format == sotto_core::ExportFormat::Html {
            assert!(text.contains(&format!("<img src=\"files/{cat_name}\" alt=\"cat?.png\">")), "{text}");
            assert!(text.contains("our cat"));
            assert!(
                text.contains("big.bin <span class=\"meta\">(13 bytes)</span> <span class=\"notice\">not downloaded"),
                "{text}"
            );
        } else {
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            let with_files: Vec<&serde_json::Value> =
                doc["messages"].as_array().unwrap().iter().filter(|m| m["kind"] == "file").collect();
            assert_eq!(with_files.len(), 3);
            assert_eq!(with_files[0]["file"]["path"], format!("files/{cat_name}"));
            assert_eq!(with_files[0]["file"]["mime"], "image/png");
            assert_eq!(with_files[2]["file"]["name"], "big.bin");
            assert!(with_files[2]["file"]["path"].is_null());
        }
    }
}

/// Waits for the first event `pick` accepts (30 s at most).
async fn wait_for<T>(
    events: &mut tokio::sync::broadcast::Receiver<sotto_core::ClientEvent>,
    mut pick: impl FnMut(&sotto_core::ClientEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv()).await.expect("the event in time");
        match event {
            Ok(event) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mib_upload_goes_on_after_the_server_is_killed_mid_way() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    bob.set_auto_download_limit(0).unwrap();
    let work = tempfile::tempdir().unwrap();
    let bytes = tagged_bytes(50 * 1024 * 1024, "fifty");
    let path = write(work.path(), "video.mp4", &bytes);
    let mut events = alice.subscribe();
    alice.start();
    let queued = alice.send_file(&uid("bob"), &path, "the recording").await.unwrap();
    assert_eq!(queued.status, MessageStatus::Queued, "the app gets the message at once");
    // Part of it is up: the server dies, and comes back.
    let total = wait_for(&mut events, |e| match e {
        sotto_core::ClientEvent::FileProgress { message_row, done, total, direction, .. }
            if *message_row == queued.id && *direction == sotto_core::Transfer::Upload && *done >= 8 * 1024 * 1024 =>
        {
            Some(*total)
        }
        _ => None,
    })
    .await;
    assert!(total > 50 * 1024 * 1024);
    server.kill9();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.restart().await;
    let sent = wait_for(&mut events, |e| match e {
        sotto_core::ClientEvent::StatusChanged { message }
            if message.id == queued.id && message.status != MessageStatus::Queued =>
        {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(sent.status, MessageStatus::Sent, "{sent:?}");
    assert!(server.logs().matches("sotto-server listening").count() >= 2, "the server was restarted");
    alice.shutdown();

    bob.sync().await.unwrap();
    let got = last(&bob, &ConversationId::Direct(uid("alice")));
    assert_eq!(got.file.as_ref().unwrap().size, bytes.len() as u64);
    let dest = work.path().join("video-saved.mp4");
    bob.save_file(got.id, &dest).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == bytes, "the file arrives whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_a_file_or_a_full_quota_is_refused_before_anything_is_kept() {
    let server = Server::start_with(&["--max-blob-bytes", "100000", "--blob-quota-bytes", "150000"]).await;
    let dirs = profiles();
    let [alice, _bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let big = write(work.path(), "big.bin", &tagged_bytes(200_000, "big"));
    // Refused before anything is kept: no message, no copy in the profile.
    let err = alice.send_file(&uid("bob"), &big, "").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::BlobTooLarge);
    assert!(alice.messages(&ConversationId::Direct(uid("bob")), None, 10).unwrap().is_empty());
    let kept = || std::fs::read_dir(alice.profile_dir().join("files")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(kept(), 0);
    // Two that fit one by one, but not together in the quota.
    let fits = write(work.path(), "fits.bin", &tagged_bytes(90_000, "fits"));
    assert_eq!(alice.send_file(&uid("bob"), &fits, "").await.unwrap().status, MessageStatus::Sent);
    let err = alice.send_file(&uid("bob"), &fits, "").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::QuotaExceeded);
    assert_eq!(kept(), 1, "only the file that was sent");
    assert_eq!(alice.messages(&ConversationId::Direct(uid("bob")), None, 10).unwrap().len(), 1);
}

/// Sent while the server could not be reached, a file the server then refuses fails its message
/// with the reason (the file stays kept, for "try again" once there is room).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_queued_offline_that_the_server_refuses_fails_with_the_reason() {
    let mut server = Server::start_with(&["--blob-quota-bytes", "150000"]).await;
    let dirs = profiles();
    let [alice, _bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let fits = write(work.path(), "fits.bin", &tagged_bytes(90_000, "fits"));
    assert_eq!(alice.send_file(&uid("bob"), &fits, "").await.unwrap().status, MessageStatus::Sent);
    server.kill9();
    let queued = alice.send_file(&uid("bob"), &fits, "").await.unwrap();
    assert_eq!(queued.status, MessageStatus::Queued);
    server.restart().await;
    alice.sync().await.unwrap();
    let over = last(&alice, &ConversationId::Direct(uid("bob")));
    assert_eq!(over.id, queued.id);
    assert_eq!(over.status, MessageStatus::Failed);
    assert_eq!(over.reason, Some(sotto_core::MessageReason::Failed(ErrorCode::QuotaExceeded)));
    assert_eq!(over.file.as_ref().unwrap().state, FileState::Uploading, "kept for another try");
    assert_eq!(alice.retry(over.id).await.unwrap().status, MessageStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_fails_the_message_and_a_retry_sends_it() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let bytes = tagged_bytes(30 * 1024 * 1024, "cancel-me");
    let path = write(work.path(), "large.bin", &bytes);
    let mut events = alice.subscribe();
    alice.start();
    let queued = alice.send_file(&uid("bob"), &path, "").await.unwrap();
    wait_for(&mut events, |e| match e {
        sotto_core::ClientEvent::FileProgress { message_row, done, .. } if *message_row == queued.id && *done > 0 => {
            Some(())
        }
        _ => None,
    })
    .await;
    assert!(alice.cancel_transfer(queued.id), "an upload was running");
    let failed = wait_for(&mut events, |e| match e {
        sotto_core::ClientEvent::StatusChanged { message } if message.id == queued.id => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.reason, Some(sotto_core::MessageReason::Failed(ErrorCode::Cancelled)));
    alice.retry(queued.id).await.unwrap();
    let sent = wait_for(&mut events, |e| match e {
        sotto_core::ClientEvent::StatusChanged { message }
            if message.id == queued.id && message.status == MessageStatus::Sent =>
        {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(sent.file.unwrap().state, FileState::Local);
    alice.shutdown();
    bob.sync().await.unwrap();
    let got = last(&bob, &ConversationId::Direct(uid("alice")));
    assert_eq!(got.message_id, queued.message_id);
    let dest = work.path().join("large-saved.bin");
    bob.save_file(got.id, &dest).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == bytes);
}

/// A file message sent to keys the recipient just replaced cannot be decrypted there: the
/// recipient asks for it again, and the file arrives in its place, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_to_old_keys_is_sent_again_and_arrives() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    alice.send_text(&uid("bob"), "hello").await.unwrap();
    bob.sync().await.unwrap();
    alice.reset_keys(PASSWORD).await.unwrap();
    // Bob has not heard of the reset: this goes to the old keys.
    let bytes = tagged_bytes(100_000, "resent-file");
    let sent = bob.send_file(&uid("alice"), &write(work.path(), "plan.txt", &bytes), "the plan").await.unwrap();
    alice.sync().await.unwrap();
    assert_eq!(undecryptable(&alice).len(), 1);
    // Bob's device gets the request and sends the file message again; alice reads it in place.
    bob.sync().await.unwrap();
    alice.sync().await.unwrap();
    assert!(undecryptable(&alice).is_empty(), "{:?}", undecryptable(&alice));
    let got = last(&alice, &ConversationId::Direct(uid("bob")));
    assert_eq!(
        (got.message_id.as_str(), got.kind, got.body.as_str()),
        (sent.message_id.as_str(), MessageKind::File, "the plan")
    );
    assert_eq!(got.file.as_ref().unwrap().name, "plan.txt");
    let dest = work.path().join("plan-saved.txt");
    alice.save_file(got.id, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
}

/// A new device of alice's, given her conversations when she confirms it, gets the files in them
/// too (what opens each; the bytes come from the server when asked for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_in_the_history_a_new_device_is_given() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let picture = image::RgbImage::from_fn(400, 200, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 7]));
    let photo = work.path().join("garden.png");
    picture.save(&photo).unwrap();
    let notes = tagged_bytes(80_000, "handed-over");
    bob.send_file(&uid("alice"), &write(work.path(), "notes.txt", &notes), "for you").await.unwrap();
    alice.send_text(&uid("bob"), "thanks").await.unwrap();
    alice.send_file(&uid("bob"), &photo, "").await.unwrap();
    alice.sync().await.unwrap();

    let laptop = login(&server, &dirs.path().join("alice-laptop"), "alice").await;
    link_device_with_history(&alice, &laptop).await;
    laptop.sync().await.unwrap();
    let history = laptop.messages(&ConversationId::Direct(uid("bob")), None, 10).unwrap();
    let kinds: Vec<(MessageKind, &str)> = history.iter().map(|m| (m.kind, m.body.as_str())).collect();
    assert_eq!(kinds, [(MessageKind::File, "for you"), (MessageKind::Text, "thanks"), (MessageKind::File, "")]);
    let received = &history[0];
    assert_eq!(received.file.as_ref().unwrap().state, FileState::Remote, "fetched when asked for");
    let dest = work.path().join("notes-on-laptop.txt");
    laptop.save_file(received.id, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), notes);
    // Her own picture, with its preview, opens there too.
    let own = &history[2];
    assert!(own.outgoing);
    assert_eq!(own.file.as_ref().unwrap().image.as_ref().unwrap().width, 400);
    assert!(laptop.thumbnail(own.id).unwrap().is_some());
    let dest = work.path().join("garden-on-laptop.png");
    laptop.save_file(own.id, &dest).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&photo).unwrap());
}
