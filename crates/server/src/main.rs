//! The `sotto-server` binary: parse flags, set up logging, serve until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sotto_server::Config;
use sotto_server::limits::RateLimit;
use sotto_server::store::postgres::{DEFAULT_POOL_SIZE, PostgresConfig};

/// Sotto's relay, key directory and account server. It stores and forwards ciphertext only.
///
/// Every option can also be set by the environment variable named beside it.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Directory for the token signing key, attachments (unless --blob-store says otherwise) and,
    /// by default, the database (created if missing).
    #[arg(long, env = "SOTTO_DATA_DIR", default_value = "./sotto-data")]
    data_dir: PathBuf,
    /// Where accounts, keys, inboxes, groups and attachment metadata are kept: `sqlite:PATH`
    /// (one file; the default is sotto.db in --data-dir) or
    /// `postgres://USER:PASSWORD@HOST[:PORT]/DATABASE[?sslmode=require]` (PostgreSQL; the schema
    /// is created or migrated at start). With `sslmode=require` the connection is TLS and the
    /// server's certificate is verified against the system's roots; `prefer` (the default) uses
    /// TLS when the server offers it; `disable` for a database on this host. Prefer the
    /// environment variable to the flag: a flag's password shows in the process list.
    #[arg(long, env = "SOTTO_DATABASE_URL", value_name = "URL", value_parser = database_url, hide_env_values = true)]
    database: Option<DatabaseUrl>,
    /// PostgreSQL: connections this node keeps in its pool at most (requests wait for a free one).
    /// The bus between nodes and the housekeeping leader use one more each. Mind PostgreSQL's
    /// max_connections: every node opens up to this many.
    #[arg(long, env = "SOTTO_DATABASE_POOL_SIZE", value_name = "N", default_value_t = DEFAULT_POOL_SIZE,
          value_parser = clap::value_parser!(NonZeroUsize))]
    database_pool_size: NonZeroUsize,
    /// PostgreSQL: trust the certificate authorities in this PEM file for the database's TLS
    /// certificate instead of the system's (a database whose certificate a private CA issued).
    /// Also for `migrate --to`.
    #[arg(long, env = "SOTTO_DATABASE_CA", value_name = "PEM")]
    database_ca: Option<PathBuf>,
    /// Create or migrate the database's schema, then exit (before starting or replacing servers
    /// on a shared database). Without it, the server migrates when it starts.
    #[arg(long, env = "SOTTO_MIGRATE_ONLY")]
    migrate_only: bool,
    /// Address and port to listen on. Use 0.0.0.0:8448 to accept other machines.
    #[arg(long, env = "SOTTO_LISTEN", default_value = "127.0.0.1:8448")]
    listen: SocketAddr,
    /// Serve HTTPS on --listen with this certificate chain (PEM, leaf first), for a server
    /// without a reverse proxy in front. Needs --tls-key. Without both, plain HTTP: put a proxy
    /// with TLS in front (see deploy/), or listen on loopback only.
    #[arg(long, env = "SOTTO_TLS_CERT", requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SOTTO_TLS_KEY", requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// The `iss` claim of access tokens (e.g. the server's public URL).
    #[arg(long, env = "SOTTO_ISSUER", default_value = "sotto-server")]
    issuer: String,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "SOTTO_ACCESS_TOKEN_TTL", default_value_t = 900)]
    access_token_ttl: u64,
    /// Seconds an access token is still accepted after it expired, for clients whose clocks run
    /// behind this server's. 0 refuses it as soon as its whole-second expiry has passed.
    #[arg(long, env = "SOTTO_TOKEN_LEEWAY_SECS", default_value_t = sotto_server::config::DEFAULT_TOKEN_LEEWAY_SECS)]
    token_leeway_secs: u64,
    /// On SIGTERM or Ctrl-C, keep serving this many seconds with `/readyz` answering 503 before
    /// closing sockets, so a proxy's health check sends new requests to the other nodes first
    /// (several nodes behind a proxy: a little more than its check interval). 0 stops at once.
    #[arg(long, env = "SOTTO_SHUTDOWN_GRACE_SECS", default_value_t = 0, value_name = "S")]
    shutdown_grace_secs: u64,
    /// Requests per second allowed per account (0 turns all rate limits off, e.g. for load tests).
    #[arg(long, env = "SOTTO_RATE_LIMIT", default_value_t = 50)]
    rate_limit: u32,
    /// Burst of requests allowed per account above the steady rate.
    #[arg(long, env = "SOTTO_RATE_BURST", default_value_t = 200)]
    rate_burst: u32,
    /// Accept sign-ins with JWTs from this external issuer (an integrator's own backend): the
    /// `iss` its tokens carry. Needs --external-jwt-key.
    #[arg(long, env = "SOTTO_EXTERNAL_JWT_ISSUER", requires = "external_jwt_key")]
    external_jwt_issuer: Option<String>,
    /// PEM file with the external issuer's Ed25519 public key (`-----BEGIN PUBLIC KEY-----`).
    #[arg(long, env = "SOTTO_EXTERNAL_JWT_KEY", requires = "external_jwt_issuer")]
    external_jwt_key: Option<PathBuf>,
    /// Accept each external token once: tokens must carry a `jti`, kept until they expire, and
    /// a second use is refused (a copied token cannot sign in another device).
    #[arg(long, env = "SOTTO_EXTERNAL_JWT_SINGLE_USE", requires = "external_jwt_issuer")]
    external_jwt_single_use: bool,
    /// Days group messages stay in the group's history, readable by members' new devices (with
    /// the keys from their key backup); 0 keeps them until the group is dismissed.
    #[arg(long, env = "SOTTO_GROUP_HISTORY_DAYS", default_value_t = sotto_server::config::DEFAULT_GROUP_HISTORY_DAYS)]
    group_history_days: u64,
    /// A reverse proxy (address or CIDR range) whose `X-Forwarded-For` / `Forwarded` header names
    /// the client's address, for rate limits; repeat it or separate with commas. Set it to
    /// 127.0.0.1/32 (and ::1/128) when the proxy runs on this host. Without it the TCP peer is the
    /// client and loopback peers skip the per-address limits (local tools); with it, nobody does.
    #[arg(long = "trusted-proxy", env = "SOTTO_TRUSTED_PROXIES", value_name = "CIDR", value_delimiter = ',', value_parser = parse_net)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// How many passwords may be hashed at once (each takes 19 MiB while it runs); sign-ins
    /// beyond wait, and when about a second of work is queued they get 503 with Retry-After.
    /// Default: the number of CPU cores less one (at least one).
    #[arg(long, env = "SOTTO_PASSWORD_HASHERS")]
    password_hashers: Option<std::num::NonZeroUsize>,
    /// File holding a token that `/metrics` requires as `Authorization: Bearer <token>`.
    /// Without it `/metrics` is open to anyone who can reach the server.
    #[arg(long, env = "SOTTO_METRICS_TOKEN_FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Whom a group admin may add directly: `invite` — only people who have written to them;
    /// anyone else gets an invitation to accept or decline; `direct` — anyone with an account
    /// (for a team or family server where everybody knows everybody).
    #[arg(long, env = "SOTTO_GROUP_ADDS", value_enum, default_value_t = GroupAddsArg::Invite)]
    group_adds: GroupAddsArg,
    /// Seconds a client has to send a request's headers, counted from connecting or from the
    /// first byte of a later request on the same connection. Slower clients are disconnected.
    #[arg(long, env = "SOTTO_HEADER_READ_TIMEOUT_SECS", default_value_t = sotto_server::connections::DEFAULT_HEADER_READ_TIMEOUT_SECS)]
    header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request before it is closed. Keep it
    /// longer than the idle timeout of a reverse proxy's upstream connections.
    #[arg(long, env = "SOTTO_IDLE_TIMEOUT_SECS", default_value_t = sotto_server::connections::DEFAULT_IDLE_TIMEOUT_SECS)]
    idle_timeout_secs: u64,
    /// The most connections open at once, WebSockets included. 0: as many as the open-file
    /// limit allows less a reserve (the server raises its soft limit to the hard one at start);
    /// a larger number is lowered to that. Over it, new connections are answered 503 with
    /// Retry-After (health checks and metrics are still answered) and closed.
    #[arg(long, env = "SOTTO_MAX_CONNECTIONS", default_value_t = 0)]
    max_connections: usize,
    /// The most connections open at once from one address (IPv6: one /64), answered like those
    /// over --max-connections. Exempt: the --trusted-proxy addresses or, without any, loopback
    /// peers (a reverse proxy on this host). 0 turns this cap off.
    #[arg(long, env = "SOTTO_MAX_CONNECTIONS_PER_IP", default_value_t = sotto_server::connections::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)]
    max_connections_per_ip: usize,
    /// Seconds between pings on device WebSockets.
    #[arg(long, env = "SOTTO_WS_PING_INTERVAL_SECS", default_value_t = sotto_server::ws::DEFAULT_PING_INTERVAL_SECS)]
    ws_ping_interval_secs: u64,
    /// Seconds a WebSocket may leave a ping unanswered: one silent for the ping interval plus
    /// this is closed, and its device counts as offline.
    #[arg(long, env = "SOTTO_WS_PONG_TIMEOUT_SECS", default_value_t = sotto_server::ws::DEFAULT_PONG_TIMEOUT_SECS)]
    ws_pong_timeout_secs: u64,
    /// The largest attachment (blob) one upload may be, in bytes; larger ones are refused at
    /// creation with `blob_too_large`.
    #[arg(long, env = "SOTTO_MAX_BLOB_BYTES", default_value_t = sotto_server::blobs::DEFAULT_MAX_BLOB_BYTES)]
    max_blob_bytes: u64,
    /// What one account's attachments (uploaded and in progress) may take together, in bytes;
    /// over it a new upload is refused with `quota_exceeded`.
    #[arg(long, env = "SOTTO_BLOB_QUOTA_BYTES", default_value_t = sotto_server::blobs::DEFAULT_BLOB_QUOTA_BYTES)]
    blob_quota_bytes: u64,
    /// Days an attachment is kept after its upload completed; then it is deleted, from disk too.
    #[arg(long, env = "SOTTO_BLOB_RETENTION_DAYS", default_value_t = sotto_server::blobs::DEFAULT_BLOB_RETENTION_DAYS)]
    blob_retention_days: u64,
    /// Seconds an attachment is kept after its upload completed: overrides --blob-retention-days
    /// (for tests).
    #[arg(long, env = "SOTTO_BLOB_RETENTION_SECS", hide = true)]
    blob_retention_secs: Option<u64>,
    /// Where attachments are kept: `fs` (files in the data directory) or `s3://BUCKET[/PREFIX]`
    /// (an S3-compatible object store; endpoint, region and credentials from the usual `AWS_*`
    /// variables: AWS_ENDPOINT, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_ALLOW_HTTP=true for a plain-HTTP endpoint).
    #[arg(long, env = "SOTTO_BLOB_STORE", default_value = "fs", value_parser = parse_blob_store)]
    blob_store: BlobStoreArg,
    /// Seconds an upload may stay incomplete before it is dropped.
    #[arg(long, env = "SOTTO_BLOB_UPLOAD_WINDOW_SECS", default_value_t = sotto_server::blobs::DEFAULT_UPLOAD_WINDOW.as_secs())]
    blob_upload_window_secs: u64,
    /// Log format.
    #[arg(long, env = "SOTTO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Tool>,
}

/// What the binary does instead of serving.
#[derive(Debug, clap::Subcommand)]
enum Tool {
    /// Move an installation from SQLite to PostgreSQL: copy every table into an empty PostgreSQL
    /// database, check each table's row count and checksum on both sides, then commit (or change
    /// nothing). Stop the server first. Blob files stay where they are. Prints what was copied.
    Migrate {
        /// The installation's SQLite database: `sqlite:PATH` (its sotto.db).
        #[arg(long, value_name = "sqlite:PATH", value_parser = database_url)]
        from: DatabaseUrl,
        /// An empty PostgreSQL database: `postgres://…` (prefer the environment variable: a flag's
        /// password shows in the process list).
        #[arg(long, env = "SOTTO_MIGRATE_TO", value_name = "URL", value_parser = database_url, hide_env_values = true)]
        to: DatabaseUrl,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GroupAddsArg {
    Invite,
    Direct,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // These libraries log whole frames and bodies (ciphertexts, tokens) at trace level; they stay
    // capped whatever RUST_LOG says.
    for directive in ["tungstenite=debug", "tokio_tungstenite=debug", "hyper=debug", "h2=debug"] {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    sotto_server::connections::raise_open_file_limit();

    let postgres = PostgresOptions { pool_size: args.database_pool_size, ca: args.database_ca };
    if let Some(Tool::Migrate { from, to }) = args.command {
        return migrate_installation(&from.0, &to.0, &postgres).await;
    }
    let mut config = Config::new(args.data_dir);
    // Parsed here rather than by clap, whose error would quote the URL (and its password).
    config.database = match args.database {
        Some(DatabaseUrl(url)) => Some(
            postgres
                .apply(sotto_server::config::Database::parse(&url).map_err(|e| anyhow::anyhow!("--database: {e}"))?)?,
        ),
        None => postgres.sqlite().map(|()| None)?,
    };
    if args.migrate_only {
        sotto_server::migrate(&config).await.context("migrating the database")?;
        tracing::info!("the database schema is current");
        return Ok(());
    }
    config.issuer = args.issuer;
    config.access_token_ttl = Duration::from_secs(args.access_token_ttl.max(1));
    config.token_leeway = Duration::from_secs(args.token_leeway_secs);
    config.shutdown_grace = Duration::from_secs(args.shutdown_grace_secs);
    config.group_history_retention = match args.group_history_days {
        0 => None,
        days => Some(Duration::from_secs(days.saturating_mul(24 * 3600))),
    };
    config.rate_limit = NonZeroU32::new(args.rate_limit)
        .map(|per_second| RateLimit { per_second, burst: NonZeroU32::new(args.rate_burst).unwrap_or(per_second) });
    config.connections.header_read_timeout = Duration::from_secs(args.header_read_timeout_secs.max(1));
    config.connections.idle_timeout = Duration::from_secs(args.idle_timeout_secs.max(1));
    config.connections.max_connections = (args.max_connections > 0).then_some(args.max_connections);
    config.connections.max_connections_per_address =
        (args.max_connections_per_ip > 0).then_some(args.max_connections_per_ip);
    config.connections.websocket.ping_interval = Duration::from_secs(args.ws_ping_interval_secs.max(1));
    config.connections.websocket.pong_timeout = Duration::from_secs(args.ws_pong_timeout_secs.max(1));

    config.blobs = sotto_server::blobs::BlobRules {
        max_blob_bytes: args.max_blob_bytes,
        quota_bytes: args.blob_quota_bytes,
        upload_window: Duration::from_secs(args.blob_upload_window_secs),
        retention: Duration::from_secs(
            args.blob_retention_secs.unwrap_or(args.blob_retention_days.saturating_mul(24 * 3600)),
        ),
    };
    config.blob_store = match args.blob_store {
        BlobStoreArg::Fs => None,
        BlobStoreArg::S3(location) => Some(location),
    };
    config.trusted_proxies = args.trusted_proxies;
    config.group_adds = match args.group_adds {
        GroupAddsArg::Invite => sotto_server::config::GroupAdds::Invite,
        GroupAddsArg::Direct => sotto_server::config::GroupAdds::Direct,
    };
    if let Some(n) = args.password_hashers {
        config.password_hashers = n;
    }
    if let Some(path) = args.metrics_token_file {
        let token = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the metrics token file {}", path.display()))?;
        let token = token.trim();
        anyhow::ensure!(token.len() >= 16, "the metrics token in {} must be at least 16 characters", path.display());
        config.metrics_token = Some(token.to_owned());
    }

    if let (Some(issuer), Some(path)) = (args.external_jwt_issuer, args.external_jwt_key) {
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the external issuer's key {}", path.display()))?;
        let external = sotto_server::auth::ExternalIssuer::from_pem(issuer, &pem)
            .with_context(|| format!("{} is not an Ed25519 public key in PEM", path.display()))?;
        config.external_issuer = Some(if args.external_jwt_single_use { external.single_use() } else { external });
    }

    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(sotto_server::tls::TlsIdentity::from_pem_files(cert, key)?),
        _ => None,
    };
    let listener =
        sotto_server::connections::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let listener = match tls {
        Some(identity) => sotto_server::connections::Listener::tls(listener, identity.acceptor),
        None => sotto_server::connections::Listener::plain(listener),
    };
    sotto_server::run(listener, config, shutdown_signal()).await?;
    Ok(())
}

/// A CIDR range, or a single address (a /32 or /128).
/// Where `--blob-store` keeps attachments.
#[derive(Debug, Clone)]
enum BlobStoreArg {
    Fs,
    S3(sotto_server::blobs::s3::S3Location),
}

/// The `--database` URL as given; it may hold a password, so its `Debug` does not show it.
#[derive(Clone)]
struct DatabaseUrl(String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

/// `sotto-server migrate`: SQLite into PostgreSQL, checked.
/// The options that apply to a PostgreSQL database only.
struct PostgresOptions {
    pool_size: NonZeroUsize,
    ca: Option<PathBuf>,
}

impl PostgresOptions {
    /// `database` with these options, or an error if one was given for SQLite.
    fn apply(&self, database: sotto_server::config::Database) -> anyhow::Result<sotto_server::config::Database> {
        use sotto_server::config::Database;
        match database {
            Database::Postgres(config) => Ok(Database::Postgres(self.postgres(config)?)),
            Database::Sqlite(path) => self.sqlite().map(|()| Database::Sqlite(path)),
        }
    }

    fn postgres(&self, config: Box<PostgresConfig>) -> anyhow::Result<Box<PostgresConfig>> {
        let mut config = config.with_pool_size(self.pool_size);
        if let Some(ca) = &self.ca {
            config = config.trusting(ca).map_err(|e| anyhow::anyhow!("--database-ca: {e}"))?;
        }
        Ok(Box::new(config))
    }

    /// Refuses these options for a SQLite database.
    fn sqlite(&self) -> anyhow::Result<()> {
        if self.ca.is_some() {
            anyhow::bail!("--database-ca applies to a PostgreSQL database (--database postgres://…)");
        }
        if self.pool_size != DEFAULT_POOL_SIZE {
            anyhow::bail!("--database-pool-size applies to a PostgreSQL database (--database postgres://…)");
        }
        Ok(())
    }
}

async fn migrate_installation(from: &str, to: &str, options: &PostgresOptions) -> anyhow::Result<()> {
    use sotto_server::config::Database;
    let Ok(Database::Sqlite(path)) = Database::parse(from) else {
        anyhow::bail!("--from must be sqlite:PATH (the installation's sotto.db)");
    };
    if !path.is_file() {
        anyhow::bail!("--from: there is no database at {}", path.display());
    }
    let target = match Database::parse(to) {
        Ok(Database::Postgres(config)) => options.postgres(config)?,
        Ok(Database::Sqlite(_)) => anyhow::bail!("--to must be a postgres:// URL"),
        Err(e) => anyhow::bail!("--to: {e}"),
    };
    let store =
        sotto_server::store::postgres::PostgresStore::open(&target).await.context("opening the target database")?;
    let copied = store.copy_from_sqlite(&path).await.context("copying into PostgreSQL (nothing was committed)")?;
    let rows: u64 = copied.iter().map(|t| t.rows).sum();
    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "tables": copied, "rows": rows }))?);
    tracing::info!(tables = copied.len(), rows, "the installation was copied into PostgreSQL and checked");
    Ok(())
}

fn database_url(s: &str) -> Result<DatabaseUrl, String> {
    Ok(DatabaseUrl(s.to_owned()))
}

fn parse_blob_store(s: &str) -> Result<BlobStoreArg, String> {
    match s {
        "fs" => Ok(BlobStoreArg::Fs),
        other => sotto_server::blobs::s3::S3Location::parse(other).map(BlobStoreArg::S3),
    }
}

fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR range like 10.0.0.0/8"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
