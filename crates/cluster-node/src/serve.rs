//! Running a mesh listener: the server builder every listener starts from,
//! bound on a real socket with TCP_NODELAY on every accepted connection
//! (tonic ignores the builder's nodelay for a pre-bound listener),
//! stoppable, and awaitable. (Unix socket listeners: `unix.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use cluster_auth::{check_exposure, Refusals, Security, ServerAuthLayer, TlsError};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinHandle};
use tonic::transport::server::{Connected, Router};
use tonic::transport::Server;
use tower_layer::{Identity, Stack};

/// The server builder every listener of the mesh starts from: TLS when
/// configured, and the secret checked on every call.
pub type SecureServer = Server<Stack<ServerAuthLayer, Identity>>;

/// A [`SecureServer`] with its services added.
pub type SecureRouter = Router<Stack<ServerAuthLayer, Identity>>;

/// Errors preparing a server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An open server on a reachable address; the message says how to fix it.
    #[error("{0}")]
    Exposed(#[from] cluster_auth::ExposureError),
    /// The TLS files are not usable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// tonic refused the TLS configuration.
    #[error("cannot set up TLS: {0}")]
    Server(String),
    /// A Unix socket listener was asked for together with TLS.
    #[error(
        "a Unix socket listener serves plaintext (its file's mode, 0600, guards it), but TLS is configured: \
         drop --listen-unix or the TLS flags"
    )]
    UnixWithTls,
    /// The compiled-in descriptor set could not be served by reflection.
    #[error("cannot set up gRPC reflection: {0}")]
    Reflection(String),
}

/// The listen address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {reason}")]
pub struct BindError {
    /// The address (`unix:PATH` for a Unix socket).
    pub addr: String,
    /// Why; in the message, not a source, so an error chain says it once.
    pub reason: std::io::Error,
}

/// Why a server ended by itself.
#[derive(Debug, thiserror::Error)]
pub enum ServerTaskError {
    /// The transport failed; the text has the error's sources.
    #[error("{}", crate::chain(.0))]
    Transport(tonic::transport::Error),
    /// The server's task panicked or was cancelled.
    #[error("{0}")]
    Task(JoinError),
}

/// A server builder for `listen`, after the safe-defaults check (see
/// [`check_exposure`]; its warning, with `insecure`, is logged): TLS when
/// configured, HTTP/2 keep-alive, and the secret layer. Add the services to
/// it, then [`ServerTask::spawn`] it.
pub fn server_builder(
    security: &Security,
    listen: SocketAddr,
    insecure: bool,
) -> Result<SecureServer, ServeError> {
    counted_server_builder(security, listen, insecure, Refusals::default())
}

/// [`server_builder`], counting the calls refused for bad or missing
/// credentials in `refusals` (for metrics).
pub fn counted_server_builder(
    security: &Security,
    listen: SocketAddr,
    insecure: bool,
    refusals: Refusals,
) -> Result<SecureServer, ServeError> {
    let exposed =
        check_exposure(listen, security.secret.is_some(), security.requires_client_cert(), insecure)
            .map_err(ServeError::Exposed)?;
    if let Some(warning) = exposed {
        tracing::warn!("{warning}");
    }
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .initial_stream_window_size(Some(crate::STREAM_WINDOW))
        .initial_connection_window_size(Some(crate::CONNECTION_WINDOW));
    if let Some(tls) = security.server_tls_config()? {
        builder = builder.tls_config(tls).map_err(|e| ServeError::Server(crate::chain(&e)))?;
    }
    Ok(builder.layer(security.server_auth().with_refusals(refusals)))
}

/// Binds `listen` (port 0 picks a free port) and returns the listener with
/// the address it got.
pub async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), BindError> {
    let error = |reason| BindError { addr: listen.to_string(), reason };
    let listener = TcpListener::bind(listen).await.map_err(error)?;
    let addr = listener.local_addr().map_err(error)?;
    Ok((listener, addr))
}

/// Longest a stopping server waits for open calls to finish.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A spawned server and the switch that stops it.
pub struct ServerTask {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ServerTask {
    /// Serves `router` on `listener` (a [`TcpListener`] or a
    /// [`UnixSocket`](crate::UnixSocket)) until [`ServerTask::stop`], within `limits`
    /// (TCP_NODELAY on every TCP connection: tonic ignores the builder's
    /// nodelay for a pre-bound listener).
    pub fn spawn<L>(router: SecureRouter, listener: L, limits: crate::ConnectionLimits) -> Self
    where
        L: crate::incoming::Listener,
        crate::Guarded<L::Stream>: Connected,
    {
        let incoming = crate::incoming::incoming(listener, limits);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = crate::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        Self { stop: Some(stop), task }
    }

    /// Stops accepting, lets open calls finish for up to [`STOP_GRACE`],
    /// then closes the connections still open (a client that keeps a stream
    /// open cannot hold a shutdown), and waits for the end.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.task).await.is_err() {
            tracing::warn!("calls still open after {STOP_GRACE:?}; closing their connections");
            self.task.abort();
            let _ = (&mut self.task).await;
        }
    }

    /// Waits until the server ends by itself, which is an error.
    pub async fn wait(&mut self) -> Result<(), ServerTaskError> {
        match (&mut self.task).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServerTaskError::Transport(e)),
            Err(e) => Err(ServerTaskError::Task(e)),
        }
    }
}

/// A node's listeners: its TCP one, and a Unix socket one when it serves
/// one (see [`serve_unix`](crate::serve_unix)), on the same services.
pub struct Listeners {
    tcp: ServerTask,
    unix: Option<ServerTask>,
}

impl Listeners {
    /// Serves `router` on `listener`, and on a Unix socket at `unix` too
    /// when given.
    pub async fn spawn(
        router: SecureRouter,
        listener: TcpListener,
        unix: Option<&std::path::Path>,
        security: &cluster_auth::Security,
        limits: crate::ConnectionLimits,
    ) -> Result<Self, crate::UnixServeError> {
        let unix = match unix {
            Some(path) => Some(crate::serve_unix(router.clone(), path, security, limits).await?),
            None => None,
        };
        Ok(Self { tcp: ServerTask::spawn(router, listener, limits), unix })
    }

    /// Stops both at once, each within [`STOP_GRACE`].
    pub async fn stop(&mut self) {
        let unix = async {
            if let Some(unix) = &mut self.unix {
                unix.stop().await;
            }
        };
        tokio::join!(self.tcp.stop(), unix);
    }

    /// Waits until either ends by itself, which is an error.
    pub async fn wait(&mut self) -> Result<(), ServerTaskError> {
        match &mut self.unix {
            Some(unix) => tokio::select! {
                ended = self.tcp.wait() => ended,
                ended = unix.wait() => ended,
            },
            None => self.tcp.wait().await,
        }
    }
}
