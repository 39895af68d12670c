//! Logging set-up for the binaries (feature `logging`).

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event, in colour on a terminal.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, the
    /// event's fields and its `message`), for log collectors.
    Json,
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (else `default`).
/// Secrets are never logged.
pub fn init_logging(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => {
            builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init()
        }
    }
}
