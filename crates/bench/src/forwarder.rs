//! The baseline: a bare WebSocket forwarder with no auth, no storage and no parsing beyond the
//! routing field. It runs in this process but on its own tokio runtime (threads named
//! `fwd-worker*`, as many workers as the relay process gets by default), so its CPU time can be
//! told apart from the load generator's.
//!
//! Protocol: a client's first text frame is `{"id":ID,"groups":[G,...]}` and the forwarder answers
//! `ok`; every later frame `{"to":ID,...}` is copied unchanged to ID's socket, and
//! `{"to":"#G",...}` to the socket of every member of G.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_util::sync::CancellationToken;

use crate::drive::{self, PairPlan, PairResult, Transport};
use crate::measure::{Clock, CpuSnap, FORWARDER_THREAD, FanStats, PairStats, Watched};
use crate::relay::{FanPlan, FanResult, Ws};

/// How many frames a socket writer sends before it flushes.
const WRITE_BATCH: usize = 64;
const CONNECT_CONCURRENCY: usize = 64;

#[derive(Deserialize)]
struct Hello {
    id: String,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
struct Route<'a> {
    #[serde(borrow)]
    to: Cow<'a, str>,
}

type Tx = mpsc::UnboundedSender<Message>;

#[derive(Default)]
struct Routes {
    clients: HashMap<String, Tx>,
    groups: HashMap<String, Vec<Tx>>,
}

type SharedRoutes = Arc<RwLock<Routes>>;

/// A running forwarder.
pub struct Forwarder {
    pub addr: SocketAddr,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    pub fn start(workers: usize) -> anyhow::Result<Forwarder> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the forwarder")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .thread_name(FORWARDER_THREAD)
            .enable_all()
            .build()
            .context("building the forwarder's runtime")?;
        let stop = CancellationToken::new();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("{FORWARDER_THREAD}-acc"))
            .spawn(move || {
                runtime.block_on(async move {
                    if let Err(e) = serve(listener, stop2).await {
                        eprintln!("forwarder stopped: {e:#}");
                    }
                });
            })
            .context("starting the forwarder thread")?;
        Ok(Forwarder { addr, stop, thread: Some(thread) })
    }

    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(listener: std::net::TcpListener, stop: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let routes: SharedRoutes = Arc::default();
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            a = listener.accept() => a?,
        };
        let routes = routes.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, routes).await {
                eprintln!("forwarder connection: {e:#}");
            }
        });
    }
}

async fn connection(stream: TcpStream, routes: SharedRoutes) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let ws = tokio_tungstenite::accept_async(stream).await?;
    let (mut write, mut read) = ws.split();
    let hello: Hello = loop {
        match read.next().await {
            Some(Ok(Message::Text(t))) => break serde_json::from_str(t.as_str())?,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Ok(()),
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    {
        let mut r = routes.write().map_err(|_| anyhow::anyhow!("routes lock poisoned"))?;
        r.clients.insert(hello.id.clone(), tx.clone());
        for g in &hello.groups {
            r.groups.entry(g.clone()).or_default().push(tx.clone());
        }
    }
    tx.send(Message::text("ok"))?;
    drop(tx);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            write.feed(m).await?;
            for _ in 1..WRITE_BATCH {
                match rx.try_recv() {
                    Ok(m) => write.feed(m).await?,
                    Err(_) => break,
                }
            }
            write.flush().await?;
        }
        Ok::<_, anyhow::Error>(())
    });
    while let Some(msg) = read.next().await {
        match msg {
            Ok(Message::Text(text)) => {
                let Ok(route) = serde_json::from_str::<Route>(text.as_str()) else { continue };
                let Ok(r) = routes.read() else { continue };
                if let Some(group) = route.to.strip_prefix('#') {
                    for member in r.groups.get(group).into_iter().flatten() {
                        let _ = member.send(Message::Text(text.clone()));
                    }
                } else if let Some(client) = r.clients.get(route.to.as_ref()) {
                    let _ = client.send(Message::Text(text.clone()));
                }
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    if let Ok(mut r) = routes.write() {
        r.clients.remove(&hello.id);
    }
    writer.abort();
    Ok(())
}

/// Connects and introduces itself; returns once the forwarder answered `ok`.
async fn connect(addr: SocketAddr, id: &str, groups: &[&str]) -> anyhow::Result<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/"), None, true)
        .await
        .context("connecting to the forwarder")?;
    let hello = serde_json::json!({ "id": id, "groups": groups });
    ws.send(Message::text(hello.to_string())).await?;
    let ok = async {
        while let Some(m) = ws.next().await {
            if let Message::Text(t) = m?
                && t.as_str() == "ok"
            {
                return Ok(());
            }
        }
        bail!("the forwarder closed before `ok`")
    };
    tokio::time::timeout(Duration::from_secs(10), ok).await.context("no `ok` from the forwarder")??;
    Ok(ws)
}

async fn connect_many(addr: SocketAddr, ids: Vec<String>, groups: &'static [&'static str]) -> anyhow::Result<Vec<Ws>> {
    let results: Vec<anyhow::Result<Ws>> = futures_util::stream::iter(ids)
        .map(|id| async move { connect(addr, &id, groups).await })
        .buffered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// A socket writer task: frames queued on the returned channel are written in batches.
fn writer(
    mut ws: Ws,
    errors: impl Fn(String) + Send + 'static,
) -> (mpsc::UnboundedSender<String>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(async move {
        let result = async {
            while let Some(frame) = rx.recv().await {
                ws.feed(Message::text(frame)).await?;
                for _ in 1..WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(frame) => ws.feed(Message::text(frame)).await?,
                        Err(_) => break,
                    }
                }
                ws.flush().await?;
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if let Err(e) = result {
            errors(format!("forwarder sender socket: {e:#}"));
        }
    });
    (tx, task)
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    c: &'a str,
}

/// Reads a receiving socket until `stop`; `on` gets each frame's payload.
async fn receive(mut ws: Ws, stop: CancellationToken, on: impl Fn(&str), error: impl Fn(String)) {
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Text(t))) => match serde_json::from_str::<Data>(t.as_str()) {
                Ok(d) => on(d.c),
                Err(e) => error(format!("undecodable forwarded frame: {e}")),
            },
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                error(format!("forwarder socket error: {e}"));
                return;
            }
            None => {
                error("a forwarder socket ended".into());
                return;
            }
        }
    }
}

struct FwdTransport {
    senders: Vec<mpsc::UnboundedSender<String>>,
}

impl Transport for FwdTransport {
    const SPAWN: bool = false;

    async fn send(&self, pair: usize, _seq: u64, payload: String) -> anyhow::Result<()> {
        let Some(tx) = self.senders.get(pair) else { bail!("no pair {pair}") };
        tx.send(format!(r#"{{"to":"r{pair}","c":"{payload}"}}"#))
            .map_err(|_| anyhow::anyhow!("sender socket {pair} is gone"))
    }
}

pub async fn run_pairs(fwd: &Forwarder, clock: Clock, plan: PairPlan) -> anyhow::Result<PairResult> {
    let n = plan.pairs;
    let receivers = connect_many(fwd.addr, (0..n).map(|i| format!("r{i}")).collect(), &[]).await?;
    let senders = connect_many(fwd.addr, (0..n).map(|i| format!("s{i}")).collect(), &[]).await?;
    let stats = Arc::new(PairStats::new(clock, n)?);
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for (pair, ws) in receivers.into_iter().enumerate() {
        let (s1, s2) = (stats.clone(), stats.clone());
        tasks.push(tokio::spawn(receive(
            ws,
            stop.clone(),
            move |c| s1.on_receive(pair, c),
            move |e| s2.errors.note(e),
        )));
    }
    let mut txs = Vec::new();
    let mut writers = Vec::new();
    for ws in senders {
        let s = stats.clone();
        let (tx, task) = writer(ws, move |e| s.errors.note(e));
        txs.push(tx);
        writers.push(task);
    }
    let plan = PairPlan { watched: Watched::default(), ..plan };
    let result = drive::run_pairs("forwarder 1:1", Arc::new(FwdTransport { senders: txs }), stats, plan).await;
    stop.cancel();
    for t in tasks.into_iter().chain(writers) {
        t.abort();
        let _ = t.await;
    }
    Ok(result)
}

pub async fn run_fanout(fwd: &Forwarder, clock: Clock, plan: FanPlan) -> anyhow::Result<FanResult> {
    let setup = Instant::now();
    let members = connect_many(fwd.addr, (0..plan.members).map(|i| format!("m{i}")).collect(), &["g"]).await?;
    let sender = connect(fwd.addr, "fan-sender", &[]).await?;
    let stats = Arc::new(FanStats::new(clock, plan.members, plan.messages)?);
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for ws in members {
        let (s1, s2) = (stats.clone(), stats.clone());
        tasks.push(tokio::spawn(receive(ws, stop.clone(), move |c| s1.on_receive(c), move |e| s2.errors.note(e))));
    }
    let s = stats.clone();
    let (tx, writer_task) = writer(sender, move |e| s.errors.note(e));
    let setup_secs = setup.elapsed().as_secs_f64();
    eprintln!(
        "[forwarder fan-out] {} members connected after {setup_secs:.1}s; sending {} messages at {}/s",
        plan.members, plan.messages, plan.rate
    );
    let c0 = CpuSnap::take(&Watched::default());
    let start_ns = clock.now_ns();
    drive::paced(plan.messages, plan.rate, clock, |i, stamp| {
        let sent = tx.send(format!(r##"{{"to":"#g","c":"{}"}}"##, stats.payload(i, stamp)));
        if sent.is_err() {
            stats.errors.note(format!("group send {i}: the sender socket is gone"));
        }
        async {}
    })
    .await;
    let all = stats.wait_complete(plan.messages as u64, Duration::from_secs(30)).await;
    let cpu = CpuSnap::take(&Watched::default()).since(&c0);
    stop.cancel();
    for t in tasks.into_iter().chain(std::iter::once(writer_task)) {
        t.abort();
        let _ = t.await;
    }
    FanResult::collect(plan, &stats, all, start_ns, None, setup_secs, cpu)
}
