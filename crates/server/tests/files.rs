//! The data directory and everything in it are private to the server's user (owner-only modes),
//! whatever the umask, and a directory left looser by an earlier run is tightened at start.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use nix::sys::stat::{Mode, umask};

/// `path`'s permission bits in octal, as `ls` and `chmod` write them.
fn mode(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", meta.permissions().mode() & 0o7777)
}

/// The data directory and every directory in it are 0700 and every file 0600; the database's WAL
/// and shared-memory files exist (so SQLite's own creations are covered too), and so do a complete
/// blob and an upload in progress.
fn assert_private(dir: &Path) {
    for name in ["sotto.db", "sotto.db-wal", "sotto.db-shm", "jwt-signing-key.pem", "blobs", "blobs/incoming"] {
        assert!(dir.join(name).exists(), "{name} is missing");
    }
    assert_eq!(std::fs::read_dir(dir.join("blobs")).unwrap().count(), 2, "a complete blob and the incoming folder");
    assert_eq!(std::fs::read_dir(dir.join("blobs/incoming")).unwrap().count(), 1, "an upload in progress");
    assert_private_tree(dir);
}

fn assert_private_tree(dir: &Path) {
    assert_eq!(mode(dir), "700", "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_private_tree(&path);
        } else {
            assert_eq!(mode(&path), "600", "{}", path.display());
        }
    }
}

fn loosen(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            loosen(&path);
        } else {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// A complete blob and one with a part uploaded.
async fn upload_blobs(c: &Client) {
    for complete in [true, false] {
        let resp = c.post("/v1/blobs", &serde_json::json!({"size": 4, "recipients": []})).await;
        assert_eq!(resp.status(), 201);
        let id = resp.json::<sotto_proto::CreatedBlob>().await.unwrap().blob_id;
        let part = c
            .req(reqwest::Method::PUT, &format!("/v1/blobs/{id}/parts/0"))
            .header("content-type", "application/octet-stream")
            .body(if complete { b"abcd".to_vec() } else { b"ab".to_vec() })
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 200);
        if complete {
            let done = c.req(reqwest::Method::POST, &format!("/v1/blobs/{id}/complete")).send().await.unwrap();
            assert_eq!(done.status(), 200);
        }
    }
}

#[tokio::test]
async fn data_directory_is_private_whatever_the_umask() {
    // The usual umask, which leaves files readable by everyone; the server inherits it. This
    // binary has this one test, so no other test sees the change.
    umask(Mode::from_bits_truncate(0o022));
    let mut server = Server::start().await;
    let [alice, bob] = server.register_keyed_all(["alice", "bob"]).await;
    alice.send_direct(&random_mid(), &[(bob.addr(), "ct".into())]).await;
    upload_blobs(&alice).await;
    let dir = server.data_dir();
    assert_private(&dir);

    // A directory an earlier run (or an operator) left readable: tightened at the next start.
    server.kill9();
    loosen(&dir);
    assert_eq!(mode(&dir.join("sotto.db-wal")), "644", "the WAL outlives kill -9");
    assert_eq!(mode(&dir.join("blobs/incoming")), "755");
    server.restart().await;
    bob.send_direct(&random_mid(), &[(alice.addr(), "ct".into())]).await;
    assert_private(&dir);
    assert!(server.logs().contains("tightened permissions"), "the server says it tightened them");
}
