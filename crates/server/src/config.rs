//! Server configuration, independent of how it was given (flags, environment, tests).

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::ExternalIssuer;
use crate::clock::Clock;
use crate::limits::RateLimit;

/// Default retention of group history, in days.
pub const DEFAULT_GROUP_HISTORY_DAYS: u64 = 90;
/// Default clock skew tolerated past an access token's `exp`, in seconds.
pub const DEFAULT_TOKEN_LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone)]
pub struct Config {
    /// Holds the token signing key, blob bytes (unless they go to S3) and, by default, the
    /// SQLite database.
    pub data_dir: PathBuf,
    /// Where accounts, keys, inboxes, groups and blob metadata are kept; `None`: the SQLite file
    /// [`crate::DATABASE_FILE`] in `data_dir`.
    pub database: Option<Database>,
    /// The `iss` of access tokens (the server's public URL is a good choice).
    pub issuer: String,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Clock skew tolerated past an access token's `exp` (whole seconds count).
    pub token_leeway: Duration,
    /// After a shutdown signal, how long `/readyz` answers 503 while the server still serves,
    /// so a proxy's health check moves new requests to other nodes before sockets close.
    pub shutdown_grace: Duration,
    /// Where the time comes from: the system clock, or a test's [`crate::clock::ManualClock`].
    pub clock: Clock,
    /// Per-account request limit; `None` disables rate limiting (for load tests).
    pub rate_limit: Option<RateLimit>,
    /// How long the server remembers message ids for idempotent resends.
    pub idempotency_window: Duration,
    /// An integrator's backend whose JWTs can be exchanged for a session; `None` disables it.
    pub external_issuer: Option<ExternalIssuer>,
    /// How long group messages stay readable in the group's history (for members' new devices);
    /// `None` keeps them until the group is dismissed.
    pub group_history_retention: Option<Duration>,
    /// Reverse proxies whose `X-Forwarded-For`/`Forwarded` name the client's address. Empty:
    /// the TCP peer is the client, and loopback peers skip the per-address limits.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How many passwords are hashed at once (each holds 19 MiB while it runs).
    pub password_hashers: std::num::NonZeroUsize,
    /// A bearer token `/metrics` requires; `None` leaves it open (bind to a private address).
    pub metrics_token: Option<String>,
    /// Whom a group admin may add directly (everyone else is invited).
    pub group_adds: GroupAdds,
    /// Connection caps and timeouts, and WebSocket liveness.
    pub connections: crate::connections::ConnectionSettings,
    /// Size limits, quota and lifetimes of blobs (attachments).
    pub blobs: crate::blobs::BlobRules,
    /// Where blob bytes are kept: `None` for the data directory, or an S3-compatible bucket.
    pub blob_store: Option<crate::blobs::s3::S3Location>,
}

/// The database the server keeps its state in (blob bytes excepted: see [`Config::blob_store`]).
#[derive(Debug, Clone)]
pub enum Database {
    /// One SQLite file, for one server process (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, which several server nodes may share.
    Postgres(Box<crate::store::postgres::PostgresConfig>),
}

impl Database {
    /// `sqlite:PATH`, or a `postgres://` (`postgresql://`) URL.
    pub fn parse(s: &str) -> Result<Database, String> {
        if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err("`sqlite:` needs a file path, as in sqlite:/var/lib/sotto/sotto.db".into());
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return crate::store::postgres::PostgresConfig::parse(s).map(|c| Database::Postgres(Box::new(c)));
        }
        // Not echoed back: it may hold a password.
        Err("the database must be sqlite:PATH or a postgres:// URL".into())
    }
}

/// Whom a group admin may add to a group without the person's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupAdds {
    /// Only people who have written to the admin (a direct message); anyone else must be
    /// invited and join by accepting.
    #[default]
    Invite,
    /// Anyone with an account (a team or family server where everybody knows everybody).
    Direct,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            database: None,
            issuer: "sotto-server".into(),
            access_token_ttl: Duration::from_secs(15 * 60),
            token_leeway: Duration::from_secs(DEFAULT_TOKEN_LEEWAY_SECS),
            shutdown_grace: Duration::ZERO,
            clock: Clock::system(),
            rate_limit: Some(RateLimit {
                per_second: std::num::NonZeroU32::new(50).unwrap_or(std::num::NonZeroU32::MIN),
                burst: std::num::NonZeroU32::new(200).unwrap_or(std::num::NonZeroU32::MIN),
            }),
            idempotency_window: Duration::from_secs(7 * 24 * 3600),
            external_issuer: None,
            group_history_retention: Some(Duration::from_secs(DEFAULT_GROUP_HISTORY_DAYS * 24 * 3600)),
            trusted_proxies: Vec::new(),
            password_hashers: crate::passwords::default_hashers(),
            metrics_token: None,
            group_adds: GroupAdds::default(),
            connections: crate::connections::ConnectionSettings::default(),
            blobs: crate::blobs::BlobRules::default(),
            blob_store: None,
        }
    }
}
