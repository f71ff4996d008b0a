//! Load shapes shared by the relay and the forwarder runs: a closed loop (a fixed window of
//! undelivered messages per sender) for the maximum rate, and an open loop (sends paced on a fixed
//! schedule, whatever the latency) for latency at a given rate.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::measure::{CpuSnap, CpuUse, PairStats, Phase, Summary, Watched};

/// How a sender hands one 256-byte payload to the system under test.
pub trait Transport: Send + Sync + 'static {
    /// Spawn a task per send (the send waits for a response) instead of awaiting it inline.
    const SPAWN: bool;
    /// Sends `payload` from sender `pair` to its recipient; `seq` is unique per pair.
    fn send(&self, pair: usize, seq: u64, payload: String) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Results of one 1:1 run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PairResult {
    pub pairs: usize,
    pub in_flight: usize,
    /// Messages delivered per second in the closed-loop window.
    pub max_delivered_per_s: f64,
    /// Sends accepted per second in the same window.
    pub max_accepted_per_s: f64,
    /// Latency while saturated (closed loop).
    pub latency_saturated: Summary,
    /// The open-loop target rate (0.5 × max, or the rate the plan fixed).
    pub half_rate_target: f64,
    /// Messages actually delivered per second during the open-loop window.
    pub half_rate_delivered: f64,
    pub latency_at_half: Summary,
    /// How long sends took to be answered (relay: HTTP response = stored) when saturated / at half.
    pub answer_saturated: Summary,
    pub answer_at_half: Summary,
    pub lost: u64,
    pub errors: u64,
    pub garbled: u64,
    /// Messages delivered more than once.
    pub duplicates: u64,
    pub first_errors: Vec<String>,
    pub cpu_at_max: CpuUse,
    pub cpu_at_half: CpuUse,
}

async fn send_one<T: Transport>(
    t: &T,
    stats: &PairStats,
    phase: Phase,
    pair: usize,
    seq: u64,
    payload: String,
) -> bool {
    let started = Instant::now();
    let ok = match t.send(pair, seq, payload).await {
        Ok(()) => {
            stats.record_answer(phase, started.elapsed());
            stats.sent_ok(phase);
            true
        }
        Err(e) => {
            stats.errors.note(format!("send {pair}/{seq}: {e:#}"));
            false
        }
    };
    stats.pending.fetch_sub(1, Ordering::Relaxed);
    ok
}

async fn closed_loop<T: Transport>(t: Arc<T>, stats: Arc<PairStats>, pair: usize, stop: CancellationToken) {
    let mut seq = 0u64;
    loop {
        let Some(sem) = stats.permits.get(pair) else { return };
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = sem.acquire() => p,
        };
        let Ok(permit) = permit else { return };
        permit.forget();
        let phase = stats.phase();
        let payload = stats.payload(phase, pair, seq, stats.clock.now_ns());
        seq += 1;
        stats.pending.fetch_add(1, Ordering::Relaxed);
        let (t2, s2) = (t.clone(), stats.clone());
        let work = async move {
            if !send_one(&*t2, &s2, phase, pair, seq, payload).await {
                // Give the window slot back after a pause, so a failing system is not hammered.
                tokio::time::sleep(Duration::from_millis(20)).await;
                if let Some(sem) = s2.permits.get(pair) {
                    sem.add_permits(1);
                }
            }
        };
        if T::SPAWN {
            tokio::spawn(work);
        } else {
            work.await;
        }
    }
}

async fn open_loop<T: Transport>(
    t: Arc<T>,
    stats: Arc<PairStats>,
    pair: usize,
    period: Duration,
    first: tokio::time::Instant,
    measure_from: tokio::time::Instant,
    end: tokio::time::Instant,
) {
    let mut tick = tokio::time::interval_at(first, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut seq = 1u64 << 40;
    loop {
        let at = tick.tick().await;
        if at >= end {
            return;
        }
        let phase = if at < measure_from { Phase::WarmUp } else { Phase::Latency };
        let payload = stats.payload(phase, pair, seq, stats.clock.ns_at(at.into_std()));
        seq += 1;
        stats.pending.fetch_add(1, Ordering::Relaxed);
        if T::SPAWN {
            let (t2, s2) = (t.clone(), stats.clone());
            tokio::spawn(async move { send_one(&*t2, &s2, phase, pair, seq, payload).await });
        } else {
            send_one(&*t, &stats, phase, pair, seq, payload).await;
        }
    }
}

/// Settings of a 1:1 run.
#[derive(Debug, Clone)]
pub struct PairPlan {
    pub pairs: usize,
    pub in_flight: usize,
    pub warm_up: Duration,
    pub duration: Duration,
    /// Whose CPU time the run reports (the relay's nodes, the database).
    pub watched: Watched,
    /// The open loop's rate in msg/s; `None`: half the closed loop's maximum. Two runs compared
    /// for latency are paced at the same rate.
    pub open_rate: Option<f64>,
}

/// Closed loop for the maximum rate, then an open loop at half of it (or at the plan's rate).
/// The receivers must already be running and feeding `stats`.
pub async fn run_pairs<T: Transport>(label: &str, t: Arc<T>, stats: Arc<PairStats>, plan: PairPlan) -> PairResult {
    let mut result = PairResult { pairs: plan.pairs, in_flight: plan.in_flight, ..Default::default() };

    // (a) Closed loop: warm-up, then the measured window.
    eprintln!(
        "[{label}] closed loop: {} senders x {} in flight, {:.0}s warm-up + {:.0}s measured",
        plan.pairs,
        plan.in_flight,
        plan.warm_up.as_secs_f64(),
        plan.duration.as_secs_f64()
    );
    stats.set_phase(Phase::WarmUp);
    let stop = CancellationToken::new();
    let mut senders = Vec::new();
    for pair in 0..plan.pairs {
        if let Some(sem) = stats.permits.get(pair) {
            sem.add_permits(plan.in_flight);
        }
        senders.push(tokio::spawn(closed_loop(t.clone(), stats.clone(), pair, stop.clone())));
    }
    tokio::time::sleep(plan.warm_up).await;
    stats.set_phase(Phase::Throughput);
    let (d0, a0, c0, t0) = (
        stats.delivered.load(Ordering::Relaxed),
        stats.sent(Phase::Throughput),
        CpuSnap::take(&plan.watched),
        Instant::now(),
    );
    tokio::time::sleep(plan.duration).await;
    let (d1, a1, c1, secs) = (
        stats.delivered.load(Ordering::Relaxed),
        stats.sent(Phase::Throughput),
        CpuSnap::take(&plan.watched),
        t0.elapsed().as_secs_f64(),
    );
    stop.cancel();
    for s in senders {
        let _ = s.await;
    }
    result.max_delivered_per_s = d1.saturating_sub(d0) as f64 / secs;
    result.max_accepted_per_s = a1.saturating_sub(a0) as f64 / secs;
    result.cpu_at_max = c1.since(&c0);
    let lost = stats.drain(Duration::from_secs(30)).await;
    result.latency_saturated = stats.summary(Phase::Throughput);
    result.answer_saturated = stats.answer_summary(Phase::Throughput);
    eprintln!(
        "[{label}] max: {:.0} msg/s delivered ({:.0} accepted), p50 {:.2} ms p99 {:.2} ms when saturated",
        result.max_delivered_per_s,
        result.max_accepted_per_s,
        result.latency_saturated.p50_us as f64 / 1000.0,
        result.latency_saturated.p99_us as f64 / 1000.0
    );
    if lost > 0 {
        stats.errors.note(format!("{lost} messages accepted in the closed loop were not delivered within 30 s"));
    }

    // (b) Open loop at half the maximum rate (or the plan's).
    let rate = plan.open_rate.unwrap_or(result.max_delivered_per_s * 0.5).max(1.0);
    result.half_rate_target = rate;
    let per_pair = rate / plan.pairs as f64;
    let period = Duration::from_secs_f64(1.0 / per_pair);
    eprintln!(
        "[{label}] open loop at {rate:.0} msg/s ({per_pair:.1}/s per sender), {:.0}s warm-up + {:.0}s measured",
        plan.warm_up.as_secs_f64(),
        plan.duration.as_secs_f64()
    );
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let measure_from = start + plan.warm_up;
    let end = measure_from + plan.duration;
    let mut senders = Vec::new();
    for pair in 0..plan.pairs {
        let offset = period.mul_f64(pair as f64 / plan.pairs as f64);
        senders.push(tokio::spawn(open_loop(
            t.clone(),
            stats.clone(),
            pair,
            period,
            start + offset,
            measure_from,
            end,
        )));
    }
    tokio::time::sleep_until(measure_from).await;
    let (r0, c0) = (stats.received(Phase::Latency), CpuSnap::take(&plan.watched));
    tokio::time::sleep_until(end).await;
    let (c1, secs) = (CpuSnap::take(&plan.watched), plan.duration.as_secs_f64());
    for s in senders {
        let _ = s.await;
    }
    let lost_half = stats.drain(Duration::from_secs(30)).await;
    result.half_rate_delivered = stats.received(Phase::Latency).saturating_sub(r0) as f64 / secs;
    result.cpu_at_half = c1.since(&c0);
    result.latency_at_half = stats.summary(Phase::Latency);
    result.answer_at_half = stats.answer_summary(Phase::Latency);
    if lost_half > 0 {
        stats.errors.note(format!("{lost_half} messages accepted in the open loop were not delivered within 30 s"));
    }
    eprintln!(
        "[{label}] at {rate:.0} msg/s: p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms",
        result.latency_at_half.p50_us as f64 / 1000.0,
        result.latency_at_half.p99_us as f64 / 1000.0,
        result.latency_at_half.p999_us as f64 / 1000.0
    );
    result.lost = lost.max(lost_half);
    result.errors = stats.errors.count();
    result.garbled = stats.garbled.load(Ordering::Relaxed);
    result.duplicates = stats.duplicates.load(Ordering::Relaxed);
    result.first_errors = stats.errors.first();
    result
}

/// Paces `count` calls of `send(index, stamp)` at `rate` per second; the stamp is the scheduled time.
pub async fn paced<F, Fut>(count: usize, rate: f64, clock: crate::measure::Clock, send: F)
where
    F: Fn(usize, u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let at = tick.tick().await;
        tasks.push(tokio::spawn(send(i, clock.ns_at(at.into_std()))));
    }
    for t in tasks {
        let _ = t.await;
    }
}
