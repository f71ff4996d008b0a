//! The real `sotto-server` binary as every benchmark runs it (started by `sotto_testkit`): a
//! child process on a loopback port, its own temporary data directory, rate limits off and
//! day-long tokens.

use std::path::{Path, PathBuf};

use anyhow::Context;
pub use sotto_testkit::ServerProcess;

/// `explicit`, or `sotto-server` next to this executable (or in `$SOTTO_SOTTO_SERVER_BIN`).
pub fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    sotto_testkit::locate("sotto-server", explicit)
        .context("Build it first: cargo build --release -p sotto-server -p sotto-bench (or pass --server-bin PATH)")
}

/// Start `bin` with its temporary directory under `parent` (default: the system's), and wait
/// until it answers. `RUST_LOG` is passed on (default `info`).
pub async fn start(bin: &Path, parent: Option<&Path>) -> anyhow::Result<ServerProcess> {
    Ok(launch(bin, parent).try_start().await?)
}

/// How [`start`] starts `bin` (callers add flags or environment, e.g. another database).
pub fn launch(bin: &Path, parent: Option<&Path>) -> sotto_testkit::Launch {
    let launch = sotto_testkit::Launch::new()
        .binary(bin)
        .no_rate_limit()
        // Tokens must outlive the run (the 1,000-member setup alone takes a while).
        .args(["--access-token-ttl", "86400"])
        // The fan-out group's members never wrote to its creator: a team server adds them.
        .args(["--group-adds", "direct"])
        .rust_log(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()));
    match parent {
        Some(parent) => launch.temp_in(parent),
        None => launch,
    }
}

/// Log lines at WARN or ERROR, and panics: the server's own view of trouble during the run.
pub fn warnings(server: &ServerProcess) -> Vec<String> {
    server
        .logs()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
        .map(str::to_owned)
        .collect()
}
