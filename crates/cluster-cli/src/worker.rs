//! The `cluster-worker` command, as a library: every flag, security and
//! signal handling of the stock worker, around a task registry a user can
//! extend. A worker binary with its own kinds is a few lines:
//!
//! ```no_run
//! use cluster_tasks::{CancelToken, TaskError, TypedKind};
//!
//! struct Square;
//!
//! impl TypedKind for Square {
//!     const NAME: &'static str = "square";
//!     type Input = u64;
//!     type Output = u64;
//!     fn run(&self, n: u64, _cancel: &CancelToken) -> Result<u64, TaskError> {
//!         Ok(n * n)
//!     }
//! }
//!
//! fn main() -> anyhow::Result<()> {
//!     cluster_cli::worker::WorkerMain::new().typed(Square).run_from_args()
//! }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use cluster_node::Signal;
use cluster_tasks::{Allow, Exec, Registry, TaskKind, TypedKind};
use cluster_worker::{available_cores, WorkerConfig};

use crate::security::NodeSecurityArgs;

/// A cluster worker node: runs the tasks a coordinator sends on exactly
/// `--cpus` threads.
#[derive(Parser, Debug)]
// Name and short about as when this binary lived in its own package
// (clap took them from the package metadata).
#[command(
    name = "cluster-worker",
    version,
    about = "A cluster worker node: runs tasks on exactly as many blocking slots as it has cores",
    after_help = crate::logging::LOGGING_HELP
)]
struct Args {
    /// Address to serve the worker API on.
    #[arg(long, env = "CLUSTER_LISTEN", default_value = "0.0.0.0:35000", help_heading = crate::heading::CONNECTION)]
    listen: SocketAddr,
    /// Also serve on this Unix socket (mode 0600), for a coordinator on this
    /// machine: `--worker unix:PATH` skips the TCP stack (plaintext; not
    /// with TLS).
    #[arg(long, env = "CLUSTER_LISTEN_UNIX", value_name = "PATH", help_heading = crate::heading::CONNECTION)]
    listen_unix: Option<std::path::PathBuf>,
    /// Tasks to run at once [default: all available cores].
    #[arg(long, env = "CLUSTER_CPUS")]
    cpus: Option<u32>,
    /// Relative speed of one core; capacity = cpus x weight.
    #[arg(long, env = "CLUSTER_WEIGHT", default_value_t = 1.0)]
    weight: f64,
    /// A label to advertise, as key=value (repeatable; comma-separated in the
    /// environment variable).
    #[arg(long = "label", env = "CLUSTER_LABELS", value_delimiter = ',', value_parser = crate::key_value)]
    labels: Vec<(String, String)>,
    /// Coordinator to register with, e.g. http://10.0.0.1:7700, or unix:PATH
    /// for its --listen-unix socket. (Its own variable: CLUSTER_COORDINATOR
    /// is the address clients submit to.)
    #[arg(long, env = "CLUSTER_WORKER_COORDINATOR", requires = "advertise", help_heading = crate::heading::CONNECTION)]
    coordinator: Option<String>,
    /// Address the coordinator dials to reach this worker (host:port);
    /// `:PORT` means this machine's hostname (a container's own name, so
    /// `docker-compose --scale` gives each replica its address); unix:PATH
    /// is this worker's --listen-unix socket, when it registers through the
    /// coordinator's.
    #[arg(long, env = "CLUSTER_ADVERTISE", requires = "coordinator", help_heading = crate::heading::CONNECTION)]
    advertise: Option<String>,
    /// Quiet time after which the worker sends a heartbeat (e.g. 500ms; a
    /// plain number is milliseconds).
    #[arg(long, env = "CLUSTER_HEARTBEAT_MS", default_value_t = 500, value_parser = crate::duration::millis, help_heading = crate::heading::TUNING)]
    heartbeat_ms: u64,
    /// On SIGTERM, how long running tasks may take to finish (e.g. 30s).
    #[arg(long, env = "CLUSTER_DRAIN_GRACE_MS", default_value_t = 30_000, value_parser = crate::duration::millis, help_heading = crate::heading::TUNING)]
    drain_grace_ms: u64,
    /// When the session with a coordinator that keeps durable state
    /// (--state-dir) ends without this worker leaving, how long running
    /// tasks go on for the restarted coordinator to adopt them; 0 stops
    /// them at once.
    #[arg(long, env = "CLUSTER_READOPT_GRACE_MS", default_value_t = 30_000, value_parser = crate::duration::millis, help_heading = crate::heading::TUNING)]
    readopt_grace_ms: u64,
    /// Largest gRPC message accepted or sent, in bytes; a larger result
    /// fails its task.
    #[arg(long, env = "CLUSTER_MAX_MESSAGE_BYTES", default_value_t = cluster_node::DEFAULT_MAX_MESSAGE_BYTES, help_heading = crate::heading::TUNING)]
    max_message_bytes: usize,
    /// Threads of the async runtime, which only moves messages: the tasks
    /// run on the `--cpus` slots (inline kinds such as `noop` on the
    /// runtime). One keeps a message's hand-offs on one thread (each
    /// worker of the benchmark moved 150,000 noop tasks a second on it);
    /// raise it if that thread is busy all the time.
    #[arg(long, env = "CLUSTER_ASYNC_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..), help_heading = crate::heading::TUNING)]
    async_threads: u16,
    /// Hold the async runtime to these CPUs (Linux; e.g. 0, or 0-3,6), not
    /// the task slots: they keep every core. The same core for the
    /// coordinator's and the workers' runtimes keeps a small job's
    /// hand-offs off other cores (see README, "Latency on one machine").
    #[arg(long, env = "CLUSTER_ASYNC_CPUS", value_name = "LIST", help_heading = crate::heading::TUNING)]
    async_cpus: Option<cluster_node::affinity::CpuList>,
    /// Run `exec` tasks: any program (no value), or only these (comma-
    /// separated names or absolute paths, matched exactly against the
    /// command's first word). Needs the secret or mutual TLS.
    #[arg(long, env = "CLUSTER_ALLOW_EXEC", num_args = 0..=1, value_delimiter = ',', default_missing_value = "")]
    allow_exec: Option<Vec<String>>,
    /// A variable every exec command gets, as KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = crate::key_value, requires = "allow_exec")]
    env: Vec<(String, String)>,
    /// Most bytes of an exec command's stdout, and of its stderr, kept; the
    /// rest is dropped and the output marked truncated.
    #[arg(long, env = "CLUSTER_MAX_OUTPUT_BYTES", default_value_t = cluster_tasks::exec::DEFAULT_MAX_OUTPUT_BYTES, help_heading = crate::heading::TUNING)]
    max_output_bytes: u64,
    #[command(flatten)]
    security: NodeSecurityArgs,
    #[command(flatten)]
    connections: crate::connections::ConnectionArgs,
    #[command(flatten)]
    log: crate::logging::LogArgs,
}

/// `:PORT` as `HOSTNAME:PORT`, with this machine's (or container's)
/// hostname; any other address as given.
fn with_hostname(advertise: String) -> anyhow::Result<String> {
    let Some(port) = advertise.strip_prefix(':') else { return Ok(advertise) };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .context("--advertise :PORT needs this machine's hostname, and none was found: give host:port")?;
    Ok(format!("{hostname}:{port}"))
}

/// This executable's name (`cluster-worker`, or a custom worker's).
fn program_name() -> String {
    let exe = std::env::args_os().next().map(std::path::PathBuf::from);
    exe.and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "cluster-worker".into())
}

/// The given kinds, and `exec` when allowed.
fn with_exec(registry: Registry, args: &Args) -> Registry {
    let Some(allowed) = &args.allow_exec else { return registry };
    let allowed: Vec<String> = allowed.iter().filter(|p| !p.is_empty()).cloned().collect();
    let allow = if allowed.is_empty() { Allow::Any } else { Allow::Only(allowed) };
    let exec = Exec::new(allow).with_env(args.env.clone()).with_max_output_bytes(args.max_output_bytes);
    registry.with("exec", exec)
}

impl TryFrom<Args> for WorkerConfig {
    type Error = anyhow::Error;

    fn try_from(args: Args) -> anyhow::Result<Self> {
        let security = args.security.load()?;
        Ok(WorkerConfig {
            cores: args.cpus.unwrap_or_else(available_cores),
            weight: args.weight,
            labels: args.labels.into_iter().collect::<BTreeMap<_, _>>(),
            coordinator: args.coordinator,
            advertise: args.advertise.map(with_hostname).transpose()?,
            heartbeat_interval: Duration::from_millis(args.heartbeat_ms.max(1)),
            readopt_grace: Duration::from_millis(args.readopt_grace_ms),
            max_message_bytes: args.max_message_bytes,
            security,
            insecure: args.security.server_tls.insecure,
            connections: args.connections.limits(),
            listen_unix: args.listen_unix,
            ..WorkerConfig::new(args.listen)
        })
    }
}

/// A worker command: the stock flags around a registry of kinds.
pub struct WorkerMain {
    registry: Registry,
}

impl Default for WorkerMain {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerMain {
    /// The built-in kinds (`sum-primes`, `noop`, `spin`; `exec` with
    /// `--allow-exec`).
    pub fn new() -> Self {
        Self { registry: Registry::builtin() }
    }

    /// Adds a kind under `name`.
    pub fn kind(mut self, name: &str, kind: impl TaskKind) -> Self {
        self.registry = self.registry.with(name, kind);
        self
    }

    /// Adds a kind with typed input and output under its own name.
    pub fn typed<K: TypedKind>(mut self, kind: K) -> Self {
        self.registry = self.registry.with_typed(kind);
        self
    }

    /// Parses the command line (`--help` lists every flag) and runs the
    /// worker until SIGINT (stop) or SIGTERM (drain, then stop).
    pub fn run_from_args(self) -> anyhow::Result<()> {
        let mut args = Args::parse();
        if let Some(cpus) = &args.async_cpus {
            // Counted first: once pinned, the process sees only `cpus`.
            args.cpus = Some(args.cpus.unwrap_or_else(available_cores));
            cluster_node::affinity::pin_current_thread(cpus).context("--async-cpus")?;
        }
        // Before the runtime, so that its last lines are written after it
        // has stopped.
        let _log = args.log.init("info");
        let threads = Some(usize::from(args.async_threads));
        let runtime = cluster_node::runtime(threads).context("starting the async runtime")?;
        runtime.block_on(run(args, self.registry))
    }
}

async fn run(args: Args, registry: Registry) -> anyhow::Result<()> {
    crate::connections::raise_open_files_limit();
    let grace = Duration::from_millis(args.drain_grace_ms);
    let registry = with_exec(registry, &args);
    let config = WorkerConfig::try_from(args)?;
    let mut worker = cluster_worker::start(config, registry).await.context("starting the worker")?;
    let signal = cluster_node::shutdown_signal().context("installing the SIGTERM handler")?;
    // The tests read this line to learn the port when listening on port 0.
    println!("{} listening on {}", program_name(), worker.addr());
    tokio::select! {
        result = worker.wait() => result.context("worker server failed")?,
        signal = signal => match signal {
            Signal::Interrupt => {
                tracing::info!("interrupted, shutting down");
                worker.shutdown().await;
            }
            Signal::Terminate => {
                tracing::info!("SIGTERM: draining, taking no new tasks");
                let left = worker.drain(grace).await;
                if left > 0 {
                    tracing::warn!(left, "grace period over; tasks still running were stopped and handed back");
                } else {
                    tracing::info!("drained: every task finished and was reported");
                }
            }
        },
    }
    Ok(())
}
