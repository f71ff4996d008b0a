//! The real `sotto-server` in a child process.
//!
//! Layout of the temporary directory: `data/` (the server's `--data-dir`) and `server.log` (its
//! stderr, appended across restarts). The process listens on `127.0.0.1:<port>`; a restart keeps
//! the port and the data directory, so clients and their tokens carry on. The process gets no
//! `SOTTO_*` variable from the environment (they would configure it behind the test's back) and
//! is killed (SIGKILL) when the handle is dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{LaunchError, free_port, locate};

/// How long a start may take before it counts as failed (a cold debug build on a busy,
/// two-core machine is slow).
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);
/// Ports tried when each one is taken between the probe and the server's bind.
const PORT_ATTEMPTS: u32 = 10;
/// The start of the server's error when its bind fails (`main.rs`: "cannot listen on <addr>").
const BIND_FAILED: &str = "cannot listen on";
/// Lines of the current run's log an error carries: all of a short log; of a long one, its start
/// (the server's first words, or an error followed by a backtrace) and its end.
const LOG_HEAD_LINES: usize = 20;
const LOG_TAIL_LINES: usize = 60;

/// How to start a server: the binary, extra flags, `RUST_LOG`, where the temporary directory
/// goes. `Launch::new().start().await` is a server with default flags.
#[derive(Debug, Clone)]
pub struct Launch {
    binary: Option<PathBuf>,
    args: Vec<String>,
    rust_log: String,
    temp_parent: Option<PathBuf>,
    tls: bool,
    env: Vec<(String, String)>,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            binary: None,
            args: Vec::new(),
            rust_log: "info".to_owned(),
            temp_parent: None,
            tls: false,
            env: Vec::new(),
        }
    }
}

impl Launch {
    pub fn new() -> Launch {
        Launch::default()
    }

    /// The binary to run (default: [`locate`]`("sotto-server", None)`).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Launch {
        self.binary = Some(path.into());
        self
    }

    /// Extra command-line flags, after `--data-dir` and `--listen`.
    pub fn args<I, S>(mut self, args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Serve HTTPS with the certificate chain and key in these PEM files (`--tls-cert`,
    /// `--tls-key`); the URLs become `https://` and `wss://`. The files are read again at each
    /// restart, so a test can swap the certificate. The harness's own health probe does not
    /// check the certificate (it only asks whether the process is up); clients under test do.
    pub fn tls(mut self, cert: &std::path::Path, key: &std::path::Path) -> Launch {
        self.tls = true;
        self.args([
            "--tls-cert".to_owned(),
            cert.display().to_string(),
            "--tls-key".to_owned(),
            key.display().to_string(),
        ])
    }

    /// An environment variable for the server (kept across restarts).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Launch {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Rate limits off (`--rate-limit 0`), for tests and loads that fire many requests.
    pub fn no_rate_limit(self) -> Launch {
        self.args(["--rate-limit", "0"])
    }

    /// The server's `RUST_LOG` (default `info`).
    pub fn rust_log(mut self, filter: impl Into<String>) -> Launch {
        self.rust_log = filter.into();
        self
    }

    /// Create the temporary directory under `parent` (default: the system's temporary directory).
    pub fn temp_in(mut self, parent: impl Into<PathBuf>) -> Launch {
        self.temp_parent = Some(parent.into());
        self
    }

    /// Start the process and wait until `/healthz` answers. A port taken between the probe and
    /// the bind is retried with another one.
    pub async fn try_start(self) -> Result<ServerProcess, LaunchError> {
        let binary = locate("sotto-server", self.binary.as_deref())?;
        let mut builder = tempfile::Builder::new();
        builder.prefix("sotto-server-");
        let dir = match &self.temp_parent {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(LaunchError::io("creating the server's temporary directory"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .danger_accept_invalid_certs(self.tls)
            .build()?;
        let scheme = if self.tls { "https" } else { "http" };
        let mut server = ServerProcess {
            binary,
            args: self.args,
            env: self.env,
            rust_log: self.rust_log,
            dir,
            port: 0,
            url: String::new(),
            tls: self.tls,
            child: None,
            run_log_start: 0,
            http,
        };
        let mut attempt = 1;
        loop {
            server.port = free_port()?;
            server.url = format!("{scheme}://127.0.0.1:{}", server.port);
            match server.spawn().await {
                Ok(()) => return Ok(server),
                Err(LaunchError::Exited { .. })
                    if server.run_log().contains(BIND_FAILED) && attempt < PORT_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// [`Launch::try_start`] for tests: a failure panics with the reason and the server's log.
    #[expect(clippy::panic, reason = "test support: a server that does not start fails the test")]
    pub async fn start(self) -> ServerProcess {
        match self.try_start().await {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }
}

/// A running (or killed, until restarted) `sotto-server` process with its temporary directory.
pub struct ServerProcess {
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    rust_log: String,
    dir: TempDir,
    port: u16,
    url: String,
    tls: bool,
    child: Option<Child>,
    /// Where the current run's lines begin in `server.log`.
    run_log_start: usize,
    http: reqwest::Client,
}

impl ServerProcess {
    /// `http://127.0.0.1:<port>` (`https` with [`Launch::tls`]), without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The WebSocket endpoint, `ws://127.0.0.1:<port>/v1/ws` (`wss` with [`Launch::tls`]).
    pub fn ws_url(&self) -> String {
        format!("{}://127.0.0.1:{}/v1/ws", if self.tls { "wss" } else { "ws" }, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's `--data-dir`; it outlives kills and restarts (not the handle).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's stderr, every run appended.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server wrote to stderr so far, every run.
    pub fn logs(&self) -> String {
        std::fs::read(self.log_path()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// The process id, while there is a process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails if the process is gone (with the end of its log).
    pub fn check_alive(&mut self) -> Result<(), LaunchError> {
        let child = self.child.as_mut().ok_or(LaunchError::NotRunning)?;
        match child.try_wait().map_err(LaunchError::io("checking on sotto-server"))? {
            None => Ok(()),
            Some(status) => {
                self.child = None;
                Err(LaunchError::Exited { status, log: self.run_log_excerpt() })
            }
        }
    }

    /// SIGKILL, and wait until the process is gone (nothing is flushed: a crash). The data
    /// directory stays; [`ServerProcess::restart`] starts it again.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Both fail only if the process is already gone, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (a graceful shutdown); the process runs until it exits by itself
    /// ([`ServerProcess::wait_exit`]).
    #[cfg(unix)]
    pub fn sigterm(&self) -> Result<(), LaunchError> {
        use nix::sys::signal::{Signal, kill};
        let pid = self.pid().ok_or(LaunchError::NotRunning)?;
        let pid = i32::try_from(pid).map_err(|_| nix::errno::Errno::EINVAL)?;
        kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM)?;
        Ok(())
    }

    /// Waits up to `limit` for the process to exit: its status, or `None` if it still runs.
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<Option<ExitStatus>, LaunchError> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut().ok_or(LaunchError::NotRunning)?;
            if let Some(status) = child.try_wait().map_err(LaunchError::io("waiting for sotto-server"))? {
                self.child = None;
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Start again on the same port and data directory, with the same flags (killing the
    /// process first if it still runs).
    /// Set an environment variable for the next start (e.g. another `SOTTO_DATABASE_URL` after
    /// the installation moved).
    pub fn set_env(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
    }

    pub async fn try_restart(&mut self) -> Result<(), LaunchError> {
        self.kill9();
        self.spawn().await
    }

    /// [`ServerProcess::try_restart`] for tests: a failure panics with the reason and the log.
    #[expect(clippy::panic, reason = "test support: a server that does not restart fails the test")]
    pub async fn restart(&mut self) {
        if let Err(e) = self.try_restart().await {
            panic!("{e}");
        }
    }

    /// Spawn the process on `self.port` and wait until it is healthy.
    async fn spawn(&mut self) -> Result<(), LaunchError> {
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(LaunchError::io(format!("opening {}", log_path.display())))?;
        let written = log.metadata().map_err(LaunchError::io(format!("reading {}", log_path.display())))?.len();
        self.run_log_start = usize::try_from(written).unwrap_or(usize::MAX);
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(self.addr().to_string())
            .args(&self.args)
            .env("RUST_LOG", &self.rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("SOTTO_") || k.starts_with("AWS_")) {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().map_err(LaunchError::io(format!("starting {}", self.binary.display())))?;
        self.child = Some(child);
        self.wait_healthy().await
    }

    /// Polls `GET /healthz` until it answers 200, the process exits, or [`HEALTHY_WITHIN`].
    async fn wait_healthy(&mut self) -> Result<(), LaunchError> {
        let deadline = Instant::now() + HEALTHY_WITHIN;
        let health = format!("{}{}", self.url, sotto_proto::routes::HEALTH_PATH);
        loop {
            self.check_alive()?;
            if let Ok(resp) = self.http.get(&health).send().await
                && resp.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LaunchError::Unhealthy { waited: HEALTHY_WITHIN, log: self.run_log_excerpt() });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the current run wrote to the log.
    fn run_log(&self) -> String {
        let all = std::fs::read(self.log_path()).unwrap_or_default();
        String::from_utf8_lossy(all.get(self.run_log_start..).unwrap_or_default()).into_owned()
    }

    /// The current run's log for an error: whole if short, else its first and last lines.
    fn run_log_excerpt(&self) -> String {
        let run = self.run_log();
        let lines: Vec<&str> = run.lines().collect();
        if lines.len() <= LOG_HEAD_LINES + LOG_TAIL_LINES {
            return run;
        }
        let head = lines.get(..LOG_HEAD_LINES).unwrap_or_default().join("\n");
        let tail = lines.get(lines.len() - LOG_TAIL_LINES..).unwrap_or_default().join("\n");
        let left_out = lines.len() - LOG_HEAD_LINES - LOG_TAIL_LINES;
        format!("{head}\n[... {left_out} lines left out ...]\n{tail}")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
