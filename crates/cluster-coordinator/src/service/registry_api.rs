//! `RegistryService`: a worker asks to join; the coordinator dials it back.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use cluster_proto::registry_service_server::RegistryService;
use cluster_proto::{RegisterRequest, RegisterResponse};
use tonic::{Request, Response, Status};

use crate::actor::ActorHandle;
use crate::link::{self, LinkOptions};

pub(crate) struct RegistryApi {
    pub(crate) actor: ActorHandle,
    pub(crate) options: LinkOptions,
    pub(crate) ids: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let address = request.into_inner().address;
        if address.parse::<std::net::SocketAddr>().is_err() && !looks_like_host_port(&address) {
            return Err(Status::invalid_argument(format!("`{address}` is not a host:port address")));
        }
        let session =
            link::connect(&address, &self.actor, &self.options, &self.ids).await.map_err(|reason| {
                tracing::warn!(worker = %address, "registering worker could not be reached: {reason}");
                Status::unavailable(format!(
                    "the coordinator could not open a session to {address}: {reason}"
                ))
            })?;
        let cores = session.cores;
        let actor = self.actor.clone();
        let timeout = self.options.heartbeat_timeout;
        // The worker registers again if this session ends.
        cluster_node::spawn(async move { session.run(&actor, timeout).await });
        Ok(Response::new(RegisterResponse { cores }))
    }
}

fn looks_like_host_port(address: &str) -> bool {
    matches!(address.rsplit_once(':'), Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok())
}
