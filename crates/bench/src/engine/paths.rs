//! Steps 1 and 2: the engine's local send path against raw Megolm encryption, and its receive
//! path against raw Megolm decryption, with two real profiles on a real server.
//!
//! Engine and raw runs are interleaved in blocks (raw block, engine block, ...), so a change in
//! machine load during the run affects both sides of each ratio alike.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use sotto_core::{Client, ConversationId, KeyOptions, MessageKind, SignIn};
use sotto_proto::{EntryBody, InboxEntry, MessageId};
use vodozemac::megolm::{GroupSession, GroupSessionPickle, InboundGroupSession, MegolmMessage, SessionConfig};

use super::server_process::ServerProcess;
use super::stats::{CpuSnap, Dist};
use super::words::{Rng, Vocabulary, fixed_body};

/// Bytes of every message body.
pub const BODY_BYTES: usize = 200;
/// Entries per `bench_receive` call: the batch size of the engine's real sync.
pub const RECEIVE_BATCH: usize = 200;
/// Raw and engine runs alternate in this many blocks.
const BLOCKS: usize = 10;
/// The first inbox sequence number of the synthetic entries; far above what B committed.
const FIRST_SEQ: u64 = 1_000_000;
const PASSWORD: &str = "bench-password-0123";
const PASSPHRASE: &str = "bench profile passphrase";

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// Total time of the timed calls divided by the messages.
    pub us_per_msg: f64,
    pub msgs_per_s: f64,
    /// Per call (send: one message; receive: one batch of 200).
    pub per_call: Dist,
    /// Mean size of one ciphertext as sent (base64 / JSON envelope), bytes.
    pub ciphertext_bytes: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathFigures {
    pub messages: usize,
    pub engine: Side,
    pub raw: Side,
    /// For information (send only): raw encrypt plus what `Machine::encrypt_group` adds around
    /// it without the database: unpickle the session from its encrypted pickle, encrypt, pickle
    /// it again, base64 the message.
    pub raw_with_pickle: Option<Side>,
    /// engine µs/message ÷ raw µs/message.
    pub ratio: f64,
    /// Other processes' CPU during the step, % of one core.
    pub others_cpu_pct: Option<f64>,
    /// This process's CPU during the step, % of one core.
    pub own_cpu_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathsResult {
    pub send: PathFigures,
    pub receive: PathFigures,
    pub setup_secs: f64,
}

fn side(samples: &[Duration], messages: usize, ciphertext_bytes: f64) -> Side {
    let total: f64 = samples.iter().map(Duration::as_secs_f64).sum();
    let us_per_msg = total * 1e6 / messages.max(1) as f64;
    Side {
        us_per_msg,
        msgs_per_s: if total > 0.0 { messages as f64 / total } else { 0.0 },
        per_call: Dist::of(samples),
        ciphertext_bytes,
    }
}

async fn profile(dir: &Path, server: &str, user: &str) -> anyhow::Result<Client> {
    let sign_in = SignIn {
        server,
        trust: sotto_core::ServerTrust::System,
        user_id: user,
        password: PASSWORD,
        device_name: Some("engine-bench"),
    };
    let keys = KeyOptions { no_keychain: true, passphrase: Some(PASSPHRASE.to_owned()) };
    Client::register(&dir.join(user), sign_in, keys).await.with_context(|| format!("registering {user}"))
}

fn message_id() -> anyhow::Result<MessageId> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    Ok(MessageId::parse(hex::encode(bytes))?)
}

pub async fn run(server: &mut ServerProcess, work: &Path, n: usize) -> anyhow::Result<PathsResult> {
    ensure!(n >= BLOCKS && n.is_multiple_of(BLOCKS), "the message count must be a multiple of {BLOCKS}");
    let setup = Instant::now();
    let profiles = work.join("profiles");
    std::fs::create_dir_all(&profiles)?;
    let a = profile(&profiles, server.url(), "bench-alice").await?;
    let b = profile(&profiles, server.url(), "bench-bob").await?;
    let group =
        a.create_group("engine bench", std::slice::from_ref(b.user_id())).await.context("creating the group")?;
    let gid = group.group_id.clone();
    // A real send: creates A's Megolm session and shares its key with B over Olm.
    let first = a.send_group_text(&gid, "hello, group").await.context("the first real group send")?;
    ensure!(
        first.status == sotto_core::MessageStatus::Sent,
        "the first group message was not sent: {:?} {:?}",
        first.status,
        first.reason
    );
    let synced = b.sync().await.context("B's sync")?;
    let conversation = ConversationId::Group(gid.clone());
    let seen = b.messages(&conversation, None, 10)?;
    ensure!(
        seen.iter().any(|m| m.kind == MessageKind::Text && m.body == "hello, group"),
        "B could not read the first group message after sync ({} entries); no room key?",
        synced.entries
    );
    server.check_alive()?;
    let setup_secs = setup.elapsed().as_secs_f64();
    eprintln!("[paths] two profiles, a group and its room key ready after {setup_secs:.1}s");

    let vocab = Vocabulary::new(2000, 7);
    let mut rng = Rng::new(11);
    let bodies: Vec<String> = (0..n).map(|i| fixed_body(&vocab, &mut rng, i, BODY_BYTES)).collect();
    ensure!(bodies.iter().all(|b| b.len() == BODY_BYTES), "a body is not {BODY_BYTES} bytes");

    // ---- 1. send ----
    let mut raw_out = GroupSession::new(SessionConfig::version_1());
    let mut raw_in = InboundGroupSession::new(&raw_out.session_key(), SessionConfig::version_1());
    let mut raw_msgs: Vec<MegolmMessage> = Vec::with_capacity(n);
    let mut engine_cts: Vec<String> = Vec::with_capacity(n);
    let (mut raw_t, mut eng_t, mut pick_t) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let pickle_key = [7u8; 32];
    let mut pickled = GroupSession::new(SessionConfig::version_1()).pickle().encrypt(&pickle_key);
    let mut pickled_bytes = 0usize;
    let block = n / BLOCKS;
    eprintln!("[send] {n} messages: engine bench_prepare_group_send and raw GroupSession::encrypt, {BLOCKS} blocks");
    let c0 = CpuSnap::take();
    for chunk in bodies.chunks(block) {
        for body in chunk {
            let t = Instant::now();
            let m = raw_out.encrypt(body.as_bytes());
            raw_t.push(t.elapsed());
            raw_msgs.push(m);
        }
        for body in chunk {
            let t = Instant::now();
            let pickle = GroupSessionPickle::from_encrypted(&pickled, &pickle_key)
                .map_err(|e| anyhow::anyhow!("unpickling a group session: {e}"))?;
            let mut session = GroupSession::from_pickle(pickle);
            let m = session.encrypt(body.as_bytes()).to_base64();
            pickled = session.pickle().encrypt(&pickle_key);
            pick_t.push(t.elapsed());
            pickled_bytes += m.len();
        }
        for body in chunk {
            let t = Instant::now();
            let ct = a.bench_prepare_group_send(&gid, body).context("bench_prepare_group_send")?;
            eng_t.push(t.elapsed());
            engine_cts.push(ct);
        }
    }
    let c1 = CpuSnap::take();
    ensure!(engine_cts.len() == n && raw_msgs.len() == n, "the send step produced the wrong number of ciphertexts");
    let raw_ct_bytes = raw_msgs.iter().map(|m| m.to_base64().len()).sum::<usize>() as f64 / n as f64;
    let eng_ct_bytes = engine_cts.iter().map(String::len).sum::<usize>() as f64 / n as f64;
    let send_engine = side(&eng_t, n, eng_ct_bytes);
    let send_raw = side(&raw_t, n, raw_ct_bytes);
    let send = PathFigures {
        messages: n,
        ratio: send_engine.us_per_msg / send_raw.us_per_msg,
        engine: send_engine,
        raw: send_raw,
        raw_with_pickle: Some(side(&pick_t, n, pickled_bytes as f64 / n as f64)),
        others_cpu_pct: c1.others_since(&c0),
        own_cpu_pct: c1.own_since(&c0),
    };

    // ---- 2. receive ----
    let server_ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
    let mut entries = Vec::with_capacity(n);
    for (i, ciphertext) in engine_cts.into_iter().enumerate() {
        entries.push(InboxEntry {
            seq: FIRST_SEQ + i as u64,
            message_id: message_id()?,
            sender_user: a.user_id().clone(),
            sender_device: Some(a.device_id().clone()),
            server_ts: server_ts + i as u64,
            body: EntryBody::Group { group_id: gid.clone(), ciphertext },
        });
    }
    let (mut raw_t, mut eng_t) = (Vec::with_capacity(n), Vec::with_capacity(n / RECEIVE_BATCH + 1));
    let mut received = 0usize;
    let mut raw_ok = 0usize;
    eprintln!("[receive] {n} messages: engine bench_receive in batches of {RECEIVE_BATCH} and raw decrypt");
    let c0 = CpuSnap::take();
    for (raw_block, entry_block) in raw_msgs.chunks(block).zip(entries.chunks(block)) {
        for m in raw_block {
            let t = Instant::now();
            let d = raw_in.decrypt(m);
            raw_t.push(t.elapsed());
            let d = d.map_err(|e| anyhow::anyhow!("raw Megolm decrypt failed: {e}"))?;
            let expected = bodies.get(d.message_index as usize).map(String::as_bytes);
            if expected == Some(d.plaintext.as_slice()) {
                raw_ok += 1;
            }
        }
        for batch in entry_block.chunks(RECEIVE_BATCH) {
            let t = Instant::now();
            let got = b.bench_receive(batch).await.context("bench_receive")?;
            eng_t.push(t.elapsed());
            received += got;
        }
    }
    let c1 = CpuSnap::take();
    if received != n {
        bail!("the engine received {received} of {n} messages");
    }
    if raw_ok != n {
        bail!("raw Megolm decrypted {raw_ok} of {n} messages to the right plaintext");
    }
    // Every message must be stored decrypted, in order, with the right text.
    let last = b.messages(&conversation, None, 3)?;
    let want: Vec<&str> = bodies.iter().rev().take(3).rev().map(String::as_str).collect();
    let got: Vec<&str> = last.iter().map(|m| m.body.as_str()).collect();
    ensure!(got == want, "B's newest messages are not the last ones sent");
    ensure!(
        last.iter().all(|m| m.kind == MessageKind::Text && m.status == sotto_core::MessageStatus::Received),
        "B stored the last messages as something other than received text"
    );
    let recv_engine = side(&eng_t, n, eng_ct_bytes);
    let recv_raw = side(&raw_t, n, raw_ct_bytes);
    let receive = PathFigures {
        messages: n,
        ratio: recv_engine.us_per_msg / recv_raw.us_per_msg,
        engine: recv_engine,
        raw: recv_raw,
        raw_with_pickle: None,
        others_cpu_pct: c1.others_since(&c0),
        own_cpu_pct: c1.own_since(&c0),
    };
    server.check_alive()?;
    a.shutdown();
    b.shutdown();
    Ok(PathsResult { send, receive, setup_secs })
}
