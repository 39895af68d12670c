//! The accept loop of every listener, with the guards a server facing the
//! network needs: a cap on open connections (beyond it, new ones wait in
//! the listen backlog), a deadline for a new connection to send its first
//! bytes (the HTTP/2 preface or a TLS hello), a deadline for a connection
//! that has gone silent, and a pause instead of a spin when the process is
//! out of file descriptors.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo, UdsConnectInfo};

/// Bounds on the connections a server keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest a new connection may take to send its first 24 bytes.
    pub handshake_timeout: Duration,
    /// Longest a connection may send nothing. Servers ping their clients
    /// every 10 s, so a live peer always has something to say.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Bytes that end the handshake period: the length of the HTTP/2 preface
/// (a TLS client hello is longer).
const HANDSHAKE_BYTES: usize = 24;

/// Pause after the process ran out of file descriptors.
const EMFILE_PAUSE: Duration = Duration::from_millis(100);

/// A listening socket the accept loop takes connections from: TCP, or a
/// Unix socket for processes on the same machine.
pub trait Listener: Send + 'static {
    /// The connection type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection.
    fn accept(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<TcpStream> {
        let (stream, _) = TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// Accepted connections from `listener`, within `limits`.
pub(crate) fn incoming<L: Listener>(
    listener: L,
    limits: ConnectionLimits,
) -> impl Stream<Item = io::Result<Guarded<L::Stream>>> + Send + 'static {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    futures_util::stream::unfold((listener, permits), move |(listener, permits)| async move {
        loop {
            let permit = permits.clone().acquire_owned().await.ok()?;
            match listener.accept().await {
                Ok(stream) => {
                    let guarded = Guarded::new(stream, permit, limits);
                    return Some((Ok(guarded), (listener, permits)));
                }
                Err(e) if out_of_descriptors(&e) => {
                    tracing::warn!("cannot accept connections: {e}; pausing {EMFILE_PAUSE:?}");
                    tokio::time::sleep(EMFILE_PAUSE).await;
                }
                // A connection that failed before it was accepted: its own
                // problem, not the listener's.
                Err(e) => tracing::debug!("accept failed: {e}"),
            }
        }
    })
}

fn out_of_descriptors(e: &io::Error) -> bool {
    // EMFILE (per process) and ENFILE (system-wide) on Linux.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// An accepted connection that holds its place under the cap and closes
/// itself when its peer stays silent past the deadline.
pub struct Guarded<S = TcpStream> {
    inner: S,
    _permit: OwnedSemaphorePermit,
    limits: ConnectionLimits,
    received: usize,
    last_read: Instant,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Guarded<S> {
    fn new(inner: S, permit: OwnedSemaphorePermit, limits: ConnectionLimits) -> Self {
        let now = Instant::now();
        let deadline = Box::pin(tokio::time::sleep_until(now + limits.handshake_timeout));
        Self { inner, _permit: permit, limits, received: 0, last_read: now, deadline }
    }

    /// Whether the peer has been silent too long; re-arms the deadline
    /// when it has not.
    fn overdue(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        while self.deadline.as_mut().poll(cx).is_ready() {
            if self.received < HANDSHAKE_BYTES {
                let why = format!("no handshake within {:?}", self.limits.handshake_timeout);
                return Some(io::Error::new(io::ErrorKind::TimedOut, why));
            }
            let next = self.last_read + self.limits.idle_timeout;
            if next <= Instant::now() {
                let why = format!("nothing received for {:?}", self.limits.idle_timeout);
                return Some(io::Error::new(io::ErrorKind::TimedOut, why));
            }
            self.deadline.as_mut().reset(next);
        }
        None
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                if read > 0 {
                    self.last_read = Instant::now();
                    if self.received < HANDSHAKE_BYTES {
                        self.received += read;
                        let next = self.last_read + self.limits.idle_timeout;
                        self.deadline.as_mut().reset(next);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.overdue(cx) {
                Some(error) => Poll::Ready(Err(error)),
                None => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Connected for Guarded<TcpStream> {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}

impl Connected for Guarded<UnixStream> {
    type ConnectInfo = UdsConnectInfo;

    fn connect_info(&self) -> UdsConnectInfo {
        self.inner.connect_info()
    }
}

/// Raises this process's soft limit on open files to its hard limit, so
/// a busy server does not run out of descriptors at the default 1,024.
/// Returns the limit now in force.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                return Err(io::Error::last_os_error());
            }
            limit = raised;
        }
    }
    Ok(limit.rlim_cur)
}
