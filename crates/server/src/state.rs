//! The state every handler shares. Cheap to clone (one `Arc`).

use std::ops::Deref;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{ExternalIssuer, TokenIssuer};
use crate::clock::Clock;
use crate::hub::Hub;
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::store::{AccountStore, BackupStore, DeviceStore, GroupStore, InboxStore, ProfileStore};

#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub accounts: Arc<dyn AccountStore>,
    pub devices: Arc<dyn DeviceStore>,
    /// The cache in front of `devices` (the same object), invalidated from other nodes.
    pub cache: Arc<crate::store::cache::CachedDevices>,
    pub inbox: Arc<dyn InboxStore>,
    pub groups: Arc<dyn GroupStore>,
    pub backups: Arc<dyn BackupStore>,
    /// Sealed profiles (see [`crate::api::profiles`]).
    pub profiles: Arc<dyn ProfileStore>,
    /// Encrypted attachments (see [`crate::blobs`]).
    pub blobs: Arc<dyn crate::blobs::BlobStore>,
    pub tokens: TokenIssuer,
    /// The time every handler and housekeeping task reads (see [`crate::clock`]).
    pub clock: Clock,
    pub external_issuer: Option<ExternalIssuer>,
    pub hub: Arc<Hub>,
    /// Acks received over sockets, waiting for their commit.
    pub acks: Arc<crate::acks::AckQueue>,
    pub metrics: Arc<Metrics>,
    pub limits: RateLimits,
    /// The password hashers (bounded, memory reused).
    pub passwords: crate::passwords::Passwords,
    /// Proxies trusted to name the client's address (see [`crate::extract::ClientAddr`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What `/metrics` requires as `Authorization: Bearer`, if anything.
    pub metrics_token: Option<String>,
    /// Whom group admins may add directly.
    pub group_adds: crate::config::GroupAdds,
    /// Cancelled when the server shuts down; long-lived tasks (sockets) stop on it.
    pub shutdown: CancellationToken,
    /// Cancelled when a shutdown signal came: `/readyz` says not ready while requests are still
    /// served (`--shutdown-grace-secs`), then [`Inner::shutdown`] follows.
    pub draining: CancellationToken,
    /// Open WebSocket tasks; shutdown waits for them to send their close frames.
    pub sockets: TaskTracker,
    /// Pings on WebSockets, and how long a socket may leave one unanswered.
    pub liveness: crate::ws::Liveness,
    /// The PostgreSQL store, when that is the database (its pool's state goes to `/metrics`).
    pub postgres: Option<Arc<crate::store::postgres::PostgresStore>>,
    /// Whether this node runs the housekeeping the nodes share (the shared part of `housekeeping` in `lib.rs`).
    pub leadership: crate::store::postgres::leader::Leadership,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState { inner: Arc::new(inner) }
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}
