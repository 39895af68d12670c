//! Logging set-up for the binaries (feature `logging`).

/// Logs to stderr, filtered by `RUST_LOG` (else `default`), in colour only
/// on a terminal. Secrets are never logged.
pub fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
