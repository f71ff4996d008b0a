//! The backup benchmark (see `src/bin/backup.rs`).
//!
//! Setup: the real `sotto-server` on loopback and a real profile (passphrase-protected, no
//! keychain) whose history is built through the engine's real paths: a group conversation
//! encrypted by a real sender (`bench_prepare_group_send`) and stored by the receive path
//! (`bench_receive`), plus three one-to-one conversations sent over the server. The profile is
//! measured empty first (what the fixed costs are: two key derivations, opening, signing in),
//! then grown to each size in `--messages`.
//!
//! Measured, with the real `sotto` binary in a process of its own (see [`child`]): `sotto backup
//! export` of the profile and `sotto backup import` of that file into a new profile directory (a
//! restore that signs in to the same account): wall time, CPU time and peak resident set of that
//! process, and the file's size. Every restored profile is opened and its whole history compared
//! with the original's (count and a hash of every message); the bench fails on any difference.

#[path = "../binaries.rs"]
mod binaries;
mod child;
#[path = "../group_history.rs"]
mod group_history;
mod profile;
// Shared with the engine bench, which uses all of it.
#[allow(dead_code)]
#[path = "../server_process.rs"]
mod server_process;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use serde::Serialize;

use binaries::sibling;
use child::Measured;
use profile::{Digest, EMPTY_USER, History, OWN_USER, PASSPHRASE, PASSWORD};

const BACKUP_PASSPHRASE: &str = "bench backup passphrase, long enough";

#[derive(Parser)]
#[command(about = "Time and peak memory of `sotto backup export` and `sotto backup import` by history size")]
struct Args {
    /// History sizes measured, in messages (the same profile grows from one to the next).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
    messages: Vec<usize>,
    /// Exports and imports timed per size.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// The `sotto` binary (default: next to this executable).
    #[arg(long)]
    cli_bin: Option<PathBuf>,
    /// The server binary (default: `sotto-server` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the profiles and backup files go (default: the system's temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// A smoke run: 1,000 messages, one export and one import per size.
    #[arg(long)]
    quick: bool,
}

/// A profile to back up, and its account.
struct Source {
    dir: PathBuf,
    user: &'static str,
}

/// One measured command, without its samples.
#[derive(Debug, Clone, Serialize)]
struct Run {
    wall_ms: f64,
    user_ms: f64,
    sys_ms: f64,
    peak_rss_kib: u64,
    /// The highest sampled resident set after the last key derivation was freed.
    peak_after_kdf_kib: u64,
    /// When the last key derivation's buffer was freed, ms after the start.
    kdf_done_ms: Option<f64>,
    /// The resident set after the key derivations, by tenths of the remaining time (KiB).
    rss_after_kdf_kib: Vec<u64>,
}

impl Run {
    fn of(m: &Measured) -> Run {
        Run {
            wall_ms: m.wall_ms,
            user_ms: m.user_ms,
            sys_ms: m.sys_ms,
            peak_rss_kib: m.peak_rss_kib,
            peak_after_kdf_kib: m.peak_after_kdf_kib(),
            kdf_done_ms: m.kdf_done_ms(),
            rss_after_kdf_kib: m.profile_after_kdf_kib(10),
        }
    }
}

/// Everything measured at one history size.
#[derive(Debug, Clone, Serialize)]
struct Step {
    messages: usize,
    /// Records in the file (every row of every table) and its size.
    records: u64,
    file_bytes: u64,
    digest: Digest,
    setup_secs: f64,
    exports: Vec<Run>,
    imports: Vec<Run>,
}

#[derive(Debug, Serialize)]
struct Summary {
    bench: &'static str,
    cli: String,
    repeats: usize,
    steps: Vec<Step>,
}

#[derive(serde::Deserialize)]
struct ExportOutput {
    records: u64,
    messages: u64,
    bytes: u64,
}

pub fn main() -> anyhow::Result<ExitCode> {
    // The measuring wrapper: this same executable, started by the bench for each command.
    let raw: Vec<OsString> = std::env::args_os().collect();
    if raw.get(1).is_some_and(|a| a == "--measure") {
        let (Some(report), Some(dashes)) = (raw.get(2), raw.get(3)) else { bail!("usage: --measure REPORT -- CMD…") };
        ensure!(dashes == "--", "usage: --measure REPORT -- CMD…");
        return child::wrapper_main(Path::new(report), raw.get(4..).unwrap_or_default());
    }
    let mut args = Args::parse();
    if args.quick {
        args.messages = vec![1_000];
        args.repeats = 1;
    }
    args.messages.sort_unstable();
    args.messages.dedup();
    ensure!(args.repeats >= 1, "--repeats must be at least 1");
    ensure!(
        args.messages.first().is_some_and(|&n| n > profile::DIRECT_TOTAL + 10),
        "every size must be above {} messages (the one-to-one conversations)",
        profile::DIRECT_TOTAL + 10
    );
    let cli = sibling("sotto", args.cli_bin.as_deref())?;
    let server = server_process::locate(args.server_bin.as_deref())?;
    let rt = tokio::runtime::Runtime::new()?;
    let summary = rt.block_on(run(&args, &cli, &server))?;
    print_report(&summary);
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

async fn run(args: &Args, cli: &Path, server_bin: &Path) -> anyhow::Result<Summary> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("sotto-backup-bench-");
    let work = match &args.work_dir {
        Some(p) => builder.tempdir_in(p),
        None => builder.tempdir(),
    }?;
    let mut server = server_process::start(server_bin, None).await?;
    let started = Instant::now();
    // An empty profile first (another account): the fixed costs.
    let empty = Source { dir: profile::empty(server.url(), work.path()).await?, user: EMPTY_USER };
    let mut steps = vec![measure(cli, server.url(), &empty, work.path(), 0, args.repeats, started).await?];
    let mut history = History::new(server.url(), work.path()).await?;
    for &n in &args.messages {
        let setup = Instant::now();
        eprintln!("[setup] growing the history to {n} messages");
        history.grow_to(n).await?;
        server.check_alive()?;
        let source = Source { dir: history.dir.clone(), user: OWN_USER };
        steps.push(measure(cli, server.url(), &source, work.path(), n, args.repeats, setup).await?);
    }
    history.shutdown();
    server.check_alive()?;
    server.kill9();
    Ok(Summary { bench: "backup", cli: cli.display().to_string(), repeats: args.repeats, steps })
}

/// Export the profile `repeats` times, then import the first file `repeats` times, each into a
/// new directory, and check every restored history against the original.
async fn measure(
    cli: &Path,
    server: &str,
    source: &Source,
    work: &Path,
    n: usize,
    repeats: usize,
    setup_started: Instant,
) -> anyhow::Result<Step> {
    let digest = profile::digest_of(&source.dir)?;
    ensure!(digest.messages == n, "the profile has {} messages, not {n}", digest.messages);
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let cli_os = cli.as_os_str().to_owned();
    let (mut exports, mut imports) = (Vec::new(), Vec::new());
    let mut first: Option<(PathBuf, ExportOutput)> = None;
    for r in 0..repeats {
        let file = work.join(format!("backup-{n}-{r}.sotto"));
        let command: Vec<OsString> = vec![
            cli_os.clone(),
            "--profile".into(),
            source.dir.clone().into(),
            "--passphrase-stdin".into(),
            "backup".into(),
            "export".into(),
            file.clone().into(),
            "--backup-passphrase-stdin".into(),
        ];
        let stdin = format!("{PASSPHRASE}\n{BACKUP_PASSPHRASE}\n");
        let (measured, stdout) = blocking(command, stdin, work, format!("export-{n}-{r}")).await?;
        let out: ExportOutput = serde_json::from_str(&stdout).context("reading the export's summary")?;
        ensure!(out.messages == n as u64, "the export wrote {} messages, not {n}", out.messages);
        ensure!(std::fs::metadata(&file)?.len() == out.bytes, "the file's size is not what the export reported");
        eprintln!(
            "[export] {n} messages: {:.0} ms, peak RSS {:.1} MiB ({:.1} MiB after the key derivation), {:.1} MiB file",
            measured.wall_ms,
            mib(measured.peak_rss_kib),
            mib(measured.peak_after_kdf_kib()),
            out.bytes as f64 / 1_048_576.0
        );
        exports.push(Run::of(&measured));
        match first {
            None => first = Some((file, out)),
            Some(_) => std::fs::remove_file(&file)?,
        }
    }
    let (file, out) = first.context("no export")?;
    for r in 0..repeats {
        let dir = work.join(format!("restored-{n}-{r}"));
        let command: Vec<OsString> = vec![
            cli_os.clone(),
            "--profile".into(),
            dir.clone().into(),
            "--server".into(),
            server.into(),
            "--passphrase-stdin".into(),
            "backup".into(),
            "import".into(),
            file.clone().into(),
            source.user.into(),
            "--password-stdin".into(),
            "--backup-passphrase-stdin".into(),
            "--no-keychain".into(),
        ];
        let stdin = format!("{PASSWORD}\n{BACKUP_PASSPHRASE}\n{PASSPHRASE}\n");
        let (measured, _) = blocking(command, stdin, work, format!("import-{n}-{r}")).await?;
        let restored = profile::digest_of(&dir)?;
        if restored != digest {
            bail!("the restored profile differs from the original: {restored:?}, expected {digest:?}");
        }
        eprintln!(
            "[import] {n} messages: {:.0} ms, peak RSS {:.1} MiB ({:.1} MiB after the key derivations); all {} messages restored",
            measured.wall_ms,
            mib(measured.peak_rss_kib),
            mib(measured.peak_after_kdf_kib()),
            restored.messages
        );
        imports.push(Run::of(&measured));
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::remove_file(&file)?;
    Ok(Step { messages: n, records: out.records, file_bytes: out.bytes, digest, setup_secs, exports, imports })
}

async fn blocking(
    command: Vec<OsString>,
    stdin: String,
    work: &Path,
    name: String,
) -> anyhow::Result<(Measured, String)> {
    let work = work.to_owned();
    tokio::task::spawn_blocking(move || child::run(&command, &stdin, &work, &name)).await?
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max_kib(runs: &[Run], f: impl Fn(&Run) -> u64) -> u64 {
    runs.iter().map(f).max().unwrap_or(0)
}

fn print_report(s: &Summary) {
    println!(
        "Backup export and import through `sotto` ({}), one process per command, {} run(s) each",
        s.cli, s.repeats
    );
    println!(
        "  {:>9} {:>10} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} {:>9}",
        "messages",
        "file MiB",
        "export ms",
        "msg/s",
        "peak MiB",
        "after KDF",
        "import ms",
        "msg/s",
        "peak MiB",
        "after KDF"
    );
    let empty = s.steps.first().map(|e| {
        (
            median(&e.exports.iter().map(|r| r.wall_ms).collect::<Vec<_>>()),
            median(&e.imports.iter().map(|r| r.wall_ms).collect::<Vec<_>>()),
        )
    });
    for step in &s.steps {
        let export_ms = median(&step.exports.iter().map(|r| r.wall_ms).collect::<Vec<_>>());
        let import_ms = median(&step.imports.iter().map(|r| r.wall_ms).collect::<Vec<_>>());
        let rate = |ms: f64| if step.messages == 0 { 0.0 } else { step.messages as f64 * 1000.0 / ms };
        println!(
            "  {:>9} {:>10.2} | {:>9.0} {:>9.0} {:>9.1} {:>9.1} | {:>9.0} {:>9.0} {:>9.1} {:>9.1}",
            step.messages,
            step.file_bytes as f64 / 1_048_576.0,
            export_ms,
            rate(export_ms),
            mib(max_kib(&step.exports, |r| r.peak_rss_kib)),
            mib(max_kib(&step.exports, |r| r.peak_after_kdf_kib)),
            import_ms,
            rate(import_ms),
            mib(max_kib(&step.imports, |r| r.peak_rss_kib)),
            mib(max_kib(&step.imports, |r| r.peak_after_kdf_kib)),
        );
        if let (Some((e0, i0)), true) = (empty, step.messages > 0) {
            // Below the run-to-run noise of a small history the difference means nothing.
            let beyond = |ms: f64| match ms > 50.0 {
                true => format!("{ms:.0} ms ({:.0} msg/s)", step.messages as f64 * 1000.0 / ms),
                false => format!("{ms:.0} ms (within the noise)"),
            };
            println!(
                "  {:>9} {:>10} | beyond the empty profile: export {}, import {}",
                "",
                "",
                beyond(export_ms - e0),
                beyond(import_ms - i0)
            );
        }
    }
    for step in s.steps.iter().filter(|st| st.messages > 0) {
        for (what, runs) in [("export", &step.exports), ("import", &step.imports)] {
            if let Some(run) = runs.first() {
                // A slice without a sample (a short phase) shows as "-".
                let tenths: Vec<String> = run
                    .rss_after_kdf_kib
                    .iter()
                    .map(|&k| if k == 0 { "-".to_owned() } else { format!("{:.0}", mib(k)) })
                    .collect();
                println!(
                    "  {what} of {} messages, RSS after the key derivations by tenths of the time (MiB): {}",
                    step.messages,
                    tenths.join(" ")
                );
            }
        }
    }
    if let (Some(small), Some(big)) = (s.steps.get(1), s.steps.last())
        && big.messages > small.messages
    {
        let grow = |f: &dyn Fn(&Step) -> u64| mib(f(big)) - mib(f(small));
        println!(
            "  memory after the key derivations, {} → {} messages ({:.0}× the history): export {:+.1} MiB, import {:+.1} MiB",
            small.messages,
            big.messages,
            big.messages as f64 / small.messages as f64,
            grow(&|st| max_kib(&st.exports, |r| r.peak_after_kdf_kib)),
            grow(&|st| max_kib(&st.imports, |r| r.peak_after_kdf_kib)),
        );
    }
    println!("  every restored profile held exactly the original's messages (count and content)");
}
