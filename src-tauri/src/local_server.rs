//! "Run a server on this computer": `sotto-server` inside the app's process, with its SQLite
//! database in the app's data directory. It listens on the loopback address only: passwords and
//! tokens travel to it in plain HTTP, which must not cross a network. (Opening it to the network
//! needs TLS with a certificate other apps pin; until then, people on other computers use a
//! server run with `deploy/`.)

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::error::{CommandError, CommandResult, ErrorCode};

/// The port a first local server tries (the standalone server's default too).
pub const DEFAULT_PORT: u16 = 8448;
/// Overrides the port the local server tries first (tests give each app a free one).
const PORT_ENV: &str = "SOTTO_LOCAL_SERVER_PORT";

#[derive(Debug, Clone, Serialize, TS)]
pub struct LocalServerInfo {
    /// What this app (and other apps on this computer) connect to: a loopback address.
    pub url: String,
    pub port: u16,
}

pub struct LocalServer {
    pub info: LocalServerInfo,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl LocalServer {
    /// Start serving from `data_dir`, on `preferred_port` when it is free.
    pub async fn start(data_dir: &Path, preferred_port: u16) -> CommandResult<LocalServer> {
        let listener = bind(preferred_port).await?;
        let addr = listener.local_addr().map_err(|e| unavailable(&e))?;
        let port = addr.port();
        let config = sotto_server::Config::new(server_dir(data_dir));
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = sotto_server::run(listener, config, stop.cancelled_owned()).await {
                tracing::error!(error = %e, "the local server stopped");
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let server = LocalServer { info: LocalServerInfo { url: url.clone(), port }, cancel, task };
        server.wait_until_ready(&url).await?;
        tracing::info!(port, "local server running");
        Ok(server)
    }

    /// The server answers, or the reason it stopped.
    async fn wait_until_ready(&self, url: &str) -> CommandResult<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| CommandError::new(ErrorCode::LocalServer, e.to_string()))?;
        for _ in 0..50 {
            if self.task.is_finished() {
                return Err(CommandError::new(
                    ErrorCode::LocalServer,
                    "The server on this computer could not start; its data folder may be unwritable or in use.",
                ));
            }
            if let Ok(resp) = client.get(format!("{url}{}", sotto_proto::routes::HEALTH_PATH)).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(CommandError::new(ErrorCode::LocalServer, "The server on this computer did not answer in time."))
    }

    /// Stop accepting, close sockets, finish requests.
    pub async fn stop(self) {
        self.cancel.cancel();
        if tokio::time::timeout(Duration::from_secs(10), self.task).await.is_err() {
            tracing::warn!("the local server did not stop in time");
        }
    }
}

fn server_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("server")
}

fn unavailable(e: &std::io::Error) -> CommandError {
    CommandError::new(
        ErrorCode::LocalServer,
        format!("No network port is available for a server on this computer: {e}"),
    )
}

async fn bind(preferred_port: u16) -> CommandResult<TcpListener> {
    let port = match std::env::var(PORT_ENV) {
        Ok(port) => port
            .parse()
            .map_err(|_| CommandError::new(ErrorCode::LocalServer, format!("{PORT_ENV} is not a port: {port}")))?,
        Err(_) => preferred_port,
    };
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
        Ok(l) => Ok(l),
        // Taken (another app, or a standalone sotto-server): any free port will do; the new
        // address is shown to the person and remembered.
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(|e| unavailable(&e))
        }
        Err(e) => Err(unavailable(&e)),
    }
}
