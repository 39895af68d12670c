//! Spawning that keeps the tracing context.

use std::future::Future;

use tokio::task::JoinHandle;
use tracing::Instrument;

/// Runs `future` on the tokio runtime inside the current tracing span, so
/// its events keep the fields of the request, session or job that started
/// it. Use it instead of `tokio::spawn` (clippy's `disallowed-methods`
/// refuses the raw one in the crates under `crates/`).
///
/// # Panics
///
/// Outside a tokio runtime, as `tokio::spawn` does.
#[allow(clippy::disallowed_methods)]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_span())
}
