//! "Run a server on this computer": `sotto-server` inside the app's process, with its SQLite
//! database in the app's data directory. It listens on the loopback address, in plain HTTP, for
//! the apps on this computer. Only when the person turns on network access does it also listen
//! on every interface — and there only over HTTPS, with a self-signed certificate kept in its
//! data directory (`server/tls`), so passwords and tokens never cross a network in clear. Other
//! apps cannot check that certificate against an authority: they show its fingerprint and pin
//! it once the person compared it with the one shown here (trust on first use).

use std::net::{IpAddr, Ipv4Addr};
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

/// The port network access tries first (the loopback port is 8448).
pub const DEFAULT_NETWORK_PORT: u16 = 8449;

#[derive(Debug, Clone, Serialize, TS)]
pub struct LocalServerInfo {
    /// What this app (and other apps on this computer) connect to: a loopback address.
    pub url: String,
    pub port: u16,
    /// Set while other computers may connect.
    pub network: Option<NetworkAccess>,
}

/// How other computers reach the local server, and what they must check.
#[derive(Debug, Clone, Serialize, TS)]
pub struct NetworkAccess {
    /// `https://<this computer's address>:<port>`, one per address found (none when the computer
    /// is on no network).
    pub urls: Vec<String>,
    pub port: u16,
    /// The SHA-256 fingerprint of the server's certificate, for people to compare on first connect.
    pub fingerprint: String,
}

pub struct LocalServer {
    pub info: LocalServerInfo,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl LocalServer {
    /// Start serving from `data_dir`, on `preferred_port` when it is free; with
    /// `network_port`, also over HTTPS on every interface (on that port when it is free).
    pub async fn start(data_dir: &Path, preferred_port: u16, network_port: Option<u16>) -> CommandResult<LocalServer> {
        let listener = bind(preferred_port).await?;
        let addr = listener.local_addr().map_err(|e| unavailable(&e))?;
        let port = addr.port();
        let mut listeners = vec![sotto_server::connections::Listener::plain(listener)];
        let network = match network_port {
            None => None,
            Some(preferred) => {
                let (listener, identity) = open_to_network(data_dir, preferred).await?;
                let port = listener.local_addr().map_err(|e| unavailable(&e))?.port();
                let fingerprint = sotto_core::Fingerprint::of(identity.certificate.as_ref()).to_string();
                listeners.push(sotto_server::connections::Listener::tls(listener, identity.acceptor));
                let urls =
                    lan_address().map(|ip| format!("https://{}", std::net::SocketAddr::new(ip, port))).into_iter();
                Some(NetworkAccess { urls: urls.collect(), port, fingerprint })
            }
        };
        let config = sotto_server::Config::new(server_dir(data_dir));
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = sotto_server::run(listeners, config, stop.cancelled_owned()).await {
                tracing::error!(error = %e, "the local server stopped");
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let server = LocalServer { info: LocalServerInfo { url: url.clone(), port, network }, cancel, task };
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

/// The HTTPS listener on every interface, and the server's certificate (made once, then kept).
async fn open_to_network(
    data_dir: &Path,
    preferred_port: u16,
) -> CommandResult<(TcpListener, sotto_server::tls::TlsIdentity)> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    names.extend(lan_address().map(|ip| ip.to_string()));
    let dir = server_dir(data_dir).join("tls");
    let identity = tokio::task::spawn_blocking(move || sotto_server::tls::TlsIdentity::self_signed(&dir, &names))
        .await
        .map_err(|e| CommandError::new(ErrorCode::LocalServer, e.to_string()))?
        .map_err(|e| {
            CommandError::new(ErrorCode::LocalServer, format!("The server's certificate could not be set up: {e}"))
        })?;
    let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, preferred_port)).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).await.map_err(|e| unavailable(&e))?
        }
        Err(e) => return Err(unavailable(&e)),
    };
    Ok((listener, identity))
}

/// This computer's address on its network: the source address of the route to a public
/// address. Connecting a UDP socket sends nothing; it only picks the route. `None` without a
/// network.
pub fn lan_address() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // 192.0.2.1 is TEST-NET-1 (documentation only): never a real peer.
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
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
