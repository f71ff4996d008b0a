//! Prometheus metrics, one registry per server instance (no globals, so tests can run several
//! servers in one process). Labels never carry user ids or anything a user typed.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// One of the methods HTTP defines, or `other`: a client picks the method, and each new
    /// label value would be a new series kept for the life of the process.
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CapLabels {
    /// `total` or `per_address`.
    pub cap: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily,
    /// Messages stored, by kind (direct, group, membership).
    pub messages_stored: Family<KindLabels, Counter>,
    /// Inbox entries created (one per recipient device).
    pub inbox_entries: Counter,
    /// Sends that repeated an already stored message id.
    pub duplicate_sends: Counter,
    /// Sends that came over a WebSocket rather than HTTP.
    pub socket_sends: Counter,
    pub websocket_connections: Gauge,
    pub entries_pushed: Counter,
    pub ephemeral_relayed: Counter,
    pub failed_logins: Counter,
    /// Sockets open (served, refusing, and upgraded to WebSockets).
    pub connections_open: Gauge,
    /// The cap on connections served at once.
    pub connections_max: Gauge,
    /// Connections over a cap, answered 503 or closed at once, by cap.
    pub connections_refused: Family<CapLabels, Counter>,
    /// Connections closed by a timeout, by kind: `header`, `idle`, `websocket` (no pong).
    pub connections_timed_out: Family<KindLabels, Counter>,
    /// Failed `accept` calls (out of descriptors or memory).
    pub accept_errors: Counter,
    /// Events from other nodes (several nodes on one database), and how long each took from
    /// the sending node's clock to this one's.
    pub bus_received: Counter,
    pub bus_entries: Counter,
    pub bus_lag: Histogram,
    /// Notifications on the bus refused, by why: `unsigned` (no seal of this node's keys),
    /// `replayed`, `stale`, `malformed`.
    pub bus_refused: Family<KindLabels, Counter>,
    /// The database's connection pool (PostgreSQL): connections open, idle, and requests
    /// waiting for one. Set when `/metrics` is read.
    pub database_pool_size: Gauge,
    pub database_pool_idle: Gauge,
    pub database_pool_waiting: Gauge,
    /// 1 on the node that runs the shared housekeeping (the only node, on SQLite), else 0. Set
    /// when `/metrics` is read.
    pub housekeeping_leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sotto");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let messages_stored = Family::<KindLabels, Counter>::default();
        let inbox_entries = Counter::default();
        let duplicate_sends = Counter::default();
        let socket_sends = Counter::default();
        let websocket_connections = Gauge::default();
        let entries_pushed = Counter::default();
        let ephemeral_relayed = Counter::default();
        let failed_logins = Counter::default();
        let connections_open = Gauge::default();
        let connections_max = Gauge::default();
        let connections_refused = Family::<CapLabels, Counter>::default();
        let connections_timed_out = Family::<KindLabels, Counter>::default();
        let accept_errors = Counter::default();
        let bus_received = Counter::default();
        let bus_entries = Counter::default();
        let bus_lag = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let bus_refused = Family::<KindLabels, Counter>::default();
        let database_pool_size = Gauge::default();
        let database_pool_idle = Gauge::default();
        let database_pool_waiting = Gauge::default();
        let housekeeping_leader = Gauge::default();
        registry.register("bus_events_received", "Events from the other nodes", bus_received.clone());
        registry.register(
            "bus_events_refused",
            "Notifications on the bus not sealed by a node of this installation, replayed or stale, by reason",
            bus_refused.clone(),
        );
        registry.register(
            "bus_entries_pushed",
            "Entries other nodes committed, pushed to sockets here without a read of the store",
            bus_entries.clone(),
        );
        registry.register(
            "bus_notification_lag_seconds",
            "From another node's publishing an event to this node's applying it",
            bus_lag.clone(),
        );
        registry.register("database_pool_connections", "Database connections open", database_pool_size.clone());
        registry.register("database_pool_idle", "Database connections idle", database_pool_idle.clone());
        registry.register(
            "database_pool_waiting",
            "Requests waiting for a database connection",
            database_pool_waiting.clone(),
        );
        registry.register(
            "housekeeping_leader",
            "1 on the node that runs the housekeeping the nodes share",
            housekeeping_leader.clone(),
        );
        registry.register("http_requests", "HTTP requests by route and status", http_requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", http_duration.clone());
        registry.register("messages_stored", "Messages stored, by kind", messages_stored.clone());
        registry.register("inbox_entries", "Inbox entries created", inbox_entries.clone());
        registry.register("duplicate_sends", "Sends of an already stored message id", duplicate_sends.clone());
        registry.register("socket_sends", "Sends that came over a WebSocket (answered or not)", socket_sends.clone());
        registry.register("websocket_connections", "Open device WebSockets", websocket_connections.clone());
        registry.register("entries_pushed", "Inbox entries pushed over WebSockets", entries_pushed.clone());
        registry.register("ephemeral_relayed", "Ephemeral events relayed", ephemeral_relayed.clone());
        registry.register("failed_logins", "Sign-ins refused for a wrong user id or password", failed_logins.clone());
        registry.register("connections_open", "Open connections, WebSockets included", connections_open.clone());
        registry.register("connections_max", "The cap on connections served at once", connections_max.clone());
        registry.register("connections_refused", "Connections over a cap, by cap", connections_refused.clone());
        registry.register(
            "connections_timed_out",
            "Connections closed by a timeout, by kind",
            connections_timed_out.clone(),
        );
        registry.register("accept_errors", "Failed accept calls", accept_errors.clone());
        Metrics {
            registry,
            http_requests,
            http_duration,
            messages_stored,
            inbox_entries,
            duplicate_sends,
            socket_sends,
            websocket_connections,
            entries_pushed,
            ephemeral_relayed,
            failed_logins,
            connections_open,
            connections_max,
            connections_refused,
            connections_timed_out,
            accept_errors,
            bus_received,
            bus_entries,
            bus_lag,
            bus_refused,
            database_pool_size,
            database_pool_idle,
            database_pool_waiting,
            housekeeping_leader,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The label of a request's method: the standard ones by name, anything else `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ]
    .iter()
    .find(|m| *m == method)
    .map_or("other", |m| m.as_str())
}

/// Middleware: counts and times every request by its route template (never the raw path, which
/// holds user and group ids).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let start = Instant::now();
    let response = next.run(request).await;
    let metrics: &Arc<Metrics> = &state.metrics;
    metrics.http_duration.get_or_create(&RouteLabels { route: route.clone() }).observe(start.elapsed().as_secs_f64());
    metrics.http_requests.get_or_create(&HttpLabels { method, route, status: response.status().as_u16() }).inc();
    response
}

#[utoipa::path(get, path = sotto_proto::routes::METRICS_PATH, tag = "operations", responses((status = 200, body = String, description = "Prometheus / OpenMetrics text")))]
pub async fn render(State(state): State<AppState>, headers: axum::http::HeaderMap) -> axum::response::Response {
    if let Some(expected) = &state.metrics_token {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().as_bytes());
        // Compared in constant time: the token is a secret.
        let matches = given.is_some_and(|given| bool::from(subtle::ConstantTimeEq::ct_eq(given, expected.as_bytes())));
        if !matches {
            return crate::error::AppError::unauthorized(
                "This server's /metrics needs `Authorization: Bearer <metrics token>`.",
            )
            .into_response();
        }
    }
    state.metrics.housekeeping_leader.set(i64::from(state.leadership.is_leader()));
    if let Some(postgres) = &state.postgres {
        let (size, idle, waiting) = postgres.pool_status();
        state.metrics.database_pool_size.set(i64::try_from(size).unwrap_or(i64::MAX));
        state.metrics.database_pool_idle.set(i64::try_from(idle).unwrap_or(i64::MAX));
        state.metrics.database_pool_waiting.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}
