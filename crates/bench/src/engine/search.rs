//! Step 3: full-text search over a large history in the engine's own SQLCipher store, against
//! the same SQL on an unencrypted copy (through the same library, and through `sqlite3`).
//!
//! The history is built through the engine's own store code (`Store::open`, the real schema,
//! `Db::insert_message` and `Db::index_pending` in large transactions) and can be kept between runs in
//! `--data-dir` (with the random key of that synthetic database beside it, in `bench.key`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rand_core::{OsRng, RngCore};
use rusqlite::{Connection, OpenFlags, params};
use serde::{Deserialize, Serialize};
use sotto_core::bench::{NewMessage, OpenMode, Store};
use sotto_core::profile::ProfileKey;
use sotto_core::{ConversationId, ConversationKind, MessageKind, MessageStatus};
use sotto_proto::{GroupId, UserId};

use super::stats::{CpuSnap, Dist};
use super::words::{MEDIUM, RARE, Rng, Vocabulary};

/// Bump when the generated history changes, so cached databases are rebuilt.
const DATA_VERSION: u32 = 1;
const VOCABULARY: usize = 2000;
const SEED: u64 = 20_261_126;
const RARE_COUNT: usize = 50;
/// One message in this many carries the medium-frequency word (1%).
const MEDIUM_EVERY: usize = 100;
const INSERT_BATCH: usize = 25_000;
const LIMIT: u32 = 50;
const WARM_REPEATS: usize = 20;
const COLD_REPEATS: usize = 5;
/// Fewer: every sample drops the whole machine's page cache.
const COLD_OS_REPEATS: usize = 3;
const SHELL_REPEATS: usize = 200;
const OWN_USER: &str = "me-searcher";

/// The engine's own search SQL and query builder: the plain baselines run exactly what
/// `Db::search` runs.
pub use sotto_core::bench::{MESSAGE_COLUMN_COUNT, SEARCH_SQL, fts_query};

#[derive(Debug, Clone, Copy)]
pub struct SearchPlan {
    pub stored: usize,
    pub conversations: usize,
    pub rebuild: bool,
    pub drop_caches: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Marker {
    version: u32,
    stored: usize,
    conversations: usize,
    seed: u64,
    build_secs: f64,
    insert_us_per_msg: f64,
    rare_count: usize,
    medium_count: usize,
    #[serde(default)]
    others_cpu_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildFigures {
    pub stored: usize,
    pub conversations: usize,
    /// Reused from `--data-dir` rather than built in this run.
    pub cached: bool,
    pub build_secs: f64,
    /// Building through `Db::insert_message` + `Db::index_pending` per batch, per message.
    pub insert_us_per_msg: f64,
    pub encrypted_mib: f64,
    pub plain_mib: f64,
    pub export_secs: f64,
    pub rare_count: usize,
    pub medium_count: usize,
    /// Other processes' CPU while the history was built, % of one core.
    pub others_cpu_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryFigures {
    pub label: String,
    /// One of the brief's target queries.
    pub target: bool,
    pub query: String,
    pub fts: String,
    pub hits: usize,
    /// `Db::search` on the open store, repeated.
    pub warm: Dist,
    /// `Db::search` as the first query of a new connection (SQLite's page cache empty; the OS
    /// page cache warm). Open time excluded; reported separately.
    pub cold_connection: Dist,
    /// As above after `sync; echo 3 > /proc/sys/vm/drop_caches` (None: not possible here).
    pub cold_os: Option<Dist>,
    pub open_ms: f64,
    /// The same SQL on the unencrypted copy, through the same library (rusqlite, no key).
    pub plain_lib_warm: Dist,
    /// The same SQL in the `sqlite3` shell on the unencrypted copy: per-query time from one
    /// session repeating it, minus a session that only opens the file.
    pub plain_shell_warm_us: Option<f64>,
    /// `.timer on` "real" of the query in a fresh `sqlite3` process (1 ms resolution).
    pub plain_shell_cold_ms: Option<f64>,
    pub ratio_vs_plain_lib: f64,
    pub ratio_vs_plain_shell: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub build: BuildFigures,
    pub queries: Vec<QueryFigures>,
    pub cold_os_available: bool,
    pub sqlite3_shell: Option<String>,
    pub sqlcipher_version: String,
    pub others_cpu_pct: Option<f64>,
}

/// The search queries: what a person types, and why.
/// The third value says whether the query is one of the brief's targets; the most common word
/// (a short word, so its prefix query spans many index terms) is shown for information.
fn queries(vocab: &Vocabulary) -> Vec<(String, String, bool)> {
    vec![
        ("rare word (50 msgs)".to_owned(), RARE.to_owned(), true),
        ("medium word (1%)".to_owned(), MEDIUM.to_owned(), true),
        ("two words".to_owned(), format!("{} {MEDIUM}", vocab.word(30)), true),
        ("most common word".to_owned(), vocab.word(0).to_owned(), false),
    ]
}

/// What the generated history holds at message `i`.
struct Generator<'a> {
    vocab: &'a Vocabulary,
    rng: Rng,
    rare_every: usize,
    stored: usize,
}

impl Generator<'_> {
    fn body(&mut self, i: usize) -> String {
        let mut words = self.vocab.body(&mut self.rng, 8, 30);
        let at = |rng: &mut Rng, len: usize| rng.below(len + 1);
        if i % MEDIUM_EVERY == MEDIUM_EVERY / 3 {
            let p = at(&mut self.rng, words.len());
            words.insert(p, MEDIUM);
        }
        if self.is_rare(i) {
            let p = at(&mut self.rng, words.len());
            words.insert(p, RARE);
        }
        words.join(" ")
    }

    fn is_rare(&self, i: usize) -> bool {
        i % self.rare_every == self.rare_every / 2 && i / self.rare_every < RARE_COUNT.min(self.stored)
    }
}

fn conversation(c: usize) -> anyhow::Result<(ConversationId, ConversationKind, String, String)> {
    Ok(if c.is_multiple_of(3) {
        let g = format!("bench-group-{c:03}");
        (ConversationId::Group(GroupId::parse(g.as_str())?), ConversationKind::Group, g, format!("Group {c}"))
    } else {
        let u = format!("friend-{c:03}");
        (ConversationId::Direct(UserId::parse(u.as_str())?), ConversationKind::Direct, u.clone(), u)
    })
}

fn load_key(path: &Path) -> anyhow::Result<ProfileKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .with_context(|| format!("{} is not a 32-byte hex key", path.display()))?;
    Ok(ProfileKey::bench_from_bytes(bytes))
}

fn new_key(path: &Path) -> anyhow::Result<ProfileKey> {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(hex::encode(bytes).as_bytes())?;
    Ok(ProfileKey::bench_from_bytes(bytes))
}

fn remove_if_exists(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

fn mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

struct Files {
    db: PathBuf,
    plain: PathBuf,
    key: PathBuf,
    marker: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Files {
        Files {
            db: dir.join("sotto.db"),
            plain: dir.join("plain.db"),
            key: dir.join("bench.key"),
            marker: dir.join("bench.json"),
        }
    }

    fn clear(&self) -> anyhow::Result<()> {
        for p in [&self.marker, &self.db, &self.plain, &self.key] {
            remove_if_exists(p)?;
        }
        for suffix in ["-wal", "-shm", "-journal"] {
            remove_if_exists(&PathBuf::from(format!("{}{suffix}", self.db.display())))?;
            remove_if_exists(&PathBuf::from(format!("{}{suffix}", self.plain.display())))?;
        }
        Ok(())
    }
}

/// Build the history (or reuse the one in `dir`) and its plain copy.
fn prepare(dir: &Path, plan: SearchPlan, vocab: &Vocabulary) -> anyhow::Result<(ProfileKey, BuildFigures)> {
    std::fs::create_dir_all(dir)?;
    let files = Files::new(dir);
    let want = |m: &Marker| {
        m.version == DATA_VERSION && m.stored == plan.stored && m.conversations == plan.conversations && m.seed == SEED
    };
    let cached: Option<Marker> = if plan.rebuild {
        None
    } else {
        std::fs::read(&files.marker)
            .ok()
            .and_then(|b| serde_json::from_slice::<Marker>(&b).ok())
            .filter(|m| want(m) && files.db.is_file() && files.plain.is_file() && files.key.is_file())
    };
    if let Some(marker) = cached {
        eprintln!("[search] reusing the history of {} messages in {}", marker.stored, dir.display());
        let key = load_key(&files.key)?;
        // Prove the key and the schema before measuring.
        Store::open(&files.db, &key, OpenMode::Existing).context("opening the cached history")?;
        return Ok((
            key,
            BuildFigures {
                stored: marker.stored,
                conversations: marker.conversations,
                cached: true,
                build_secs: marker.build_secs,
                insert_us_per_msg: marker.insert_us_per_msg,
                encrypted_mib: mib(&files.db),
                plain_mib: mib(&files.plain),
                export_secs: 0.0,
                rare_count: marker.rare_count,
                medium_count: marker.medium_count,
                others_cpu_pct: marker.others_cpu_pct,
            },
        ));
    }
    files.clear()?;
    let key = new_key(&files.key)?;
    let mut store = Store::open(&files.db, &key, OpenMode::Create).context("creating the history database")?;
    let convs = (0..plan.conversations).map(conversation).collect::<anyhow::Result<Vec<_>>>()?;
    store.transaction(|db| {
        for (id, _, _, title) in &convs {
            db.ensure_conversation(id, title)?;
        }
        Ok(())
    })?;
    let mut generator =
        Generator { vocab, rng: Rng::new(SEED), rare_every: (plan.stored / RARE_COUNT).max(1), stored: plan.stored };
    let (mut rare_count, mut medium_count) = (0usize, 0usize);
    let base_ts: i64 = 1_700_000_000_000;
    let started = Instant::now();
    let c0 = CpuSnap::take();
    let mut inserting = Duration::ZERO;
    let mut next_report = plan.stored / 10;
    let mut i = 0usize;
    while i < plan.stored {
        let end = (i + INSERT_BATCH).min(plan.stored);
        // Generate the batch first: the insert rate counts the engine's transactions only.
        let mut batch = Vec::with_capacity(end - i);
        for j in i..end {
            let body = generator.body(j);
            rare_count += usize::from(body.split(' ').any(|w| w == RARE));
            medium_count += usize::from(body.split(' ').any(|w| w == MEDIUM));
            let c = generator.rng.below(convs.len());
            let outgoing = generator.rng.below(10) < 3;
            batch.push((j, c, outgoing, body));
        }
        let t = Instant::now();
        store.transaction(|db| {
            for (j, c, outgoing, body) in &batch {
                let Some((id, kind, peer, _)) = convs.get(*c) else { continue };
                let sender = if *outgoing {
                    OWN_USER.to_owned()
                } else if *kind == ConversationKind::Group {
                    format!("member-{:02}", j % 7)
                } else {
                    peer.clone()
                };
                let ts = base_ts + *j as i64 * 1000;
                let message_id = format!("bench{j:010}");
                if let Some(message) = db.insert_message(&NewMessage {
                    conversation_id: id,
                    message_id: &message_id,
                    sender_user: &sender,
                    sender_device: Some("BENCHDEVICE"),
                    kind: MessageKind::Text,
                    body,
                    status: if *outgoing { MessageStatus::Sent } else { MessageStatus::Received },
                    reason: None,
                    outgoing: *outgoing,
                    ts,
                    server_ts: Some(ts),
                })? {
                    db.touch_for(&message)?;
                }
            }
            // As the receive path does: the batch's messages go into the search index at once.
            db.index_pending()?;
            Ok(())
        })?;
        inserting += t.elapsed();
        i = end;
        if i >= next_report {
            eprintln!(
                "[search] stored {i}/{} messages ({:.1}s, {:.2} µs/msg inserting)",
                plan.stored,
                started.elapsed().as_secs_f64(),
                inserting.as_secs_f64() * 1e6 / i as f64
            );
            next_report = i + plan.stored / 10;
        }
    }
    let build_secs = started.elapsed().as_secs_f64();
    let build_others = CpuSnap::take().others_since(&c0);
    let count: i64 = store.db().conn().query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
    ensure!(count as usize == plan.stored, "the history holds {count} messages, not {}", plan.stored);
    store.db().conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    // The unencrypted copy, SQLCipher's documented way.
    let t = Instant::now();
    let plain = files.plain.to_str().context("the data directory is not valid UTF-8")?;
    let db = store.db();
    let conn = db.conn();
    conn.execute("ATTACH DATABASE ?1 AS plaintext KEY ''", [plain]).context("attaching the plain copy")?;
    conn.query_row("SELECT sqlcipher_export('plaintext')", [], |_| Ok(())).context("sqlcipher_export")?;
    conn.execute("DETACH DATABASE plaintext", []).context("detaching the plain copy")?;
    let export_secs = t.elapsed().as_secs_f64();
    drop(store);
    let insert_us_per_msg = inserting.as_secs_f64() * 1e6 / plan.stored.max(1) as f64;
    let marker = Marker {
        version: DATA_VERSION,
        stored: plan.stored,
        conversations: plan.conversations,
        seed: SEED,
        build_secs,
        insert_us_per_msg,
        rare_count,
        medium_count,
        others_cpu_pct: build_others,
    };
    std::fs::write(&files.marker, serde_json::to_vec_pretty(&marker)?)?;
    Ok((
        key,
        BuildFigures {
            stored: plan.stored,
            conversations: plan.conversations,
            cached: false,
            build_secs,
            insert_us_per_msg,
            encrypted_mib: mib(&files.db),
            plain_mib: mib(&files.plain),
            export_secs,
            rare_count,
            medium_count,
            others_cpu_pct: build_others,
        },
    ))
}

/// Flush dirty pages and drop the OS page cache; false where that is not allowed.
fn drop_os_caches() -> bool {
    let synced = Command::new("sync").status().is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

/// Run the plain query through the same library; returns the row ids.
fn plain_lib_query(conn: &Connection, fts: &str) -> anyhow::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(SEARCH_SQL)?;
    let rows = stmt
        .query_map(params![fts, LIMIT], |r| {
            // Read every column as Db::search does.
            let id: i64 = r.get(0)?;
            for c in 1..=8 {
                let _: Option<String> = r.get(c)?;
            }
            let _: (i64, i64, Option<i64>) = (r.get(9)?, r.get(10)?, r.get(11)?);
            // The file's columns (all NULL for a text).
            for c in 12..MESSAGE_COLUMN_COUNT {
                let _: rusqlite::types::Value = r.get(c)?;
            }
            let _: (String, String) = (r.get(MESSAGE_COLUMN_COUNT)?, r.get(MESSAGE_COLUMN_COUNT + 1)?);
            Ok(id)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn shell_sql(fts: &str) -> String {
    SEARCH_SQL.replace("?1", &format!("'{}'", fts.replace('\'', "''"))).replace("?2", &LIMIT.to_string())
}

/// Wall time of one `sqlite3` session fed `script`, output discarded.
fn shell_run(sqlite3: &Path, db: &Path, script: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut child = Command::new(sqlite3)
        .arg("-batch")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", sqlite3.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let elapsed = t.elapsed();
    if !out.status.success() || !out.stderr.is_empty() {
        bail!("sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(elapsed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Rows the shell prints for the query (a correctness check of the plain copy).
fn shell_rows(sqlite3: &Path, db: &Path, sql: &str) -> anyhow::Result<usize> {
    let out = Command::new(sqlite3)
        .arg("-batch")
        .arg(db)
        .arg(format!("{sql};"))
        .output()
        .with_context(|| format!("starting {}", sqlite3.display()))?;
    if !out.status.success() {
        bail!("sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().count())
}

/// Per-query warm time in the shell: one session running the query `SHELL_REPEATS` times, minus
/// one that only opens the file; median of three pairs.
fn shell_warm(sqlite3: &Path, db: &Path, sql: &str) -> anyhow::Result<f64> {
    let open_only = "SELECT count(*) FROM sqlite_master;\n".to_owned();
    let mut repeated = open_only.clone();
    for _ in 0..SHELL_REPEATS {
        repeated.push_str(sql);
        repeated.push_str(";\n");
    }
    let mut per_query = Vec::new();
    for _ in 0..3 {
        let base = shell_run(sqlite3, db, &open_only)?;
        let full = shell_run(sqlite3, db, &repeated)?;
        per_query.push((full.as_secs_f64() - base.as_secs_f64()) * 1e6 / SHELL_REPEATS as f64);
    }
    Ok(median(per_query))
}

/// `.timer on` real time (ms) of the query as the first one of a fresh shell.
fn shell_cold(sqlite3: &Path, db: &Path, sql: &str, drop_caches: bool) -> anyhow::Result<f64> {
    let mut samples = Vec::new();
    for _ in 0..3 {
        if drop_caches {
            drop_os_caches();
        }
        let out = Command::new(sqlite3)
            .arg("-batch")
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(format!(".output /dev/null\n.timer on\n{sql};\n").as_bytes())?;
                }
                child.wait_with_output()
            })
            .with_context(|| format!("running {}", sqlite3.display()))?;
        // `.timer` writes to the current output; with `.output /dev/null` it goes to stdout only
        // in some versions, so look in both streams.
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let real = text
            .lines()
            .find_map(|l| l.strip_prefix("Run Time: real "))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|s| s.parse::<f64>().ok());
        match real {
            Some(secs) => samples.push(secs * 1000.0),
            None => bail!("no `.timer` output from sqlite3: {text}"),
        }
    }
    Ok(median(samples))
}

pub fn run(dir: &Path, plan: SearchPlan, sqlite3: Option<&Path>) -> anyhow::Result<SearchResult> {
    let vocab = Vocabulary::new(VOCABULARY, SEED);
    let (key, build) = prepare(dir, plan, &vocab)?;
    let files = Files::new(dir);
    ensure!(build.rare_count == RARE_COUNT.min(plan.stored), "the history has {} rare markers", build.rare_count);
    let cold_os_available = plan.drop_caches && drop_os_caches();
    let sqlite3_version = sqlite3.and_then(|p| {
        Command::new(p).arg("--version").output().ok().map(|o| {
            let v = String::from_utf8_lossy(&o.stdout);
            format!("{} {}", p.display(), v.split_whitespace().next().unwrap_or("?"))
        })
    });
    let c0 = CpuSnap::take();
    let mut store = Store::open(&files.db, &key, OpenMode::Existing)?;
    let sqlcipher_version: String =
        store.db().conn().query_row("PRAGMA cipher_version", [], |r| r.get(0)).unwrap_or_else(|_| "?".into());
    let plain =
        Connection::open_with_flags(&files.plain, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .context("opening the plain copy")?;
    plain.pragma_update(None, "temp_store", "MEMORY")?;
    let mut out = Vec::new();
    for (label, query, target) in queries(&vocab) {
        let fts = fts_query(&query).context("an empty query")?;
        eprintln!("[search] {label}: {query:?}");
        // Prime, and check what it finds.
        let hits = store.db().search(&query, LIMIT)?;
        let words: Vec<&str> = query.split(' ').collect();
        for h in &hits {
            let body_words: Vec<&str> = h.message.body.split(' ').collect();
            let all = words.iter().enumerate().all(|(k, w)| {
                // The last word is a prefix (search as you type).
                if k + 1 == words.len() { body_words.iter().any(|b| b.starts_with(w)) } else { body_words.contains(w) }
            });
            ensure!(all, "a hit for {query:?} does not contain it: {:?}", h.message.body);
        }
        let expected = match label.as_str() {
            l if l.starts_with("rare") => Some(build.rare_count.min(LIMIT as usize)),
            l if l.starts_with("medium") => Some(build.medium_count.min(LIMIT as usize)),
            _ => None,
        };
        if let Some(e) = expected {
            ensure!(hits.len() == e, "{query:?} found {} messages, expected {e}", hits.len());
        }
        ensure!(!hits.is_empty(), "{query:?} found nothing");
        let ids: Vec<i64> = hits.iter().map(|h| h.message.id).collect();
        // The plain copy through the same library must find the same rows (this also primes it).
        ensure!(plain_lib_query(&plain, &fts)? == ids, "the plain copy found different rows for {query:?}");
        // Warm: engine and plain alternate, so a change in machine load affects both alike.
        let mut warm = Vec::with_capacity(WARM_REPEATS);
        let mut plain_warm = Vec::with_capacity(WARM_REPEATS);
        for _ in 0..WARM_REPEATS {
            let t = Instant::now();
            let n = store.db().search(&query, LIMIT)?.len();
            warm.push(t.elapsed());
            ensure!(n == hits.len(), "a repeated search found a different number of messages");
            let t = Instant::now();
            let n = plain_lib_query(&plain, &fts)?.len();
            plain_warm.push(t.elapsed());
            ensure!(n == hits.len(), "a repeated plain search found a different number of messages");
        }
        // Cold: a new connection for each sample.
        let mut opens = Vec::new();
        let mut cold_conn = Vec::new();
        for _ in 0..COLD_REPEATS {
            drop(store);
            let t = Instant::now();
            store = Store::open(&files.db, &key, OpenMode::Existing)?;
            opens.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let n = store.db().search(&query, LIMIT)?.len();
            cold_conn.push(t.elapsed());
            ensure!(n == hits.len(), "a cold search found a different number of messages");
        }
        let cold_os = if cold_os_available {
            let mut samples = Vec::new();
            for _ in 0..COLD_OS_REPEATS {
                drop(store);
                ensure!(drop_os_caches(), "dropping the OS page cache stopped working");
                store = Store::open(&files.db, &key, OpenMode::Existing)?;
                let t = Instant::now();
                let n = store.db().search(&query, LIMIT)?.len();
                samples.push(t.elapsed());
                ensure!(n == hits.len(), "a cold search found a different number of messages");
            }
            Some(Dist::of(&samples))
        } else {
            None
        };
        let (shell_warm_us, shell_cold_ms) = match sqlite3 {
            Some(bin) => {
                let sql = shell_sql(&fts);
                let rows = shell_rows(bin, &files.plain, &sql)?;
                ensure!(rows == hits.len(), "sqlite3 printed {rows} rows for {query:?}, expected {}", hits.len());
                (
                    Some(shell_warm(bin, &files.plain, &sql)?),
                    Some(shell_cold(bin, &files.plain, &sql, cold_os_available)?),
                )
            }
            None => (None, None),
        };
        let warm = Dist::of(&warm);
        let plain_lib_warm = Dist::of(&plain_warm);
        out.push(QueryFigures {
            label,
            target,
            fts,
            hits: hits.len(),
            ratio_vs_plain_lib: warm.p50_us / plain_lib_warm.p50_us,
            ratio_vs_plain_shell: shell_warm_us.map(|s| warm.p50_us / s),
            warm,
            cold_connection: Dist::of(&cold_conn),
            cold_os,
            open_ms: median(opens),
            plain_lib_warm,
            plain_shell_warm_us: shell_warm_us,
            plain_shell_cold_ms: shell_cold_ms,
            query,
        });
    }
    let c1 = CpuSnap::take();
    Ok(SearchResult {
        build,
        queries: out,
        cold_os_available,
        sqlite3_shell: sqlite3_version,
        sqlcipher_version,
        others_cpu_pct: c1.others_since(&c0),
    })
}
