//! Percentiles of timing samples, and CPU accounting from /proc (to tell whether other processes
//! shared the machine while a step ran).

use std::time::{Duration, Instant};

use serde::Serialize;

/// A distribution of durations, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Dist {
    pub n: usize,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Dist {
    pub fn of(samples: &[Duration]) -> Dist {
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        if us.is_empty() {
            return Dist::default();
        }
        let n = us.len();
        // Nearest rank: the smallest value with at least p of the samples at or below it.
        let rank = |p: f64| {
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            us.get(i).copied().unwrap_or(0.0)
        };
        Dist {
            n,
            mean_us: us.iter().sum::<f64>() / n as f64,
            p50_us: rank(0.50),
            p95_us: rank(0.95),
            p99_us: rank(0.99),
            max_us: us.last().copied().unwrap_or(0.0),
        }
    }
}

/// Busy and own CPU time at one moment.
#[derive(Debug, Clone, Copy)]
pub struct CpuSnap {
    at: Instant,
    machine_busy: Option<u64>,
    own: Option<u64>,
}

/// Clock ticks per second of /proc (USER_HZ; 100 on every Linux platform Rust targets).
const TICKS: f64 = 100.0;

impl CpuSnap {
    pub fn take() -> CpuSnap {
        CpuSnap { at: Instant::now(), machine_busy: machine_busy_ticks(), own: own_ticks() }
    }

    /// CPU that processes other than this one (and its finished children) used since `start`,
    /// in % of one core; `None` where /proc is unavailable.
    pub fn others_since(&self, start: &CpuSnap) -> Option<f64> {
        let secs = self.at.saturating_duration_since(start.at).as_secs_f64();
        let (Some(m1), Some(m0), Some(o1), Some(o0)) = (self.machine_busy, start.machine_busy, self.own, start.own)
        else {
            return None;
        };
        if secs <= 0.0 {
            return None;
        }
        let others = m1.saturating_sub(m0).saturating_sub(o1.saturating_sub(o0)) as f64 / TICKS;
        Some(100.0 * others / secs)
    }

    /// This process's CPU since `start`, in % of one core.
    pub fn own_since(&self, start: &CpuSnap) -> Option<f64> {
        let secs = self.at.saturating_duration_since(start.at).as_secs_f64();
        match (self.own, start.own) {
            (Some(a), Some(b)) if secs > 0.0 => Some(100.0 * a.saturating_sub(b) as f64 / TICKS / secs),
            _ => None,
        }
    }
}

fn machine_busy_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some(total.saturating_sub(idle))
}

fn own_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3; utime, stime are fields 14, 15, and cutime,
    // cstime (children waited for, e.g. the sqlite3 shells) 16, 17.
    let mut sum = 0u64;
    for i in 11..=14 {
        sum += f.get(i)?.parse::<u64>().ok()?;
    }
    Some(sum)
}

/// Other processes' CPU over `over`, in % of one core (measured before the run).
pub fn background_load(over: Duration) -> Option<f64> {
    let a = CpuSnap::take();
    std::thread::sleep(over);
    CpuSnap::take().others_since(&a)
}
