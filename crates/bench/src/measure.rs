//! Shared measurement state: the time base, the payload format, latency histograms, delivery
//! counters and CPU accounting.
//!
//! Every latency is `receive time − send stamp`, both read from the same [`Instant`] epoch in this
//! process. The send stamp is the time a send was *scheduled* (closed loop: when it was issued;
//! open loop: its slot in the pacing schedule), so a load generator that falls behind does not hide
//! its own lag (no coordinated omission).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;

/// Size of every 1:1 and group ciphertext, in bytes.
pub const PAYLOAD_BYTES: usize = 256;

/// Measurement phases of a 1:1 run; the phase travels in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    WarmUp = 0,
    Throughput = 1,
    Latency = 2,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::WarmUp, Phase::Throughput, Phase::Latency];

    fn tag(self) -> char {
        match self {
            Phase::WarmUp => 'w',
            Phase::Throughput => 't',
            Phase::Latency => 'l',
        }
    }

    fn from_tag(c: &str) -> Option<Phase> {
        match c {
            "w" => Some(Phase::WarmUp),
            "t" => Some(Phase::Throughput),
            "l" => Some(Phase::Latency),
            _ => None,
        }
    }

    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Throughput,
            2 => Phase::Latency,
            _ => Phase::WarmUp,
        }
    }
}

/// Latency histogram in microseconds, 1 µs .. 10 min, 3 significant digits.
pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// Builds a 256-byte payload: `tag:a:b:stamp_ns:` then padding.
pub fn payload(tag: char, a: u64, b: u64, stamp_ns: u64) -> String {
    let mut s = format!("{tag}:{a}:{b}:{stamp_ns}:");
    let pad = PAYLOAD_BYTES.saturating_sub(s.len());
    s.extend(std::iter::repeat_n('x', pad));
    s
}

/// Parses what [`payload`] built: `(tag, a, b, stamp_ns)`.
pub fn parse_payload(p: &str) -> Option<(&str, u64, u64, u64)> {
    let mut it = p.splitn(5, ':');
    let tag = it.next()?;
    let a = it.next()?.parse().ok()?;
    let b = it.next()?.parse().ok()?;
    let stamp = it.next()?.parse().ok()?;
    Some((tag, a, b, stamp))
}

/// The process-wide time base.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock { epoch: Instant::now() }
    }

    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    pub fn ns_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

/// Error counter that keeps the first few messages for the report.
#[derive(Debug, Default)]
pub struct Errors {
    count: AtomicU64,
    first: Mutex<Vec<String>>,
}

impl Errors {
    pub fn note(&self, what: impl std::fmt::Display) {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        if n < 5 {
            let msg = what.to_string();
            eprintln!("  ! {msg}");
            if let Ok(mut first) = self.first.lock() {
                first.push(msg);
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn first(&self) -> Vec<String> {
        self.first.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// State of one 1:1 run, shared by the senders and the receivers.
#[derive(Debug)]
pub struct PairStats {
    pub clock: Clock,
    /// The phase tag new closed-loop sends carry.
    phase: AtomicU8,
    /// Deliveries of any phase (the throughput window reads it before and after).
    pub delivered: AtomicU64,
    sent: [AtomicU64; 3],
    received: [AtomicU64; 3],
    /// Sends issued and not yet answered (HTTP) or queued (WebSocket).
    pub pending: AtomicU64,
    hists: Mutex<Vec<Histogram<u64>>>,
    /// How long each send took to be answered (HTTP response; ~0 for a queued WebSocket frame).
    answered: Mutex<Vec<Histogram<u64>>>,
    /// One semaphore per pair: the closed-loop window, refilled by deliveries.
    pub permits: Vec<Semaphore>,
    pub errors: Errors,
    /// Payloads that did not parse or named an unknown pair.
    pub garbled: AtomicU64,
    /// Per pair, the seqs received: a second copy of one is a duplicate, not a delivery.
    seen: Vec<Mutex<HashSet<u64>>>,
    /// Messages received more than once (not counted as delivered again).
    pub duplicates: AtomicU64,
}

impl PairStats {
    pub fn new(clock: Clock, pairs: usize) -> anyhow::Result<PairStats> {
        let hists = Phase::ALL.iter().map(|_| new_histogram()).collect::<anyhow::Result<Vec<_>>>()?;
        let answered = Phase::ALL.iter().map(|_| new_histogram()).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(PairStats {
            clock,
            phase: AtomicU8::new(Phase::WarmUp as u8),
            delivered: AtomicU64::new(0),
            sent: Default::default(),
            received: Default::default(),
            pending: AtomicU64::new(0),
            hists: Mutex::new(hists),
            answered: Mutex::new(answered),
            permits: (0..pairs).map(|_| Semaphore::new(0)).collect(),
            errors: Errors::default(),
            garbled: AtomicU64::new(0),
            seen: (0..pairs).map(|_| Mutex::new(HashSet::new())).collect(),
            duplicates: AtomicU64::new(0),
        })
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    pub fn payload(&self, phase: Phase, pair: usize, seq: u64, stamp_ns: u64) -> String {
        payload(phase.tag(), pair as u64, seq, stamp_ns)
    }

    pub fn sent_ok(&self, phase: Phase) {
        if let Some(c) = self.sent.get(phase as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn sent(&self, phase: Phase) -> u64 {
        self.sent.get(phase as usize).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn received(&self, phase: Phase) -> u64 {
        self.received.get(phase as usize).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn total_sent(&self) -> u64 {
        Phase::ALL.iter().map(|p| self.sent(*p)).sum()
    }

    pub fn total_received(&self) -> u64 {
        Phase::ALL.iter().map(|p| self.received(*p)).sum()
    }

    /// A receiver got `ciphertext` for pair `pair`.
    pub fn on_receive(&self, pair: usize, ciphertext: &str) {
        let now = self.clock.now_ns();
        let Some((tag, from, seq, stamp)) = parse_payload(ciphertext) else {
            self.garbled.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(phase) = Phase::from_tag(tag) else {
            self.garbled.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if from != pair as u64 {
            self.garbled.fetch_add(1, Ordering::Relaxed);
        }
        let first = self.seen.get(pair).and_then(|s| s.lock().ok()).is_none_or(|mut s| s.insert(seq));
        if !first {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = self.received.get(phase as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let micros = now.saturating_sub(stamp) / 1000;
        if let Ok(mut hists) = self.hists.lock()
            && let Some(h) = hists.get_mut(phase as usize)
        {
            h.saturating_record(micros.max(1));
        }
        if let Some(s) = self.permits.get(pair) {
            s.add_permits(1);
        }
    }

    pub fn record_answer(&self, phase: Phase, took: Duration) {
        if let Ok(mut hists) = self.answered.lock()
            && let Some(h) = hists.get_mut(phase as usize)
        {
            h.saturating_record((took.as_micros() as u64).max(1));
        }
    }

    pub fn answer_summary(&self, phase: Phase) -> Summary {
        self.answered.lock().ok().and_then(|h| h.get(phase as usize).map(Summary::of)).unwrap_or_default()
    }

    pub fn summary(&self, phase: Phase) -> Summary {
        self.hists.lock().ok().and_then(|h| h.get(phase as usize).map(Summary::of)).unwrap_or_default()
    }

    /// Waits until every accepted send was delivered (or `timeout`); returns how many are missing.
    pub async fn drain(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let idle = self.pending.load(Ordering::Relaxed) == 0;
            let (sent, got) = (self.total_sent(), self.total_received());
            if idle && got >= sent {
                return 0;
            }
            if Instant::now() >= deadline {
                return sent.saturating_sub(got);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Aggregates of one group message across all members.
#[derive(Debug, Clone, Copy, Default)]
struct GroupMsg {
    stamp_ns: u64,
    count: u64,
    last_ns: u64,
}

/// State of one fan-out run.
#[derive(Debug)]
pub struct FanStats {
    pub clock: Clock,
    pub receivers: u64,
    msgs: Mutex<Vec<GroupMsg>>,
    per_member: Mutex<Histogram<u64>>,
    pub complete: AtomicU64,
    pub deliveries: AtomicU64,
    pub duplicates_or_garbled: AtomicU64,
    /// Non-message frames seen by members (e.g. the group-created event); used as a readiness gate.
    pub other_entries: AtomicU64,
    pub errors: Errors,
}

impl FanStats {
    pub fn new(clock: Clock, receivers: usize, messages: usize) -> anyhow::Result<FanStats> {
        Ok(FanStats {
            clock,
            receivers: receivers as u64,
            msgs: Mutex::new(vec![GroupMsg::default(); messages]),
            per_member: Mutex::new(new_histogram()?),
            complete: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            duplicates_or_garbled: AtomicU64::new(0),
            other_entries: AtomicU64::new(0),
            errors: Errors::default(),
        })
    }

    pub fn payload(&self, index: usize, stamp_ns: u64) -> String {
        payload('g', index as u64, 0, stamp_ns)
    }

    pub fn on_receive(&self, ciphertext: &str) {
        let now = self.clock.now_ns();
        let Some(("g", index, _, stamp)) = parse_payload(ciphertext) else {
            self.duplicates_or_garbled.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = self.per_member.lock() {
            h.saturating_record((now.saturating_sub(stamp) / 1000).max(1));
        }
        let Ok(mut msgs) = self.msgs.lock() else { return };
        let Some(m) = msgs.get_mut(index as usize) else {
            self.duplicates_or_garbled.fetch_add(1, Ordering::Relaxed);
            return;
        };
        m.stamp_ns = stamp;
        m.count += 1;
        m.last_ns = m.last_ns.max(now);
        if m.count == self.receivers {
            self.complete.fetch_add(1, Ordering::Relaxed);
        } else if m.count > self.receivers {
            self.duplicates_or_garbled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Deliveries per second from `start_ns` to the last delivery of any message.
    pub fn delivery_rate(&self, start_ns: u64) -> f64 {
        let last = self.msgs.lock().map(|m| m.iter().map(|x| x.last_ns).max().unwrap_or(0)).unwrap_or(0);
        let secs = last.saturating_sub(start_ns) as f64 / 1e9;
        if secs > 0.0 { self.deliveries.load(Ordering::Relaxed) as f64 / secs } else { 0.0 }
    }

    /// (time until the last member got each complete message, per-member latency)
    pub fn summaries(&self) -> anyhow::Result<(Summary, Summary)> {
        let mut last = new_histogram()?;
        if let Ok(msgs) = self.msgs.lock() {
            for m in msgs.iter().filter(|m| m.count >= self.receivers) {
                last.saturating_record((m.last_ns.saturating_sub(m.stamp_ns) / 1000).max(1));
            }
        }
        let member = self.per_member.lock().map(|h| Summary::of(&h)).unwrap_or_default();
        Ok((Summary::of(&last), member))
    }

    pub async fn wait_complete(&self, messages: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.complete.load(Ordering::Relaxed) < messages {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

/// The processes whose CPU time a run reports besides its own: the relay's (one per node) and,
/// with PostgreSQL on this machine, the database's (its postmaster and every backend under it).
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub servers: Vec<u32>,
    pub postmaster: Option<u32>,
}

/// CPU time consumed, in clock ticks (1/100 s on Linux), read from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSnap {
    at: Option<Instant>,
    server: u64,
    database: u64,
    bench: u64,
    forwarder: u64,
    /// Busy ticks of the whole machine (all cores).
    machine: u64,
}

/// Share of one core used during a window, in percent.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuUse {
    /// The relay processes, all nodes together (0 for forwarder runs).
    pub server_pct: f64,
    /// PostgreSQL's processes (0 on SQLite, or with the database on another machine).
    pub database_pct: f64,
    /// The forwarder's own runtime threads (0 for relay runs).
    pub forwarder_pct: f64,
    /// The load generator: every other thread of this process.
    pub load_generator_pct: f64,
    /// Everything else on the machine (other processes, kernel softirq work not charged to
    /// these processes). Large values mean the figures are disturbed.
    pub other_pct: f64,
    /// Whole machine, all cores (200 = two cores fully busy).
    pub machine_pct: f64,
}

const TICKS_PER_SEC: f64 = 100.0;
pub const FORWARDER_THREAD: &str = "fwd-worker";

/// A process's (or thread's) `/proc/…/stat`: its name, parent pid and CPU ticks.
struct Stat {
    comm: String,
    ppid: u32,
    ticks: u64,
}

fn stat(path: &str) -> Option<Stat> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // After the comm: state is field 3, ppid 4, utime 14, stime 15 (1-based) => index 1, 11, 12.
    let ppid: u32 = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(Stat { comm, ppid, ticks: utime + stime })
}

/// The parent of a process, if it runs on this machine under that name (PostgreSQL's backends
/// are children of the postmaster).
pub fn parent_named(pid: u32, name: &str) -> Option<u32> {
    let parent = stat(&format!("/proc/{pid}/stat"))?.ppid;
    stat(&format!("/proc/{parent}/stat")).filter(|s| s.comm == name).map(|_| parent)
}

/// Ticks of `root` and its children (a postmaster and its backends; a backend that already
/// exited is counted in the postmaster's children's time, which this does not read).
fn tree_ticks(root: u32) -> u64 {
    let mut ticks = stat(&format!("/proc/{root}/stat")).map_or(0, |s| s.ticks);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
            if let Some(s) = stat(&format!("/proc/{pid}/stat"))
                && s.ppid == root
            {
                ticks += s.ticks;
            }
        }
    }
    ticks
}

/// Non-idle ticks of all cores, from the first line of /proc/stat.
fn machine_busy_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let busy = v.get(0..3)?.iter().sum::<u64>() + v.get(5..8)?.iter().sum::<u64>();
    Some(busy)
}

/// Measures how busy the machine is before the run, as % of one core.
pub async fn machine_load(over: Duration) -> f64 {
    let a = CpuSnap::take(&Watched::default());
    tokio::time::sleep(over).await;
    let u = CpuSnap::take(&Watched::default()).since(&a);
    u.other_pct
}

impl CpuSnap {
    pub fn take(watched: &Watched) -> CpuSnap {
        let server = watched.servers.iter().filter_map(|p| stat(&format!("/proc/{p}/stat"))).map(|s| s.ticks).sum();
        let database = watched.postmaster.map_or(0, tree_ticks);
        let bench = stat("/proc/self/stat").map_or(0, |s| s.ticks);
        let mut forwarder = 0;
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for task in dir.flatten() {
                let path = task.path().join("stat");
                if let Some(s) = stat(&path.to_string_lossy())
                    && s.comm.starts_with(FORWARDER_THREAD)
                {
                    forwarder += s.ticks;
                }
            }
        }
        CpuSnap {
            at: Some(Instant::now()),
            server,
            database,
            bench,
            forwarder,
            machine: machine_busy_ticks().unwrap_or(0),
        }
    }

    pub fn since(&self, start: &CpuSnap) -> CpuUse {
        let secs = match (self.at, start.at) {
            (Some(a), Some(b)) => a.saturating_duration_since(b).as_secs_f64(),
            _ => 0.0,
        };
        if secs <= 0.0 {
            return CpuUse::default();
        }
        let pct = |ticks: u64| ticks as f64 / TICKS_PER_SEC / secs * 100.0;
        let fwd = self.forwarder.saturating_sub(start.forwarder);
        let server = self.server.saturating_sub(start.server);
        let bench = self.bench.saturating_sub(start.bench);
        let database = self.database.saturating_sub(start.database);
        let machine = self.machine.saturating_sub(start.machine);
        CpuUse {
            server_pct: pct(server),
            database_pct: pct(database),
            forwarder_pct: pct(fwd),
            load_generator_pct: pct(bench.saturating_sub(fwd)),
            other_pct: pct(machine.saturating_sub(server + database + bench)),
            machine_pct: pct(machine),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let p = payload('t', 3, 99, 123_456_789);
        assert_eq!(p.len(), PAYLOAD_BYTES);
        assert_eq!(parse_payload(&p), Some(("t", 3, 99, 123_456_789)));
    }

    #[test]
    fn a_second_copy_is_a_duplicate_not_a_delivery() {
        let stats = PairStats::new(Clock::new(), 2).unwrap();
        let first = stats.payload(Phase::Throughput, 1, 7, 0);
        stats.on_receive(1, &first);
        stats.on_receive(1, &first);
        // The same seq from another pair is another message.
        stats.on_receive(0, &stats.payload(Phase::Throughput, 0, 7, 0));
        assert_eq!(stats.delivered.load(Ordering::Relaxed), 2);
        assert_eq!(stats.received(Phase::Throughput), 2);
        assert_eq!(stats.duplicates.load(Ordering::Relaxed), 1);
    }
}
