//! Processes from `/proc`: the app below `tauri-driver`, its WebKit children, when each started
//! (on the wall clock) and how much memory they hold.

use anyhow::{Context, bail};

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    /// Start time in clock ticks after boot.
    pub start_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses: split at the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the comm: field 3 (state) is rest[0]; ppid is field 4, starttime field 22.
    Some(Proc { pid, ppid: rest.get(1)?.parse().ok()?, comm, start_ticks: rest.get(19)?.parse().ok()? })
}

pub fn all() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).filter_map(read_stat).collect()
}

/// `root` and every process below it.
pub fn tree(root: u32) -> Vec<Proc> {
    let procs = all();
    let mut out: Vec<Proc> = procs.iter().filter(|p| p.pid == root).cloned().collect();
    let mut i = 0;
    while let Some(parent) = out.get(i).map(|p| p.pid) {
        out.extend(procs.iter().filter(|p| p.ppid == parent).cloned());
        i += 1;
    }
    out
}

fn clock_ticks() -> anyhow::Result<f64> {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().context("running getconf CLK_TCK")?;
    let ticks: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().context("reading CLK_TCK")?;
    if ticks <= 0.0 {
        bail!("CLK_TCK is {ticks}");
    }
    Ok(ticks)
}

/// Wall-clock milliseconds since the Unix epoch at which `p` started (to 1/CLK_TCK, i.e. 10 ms).
pub fn started_epoch_ms(p: &Proc) -> anyhow::Result<f64> {
    let uptime = std::fs::read_to_string("/proc/uptime").context("reading /proc/uptime")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64() * 1000.0;
    let up_s: f64 = uptime.split_whitespace().next().context("empty /proc/uptime")?.parse()?;
    let boot_ms = now - up_s * 1000.0;
    Ok(boot_ms + p.start_ticks as f64 / clock_ticks()? * 1000.0)
}

/// Resident and proportional set size of one process, KiB (`/proc/<pid>/smaps_rollup`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub pss_kib: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .with_context(|| format!("reading /proc/{pid}/smaps_rollup"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory { rss_kib: field("Rss:"), pss_kib: field("Pss:") })
}
