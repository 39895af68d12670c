//! Authentication and transport security for every server and client of
//! the cluster mesh: the pieces a listener or a dialer puts around its gRPC
//! traffic.
//!
//! - [`Secret`]: the cluster's shared secret (`--secret-file` or
//!   `CLUSTER_SECRET`). It never travels.
//! - [`scheme`]: the `x-cluster-auth` header, an HMAC-SHA256 of the server
//!   called, the method path, a timestamp and a nonce. [`scheme::sign`] makes one; a
//!   [`Verifier`] checks it (time window, replays) and says why it refused
//!   ([`Rejection`]).
//! - Tower layers: [`ServerAuthLayer`] checks every call on a server;
//!   [`ClientAuthLayer`] (or [`ClientAuth::new`]) signs every call through a
//!   channel ([`AuthChannel`]). Both let everything through without a
//!   secret, so one type serves both cases.
//! - TLS and mutual TLS from PEM files: [`ServerTls`], [`ClientTls`];
//!   [`Security`] holds one process's secret and TLS settings, as data.
//! - Safe defaults: [`check_exposure`] refuses an open server on a
//!   reachable address unless told `--insecure`.
//! - `test_util` (feature `test-util`): throwaway CAs and certificates.
//!
//! Building a server and dialing a peer from a [`Security`] (the exposure
//! check, TLS, keep-alive, TCP_NODELAY) is `cluster-node`'s job; the flags
//! that fill one in are `cluster-cli`'s.
//!
//! Signing and checking a header:
//!
//! ```
//! use cluster_auth::scheme::{self, Call};
//! use cluster_auth::{Rejection, Secret, Verifier};
//!
//! let call = Call::new("coordinator:7700", "/cluster.v1.ClientService/Submit");
//! let secret = Secret::new("123456")?;
//! let header = scheme::sign(&secret, call); // "v2:<millis>:<nonce>:<mac>"
//! let verifier = Verifier::new(secret).with_server_names(["coordinator:7700"]);
//! assert_eq!(verifier.verify(Some(header.as_bytes()), call), Ok(()));
//! // Good once, for that method on that server, with that secret:
//! assert_eq!(verifier.verify(Some(header.as_bytes()), call), Err(Rejection::Replayed));
//! let forged = scheme::sign(&Secret::new("654321")?, call);
//! assert_eq!(verifier.verify(Some(forged.as_bytes()), call), Err(Rejection::WrongSecret));
//! assert_eq!(verifier.verify(None, call), Err(Rejection::Missing));
//! # Ok::<(), cluster_auth::AuthError>(())
//! ```
//!
//! Wiring the layers: on a server, `tonic::transport::Server::builder()
//! .layer(ServerAuthLayer::new(secret))`; on a client,
//! `ClientAuth::new(channel, secret, authority)` around a `tonic` channel. Here the
//! client layer calls a service behind the server layer directly:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cluster_auth::{ClientAuthLayer, Secret, ServerAuthLayer};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! let secret = Secret::new("123456")?;
//! let service = service_fn(|_: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let server = ServerAuthLayer::new(Some(secret.clone())).layer(service);
//! let request = || http::Request::get("http://node/cluster.v1.ClientService/Status").body(());
//!
//! // Signed by the client layer: the call gets through.
//! let signed = ClientAuthLayer::new(Some(secret), "node").layer(server.clone());
//! let response = signed.oneshot(request()?).await?;
//! assert_eq!(response.body(), "hello");
//!
//! // Unsigned: turned away with UNAUTHENTICATED.
//! let response = server.oneshot(request()?).await?;
//! let status = tonic::Status::from_header_map(response.headers()).expect("a gRPC status");
//! assert_eq!(status.code(), tonic::Code::Unauthenticated);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod client;
mod exposure;
mod replay;
pub mod scheme;
mod secret;
mod security;
mod server;
#[cfg(feature = "test-util")]
pub mod test_util;
mod tls;

pub use client::{authority_of, AuthChannel, ClientAuth, ClientAuthLayer};
pub use exposure::{check_exposure, ExposureError};
pub use scheme::{Rejection, Verifier, LOCAL_AUTHORITY};
pub use secret::{AuthError, Secret, SECRET_ENV};
pub use security::Security;
pub use server::{Refusals, ServerAuth, ServerAuthFuture, ServerAuthLayer, OPEN_PATHS};
pub use tls::{error_chain, ClientTls, ServerTls, TlsError};
