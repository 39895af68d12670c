//! `cluster-coordinator`: the queue and the scheduler of a cluster.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use cluster_cli::security::NodeSecurityArgs;
use cluster_coordinator::{CoordinatorConfig, CoreConfig};
use cluster_node::Signal;

/// The cluster coordinator: takes jobs from clients and spreads their tasks
/// over the workers by weighted least-loaded dispatch.
#[derive(Parser, Debug)]
// Name and short about as when this binary lived in its own package
// (clap took them from the package metadata).
#[command(
    name = "cluster-coordinator",
    version,
    about = "The cluster coordinator: worker registry, job table and weighted least-loaded scheduler",
    after_help = cluster_cli::logging::LOGGING_HELP
)]
struct Args {
    /// Address to serve clients and worker registrations on.
    #[arg(long, env = "CLUSTER_LISTEN", default_value = "0.0.0.0:7700", help_heading = cluster_cli::heading::CONNECTION)]
    listen: SocketAddr,
    /// Also serve clients on this Unix socket (mode 0600): `cluster-submit
    /// --coordinator unix:PATH` on this machine skips the TCP stack
    /// (plaintext; not with TLS).
    #[arg(long, env = "CLUSTER_LISTEN_UNIX", value_name = "PATH", help_heading = cluster_cli::heading::CONNECTION)]
    listen_unix: Option<std::path::PathBuf>,
    /// A worker to dial, host:port, or unix:PATH for a worker of this machine
    /// serving --listen-unix (repeatable; comma-separated in the environment
    /// variable).
    #[arg(long = "worker", env = "CLUSTER_WORKERS", value_delimiter = ',', help_heading = cluster_cli::heading::CONNECTION)]
    workers: Vec<String>,
    /// Unstarted tasks a worker may hold per core, so cores never wait for a
    /// round trip.
    #[arg(long, env = "CLUSTER_PREFETCH", default_value_t = CoreConfig::default().prefetch_per_core, help_heading = cluster_cli::heading::TUNING)]
    prefetch: u32,
    /// Times a task may be lost with its worker before it fails.
    #[arg(long, env = "CLUSTER_MAX_ATTEMPTS", default_value_t = CoreConfig::default().max_attempts,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = cluster_cli::heading::TUNING)]
    max_attempts: u32,
    /// A worker silent this long is declared lost (e.g. 3s; a plain number
    /// is milliseconds). At least 100 ms: workers send a heartbeat after 500 ms of quiet by default, and a
    /// timeout near or below their interval makes idle workers flap.
    #[arg(long, env = "CLUSTER_HEARTBEAT_TIMEOUT_MS", default_value_t = 3000, value_parser = at_least_100_ms, help_heading = cluster_cli::heading::TUNING)]
    heartbeat_timeout_ms: u64,
    /// A lost worker leaves `status` this long after its session ended
    /// (e.g. 5m).
    #[arg(long, env = "CLUSTER_FORGET_LOST_MS", default_value_t = 300_000, value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    forget_lost_ms: u64,
    /// Default longest run of a task, e.g. 10m (a job may set its own); a
    /// task over it is stopped and counts as a failed attempt.
    #[arg(long, env = "CLUSTER_TASK_TIMEOUT_MS", value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    task_timeout_ms: Option<u64>,
    /// Longest a task waits (e.g. 30s) while no connected worker can run it (none advertises its kind and the job's required labels);
    /// then it fails with UNKNOWN_KIND. A job may set its own.
    #[arg(long, env = "CLUSTER_UNROUTABLE_TIMEOUT_MS", default_value_t = CoreConfig::default().unroutable_timeout_ms,
          value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    unroutable_timeout_ms: u64,
    /// Keep jobs, their tasks and their results in this directory (redb),
    /// so they survive a coordinator restart and clients can resume them.
    /// Without it everything is in memory and a restart loses it.
    #[arg(long, env = "CLUSTER_STATE_DIR", help_heading = cluster_cli::heading::TUNING)]
    state_dir: Option<std::path::PathBuf>,
    /// With --state-dir: how long a job whose client went away runs on for
    /// a client to resume it; then it is cancelled.
    #[arg(long, env = "CLUSTER_DETACH_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    detach_timeout_ms: u64,
    /// With --state-dir: how long a finished job's results are kept for a
    /// client that resumes late.
    #[arg(long, env = "CLUSTER_RESULT_RETENTION_MS",
          default_value_t = cluster_coordinator::DEFAULT_RESULT_RETENTION.as_millis() as u64,
          value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    result_retention_ms: u64,
    /// With --state-dir: after a restart, how long restored jobs wait for
    /// the workers of before to come back and report the tasks they kept
    /// running (adopted, not run again).
    #[arg(long, env = "CLUSTER_READOPT_WAIT_MS", default_value_t = 5_000,
          value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    readopt_wait_ms: u64,
    /// Most tasks waiting in the queue; clients submitting more wait.
    #[arg(long, env = "CLUSTER_MAX_QUEUED", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64), help_heading = cluster_cli::heading::TUNING)]
    max_queued: u64,
    /// Most bytes of task input waiting in the queue; clients submitting
    /// more wait.
    #[arg(long, env = "CLUSTER_MAX_QUEUED_BYTES", default_value_t = cluster_coordinator::DEFAULT_MAX_QUEUED_BYTES,
          value_parser = clap::value_parser!(u64).range(1..), help_heading = cluster_cli::heading::TUNING)]
    max_queued_bytes: u64,
    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "CLUSTER_MAX_MESSAGE_BYTES", default_value_t = cluster_node::DEFAULT_MAX_MESSAGE_BYTES, help_heading = cluster_cli::heading::TUNING)]
    max_message_bytes: usize,
    /// Threads of the async runtime. 1 runs every connection on one thread:
    /// no wake-ups between threads, about 50 us off a small job's round
    /// trip on a 2-core host, but one core for all encoding [default: one
    /// per core].
    #[arg(long, env = "CLUSTER_ASYNC_THREADS", value_parser = clap::value_parser!(u16).range(1..), help_heading = cluster_cli::heading::TUNING)]
    async_threads: Option<u16>,
    /// Hold the coordinator's threads to these CPUs (Linux; e.g. 0, or
    /// 0-3,6); the runtime then has one thread per CPU listed unless
    /// --async-threads says otherwise. The same core as the workers'
    /// --async-cpus keeps a small job's hand-offs off other cores (see
    /// README, "Latency on one machine").
    #[arg(long, env = "CLUSTER_ASYNC_CPUS", value_name = "LIST", help_heading = cluster_cli::heading::TUNING)]
    async_cpus: Option<cluster_node::affinity::CpuList>,
    #[command(flatten)]
    security: NodeSecurityArgs,
    /// Serve Prometheus metrics on this address (GET /metrics), e.g.
    /// 127.0.0.1:9100; off by default. A non-loopback address needs
    /// --insecure: the endpoint has no authentication.
    #[arg(long, env = "CLUSTER_METRICS_LISTEN", help_heading = cluster_cli::heading::CONNECTION)]
    metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    connections: cluster_cli::connections::ConnectionArgs,
    #[command(flatten)]
    log: cluster_cli::logging::LogArgs,
}

fn at_least_100_ms(text: &str) -> Result<u64, String> {
    match cluster_cli::duration::millis(text)? {
        ms if ms < 100 => Err(format!("{ms} ms is below the 100 ms floor")),
        ms => Ok(ms),
    }
}

impl TryFrom<Args> for CoordinatorConfig {
    type Error = anyhow::Error;

    fn try_from(args: Args) -> anyhow::Result<Self> {
        let security = args.security.load()?;
        Ok(CoordinatorConfig {
            workers: args.workers,
            core: CoreConfig {
                prefetch_per_core: args.prefetch,
                max_attempts: args.max_attempts,
                default_timeout_ms: args.task_timeout_ms,
                unroutable_timeout_ms: args.unroutable_timeout_ms,
            },
            heartbeat_timeout: Duration::from_millis(args.heartbeat_timeout_ms),
            forget_lost: Duration::from_millis(args.forget_lost_ms),
            state_dir: args.state_dir,
            detach_timeout: Duration::from_millis(args.detach_timeout_ms),
            result_retention: Duration::from_millis(args.result_retention_ms),
            readopt_wait: Duration::from_millis(args.readopt_wait_ms),
            max_queued: args.max_queued as usize,
            max_queued_bytes: args.max_queued_bytes,
            max_message_bytes: args.max_message_bytes,
            security,
            insecure: args.security.server_tls.insecure,
            connections: args.connections.limits(),
            metrics_listen: args.metrics_listen,
            listen_unix: args.listen_unix,
            ..CoordinatorConfig::new(args.listen)
        })
    }
}

pub(crate) fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut threads = args.async_threads.map(usize::from);
    if let Some(cpus) = &args.async_cpus {
        cluster_node::affinity::pin_current_thread(cpus).context("--async-cpus")?;
        threads = threads.or(Some(cpus.len()));
    }
    // Before the runtime, so that its last lines are written after it has
    // stopped.
    let _log = args.log.init("info");
    let runtime = cluster_node::runtime(threads).context("starting the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    cluster_cli::connections::raise_open_files_limit();
    let config = CoordinatorConfig::try_from(args)?;
    let mut coordinator = cluster_coordinator::start(config).await.context("starting the coordinator")?;
    let signal = cluster_node::shutdown_signal().context("installing the SIGTERM handler")?;
    // The tests read this line to learn the port when listening on port 0.
    println!("cluster-coordinator listening on {}", coordinator.addr());
    tokio::select! {
        result = coordinator.wait() => result.context("coordinator server failed")?,
        signal = signal => {
            match signal {
                Signal::Interrupt => tracing::info!("interrupted, shutting down"),
                Signal::Terminate => {
                    tracing::info!("SIGTERM: refusing new jobs, telling clients, shutting down")
                }
            }
            coordinator.shutdown().await;
        }
    }
    Ok(())
}
