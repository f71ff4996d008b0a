//! Accepting connections and serving HTTP/1.1 on them, with limits: the server's own accept
//! loop over hyper, because `axum::serve` has neither timeouts nor caps.
//!
//! - Timeouts (`activity.rs`): a request's headers must arrive within the header-read timeout
//!   (counted from the accept, or from the first byte of a later request), and a kept-alive
//!   connection is closed after the idle timeout without a byte. Requests in flight and
//!   upgraded WebSockets (which have their ping/pong, `ws.rs`) have neither.
//! - Caps (`caps.rs`, `open_files.rs`): connections in all, below the open-file limit, and per
//!   address. Over a cap a connection is answered `503` with `Retry-After` — except health
//!   checks and metrics, so monitoring still sees the server — and closed; connections already
//!   open are not touched.
//! - `accept` errors (`backoff.rs`) pause the loop instead of spinning it.
//!
//! Handlers see the peer as `ConnectInfo<SocketAddr>`, as with `axum::serve`. On shutdown the
//! loop stops accepting, connections between requests are closed, and the others finish their
//! request first; upgraded sockets are waited for by `run` (`AppState::sockets`).

pub mod activity;
pub mod backoff;
pub mod caps;
pub mod open_files;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sotto_proto::ErrorCode;
use sotto_proto::routes;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use self::activity::{Activity, ActivityIo, ResponseBody};
use self::backoff::AcceptBackoff;
use self::caps::{Admission, Cap, ConnectionCaps, Slot};
pub use self::open_files::raise_open_file_limit;
use crate::error::AppError;
use crate::state::AppState;
use crate::ws::Liveness;

pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Longer than the idle pools of the clients (reqwest: 90 s) and of proxies (nginx upstream
/// keep-alive: 60 s), so the server is not the side that closes a connection just as a client
/// reuses it.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 120;
/// Room for a NAT with a few dozen users, each with a socket and a few requests in flight.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;

/// Connections the kernel completes and queues before `accept` takes them. tokio's `bind` (like
/// std's) queues 128: a reconnect storm after a restart overflows that at once, and each dropped
/// SYN costs its client a 1 s retransmission (then 3 s, 7 s...). Linux caps it at
/// `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: u32 = 4096;

/// What a `503` asks the client to wait, in seconds.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long the accept loop waits for evicted refused connections to close before it closes a
/// new one unanswered.
const EVICTION_WAIT: Duration = Duration::from_millis(100);
/// A refused connection gets at most this long to send the request it will be refused.
const REFUSING_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection limits and timeouts.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// How long a request's headers may take to arrive, from the accept or from the request's
    /// first byte.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// The most connections open at once (WebSockets included). `None`: as many as the
    /// open-file limit allows ([`open_files::cap_below`]); a larger number is lowered to that.
    pub max_connections: Option<usize>,
    /// The most connections from one address (IPv6: one /64); `None` for no such cap. Trusted
    /// proxies, or without any loopback peers, are exempt ([`caps::exempt_from_address_cap`]).
    pub max_connections_per_address: Option<usize>,
    /// Pings on device WebSockets, and how long a socket may leave one unanswered.
    pub websocket: Liveness,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: None,
            max_connections_per_address: Some(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
            websocket: Liveness::default(),
        }
    }
}

/// A listener on `addr` with a long accept queue ([`LISTEN_BACKLOG`]).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As tokio's `bind`: a restarted server can listen again while the old connections linger
    // in TIME_WAIT. (Not on Windows, where it would let another process take the port.)
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A socket the server accepts connections on: plain HTTP, or HTTPS with the server's own
/// certificate ([`crate::tls`]).
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("addr", &self.tcp.local_addr().ok()).field("tls", &self.tls.is_some()).finish()
    }
}

impl Listener {
    pub fn plain(tcp: TcpListener) -> Self {
        Listener { tcp, tls: None }
    }

    pub fn tls(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Listener { tcp, tls: Some(acceptor) }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Self {
        Listener::plain(tcp)
    }
}

/// The sockets one server accepts on (one, or a loopback one for this computer beside an HTTPS
/// one for the network).
#[derive(Debug)]
pub struct Listeners(pub Vec<Listener>);

impl<T: Into<Listener>> From<T> for Listeners {
    fn from(listener: T) -> Self {
        Listeners(vec![listener.into()])
    }
}

impl From<Vec<Listener>> for Listeners {
    fn from(listeners: Vec<Listener>) -> Self {
        Listeners(listeners)
    }
}

/// Accepts connections on `listeners` and serves `router` on them until `state.shutdown` is
/// cancelled; then returns once every connection (upgraded ones aside) has ended. The caps are
/// shared by all the listeners.
pub(crate) async fn serve(listeners: Listeners, router: Router, state: AppState, settings: &ConnectionSettings) {
    let total = max_connections(settings);
    state.metrics.connections_max.set(i64::try_from(total).unwrap_or(i64::MAX));
    let caps = ConnectionCaps::new(
        total,
        settings.max_connections_per_address,
        state.trusted_proxies.clone(),
        open_files::REFUSING_POOL,
        state.metrics.connections_open.clone(),
    );
    let tasks = TaskTracker::new();
    let loops = listeners.0.into_iter().map(|listener| accept_loop(listener, &router, &state, settings, &caps, &tasks));
    futures_util::future::join_all(loops).await;
    tasks.close();
    tasks.wait().await;
}

async fn accept_loop(
    listener: Listener,
    router: &Router,
    state: &AppState,
    settings: &ConnectionSettings,
    caps: &Arc<ConnectionCaps>,
    tasks: &TaskTracker,
) {
    let Listener { tcp: listener, tls } = listener;
    let mut backoff = AcceptBackoff::default();
    let mut refusals = RefusalLog::default();
    loop {
        let accepted = tokio::select! {
            () = state.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(e) if backoff::is_connection_error(&e) => continue,
            Err(e) => {
                state.metrics.accept_errors.inc();
                let pause = backoff.failed(&e);
                tokio::select! {
                    () = state.shutdown.cancelled() => break,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        // Small frames (pushes, acks, receipts) must not wait for delayed ACKs (Nagle).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let mut admission = caps.admit(peer.ip());
        if matches!(admission, Admission::Close(_)) {
            caps.refusing_slot_freed(EVICTION_WAIT).await;
            admission = caps.admit(peer.ip());
        }
        let (slot, refusal) = match admission {
            Admission::Serve(slot) => (slot, None),
            Admission::Refuse(slot, cap) => {
                refusals.note(state, cap);
                (slot, Some(cap))
            }
            Admission::Close(cap) => {
                refusals.note(state, cap);
                continue;
            }
        };
        let connection = Connection {
            router: router.clone(),
            state: state.clone(),
            peer,
            refusal,
            settings: settings.clone(),
            tls: tls.clone(),
        };
        tasks.spawn(connection.run(stream, slot));
    }
}

/// The total cap: the configured one, at most what the open-file limit allows.
fn max_connections(settings: &ConnectionSettings) -> usize {
    let limit = open_files::current_open_file_limit();
    let ceiling = open_files::cap_below(limit);
    let total = match settings.max_connections {
        Some(asked) if asked > ceiling => {
            tracing::warn!(
                asked,
                max_connections = ceiling,
                open_file_limit = ?limit,
                "the connection cap asked for is above what the open-file limit allows; lowered"
            );
            ceiling
        }
        Some(asked) => asked.max(1),
        None => ceiling,
    };
    tracing::info!(
        max_connections = total,
        // 0: no per-address cap, as on the command line.
        max_connections_per_address = settings.max_connections_per_address.unwrap_or(0),
        open_file_limit = ?limit,
        header_read_timeout_secs = settings.header_read_timeout.as_secs_f64(),
        idle_timeout_secs = settings.idle_timeout.as_secs_f64(),
        ws_ping_interval_secs = settings.websocket.ping_interval.as_secs_f64(),
        ws_pong_timeout_secs = settings.websocket.pong_timeout.as_secs_f64(),
        "connection limits"
    );
    total
}

/// Refusals over the total cap go to the log at most once a minute: a server at its cap refuses
/// and serves in turns as connections close, and must not log each turn.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<tokio::time::Instant>,
    unreported: u64,
}

impl RefusalLog {
    const EVERY: Duration = Duration::from_secs(60);

    fn note(&mut self, state: &AppState, cap: Cap) {
        state.metrics.connections_refused.get_or_create(&crate::metrics::CapLabels { cap: cap.label() }).inc();
        match cap {
            Cap::Total => {
                self.unreported += 1;
                if self.last.is_none_or(|last| last.elapsed() >= Self::EVERY) {
                    tracing::warn!(
                        refused = std::mem::take(&mut self.unreported),
                        "the connection cap is reached: new connections are answered 503 until some close"
                    );
                    self.last = Some(tokio::time::Instant::now());
                }
            }
            // Said once per connection, so not above debug: a client looping on it would flood the log.
            Cap::Address => tracing::debug!("a peer is over the per-address connection cap: answered 503"),
        }
    }
}

/// One accepted connection.
struct Connection {
    router: Router,
    state: AppState,
    peer: SocketAddr,
    /// The cap it is over, if it is only to be answered `503`.
    refusal: Option<Cap>,
    settings: ConnectionSettings,
    /// The handshake to make first, on an HTTPS listener.
    tls: Option<TlsAcceptor>,
}

impl Connection {
    /// Serves HTTP/1.1 (with upgrades) until the peer or a timeout ends the connection, or the
    /// server shuts down. `slot` is held by the socket, so it is given back when the socket
    /// closes, also after an upgrade.
    fn run(self, stream: TcpStream, slot: Slot) -> impl Future<Output = ()> + Send + 'static {
        let header_timeout = match self.refusal {
            Some(_) => self.settings.header_read_timeout.min(REFUSING_HEADER_TIMEOUT),
            None => self.settings.header_read_timeout,
        };
        let idle_timeout = self.settings.idle_timeout;
        let Connection { router, state, peer, refusal, tls, .. } = self;
        async move {
            match tls {
                None => {
                    serve_connection(stream, slot, router, state, peer, refusal, header_timeout, idle_timeout).await
                }
                Some(acceptor) => {
                    // The handshake has the header-read timeout too: a peer that opens a
                    // connection and says nothing costs a slot for that long at most.
                    let handshake = tokio::select! {
                        () = state.shutdown.cancelled() => return,
                        handshake = tokio::time::timeout(header_timeout, acceptor.accept(stream)) => handshake,
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, slot, router, state, peer, refusal, header_timeout, idle_timeout)
                                .await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => {
                            let kind = crate::metrics::KindLabels { kind: "tls_handshake" };
                            state.metrics.connections_timed_out.get_or_create(&kind).inc();
                            tracing::debug!("TLS handshake timed out");
                        }
                    }
                }
            }
        }
    }
}

/// Serves HTTP/1.1 on `stream` (TCP, or TLS over it).
#[allow(clippy::too_many_arguments)]
async fn serve_connection<S>(
    stream: S,
    slot: Slot,
    router: Router,
    state: AppState,
    peer: SocketAddr,
    refusal: Option<Cap>,
    header_timeout: Duration,
    idle_timeout: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let evicted = slot.eviction();
    let evicted = async move {
        match evicted {
            Some(token) => token.cancelled_owned().await,
            None => std::future::pending().await,
        }
    };
    let mut evicted = std::pin::pin!(evicted);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(ActivityIo::new(stream, activity.clone(), slot));
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request| respond(request, router.clone(), peer, refusal, activity.clone()))
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // `Activity` replaces hyper's header-read timeout, which would also cut the time
    // between two requests to its length.
    http.header_read_timeout(None).keep_alive(refusal.is_none());
    let mut conn = std::pin::pin!(http.serve_connection(io, service).with_upgrades());
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = state.shutdown.cancelled(), if !draining => {
                // No request is lost by closing a connection between requests.
                if activity.between_requests() {
                    return;
                }
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            // A newer refused connection took this one's place in the pool.
            () = evicted.as_mut() => return,
            expired = activity.expired(header_timeout, idle_timeout) => {
                let kind = crate::metrics::KindLabels { kind: expired.label() };
                state.metrics.connections_timed_out.get_or_create(&kind).inc();
                tracing::debug!(timeout = expired.label(), "connection closed by its timeout");
                return;
            }
        }
    }
}

/// Answers one request: by the router, or `503` on a refused connection.
async fn respond(
    request: Request<Incoming>,
    router: Router,
    peer: SocketAddr,
    refusal: Option<Cap>,
    activity: Arc<Activity>,
) -> Result<Response<ResponseBody>, Infallible> {
    activity.request_started();
    let mut request = request.map(Body::new);
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = match refusal {
        Some(cap) if !answered_at_capacity(request.uri().path()) => busy(cap),
        _ => match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        activity.upgraded();
    }
    Ok(response.map(|body| ResponseBody::new(body, activity)))
}

/// Routes answered even over a cap: monitoring must tell a busy server from a dead one.
fn answered_at_capacity(path: &str) -> bool {
    [routes::HEALTH_PATH, routes::READY_PATH, routes::METRICS_PATH].contains(&path)
}

/// `503` with `Retry-After`, in the usual error shape: `server_busy` over the total cap,
/// `rate_limited` over the peer's own.
fn busy(cap: Cap) -> Response<Body> {
    let (code, message) = match cap {
        Cap::Total => (
            ErrorCode::ServerBusy,
            "The server has as many connections open as it can take; try again in a few seconds.",
        ),
        Cap::Address => (
            ErrorCode::RateLimited,
            "Too many connections from your address are open; close some or try again in a few seconds.",
        ),
    };
    let mut response =
        AppError::retry_later(StatusCode::SERVICE_UNAVAILABLE, code, message, RETRY_AFTER).into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
