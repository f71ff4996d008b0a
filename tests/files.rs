//! Files end to end through the real server's blob store: encrypted by the sending engine,
//! uploaded in parts, downloaded and decrypted by the recipient's engine. The file key travels
//! here from one client to the other directly (the message that will carry it comes next).
//!
//! - Sizes at the chunk edges round-trip, and the server's data directory never holds the
//!   plaintext.
//! - Only the recipients (and the uploader) can fetch a blob.
//! - An upload survives the server being killed mid-way: it resumes where the server's
//!   committed offset says, and the file arrives whole.
//! - So does a download: it goes on with a `Range` from what it had.
//! - The attacker's test: the server changes the stored ciphertext; the recipient refuses it
//!   and writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use sotto_core::progress::{CancellationToken, Progress};
use sotto_core::{Client, ErrorCode};
use sotto_proto::UserId;
use sotto_tests::{Server, files_containing, profiles, register_all, tagged_bytes};

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

async fn send(client: &Client, dir: &Path, name: &str, bytes: &[u8], to: &[&str]) -> sotto_core::UploadedFile {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let to: Vec<UserId> = to.iter().map(|u| uid(u)).collect();
    client.upload_file(&path, &to, &Progress::unobserved(), &CancellationToken::new()).await.unwrap()
}

async fn fetch(client: &Client, file: &sotto_core::UploadedFile, dest: &Path) -> sotto_core::Result<u64> {
    client.download_file(&file.blob_id, &file.key, dest, &Progress::unobserved(), &CancellationToken::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_size_reach_their_recipient_and_nobody_else() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob, carol] = register_all(&server, dirs.path(), ["alice", "bob", "carol"]).await;
    let work = tempfile::tempdir().unwrap();
    const CHUNK: usize = 64 * 1024;
    for (i, len) in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * 1024 * 1024 + 3].into_iter().enumerate() {
        let bytes = tagged_bytes(len, &format!("plaintext-{i}"));
        let sent = send(&alice, work.path(), &format!("in-{i}"), &bytes, &["bob"]).await;
        assert_eq!(sent.key.size, len as u64);
        let dest = work.path().join(format!("out-{i}"));
        assert_eq!(fetch(&bob, &sent, &dest).await.unwrap(), len as u64);
        assert_eq!(std::fs::read(&dest).unwrap(), bytes, "{len} bytes");
        // The uploader can fetch it too; carol, not named, cannot even learn it exists.
        fetch(&alice, &sent, &work.path().join(format!("own-{i}"))).await.unwrap();
        let err = fetch(&carol, &sent, &work.path().join(format!("carol-{i}"))).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
        assert!(!work.path().join(format!("carol-{i}")).exists());
    }
    // Never the plaintext on the server, in any file of its data directory.
    let leaks = files_containing(&server.data_dir(), &["plaintext-5-", "plaintext-3-"]);
    assert!(leaks.is_empty(), "{leaks:?}");
    // An existing file is never overwritten by a download.
    let sent = send(&alice, work.path(), "again", b"hello", &["bob"]).await;
    std::fs::write(work.path().join("taken"), b"mine").unwrap();
    let err = fetch(&bob, &sent, &work.path().join("taken")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileExists);
    assert_eq!(std::fs::read(work.path().join("taken")).unwrap(), b"mine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_the_server_is_killed_mid_way() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let bytes = tagged_bytes(24 * 1024 * 1024, "resumed");
    let path = work.path().join("big");
    std::fs::write(&path, &bytes).unwrap();

    let progress = Progress::unobserved();
    let mut watch = progress.subscribe();
    let upload = {
        let (alice, path, progress) = (alice.clone(), path.clone(), progress.clone());
        tokio::spawn(async move { alice.upload_file(&path, &[uid("bob")], &progress, &CancellationToken::new()).await })
    };
    // Once a third has arrived, the server dies without warning and comes back.
    tokio::time::timeout(Duration::from_secs(60), watch.wait_for(|p| p.total > 0 && p.done * 3 >= p.total))
        .await
        .expect("a third uploaded")
        .unwrap();
    let before = watch.borrow().done;
    server.kill9();
    // Every progress figure from here on: a resumed upload goes on from the server's committed
    // offset, so none is back at 0.
    let after = tokio::spawn(async move {
        let mut seen = Vec::new();
        while watch.changed().await.is_ok() {
            seen.push(watch.borrow_and_update().done);
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart().await;
    let sent =
        tokio::time::timeout(Duration::from_secs(120), upload).await.expect("the upload finished").unwrap().unwrap();
    drop(progress);
    let seen = after.await.unwrap();
    assert!(!seen.is_empty() && seen.iter().all(|done| *done > 0), "resumed, not started over: {seen:?}");
    let dest = work.path().join("received");
    fetch(&bob, &sent, &dest).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == bytes, "the file arrives whole");
    assert!(before > 0 && before < sent.key.encrypted_size);
    assert!(server.logs().matches("sotto-server listening").count() >= 2, "the server was restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_resumes_after_the_server_is_killed_mid_way() {
    let mut server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let bytes = tagged_bytes(32 * 1024 * 1024, "fetched");
    let sent = send(&alice, work.path(), "big", &bytes, &["bob"]).await;

    let progress = Progress::unobserved();
    let mut watch = progress.subscribe();
    let dest = work.path().join("received");
    let download = {
        let (bob, sent, dest, progress) = (bob.clone(), sent.clone(), dest.clone(), progress.clone());
        tokio::spawn(async move {
            bob.download_file(&sent.blob_id, &sent.key, &dest, &progress, &CancellationToken::new()).await
        })
    };
    tokio::time::timeout(Duration::from_secs(60), watch.wait_for(|p| p.total > 0 && p.done * 3 >= p.total))
        .await
        .expect("a third downloaded")
        .unwrap();
    server.kill9();
    let before = watch.borrow().done;
    let after = tokio::spawn(async move {
        let mut seen = Vec::new();
        while watch.changed().await.is_ok() {
            seen.push(watch.borrow_and_update().done);
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!dest.exists(), "nothing at the destination before all of it checked out");
    server.restart().await;
    let size = tokio::time::timeout(Duration::from_secs(120), download)
        .await
        .expect("the download finished")
        .unwrap()
        .unwrap();
    drop(progress);
    let seen = after.await.unwrap();
    assert_eq!(size, bytes.len() as u64);
    assert!(std::fs::read(&dest).unwrap() == bytes, "the file arrives whole");
    assert!(before > 0 && before < sent.key.encrypted_size, "{before}");
    assert!(seen.iter().all(|done| *done >= before), "resumed, not started over: {seen:?}");
    assert!(server.logs().matches("sotto-server listening").count() >= 2, "the server was restarted");
    // Nothing left beside the destination (no temporary file of the ciphertext or the plaintext).
    let names: Vec<_> = std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_changed_on_the_server_is_refused_and_nothing_is_written() {
    let server = Server::start().await;
    let dirs = profiles();
    let [alice, bob] = register_all(&server, dirs.path(), ["alice", "bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let bytes = tagged_bytes(3 * 64 * 1024 + 17, "tampered");
    let sent = send(&alice, work.path(), "doc", &bytes, &["bob"]).await;

    // The server (or whoever holds its disk) flips one byte of the stored ciphertext.
    let mut stored = Vec::new();
    let mut stack = vec![server.data_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::metadata(&path).unwrap().len() == sent.key.encrypted_size {
                stored.push(path);
            }
        }
    }
    assert_eq!(stored.len(), 1, "one stored blob of the ciphertext's size: {stored:?}");
    let mut blob = std::fs::read(&stored[0]).unwrap();
    blob[100_000] ^= 0x01;
    std::fs::write(&stored[0], &blob).unwrap();

    let dest = work.path().join("doc-received");
    let err = fetch(&bob, &sent, &dest).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileDamaged, "{err}");
    assert!(!dest.exists(), "nothing is written in place of the file");
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().starts_with(".sotto-download")), "{left:?}");
}
