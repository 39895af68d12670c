//! A small HTTP server for Prometheus scrapes (`GET /metrics`), on a
//! listener of its own, off by default. It has no authentication, so a
//! non-loopback address needs `--insecure`, as any exposed listener does.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use tokio::task::JoinHandle;

use crate::BindError;

/// The content type of what a render returns (the text encoding of
/// OpenMetrics, which Prometheus reads).
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One scrape's text; `None` when the process is shutting down.
pub type Rendered = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// Errors starting the metrics listener.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A reachable address without `--insecure`.
    #[error(
        "refusing to serve metrics on {0} without --insecure: the endpoint has no \
         authentication, and anyone who can reach it reads the names of the cluster's \
         jobs and workers. Use a loopback address (127.0.0.1:9100), or pass --insecure \
         on a trusted network."
    )]
    Exposed(SocketAddr),
    /// The address could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// A running metrics listener; dropping it stops it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `GET /metrics` on `listen` (port 0 picks one), each scrape the
/// text `render` returns.
pub async fn serve_metrics<F>(
    listen: SocketAddr,
    insecure: bool,
    render: F,
) -> Result<MetricsServer, MetricsError>
where
    F: Fn() -> Rendered + Clone + Send + Sync + 'static,
{
    if !listen.ip().to_canonical().is_loopback() {
        if !insecure {
            return Err(MetricsError::Exposed(listen));
        }
        tracing::warn!("serving metrics on {listen} without authentication (--insecure)");
    }
    let (listener, addr) = crate::bind(listen).await?;
    let scrape = move || async move {
        match render().await {
            Some(text) => ([(header::CONTENT_TYPE, OPENMETRICS_TEXT)], text).into_response(),
            None => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
        }
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape));
    let task = crate::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!("metrics listener failed: {error}");
        }
    });
    Ok(MetricsServer { addr, task })
}
