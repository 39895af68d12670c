//! The cluster's commands, `cluster-coordinator`, `cluster-worker` and
//! `cluster-submit` (in `src/bin/`), and what they share: the security flag
//! groups ([`security`]), each flag also read from a `CLUSTER_*`
//! environment variable, and the duration syntax of every time flag
//! ([`duration`]). [`worker::WorkerMain`] is the whole worker command
//! as a library, for worker binaries with their own task kinds.
//!
//! Only this crate depends on clap, anyhow and indicatif; the role crates
//! are libraries that the commands configure and start.
#![warn(missing_docs)]

pub mod connections;
pub mod duration;
pub mod logging;
pub mod security;
pub mod worker;

/// A `key=value` flag value (labels, required labels, environment
/// variables), for clap's `value_parser`.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not a key=value pair")),
    }
}

/// Help headings, so each command's core flags come first.
pub mod heading {
    /// Where to listen and whom to reach.
    pub const CONNECTION: &str = "Connection";
    /// Secret and TLS.
    pub const SECURITY: &str = "Security";
    /// Limits, timeouts and capacity.
    pub const TUNING: &str = "Tuning";
    /// Log format (filter with RUST_LOG).
    pub const LOGGING: &str = "Logging";
}
