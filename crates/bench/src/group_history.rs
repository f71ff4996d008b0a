//! A long group conversation built through the engine's real paths: a real sender encrypts each
//! message with `bench_prepare_group_send` (Megolm, envelope, session persisted), and the
//! receiving profile decrypts and stores it with `bench_receive` in batches of 200, what sync does
//! per batch. Shared by the app and backup benchmarks.
//!
//! Message `i` always has the text [`body`]`(i)`, so a history can be grown in steps and checked.

use std::ops::Range;
use std::time::Instant;

use anyhow::{Context, ensure};
use rand_core::{OsRng, RngCore};
use sotto_core::Client;
use sotto_proto::{EntryBody, GroupId, InboxEntry, MessageId};

/// Entries per `bench_receive` call: the batch size of the engine's real sync.
pub const RECEIVE_BATCH: usize = 200;
/// The inbox sequence number of message 0; far above anything the server assigned.
const FIRST_SEQ: u64 = 1_000_000;
/// Messages encrypted before they are received (bounds the bench's own memory).
const CHUNK: usize = 1000;

pub fn message_id() -> anyhow::Result<MessageId> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    Ok(MessageId::parse(hex::encode(bytes))?)
}

/// The text of group message `i`: unique, ~120 bytes, a few words that vary.
pub fn body(i: usize) -> String {
    const WORDS: [&str; 12] = [
        "lantern", "harbor", "quiet", "meadow", "copper", "signal", "orbit", "willow", "ember", "tide", "basalt",
        "fern",
    ];
    let pick = |k: usize| WORDS.get((i.wrapping_mul(7).wrapping_add(k * 5)) % WORDS.len()).copied().unwrap_or("word");
    format!(
        "bench message {i}: the {} by the {} was {} again, so we met near the {} after the {} and talked until late",
        pick(0),
        pick(1),
        pick(2),
        pick(3),
        pick(4)
    )
}

/// Encrypt group messages `range` as `sender` and receive them as `receiver`. `server_ts(i)` is
/// the server time of message `i` (ms). The group's Megolm key must already be shared with
/// `receiver` (one real send does that). Fails unless every message arrives.
pub async fn fill(
    sender: &Client,
    receiver: &Client,
    group: &GroupId,
    range: Range<usize>,
    server_ts: impl Fn(usize) -> u64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut done = range.start;
    while done < range.end {
        let end = (done + CHUNK).min(range.end);
        let mut entries = Vec::with_capacity(end - done);
        for i in done..end {
            let ciphertext = sender.bench_prepare_group_send(group, &body(i)).context("encrypting")?;
            entries.push(InboxEntry {
                seq: FIRST_SEQ + i as u64,
                message_id: message_id()?,
                sender_user: sender.user_id().clone(),
                sender_device: Some(sender.device_id().clone()),
                server_ts: server_ts(i),
                body: EntryBody::Group { group_id: group.clone(), ciphertext },
            });
        }
        let mut received = 0;
        for batch in entries.chunks(RECEIVE_BATCH) {
            received += receiver.bench_receive(batch).await.context("receiving")?;
        }
        ensure!(received == end - done, "received {received} of {} messages", end - done);
        done = end;
        if done.is_multiple_of(20_000) {
            eprintln!("[setup] message {done} of {} in {:.0}s", range.end, started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}
