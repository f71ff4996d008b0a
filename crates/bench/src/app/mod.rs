//! The app benchmark (see `src/bin/app.rs`).
//!
//! Setup, with the real server and engine: the app's profile (keychain-protected, registered on
//! the server) gets one group conversation of `--messages` messages — encrypted by a real sender
//! (`bench_prepare_group_send`) and decrypted and stored through the engine's receive path
//! (`bench_receive`, what sync does per batch) — and nine one-to-one conversations of 20
//! messages sent over the server. The app's settings name that profile, so it opens straight
//! into the conversation list, as after any restart.
//!
//! Measured, in the release app through tauri-driver:
//! 1. cold start: from the app process's start (`/proc/<pid>/stat`) to the UI's
//!    `sotto:conversation-list-ready` mark (rows rendered and the frame painted), `--launches`
//!    times;
//! 2. opening the big conversation: from the click on its row to its newest message on screen
//!    (then the next frame), the first time and again after switching away;
//! 3. memory after opening all ten conversations: RSS and PSS of the app and its WebKit
//!    processes (`/proc/<pid>/smaps_rollup`).

#[path = "../binaries.rs"]
mod binaries;
#[path = "../group_history.rs"]
mod group_history;
mod procs;

// Shared with the engine bench, which uses all of it.
#[allow(dead_code)]
#[path = "../server_process.rs"]
mod server_process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use binaries::sibling;
use clap::Parser;
use group_history::body;
use serde::Serialize;
use sotto_core::{Client, ConversationId, KeyOptions, MessageKind, SignIn};
use sotto_proto::UserId;
use sotto_tests::window::{AppData, AppWindow};

const PASSWORD: &str = "bench-password-0123";
const PASSPHRASE: &str = "bench sender passphrase";
const OWN_USER: &str = "bench-me";
/// Conversations in the list: the big group and nine one-to-one chats.
const CONTACTS: usize = 9;
const DIRECT_MESSAGES: usize = 20;
/// The mark the UI sets once the conversation list is painted (`ui/src/lib/perf.ts`).
const LIST_READY: &str = "sotto:conversation-list-ready";

#[derive(Parser)]
#[command(about = "Cold start, conversation opening and memory of the real Sotto app window")]
struct Args {
    /// The app binary (default: `sotto-app` next to this executable).
    #[arg(long)]
    app: Option<PathBuf>,
    /// The server binary (default: `sotto-server` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Messages in the big conversation.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// App starts measured.
    #[arg(long, default_value_t = 5)]
    launches: usize,
    /// Re-opens of the big conversation measured.
    #[arg(long, default_value_t = 5)]
    reopens: usize,
    /// A smoke run: 2,000 messages, 2 launches, 2 re-opens.
    #[arg(long)]
    quick: bool,
    /// Also copy each process's `/proc/<pid>/smaps` here when memory is measured, to see which
    /// mappings hold it.
    #[arg(long)]
    smaps_dir: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Summary {
    app: String,
    messages: usize,
    setup_secs: f64,
    /// Process start → list painted, per launch (ms).
    start_ms: Vec<f64>,
    /// Process start → the page's navigation start, per launch (ms): the native part.
    start_native_ms: Vec<f64>,
    /// Process start → each of the UI's marks, per launch (ms).
    start_steps: Vec<Steps>,
    /// Click → newest message on screen, the first open (ms).
    first_open_ms: f64,
    /// The same, then painted (the next frame) (ms).
    first_open_painted_ms: f64,
    /// Re-opens after switching away (ms, painted).
    reopen_ms: Vec<f64>,
    /// With the list shown, before any conversation is opened: per process.
    memory_at_list: Vec<(String, procs::Memory)>,
    /// After opening all conversations: per process (name, RSS KiB, PSS KiB).
    memory: Vec<(String, procs::Memory)>,
    total_rss_mib: f64,
    total_pss_mib: f64,
}

pub fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.messages = args.messages.min(2_000);
        args.launches = args.launches.min(2);
        args.reopens = args.reopens.min(2);
    }
    ensure!(args.messages >= 1 && args.launches >= 1, "--messages and --launches must be at least 1");
    let app = sibling("sotto-app", args.app.as_deref())?;
    let server = server_process::locate(args.server_bin.as_deref())?;
    let rt = tokio::runtime::Runtime::new()?;
    let summary = rt.block_on(run(&args, &app, &server))?;
    print_report(&summary);
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

async fn register(dir: &Path, server: &str, user: &str, keys: KeyOptions) -> anyhow::Result<Client> {
    let sign_in = SignIn {
        server,
        trust: sotto_core::ServerTrust::System,
        user_id: user,
        password: PASSWORD,
        device_name: Some("app bench"),
    };
    Client::register(dir, sign_in, keys).await.with_context(|| format!("registering {user}"))
}

fn sender_keys() -> KeyOptions {
    KeyOptions { no_keychain: true, passphrase: Some(PASSPHRASE.to_owned()) }
}

/// The conversation id (as the UI's rows carry it) of the one-to-one conversation with friend `c`.
fn friend_conversation(c: usize) -> anyhow::Result<String> {
    Ok(ConversationId::Direct(UserId::parse(format!("bench-friend-{c}"))?).to_string())
}

/// Build the app's profile and history; returns the big conversation's id.
async fn prepare(server: &str, data: &AppData, work: &Path, messages: usize) -> anyhow::Result<String> {
    let app_dir = data.path().join("data").join("im.sotto.app");
    let profile = app_dir.join("profiles").join(OWN_USER);
    // The keychain keeps the profile key, as for anyone who signs in through the app.
    let me = register(&profile, server, OWN_USER, KeyOptions::default()).await?;
    let sender = register(&work.join("sender"), server, "bench-sender", sender_keys()).await?;
    let group =
        sender.create_group("Bench group", std::slice::from_ref(me.user_id())).await.context("creating the group")?;
    let gid = group.group_id.clone();
    let conversation = ConversationId::Group(gid.clone());
    // A real send shares the sender's Megolm key with the app's device over Olm.
    sender.send_group_text(&gid, &body(0)).await.context("the first group message")?;
    me.sync().await.context("the app profile's first sync")?;
    let first = me.messages(&conversation, None, 5)?;
    let first = first.iter().find(|m| m.kind == MessageKind::Text && m.body == body(0));
    let first_ts = first.and_then(|m| m.server_ts).context("the app profile could not read the first group message")?;
    // The rest follow it, a millisecond apart, so the last one is the conversation's newest.
    let first_ts = u64::try_from(first_ts)?;
    group_history::fill(&sender, &me, &gid, 1..messages, |i| first_ts + i as u64).await?;
    // Nine one-to-one conversations over the server.
    for c in 0..CONTACTS {
        let user = format!("bench-friend-{c}");
        let friend = register(&work.join(&user), server, &user, sender_keys()).await?;
        let me_id = UserId::parse(OWN_USER)?;
        for i in 0..DIRECT_MESSAGES {
            friend.send_text(&me_id, &format!("hello from friend {c}, message {i}")).await?;
        }
        friend.shutdown();
    }
    me.sync().await.context("receiving the one-to-one messages")?;
    let list = me.conversations()?;
    ensure!(list.len() == CONTACTS + 1, "the profile has {} conversations, not {}", list.len(), CONTACTS + 1);
    // Open the profile in the app at its next start (what sign-in remembers).
    let settings = serde_json::json!({
        "profile": { "dir": profile, "user_id": OWN_USER, "server": server },
    });
    std::fs::create_dir_all(&app_dir)?;
    std::fs::write(app_dir.join("settings.json"), serde_json::to_vec_pretty(&settings)?)?;
    sender.shutdown();
    me.shutdown();
    drop(me);
    Ok(conversation.to_string())
}

/// The UI's marks during a start: (name without `sotto:`, ms from the process start).
type Steps = Vec<(String, f64)>;

fn number(v: &serde_json::Value, key: &str) -> Option<f64> {
    v.get(key).and_then(serde_json::Value::as_f64)
}

async fn script(window: &AppWindow, js: &str, args: Vec<serde_json::Value>) -> anyhow::Result<serde_json::Value> {
    window.client.execute(js, args).await.map_err(|e| anyhow::anyhow!("script failed: {e}"))
}

/// Launch the app and wait for the list; returns (start → list painted, start → navigation,
/// start → each of the UI's marks).
async fn launch(data: &AppData, app: &Path, rows: usize) -> anyhow::Result<(AppWindow, u32, f64, f64, Steps)> {
    let window = AppWindow::launch_binary("bench-app", data, app).await;
    let pid = window.app_pid().context("the app's process was not found below the driver")?;
    let proc = procs::all().into_iter().find(|p| p.pid == pid).context("the app's process is gone")?;
    let started = procs::started_epoch_ms(&proc)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = script(
            &window,
            "const m = performance.getEntriesByName(arguments[0])[0];
             const steps = performance.getEntriesByType('mark').filter((e) => e.name.startsWith('sotto:'))
               .map((e) => [e.name, performance.timeOrigin + e.startTime]);
             return m ? { at: performance.timeOrigin + m.startTime, origin: performance.timeOrigin,
                          rows: document.querySelectorAll('[data-testid=conversation-row]').length, steps } : null;",
            vec![LIST_READY.into()],
        )
        .await?;
        if let (Some(at), Some(origin), Some(n)) = (number(&v, "at"), number(&v, "origin"), number(&v, "rows")) {
            ensure!(n as usize == rows, "the list shows {n} conversations, not {rows}");
            // The UI's marks on the way (`ui/src/lib/perf.ts`), from the process start.
            let steps = v
                .get("steps")
                .and_then(serde_json::Value::as_array)
                .map(|steps| {
                    steps
                        .iter()
                        .filter_map(|step| {
                            let name = step.get(0)?.as_str()?.trim_start_matches("sotto:").to_owned();
                            Some((name, step.get(1)?.as_f64()? - started))
                        })
                        .collect()
                })
                .unwrap_or_default();
            return Ok((window, proc.pid, at - started, origin - started, steps));
        }
        if Instant::now() > deadline {
            window.screenshot("no-list").await;
            bail!("the conversation list was not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Click the row of `id` and time until a message containing `needle` is on screen.
const OPEN_SCRIPT: &str = r#"
const [id, needle, done] = arguments;
const row = document.querySelector(`[data-testid="conversation-row"][data-conversation-id="${id}"]`);
if (!row) { done({ error: "no row for " + id }); return; }
let finished = false;
// In the window and not hidden: a list still settling its scroll position is laid out with
// `visibility: hidden` (react-virtuoso, until it reached its initial item), and is not seen.
const visible = (e) => { const r = e.getBoundingClientRect(); return r.height > 0 && r.bottom > 0 && r.top < window.innerHeight && getComputedStyle(e).visibility === "visible"; };
const t0 = performance.now();
const check = () => {
  if (finished) return;
  const chat = document.querySelector('[data-testid="chat-view"]');
  if (!chat || chat.getAttribute("data-conversation-id") !== id) return;
  const hit = Array.from(chat.querySelectorAll('[data-testid="message-body"]')).find((e) => e.textContent.includes(needle) && visible(e));
  if (!hit) return;
  finished = true;
  observer.disconnect();
  const shown = performance.now() - t0;
  requestAnimationFrame(() => setTimeout(() => done({ shown, painted: performance.now() - t0 }), 0));
};
const observer = new MutationObserver(check);
// Attributes too: the list becomes visible by a change of its style, not of its children.
observer.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["style", "class"] });
setTimeout(() => { if (!finished) { finished = true; observer.disconnect(); done({ error: "timeout" }); } }, 30000);
row.click();
check();
"#;

async fn open(window: &AppWindow, id: &str, needle: &str) -> anyhow::Result<(f64, f64)> {
    let v = window
        .client
        .execute_async(OPEN_SCRIPT, vec![id.into(), needle.into()])
        .await
        .map_err(|e| anyhow::anyhow!("opening {id}: {e}"))?;
    if let Some(e) = v.get("error").and_then(serde_json::Value::as_str) {
        window.screenshot("open-failed").await;
        bail!("opening {id}: {e}");
    }
    Ok((number(&v, "shown").context("no time")?, number(&v, "painted").context("no time")?))
}

async fn run(args: &Args, app: &Path, server_bin: &Path) -> anyhow::Result<Summary> {
    let work = tempfile::Builder::new().prefix("sotto-app-bench-").tempdir()?;
    let mut server = server_process::start(server_bin, None).await?;
    let data = AppData::new();
    let setup = Instant::now();
    eprintln!("[setup] {} messages in one group conversation, {CONTACTS} one-to-one conversations", args.messages);
    let big = prepare(server.url(), &data, work.path(), args.messages).await?;
    let setup_secs = setup.elapsed().as_secs_f64();
    server.check_alive()?;
    eprintln!("[setup] ready in {setup_secs:.1}s");

    let rows = CONTACTS + 1;
    let (mut start_ms, mut start_native_ms, mut start_steps) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for i in 0..args.launches {
        let (window, pid, ms, native, steps) = launch(&data, app, rows).await?;
        let marks: Vec<String> = steps.iter().map(|(name, at)| format!("{name} {at:.0}")).collect();
        eprintln!(
            "[start] launch {}: list ready {ms:.0} ms after the process started (page from {native:.0} ms; {})",
            i + 1,
            marks.join(", ")
        );
        start_ms.push(ms);
        start_native_ms.push(native);
        start_steps.push(steps);
        if i + 1 == args.launches {
            last = Some((window, pid));
        } else {
            window.close().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let (window, pid) = last.context("no launch")?;
    // The list alone, before any conversation is opened (the prefetch of the visible rows done).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let memory_at_list = measure_memory(pid, args.smaps_dir.as_deref(), "list")?;
    let newest = body(args.messages - 1);
    let needle = newest.split(':').next().context("empty body")?.to_owned() + ":";
    let (first_open_ms, first_open_painted_ms) = open(&window, &big, &needle).await?;
    window.screenshot("big-conversation").await;
    eprintln!("[open] first open: {first_open_ms:.1} ms to the newest message, {first_open_painted_ms:.1} ms painted");
    let other = friend_conversation(0)?;
    let mut reopen_ms = Vec::new();
    for _ in 0..args.reopens {
        open(&window, &other, "hello from friend 0, message 19").await?;
        let (_, painted) = open(&window, &big, &needle).await?;
        reopen_ms.push(painted);
    }
    eprintln!("[open] re-opens: {reopen_ms:.1?} ms");
    for c in 0..CONTACTS {
        open(&window, &friend_conversation(c)?, &format!("hello from friend {c}, message 19")).await?;
    }
    open(&window, &big, &needle).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let memory = measure_memory(pid, args.smaps_dir.as_deref(), "opened")?;
    let total_rss_mib = memory.iter().map(|(_, m)| m.rss_kib).sum::<u64>() as f64 / 1024.0;
    let total_pss_mib = memory.iter().map(|(_, m)| m.pss_kib).sum::<u64>() as f64 / 1024.0;
    window.screenshot("all-opened").await;
    window.close().await;
    server.kill9();
    Ok(Summary {
        app: app.display().to_string(),
        messages: args.messages,
        setup_secs,
        start_ms,
        start_native_ms,
        start_steps,
        first_open_ms,
        first_open_painted_ms,
        reopen_ms,
        memory_at_list,
        memory,
        total_rss_mib,
        total_pss_mib,
    })
}

/// RSS and PSS of the app and every process below it; with `smaps_dir`, a copy of each one's
/// `/proc/<pid>/smaps` named after `stage`.
fn measure_memory(pid: u32, smaps_dir: Option<&Path>, stage: &str) -> anyhow::Result<Vec<(String, procs::Memory)>> {
    let mut memory = Vec::new();
    for p in procs::tree(pid) {
        if let Ok(m) = procs::memory(p.pid) {
            memory.push((p.comm.clone(), m));
        }
        if let Some(dir) = smaps_dir {
            std::fs::create_dir_all(dir)?;
            let to = dir.join(format!("{stage}-{}-{}.smaps", p.comm.replace(['/', ' '], "_"), p.pid));
            std::fs::copy(format!("/proc/{}/smaps", p.pid), &to)
                .with_context(|| format!("copying to {}", to.display()))?;
        }
    }
    ensure!(memory.len() >= 2, "found only {} processes of the app", memory.len());
    Ok(memory)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn print_report(s: &Summary) {
    let start = median(&s.start_ms);
    let reopen = if s.reopen_ms.is_empty() { s.first_open_painted_ms } else { median(&s.reopen_ms) };
    println!("Sotto app ({}), {} messages in the big conversation", s.app, s.messages);
    println!(
        "  cold start to an interactive list: median {start:.0} ms over {} launches (each: {:.0?}; native part {:.0?}) — target ≤ 1000 ms: {}",
        s.start_ms.len(),
        s.start_ms,
        s.start_native_ms,
        met(start <= 1000.0)
    );
    println!(
        "  open the big conversation: first {:.1} ms ({:.1} ms painted), re-opens median {reopen:.1} ms — target ≤ 100 ms: {}",
        s.first_open_ms,
        s.first_open_painted_ms,
        met(s.first_open_painted_ms.max(reopen) <= 100.0)
    );
    println!(
        "  memory after 10 conversations: RSS {:.0} MiB, PSS {:.0} MiB — target ≤ 200 MB: {} (RSS)",
        s.total_rss_mib,
        s.total_pss_mib,
        met(s.total_rss_mib * 1.048_576 <= 200.0)
    );
    print_memory(&s.memory);
    let at_list = s.memory_at_list.iter().map(|(_, m)| m.rss_kib).sum::<u64>() as f64 / 1024.0;
    println!("  memory with the list shown, before opening any conversation: RSS {at_list:.0} MiB");
    print_memory(&s.memory_at_list);
}

fn print_memory(memory: &[(String, procs::Memory)]) {
    for (name, m) in memory {
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "    {name:<20} RSS {:>7.1} MiB  PSS {:>7.1} MiB (heaps {:.1}, shared and graphics {:.1}, files {:.1})",
            mib(m.rss_kib),
            mib(m.pss_kib),
            mib(m.anon_pss_kib),
            mib(m.shared_pss_kib),
            mib(m.file_pss_kib)
        );
    }
}
