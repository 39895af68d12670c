//! The logging flag the three binaries share, and the help text that
//! names `RUST_LOG`.

/// What `--help` says of logging, after the flags.
pub const LOGGING_HELP: &str = "\
Environment:
  Every flag can also be set by the CLUSTER_* variable its help names; the
  cluster's shared secret is read from CLUSTER_SECRET (or --secret-file).
  Durations take units (500ms, 5s, 2m); a plain number is milliseconds.
  Switches take 1/0, true/false or yes/no in their variables.

Logging:
  Log lines go to stderr. RUST_LOG filters them (default: info), e.g.
  RUST_LOG=debug, or RUST_LOG=warn,cluster_coordinator=info for one module.
  --log-format json (or CLUSTER_LOG_FORMAT=json) writes one JSON object per
  line, with the event's fields (job, worker, ...) as keys. WARN and ERROR
  lines are written at once; the others in batches at most 20 ms apart.";

/// Log line format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `--log-format`.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = crate::heading::LOGGING)]
pub struct LogArgs {
    /// Format of the log lines on stderr (filter them with RUST_LOG).
    #[arg(long, env = "CLUSTER_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Installs the process's logger; `default` is the filter when
    /// `RUST_LOG` is not set. Hold the guard until the program ends: INFO
    /// lines go out in batches, and dropping it writes the last one.
    pub fn init(&self, default: &str) -> cluster_node::log_writer::LogFlush {
        let format = match self.log_format {
            LogFormat::Text => cluster_node::LogFormat::Text,
            LogFormat::Json => cluster_node::LogFormat::Json,
        };
        cluster_node::init_logging(default, format)
    }
}
