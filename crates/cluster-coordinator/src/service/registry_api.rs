//! `RegistryService`: a worker asks to join; the coordinator dials it back.

use cluster_proto::registry_service_server::RegistryService;
use cluster_proto::{RegisterRequest, RegisterResponse};
use tonic::{Request, Response, Status};

use crate::actor::ActorHandle;
use crate::error::CoordinatorError;
use crate::link::{self, LinkOptions};

pub(crate) struct RegistryApi {
    pub(crate) actor: ActorHandle,
    pub(crate) options: LinkOptions,
}

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        // Over the Unix socket the caller is on this machine, and may name
        // a socket of it; from the network it may not.
        let local = request.extensions().get::<tonic::transport::server::UdsConnectInfo>().is_some();
        Ok(Response::new(self.inner_register(request.into_inner(), local).await?))
    }
}

impl RegistryApi {
    async fn inner_register(
        &self,
        request: RegisterRequest,
        local: bool,
    ) -> Result<RegisterResponse, CoordinatorError> {
        let RegisterRequest { address, worker_id } = request;
        // host:port, or unix:PATH from this machine: a URL here could name a
        // scheme the coordinator dials differently (inproc:// reaches a
        // server of its own process).
        let unix = cluster_node::unix_path(&address).is_some();
        let url = address.contains("://") && !unix;
        if unix && !local {
            return Err(CoordinatorError::UnixFromAfar(address));
        }
        let host_port = address.parse::<std::net::SocketAddr>().is_ok() || looks_like_host_port(&address);
        if url || !(host_port || unix) {
            return Err(CoordinatorError::BadAddress(address));
        }
        let expected = (!worker_id.is_empty()).then_some(worker_id.as_str());
        let link = link::connect(&address, expected, &self.actor, &self.options).await.map_err(|source| {
            tracing::warn!(worker = %address, "registering worker could not be reached: {source}");
            CoordinatorError::Unreachable { address: address.clone(), source }
        })?;
        let cores = link.cores;
        let actor = self.actor.clone();
        let timeout = self.options.heartbeat_timeout;
        // The worker registers again if this session ends.
        cluster_node::spawn(async move { link.run(&actor, timeout).await });
        Ok(RegisterResponse { cores })
    }
}

fn looks_like_host_port(address: &str) -> bool {
    matches!(address.rsplit_once(':'), Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok())
}
