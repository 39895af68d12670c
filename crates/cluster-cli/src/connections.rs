//! The connection bounds of a server, shared by the coordinator and worker
//! commands.

use std::time::Duration;

use cluster_node::ConnectionLimits;

/// Bounds on the connections a server keeps.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = crate::heading::TUNING)]
pub struct ConnectionArgs {
    /// Most connections open at once; more wait in the listen backlog.
    #[arg(long, env = "CLUSTER_MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().max_connections,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// A new connection that sends no handshake within this time is closed
    /// (e.g. 10s; a plain number is milliseconds).
    #[arg(long, env = "CLUSTER_HANDSHAKE_TIMEOUT_MS", default_value_t = millis(ConnectionLimits::default().handshake_timeout),
          value_parser = crate::duration::positive_millis)]
    pub handshake_timeout_ms: u64,
    /// A connection that sends nothing for this long is closed (live peers
    /// answer the server's pings every 10 s).
    #[arg(long, env = "CLUSTER_IDLE_TIMEOUT_MS", default_value_t = millis(ConnectionLimits::default().idle_timeout),
          value_parser = crate::duration::positive_millis)]
    pub idle_timeout_ms: u64,
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

impl ConnectionArgs {
    /// The limits the flags describe.
    pub fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
        }
    }
}

/// Raises the open-files limit for a server (see
/// [`cluster_node::raise_open_files_limit`]), warning if it cannot.
pub fn raise_open_files_limit() {
    match cluster_node::raise_open_files_limit() {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
}
