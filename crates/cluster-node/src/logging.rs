//! Logging set-up for the binaries (feature `logging`).

use crate::log_writer::{BatchedWriter, LogFlush};

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

/// Logs to stderr in `format`, filtered by `RUST_LOG` (else `default`):
/// WARN and ERROR lines at once, the others in batches at most
/// [`FLUSH_EVERY`](crate::log_writer::FLUSH_EVERY) apart (see
/// [`log_writer`](crate::log_writer)); a panic writes what waits before
/// its message. Hold the returned guard until the program ends: dropping it
/// writes the last batch. Secrets are never logged.
pub fn init_logging(default: &str, format: LogFormat) -> LogFlush {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let (writer, flush) = BatchedWriter::new(std::io::stderr());
    flush.flush_on_panic();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => {
            builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init()
        }
    }
    flush
}
