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

pub(crate) async fn register_loop(
    coordinator: String,
    advertise: String,
    mut sessions: watch::Receiver<usize>,
    security: Security,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if sessions.wait_for(|open| *open == 0).await.is_err() {
            return; // the worker is shutting down
        }
        match register(&coordinator, &advertise, &security).await {
            Ok(cores) => {
                tracing::info!(%coordinator, %advertise, cores, "registered with the coordinator");
                backoff = Duration::from_millis(100);
                // The coordinator opened our session before it answered;
                // wait a moment for our side to see it.
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), sessions.wait_for(|open| *open > 0)).await;
            }
            Err(err) => {
                tracing::warn!(%coordinator, "could not register, retrying in {backoff:?}: {err}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn register(coordinator: &str, advertise: &str, security: &Security) -> Result<u32, RegisterError> {
    let channel = cluster_node::connect(security, coordinator, Duration::from_secs(3)).await?;
    let reply = RegistryServiceClient::new(channel)
        .register(RegisterRequest { address: advertise.to_string() })
        .await
        .map_err(|status| RegisterError::Refused {
            code: status.code(),
            message: status.message().to_string(),
        })?;
    Ok(reply.into_inner().cores)
}
