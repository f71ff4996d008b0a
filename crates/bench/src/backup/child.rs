//! One command measured in a process of its own: `sotto-backup-bench --measure REPORT -- CMD…`
//! spawns CMD (stdin, stdout and stderr inherited), samples its resident set from
//! `/proc/<pid>/status` every few milliseconds, waits for it, and writes a [`Measured`] report.
//!
//! The peak comes from `getrusage(RUSAGE_CHILDREN)` after the wait: the kernel's high-water mark
//! of the one child this wrapper ever had, so it cannot miss a short spike or the last moments
//! before exit (the samples can; they serve only to tell the phases apart, see
//! [`Measured::peak_after_kdf_kib`]).

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

const SAMPLE_EVERY: Duration = Duration::from_millis(5);
/// A fall of the resident set by at least this much within [`DROP_WINDOW`] samples is a key
/// derivation's buffer being freed (argon2id: 64 MiB, scrypt: 128 MiB).
const KDF_DROP_KIB: u64 = 48 * 1024;
const DROP_WINDOW: usize = 10;

/// What the wrapper reports about its child.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub exit_code: Option<i32>,
    /// From just before the spawn to the end of the wait.
    pub wall_ms: f64,
    pub user_ms: f64,
    pub sys_ms: f64,
    /// The child's peak resident set (`ru_maxrss`), KiB.
    pub peak_rss_kib: u64,
    /// (ms since the spawn, VmRSS KiB), every ~5 ms while the child ran.
    pub samples: Vec<(f64, u64)>,
}

impl Measured {
    /// The end of the last key derivation: the time of the last sample after which the resident
    /// set had fallen by [`KDF_DROP_KIB`] within a few samples (ms), if there was one.
    pub fn kdf_done_ms(&self) -> Option<f64> {
        let rss: Vec<u64> = self.samples.iter().map(|s| s.1).collect();
        (1..rss.len())
            .rev()
            .find(|&i| {
                let before = rss.get(i.saturating_sub(DROP_WINDOW)..i).and_then(|w| w.iter().max().copied());
                matches!((before, rss.get(i)), (Some(b), Some(&now)) if b >= now + KDF_DROP_KIB)
            })
            .and_then(|i| self.samples.get(i).map(|s| s.0))
    }

    /// The highest sampled resident set after the last key derivation: what the records, the
    /// database and the network use, without the passphrase work (scrypt's 128 MiB, argon2id's
    /// 64 MiB) that sets the overall peak of a small file. Without a recognisable derivation, the
    /// overall peak.
    pub fn peak_after_kdf_kib(&self) -> u64 {
        match self.kdf_done_ms() {
            Some(t) => self.samples.iter().filter(|s| s.0 >= t).map(|s| s.1).max().unwrap_or(self.peak_rss_kib),
            None => self.peak_rss_kib,
        }
    }

    /// The resident set after the last key derivation, in `parts` equal slices of the time that
    /// remained: the highest sample of each (KiB). A history that costs memory shows as a rising
    /// line, a bounded buffer as a plateau.
    pub fn profile_after_kdf_kib(&self, parts: usize) -> Vec<u64> {
        let start = self.kdf_done_ms().unwrap_or(0.0);
        let span = (self.wall_ms - start).max(1.0);
        let mut out = vec![0u64; parts];
        for &(t, kib) in self.samples.iter().filter(|s| s.0 >= start) {
            let slot = (((t - start) / span * parts as f64) as usize).min(parts.saturating_sub(1));
            if let Some(v) = out.get_mut(slot) {
                *v = (*v).max(kib);
            }
        }
        out
    }
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

#[cfg(unix)]
fn children_usage() -> anyhow::Result<(u64, f64, f64)> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let ms = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0;
    // Linux reports ru_maxrss in KiB.
    Ok((u64::try_from(usage.max_rss()).unwrap_or(0), ms(usage.user_time()), ms(usage.system_time())))
}

#[cfg(not(unix))]
fn children_usage() -> anyhow::Result<(u64, f64, f64)> {
    bail!("measuring a child's peak memory needs getrusage (Unix)")
}

/// The wrapper's whole life: run `command`, write the report to `report`, exit as the child did.
pub fn wrapper_main(report: &Path, command: &[OsString]) -> anyhow::Result<ExitCode> {
    let Some((program, args)) = command.split_first() else { bail!("--measure needs a command after --") };
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    let pid = child.id();
    let mut samples = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(kib) = vm_rss_kib(pid) {
            samples.push((started.elapsed().as_secs_f64() * 1000.0, kib));
        }
        std::thread::sleep(SAMPLE_EVERY);
    };
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (peak_rss_kib, user_ms, sys_ms) = children_usage()?;
    let measured = Measured { exit_code: status.code(), wall_ms, user_ms, sys_ms, peak_rss_kib, samples };
    std::fs::write(report, serde_json::to_vec(&measured)?).with_context(|| format!("writing {}", report.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// Run `command` under the wrapper (this same executable), `stdin` written to its standard input;
/// returns the report and the command's standard output. Fails, with the command's standard
/// error, unless it succeeded.
pub fn run(command: &[OsString], stdin: &str, work: &Path, name: &str) -> anyhow::Result<(Measured, String)> {
    use std::io::Write as _;
    let report = work.join(format!("{name}.measure.json"));
    let stderr_path = work.join(format!("{name}.stderr.txt"));
    let stderr = std::fs::File::create(&stderr_path)?;
    let mut wrapper = Command::new(std::env::current_exe()?)
        .arg("--measure")
        .arg(&report)
        .arg("--")
        .args(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .context("starting the measuring wrapper")?;
    if let Some(mut input) = wrapper.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    let output = wrapper.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        bail!("{name} failed ({}):\n{err}\n{stdout}", output.status);
    }
    let measured: Measured = serde_json::from_slice(&std::fs::read(&report)?).context("reading the report")?;
    Ok((measured, stdout))
}
