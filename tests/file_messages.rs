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

/// Bytes that are easy to find again and differ along the file.
fn content(len: usize, tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("{tag}-{i:012} ").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
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
        let bytes = content(len, &format!("secret-{i}"));
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
    let bytes = content(300 * 1024, "bigger");
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
    let bytes = content(200 * 1024 + 5, "group-secret");
    let path = write(work.path(), "minutes.txt", &bytes);
    let sent = alice.send_group_file(&group, &path, "minutes of the meeting").await.unwrap();
    assert_eq!(sent.status, MessageStatus::Sent, "{sent:?}");

    for (member, name) in [(&bob, "bob"), (&carol, "carol")] {
        member.sync().await.unwrap();
        let got = last(member, &conversation);
        assert_eq!(got.kind, MessageKind::File, "{name}");
        assert_eq!(got.body, "minutes of the meeting");
        let dest = work.path().join(format!("minutes-{name}.txt"));
        member.save_file(got.id, &dest).await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), bytes, "{name}");
    }

    // Dave is not in the group: even with the blob's id (the server knows it), he gets nothing.
    let blobs = stored_blobs(&server);
    assert_eq!(blobs.len(), 1, "{blobs:?}");
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
    let bytes = content(150 * 1024, "offline");
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
    let path = write(work.path(), "contract.txt", &content(3 * 64 * 1024 + 17, "contract"));
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
    let alice = Cli::new(&server, dirs.path().join("alice"));
    let bob = Cli::new(&server, dirs.path().join("bob"));
    let carol = Cli::new(&server, dirs.path().join("carol"));
    for (cli, name) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        cli.run(&["register", name, "--password-stdin", "--device-name", "cli"], &format!("{PASSWORD}\n")).json();
    }
    let work = tempfile::tempdir().unwrap();
    let bytes = content(70_000, "cli-file");
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
