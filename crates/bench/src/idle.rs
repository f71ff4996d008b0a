//! The idle-socket step: what a held, authenticated WebSocket costs the server when nothing is
//! sent on it. N devices sign in, each opens its WebSocket and waits for `synced`, and then
//! nothing happens but the server's pings (answered by the client as a browser would): the
//! server's resident memory before and after (KiB per socket), its CPU over an idle window, and
//! then waves of closing every socket and opening them all again, with the memory after each
//! (what a server keeps across reconnect waves, e.g. after a network blip).
//!
//! Devices sign in through an external issuer (`POST /v1/sessions/external`, the bench holding
//! the issuer's key) rather than with passwords: 10,000 argon2 hashes on this machine's one
//! hasher would take minutes, and a device made either way is the same rows and the same socket.
//! Every count is checked against the server's own `websocket_connections` gauge; a step that
//! did not hold every socket fails.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::{Signer, SigningKey};
use futures_util::StreamExt;
use rand_core::OsRng;
use serde::Serialize;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};
use tokio_util::sync::CancellationToken;

use crate::measure::{CpuSnap, Watched};
use crate::relay::{Api, Device, Ws};
use crate::server_process::{self, ServerProcess};

const ISSUER: &str = "https://bench.sotto.invalid";
/// Sign-ins and connects in flight at once.
const CONCURRENCY: usize = 32;
/// Descriptors this process keeps for itself besides the sockets (HTTP pool, files, runtime).
const OWN_FILES: u64 = 256;

/// Settings of the idle step.
#[derive(Debug, Clone, Copy)]
pub struct IdlePlan {
    pub sockets: usize,
    /// The server's ping interval during the step.
    pub ping_interval: Duration,
    /// The idle window whose CPU is measured.
    pub window: Duration,
    /// Close-all / reconnect-all waves after the window.
    pub waves: usize,
}

/// One wave: every socket closed, then every socket opened again.
#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    /// The server's RSS with every socket of the wave closed.
    pub rss_closed_kib: u64,
    /// And with all of them open again.
    pub rss_open_kib: u64,
    /// `rss_open_kib` less the first connect's, per socket (growth across waves).
    pub growth_kib_per_socket: f64,
    pub connect_secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    pub sockets: usize,
    pub sign_in_secs: f64,
    pub connect_secs: f64,
    /// The server's RSS after the sign-ins, before any socket.
    pub rss_before_kib: u64,
    /// With every socket open and synced, idle for a second.
    pub rss_open_kib: u64,
    pub kib_per_socket: f64,
    pub ping_interval_secs: f64,
    pub window_secs: f64,
    /// The server's CPU over the idle window, % of one core.
    pub server_cpu_pct: f64,
    /// Pings the clients received in the window.
    pub pings: u64,
    /// Server CPU time per ping in the window (the ping, its pong, the timers), µs.
    pub server_us_per_ping: f64,
    pub waves: Vec<Wave>,
}

/// Raises this process's soft open-file limit to the hard one; returns the soft limit now.
#[cfg(unix)]
fn raise_open_files() -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("reading the open-file limit")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).context("raising the open-file limit")?;
    }
    Ok(hard)
}

#[cfg(not(unix))]
fn raise_open_files() -> anyhow::Result<u64> {
    Ok(u64::MAX)
}

/// A JWT the server's external issuer setting accepts for `user`: EdDSA over
/// `header.claims`, base64url without padding.
fn external_token(key: &SigningKey, user: &str) -> anyhow::Result<String> {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 24 * 3600;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let claims = serde_json::json!({ "iss": ISSUER, "sub": user, "exp": exp });
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
    let signed = format!("{header}.{claims}");
    let signature = URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).to_bytes());
    Ok(format!("{signed}.{signature}"))
}

/// A gauge or counter of the server's `/metrics`.
async fn metric(http: &reqwest::Client, server: &ServerProcess, name: &str) -> anyhow::Result<f64> {
    let text = http.get(format!("{}/metrics", server.url())).send().await?.error_for_status()?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {name} in /metrics"))
}

/// Waits until the server counts `want` open WebSockets.
async fn wait_for_sockets(http: &reqwest::Client, server: &ServerProcess, want: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = metric(http, server, "sotto_websocket_connections").await?;
        if open == want as f64 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server counts {open} open WebSockets, not {want}, after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    Ok((crate::signin::memory_mib(pid, "VmRSS:")? * 1024.0).round() as u64)
}

/// Holds one socket open, answering pings (tungstenite queues the pong, sent on the next read),
/// until `stop`; then closes it and waits for the server's close. Any other end is an error.
async fn hold(mut ws: Ws, pings: Arc<AtomicU64>, stop: CancellationToken) -> anyhow::Result<()> {
    loop {
        let msg = tokio::select! {
            () = stop.cancelled() => break,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Ping(_))) => {
                pings.fetch_add(1, Ordering::Relaxed);
            }
            Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Text(t))) => bail!("an idle socket got a frame: {t}"),
            Some(Ok(Message::Binary(_))) => bail!("an idle socket got a binary frame"),
            Some(Ok(Message::Close(c))) => bail!("the server closed an idle socket: {c:?}"),
            Some(Err(e)) => bail!("an idle socket failed: {e}"),
            None => bail!("an idle socket ended"),
        }
    }
    ws.close(None).await.context("closing an idle socket")?;
    let drained = async {
        while let Some(m) = ws.next().await {
            if m.is_err() {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), drained).await.context("no close from the server within 10 s")
}

/// The sockets of one wave, each held by its task.
struct Held {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Held {
    /// Closes every socket; fails if one had ended before.
    async fn close(self) -> anyhow::Result<()> {
        self.stop.cancel();
        let mut failed = 0usize;
        let mut first = None;
        for t in self.tasks {
            if let Err(e) = t.await.map_err(anyhow::Error::from).and_then(|r| r) {
                failed += 1;
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e.context(format!("{failed} idle socket(s) failed"))),
            None => Ok(()),
        }
    }
}

/// Opens every device's socket (each waits for `synced`) and holds them.
async fn open_all(api: &Api, devices: &[Device], pings: &Arc<AtomicU64>) -> anyhow::Result<Held> {
    // Small client buffers: 10,000 sockets with tungstenite's 128 KiB read buffers would be
    // 1.3 GB in this process.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let opened: Vec<anyhow::Result<Ws>> = futures_util::stream::iter(devices)
        .map(|d| api.connect_with(d, Some(config)))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let stop = CancellationToken::new();
    let mut tasks = Vec::with_capacity(opened.len());
    let mut first_error = None;
    for ws in opened {
        match ws {
            Ok(ws) => tasks.push(tokio::spawn(hold(ws, pings.clone(), stop.clone()))),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let held = Held { stop, tasks };
    if let Some(e) = first_error {
        let _ = held.close().await;
        return Err(e.context("opening the idle sockets"));
    }
    Ok(held)
}

/// Signs `n` new users in, one device each.
async fn sign_in_all(api: &Api, key: &SigningKey, n: usize) -> anyhow::Result<Vec<Device>> {
    let tokens = (0..n).map(|i| external_token(key, &format!("idle-{i:05}"))).collect::<anyhow::Result<Vec<_>>>()?;
    let signed: Vec<anyhow::Result<Device>> =
        futures_util::stream::iter(tokens).map(|t| api.sign_in_external(t)).buffered(CONCURRENCY).collect().await;
    signed.into_iter().collect()
}

pub async fn run(bin: &Path, parent: Option<&Path>, plan: IdlePlan) -> anyhow::Result<IdleResult> {
    let limit = raise_open_files()?;
    let n = plan.sockets;
    if n as u64 + OWN_FILES > limit {
        bail!("{n} idle sockets need {} open files in this process; the limit is {limit}", n as u64 + OWN_FILES);
    }
    let key = SigningKey::generate(&mut OsRng);
    let dir = tempfile::tempdir()?;
    let key_path = dir.path().join("issuer.pub.pem");
    std::fs::write(&key_path, key.verifying_key().to_public_key_pem(LineEnding::LF)?)?;
    let ping_secs = plan.ping_interval.as_secs().max(1).to_string();
    let key_arg = key_path.to_str().context("the temporary directory's path is not UTF-8")?;
    let launch = server_process::launch(bin, parent).args([
        "--external-jwt-issuer",
        ISSUER,
        "--external-jwt-key",
        key_arg,
        "--ws-ping-interval-secs",
        &ping_secs,
    ]);
    let mut server = launch.try_start().await?;
    let pid = server.pid().context("the server has no pid")?;
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build()?;
    let max = metric(&http, &server, "sotto_connections_max").await?;
    if max < (n + CONCURRENCY) as f64 {
        bail!("the server serves at most {max} connections: too few for {n} idle sockets");
    }
    let api = Api::new(&server)?;

    let started = Instant::now();
    let devices = sign_in_all(&api, &key, n).await.context("signing the idle devices in")?;
    let sign_in_secs = started.elapsed().as_secs_f64();
    eprintln!("[idle] {n} devices signed in ({sign_in_secs:.1}s); opening their WebSockets");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before_kib = rss_kib(pid)?;

    let pings = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut held = open_all(&api, &devices, &pings).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    wait_for_sockets(&http, &server, n).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_open_kib = rss_kib(pid)?;
    let per_socket = |rss: u64, base: u64| (rss as f64 - base as f64) / n as f64;
    let kib_per_socket = per_socket(rss_open_kib, rss_before_kib);
    eprintln!(
        "[idle] {n} sockets open ({connect_secs:.1}s): server RSS {} -> {} MiB, {kib_per_socket:.1} KiB per socket; idle for {:.0}s",
        rss_before_kib / 1024,
        rss_open_kib / 1024,
        plan.window.as_secs_f64()
    );

    let watched = Watched { servers: vec![pid], postmaster: None };
    let pings_before = pings.load(Ordering::Relaxed);
    let c0 = CpuSnap::take(&watched);
    tokio::time::sleep(plan.window).await;
    let cpu = CpuSnap::take(&watched).since(&c0);
    let window_pings = pings.load(Ordering::Relaxed) - pings_before;
    let window_secs = plan.window.as_secs_f64();
    let server_us_per_ping =
        if window_pings > 0 { cpu.server_pct / 100.0 * window_secs * 1e6 / window_pings as f64 } else { 0.0 };
    // Every socket must have been pinged about window / interval times.
    let expected = (window_secs / plan.ping_interval.as_secs_f64()).floor() as u64 * n as u64;
    if window_pings < expected * 9 / 10 {
        bail!("the idle sockets got {window_pings} pings in {window_secs:.0}s; about {expected} were due");
    }
    wait_for_sockets(&http, &server, n).await.context("after the idle window")?;

    let mut waves = Vec::new();
    for w in 1..=plan.waves {
        held.close().await.with_context(|| format!("wave {w}: closing"))?;
        wait_for_sockets(&http, &server, 0).await.with_context(|| format!("wave {w}: closed"))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_closed_kib = rss_kib(pid)?;
        let started = Instant::now();
        held = open_all(&api, &devices, &pings).await.with_context(|| format!("wave {w}: reopening"))?;
        let connect_secs = started.elapsed().as_secs_f64();
        wait_for_sockets(&http, &server, n).await.with_context(|| format!("wave {w}: reopened"))?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_open = rss_kib(pid)?;
        let wave = Wave {
            rss_closed_kib,
            rss_open_kib: rss_open,
            growth_kib_per_socket: per_socket(rss_open, rss_open_kib),
            connect_secs,
        };
        eprintln!(
            "[idle] wave {w}: closed -> {} MiB, reopened ({connect_secs:.1}s) -> {} MiB ({:+.2} KiB per socket since the first)",
            rss_closed_kib / 1024,
            rss_open / 1024,
            wave.growth_kib_per_socket
        );
        waves.push(wave);
    }
    held.close().await.context("closing the idle sockets")?;
    server.check_alive()?;
    let warnings = server_process::warnings(&server);
    server.kill9();
    if let Some(w) = warnings.first() {
        bail!("the server logged {} warning(s) in the idle step, the first: {w}", warnings.len());
    }
    Ok(IdleResult {
        sockets: n,
        sign_in_secs,
        connect_secs,
        rss_before_kib,
        rss_open_kib,
        kib_per_socket,
        ping_interval_secs: plan.ping_interval.as_secs_f64(),
        window_secs,
        server_cpu_pct: cpu.server_pct,
        pings: window_pings,
        server_us_per_ping,
        waves,
    })
}
