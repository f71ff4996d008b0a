//! The sign-in flood: many sign-ins with made-up user ids at once against a server with its
//! default limits (as an attacker would send them), while one signed-in device goes on with an
//! ordinary request every 10 ms. Measures the server's resident memory (before, peak, after) and
//! the ordinary request's latency during the flood.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::json;
use sotto_proto::Session;

use crate::measure::{Summary, new_histogram};

#[derive(Debug, Clone, Copy)]
pub struct SigninPlan {
    pub sign_ins: usize,
    pub concurrency: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SigninResult {
    pub sign_ins: usize,
    pub concurrency: usize,
    /// Answered 401 (the password was checked).
    pub checked: u64,
    /// Answered 503 server_busy (the hashers' queue was full).
    pub busy: u64,
    /// Any other answer or a failed request: a fault.
    pub errors: u64,
    pub flood_secs: f64,
    pub rss_before_mib: f64,
    /// The server's peak resident memory (`VmHWM`), start and flood included.
    pub rss_peak_mib: f64,
    pub rss_after_mib: f64,
    /// `GET /v1/devices` of a signed-in device during the flood.
    pub ordinary: Summary,
    pub ordinary_errors: u64,
    pub first_errors: Vec<String>,
}

/// `VmRSS` or `VmHWM` of `pid`, in MiB.
pub(crate) fn memory_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the server's memory")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

pub async fn run(bin: &Path, parent: Option<&Path>, plan: SigninPlan) -> anyhow::Result<SigninResult> {
    // The server as deployed: default limits (the flood comes from loopback, which skips only the
    // per-address limit, as local tools do; every user id is new, so no per-user limit applies).
    let mut launch = sotto_testkit::Launch::new().binary(bin);
    if let Some(parent) = parent {
        launch = launch.temp_in(parent);
    }
    let mut server = launch.try_start().await?;
    let pid = server.pid().context("the server has no pid")?;
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build()?;
    let url = |path: &str| format!("{}{path}", server.url());
    let resp = http
        .post(url("/v1/accounts"))
        .json(&json!({"user_id": "owner", "password": "the owner's long password"}))
        .send()
        .await?;
    if resp.status() != 201 {
        bail!("registering the ordinary device: {}", resp.status());
    }
    let session: Session = resp.json().await?;
    let rss_before_mib = memory_mib(pid, "VmRSS:")?;

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ordinary = {
        let (http, url, token, done) = (http.clone(), url("/v1/devices"), session.access_token.clone(), done.clone());
        tokio::spawn(async move {
            let mut hist = new_histogram()?;
            let mut errors = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status() == 200 => {
                        hist.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1))?;
                    }
                    Ok(r) => errors.push(format!("ordinary request: {}", r.status())),
                    Err(e) => errors.push(format!("ordinary request: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            anyhow::Ok((Summary::of(&hist), errors))
        })
    };

    let next = Arc::new(AtomicUsize::new(0));
    let (checked, busy, errors) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let first_errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..plan.concurrency {
        let (http, url, next) = (http.clone(), url("/v1/sessions"), next.clone());
        let (checked, busy, errors, first_errors) =
            (checked.clone(), busy.clone(), errors.clone(), first_errors.clone());
        let total = plan.sign_ins;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let body = json!({"user_id": format!("nobody-{i}"), "password": "a guess at a password"});
                let outcome = match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status() == 401 => Ok(&checked),
                    Ok(r) if r.status() == 503 && r.headers().contains_key("retry-after") => Ok(&busy),
                    Ok(r) => Err(format!("a bogus sign-in got {}", r.status())),
                    Err(e) => Err(format!("a bogus sign-in failed: {e}")),
                };
                match outcome {
                    Ok(counter) => counter.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        let mut first = first_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        if first.len() < 5 {
                            first.push(e);
                        }
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for w in workers {
        w.await.context("a sign-in worker")?;
    }
    let flood_secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (ordinary, ordinary_errors) = ordinary.await.context("the ordinary client")??;
    let rss_peak_mib = memory_mib(pid, "VmHWM:")?;
    let rss_after_mib = memory_mib(pid, "VmRSS:")?;
    server.check_alive()?;
    server.kill9();
    let mut first_errors = first_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    first_errors.extend(ordinary_errors.iter().take(5).cloned());
    Ok(SigninResult {
        sign_ins: plan.sign_ins,
        concurrency: plan.concurrency,
        checked: checked.load(Ordering::Relaxed),
        busy: busy.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        flood_secs,
        rss_before_mib,
        rss_peak_mib,
        rss_after_mib,
        ordinary,
        ordinary_errors: ordinary_errors.len() as u64,
        first_errors,
    })
}
