//! The shared store: PostgreSQL, for one server or several on one database.
//!
//! Every operation that must be atomic (a claim of one-time keys, a delivery with its idempotency
//! record, a group change with its event) is one transaction at READ COMMITTED — for direct
//! messages, one statement per batch of them (`direct.rs`) — and what keeps it
//! correct against every other transaction — on this process or another node — is the database:
//! unique keys and row locks, never a lock in this process. The rules each method follows:
//!
//! - A counter (a device's `next_seq`, a group's `next_seq`, a group's `version`) is read and
//!   raised only under its row's lock (`UPDATE … RETURNING`, or `SELECT … FOR UPDATE` first), held
//!   to the commit: a second writer waits, then sees the first one's value. Seqs are therefore
//!   never reused and become visible in order.
//! - A one-time key is taken with `FOR UPDATE SKIP LOCKED` and deleted in the same statement:
//!   concurrent claims each take a different key, and never wait for one another.
//! - Idempotency is the primary key of `sent_ids`: a second insert of the same `(sender, message
//!   id)` waits for the first transaction and then finds its row.
//! - Locks are taken in one order, so transactions wait for each other but never deadlock:
//!   a group's row, then idempotency keys (sorted), then devices' rows (sorted by user and device
//!   id), then rows that belong to a device (tokens, keys, inbox); shared rate-limit buckets only
//!   in transactions of their own (sorted).
//!
//! Reads that run several statements and need them consistent (a group with its members, a
//! user's devices with their identity) run in a read-only REPEATABLE READ transaction: one
//! snapshot for all of them. Every statement is prepared once per connection and cached.
//!
//! The schema lives in numbered migrations (`migrations/NNNN_*.sql`), applied at open in one
//! transaction that holds an advisory lock, so nodes starting together migrate once; the version
//! is kept in `sotto_schema`. A database at a newer version than this binary is refused before
//! anything is changed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use sotto_proto::InvalidId;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql, WrongType};

use crate::store::{StoreError, StoreResult};

pub use copy::CopiedTable;

mod accounts;
mod backup;
mod blobs;
pub mod bus;
mod copy;
mod devices;
mod direct;
mod groups;
mod inbox;
pub mod leader;
mod limits;
mod profiles;

#[cfg(test)]
pub(crate) mod tests;

/// The migrations, in order; migration `i` (0-based) brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] =
    &[include_str!("migrations/0001_init.sql"), include_str!("migrations/0002_rate_limits.sql")];

/// The schema version this binary writes.
const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The advisory lock migrations hold (any constant; "sotto" in ASCII).
const MIGRATION_LOCK: i64 = 0x0073_6f74_746f;

/// Connections in the pool unless `--database-pool-size` says otherwise. Requests wait for a
/// free one rather than opening more.
pub const DEFAULT_POOL_SIZE: std::num::NonZeroUsize = std::num::NonZeroUsize::MIN.saturating_add(15);

/// Where the database is: a `postgres://` URL, parsed, with the pool's size and the certificate
/// authorities TLS trusts. Its `Debug` leaves the password out.
#[derive(Clone)]
pub struct PostgresConfig {
    url: tokio_postgres::Config,
    pool_size: usize,
    /// Trusted for the database's certificate instead of the system's roots (a private CA).
    roots: Option<Arc<rustls::RootCertStore>>,
}

impl PostgresConfig {
    /// Parses a `postgres://` (or `postgresql://`) URL or a `key=value` connection string.
    /// `sslmode=require` insists on TLS; `disable` never tries it; `prefer` (the default) uses it
    /// when the server offers it. With TLS the server's certificate is always verified against
    /// the system's roots (or [`PostgresConfig::trusting`]'s) and its host name.
    pub fn parse(url: &str) -> Result<PostgresConfig, String> {
        // tokio-postgres's message never contains the string it refused.
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| format!("not a PostgreSQL connection URL: {e}"))?;
        if config.get_dbname().is_none() {
            return Err("the PostgreSQL URL names no database (postgres://user@host/DATABASE)".into());
        }
        Ok(PostgresConfig { url: config, pool_size: DEFAULT_POOL_SIZE.get(), roots: None })
    }

    /// At most `size` connections in the pool (the bus and the housekeeping leader have one
    /// each besides).
    pub fn with_pool_size(mut self, size: std::num::NonZeroUsize) -> PostgresConfig {
        self.pool_size = size.get();
        self
    }

    /// Trusts the certificate authorities in the PEM file `path` for the database's certificate,
    /// instead of the system's (a database with a certificate from a private CA).
    pub fn trusting(mut self, path: &std::path::Path) -> Result<PostgresConfig, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject as _;
        let shown = path.display();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("cannot read {shown}: {e}"))? {
            let cert = cert.map_err(|e| format!("{shown} is not a PEM certificate file: {e}"))?;
            roots.add(cert).map_err(|e| format!("{shown} holds a certificate that cannot be a CA: {e}"))?;
        }
        if roots.is_empty() {
            return Err(format!("{shown} holds no certificate"));
        }
        self.roots = Some(Arc::new(roots));
        Ok(self)
    }

    /// The same server and credentials, another database (tests make one per test).
    #[cfg(test)]
    pub(crate) fn with_dbname(&self, dbname: &str) -> PostgresConfig {
        let mut config = self.clone();
        config.url.dbname(dbname);
        config
    }

    #[cfg(test)]
    pub(crate) fn inner(&self) -> &tokio_postgres::Config {
        &self.url
    }

    #[cfg(test)]
    pub(crate) fn inner_mut(&mut self) -> &mut tokio_postgres::Config {
        &mut self.url
    }

    /// A connection of its own (the bus's, the leader's), with the pool's TLS.
    async fn connect(&self) -> StoreResult<(tokio_postgres::Client, tokio_postgres::Connection<Socket, TlsStream>)> {
        Ok(self.url.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(self)?)).await?)
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("hosts", &self.url.get_hosts())
            .field("ports", &self.url.get_ports())
            .field("user", &self.url.get_user())
            .field("dbname", &self.url.get_dbname())
            .field("ssl_mode", &self.url.get_ssl_mode())
            .field("pool_size", &self.pool_size)
            .field("private_ca", &self.roots.is_some())
            .finish_non_exhaustive()
    }
}

type Socket = tokio_postgres::Socket;
/// A connection's stream: TLS or not, as the URL's `sslmode` and the server decide.
type TlsStream = <tokio_postgres_rustls::MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<Socket>>::Stream;

/// The PostgreSQL store. Cheap to share as `Arc<PostgresStore>`.
pub struct PostgresStore {
    pool: Pool,
    /// Set when this process deleted inbox rows since its last garbage collection. (Another
    /// node's deletions are collected by that node.)
    garbage: AtomicBool,
    /// Direct messages waiting to be stored together.
    direct: direct::DirectQueue,
}

impl PostgresStore {
    /// Connects, migrates the schema to this binary's version (or refuses a newer one) and keeps
    /// a pool of connections.
    pub async fn open(config: &PostgresConfig) -> StoreResult<PostgresStore> {
        let manager = Manager::from_config(
            config.url.clone(),
            tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(config)?),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Database(format!("cannot make the PostgreSQL connection pool: {e}")))?;
        let direct = direct::DirectQueue::start(pool.clone());
        let store = PostgresStore { pool, garbage: AtomicBool::new(true), direct };
        store.migrate().await?;
        Ok(store)
    }

    /// The pool's connections open, idle, and requests waiting for one.
    pub fn pool_status(&self) -> (usize, usize, usize) {
        let status = self.pool.status();
        (status.size, status.available, status.waiting)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Applies the missing migrations in one transaction, under an advisory lock: a node that
    /// starts while another migrates waits, then finds the schema current.
    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        let from = schema_version(&tx).await?;
        if from > SCHEMA_VERSION {
            // Nothing was changed: dropping the transaction rolls back (and releases the lock).
            return Err(newer_schema(from));
        }
        if from == SCHEMA_VERSION {
            return Ok(());
        }
        if from == 0 {
            tx.batch_execute("CREATE TABLE sotto_schema (version INTEGER NOT NULL)").await?;
            tx.execute("INSERT INTO sotto_schema (version) VALUES (0)", &[]).await?;
        }
        let start = usize::try_from(from).map_err(|_| StoreError::Corrupt(format!("schema version {from}")))?;
        for (sql, version) in MIGRATIONS.iter().zip(1i32..).skip(start) {
            tx.batch_execute(sql).await?;
            tx.execute("UPDATE sotto_schema SET version = $1", &[&version]).await?;
        }
        tx.commit().await?;
        tracing::info!(from, to = SCHEMA_VERSION, "database schema migrated");
        Ok(())
    }

    /// Rows in `shared_payloads` (tests check that acknowledged payloads are collected).
    #[cfg(test)]
    pub(crate) async fn shared_payload_rows(&self) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = query_one(&client, "SELECT count(*) FROM shared_payloads", &[]).await?;
        u64_at(&row, 0)
    }

    fn mark_garbage(&self) {
        self.garbage.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// The schema version of the database `c` is connected to (0: no Sotto schema yet).
async fn schema_version<C: GenericClient>(c: &C) -> StoreResult<i32> {
    let exists: bool = c.query_one("SELECT to_regclass('sotto_schema') IS NOT NULL", &[]).await?.try_get(0)?;
    if !exists {
        return Ok(0);
    }
    let version: Option<i32> = c.query_one("SELECT max(version) FROM sotto_schema", &[]).await?.try_get(0)?;
    Ok(version.unwrap_or(0))
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
        other => StoreError::Database(format!("no PostgreSQL connection: {other}")),
    }
}

fn newer_schema(version: i32) -> StoreError {
    StoreError::Database(format!(
        "database schema version {version} is newer than this server supports ({SCHEMA_VERSION})"
    ))
}

/// TLS for a remote database: rustls with the `ring` provider, verifying the server against
/// `config`'s certificate authorities, or the system's roots. Without any (a minimal system), TLS
/// connections fail; plain ones still work.
fn tls_config(config: &PostgresConfig) -> StoreResult<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Database(format!("cannot set up TLS for PostgreSQL: {e}")))?;
    if let Some(roots) = &config.roots {
        return Ok(builder.with_root_certificates(roots.clone()).with_no_client_auth());
    }
    Ok(match rustls_platform_verifier::Verifier::new(provider) {
        Ok(verifier) => builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth(),
        Err(e) => {
            tracing::warn!(error = %e, "no system certificate authorities: TLS to PostgreSQL will fail");
            builder.with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()
        }
    })
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // A server error's detail can quote the row it refused (ciphertext included): only the
        // code and the message, which never carry values, go into the error.
        if let Some(db) = e.as_db_error() {
            return StoreError::Database(format!("{} ({}): {}", db.severity(), db.code().code(), db.message()));
        }
        if std::error::Error::source(&e).is_some_and(|s| s.is::<WrongType>()) {
            return StoreError::Corrupt(e.to_string());
        }
        // A connection's failure says why underneath ("error performing TLS handshake: invalid
        // peer certificate: UnknownIssuer", "error connecting to server: Connection refused").
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(inner) = cause {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            cause = inner.source();
        }
        StoreError::Database(message)
    }
}

// ---- statements: prepared once per connection, then taken from its cache ----

async fn execute<C: GenericClient>(c: &C, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

async fn query<C: GenericClient>(c: &C, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

async fn query_opt<C: GenericClient>(c: &C, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

async fn query_one<C: GenericClient>(c: &C, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Row> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_one(&statement, params).await?)
}

// ---- columns ----

fn corrupt(idx: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {idx}: {e}"))
}

/// A column of any type tokio-postgres decodes.
fn at<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> StoreResult<T> {
    row.try_get(idx).map_err(|e| corrupt(idx, e))
}

/// A u64 stored as a (non-negative) BIGINT.
fn u64_at(row: &Row, idx: usize) -> StoreResult<u64> {
    let v: i64 = at(row, idx)?;
    u64::try_from(v).map_err(|_| corrupt(idx, format!("{v} is negative")))
}

fn opt_u64_at(row: &Row, idx: usize) -> StoreResult<Option<u64>> {
    let v: Option<i64> = at(row, idx)?;
    v.map(|v| u64::try_from(v).map_err(|_| corrupt(idx, format!("{v} is negative")))).transpose()
}

/// A validated id (`UserId`, `DeviceId`, ...) stored as TEXT.
fn id_at<T: TryFrom<String, Error = InvalidId>>(row: &Row, idx: usize) -> StoreResult<T> {
    let s: String = at(row, idx)?;
    T::try_from(s).map_err(|e| corrupt(idx, e))
}

fn opt_id_at<T: TryFrom<String, Error = InvalidId>>(row: &Row, idx: usize) -> StoreResult<Option<T>> {
    let s: Option<String> = at(row, idx)?;
    s.map(T::try_from).transpose().map_err(|e| corrupt(idx, e))
}

/// A u64 to store. PostgreSQL's BIGINT is i64; larger values (never real timestamps, versions
/// or sequence numbers) are refused.
fn sql_u64(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Database("integer out of range for the database".into()))
}

/// A u64 bound to compare with: values past i64::MAX compare like i64::MAX.
fn sql_bound(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `items` without repeats, first occurrence kept, order preserved.
fn dedup<T: Clone + Eq + std::hash::Hash>(items: &[T]) -> Vec<T> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items.iter().filter(|i| seen.insert(*i)).cloned().collect()
}
