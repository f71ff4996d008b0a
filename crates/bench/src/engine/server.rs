//! The real `sotto-server` binary in a child process on a loopback port, with its own data
//! directory and rate limits off (as `sotto-bench` runs it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Server {
    child: tokio::process::Child,
    pub base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

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

impl Server {
    pub async fn start(bin: &Path, parent: &Path) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("server-")
            .tempdir_in(parent)
            .context("creating the server's temporary data directory")?;
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe socket")?;
            probe.local_addr()?.port()
        };
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = tokio::process::Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--rate-limit")
            .arg("0")
            .arg("--access-token-ttl")
            .arg("86400")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}"), log, _dir: dir };
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().no_proxy().build()?;
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

    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines.iter().skip(lines.len().saturating_sub(n)).copied().collect::<Vec<_>>().join("\n")
    }

    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("sotto-server died ({status}); its log:\n{}", self.log_tail(30));
        }
        Ok(())
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill().context("stopping sotto-server")?;
        let _ = self.child.wait().await;
        Ok(())
    }
}
