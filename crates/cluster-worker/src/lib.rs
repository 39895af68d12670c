//! A cluster worker node, as a library. It serves `WorkerService`: a
//! coordinator dials it (or it registers with a coordinator, which then
//! dials it), and it runs the tasks it is given on exactly `cores` blocking
//! threads (kinds declared inline, such as `noop`, run as they arrive on the
//! thread that received them). [`start`] runs one from a [`WorkerConfig`] and a task
//! [`Registry`]; the `cluster-worker` binary (crate `cluster-cli`) builds the
//! config from its flags, and a Rust user's own worker binary can pass a
//! registry with their task kinds.
//!
//! - `executor`: the slots; `session`: one coordinator session (bidi
//!   stream); `register`: self-registration; `wire`: proto conversions.
//!
//! Binding, serving, dialing, the size defaults and spawning come from
//! `cluster-node`; authentication and TLS from `cluster-auth`.
#![warn(missing_docs)]

mod executor;
mod register;
mod session;
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cluster_node::ServerTaskError;
pub use cluster_node::{Security, DEFAULT_MAX_MESSAGE_BYTES};
use cluster_proto::worker_service_server::WorkerServiceServer;
use cluster_proto::WorkerInfo;
use cluster_tasks::Registry;
use tokio::sync::watch;

/// Version of this worker, reported to coordinators.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a worker runs. Build it directly in tests and embedders; the binary
/// builds it from its flags.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Address to serve on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// A Unix socket to serve on as well, for a coordinator on the same
    /// machine (`--worker unix:PATH`): it skips the TCP stack.
    pub listen_unix: Option<std::path::PathBuf>,
    /// Slots, i.e. tasks run at once.
    pub cores: u32,
    /// Relative speed of one core.
    pub weight: f64,
    /// Labels advertised to the coordinator.
    pub labels: BTreeMap<String, String>,
    /// Display name; `None` means the address the coordinator dials.
    pub name: Option<String>,
    /// This process's identity for coordinators; `None` picks a random one
    /// at start (see `WorkerInfo.worker_id`).
    pub worker_id: Option<String>,
    /// Coordinator to register with, as a URL (`http://host:7700`).
    pub coordinator: Option<String>,
    /// Address the coordinator should dial back, for registration.
    pub advertise: Option<String>,
    /// Quiet time after which the worker sends a heartbeat.
    pub heartbeat_interval: Duration,
    /// When a session with a coordinator that keeps durable state ends,
    /// running tasks go on this long for the next session to adopt them;
    /// zero stops them at once.
    pub readopt_grace: Duration,
    /// Largest gRPC message accepted or sent; a task whose result would not
    /// fit fails with RESULT_TOO_LARGE.
    pub max_message_bytes: usize,
    /// The shared secret and TLS, for the listener and for registering.
    pub security: Security,
    /// Allow a non-loopback listener with neither secret nor mutual TLS.
    pub insecure: bool,
    /// Bounds on the connections the listener keeps.
    pub connections: cluster_node::ConnectionLimits,
}

impl WorkerConfig {
    /// A worker on `listen` with one slot per available core.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            listen_unix: None,
            cores: available_cores(),
            weight: 1.0,
            labels: BTreeMap::new(),
            name: None,
            worker_id: None,
            coordinator: None,
            advertise: None,
            heartbeat_interval: Duration::from_millis(500),
            readopt_grace: Duration::from_secs(30),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            security: Security::default(),
            insecure: false,
            connections: cluster_node::ConnectionLimits::default(),
        }
    }
}

/// The address to advertise: `host` alone or `host:0` means "this host, at
/// the port the worker is bound to" (handy with `--listen 0.0.0.0:0`);
/// `unix:PATH` is the worker's `--listen-unix` socket, as given.
fn advertise_address(advertise: &str, bound_port: u16) -> String {
    if cluster_node::unix_path(advertise).is_some() {
        return advertise.to_string();
    }
    match advertise.rsplit_once(':') {
        Some((host, "0")) => format!("{host}:{bound_port}"),
        Some((_, port)) if port.parse::<u16>().is_ok() => advertise.to_string(),
        _ => format!("{advertise}:{bound_port}"),
    }
}

/// A random id for this worker process: 128 bits from the standard
/// library's randomly keyed hasher, mixed with the process id and the time.
fn random_worker_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let half = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u32(std::process::id());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        hasher.write_u128(now.as_nanos());
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

/// Cores this process may use.
pub fn available_cores() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// Errors starting a worker.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] cluster_node::BindError),
    /// A setting had an impossible value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The coordinator to register with cannot be dialled as given.
    #[error("--coordinator: {0}")]
    Coordinator(cluster_node::DialError),
    /// The slot threads could not be started.
    #[error("cannot start task threads: {0}")]
    Threads(std::io::Error),
    /// Exposed without authentication, or unusable TLS settings.
    #[error(transparent)]
    Serve(#[from] cluster_node::ServeError),
    /// The Unix socket listener did not start.
    #[error(transparent)]
    Unix(#[from] cluster_node::UnixServeError),
    /// Commands allowed with no authentication at all.
    #[error(
        "--allow-exec runs the commands callers send: it needs the cluster secret (--secret-file or \
         CLUSTER_SECRET) or mutual TLS (--tls-client-ca), even on loopback"
    )]
    ExecWithoutAuth,
}

/// Settings a worker cannot start with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// No slot to run tasks on.
    #[error("--cpus must be at least 1")]
    NoCores,
    /// More slots than any coordinator believes a worker has.
    #[error("--cpus {0} is over the limit of {max} (a coordinator counts no more cores per worker)", max = cluster_proto::MAX_CORES)]
    TooManyCores(u32),
    /// A weight that is not a positive number.
    #[error("--weight must be a positive number, got {0}")]
    BadWeight(f64),
    /// Only one of the two registration settings.
    #[error("--coordinator and --advertise go together: the coordinator dials the advertised address")]
    HalfRegistration,
    /// A Unix socket advertised that this worker does not serve.
    #[error(
        "--advertise unix:PATH names the socket the coordinator dials: serve it with --listen-unix PATH"
    )]
    UnixNotServed,
}

impl WorkerConfig {
    /// Checks the settings that do not depend on the machine.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cores == 0 {
            return Err(ConfigError::NoCores);
        }
        if self.cores > cluster_proto::MAX_CORES {
            return Err(ConfigError::TooManyCores(self.cores));
        }
        if !(self.weight.is_finite() && self.weight > 0.0) {
            return Err(ConfigError::BadWeight(self.weight));
        }
        if self.coordinator.is_some() != self.advertise.is_some() {
            return Err(ConfigError::HalfRegistration);
        }
        let advertised = self.advertise.as_deref().and_then(cluster_node::unix_path);
        if advertised.is_some_and(|path| self.listen_unix.as_deref() != Some(path)) {
            return Err(ConfigError::UnixNotServed);
        }
        Ok(())
    }
}

/// A running worker.
pub struct RunningWorker {
    addr: SocketAddr,
    health: cluster_node::Health,
    phase: watch::Sender<session::Phase>,
    executor: Arc<executor::Executor>,
    server: cluster_node::Listeners,
    in_process: cluster_node::InProcess,
}

impl RunningWorker {
    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL that reaches this worker from its own process with no
    /// socket in between (`inproc://...`; see [`cluster_node::InProcess`]).
    pub fn in_process_url(&self) -> String {
        self.in_process.url()
    }

    /// Drains: takes no new tasks, hands unstarted ones back to the
    /// coordinator, lets running ones finish for up to `grace` and delivers
    /// their results, then shuts down. Returns the tasks still running when
    /// the grace period ended (0 when everything finished).
    pub async fn drain(self, grace: Duration) -> usize {
        self.health.set_serving(false).await;
        let _ = self.phase.send(session::Phase::Draining);
        let give_up = tokio::time::Instant::now() + grace;
        let mut left = self.executor.busy();
        while left > 0 && tokio::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(10)).await;
            left = self.executor.busy();
        }
        self.shutdown().await;
        left
    }

    /// Ends every session and stops serving. Running tasks are asked to
    /// stop and report (their coordinator runs them again elsewhere); the
    /// wait for them is bounded, so a task that ignores its cancellation
    /// cannot hold the process (its coordinator then sees the session drop).
    pub async fn shutdown(mut self) {
        self.health.set_serving(false).await;
        let _ = self.phase.send(session::Phase::Closing);
        self.executor.stop_running();
        self.health.close().await;
        // Bounded (cluster_node::STOP_GRACE): a task that ignores its
        // cancellation cannot hold the process.
        self.server.stop().await;
    }

    /// Waits until a listener ends by itself (an error): the TCP one, or
    /// the Unix socket one if it serves one.
    pub async fn wait(&mut self) -> Result<(), ServerTaskError> {
        self.server.wait().await
    }
}

/// Starts a worker with the given task registry.
pub async fn start(config: WorkerConfig, registry: Registry) -> Result<RunningWorker, StartError> {
    config.validate()?;
    let open = config.security.secret.is_none() && !config.security.requires_client_cert();
    if open && registry.names().any(|name| name == "exec") {
        return Err(StartError::ExecWithoutAuth);
    }
    if let Some(url) = config.coordinator.as_ref().filter(|url| cluster_node::unix_path(url).is_none()) {
        // A malformed URL is a mistake to report now, not to retry forever.
        cluster_node::endpoint(&config.security, url, Duration::from_secs(3))
            .map_err(StartError::Coordinator)?;
    }
    let (listener, addr) = cluster_node::bind(config.listen).await?;
    let advertise = config.advertise.as_deref().map(|advertise| advertise_address(advertise, addr.port()));
    let mut security = config.security.clone();
    if security.server_names.is_empty() {
        // The coordinator dials the advertised address: a header signed
        // for any other server is a replay. (Calls over a Unix socket are
        // signed for `localhost`, which the auth layer checks instead.)
        let unix = advertise.as_deref().and_then(cluster_node::unix_path).is_some();
        security.server_names.extend(advertise.clone().filter(|_| !unix));
    }
    let mut builder = cluster_node::server_builder(&security, config.listen, config.insecure)?;
    let info = WorkerInfo {
        cores: config.cores,
        weight: config.weight,
        labels: config.labels.clone().into_iter().collect(),
        version: VERSION.into(),
        name: config.name.clone().unwrap_or_default(),
        kinds: registry.names().map(String::from).collect(),
        worker_id: config.worker_id.clone().unwrap_or_else(random_worker_id),
        held: Vec::new(),
    };
    let worker_id = info.worker_id.clone();
    let max_result_bytes = cluster_proto::batch::budget(config.max_message_bytes);
    let executor = Arc::new(
        executor::Executor::new(config.cores, registry, max_result_bytes).map_err(StartError::Threads)?,
    );
    let (sessions, sessions_rx) = watch::channel(0usize);
    let (phase, phase_rx) = watch::channel(session::Phase::Serving);
    let display = config.name.clone().or(advertise.clone()).unwrap_or_else(|| addr.to_string());
    let service = session::SessionService {
        info,
        display: display.into(),
        readopt_grace: config.readopt_grace,
        executor: executor.clone(),
        heartbeat_interval: config.heartbeat_interval,
        max_message_bytes: config.max_message_bytes,
        next_session: Default::default(),
        sessions,
        phase: phase_rx,
    };
    let services = &[<WorkerServiceServer<session::SessionService> as tonic::server::NamedService>::NAME];
    let (router, health) =
        cluster_node::standard_services(&mut builder, cluster_proto::FILE_DESCRIPTOR_SET, services).await?;
    let service = WorkerServiceServer::new(service)
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let in_process =
        cluster_node::InProcess::register("worker", addr, tonic::service::Routes::new(service.clone()));
    let router = router.add_service(service);
    let unix = config.listen_unix.as_deref();
    let server =
        cluster_node::Listeners::spawn(router, listener, unix, &security, config.connections).await?;
    health.set_serving(true).await;
    if let (Some(coordinator), Some(advertise)) = (config.coordinator, advertise) {
        let registration = register::Registration { coordinator, advertise, worker_id: worker_id.clone() };
        cluster_node::spawn(registration.run(sessions_rx, security));
    }
    tracing::info!(%addr, unix = unix.map(|path| tracing::field::display(path.display())), cores = config.cores, weight = config.weight, "worker serving");
    Ok(RunningWorker { addr, health, phase, executor, server, in_process })
}

#[cfg(test)]
mod tests {
    use super::advertise_address;

    #[test]
    fn advertise_fills_in_the_bound_port() {
        assert_eq!(advertise_address("10.0.0.5", 35001), "10.0.0.5:35001");
        assert_eq!(advertise_address("worker-1:0", 35001), "worker-1:35001");
        assert_eq!(advertise_address("worker-1:35000", 35001), "worker-1:35000");
        assert_eq!(advertise_address("unix:/run/w:1.sock", 35001), "unix:/run/w:1.sock");
    }
}
