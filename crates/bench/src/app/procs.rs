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

/// Resident and proportional set size of one process, KiB, and where its PSS lies
/// (`/proc/<pid>/smaps`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub pss_kib: u64,
    /// PSS of private, unnamed memory: the heaps (malloc, JavaScript, WebKit's own), stacks.
    pub anon_pss_kib: u64,
    /// PSS of shared memory and graphics buffers: `memfd:`, `/dev/shm`, `/dev/dri`, SysV.
    pub shared_pss_kib: u64,
    /// PSS of mapped files: the program, its libraries, fonts, caches.
    pub file_pss_kib: u64,
}

/// Which of [`Memory`]'s parts a mapping named `name` (the path column of smaps) counts in.
fn part(name: &str) -> fn(&mut Memory) -> &mut u64 {
    if name.is_empty() || name.starts_with("[heap]") || name.starts_with("[stack") || name.starts_with("[anon") {
        |m| &mut m.anon_pss_kib
    } else if name.starts_with("/memfd:")
        || name.starts_with("memfd:")
        || name.starts_with("/dev/shm")
        || name.starts_with("/dev/dri")
        || name.starts_with("/SYSV")
    {
        |m| &mut m.shared_pss_kib
    } else if name.starts_with('[') {
        // [vdso], [vvar]: the kernel's, a few pages.
        |m| &mut m.anon_pss_kib
    } else {
        |m| &mut m.file_pss_kib
    }
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/smaps")).with_context(|| format!("reading /proc/{pid}/smaps"))?;
    let mut m = Memory::default();
    let mut current: fn(&mut Memory) -> &mut u64 = |m| &mut m.anon_pss_kib;
    let kib = |rest: &str| rest.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Rss:") {
            m.rss_kib += kib(rest);
        } else if let Some(rest) = line.strip_prefix("Pss:") {
            let pss = kib(rest);
            m.pss_kib += pss;
            *current(&mut m) += pss;
        } else if line.split_whitespace().next().is_some_and(|range| range.contains('-') && !range.ends_with(':')) {
            // A mapping's header: `start-end perms offset dev inode [name]`.
            let name = line.splitn(6, char::is_whitespace).nth(5).unwrap_or("").trim();
            current = part(name);
        }
    }
    Ok(m)
}
