//! Self-registration: a worker started with `--coordinator` asks that
//! coordinator to add it, and asks again whenever it has no session (after a
//! coordinator restart, say), with backoff.

use std::time::Duration;

use cluster_auth::Security;
use cluster_node::DialError;
use cluster_proto::registry_service_client::RegistryServiceClient;
use cluster_proto::RegisterRequest;
use tokio::sync::watch;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why one registration attempt failed.
#[derive(Debug, thiserror::Error)]
enum RegisterError {
    /// The coordinator could not be reached.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The coordinator answered with an error.
    #[error("{code:?}: {message}")]
    Refused { code: tonic::Code, message: String },
}

/// Who registers where.
pub(crate) struct Registration {
    /// The coordinator's URL.
    pub(crate) coordinator: String,
    /// The address it should dial back.
    pub(crate) advertise: String,
    /// This worker's id, which the coordinator checks on the dial-back.
    pub(crate) worker_id: String,
}

impl Registration {
    /// Registers whenever the worker has no session, until it shuts down.
    pub(crate) async fn run(self, mut sessions: watch::Receiver<usize>, security: Security) {
        let Registration { coordinator, advertise, .. } = &self;
        let mut backoff = Duration::from_millis(100);
        loop {
            if sessions.wait_for(|open| *open == 0).await.is_err() {
                return; // the worker is shutting down
            }
            match self.register(&security).await {
                Ok(cores) => {
                    tracing::info!(%coordinator, %advertise, cores, "registered with the coordinator");
                    backoff = Duration::from_millis(100);
                    // The coordinator opened our session before it answered;
                    // wait a moment for our side to see it.
                    let opened = sessions.wait_for(|open| *open > 0);
                    let _ = tokio::time::timeout(Duration::from_secs(1), opened).await;
                }
                Err(err) => {
                    tracing::warn!(%coordinator, "could not register, retrying in {backoff:?}: {err}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn register(&self, security: &Security) -> Result<u32, RegisterError> {
        let channel = cluster_node::connect(security, &self.coordinator, Duration::from_secs(3)).await?;
        let request = RegisterRequest { address: self.advertise.clone(), worker_id: self.worker_id.clone() };
        let reply = RegistryServiceClient::new(channel).register(request).await.map_err(|status| {
            RegisterError::Refused { code: status.code(), message: status.message().to_string() }
        })?;
        Ok(reply.into_inner().cores)
    }
}
