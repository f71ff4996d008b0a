//! The file transfer benchmark (see `src/bin/files.rs`).
//!
//! Setup: the real `sotto-server` on loopback, two engines (`sotto-core`) with real profiles, and
//! a file of `--mib` MiB written once (its pages then sit in the page cache for every step, as
//! they do for `cp`).
//!
//! Measured, one after the other:
//! - `cp`: `std::fs::copy` of the file (the floor for moving the bytes once on this disk).
//! - Loopback copy: the file over a plain TCP connection on 127.0.0.1 into a new file, synced
//!   (the floor for moving the bytes once through the network stack).
//! - AEAD: the file encrypted by `sotto_core::attachment::encrypt` into nothing (read, encrypt,
//!   hash; no network, no disk write).
//! - Upload: `Client::upload_file` (a thread reads and encrypts into 4 MiB parts while the
//!   previous part is sent; the server writes and syncs each part).
//! - Download: `Client::download_file` (received and hashed while a thread decrypts into a
//!   temporary file beside the destination, moved there once checked).
//! - The same file as a message, the way the app and the CLI send it: `Client::send_file`
//!   (encrypt into the sender's profile, upload that ciphertext, send the message), then on the
//!   other side `Client::download` (fetch into the profile, size and hash checked as it arrives)
//!   and `Client::save_file` (decrypt into the destination).
//! - Peak resident memory (`VmHWM`, reset once the setup is done) of this process — the client
//!   engines — and of the server, over the steps above.
//!
//! The received file is compared with the original (SHA-256 of both); the bench fails on any
//! difference.

#[path = "../server_process.rs"]
#[allow(dead_code)]
mod server_process;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Parser;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use sotto_core::progress::{CancellationToken, Progress};
use sotto_core::{Client, KeyOptions, SignIn};

const PASSWORD: &str = "files bench password";
const PASSPHRASE: &str = "files bench profile passphrase";

#[derive(Parser)]
#[command(about = "A large file up and down through the real server, beside cp and raw AEAD")]
struct Args {
    /// The file's size, in MiB.
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// The server binary (default: `sotto-server` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the profiles and files go (default: the system's temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// A smoke run: 64 MiB.
    #[arg(long)]
    quick: bool,
}

#[derive(Debug, Serialize)]
struct Step {
    secs: f64,
    mib_per_s: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    mib: u64,
    cp: Step,
    /// The file over a plain TCP connection on loopback into a new file, synced: moving the
    /// bytes through the network stack once, with nothing else done to them.
    loopback: Step,
    aead: Step,
    upload: Step,
    download: Step,
    /// The message path: send (encrypt into the profile, upload, send the message).
    send_message: Step,
    /// The message path: fetch into the recipient's profile.
    fetch: Step,
    /// The message path: decrypt the kept file to its destination.
    save: Step,
    /// Upload then download, against `cp` (target ≥ 0.5 each way).
    upload_vs_cp: f64,
    download_vs_cp: f64,
    /// Upload then download, against the plain loopback copy.
    upload_vs_loopback: f64,
    download_vs_loopback: f64,
    client_peak_rss_mib: f64,
    server_peak_rss_mib: f64,
}

pub fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

fn step(mib: u64, started: Instant) -> Step {
    let secs = started.elapsed().as_secs_f64();
    Step { secs, mib_per_s: if secs > 0.0 { mib as f64 / secs } else { 0.0 } }
}

/// `VmHWM` of `pid` (or this process), in MiB.
fn peak_mib(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = pid.map_or_else(|| "/proc/self/status".to_owned(), |p| format!("/proc/{p}/status"));
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no VmHWM in {path}"))?;
    Ok(kib / 1024.0)
}

/// Reset the peak resident memory of `pid` (or this process) to what it uses now (Linux
/// `clear_refs` 5), so the peak covers the transfer, not the setup (profile passphrase
/// derivations allocate tens of MiB).
fn reset_peak(pid: Option<u32>) -> anyhow::Result<()> {
    let path = pid.map_or_else(|| "/proc/self/clear_refs".to_owned(), |p| format!("/proc/{p}/clear_refs"));
    std::fs::write(&path, "5").with_context(|| format!("resetting the peak memory through {path}"))
}

/// A file of `mib` MiB whose every block differs, written in 1 MiB pieces (flat memory).
fn write_file(path: &Path, mib: u64) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1024 * 1024];
    for i in 0..mib {
        for (j, chunk) in block.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&(i * 131_072 + j as u64).to_le_bytes());
        }
        out.write_all(&block)?;
    }
    out.flush()?;
    Ok(())
}

fn sha256_of(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hash.finalize().to_vec())
}

/// `from` sent over a TCP connection on 127.0.0.1 and written to `to` (synced), 1 MiB at a time.
async fn loopback_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let to = to.to_owned();
    let receiving = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        let mut file = tokio::fs::File::create(&to).await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            file.write_all(buf.get(..n).unwrap_or_default()).await?;
        }
        file.sync_all().await?;
        anyhow::Ok(())
    });
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    let mut file = tokio::fs::File::open(from).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        socket.write_all(buf.get(..n).unwrap_or_default()).await?;
    }
    socket.shutdown().await?;
    receiving.await??;
    Ok(())
}

async fn profile(dir: &Path, server: &str, user: &str) -> anyhow::Result<Client> {
    let sign_in = SignIn {
        server,
        trust: sotto_core::ServerTrust::System,
        user_id: user,
        password: PASSWORD,
        device_name: Some("files-bench"),
    };
    let keys = KeyOptions { no_keychain: true, passphrase: Some(PASSPHRASE.to_owned()) };
    Client::register(&dir.join(user), sign_in, keys).await.with_context(|| format!("registering {user}"))
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mib = if args.quick { 64 } else { args.mib.max(1) };
    let bin = server_process::locate(args.server_bin.as_deref())?;
    let work = match &args.work_dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    // The server as deployed, except that this file may be larger than its default limit
    // (100 MiB a file, 2 GiB an account).
    let limit = (sotto_core::attachment::encrypted_size(mib * 1024 * 1024) * 2).to_string();
    let mut launch = sotto_testkit::Launch::new()
        .binary(&bin)
        .no_rate_limit()
        .args(["--max-blob-bytes", &limit, "--blob-quota-bytes", &limit])
        .rust_log(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()));
    if let Some(parent) = args.work_dir.as_deref() {
        launch = launch.temp_in(parent);
    }
    let server = launch.try_start().await?;
    let alice = profile(work.path(), server.url(), "alice").await?;
    let bob = profile(work.path(), server.url(), "bob").await?;
    let original = work.path().join("original.bin");
    write_file(&original, mib)?;
    reset_peak(None)?;
    reset_peak(server.pid())?;

    let started = Instant::now();
    std::fs::copy(&original, work.path().join("copy.bin"))?;
    let cp = step(mib, started);
    std::fs::remove_file(work.path().join("copy.bin"))?;

    let started = Instant::now();
    loopback_copy(&original, &work.path().join("loopback.bin")).await?;
    let loopback = step(mib, started);
    ensure!(sha256_of(&work.path().join("loopback.bin"))? == sha256_of(&original)?, "the loopback copy differs");
    std::fs::remove_file(work.path().join("loopback.bin"))?;

    let started = Instant::now();
    let input = std::io::BufReader::new(std::fs::File::open(&original)?);
    sotto_core::attachment::encrypt(input, std::io::sink(), |_| {})?;
    let aead = step(mib, started);

    let (progress, cancel) = (Progress::unobserved(), CancellationToken::new());
    let started = Instant::now();
    let sent = alice.upload_file(&original, &[bob.user_id().clone()], &progress, &cancel).await?;
    let upload = step(mib, started);

    let received = work.path().join("received.bin");
    let started = Instant::now();
    bob.download_file(&sent.blob_id, &sent.key, &received, &progress, &cancel).await?;
    let download = step(mib, started);
    ensure!(sha256_of(&received)? == sha256_of(&original)?, "the received file differs from the original");
    std::fs::remove_file(&received)?;

    bob.set_auto_download_limit(0)?;
    let started = Instant::now();
    let message = alice.send_file(bob.user_id(), &original, "").await?;
    let send_message = step(mib, started);
    ensure!(message.status == sotto_core::MessageStatus::Sent, "the file message was not sent: {message:?}");
    bob.sync().await?;
    let got = bob.message_by_id(&message.message_id)?.context("the file message did not arrive")?;
    let started = Instant::now();
    bob.download(got.id).await?;
    let fetch = step(mib, started);
    let saved = work.path().join("saved.bin");
    let started = Instant::now();
    bob.save_file(got.id, &saved).await?;
    let save = step(mib, started);
    ensure!(sha256_of(&saved)? == sha256_of(&original)?, "the saved file differs from the original");

    let report = Report {
        mib,
        upload_vs_cp: upload.mib_per_s / cp.mib_per_s.max(f64::MIN_POSITIVE),
        download_vs_cp: download.mib_per_s / cp.mib_per_s.max(f64::MIN_POSITIVE),
        upload_vs_loopback: upload.mib_per_s / loopback.mib_per_s.max(f64::MIN_POSITIVE),
        download_vs_loopback: download.mib_per_s / loopback.mib_per_s.max(f64::MIN_POSITIVE),
        cp,
        loopback,
        aead,
        upload,
        download,
        send_message,
        fetch,
        save,
        client_peak_rss_mib: peak_mib(None)?,
        server_peak_rss_mib: peak_mib(server.pid())?,
    };
    println!("file transfer through the real server on loopback, {mib} MiB");
    for (name, s) in [
        ("cp", &report.cp),
        ("loopback TCP copy", &report.loopback),
        ("AEAD (encrypt only)", &report.aead),
        ("upload", &report.upload),
        ("download", &report.download),
        ("message: send", &report.send_message),
        ("message: fetch", &report.fetch),
        ("message: save", &report.save),
    ] {
        println!("  {name:<22} {:>8.2} s  {:>8.1} MiB/s", s.secs, s.mib_per_s);
    }
    // The target is against the loopback copy: the bytes moved once through the network
    // stack. `cp` (an in-kernel copy of cached pages) is shown beside it.
    println!("  upload / loopback      {:>8.2}  (target >= 0.5)", report.upload_vs_loopback);
    println!("  download / loopback    {:>8.2}  (target >= 0.5)", report.download_vs_loopback);
    println!("  upload / cp            {:>8.2}", report.upload_vs_cp);
    println!("  download / cp          {:>8.2}", report.download_vs_cp);
    println!("  client peak RSS        {:>8.1} MiB  (target <= 64)", report.client_peak_rss_mib);
    println!("  server peak RSS        {:>8.1} MiB  (target <= 64)", report.server_peak_rss_mib);
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
