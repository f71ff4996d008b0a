//! The real `sotto-server` binary in a child process on a loopback port, with its own temporary
//! data directory, rate limits off and day-long tokens: how both benchmarks run the server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `sotto-server` next to this executable, or `explicit`.
pub fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let bin = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .context("locating this executable")?
            .parent()
            .context("this executable has no directory")?
            .join(format!("sotto-server{}", std::env::consts::EXE_SUFFIX)),
    };
    if !bin.is_file() {
        bail!(
            "sotto-server not found at {}.\nBuild it first: cargo build --release -p sotto-server -p sotto-bench\n(or pass --server-bin PATH)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A running `sotto-server` child process with its own temporary data directory.
pub struct ServerProcess {
    child: tokio::process::Child,
    pub base: String,
    pub ws_url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe socket")?;
    Ok(l.local_addr()?.port())
}

impl ServerProcess {
    pub async fn start(bin: &Path, parent: Option<&Path>) -> anyhow::Result<ServerProcess> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("sotto-bench-");
        let dir = match parent {
            Some(p) => builder.tempdir_in(p),
            None => builder.tempdir(),
        }
        .context("creating a temporary data directory")?;
        let port = free_port()?;
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = tokio::process::Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--rate-limit")
            .arg("0")
            // Tokens must outlive the run (the 1,000-member setup alone takes a while).
            .arg("--access-token-ttl")
            .arg("86400")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            ws_url: format!("ws://127.0.0.1:{port}/v1/ws"),
            log,
            _dir: dir,
        };
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("sotto-server exited at start ({status}); its log:\n{}", self.log_tail(20));
            }
            if let Ok(r) = http.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("sotto-server did not answer /healthz within 20 s; its log:\n{}", self.log_tail(20));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Fails if the server died.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("sotto-server died ({status}); its log:\n{}", self.log_tail(30));
        }
        Ok(())
    }

    /// Log lines at WARN or ERROR (the server's own view of trouble during the run).
    pub fn warnings(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
            .map(str::to_owned)
            .collect()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines.iter().skip(lines.len().saturating_sub(n)).copied().collect::<Vec<_>>().join("\n")
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill().context("stopping sotto-server")?;
        let _ = self.child.wait().await;
        Ok(())
    }
}
