//! A tiny `ClientService` server and client for the integration tests.
#![allow(dead_code, unreachable_pub)]
// cluster-auth sits below cluster-node and its span-carrying spawn; a test
// server needs no span.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Duration;

use cluster_auth::{ClientAuth, Secret, ServerAuthLayer};
use cluster_proto::client_service_client::ClientServiceClient;
use cluster_proto::client_service_server::{ClientService, ClientServiceServer};
use cluster_proto::{
    CancelRequest, CancelResponse, StatusRequest, StatusResponse, SubmitRequest, SubmitResponse,
};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

/// What the tiny service's `status` answers.
pub const VERSION: &str = "tiny-1";

struct Tiny;

#[tonic::async_trait]
impl ClientService for Tiny {
    type SubmitStream = tokio_stream::Empty<Result<SubmitResponse, Status>>;

    async fn submit(
        &self,
        _: Request<Streaming<SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStream>, Status> {
        Err(Status::unimplemented("the tiny service runs no jobs"))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(StatusResponse {
            queued: 7,
            version: VERSION.to_owned(),
            ..StatusResponse::default()
        }))
    }

    async fn cancel(&self, _: Request<CancelRequest>) -> Result<Response<CancelResponse>, Status> {
        Err(Status::unimplemented("the tiny service runs no jobs"))
    }
}

/// Serves the tiny service on 127.0.0.1, on a port of the system's
/// choosing, behind `layer` and with `tls` when given. The listener is bound
/// before this returns, so clients can connect at once.
pub async fn start(layer: ServerAuthLayer, tls: Option<ServerTlsConfig>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls).unwrap();
    }
    let router = server.layer(layer).add_service(ClientServiceServer::new(Tiny));
    tokio::spawn(async move {
        router.serve_with_incoming(TcpIncoming::from(listener)).await.unwrap();
    });
    addr
}

fn client(endpoint: Endpoint, secret: Option<Secret>) -> ClientServiceClient<cluster_auth::AuthChannel> {
    let endpoint = endpoint.connect_timeout(Duration::from_secs(10));
    let authority = cluster_auth::authority_of(endpoint.uri());
    ClientServiceClient::new(ClientAuth::new(endpoint.connect_lazy(), secret, authority))
}

/// Calls `status` through `endpoint`, signing with `secret`; a connection
/// failure comes back as a `Status` too.
pub async fn status(endpoint: Endpoint, secret: Option<Secret>) -> Result<StatusResponse, Status> {
    let mut client = client(endpoint, secret);
    let call = client.status(StatusRequest {});
    let response = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the call should finish, one way or the other")?;
    Ok(response.into_inner())
}

/// Calls `submit` (a client-streaming call) with one empty message.
pub async fn submit(endpoint: Endpoint, secret: Option<Secret>) -> Result<(), Status> {
    let mut client = client(endpoint, secret);
    let call = client.submit(tokio_stream::iter(vec![SubmitRequest::default()]));
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the call should finish, one way or the other")
        .map(drop)
}

/// `http://` or `https://` `host`:`port` of `addr`.
pub fn endpoint(scheme: &str, host: &str, addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("{scheme}://{host}:{}", addr.port())).unwrap()
}
