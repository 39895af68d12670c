//! The async runtime of a role's process, sized per role.

/// An async runtime with `threads` worker threads: one means a
/// current-thread runtime, where a wake-up between two tasks (an HTTP/2
/// connection and its streams, a session and its socket) stays on one
/// thread instead of waking another, which is most of a small message's
/// latency on a busy host. `None` means one thread per core.
pub fn runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n.max(1)).enable_all().build(),
        None => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    }
}
