//! An embedded cluster: a coordinator in this process, a local worker on
//! this machine's cores, and any remote workers given by address. The
//! client, the coordinator and the local worker talk in process
//! (`inproc://`, see [`cluster_node::InProcess`]): the same services and
//! messages as over the network, with no socket or HTTP/2 between them.

use std::net::SocketAddr;
use std::time::Duration;

use cluster_coordinator::{CoordinatorConfig, RunningCoordinator};
use cluster_proto::WorkerState;
use cluster_worker::{RunningWorker, WorkerConfig};

use crate::{Client, ClientError};
use cluster_auth::Security;

/// A coordinator and an optional local worker running in this process.
pub struct Embedded {
    coordinator: RunningCoordinator,
    local: Option<RunningWorker>,
    /// Workers the coordinator was told to dial.
    expected: usize,
    /// The embedded coordinator's own secret (plaintext on loopback).
    security: Security,
}

/// Errors starting an embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The coordinator did not start.
    #[error(transparent)]
    Coordinator(#[from] cluster_coordinator::StartError),
    /// The local worker did not start.
    #[error(transparent)]
    Worker(#[from] cluster_worker::StartError),
    /// Talking to the embedded coordinator failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// No worker at all could be reached.
    #[error("no worker is reachable: {0}")]
    NoWorkers(String),
}

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

impl Embedded {
    /// Starts a coordinator on loopback driving `local_cpus` local cores
    /// (none if 0) and the workers at `remote` (host:port).
    ///
    /// `security` carries the secret and client TLS for dialing the remote
    /// workers. The coordinator reaches the local worker in process; both
    /// also listen on loopback (plaintext, with the same secret).
    pub async fn start(
        local_cpus: u32,
        remote: &[String],
        security: &Security,
    ) -> Result<Self, EmbeddedError> {
        let local = if local_cpus > 0 {
            let config = WorkerConfig {
                cores: local_cpus,
                name: Some("local".into()),
                security: Security { secret: security.secret.clone(), ..Security::default() },
                ..WorkerConfig::new(LOOPBACK)
            };
            Some(cluster_worker::start(config, cluster_tasks::Registry::builtin()).await?)
        } else {
            None
        };
        let mut workers: Vec<String> = local.iter().map(RunningWorker::in_process_url).collect();
        workers.extend(remote.iter().cloned());
        let expected = workers.len();
        let config = CoordinatorConfig {
            workers,
            security: Security { server_tls: None, ..security.clone() },
            ..CoordinatorConfig::new(LOOPBACK)
        };
        let coordinator = cluster_coordinator::start(config).await?;
        let own = Security { secret: security.secret.clone(), ..Security::default() };
        Ok(Self { coordinator, local, expected, security: own })
    }

    /// The embedded coordinator's URL on loopback, for other processes.
    pub fn url(&self) -> String {
        self.coordinator.url()
    }

    /// A client of the embedded coordinator, in process. Use it on the
    /// runtime the cluster was started on: in process, the coordinator's
    /// work for each job runs on the caller's runtime, and ends with it.
    pub async fn client(&self) -> Result<Client, ClientError> {
        Client::connect_with(&self.coordinator.in_process_url(), &self.security).await
    }

    /// How to talk to the embedded coordinator: its secret, no TLS.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// Waits until every worker has connected or failed its first dial, and
    /// returns the ones that failed with why. Fails if none connected.
    pub async fn wait_for_workers(&self, deadline: Duration) -> Result<Vec<(String, String)>, EmbeddedError> {
        let mut client = self.client().await?;
        let give_up = tokio::time::Instant::now() + deadline;
        loop {
            let status = client.status().await?;
            let active = status.workers.iter().filter(|w| w.state == WorkerState::Active as i32).count();
            let settled = status.workers.len() >= self.expected
                && status
                    .workers
                    .iter()
                    .all(|w| w.state == WorkerState::Active as i32 || !w.last_error.is_empty());
            let failed: Vec<(String, String)> = status
                .workers
                .iter()
                .filter(|w| w.state != WorkerState::Active as i32)
                .map(|w| (w.address.clone(), w.last_error.clone()))
                .collect();
            if settled || tokio::time::Instant::now() >= give_up {
                if active == 0 {
                    let why: Vec<String> = failed.iter().map(|(a, e)| format!("{a}: {e}")).collect();
                    return Err(EmbeddedError::NoWorkers(why.join("; ")));
                }
                return Ok(failed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the coordinator and the local worker.
    pub async fn shutdown(self) {
        self.coordinator.shutdown().await;
        if let Some(local) = self.local {
            local.shutdown().await;
        }
    }
}
