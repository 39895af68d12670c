//! Where a command's tasks run: a running coordinator, or an embedded one
//! started here (with --workers and local cores), and how to reach it.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use cluster_cli::security::ClientSecurityArgs;
use cluster_client::embedded::Embedded;
use cluster_client::Client;
use cluster_proto::JobOptions;

/// A running coordinator and how to reach it.
#[derive(Args, Debug)]
pub(crate) struct Connection {
    /// Coordinator URL, e.g. http://127.0.0.1:7700 (https:// with --tls-ca).
    #[arg(long, env = "CLUSTER_COORDINATOR", help_heading = cluster_cli::heading::CONNECTION)]
    coordinator: String,
    #[command(flatten)]
    security: ClientSecurityArgs,
}

impl Connection {
    pub(crate) async fn connect(&self) -> anyhow::Result<Client> {
        Ok(Client::connect_with(&self.coordinator, &self.security.load()?).await?)
    }
}

/// Where tasks run.
#[derive(Args, Debug)]
pub(crate) struct Target {
    /// A running coordinator, e.g. http://127.0.0.1:7700, or unix:PATH for
    /// its --listen-unix socket on this machine.
    #[arg(long, env = "CLUSTER_COORDINATOR", conflicts_with_all = ["workers", "local_cpus"], help_heading = cluster_cli::heading::CONNECTION)]
    pub(crate) coordinator: Option<String>,
    /// Workers (host:port, or unix:PATH for a worker's --listen-unix socket;
    /// comma-separated) for an embedded coordinator.
    #[arg(long, env = "CLUSTER_WORKERS", value_delimiter = ',', help_heading = cluster_cli::heading::CONNECTION)]
    workers: Vec<String>,
    /// Local cores the embedded coordinator also uses; 0 = remote only
    /// [default: all cores].
    #[arg(long, env = "CLUSTER_LOCAL_CPUS", help_heading = cluster_cli::heading::CONNECTION)]
    local_cpus: Option<u32>,
    /// Longest a task may run (e.g. 90s; a plain number is milliseconds);
    /// a task over it is stopped and retried, then fails [default: the
    /// coordinator's].
    #[arg(long, env = "CLUSTER_TIMEOUT_MS", value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    timeout_ms: Option<u64>,
    /// Longest the whole job may take (e.g. 10m), queue time included;
    /// tasks without a result then fail as timed out.
    #[arg(long, env = "CLUSTER_DEADLINE_MS", value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    deadline_ms: Option<u64>,
    /// Labels a worker must carry to get the job's tasks, as key=value
    /// (comma-separated or repeated), e.g. gpu=1,zone=b.
    #[arg(long, value_delimiter = ',', value_parser = cluster_cli::key_value, help_heading = cluster_cli::heading::TUNING)]
    require: Vec<(String, String)>,
    /// Longest the job's tasks wait while no active worker can run them
    /// (none connected, or none runs their kind), e.g. 10s; then they fail
    /// and the command exits 3. A notice on stderr says at once that they
    /// wait [default: the coordinator's, 30 s].
    #[arg(long, env = "CLUSTER_WAIT_FOR_WORKERS_MS", visible_alias = "unroutable-timeout-ms", value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    wait_for_workers_ms: Option<u64>,
    /// Print one JSON object per line instead of text.
    #[arg(long, env = "CLUSTER_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) json: bool,
    /// With a coordinator that keeps durable state: how long to keep
    /// reconnecting to it, in milliseconds, after the connection breaks.
    #[arg(long, env = "CLUSTER_RECONNECT_MS", default_value_t = 60_000)]
    pub(crate) reconnect_ms: u64,
    /// Secret and TLS for reaching the coordinator or the --workers.
    #[command(flatten)]
    security: ClientSecurityArgs,
}

impl Target {
    pub(crate) fn job_options(&self, name: &str) -> JobOptions {
        JobOptions {
            name: name.into(),
            timeout_ms: self.timeout_ms,
            deadline_ms: self.deadline_ms,
            require: self.require.iter().cloned().collect(),
            unroutable_timeout_ms: self.wait_for_workers_ms,
        }
    }

    /// A client of the coordinator, or of an embedded cluster started here.
    pub(crate) async fn connect(&self) -> anyhow::Result<(Client, Option<Embedded>)> {
        let security = self.security.load()?;
        if let Some(url) = &self.coordinator {
            return Ok((Client::connect_with(url, &security).await?, None));
        }
        let local = self.local_cpus.unwrap_or_else(cluster_worker::available_cores);
        let cluster = Embedded::start(local, &self.workers, &security)
            .await
            .context("starting the embedded cluster")?;
        for (worker, why) in cluster.wait_for_workers(Duration::from_secs(5)).await? {
            eprintln!("warning: worker {worker} is not reachable, running without it: {why}");
        }
        Ok((cluster.client().await?, Some(cluster)))
    }
}
