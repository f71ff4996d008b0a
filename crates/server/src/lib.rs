//! `sotto-server`: accounts and tokens, the key directory, store-and-forward delivery with one
//! WebSocket per device, groups, and a backup slot — one self-hostable process over one data
//! directory. See `ARCHITECTURE.md` at the repository root.
//!
//! The server only ever handles ciphertext: it routes and stores opaque strings and never logs
//! bodies, keys, passwords or tokens.

pub mod acks;
pub mod api;
pub mod auth;
pub mod blobs;
pub mod bus;
pub mod clock;
pub mod config;
pub mod connections;
pub mod error;
pub mod extract;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod passwords;
mod private;
pub mod pushed;
pub mod state;
pub mod store;
pub mod tls;
pub mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use config::Config;

use crate::auth::TokenIssuer;
use crate::hub::Hub;
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::state::{AppState, Inner};
use crate::store::postgres::PostgresStore;
use crate::store::postgres::leader::Leadership;
use crate::store::sqlite::SqliteStore;
use crate::store::{AccountStore, BackupStore, BlobIndex, DeviceStore, GroupStore, InboxStore, ProfileStore};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("cannot create the data directory {path} or make it private: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot use the blob store: {0}")]
    BlobStore(String),
    #[error(transparent)]
    SigningKey(#[from] auth::KeyFileError),
    #[error("cannot open the database: {0}")]
    Store(#[from] store::StoreError),
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub const DATABASE_FILE: &str = "sotto.db";

const GARBAGE_INTERVAL: Duration = Duration::from_secs(1);
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// How long shutdown waits for open sockets to send their close frames.
const SOCKET_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The store behind each trait: one database, opened and migrated.
struct Stores {
    accounts: Arc<dyn AccountStore>,
    devices: Arc<dyn DeviceStore>,
    inbox: Arc<dyn InboxStore>,
    groups: Arc<dyn GroupStore>,
    backups: Arc<dyn BackupStore>,
    profiles: Arc<dyn ProfileStore>,
    blob_index: Arc<dyn BlobIndex>,
    /// The shared database, when there is one (its bus connects the nodes).
    postgres: Option<Arc<PostgresStore>>,
}

impl Stores {
    fn of<S>(store: Arc<S>) -> Stores
    where
        S: AccountStore + DeviceStore + InboxStore + GroupStore + BackupStore + ProfileStore + BlobIndex + 'static,
    {
        Stores {
            accounts: store.clone(),
            devices: store.clone(),
            inbox: store.clone(),
            groups: store.clone(),
            backups: store.clone(),
            profiles: store.clone(),
            blob_index: store,
            postgres: None,
        }
    }
}

/// Opens the configured database (SQLite by default, or PostgreSQL) and brings its schema to
/// this binary's version.
async fn open_stores(config: &Config) -> Result<Stores, ServerError> {
    Ok(match &config.database {
        None => Stores::of(Arc::new(SqliteStore::open(&config.data_dir.join(DATABASE_FILE))?)),
        Some(config::Database::Sqlite(path)) => Stores::of(Arc::new(SqliteStore::open(path)?)),
        Some(config::Database::Postgres(postgres)) => {
            tracing::info!(database = ?postgres, "state is kept in PostgreSQL");
            let store = Arc::new(PostgresStore::open(postgres).await?);
            Stores { postgres: Some(store.clone()), ..Stores::of(store) }
        }
    })
}

/// Applies the database's migrations and returns (`--migrate-only`): a deployment can migrate
/// once before it starts or replaces its nodes.
pub async fn migrate(config: &Config) -> Result<(), ServerError> {
    if config.database.is_none() {
        private::create_dir(&config.data_dir)
            .map_err(|source| ServerError::DataDir { path: config.data_dir.display().to_string(), source })?;
    }
    drop(open_stores(config).await?);
    Ok(())
}

/// Opens the data directory and the database, and builds the shared state.
pub async fn open(config: &Config, shutdown: CancellationToken) -> Result<AppState, ServerError> {
    private::create_dir(&config.data_dir)
        .map_err(|source| ServerError::DataDir { path: config.data_dir.display().to_string(), source })?;
    let tokens = TokenIssuer::load_or_create(&config.data_dir, config.issuer.clone(), config.access_token_ttl)?
        .with_leeway(config.token_leeway)
        .with_clock(config.clock.clone());
    let stores = open_stores(config).await?;
    let blobs: Arc<dyn blobs::BlobStore> = match &config.blob_store {
        None => {
            Arc::new(blobs::fs::FsBlobStore::open(&config.data_dir, stores.blob_index.clone(), config.blobs).map_err(
                |source| ServerError::DataDir {
                    path: config.data_dir.join(blobs::fs::BLOB_DIR).display().to_string(),
                    source,
                },
            )?)
        }
        Some(location) => {
            tracing::info!(bucket = %location.bucket, prefix = %location.prefix, "blobs are kept in an S3-compatible store");
            Arc::new(
                blobs::s3::S3BlobStore::open(location, stores.blob_index.clone(), config.blobs)
                    .map_err(ServerError::BlobStore)?,
            )
        }
    };
    let cache = Arc::new(store::cache::CachedDevices::new(stores.devices));
    let leadership = match &config.database {
        Some(config::Database::Postgres(url)) => Leadership::campaign(url, shutdown.clone()),
        _ => Leadership::alone(),
    };
    let mut limits = RateLimits::new(config.rate_limit, !config.trusted_proxies.is_empty());
    if let Some(postgres) = &stores.postgres {
        // Several nodes may share the database: the limits against attackers are counted there.
        limits = limits.shared_in(postgres.clone());
    }
    let state = AppState::new(Inner {
        accounts: stores.accounts,
        devices: cache.clone(),
        cache,
        inbox: stores.inbox,
        groups: stores.groups,
        backups: stores.backups,
        profiles: stores.profiles,
        blobs,
        tokens,
        clock: config.clock.clone(),
        external_issuer: config.external_issuer.clone(),
        hub: Arc::new(Hub::default()),
        acks: Arc::new(acks::AckQueue::default()),
        metrics: Arc::new(Metrics::new()),
        limits,
        passwords: passwords::Passwords::new(config.password_hashers),
        trusted_proxies: config.trusted_proxies.clone(),
        metrics_token: config.metrics_token.clone(),
        group_adds: config.group_adds,
        shutdown,
        draining: CancellationToken::new(),
        sockets: tokio_util::task::TaskTracker::new(),
        liveness: config.connections.websocket,
        postgres: stores.postgres.clone(),
        leadership,
    });
    if let (Some(postgres), Some(config::Database::Postgres(url))) = (&stores.postgres, &config.database) {
        start_bus(&state, postgres, url);
    }
    Ok(state)
}

/// Several nodes on one PostgreSQL database: this node publishes what the others must know, and
/// applies what they publish (see [`bus`]).
fn start_bus(state: &AppState, postgres: &Arc<PostgresStore>, url: &store::postgres::PostgresConfig) {
    let here = state.clone();
    let apply: store::postgres::bus::Apply = Arc::new(move |remote| match remote {
        bus::Remote::Event { event, node, sent_ms } => {
            here.metrics.bus_received.inc();
            let lag_ms = here.clock.unix_millis().saturating_sub(sent_ms);
            here.metrics.bus_lag.observe(lag_ms as f64 / 1000.0);
            match *event {
                bus::BusEvent::DevicesChanged { users } => here.cache.invalidate_here(&users),
                bus::BusEvent::Revoked { device, since } => here.tokens.record_revocation(&device, since),
                event => {
                    here.metrics.bus_entries.inc_by(here.hub.apply(event, node));
                }
            }
        }
        bus::Remote::Refused { reason } => {
            here.metrics.bus_refused.get_or_create(&metrics::KindLabels { kind: reason }).inc();
        }
        bus::Remote::Resync => {
            here.cache.clear();
            here.hub.wake_all();
            let again = here.clone();
            tokio::spawn(async move {
                match again.devices.token_revocations(again.tokens.revocation_horizon()).await {
                    Ok(revocations) => again.tokens.load_revocations(revocations),
                    Err(e) => tracing::warn!(error = %e, "could not read the token revocations again"),
                }
            });
        }
    });
    let keys = state.tokens.bus_keys().to_vec();
    let bus = Arc::new(postgres.start_bus(url, keys, state.clock.clone(), apply, state.shutdown.clone()));
    let _ = state.hub.bus.set(bus.clone());
    let _ = state.cache.bus.set(bus.clone());
    let _ = state.tokens.bus.set(bus);
    tracing::info!("connected to the other nodes through the database");
}

/// Serves on `listener` (one, or several: see [`connections::Listeners`]) until `shutdown`
/// resolves, then closes sockets and drains requests.
pub async fn run(
    listener: impl Into<connections::Listeners>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let token = CancellationToken::new();
    let state = open(&config, token.clone()).await?;
    // Tokens revoked before a restart stay revoked.
    state.tokens.load_revocations(state.devices.token_revocations(state.tokens.revocation_horizon()).await?);
    let housekeeping =
        tokio::spawn(housekeeping(state.clone(), config.idempotency_window, config.group_history_retention));
    let ack_flusher = tokio::spawn(flush_acks(state.clone()));
    let app = api::router(state.clone());
    let listeners = listener.into();
    for listener in &listeners.0 {
        tracing::info!(
            addr = %listener.local_addr()?,
            tls = listener.is_tls(),
            data_dir = %config.data_dir.display(),
            "sotto-server listening"
        );
    }
    let stop = token.clone();
    let (draining, grace) = (state.draining.clone(), config.shutdown_grace);
    let signal = tokio::spawn(async move {
        shutdown.await;
        draining.cancel();
        if !grace.is_zero() {
            tracing::info!(grace_secs = grace.as_secs_f64(), "shutting down: /readyz says not ready, still serving");
            tokio::time::sleep(grace).await;
        }
        tracing::info!("shutting down: closing sockets and finishing requests");
        stop.cancel();
    });
    connections::serve(listeners, app, state.clone(), &config.connections).await;
    signal.abort();
    token.cancel();
    housekeeping.abort();
    // Upgraded sockets are not connections `serve` waits for: wait here until each has sent its
    // close frame, so clients see "going away" rather than a reset.
    state.sockets.close();
    if tokio::time::timeout(SOCKET_CLOSE_GRACE, state.sockets.wait()).await.is_err() {
        tracing::warn!(open = state.sockets.len(), "some sockets did not close in time");
    }
    // The sockets' last acks.
    ack_flusher.abort();
    if let Err(e) = state.acks.flush(state.inbox.as_ref()).await {
        tracing::warn!(error = %e, "the last acks could not be stored; those entries will be delivered again");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Forgets group history older than `retention`, a batch per store job until none is left.
async fn prune_history(state: &AppState, retention: Duration) {
    let cutoff = state.clock.unix_millis().saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
    loop {
        match state.groups.prune_group_history(cutoff).await {
            Ok(n) if n > 0 && !state.shutdown.is_cancelled() => tracing::debug!(messages = n, "group history pruned"),
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "pruning group history failed");
                return;
            }
        }
    }
}

/// Commits socket acks as they come, many per store job.
async fn flush_acks(state: AppState) {
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = state.acks.recorded() => {}
        }
        if let Err(e) = state.acks.flush(state.inbox.as_ref()).await {
            tracing::warn!(error = %e, "storing acks failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            state.acks.retry_later();
        }
    }
}

/// Periodic upkeep. Each node collects the shared bodies its own deletions left unreferenced
/// (every second; a no-op when it deleted nothing) and forgets its in-memory rate-limit keys. One
/// node, the leader ([`Leadership`]: every node on SQLite, the holder of an advisory lock on
/// PostgreSQL), does what the nodes share: deleting expired blobs (every second; one indexed read
/// when there is nothing to do), old idempotency records, group history past its retention and
/// shared rate-limit buckets that are full again.
async fn housekeeping(state: AppState, idempotency_window: Duration, history_retention: Option<Duration>) {
    let mut collect = tokio::time::interval(GARBAGE_INTERVAL);
    let mut prune = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = collect.tick() => {
                if let Err(e) = state.inbox.collect_garbage().await {
                    tracing::warn!(error = %e, "collecting acknowledged group bodies failed");
                }
                if !state.leadership.is_leader() {
                    continue;
                }
                match state.blobs.expire(state.clock.unix_millis()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(blobs = n, "expired blobs deleted"),
                    Err(e) => tracing::warn!(error = %e, "deleting expired blobs failed"),
                }
            }
            _ = prune.tick() => {
                state.limits.shrink();
                if !state.leadership.is_leader() {
                    continue;
                }
                let cutoff = state.clock.unix_millis().saturating_sub(idempotency_window.as_millis() as u64);
                if let Err(e) = state.inbox.prune_sent_ids(cutoff).await {
                    tracing::warn!(error = %e, "pruning idempotency records failed");
                }
                if let Some(retention) = history_retention {
                    prune_history(&state, retention).await;
                }
                if let Err(e) = state.limits.forget_full_buckets().await {
                    tracing::warn!(error = %e, "forgetting full rate-limit buckets failed");
                }
            }
        }
    }
}
