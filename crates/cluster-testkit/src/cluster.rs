//! A coordinator and workers in this process, on 127.0.0.1 port 0.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use cluster_auth::test_util::TestPki;
use cluster_auth::{Secret, Security};
use cluster_client::Client;
use cluster_coordinator::{CoordinatorConfig, RunningCoordinator};
use cluster_proto::StatusResponse;
use cluster_tasks::Registry;
use cluster_worker::{RunningWorker, WorkerConfig};

use crate::wait::{active_workers, connect, count_panics, wait_status};

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// One worker of a [`TestCluster`]: its configuration (on 127.0.0.1 port 0)
/// and its task kinds. `2.into()` is a two-core worker with the built-in
/// kinds.
pub struct WorkerSpec {
    config: WorkerConfig,
    registry: Registry,
}

impl WorkerSpec {
    /// A worker with `cores` slots and the built-in kinds.
    pub fn cores(cores: u32) -> Self {
        Self { config: WorkerConfig { cores, ..WorkerConfig::new(LOOPBACK) }, registry: Registry::builtin() }
    }

    /// Its relative speed.
    pub fn weight(mut self, weight: f64) -> Self {
        self.config.weight = weight;
        self
    }

    /// Its task kinds.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Any other setting.
    pub fn with(mut self, change: impl FnOnce(&mut WorkerConfig)) -> Self {
        change(&mut self.config);
        self
    }
}

impl From<u32> for WorkerSpec {
    fn from(cores: u32) -> Self {
        WorkerSpec::cores(cores)
    }
}

/// How to build a [`TestCluster`].
pub struct TestClusterBuilder {
    workers: Vec<WorkerSpec>,
    coordinator: CoordinatorConfig,
    security: Security,
    self_registering: bool,
}

impl TestClusterBuilder {
    /// Adds a worker (`.worker(2)` or `.worker(WorkerSpec::cores(1).weight(2.0))`).
    pub fn worker(mut self, spec: impl Into<WorkerSpec>) -> Self {
        self.workers.push(spec.into());
        self
    }

    /// Changes the coordinator's configuration.
    pub fn coordinator(mut self, change: impl FnOnce(&mut CoordinatorConfig)) -> Self {
        change(&mut self.coordinator);
        self
    }

    /// Every server and caller, the test's client included, uses `secret`.
    pub fn secret(mut self, secret: &str) -> Self {
        self.security.secret = Some(Secret::new(secret).expect("a usable secret"));
        self
    }

    /// Every server presents `pki`'s server certificate (and with `mtls`
    /// requires a client certificate from its CA); every caller trusts the
    /// CA and presents the client certificate.
    pub fn tls(mut self, pki: &TestPki, mtls: bool) -> Self {
        self.security.server_tls = Some(pki.server_tls(mtls));
        self.security.client_tls = Some(pki.client_tls(true));
        self
    }

    /// Workers register themselves with the coordinator instead of being
    /// listed in its `workers`.
    pub fn self_registering(mut self) -> Self {
        self.self_registering = true;
        self
    }

    /// Starts the workers and the coordinator, connects a client, and waits
    /// until every worker is active.
    pub async fn start(self) -> Result<TestCluster> {
        count_panics();
        let mut cluster = TestCluster {
            coordinator: None,
            workers: Vec::new(),
            addrs: Vec::new(),
            security: self.security,
            coordinator_addr: String::new(),
            url: String::new(),
            client: None,
        };
        let mut config = self.coordinator;
        config.security = cluster.security.clone();
        if !self.self_registering {
            for spec in self.workers.into_iter() {
                cluster.start_worker(spec).await?;
            }
            config.workers = cluster.addrs.clone();
            cluster.start_coordinator(config).await?;
        } else {
            cluster.start_coordinator(config).await?;
            for spec in self.workers.into_iter() {
                cluster.add_worker(spec).await?;
            }
        }
        cluster.wait_for_workers(cluster.addrs.len()).await?;
        Ok(cluster)
    }
}

/// A coordinator and workers in this process, with a connected client.
pub struct TestCluster {
    coordinator: Option<RunningCoordinator>,
    workers: Vec<Option<RunningWorker>>,
    addrs: Vec<String>,
    security: Security,
    coordinator_addr: String,
    url: String,
    client: Option<Client>,
}

impl TestCluster {
    /// No workers yet, the coordinator's defaults, no secret, no TLS.
    pub fn builder() -> TestClusterBuilder {
        TestClusterBuilder {
            workers: Vec::new(),
            coordinator: CoordinatorConfig::new(LOOPBACK),
            security: Security::default(),
            self_registering: false,
        }
    }

    async fn start_coordinator(&mut self, config: CoordinatorConfig) -> Result<()> {
        let coordinator = cluster_coordinator::start(config).await.context("starting the coordinator")?;
        self.coordinator_addr = coordinator.addr().to_string();
        self.url = cluster_node::url_for(&self.security, &self.coordinator_addr);
        self.coordinator = Some(coordinator);
        self.client = Some(connect(&self.url, &self.security).await?);
        Ok(())
    }

    async fn start_worker(&mut self, spec: WorkerSpec) -> Result<usize> {
        let config = WorkerConfig { security: self.security.clone(), ..spec.config };
        let worker = cluster_worker::start(config, spec.registry).await.context("starting a worker")?;
        self.addrs.push(worker.addr().to_string());
        self.workers.push(Some(worker));
        Ok(self.workers.len() - 1)
    }

    /// Starts another worker that registers itself with the coordinator
    /// (advertising 127.0.0.1 and its bound port); returns its index. Does
    /// not wait for it to become active.
    pub async fn add_worker(&mut self, spec: impl Into<WorkerSpec>) -> Result<usize> {
        let spec = spec.into().with(|c| {
            c.coordinator = Some(self.url.clone());
            c.advertise = Some("127.0.0.1".into());
        });
        self.start_worker(spec).await
    }

    /// The coordinator's URL (`https://` with TLS).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The coordinator's address.
    pub fn coordinator_addr(&self) -> &str {
        &self.coordinator_addr
    }

    /// The secret and TLS every member uses.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// The client connected at start (clone it to move it into a task).
    pub fn client(&self) -> Client {
        self.client.clone().expect("a client")
    }

    /// A client on a connection of its own.
    pub async fn connect(&self) -> Result<Client> {
        connect(&self.url, &self.security).await
    }

    /// The address of worker `i` (in the order added), as the coordinator
    /// and the results name it.
    pub fn addr(&self, i: usize) -> &str {
        &self.addrs[i]
    }

    /// Worker `i`.
    pub fn worker(&self, i: usize) -> &RunningWorker {
        self.workers[i].as_ref().expect("the worker was taken")
    }

    /// Takes worker `i` out, to drain or shut it down.
    pub fn take_worker(&mut self, i: usize) -> RunningWorker {
        self.workers[i].take().expect("the worker was taken already")
    }

    /// Takes the coordinator out, to shut it down.
    pub fn take_coordinator(&mut self) -> RunningCoordinator {
        self.coordinator.take().expect("the coordinator was taken already")
    }

    /// The coordinator's status now.
    pub async fn status(&self) -> Result<StatusResponse> {
        Ok(self.client().status().await?)
    }

    /// Polls status until `ready` holds (see [`wait_status`]).
    pub async fn wait_status(
        &self,
        what: &str,
        ready: impl Fn(&StatusResponse) -> bool,
    ) -> Result<StatusResponse> {
        wait_status(&mut self.client(), what, ready).await
    }

    /// Waits until `n` workers are active.
    pub async fn wait_for_workers(&self, n: usize) -> Result<StatusResponse> {
        self.wait_status(&format!("{n} active workers"), |s| active_workers(s) == n).await
    }

    /// Stops the coordinator, then every worker still here.
    pub async fn shutdown(mut self) {
        if let Some(coordinator) = self.coordinator.take() {
            coordinator.shutdown().await;
        }
        for worker in self.workers.iter_mut().filter_map(Option::take) {
            worker.shutdown().await;
        }
    }
}
