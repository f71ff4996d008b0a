//! The backup slot: optimistic concurrency and size limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use serde_json::json;
use sotto_proto::{Backup, BackupVersion};

#[tokio::test]
async fn backup_versions_and_limits() {
    let server = Server::start().await;
    let laptop = server.register("alice").await;
    let phone = server.login("alice").await;

    assert_error(laptop.get("/v1/backup").await, 404, "not_found").await;
    // Nothing to update yet.
    let resp = laptop.put("/v1/backup", &json!({"expected_version": 1, "blob": "v?"})).await;
    assert_error(resp, 409, "stale_version").await;

    let resp = laptop.put("/v1/backup", &json!({"expected_version": 0, "blob": "blob-v1"})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<BackupVersion>().await.unwrap(), BackupVersion { version: 1 });
    // Another device of the same user reads it.
    let b: Backup = phone.get("/v1/backup").await.json().await.unwrap();
    assert_eq!((b.version, b.blob.as_str()), (1, "blob-v1"));

    // Both devices write based on version 1: the second loses.
    let resp = phone.put("/v1/backup", &json!({"expected_version": 1, "blob": "blob-v2-phone"})).await;
    assert_eq!(resp.json::<BackupVersion>().await.unwrap().version, 2);
    let resp = laptop.put("/v1/backup", &json!({"expected_version": 1, "blob": "blob-v2-laptop"})).await;
    let err = assert_error(resp, 409, "stale_version").await;
    assert!(err.message.contains('2'), "{}", err.message);
    let resp = laptop.put("/v1/backup", &json!({"expected_version": 0, "blob": "again"})).await;
    assert_error(resp, 409, "stale_version").await;
    let resp = laptop.put("/v1/backup", &json!({"expected_version": 7, "blob": "ahead"})).await;
    assert_error(resp, 409, "stale_version").await;
    let b: Backup = laptop.get("/v1/backup").await.json().await.unwrap();
    assert_eq!((b.version, b.blob.as_str()), (2, "blob-v2-phone"));

    // Shape errors.
    let resp = laptop.put("/v1/backup", &json!({"expected_version": 2, "blob": "x", "extra": true})).await;
    assert_error(resp, 400, "invalid_json").await;
    let resp = laptop.put("/v1/backup", &json!({"blob": "x"})).await;
    assert_error(resp, 400, "invalid_json").await;

    // Exactly 16 MiB is accepted; one byte more is too large.
    let max = 16 * 1024 * 1024;
    let resp = laptop.put("/v1/backup", &json!({"expected_version": 2, "blob": "a".repeat(max)})).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    let resp = laptop.put("/v1/backup", &json!({"expected_version": 3, "blob": "b".repeat(max + 1)})).await;
    assert_error(resp, 413, "payload_too_large").await;
    // Far over the route's body limit.
    let resp = laptop.put("/v1/backup", &json!({"expected_version": 3, "blob": "c".repeat(max + 256 * 1024)})).await;
    assert_error(resp, 413, "payload_too_large").await;

    let b: Backup = phone.get("/v1/backup").await.json().await.unwrap();
    assert_eq!(b.version, 3);
    assert_eq!(b.blob.len(), max);
    assert!(b.blob.bytes().all(|c| c == b'a'));
}
