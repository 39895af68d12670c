//! Authentication shared by every server and client of the cluster mesh.
//!
//! - A shared secret that never travels: each call carries an HMAC-SHA256
//!   of its method path, a timestamp and a nonce ([`scheme`]). Servers check
//!   it with [`ServerAuthLayer`] on the whole listener; clients sign with
//!   [`ClientAuth`] around their channel ([`AuthChannel`]). Both are no-ops
//!   without a secret, so one type serves both cases.
//! - TLS and mutual TLS from PEM files: [`ServerTls`], [`ClientTls`].
//! - Safe defaults: [`check_exposure`] refuses an open server on a
//!   reachable address unless told `--insecure`.
//!
//! Wiring a server:
//!
//! ```no_run
//! # async fn run(svc: tonic::service::Routes) -> Result<(), Box<dyn std::error::Error>> {
//! use cluster_auth::{check_exposure, Secret, ServerAuthLayer, ServerTls};
//! let listen = "0.0.0.0:7700".parse()?;
//! let secret = Secret::load(None)?; // --secret-file, else CLUSTER_SECRET
//! let tls: Option<ServerTls> = None;
//! let mtls = tls.as_ref().is_some_and(ServerTls::requires_client_cert);
//! if let Some(warning) = check_exposure(listen, secret.is_some(), mtls, false)? {
//!     eprintln!("warning: {warning}");
//! }
//! let mut server = tonic::transport::Server::builder();
//! if let Some(tls) = &tls {
//!     server = server.tls_config(tls.load()?)?;
//! }
//! server
//!     .layer(ServerAuthLayer::new(secret))
//!     .add_routes(svc)
//!     .serve(listen)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Wiring a client:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use cluster_auth::{AuthChannel, ClientAuth, ClientTls, Secret};
//! let secret = Secret::load(None)?;
//! let endpoint = tonic::transport::Endpoint::from_static("https://node1:7700");
//! let endpoint = ClientTls { ca: Some("ca.pem".into()), ..ClientTls::default() }.apply(endpoint)?;
//! let channel: AuthChannel = ClientAuth::new(endpoint.connect().await?, secret);
//! // cluster_proto::client_service_client::ClientServiceClient::new(channel)
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

#[cfg(feature = "cli")]
pub mod cli;
mod client;
mod exposure;
mod replay;
pub mod scheme;
mod secret;
mod security;
mod serve;
mod server;
#[cfg(feature = "test-util")]
pub mod test_util;
mod tls;

pub use client::{AuthChannel, ClientAuth, ClientAuthLayer};
pub use exposure::check_exposure;
pub use scheme::{Rejection, Verifier};
pub use secret::{AuthError, Secret, SECRET_ENV};
pub use security::{DialError, SecureServer, Security, ServeError};
pub use serve::{SecureRouter, ServerTask};
pub use server::{ServerAuth, ServerAuthFuture, ServerAuthLayer};
pub use tls::{ClientTls, ServerTls, TlsError};
