//! The relay on PostgreSQL: one node, then two nodes on one database sharing the token signing
//! key (as an installation of several nodes runs), driven by the same 1:1 run as SQLite.
//!
//! Each configuration gets a database of its own, `sotto_bench_<pid>_<random>`, created on the
//! cluster `--postgres` names and dropped afterwards, so no run sees another's rows. The bench's
//! own connection (create, drop) is plain TCP or a Unix socket, as to a cluster on this machine;
//! the servers connect with the URL as given. With the cluster on this machine, the CPU time of
//! its postmaster and backends is reported as the database's.

use std::path::Path;

use anyhow::{Context, bail};
use rand_core::{OsRng, RngCore};
use tokio_postgres::config::Host;

use crate::drive::{PairPlan, PairResult};
use crate::measure::{self, Clock, Watched};
use crate::relay::{self, Layout, RelayPlan};
use crate::server_process::{self, ServerProcess};

/// The token signing key in a server's data directory; the nodes of one installation share it.
const SIGNING_KEY: &str = "jwt-signing-key.pem";

/// A fresh database on the cluster, for one configuration.
struct Database {
    cluster: tokio_postgres::Config,
    name: String,
    /// What the servers are given (`SOTTO_DATABASE_URL`).
    url: String,
    /// The cluster's postmaster, when it runs on this machine.
    postmaster: Option<u32>,
}

async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.context(
        "connecting to the --postgres cluster (the bench connects without TLS, as to a cluster on this machine)",
    )?;
    tokio::spawn(connection);
    Ok(client)
}

/// `url` (`postgres://…/any?params`) naming the database `name` instead.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| *s == "postgres" || *s == "postgresql") else {
        bail!("--postgres takes a postgres:// URL (got something else)");
    };
    let (base, query) = rest.split_once('?').map_or((rest, None), |(b, q)| (b, Some(q)));
    let authority = base.split_once('/').map_or(base, |(a, _)| a);
    Ok(match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

/// Fails early, before the other runs, if `cluster_url` is no URL the runs can use or the
/// cluster does not answer.
pub async fn check(cluster_url: &str) -> anyhow::Result<()> {
    with_database(cluster_url, "check")?;
    let cluster: tokio_postgres::Config =
        cluster_url.parse().context("--postgres is not a PostgreSQL connection URL")?;
    connect(&cluster).await?.batch_execute("SELECT 1").await.context("asking the --postgres cluster")?;
    Ok(())
}

impl Database {
    async fn create(cluster_url: &str) -> anyhow::Result<Database> {
        let cluster: tokio_postgres::Config =
            cluster_url.parse().context("--postgres is not a PostgreSQL connection URL")?;
        let mut random = [0u8; 4];
        OsRng.fill_bytes(&mut random);
        let name = format!("sotto_bench_{}_{}", std::process::id(), hex::encode(random));
        let url = with_database(cluster_url, &name)?;
        let client = connect(&cluster).await?;
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.with_context(|| format!("creating {name}"))?;
        let local = cluster.get_hosts().iter().all(|h| match h {
            Host::Tcp(host) => ["127.0.0.1", "localhost", "::1"].contains(&host.as_str()),
            #[cfg(unix)]
            Host::Unix(_) => true,
        });
        let postmaster = if local {
            let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
            u32::try_from(backend).ok().and_then(|pid| measure::parent_named(pid, "postgres"))
        } else {
            None
        };
        eprintln!("[postgres] database {name} created");
        Ok(Database { cluster, name, url, postmaster })
    }

    /// Drops the database (the servers on it are gone by then; `FORCE` ends what is left).
    async fn drop_database(self) -> anyhow::Result<()> {
        let client = connect(&self.cluster).await?;
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .await
            .with_context(|| format!("dropping {}", self.name))?;
        Ok(())
    }

    /// Drops the database after a run on it, whatever the run returned.
    async fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        let dropped = self.drop_database().await;
        let value = result?;
        dropped?;
        Ok(value)
    }
}

/// A node on `db`; with `key_from`, restarted with that node's signing key.
async fn start_node(
    bin: &Path,
    parent: Option<&Path>,
    db: &Database,
    key_from: Option<&ServerProcess>,
) -> anyhow::Result<ServerProcess> {
    let mut node = server_process::launch(bin, parent).env("SOTTO_DATABASE_URL", &db.url).try_start().await?;
    if let Some(other) = key_from {
        node.kill9();
        std::fs::copy(other.data_dir().join(SIGNING_KEY), node.data_dir().join(SIGNING_KEY))
            .context("sharing the token signing key between the nodes")?;
        node.try_restart().await?;
    }
    Ok(node)
}

/// What the PostgreSQL runs measured.
#[derive(Debug, Default)]
pub struct Results {
    /// One node, every pair on it.
    pub one_node: Option<PairResult>,
    /// Two nodes, every pair's sender on one and recipient on the other.
    pub cross_node: Option<PairResult>,
    /// Two nodes, each pair on one of them; its open loop at `cross_node`'s rate.
    pub same_node: Option<PairResult>,
    /// WARN/ERROR lines of the servers' logs, each with its node.
    pub warnings: Vec<String>,
}

fn warnings_of(name: &str, node: &ServerProcess) -> Vec<String> {
    server_process::warnings(node).into_iter().map(|w| format!("{name}: {w}")).collect()
}

/// Settings of the PostgreSQL runs.
pub struct Plan<'a> {
    pub bin: &'a Path,
    pub parent: Option<&'a Path>,
    pub cluster_url: &'a str,
    pub clock: Clock,
    pub pairs: PairPlan,
    pub ack_every: u64,
    pub sends: crate::relay::SendPath,
    /// Both two-node open loops at this rate (else the cross-node run's half max).
    pub two_node_rate: Option<f64>,
}

/// The runs on PostgreSQL: one node, then two nodes with cross-node and same-node pairs.
pub async fn run(plan: Plan<'_>) -> anyhow::Result<Results> {
    let mut out = Results::default();
    let db = Database::create(plan.cluster_url).await?;
    let result = one_node(&plan, &db).await;
    let (result, warnings) = db.finish(result).await?;
    out.one_node = Some(result);
    out.warnings.extend(warnings);

    let db = Database::create(plan.cluster_url).await?;
    let result = two_nodes(&plan, &db).await;
    let (cross, same, warnings) = db.finish(result).await?;
    out.cross_node = Some(cross);
    out.same_node = Some(same);
    out.warnings.extend(warnings);
    Ok(out)
}

async fn one_node(plan: &Plan<'_>, db: &Database) -> anyhow::Result<(PairResult, Vec<String>)> {
    eprintln!("[postgres] starting one node");
    let mut node = start_node(plan.bin, plan.parent, db, None).await?;
    let watched = Watched { servers: node.pid().into_iter().collect(), postmaster: db.postmaster };
    let relay = RelayPlan {
        pairs: PairPlan { watched, ..plan.pairs.clone() },
        ack_every: plan.ack_every,
        layout: Layout::SameNode,
        label: "postgres 1:1",
        user_prefix: "",
        sends: plan.sends,
    };
    let result = relay::run_pairs(&[&node], plan.clock, relay).await;
    node.check_alive()?;
    let warnings = warnings_of("postgres node", &node);
    Ok((result.context("postgres 1:1 run")?, warnings))
}

async fn two_nodes(plan: &Plan<'_>, db: &Database) -> anyhow::Result<(PairResult, PairResult, Vec<String>)> {
    eprintln!("[two nodes] starting two nodes on one database");
    let mut a = start_node(plan.bin, plan.parent, db, None).await?;
    let mut b = start_node(plan.bin, plan.parent, db, Some(&a)).await?;
    let watched = Watched { servers: a.pid().into_iter().chain(b.pid()).collect(), postmaster: db.postmaster };
    let relay = RelayPlan {
        pairs: PairPlan { watched: watched.clone(), open_rate: plan.two_node_rate, ..plan.pairs.clone() },
        ack_every: plan.ack_every,
        layout: Layout::CrossNode,
        label: "two nodes, cross-node 1:1",
        user_prefix: "x-",
        sends: plan.sends,
    };
    let cross = relay::run_pairs(&[&a, &b], plan.clock, relay).await;
    a.check_alive()?;
    b.check_alive()?;
    let cross = cross.context("two nodes, cross-node 1:1 run")?;
    // The same load on the same two nodes, but no message leaves its node; paced at the
    // cross-node run's rate, so that the two latencies compare.
    let relay = RelayPlan {
        pairs: PairPlan { watched, open_rate: Some(cross.half_rate_target), ..plan.pairs.clone() },
        ack_every: plan.ack_every,
        layout: Layout::SameNode,
        label: "two nodes, same-node 1:1",
        user_prefix: "s-",
        sends: plan.sends,
    };
    let same = relay::run_pairs(&[&a, &b], plan.clock, relay).await;
    a.check_alive()?;
    b.check_alive()?;
    let same = same.context("two nodes, same-node 1:1 run")?;
    let mut warnings = warnings_of("node A", &a);
    warnings.extend(warnings_of("node B", &b));
    Ok((cross, same, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_url_names_the_new_database() {
        let url = |u: &str| with_database(u, "sotto_bench_1_ab").ok();
        assert_eq!(
            url("postgres://sotto@127.0.0.1:5432/postgres?sslmode=disable").as_deref(),
            Some("postgres://sotto@127.0.0.1:5432/sotto_bench_1_ab?sslmode=disable")
        );
        assert_eq!(url("postgresql://u:p@h/").as_deref(), Some("postgresql://u:p@h/sotto_bench_1_ab"));
        assert_eq!(url("postgres://u@h:1").as_deref(), Some("postgres://u@h:1/sotto_bench_1_ab"));
        assert_eq!(url("host=h user=u"), None);
    }
}
