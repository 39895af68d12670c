//! What every process of the cluster mesh shares, coordinator, worker and
//! client alike:
//!
//! - [`bind`] and [`ServerTask`]: a listener bound on a real socket (port 0
//!   picks one), served with TCP_NODELAY on every connection, stoppable and
//!   awaitable; [`bind_unix`]: the same on a Unix socket (mode 0600) for
//!   processes of one machine; [`server_builder`] starts each listener from the process's
//!   [`Security`] (exposure check, TLS, HTTP/2 keep-alive, the secret layer).
//! - [`endpoint`], [`connect`], [`connect_endpoint`]: the dial policy
//!   (scheme defaults, TLS only for `https://`, keep-alive, TCP_NODELAY, a
//!   connect deadline, the secret on every call).
//! - [`InProcess`]: a server also reachable from its own process as
//!   `inproc://NAME`, with no socket or HTTP/2 in between (the embedded
//!   cluster).
//! - [`standard_services`]: `grpc.health.v1` (its [`Health`] switch, and
//!   no credentials needed to ask) and server reflection on a listener.
//! - Start errors shared by the servers: [`BindError`], [`ServeError`],
//!   [`ServerTaskError`]; dial errors: [`DialError`].
//! - Size defaults: [`DEFAULT_MAX_MESSAGE_BYTES`] (each message's headroom and
//!   batching are in `cluster_proto::batch`).
//! - [`shutdown_signal`]: Ctrl-C or SIGTERM, and which.
//! - [`affinity`]: `--async-cpus`, the runtime held to some cores and the
//!   task slots given every core back.
//! - [`spawn`]: `tokio::spawn` carrying the current tracing span; library
//!   code uses it instead of raw `tokio::spawn` (clippy enforces it).
//! - `init_logging` (feature `logging`): the binaries' tracing subscriber,
//!   text or JSON lines, INFO batched by `log_writer`.
//! - `serve_metrics` (feature `metrics`): an HTTP listener for Prometheus
//!   scrapes, loopback unless `--insecure`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cluster_node::{bind, server_builder, ConnectionLimits, ServerTask, Security};
//! let security = Security::default(); // open and plaintext: loopback only
//! let listen = "127.0.0.1:0".parse()?;
//! let mut builder = server_builder(&security, listen, false)?;
//! let (listener, addr) = bind(listen).await?;
//! # let routes = tonic::service::Routes::default();
//! let mut server = ServerTask::spawn(builder.add_routes(routes), listener, ConnectionLimits::default());
//! let channel = cluster_node::connect(&security, &addr.to_string(), std::time::Duration::from_secs(3)).await?;
//! // cluster_proto::client_service_client::ClientServiceClient::new(channel)
//! # drop(channel);
//! server.stop().await;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod affinity;
mod dial;
mod health;
mod incoming;
mod inproc;
mod limits;
#[cfg(feature = "logging")]
pub mod log_writer;
#[cfg(feature = "logging")]
mod logging;
#[cfg(feature = "metrics")]
mod metrics_http;
mod runtime;
mod serve;
mod signal;
mod spawn;
mod unix;

pub use cluster_auth::{Refusals, Security};
pub use dial::{connect, connect_endpoint, connect_tuned, endpoint, unix_path, url_for, Channel, DialError};
pub use health::{serves, standard_services, Health};
pub use incoming::{raise_open_files_limit, ConnectionLimits, Guarded, Listener};
pub use inproc::{InProcess, Transport};
pub use limits::{CONNECTION_WINDOW, DEFAULT_MAX_MESSAGE_BYTES, STREAM_WINDOW};
#[cfg(feature = "logging")]
pub use logging::{init_logging, LogFormat};
#[cfg(feature = "metrics")]
pub use metrics_http::{serve_metrics, MetricsError, MetricsServer, Rendered, OPENMETRICS_TEXT};
pub use runtime::runtime;
pub use serve::{
    bind, counted_server_builder, server_builder, BindError, Listeners, SecureRouter, SecureServer,
    ServeError, ServerTask, ServerTaskError, STOP_GRACE,
};
pub use signal::{interrupt_signal, shutdown_signal, Signal};
pub use spawn::spawn;
pub use unix::{bind_unix, serve_unix, UnixServeError, UnixSocket};

use cluster_auth::error_chain as chain;
