//! The cluster coordinator, as a library: it owns the task queue and decides
//! where each task runs (weighted least-loaded dispatch), drives one session
//! per worker, and serves clients. [`start`] runs one from a
//! [`CoordinatorConfig`]; the `cluster-coordinator` binary (crate
//! `cluster-cli`) builds that config from its flags, and the embedded mode
//! of `cluster-client` builds it directly.
//!
//! - `sched`: the synchronous scheduling state machine, in plain Rust
//!   types (public with the `bench` feature, for the dispatch benchmark);
//! - `actor`: the task that owns the scheduler;
//! - `wire`: every conversion between proto messages and scheduler types;
//! - `link`: worker sessions; `service`: the gRPC services;
//! - `error`: typed errors that know their gRPC code.
//!
//! Binding, serving, dialing workers, the size defaults and spawning come
//! from `cluster-node`; authentication and TLS from `cluster-auth`.
#![warn(missing_docs)]

mod actor;
mod error;
mod link;
mod metrics;
#[cfg(feature = "bench")]
pub mod sched;
#[cfg(not(feature = "bench"))]
#[allow(unreachable_pub)]
mod sched;
mod service;
mod store;
mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use cluster_node::{Health, Refusals, ServerTaskError};
use cluster_proto::client_service_server::ClientServiceServer;
use cluster_proto::registry_service_server::RegistryServiceServer;
use tokio::task::JoinHandle;
use tonic::server::NamedService;

pub use crate::error::{CoordinatorError, ErrorClass, LinkError};
pub use crate::sched::CoreConfig;
pub use crate::store::{StoreError, DEFAULT_RESULT_RETENTION};
pub use cluster_node::{Security, DEFAULT_MAX_MESSAGE_BYTES};

/// Default `max_queued_bytes`: 1 GiB of task inputs.
pub const DEFAULT_MAX_QUEUED_BYTES: u64 = 1 << 30;

/// Version of this coordinator, reported in status.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a coordinator runs. Tests and the embedded mode build it directly;
/// the binary builds it from its flags.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Address to serve clients and registrations on; port 0 picks one.
    pub listen: SocketAddr,
    /// A Unix socket to serve clients on as well, for clients on the same
    /// machine (`unix:PATH`): they skip the TCP stack.
    pub listen_unix: Option<std::path::PathBuf>,
    /// Workers to dial (host:port, or `unix:PATH` for a worker of this
    /// machine), like Parallel Python's `ppservers`.
    pub workers: Vec<String>,
    /// Scheduling tunables.
    pub core: CoreConfig,
    /// Dial and session-open deadline.
    pub connect_timeout: Duration,
    /// A worker silent this long is declared lost.
    pub heartbeat_timeout: Duration,
    /// A lost worker leaves status this long after its session ended.
    pub forget_lost: Duration,
    /// Most tasks waiting in the queue; submissions beyond it wait (flow
    /// control) until tasks leave the queue.
    pub max_queued: usize,
    /// Most bytes of task input waiting in the queue, likewise.
    pub max_queued_bytes: u64,
    /// Largest message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// The shared secret and TLS, for the listener and for dialing workers.
    pub security: Security,
    /// Allow a non-loopback listener with neither secret nor mutual TLS.
    pub insecure: bool,
    /// Bounds on the connections the listener keeps.
    pub connections: cluster_node::ConnectionLimits,
    /// Where to serve Prometheus metrics (`GET /metrics`), if anywhere; a
    /// non-loopback address needs `insecure`.
    pub metrics_listen: Option<SocketAddr>,
    /// The durable state directory; `None` keeps jobs in memory only (a
    /// restart loses them).
    pub state_dir: Option<std::path::PathBuf>,
    /// With a state directory: how long a job whose client went away runs
    /// on for a client to resume it.
    pub detach_timeout: Duration,
    /// With a state directory: how long a finished job's results are kept
    /// for a client that resumes late.
    pub result_retention: Duration,
    /// With a state directory: after a restart, how long restored jobs
    /// wait for the workers of before to come back and report the tasks
    /// they kept running (so those are adopted, not run twice).
    pub readopt_wait: Duration,
}

impl CoordinatorConfig {
    /// A coordinator on `listen` with default tunables and no static workers.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            listen_unix: None,
            workers: Vec::new(),
            core: CoreConfig::default(),
            connect_timeout: Duration::from_secs(3),
            heartbeat_timeout: Duration::from_secs(3),
            forget_lost: Duration::from_secs(300),
            max_queued: 100_000,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            security: Security::default(),
            insecure: false,
            connections: cluster_node::ConnectionLimits::default(),
            metrics_listen: None,
            state_dir: None,
            detach_timeout: Duration::from_secs(60),
            result_retention: DEFAULT_RESULT_RETENTION,
            readopt_wait: Duration::from_secs(5),
        }
    }
}

/// Errors starting a coordinator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] cluster_node::BindError),
    /// Exposed without authentication, or unusable TLS settings.
    #[error(transparent)]
    Serve(#[from] cluster_node::ServeError),
    /// The Unix socket listener did not start.
    #[error(transparent)]
    Unix(#[from] cluster_node::UnixServeError),
    /// The metrics listener could not start.
    #[error(transparent)]
    Metrics(#[from] cluster_node::MetricsError),
    /// The state directory cannot be used.
    #[error(transparent)]
    State(#[from] StoreError),
}

/// The services a coordinator serves, as health checks and reflection name them.
const SERVICES: &[&str] = &[
    ClientServiceServer::<service::client_api::ClientApi>::NAME,
    RegistryServiceServer::<service::registry_api::RegistryApi>::NAME,
];

/// A running coordinator.
pub struct RunningCoordinator {
    addr: SocketAddr,
    health: Health,
    actor: actor::ActorHandle,
    links: Vec<JoinHandle<()>>,
    server: cluster_node::Listeners,
    metrics: Option<cluster_node::MetricsServer>,
    in_process: cluster_node::InProcess,
    /// Set when the coordinator stops: ends client streams idle between jobs.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl RunningCoordinator {
    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address metrics are served on, if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(cluster_node::MetricsServer::addr)
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL that reaches the client API from this process with no
    /// socket in between (`inproc://...`; see [`cluster_node::InProcess`]).
    pub fn in_process_url(&self) -> String {
        self.in_process.url()
    }

    /// Stops taking jobs, tells the clients of unfinished jobs (UNAVAILABLE),
    /// stops their tasks, and waits for the server to end.
    pub async fn shutdown(mut self) {
        self.health.set_serving(false).await;
        self.actor.shutdown().await;
        let _ = self.stopping.send(true);
        for link in &self.links {
            link.abort();
        }
        self.health.close().await;
        self.metrics = None;
        self.server.stop().await;
    }

    /// Waits until a listener ends by itself (an error): the TCP one, or
    /// the Unix socket one if it serves one.
    pub async fn wait(&mut self) -> Result<(), ServerTaskError> {
        self.server.wait().await
    }
}

/// Starts a coordinator: binds, starts the actor, dials the static workers.
pub async fn start(config: CoordinatorConfig) -> Result<RunningCoordinator, StartError> {
    let security = &config.security;
    let refusals = Refusals::default();
    let mut builder =
        cluster_node::counted_server_builder(security, config.listen, config.insecure, refusals.clone())?;
    let (listener, addr) = cluster_node::bind(config.listen).await?;
    let max_message_bytes = config.max_message_bytes;
    let limits = actor::Limits { tasks: config.max_queued, bytes: config.max_queued_bytes };
    let durable = match &config.state_dir {
        Some(dir) => {
            let holder = format!("pid {} listening on {addr}", std::process::id());
            let (store, recovered) = store::Store::open(dir, &holder)?;
            let jobs = recovered.jobs.len();
            tracing::info!(dir = %dir.display(), jobs, "state directory open: jobs survive a restart");
            let durability = actor::Durability {
                store,
                detach_timeout: config.detach_timeout,
                retention: config.result_retention,
                readopt_wait: config.readopt_wait,
            };
            Some((durability, recovered))
        }
        None => {
            tracing::info!("no --state-dir: jobs are kept in memory only, and a restart loses them");
            None
        }
    };
    let actor = actor::spawn(config.core.clone(), limits, config.forget_lost, durable);
    let options = link::LinkOptions {
        connect_timeout: config.connect_timeout,
        heartbeat_timeout: config.heartbeat_timeout,
        max_backoff: Duration::from_secs(5),
        max_message_bytes,
        security: security.clone(),
        durable: config.state_dir.is_some(),
    };
    let mut links = Vec::new();
    for worker in &config.workers {
        links.push(cluster_node::spawn(link::keep_static(worker.clone(), actor.clone(), options.clone())));
    }
    let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
    let client_api =
        service::client_api::ClientApi { actor: actor.clone(), max_message_bytes, stopping: stopping_rx };
    let registry_api = service::registry_api::RegistryApi { actor: actor.clone(), options };
    let (router, health) =
        cluster_node::standard_services(&mut builder, cluster_proto::FILE_DESCRIPTOR_SET, SERVICES).await?;
    let client_api = ClientServiceServer::new(client_api)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    let in_process = cluster_node::InProcess::register(
        "coordinator",
        addr,
        tonic::service::Routes::new(client_api.clone()),
    );
    let router = router
        .add_service(client_api)
        .add_service(RegistryServiceServer::new(registry_api).max_decoding_message_size(max_message_bytes));
    let metrics = match config.metrics_listen {
        Some(listen) => {
            let (actor, refusals) = (actor.clone(), refusals.clone());
            let render = move || -> cluster_node::Rendered {
                Box::pin(metrics::scrape(actor.clone(), refusals.clone()))
            };
            let server = cluster_node::serve_metrics(listen, config.insecure, render).await?;
            tracing::info!("metrics on http://{}/metrics", server.addr());
            Some(server)
        }
        None => None,
    };
    let unix = config.listen_unix.as_deref();
    let server = cluster_node::Listeners::spawn(router, listener, unix, security, config.connections).await?;
    health.set_serving(true).await;
    tracing::info!(
        %addr,
        unix = config.listen_unix.as_ref().map(|path| tracing::field::display(path.display())),
        workers = config.workers.len(),
        tls = config.security.server_tls.is_some(),
        secret = config.security.secret.is_some(),
        "coordinator serving"
    );
    Ok(RunningCoordinator { addr, health, actor, links, server, metrics, in_process, stopping })
}
