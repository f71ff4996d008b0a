//! The engine benchmark: settings, the three steps, and the report.

mod paths;
mod search;
// Shared with `sotto-bench`, which uses all of it.
#[allow(dead_code)]
#[path = "../server_process.rs"]
mod server_process;
mod stats;
mod words;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use serde::Serialize;

use self::paths::PathsResult;
use self::search::{SearchPlan, SearchResult};
use self::stats::Dist;

/// Target: the send path costs at most this many times a raw Megolm encrypt.
const SEND_RATIO_TARGET: f64 = 1.5;
/// Target: messages received per second on one core.
const RECEIVE_RATE_TARGET: f64 = 10_000.0;
/// Target: a warm search takes at most this long (median).
const SEARCH_WARM_TARGET_MS: f64 = 10.0;
/// Target: a warm search costs at most this many times the same query on a plain copy.
const SEARCH_RATIO_TARGET: f64 = 1.5;

/// Measures the client engine (sotto-core) on one core: the local send path against raw Megolm
/// encryption, the receive path against raw Megolm decryption, and full-text search over a large
/// encrypted history against the same query on an unencrypted copy.
///
/// Build first: `cargo build --release -p sotto-server -p sotto-bench`, then run
/// `target/release/sotto-engine-bench` (it finds `sotto-server` next to itself).
#[derive(Debug, Parser)]
#[command(name = "sotto-engine-bench", version, about, long_about = None)]
struct Args {
    /// Messages sent and received in steps 1 and 2 (a multiple of 10) [default: 20000; --quick: 2000].
    #[arg(long)]
    messages: Option<usize>,
    /// Messages in the searched history [default: 1000000; --quick: 50000].
    #[arg(long)]
    stored: Option<usize>,
    /// Conversations the searched history is spread over.
    #[arg(long, default_value_t = 100)]
    conversations: usize,
    /// Directory for the run's files. The searched history (and its plain copy) is kept here in
    /// `search-<stored>/` and reused by later runs [default: a temporary directory, removed].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Build the searched history again even if `--data-dir` holds one.
    #[arg(long)]
    rebuild: bool,
    /// Do not drop the OS page cache (`/proc/sys/vm/drop_caches`) for the cold searches.
    #[arg(long)]
    no_drop_caches: bool,
    /// The sotto-server binary [default: next to this executable].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The sqlite3 shell for the plain baseline; "none" skips it.
    #[arg(long, default_value = "/usr/bin/sqlite3")]
    sqlite3: String,
    /// Skip steps 1 and 2 (no server needed).
    #[arg(long)]
    skip_paths: bool,
    /// Skip step 3.
    #[arg(long)]
    skip_search: bool,
    /// Small numbers for a smoke run: 2,000 messages sent and received, 50,000 stored.
    #[arg(long)]
    quick: bool,
}

#[derive(Debug, Serialize)]
struct Summary {
    bench: &'static str,
    build: &'static str,
    cores: usize,
    background_cpu_pct: Option<f64>,
    paths: Option<PathsResult>,
    search: Option<SearchResult>,
    targets: Vec<Target>,
}

#[derive(Debug, Clone, Serialize)]
struct Target {
    name: String,
    value: f64,
    limit: String,
    met: bool,
}

fn build_kind() -> &'static str {
    if cfg!(debug_assertions) { "debug" } else { "release" }
}

pub fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let q = args.quick;
    let messages = args.messages.unwrap_or(if q { 2_000 } else { 20_000 });
    let stored = args.stored.unwrap_or(if q { 50_000 } else { 1_000_000 });
    if messages < 10 || !messages.is_multiple_of(10) {
        bail!("--messages must be a positive multiple of 10 (got {messages})");
    }
    if stored < 1000 || args.conversations == 0 {
        bail!("--stored must be at least 1000 and --conversations at least 1");
    }
    let server_bin = if args.skip_paths { None } else { Some(server_process::locate(args.server_bin.as_deref())?) };
    let sqlite3 = match args.sqlite3.as_str() {
        "none" => None,
        p => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                bail!("{} not found; pass --sqlite3 PATH or --sqlite3 none", p.display());
            }
            Some(p)
        }
    };
    let (_temp, work) = match &args.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (None, d.clone())
        }
        None => {
            let t = tempfile::Builder::new().prefix("sotto-engine-bench-").tempdir()?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    eprintln!("sotto-engine-bench ({} build), {cores} core(s), files in {}", build_kind(), work.display());
    let background = stats::background_load(Duration::from_secs(1));
    if let Some(b) = background
        && b > 20.0
    {
        eprintln!("warning: other processes use {b:.0}% of a core right now; the figures will be disturbed");
    }
    let mut summary = Summary {
        bench: "sotto-engine-bench",
        build: build_kind(),
        cores,
        background_cpu_pct: background,
        paths: None,
        search: None,
        targets: Vec::new(),
    };
    if let Some(bin) = server_bin {
        // One thread: the figures are per core.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let result = runtime.block_on(async {
            let run_dir = tempfile::Builder::new().prefix("paths-").tempdir_in(&work)?;
            eprintln!("[paths] starting {}", bin.display());
            let mut server = server_process::start(&bin, Some(run_dir.path())).await?;
            let result = paths::run(&mut server, run_dir.path(), messages).await;
            server.kill9();
            result
        });
        summary.paths = Some(result.context("steps 1 and 2 (send and receive paths)")?);
    }
    if !args.skip_search {
        let plan = SearchPlan {
            stored,
            conversations: args.conversations,
            rebuild: args.rebuild,
            drop_caches: !args.no_drop_caches,
        };
        let dir = work.join(format!("search-{stored}"));
        summary.search = Some(search::run(&dir, plan, sqlite3.as_deref()).context("step 3 (search)")?);
    }
    summary.targets = targets(&summary);
    print_report(&summary);
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn targets(s: &Summary) -> Vec<Target> {
    let mut t = Vec::new();
    if let Some(p) = &s.paths {
        t.push(Target {
            name: "send path / raw Megolm encrypt".into(),
            value: p.send.ratio,
            limit: format!("<= {SEND_RATIO_TARGET}x"),
            met: p.send.ratio <= SEND_RATIO_TARGET,
        });
        t.push(Target {
            name: "receive messages/s (one core)".into(),
            value: p.receive.engine.msgs_per_s,
            limit: format!(">= {RECEIVE_RATE_TARGET}"),
            met: p.receive.engine.msgs_per_s >= RECEIVE_RATE_TARGET,
        });
    }
    if let Some(sr) = &s.search {
        for q in sr.queries.iter().filter(|q| q.target) {
            let ms = q.warm.p50_us / 1000.0;
            t.push(Target {
                name: format!("search warm p50 ms: {}", q.label),
                value: ms,
                limit: format!("<= {SEARCH_WARM_TARGET_MS}"),
                met: ms <= SEARCH_WARM_TARGET_MS,
            });
            if let Some(r) = q.ratio_vs_plain_shell {
                t.push(Target {
                    name: format!("search / plain (sqlite3 shell): {}", q.label),
                    value: r,
                    limit: format!("<= {SEARCH_RATIO_TARGET}x"),
                    met: r <= SEARCH_RATIO_TARGET,
                });
            }
            t.push(Target {
                name: format!("search / plain (same library): {}", q.label),
                value: q.ratio_vs_plain_lib,
                limit: format!("<= {SEARCH_RATIO_TARGET}x"),
                met: q.ratio_vs_plain_lib <= SEARCH_RATIO_TARGET,
            });
        }
    }
    t
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.0}%"))
}

fn dist_row(label: &str, per_msg: f64, rate: f64, d: &Dist) -> String {
    format!("  {label:<44} {per_msg:>9.2} {rate:>11.0} {:>9.1} {:>9.1} {:>9.1}", d.p50_us, d.p99_us, d.max_us)
}

fn print_report(s: &Summary) {
    println!();
    println!(
        "sotto-engine-bench: {} build, {} core(s); other processes used {} of a core before the run",
        s.build,
        s.cores,
        pct(s.background_cpu_pct)
    );
    if let Some(p) = &s.paths {
        let n = p.send.messages;
        println!();
        println!(
            "1. Send path: {n} group messages of {} bytes, one per call (setup {:.1}s)",
            paths::BODY_BYTES,
            p.setup_secs
        );
        println!("  {:<44} {:>9} {:>11} {:>9} {:>9} {:>9}", "", "µs/msg", "msgs/s", "p50 µs", "p99 µs", "max µs");
        println!(
            "{}",
            dist_row(
                "engine: bench_prepare_group_send",
                p.send.engine.us_per_msg,
                p.send.engine.msgs_per_s,
                &p.send.engine.per_call
            )
        );
        println!(
            "{}",
            dist_row(
                "raw: megolm::GroupSession::encrypt",
                p.send.raw.us_per_msg,
                p.send.raw.msgs_per_s,
                &p.send.raw.per_call
            )
        );
        if let Some(pk) = &p.send.raw_with_pickle {
            println!(
                "{}",
                dist_row("info: raw + unpickle/pickle (no database)", pk.us_per_msg, pk.msgs_per_s, &pk.per_call)
            );
        }
        println!(
            "  ratio engine/raw: {:.2}x (target <= {SEND_RATIO_TARGET}x: {}); ciphertext {:.0} B (engine envelope) vs {:.0} B (raw base64)",
            p.send.ratio,
            met(p.send.ratio <= SEND_RATIO_TARGET),
            p.send.engine.ciphertext_bytes,
            p.send.raw.ciphertext_bytes
        );
        println!(
            "  CPU during the step: this process {}, other processes {} of a core",
            pct(p.send.own_cpu_pct),
            pct(p.send.others_cpu_pct)
        );
        println!();
        println!(
            "2. Receive path: {n} group messages, bench_receive in batches of {} (current_thread runtime)",
            paths::RECEIVE_BATCH
        );
        println!("  {:<44} {:>9} {:>11} {:>9} {:>9} {:>9}", "", "µs/msg", "msgs/s", "p50 µs", "p99 µs", "max µs");
        println!(
            "{}",
            dist_row(
                "engine: bench_receive (per-call = batch)",
                p.receive.engine.us_per_msg,
                p.receive.engine.msgs_per_s,
                &p.receive.engine.per_call
            )
        );
        println!(
            "{}",
            dist_row(
                "raw: InboundGroupSession::decrypt",
                p.receive.raw.us_per_msg,
                p.receive.raw.msgs_per_s,
                &p.receive.raw.per_call
            )
        );
        println!(
            "  engine {:.0} msgs/s (target >= {RECEIVE_RATE_TARGET:.0}: {}); ratio engine/raw {:.2}x; all {n} received and checked",
            p.receive.engine.msgs_per_s,
            met(p.receive.engine.msgs_per_s >= RECEIVE_RATE_TARGET),
            p.receive.ratio
        );
        println!(
            "  CPU during the step: this process {}, other processes {} of a core",
            pct(p.receive.own_cpu_pct),
            pct(p.receive.others_cpu_pct)
        );
    }
    if let Some(sr) = &s.search {
        let b = &sr.build;
        println!();
        println!(
            "3. Search: {} messages in {} conversations (SQLCipher {}), LIMIT 50, newest first",
            b.stored, b.conversations, sr.sqlcipher_version
        );
        println!(
            "  history {}: {:.1}s, {:.2} µs/msg through Db::insert_message with FTS5 triggers; {:.0} MiB encrypted, {:.0} MiB plain copy{}",
            if b.cached { "reused from --data-dir (built earlier)" } else { "built" },
            b.build_secs,
            b.insert_us_per_msg,
            b.encrypted_mib,
            b.plain_mib,
            if b.cached { String::new() } else { format!(" (sqlcipher_export {:.1}s)", b.export_secs) }
        );
        println!(
            "  (other processes used {} of a core during the build); {} messages hold the rare word, {} the medium word",
            pct(b.others_cpu_pct),
            b.rare_count,
            b.medium_count
        );
        println!(
            "  cold-os = {}",
            if sr.cold_os_available {
                "first query on a new connection after sync + echo 3 > /proc/sys/vm/drop_caches (3 samples)"
            } else {
                "not measured (drop_caches unavailable, or --no-drop-caches)"
            }
        );
        println!(
            "  {:<20} {:>4} | {:>8} {:>8} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>9} | {:>6} {:>6}",
            "query",
            "hits",
            "warm p50",
            "warm p95",
            "cold-conn",
            "cold-os",
            "open",
            "plain lib",
            "sqlite3",
            "sqlite3",
            "x lib",
            "x sh"
        );
        println!(
            "  {:<20} {:>4} | {:>8} {:>8} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>9} | {:>6} {:>6}",
            "", "", "ms", "ms", "p50 ms", "p50 ms", "ms", "p50 ms", "warm ms", "cold ms", "", ""
        );
        for q in &sr.queries {
            let opt = |v: Option<f64>, prec: usize| v.map_or("n/a".to_owned(), |v| format!("{v:.prec$}"));
            println!(
                "  {:<20} {:>4} | {:>8.3} {:>8.3} | {:>9.3} {:>9} {:>7.2} | {:>9.3} {:>9} {:>9} | {:>5.2}x {:>6}",
                q.label,
                q.hits,
                q.warm.p50_us / 1000.0,
                q.warm.p95_us / 1000.0,
                q.cold_connection.p50_us / 1000.0,
                opt(q.cold_os.map(|d| d.p50_us / 1000.0), 3),
                q.open_ms,
                q.plain_lib_warm.p50_us / 1000.0,
                opt(q.plain_shell_warm_us.map(|u| u / 1000.0), 3),
                opt(q.plain_shell_cold_ms, 0),
                q.ratio_vs_plain_lib,
                q.ratio_vs_plain_shell.map_or("n/a".to_owned(), |r| format!("{r:.2}x")),
            );
        }
        for q in &sr.queries {
            println!(
                "    {:<20} typed {:?} -> MATCH {}{}",
                q.label,
                q.query,
                q.fts,
                if q.target { "" } else { "  (for information; not a target)" }
            );
        }
        println!(
            "  warm: {} repeats on the open store, alternating with plain lib; cold-conn: first query on a new connection (open excluded, shown as \"open\"), 5 samples;",
            20
        );
        println!("  plain lib: the same SQL on the sqlcipher_export'ed plain copy through the same library (no key);");
        println!(
            "  sqlite3 warm: ({} session running it 200x − session that only opens) / 200, median of 3; sqlite3 cold: `.timer on` real (1 ms resolution) in a fresh process{}",
            sr.sqlite3_shell.as_deref().unwrap_or("no sqlite3"),
            if sr.cold_os_available { " after drop_caches" } else { "" }
        );
        println!("  CPU during the step: other processes {} of a core", pct(sr.others_cpu_pct));
    }
    println!();
    println!("Targets:");
    for t in &s.targets {
        println!("  {:<58} {:>10.3}  {:<10} {}", t.name, t.value, t.limit, met(t.met));
    }
    println!();
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
