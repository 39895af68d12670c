//! Unix socket listeners, for processes of one machine: a socket born with
//! mode 0600, stale sockets replaced and live ones refused, two processes
//! on one path settled under a lock, and the file removed by its owner only.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use cluster_auth::Security;
use tokio::net::{UnixListener, UnixStream};

use crate::{BindError, SecureRouter, ServeError, ServerTask};

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
