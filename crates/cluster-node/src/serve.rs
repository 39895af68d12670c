//! Running a mesh listener: the server builder every listener starts from,
//! bound on a real socket with TCP_NODELAY on every accepted connection
//! (tonic ignores the builder's nodelay for a pre-bound listener), or on a
//! Unix socket for processes of the same machine, stoppable, and awaitable.

use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cluster_auth::{check_exposure, Refusals, Security, ServerAuthLayer, TlsError};
use tokio::net::{TcpListener, UnixListener, UnixStream};
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

/// Waits until `server` or `unix` (the same node's Unix socket listener,
/// if it has one) ends by itself, which is an error.
pub async fn wait_any(server: &mut ServerTask, unix: Option<&mut ServerTask>) -> Result<(), ServerTaskError> {
    match unix {
        Some(unix) => tokio::select! {
            ended = server.wait() => ended,
            ended = unix.wait() => ended,
        },
        None => server.wait().await,
    }
}

/// Serves `router` on a Unix socket at `path` as well (see [`bind_unix`]):
/// for clients and coordinators on the same machine, which skip the TCP
/// stack. Plaintext, so refused when `security` has server TLS; the secret
/// is checked as on every listener.
pub async fn serve_unix(
    router: SecureRouter,
    path: &Path,
    security: &Security,
    limits: crate::ConnectionLimits,
) -> Result<ServerTask, UnixServeError> {
    if security.server_tls.is_some() {
        return Err(ServeError::UnixWithTls.into());
    }
    let socket = bind_unix(path).await?;
    Ok(ServerTask::spawn(router, socket, limits))
}

/// Why a Unix socket listener did not start.
#[derive(Debug, thiserror::Error)]
pub enum UnixServeError {
    /// The settings do not allow it.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The socket could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// A Unix socket listener whose file goes away with it.
#[derive(Debug)]
pub struct UnixSocket {
    listener: UnixListener,
    path: PathBuf,
    /// The file's (device, inode): what Drop may remove.
    file: (u64, u64),
}

impl UnixSocket {
    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        // Only our own file: another process may have put its socket at
        // the path since (after someone removed ours).
        if file_id(&self.path).is_ok_and(|file| file == self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl crate::incoming::Listener for UnixSocket {
    type Stream = UnixStream;

    async fn accept(&self) -> std::io::Result<UnixStream> {
        Ok(self.listener.accept().await?.0)
    }
}

/// Binds a Unix socket at `path`, readable and writable by this user only
/// (mode 0600 from the moment the file exists: the file's permissions are
/// the socket's access control). A socket file left by a process that
/// ended is replaced; one that a live process listens on, or any other
/// file, is an error. Two processes starting on one path at once are
/// settled by a lock on its directory: one gets it, the other is refused.
pub async fn bind_unix(path: &Path) -> Result<UnixSocket, BindError> {
    use std::io::{Error, ErrorKind};
    let error = |reason| BindError { addr: format!("unix:{}", path.display()), reason };
    let _settling = DirectoryLock::take(path).await.map_err(error)?;
    if let Ok(found) = std::fs::symlink_metadata(path) {
        if !found.file_type().is_socket() {
            return Err(error(Error::new(ErrorKind::AlreadyExists, "a file that is not a socket is there")));
        }
        match UnixStream::connect(path).await {
            Ok(_) => return Err(error(Error::new(ErrorKind::AddrInUse, "another process listens on it"))),
            // Nobody listens: a socket left by a process that ended.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(error)?
            }
            Err(e) => return Err(error(e)),
        }
    }
    let listener = bind_private(path).map_err(error)?;
    let file = file_id(path).map_err(error)?;
    Ok(UnixSocket { listener, path: path.to_owned(), file })
}

/// A listening socket at `path` whose file is born with mode 0600: the
/// mode is set on the socket before `bind` creates the file, so no umask
/// lets another user in, even for a moment.
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use socket2::{Domain, SockAddr, Socket, Type};
    use std::os::fd::AsRawFd;
    let socket = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
    // SAFETY: fchmod on a descriptor this function owns; no memory is touched.
    if unsafe { libc::fchmod(socket.as_raw_fd(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.bind(&SockAddr::unix(path)?)?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    UnixListener::from_std(std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(socket)))
}

fn file_id(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// An exclusive `flock` on the directory of a socket path, held while a
/// process checks the path and binds it.
struct DirectoryLock {
    _held: std::fs::File,
}

impl DirectoryLock {
    /// Longest a process waits for another to finish binding.
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

    async fn take(path: &Path) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let held = std::fs::File::open(dir)?;
        let give_up = tokio::time::Instant::now() + Self::PATIENCE;
        loop {
            // SAFETY: flock on a descriptor we own; released when it closes.
            if unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Self { _held: held });
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::WouldBlock || tokio::time::Instant::now() > give_up {
                return Err(error);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
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
    /// [`UnixSocket`]) until [`ServerTask::stop`], within `limits`
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
