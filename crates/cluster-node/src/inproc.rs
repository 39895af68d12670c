//! In-process connections. A server of this process can also be registered
//! under a name; a client of the same process that dials `inproc://NAME`
//! then calls its services directly: the request's body is handed to the
//! handler as it is, with no socket, no HTTP/2 framing and no connection
//! task between them (messages are still encoded and decoded, so both
//! sides run exactly the code they run over the network). The embedded
//! cluster uses it between its client, coordinator and local worker.
//!
//! Calls made this way never leave the process, so the servers' secret and
//! TLS layers are not on this path (like gRPC's in-process transport).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, FutureExt, TryFutureExt};
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::service::Routes;
use tower_service::Service;

/// The URL scheme of in-process servers.
pub(crate) const SCHEME: &str = "inproc://";

/// Errors of a call through a [`Transport`].
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

static SERVERS: LazyLock<Mutex<HashMap<String, Routes>>> = LazyLock::new(Default::default);

fn servers() -> MutexGuard<'static, HashMap<String, Routes>> {
    // A panic while holding this lock leaves a plain map: still usable.
    SERVERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A server's services registered for in-process calls while this lives.
#[derive(Debug)]
pub struct InProcess {
    name: String,
}

impl InProcess {
    /// Registers `routes` until the returned guard is dropped, under a name
    /// made of `role`, a number unique in this process, and `detail` (say,
    /// the server's address), so no two registrations ever share one.
    pub fn register(role: &str, detail: impl std::fmt::Display, routes: Routes) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{role}-{n}-{detail}");
        servers().insert(name.clone(), routes);
        Self { name }
    }

    /// The URL a client of this process dials to reach it.
    pub fn url(&self) -> String {
        format!("{SCHEME}{}", self.name)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        // Dropped after the lock is released: the services may hold the
        // last reference to something whose drop waits (a worker's slots).
        let removed = servers().remove(&self.name);
        drop(removed);
    }
}

/// The services registered under the name in `url` (`inproc://NAME`), if
/// `url` is an in-process URL; `Some(Err(name))` if nothing is registered
/// under it.
pub(crate) fn lookup(url: &str) -> Option<Result<Routes, String>> {
    let name = url.strip_prefix(SCHEME)?;
    Some(servers().get(name).cloned().ok_or_else(|| name.to_string()))
}

/// How a client reaches a server: a network connection, or a server of
/// this process called directly.
#[derive(Clone, Debug)]
pub enum Transport {
    /// HTTP/2 over TCP (and TLS when configured).
    Network(tonic::transport::Channel),
    /// A server registered with [`InProcess`].
    InProcess(Routes),
}

impl Service<Request<Body>> for Transport {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Transport::Network(channel) => channel.poll_ready(cx).map_err(Into::into),
            Transport::InProcess(routes) => {
                Service::<Request<Body>>::poll_ready(routes, cx).map_err(|never: Infallible| match never {})
            }
        }
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match self {
            Transport::Network(channel) => channel.call(request).err_into().boxed(),
            Transport::InProcess(routes) => {
                routes.call(request).map_err(|never: Infallible| -> BoxError { match never {} }).boxed()
            }
        }
    }
}
