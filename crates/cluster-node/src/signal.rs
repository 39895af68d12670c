//! The signals that end a process.

use std::fmt;
use std::future::Future;

/// A signal that asks the process to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM: what `docker stop` and Kubernetes send.
    Terminate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        })
    }
}

/// A future that resolves on the first Ctrl-C or SIGTERM and says which.
///
/// The handlers are installed at once, before the future is first polled,
/// so a signal that arrives in between is not lost (nor does it kill the
/// process). Errors only when the handlers cannot be installed.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = Signal> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => Signal::Interrupt,
                _ = terminate.recv() => Signal::Terminate,
            }
        })
    }
    #[cfg(not(unix))]
    {
        interrupt_signal()
    }
}

/// A future that resolves on the first Ctrl-C; SIGTERM keeps its default
/// action (the process ends at once). For clients, whose Ctrl-C cancels
/// their job.
pub fn interrupt_signal() -> std::io::Result<impl Future<Output = Signal> + Send + 'static> {
    #[cfg(unix)]
    {
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        Ok(async move {
            interrupt.recv().await;
            Signal::Interrupt
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            // Should the handler fail, never resolve rather than pretend
            // the user pressed Ctrl-C.
            match tokio::signal::ctrl_c().await {
                Ok(()) => Signal::Interrupt,
                Err(_) => std::future::pending().await,
            }
        })
    }
}
