//! The blob store (encrypted attachments) against the real server: sizes around the edges,
//! parts and their retries, ranges, resuming after a kill -9, who may see a blob, limits, quota,
//! deletion, expiry, and the files on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::json;
use sotto_proto::{BlobUpload, CreatedBlob};
use tokio::io::AsyncWriteExt as _;

const KIB64: usize = 64 * 1024;
const MIB: usize = 1024 * 1024;

/// `n` bytes that do not repeat with any short period (so a misplaced part cannot go unnoticed).
fn ciphertext(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

async fn create(c: &Client, size: usize, recipients: &[&str]) -> CreatedBlob {
    let resp = c.post("/v1/blobs", &json!({"size": size, "recipients": recipients})).await;
    assert_eq!(resp.status(), 201, "create: {}", resp.text().await.unwrap_or_default());
    resp.json().await.unwrap()
}

async fn put_part(c: &Client, blob: &str, offset: usize, bytes: &[u8]) -> reqwest::Response {
    c.req(Method::PUT, &format!("/v1/blobs/{blob}/parts/{offset}"))
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PUT part")
}

async fn put_part_ok(c: &Client, blob: &str, offset: usize, bytes: &[u8]) -> BlobUpload {
    let resp = put_part(c, blob, offset, bytes).await;
    assert_eq!(resp.status(), 200, "part at {offset}: {}", resp.text().await.unwrap_or_default());
    resp.json().await.unwrap()
}

/// Sends only the headers of a part of `len` bytes (raw HTTP/1.1) and reads the answer: the
/// status and the body's text.
async fn headers_only_part(server: &Server, c: &Client, blob: &str, offset: usize, len: usize) -> (u16, String) {
    use tokio::io::AsyncReadExt as _;
    let mut raw = tokio::net::TcpStream::connect(server.process.addr()).await.unwrap();
    let head = format!(
        "PUT /v1/blobs/{blob}/parts/{offset} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n",
        c.token()
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, raw.read_to_end(&mut answer)).await.expect("an answer").unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

async fn state(c: &Client, blob: &str) -> BlobUpload {
    let resp = c.get(&format!("/v1/blobs/{blob}/upload")).await;
    assert_eq!(resp.status(), 200, "upload state: {}", resp.text().await.unwrap_or_default());
    resp.json().await.unwrap()
}

async fn complete(c: &Client, blob: &str) -> reqwest::Response {
    c.req(Method::POST, &format!("/v1/blobs/{blob}/complete")).send().await.expect("complete")
}

async fn complete_ok(c: &Client, blob: &str) -> BlobUpload {
    let resp = complete(c, blob).await;
    assert_eq!(resp.status(), 200, "complete: {}", resp.text().await.unwrap_or_default());
    resp.json().await.unwrap()
}

/// Uploads `bytes` in parts of `part` bytes and completes the blob.
async fn upload(c: &Client, bytes: &[u8], recipients: &[&str], part: usize) -> String {
    let created = create(c, bytes.len(), recipients).await;
    let id = created.blob_id.to_string();
    for (i, chunk) in bytes.chunks(part).enumerate() {
        let st = put_part_ok(c, &id, i * part, chunk).await;
        assert_eq!(st.offset as usize, i * part + chunk.len());
    }
    let done = complete_ok(c, &id).await;
    assert_eq!(done, BlobUpload { offset: bytes.len() as u64, size: bytes.len() as u64, complete: true });
    id
}

async fn download(c: &Client, blob: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = c.req(Method::GET, &format!("/v1/blobs/{blob}"));
    if let Some(range) = range {
        req = req.header("range", range);
    }
    req.send().await.expect("GET blob")
}

fn blob_dir(server: &Server) -> PathBuf {
    server.data_dir().join("blobs")
}

fn incoming(server: &Server) -> Vec<String> {
    std::fs::read_dir(blob_dir(server).join("incoming"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every size at the edges of a 64 KiB part goes up and comes back byte for byte, to the
/// uploader and to a recipient; the file on disk is exactly the ciphertext, private, and nothing
/// is left in the incoming folder.
#[tokio::test]
async fn sizes_round_trip_and_the_disk_holds_exactly_the_ciphertext() {
    let server = Server::start().await;
    let [alice, bob] = server.register_all(["alice", "bob"]).await;
    for (seed, size) in [0, 1, KIB64 - 1, KIB64, KIB64 + 1].into_iter().enumerate() {
        let bytes = ciphertext(size, seed as u32);
        let id = upload(&alice, &bytes, &["bob"], KIB64).await;
        assert!(id.len() >= 22, "{id}");
        for reader in [&alice, &bob] {
            let resp = download(reader, &id, None).await;
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], "application/octet-stream");
            assert_eq!(resp.headers()["content-length"], size.to_string().as_str());
            assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice(), "size {size}");
        }
        let on_disk = std::fs::read(blob_dir(&server).join(&id)).unwrap();
        assert_eq!(on_disk, bytes, "size {size}: the file is the ciphertext, nothing more");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(blob_dir(&server).join(&id)), 0o600);
            assert_eq!(mode(blob_dir(&server)), 0o700);
            assert_eq!(mode(blob_dir(&server).join("incoming")), 0o700);
        }
    }
    assert!(incoming(&server).is_empty(), "no copy left behind: {:?}", incoming(&server));
    let files = std::fs::read_dir(blob_dir(&server)).unwrap().count();
    assert_eq!(files, 5 + 1, "five blobs and the incoming folder");
    // Ids are random, not derived from the content: the same bytes twice get two ids.
    let same = ciphertext(10, 99);
    assert_ne!(upload(&alice, &same, &[], 10).await, upload(&alice, &same, &[], 10).await);
}

/// A few MiB in parts; retries, wrong offsets and bad parts; every kind of range.
#[tokio::test]
async fn parts_retries_and_ranges() {
    let server = Server::start().await;
    let [alice, bob] = server.register_all(["alice", "bob"]).await;
    let size = 5 * MIB + 3;
    let bytes = ciphertext(size, 7);
    let created = create(&alice, size, &["bob"]).await;
    assert_eq!(created.part_size, 4 * MIB as u64);
    let id = created.blob_id.to_string();
    let part = MIB;

    // Only raw bytes with a length are taken.
    let resp = alice.put(&format!("/v1/blobs/{id}/parts/0"), &json!({"bytes": "AAAA"})).await;
    assert_error(resp, 415, "unsupported_media_type").await;
    // Larger than part_size: refused on its headers, before a byte of it is read.
    let (status, body) = headers_only_part(&server, &alice, &id, 0, 4 * MIB + 1).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    // Not at the committed offset.
    let resp = put_part(&alice, &id, 5, &bytes[5..10]).await;
    let err = assert_error(resp, 409, "conflict").await;
    assert!(err.message.contains("committed offset is 0"), "{}", err.message);

    put_part_ok(&alice, &id, 0, &bytes[..part]).await;
    put_part_ok(&alice, &id, part, &bytes[part..2 * part]).await;
    // A retry of a committed part (its answer lost) is answered with the current offset and
    // writes nothing.
    let st = put_part_ok(&alice, &id, part, &bytes[part..2 * part]).await;
    assert_eq!(st, BlobUpload { offset: 2 * part as u64, size: size as u64, complete: false });
    // A part that overlaps the committed end, or skips ahead, is refused.
    let resp = put_part(&alice, &id, 2 * part - 1, &bytes[2 * part - 1..3 * part]).await;
    assert_error(resp, 409, "conflict").await;
    let resp = put_part(&alice, &id, 3 * part, &bytes[3 * part..4 * part]).await;
    assert_error(resp, 409, "conflict").await;
    assert_eq!(state(&alice, &id).await.offset, 2 * part as u64);
    // The recipient sees the state too.
    assert_eq!(state(&bob, &id).await.offset, 2 * part as u64);
    // A part past the declared size.
    let resp = put_part(&alice, &id, 2 * part, &vec![1u8; size - 2 * part + 1][..]).await;
    assert_error(resp, 400, "invalid_input").await;
    // Completing early is refused.
    assert_error(complete(&alice, &id).await, 409, "upload_incomplete").await;

    for offset in (2 * part..size).step_by(part) {
        put_part_ok(&alice, &id, offset, &bytes[offset..(offset + part).min(size)]).await;
    }
    complete_ok(&alice, &id).await;
    // Completing again changes nothing.
    assert_eq!(complete_ok(&alice, &id).await, BlobUpload { offset: size as u64, size: size as u64, complete: true });
    // Parts after completion: a retry is answered, anything else is refused.
    put_part_ok(&alice, &id, 0, &bytes[..part]).await;
    assert_error(put_part(&alice, &id, size, b"x").await, 409, "conflict").await;

    let whole = download(&bob, &id, None).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert!(whole.bytes().await.unwrap().as_ref() == bytes.as_slice(), "the whole blob");

    let last = size - 1;
    let cases = [
        ("bytes=0-0".to_owned(), 0, 0),
        (format!("bytes={last}-{last}"), last, last),
        ("bytes=1048570-1048590".to_owned(), 1_048_570, 1_048_590),
        ("bytes=4194304-".to_owned(), 4_194_304, last),
        ("bytes=-5".to_owned(), size - 5, last),
        ("bytes=10-99999999".to_owned(), 10, last),
    ];
    for (range, first, end) in cases {
        let range = range.as_str();
        let resp = download(&bob, &id, Some(range)).await;
        assert_eq!(resp.status(), 206, "{range}");
        assert_eq!(resp.headers()["content-range"], format!("bytes {first}-{end}/{size}").as_str(), "{range}");
        assert_eq!(resp.headers()["content-length"], (end - first + 1).to_string().as_str(), "{range}");
        assert!(resp.bytes().await.unwrap().as_ref() == &bytes[first..=end], "{range}");
    }
    for range in [format!("bytes={size}-"), format!("bytes={}-{}", size + 10, size + 20), "bytes=-0".to_owned()] {
        let resp = download(&bob, &id, Some(&range)).await;
        assert_eq!(resp.headers()["content-range"], format!("bytes */{size}").as_str(), "{range}");
        assert_error(resp, 416, "invalid_input").await;
    }
    // A range on an empty blob has no byte to give.
    let empty = upload(&alice, &[], &[], 1).await;
    assert_error(download(&alice, &empty, Some("bytes=0-")).await, 416, "invalid_input").await;
    assert!(incoming(&server).is_empty());
}

/// kill -9 between parts, and in the middle of one: after the restart the upload resumes at the
/// last committed offset, the half-written part is cut off, and the blob comes back intact.
#[tokio::test]
async fn an_upload_resumes_after_kill9() {
    let mut server = Server::start().await;
    let alice = server.register("alice").await;
    let size = 3 * MIB + 17;
    let bytes = ciphertext(size, 3);
    let id = create(&alice, size, &[]).await.blob_id.to_string();
    put_part_ok(&alice, &id, 0, &bytes[..MIB]).await;

    // Between parts.
    server.kill9();
    server.restart().await;
    assert_eq!(state(&alice, &id).await, BlobUpload { offset: MIB as u64, size: size as u64, complete: false });
    put_part_ok(&alice, &id, MIB, &bytes[MIB..2 * MIB]).await;

    // In the middle of a part: half of its body is sent, then the server dies.
    let mut raw = tokio::net::TcpStream::connect(server.process.addr()).await.unwrap();
    let head = format!(
        "PUT /v1/blobs/{id}/parts/{} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        2 * MIB,
        alice.token(),
        MIB
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    raw.write_all(&bytes[2 * MIB..2 * MIB + MIB / 2]).await.unwrap();
    raw.flush().await.unwrap();
    let partial = server.data_dir().join("blobs").join("incoming").join(&id);
    let deadline = Instant::now() + TIMEOUT;
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) <= 2 * MIB as u64 {
        assert!(Instant::now() < deadline, "the half part never reached the disk");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    drop(raw);
    server.restart().await;
    assert_eq!(state(&alice, &id).await.offset, 2 * MIB as u64, "the half part was never committed");
    assert!(std::fs::metadata(&partial).unwrap().len() > 2 * MIB as u64, "uncommitted bytes are on disk");
    assert_error(download(&alice, &id, None).await, 409, "upload_incomplete").await;

    // A shorter part than the half one left on disk: the file ends exactly at the new committed
    // offset (the never-acknowledged bytes past it are cut off, not kept behind it).
    let quarter = 2 * MIB + MIB / 4;
    put_part_ok(&alice, &id, 2 * MIB, &bytes[2 * MIB..quarter]).await;
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), quarter as u64);
    put_part_ok(&alice, &id, quarter, &bytes[quarter..]).await;
    server.kill9();
    server.restart().await;
    complete_ok(&alice, &id).await;
    let got = download(&alice, &id, None).await.bytes().await.unwrap();
    assert!(got.as_ref() == bytes.as_slice(), "the resumed blob is intact");
    assert_eq!(std::fs::read(server.data_dir().join("blobs").join(&id)).unwrap(), bytes);
    assert!(incoming(&server).is_empty());
}

/// Only the uploader and the recipients can see a blob; to anyone else it does not exist. Only
/// the uploader can write or delete it.
#[tokio::test]
async fn only_the_uploader_and_the_recipients_see_a_blob() {
    let server = Server::start().await;
    let [alice, bob, carol] = server.register_all(["alice", "bob", "carol"]).await;
    let bytes = ciphertext(1000, 1);
    let done = upload(&alice, &bytes, &["bob"], 1000).await;
    let open = create(&alice, 10, &["bob"]).await.blob_id.to_string();
    let missing = "AAAAAAAAAAAAAAAAAAAAAA";

    for id in [&done, &open, &missing.to_owned()] {
        // A stranger cannot tell these blobs from one that does not exist.
        let (a, _) = error_body(download(&carol, id, None).await, 404).await;
        let (b, _) = error_body(carol.get(&format!("/v1/blobs/{id}/upload")).await, 404).await;
        let (c, _) = error_body(put_part(&carol, id, 0, b"x").await, 404).await;
        let (d, _) = error_body(complete(&carol, id).await, 404).await;
        let (e, _) = error_body(carol.delete(&format!("/v1/blobs/{id}")).await, 404).await;
        let messages: Vec<_> = [a, b, c, d, e].into_iter().map(|e| (e.code, e.message)).collect();
        assert!(messages.iter().all(|m| m == &messages[0]), "{messages:?}");
    }
    // A recipient reads, but does not write or delete.
    assert_eq!(download(&bob, &done, None).await.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_error(put_part(&bob, &open, 0, b"x").await, 403, "forbidden").await;
    assert_error(complete(&bob, &open).await, 403, "forbidden").await;
    assert_error(bob.delete(&format!("/v1/blobs/{done}")).await, 403, "forbidden").await;
    // Recipients must be accounts; ids must be ids.
    let resp = alice.post("/v1/blobs", &json!({"size": 1, "recipients": ["nobody-here"]})).await;
    assert_error(resp, 404, "unknown_user").await;
    assert_error(alice.get("/v1/blobs/short/upload").await, 400, "invalid_input").await;
    let resp = server.anon(Method::GET, &format!("/v1/blobs/{done}")).send().await.unwrap();
    assert_error(resp, 401, "unauthorized").await;
}

/// The per-file limit and the per-user quota (which counts uploads in progress) are refused at
/// creation with their own codes; deleting makes room again.
#[tokio::test]
async fn the_file_limit_and_the_quota() {
    let server =
        Server::start_with(Launch::new().args(["--max-blob-bytes", "1000", "--blob-quota-bytes", "2500"])).await;
    let [alice, bob] = server.register_all(["alice", "bob"]).await;
    let resp = alice.post("/v1/blobs", &json!({"size": 1001, "recipients": []})).await;
    assert_error(resp, 413, "blob_too_large").await;

    let first = upload(&alice, &ciphertext(1000, 1), &[], 1000).await;
    let _in_progress = create(&alice, 1000, &[]).await;
    let resp = alice.post("/v1/blobs", &json!({"size": 501, "recipients": []})).await;
    let err = assert_error(resp, 507, "quota_exceeded").await;
    assert!(err.message.contains("2000") && err.message.contains("2500"), "{}", err.message);
    // Exactly up to the quota is fine; the quota is per account.
    create(&alice, 500, &[]).await;
    create(&bob, 1000, &["alice"]).await;
    assert_error(alice.post("/v1/blobs", &json!({"size": 1, "recipients": []})).await, 507, "quota_exceeded").await;

    let resp = alice.delete(&format!("/v1/blobs/{first}")).await;
    assert_eq!(resp.status(), 204);
    create(&alice, 1000, &[]).await;
}

/// A blob that is not complete cannot be downloaded, by its uploader or a recipient.
#[tokio::test]
async fn an_incomplete_blob_is_not_downloadable() {
    let server = Server::start().await;
    let [alice, bob] = server.register_all(["alice", "bob"]).await;
    let bytes = ciphertext(100, 2);
    let id = create(&alice, 100, &["bob"]).await.blob_id.to_string();
    put_part_ok(&alice, &id, 0, &bytes[..50]).await;
    assert_error(download(&alice, &id, None).await, 409, "upload_incomplete").await;
    assert_error(download(&bob, &id, Some("bytes=0-9")).await, 409, "upload_incomplete").await;
    // Even with every byte there, until it is completed.
    put_part_ok(&alice, &id, 50, &bytes[50..]).await;
    assert_error(download(&bob, &id, None).await, 409, "upload_incomplete").await;
    complete_ok(&alice, &id).await;
    assert_eq!(download(&bob, &id, None).await.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

/// The uploader deletes a blob (complete or not): it is gone for everyone, from disk too.
#[tokio::test]
async fn the_uploader_deletes_a_blob() {
    let server = Server::start().await;
    let [alice, bob] = server.register_all(["alice", "bob"]).await;
    let done = upload(&alice, &ciphertext(300, 4), &["bob"], 100).await;
    let open = create(&alice, 300, &[]).await.blob_id.to_string();
    put_part_ok(&alice, &open, 0, &ciphertext(100, 5)).await;
    assert!(blob_dir(&server).join(&done).exists());
    assert_eq!(incoming(&server), std::slice::from_ref(&open));

    assert_error(bob.delete(&format!("/v1/blobs/{done}")).await, 403, "forbidden").await;
    for id in [&done, &open] {
        assert_eq!(alice.delete(&format!("/v1/blobs/{id}")).await.status(), 204);
        assert_error(alice.delete(&format!("/v1/blobs/{id}")).await, 404, "not_found").await;
        assert_error(download(&alice, id, None).await, 404, "not_found").await;
    }
    assert_error(download(&bob, &done, None).await, 404, "not_found").await;
    assert!(!blob_dir(&server).join(&done).exists());
    assert!(incoming(&server).is_empty());
}

/// Housekeeping deletes complete blobs after the retention period and uploads left incomplete
/// after the upload window, files and all.
#[tokio::test]
async fn blobs_expire_after_retention_and_unfinished_uploads_are_dropped() {
    let server =
        Server::start_with(Launch::new().args(["--blob-retention-secs", "3", "--blob-upload-window-secs", "3"])).await;
    let [alice, bob] = server.register_all(["alice", "bob"]).await;
    let done = upload(&alice, &ciphertext(500, 6), &["bob"], 500).await;
    let open = create(&alice, 500, &[]).await.blob_id.to_string();
    put_part_ok(&alice, &open, 0, &ciphertext(200, 7)).await;
    // Still there right after.
    assert_eq!(download(&bob, &done, None).await.status(), 200);
    assert_eq!(state(&alice, &open).await.offset, 200);

    let deadline = Instant::now() + Duration::from_secs(3) + TIMEOUT;
    loop {
        let gone_done = download(&bob, &done, None).await.status() == 404;
        let gone_open = alice.get(&format!("/v1/blobs/{open}/upload")).await.status() == 404;
        if gone_done && gone_open {
            break;
        }
        assert!(Instant::now() < deadline, "the blobs did not expire");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!blob_dir(&server).join(&done).exists(), "the expired blob's file is gone");
    assert!(incoming(&server).is_empty(), "the dropped upload's file is gone");
    assert!(server.logs().contains("expired blobs deleted"), "{}", server.logs());
}

/// A full disk while a part is written: `507 insufficient_storage`, the committed offset does not
/// move, and the same part succeeds once there is room. (The part's file is pointed at
/// `/dev/full`, where every write fails with ENOSPC.)
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_full_disk_refuses_the_part_and_keeps_the_offset() {
    let server = Server::start().await;
    let alice = server.register("alice").await;
    let bytes = ciphertext(KIB64 + 1, 8);
    let id = create(&alice, bytes.len(), &[]).await.blob_id.to_string();
    let file = blob_dir(&server).join("incoming").join(&id);
    std::os::unix::fs::symlink("/dev/full", &file).unwrap();

    let err = assert_error(put_part(&alice, &id, 0, &bytes[..KIB64]).await, 507, "insufficient_storage").await;
    assert!(err.message.contains("disk is full"), "{}", err.message);
    assert_eq!(state(&alice, &id).await.offset, 0, "nothing was committed");

    std::fs::remove_file(&file).unwrap();
    put_part_ok(&alice, &id, 0, &bytes[..KIB64]).await;
    put_part_ok(&alice, &id, KIB64, &bytes[KIB64..]).await;
    complete_ok(&alice, &id).await;
    assert!(download(&alice, &id, None).await.bytes().await.unwrap().as_ref() == bytes.as_slice());
}

/// One request writes a blob at a time: while a part is arriving, another part, a completion or
/// a deletion of the same blob is `409 conflict`; the part in flight then commits normally.
#[tokio::test]
async fn one_writer_per_blob() {
    use tokio::io::AsyncReadExt as _;
    let server = Server::start().await;
    let alice = server.register("alice").await;
    let bytes = ciphertext(MIB, 9);
    let id = create(&alice, MIB, &[]).await.blob_id.to_string();

    let mut raw = tokio::net::TcpStream::connect(server.process.addr()).await.unwrap();
    let head = format!(
        "PUT /v1/blobs/{id}/parts/0 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: {MIB}\r\nconnection: close\r\n\r\n",
        alice.token()
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    raw.write_all(&bytes[..MIB / 2]).await.unwrap();
    let partial = blob_dir(&server).join("incoming").join(&id);
    let deadline = Instant::now() + TIMEOUT;
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the part never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_error(put_part(&alice, &id, 0, &bytes).await, 409, "conflict").await;
    assert_error(complete(&alice, &id).await, 409, "conflict").await;
    assert_error(alice.delete(&format!("/v1/blobs/{id}")).await, 409, "conflict").await;

    raw.write_all(&bytes[MIB / 2..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, raw.read_to_end(&mut answer)).await.expect("an answer").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    complete_ok(&alice, &id).await;
    assert!(download(&alice, &id, None).await.bytes().await.unwrap().as_ref() == bytes.as_slice());
}

/// The same rules with the bytes in an S3-compatible object store (`--blob-store s3://…`, here
/// moto's server): each part one object, ranges across parts, a kill -9 mid-upload, deletion and
/// expiry taking the objects with them, and nothing of a blob in the data directory.
mod s3 {
    use sotto_testkit::S3Server;

    use super::*;

    /// The blob's objects, in order of their offsets.
    async fn parts(store: &S3Server, prefix: &str, blob: &str) -> Vec<(String, Vec<u8>)> {
        store.objects(&format!("{prefix}/{blob}/")).await.unwrap()
    }

    #[tokio::test]
    async fn sizes_round_trip_and_the_bucket_holds_exactly_the_ciphertext() {
        let store = S3Server::start().await;
        let server = Server::start_with(store.serve_blobs(Launch::new(), "node-1")).await;
        let [alice, bob] = server.register_all(["alice", "bob"]).await;
        for (seed, size) in [0, 1, KIB64 - 1, KIB64, KIB64 + 1, 3 * KIB64 + 5].into_iter().enumerate() {
            let bytes = ciphertext(size, seed as u32);
            let id = upload(&alice, &bytes, &["bob"], KIB64).await;
            for reader in [&alice, &bob] {
                let resp = download(reader, &id, None).await;
                assert_eq!(resp.status(), 200);
                assert_eq!(resp.headers()["content-length"], size.to_string().as_str());
                assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice(), "size {size}");
            }
            // One object per part, named by its offset; together exactly the ciphertext.
            let objects = parts(&store, "node-1", &id).await;
            assert_eq!(
                objects.len(),
                size.div_ceil(KIB64),
                "size {size}: {:?}",
                objects.iter().map(|o| &o.0).collect::<Vec<_>>()
            );
            let joined: Vec<u8> = objects.iter().flat_map(|(_, b)| b.clone()).collect();
            assert_eq!(joined, bytes, "size {size}");
            if let Some((key, _)) = objects.get(1) {
                assert!(key.ends_with(&format!("/{:016x}", KIB64)), "{key}");
            }
        }
        // Nothing of any blob on the server's own disk.
        let local: Vec<_> = std::fs::read_dir(server.data_dir()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(!local.iter().any(|n| n == "blobs"), "{local:?}");
    }

    #[tokio::test]
    async fn ranges_a_kill9_mid_upload_deletion_and_expiry() {
        let store = S3Server::start().await;
        let launch = Launch::new().args(["--blob-upload-window-secs", "3"]);
        let mut server = Server::start_with(store.serve_blobs(launch, "p")).await;
        let [alice, bob] = server.register_all(["alice", "bob"]).await;
        let size = 3 * MIB + 17;
        let bytes = ciphertext(size, 11);
        let id = create(&alice, size, &["bob"]).await.blob_id.to_string();
        put_part_ok(&alice, &id, 0, &bytes[..MIB]).await;

        // Killed in the middle of a part: half its body sent, then the server dies.
        let mut raw = tokio::net::TcpStream::connect(server.process.addr()).await.unwrap();
        let head = format!(
            "PUT /v1/blobs/{id}/parts/{MIB} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: {MIB}\r\n\r\n",
            alice.token()
        );
        raw.write_all(head.as_bytes()).await.unwrap();
        raw.write_all(&bytes[MIB..MIB + MIB / 2]).await.unwrap();
        raw.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.kill9();
        drop(raw);
        server.restart().await;
        assert_eq!(state(&alice, &id).await.offset, MIB as u64, "the half part was never committed");
        assert_eq!(parts(&store, "p", &id).await.len(), 1, "and never stored");
        put_part_ok(&alice, &id, MIB, &bytes[MIB..2 * MIB]).await;
        put_part_ok(&alice, &id, 2 * MIB, &bytes[2 * MIB..]).await;
        // A retried part whose answer was lost changes nothing.
        put_part_ok(&alice, &id, MIB, &bytes[MIB..2 * MIB]).await;
        complete_ok(&alice, &id).await;

        // Ranges inside one part, across parts, and to the end.
        for (range, from, to) in [
            ("bytes=0-9", 0, 10),
            (&*format!("bytes={}-{}", MIB - 5, MIB + 4), MIB - 5, MIB + 5),
            (&*format!("bytes={}-{}", 10, 2 * MIB + 10), 10, 2 * MIB + 11),
            (&*format!("bytes={}-", size - 3), size - 3, size),
        ] {
            let resp = download(&bob, &id, Some(range)).await;
            assert_eq!(resp.status(), 206, "{range}");
            assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[from..to], "{range}");
        }
        assert_eq!(download(&bob, &id, None).await.bytes().await.unwrap().as_ref(), bytes.as_slice());

        // The uploader deletes it: its objects go.
        let resp = alice.req(Method::DELETE, &format!("/v1/blobs/{id}")).send().await.unwrap();
        assert_eq!(resp.status(), 204);
        assert_eq!(download(&bob, &id, None).await.status(), 404);
        assert!(parts(&store, "p", &id).await.is_empty());

        // An upload left unfinished is dropped after the upload window, objects and all.
        let open = create(&alice, 500, &[]).await.blob_id.to_string();
        put_part_ok(&alice, &open, 0, &ciphertext(200, 7)).await;
        assert_eq!(parts(&store, "p", &open).await.len(), 1);
        let deadline = Instant::now() + Duration::from_secs(3) + TIMEOUT;
        while alice.get(&format!("/v1/blobs/{open}/upload")).await.status() != 404 {
            assert!(Instant::now() < deadline, "the unfinished upload was not dropped");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(parts(&store, "p", &open).await.is_empty(), "its objects are gone");
    }
}
