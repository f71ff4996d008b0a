//! `sotto-bench`: measures the durable relay (`sotto-server`, spawned as a child process) against a
//! bare in-process WebSocket forwarder on the same machine: 1:1 maximum throughput, latency at half
//! of it, and 1,000-member group fan-out; with `--postgres`, the same 1:1 run on PostgreSQL, on
//! one node and on two nodes sharing the database (messages crossing nodes, and staying on
//! theirs); then a flood of 1,000 bogus sign-ins (server memory and an ordinary request's latency
//! meanwhile); then 10,000 idle WebSockets held open (server memory per socket, idle CPU, and
//! waves of reconnects). Prints a table, then one JSON line.
//!
//! Build both binaries first: `cargo build --release -p sotto-server -p sotto-bench`.

mod drive;
mod forwarder;
mod idle;
mod measure;
mod postgres;
mod relay;
mod report;
mod server_process;
mod signin;
mod socket_sends;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use crate::drive::PairPlan;
use crate::measure::{Clock, Watched};
use crate::relay::{FanPlan, Layout, RelayPlan};

/// Load generator for sotto-server, with a bare WebSocket forwarder as the baseline.
///
/// Build first: `cargo build --release -p sotto-server -p sotto-bench`, then run
/// `target/release/sotto-bench` (it finds `sotto-server` next to itself).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// Simulated 1:1 devices, as devices/2 sender→recipient pairs [default: 64; --quick: 8].
    #[arg(long)]
    devices: Option<usize>,
    /// Seconds of each measured window [default: 10; --quick: 2].
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds of warm-up before each measured window [default: 2; --quick: 1].
    #[arg(long)]
    warm_up: Option<f64>,
    /// Closed loop: messages each sender keeps in flight (sent, not yet delivered).
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Receivers ack cumulatively every this many entries.
    #[arg(long, default_value_t = 16)]
    ack_every: u64,
    /// Members that receive the fan-out (plus one sender) [default: 1000; --quick: 20].
    #[arg(long)]
    group_size: Option<usize>,
    /// Group messages sent in the fan-out run [default: 200; --quick: 20].
    #[arg(long)]
    group_messages: Option<usize>,
    /// Group messages per second.
    #[arg(long, default_value_t = 20.0)]
    group_rate: f64,
    /// Skip the fan-out runs (and the 1,000 registrations they need).
    #[arg(long)]
    skip_fanout: bool,
    /// Bogus sign-ins in the sign-in flood [default: 1000; --quick: 100].
    #[arg(long)]
    sign_ins: Option<usize>,
    /// Sign-ins sent at once in the flood.
    #[arg(long, default_value_t = 64)]
    sign_in_concurrency: usize,
    /// Skip the sign-in flood.
    #[arg(long)]
    skip_sign_in: bool,
    /// Idle authenticated WebSockets held open in the idle step [default: 10000; --quick: 500].
    #[arg(long)]
    idle_sockets: Option<usize>,
    /// Seconds of the idle step's measured idle window [default: 10; --quick: 2].
    #[arg(long)]
    idle_secs: Option<f64>,
    /// Close-all / reopen-all waves after the idle window.
    #[arg(long, default_value_t = 3)]
    idle_waves: usize,
    /// Skip the idle-socket step.
    #[arg(long)]
    skip_idle: bool,
    /// Skip the relay runs (forwarder baseline only).
    #[arg(long)]
    skip_relay: bool,
    /// Skip the forwarder runs (relay only).
    #[arg(long)]
    skip_forwarder: bool,
    /// The sotto-server binary [default: next to this executable].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Also run the 1:1 benchmark on PostgreSQL: one node, then two nodes on one database (pairs
    /// across the nodes, then pairs within each). URL of a cluster where the bench may create
    /// databases, e.g. "$SOTTO_TEST_POSTGRES_URL" after `. scripts/postgres.sh`; each
    /// configuration runs on a fresh database, dropped afterwards.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// With --postgres: pace both two-node open loops (pairs across the nodes, pairs within
    /// each) at this many msg/s, to compare the two paths' latency below saturation
    /// [default: half the cross-node max].
    #[arg(long, value_name = "MSG_PER_S")]
    two_node_rate: Option<f64>,
    /// How the relay's 1:1 senders send: a `send` frame on their WebSocket, or HTTP.
    #[arg(long, value_enum, default_value_t = relay::SendPath::Socket)]
    sends: relay::SendPath,
    /// Where to create the server's temporary data directory [default: the system temp dir].
    /// E.g. /dev/shm to take the disk out of the measurement.
    #[arg(long)]
    data_parent: Option<PathBuf>,
    /// Small numbers for a smoke run: 8 devices, 2 s windows, a group of 20.
    #[arg(long)]
    quick: bool,
}

/// The settings after defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cores: usize,
    pub pairs: PairPlan,
    pub ack_every: u64,
    pub fan: Option<FanPlan>,
    pub server_bin: Option<PathBuf>,
    pub postgres: Option<String>,
    /// Open-loop rate of the two-node runs (else half the cross-node max).
    pub two_node_rate: Option<f64>,
    pub sends: relay::SendPath,
    pub data_parent: Option<PathBuf>,
    pub forwarder: bool,
    pub signin: Option<signin::SigninPlan>,
    pub idle: Option<idle::IdlePlan>,
}

fn settings(args: &Args) -> anyhow::Result<Settings> {
    let q = args.quick;
    let devices = args.devices.unwrap_or(if q { 8 } else { 64 });
    if devices < 2 || !devices.is_multiple_of(2) {
        bail!("--devices must be an even number of at least 2 (got {devices})");
    }
    let duration = args.duration.unwrap_or(if q { 2.0 } else { 10.0 });
    let warm_up = args.warm_up.unwrap_or(if q { 1.0 } else { 2.0 });
    if !(duration > 0.0 && warm_up >= 0.0 && args.group_rate > 0.0) {
        bail!("--duration and --group-rate must be positive, --warm-up not negative");
    }
    if args.in_flight == 0 || args.ack_every == 0 {
        bail!("--in-flight and --ack-every must be at least 1");
    }
    if args.skip_relay && args.postgres.is_some() {
        bail!("--postgres measures the relay: it does not go with --skip-relay");
    }
    match args.two_node_rate {
        Some(_) if args.postgres.is_none() => bail!("--two-node-rate paces the two-node runs of --postgres"),
        Some(rate) if !(rate.is_finite() && rate >= 1.0) => bail!("--two-node-rate must be at least 1 msg/s"),
        _ => {}
    }
    let server_bin = if args.skip_relay {
        None
    } else {
        let bin = server_process::locate(args.server_bin.as_deref())?;
        Some(bin)
    };
    let idle_secs = args.idle_secs.unwrap_or(if q { 2.0 } else { 10.0 });
    if idle_secs.is_nan() || idle_secs < 1.0 {
        bail!("--idle-secs must be at least 1 (the server pings every second in the idle step)");
    }
    let fan = (!args.skip_fanout).then(|| FanPlan {
        members: args.group_size.unwrap_or(if q { 20 } else { 1000 }).max(1),
        messages: args.group_messages.unwrap_or(if q { 20 } else { 200 }).max(1),
        rate: args.group_rate,
        ack_every: args.ack_every,
        sends: args.sends,
    });
    Ok(Settings {
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        pairs: PairPlan {
            pairs: devices / 2,
            in_flight: args.in_flight,
            warm_up: Duration::from_secs_f64(warm_up),
            duration: Duration::from_secs_f64(duration),
            watched: Default::default(),
            open_rate: None,
        },
        ack_every: args.ack_every,
        fan,
        server_bin,
        postgres: args.postgres.clone(),
        two_node_rate: args.two_node_rate,
        sends: args.sends,
        data_parent: args.data_parent.clone(),
        forwarder: !args.skip_forwarder,
        signin: (!args.skip_sign_in && !args.skip_relay).then(|| signin::SigninPlan {
            sign_ins: args.sign_ins.unwrap_or(if q { 100 } else { 1000 }).max(1),
            concurrency: args.sign_in_concurrency.max(1),
        }),
        idle: (!args.skip_idle && !args.skip_relay).then(|| idle::IdlePlan {
            sockets: args.idle_sockets.unwrap_or(if q { 500 } else { 10_000 }).max(1),
            ping_interval: Duration::from_secs(1),
            window: Duration::from_secs_f64(idle_secs),
            waves: args.idle_waves,
        }),
    })
}

async fn run(s: Settings) -> anyhow::Result<report::Report> {
    let clock = Clock::new();
    let mut out = report::Report::default();
    eprintln!("sotto-bench: {} CPU core(s); the relay (or forwarder) and this load generator share them.", s.cores);
    out.background_pct = measure::machine_load(Duration::from_secs(1)).await;
    if out.background_pct > 20.0 {
        eprintln!(
            "warning: other processes use {:.0}% of a core right now; the figures will be disturbed",
            out.background_pct
        );
    }
    if let Some(url) = &s.postgres {
        postgres::check(url).await?;
    }
    if let Some(bin) = &s.server_bin {
        eprintln!("[relay] starting {}", bin.display());
        let mut server = server_process::start(bin, s.data_parent.as_deref()).await?;
        let watched = Watched { servers: server.pid().into_iter().collect(), postmaster: None };
        let plan = RelayPlan {
            pairs: PairPlan { watched, ..s.pairs.clone() },
            ack_every: s.ack_every,
            layout: Layout::SameNode,
            label: "relay 1:1",
            user_prefix: "",
            sends: s.sends,
        };
        let pairs = relay::run_pairs(&[&server], clock, plan).await;
        server.check_alive()?;
        out.relay_pairs = Some(pairs.context("relay 1:1 run")?);
        if let Some(fan) = s.fan {
            let r = relay::run_fanout(&server, clock, fan).await;
            server.check_alive()?;
            out.relay_fanout = Some(r.context("relay fan-out run")?);
        }
        out.server_warnings = server_process::warnings(&server);
        server.kill9();
        if let Some(url) = &s.postgres {
            let plan = postgres::Plan {
                bin,
                parent: s.data_parent.as_deref(),
                cluster_url: url,
                clock,
                pairs: s.pairs.clone(),
                ack_every: s.ack_every,
                sends: s.sends,
                two_node_rate: s.two_node_rate,
            };
            let pg = postgres::run(plan).await?;
            out.postgres_pairs = pg.one_node;
            out.cross_node_pairs = pg.cross_node;
            out.same_node_pairs = pg.same_node;
            out.server_warnings.extend(pg.warnings);
        }
        if let Some(plan) = s.signin {
            eprintln!("[sign-in flood] {} bogus sign-ins, {} at once", plan.sign_ins, plan.concurrency);
            out.signin = Some(signin::run(bin, s.data_parent.as_deref(), plan).await.context("sign-in flood")?);
        }
        if let Some(plan) = s.idle {
            eprintln!("[idle] {} idle WebSockets, {} waves of reconnects", plan.sockets, plan.waves);
            out.idle = Some(idle::run(bin, s.data_parent.as_deref(), plan).await.context("idle-socket step")?);
        }
    }
    if s.forwarder {
        let fwd = forwarder::Forwarder::start(s.cores)?;
        eprintln!("[forwarder] listening on {}", fwd.addr);
        let pairs = forwarder::run_pairs(&fwd, clock, s.pairs.clone()).await.context("forwarder 1:1 run");
        let fan = match (&pairs, s.fan) {
            (Ok(_), Some(fan)) => Some(forwarder::run_fanout(&fwd, clock, fan).await.context("forwarder fan-out run")),
            _ => None,
        };
        fwd.stop();
        out.forwarder_pairs = Some(pairs?);
        out.forwarder_fanout = fan.transpose()?;
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let s = settings(&args)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("building the tokio runtime")?;
    let out = runtime.block_on(run(s.clone()))?;
    report::print(&s, &out)?;
    // Figures from a run that lost or failed messages are not figures: fail loudly.
    let faults = out.faults();
    if !faults.is_empty() {
        bail!("the run was not clean:\n  {}", faults.join("\n  "));
    }
    Ok(())
}
