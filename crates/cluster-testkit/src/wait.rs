//! Waiting on conditions with deadlines: poll, never sleep to synchronise.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use cluster_auth::Security;
use cluster_client::Client;
use cluster_proto::{StatusResponse, WorkerState};

use crate::DEADLINE;

/// Between two probes of a condition.
const POLL: Duration = Duration::from_millis(5);

/// Connects to a coordinator, retrying until [`DEADLINE`] (a process that
/// printed its address is already listening; this covers TLS set-up and
/// the like).
pub async fn connect(url: &str, security: &Security) -> Result<Client> {
    let until = Instant::now() + DEADLINE;
    loop {
        match Client::connect_with(url, security).await {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() > until => bail!("cannot reach {url} within {DEADLINE:?}: {e}"),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Polls the coordinator's status until `ready` holds; fails after
/// [`DEADLINE`] with the last status seen.
pub async fn wait_status(
    client: &mut Client,
    what: &str,
    ready: impl Fn(&StatusResponse) -> bool,
) -> Result<StatusResponse> {
    let until = Instant::now() + DEADLINE;
    loop {
        let status = client.status().await?;
        if ready(&status) {
            return Ok(status);
        }
        if Instant::now() > until {
            bail!("timed out after {DEADLINE:?} waiting for {what}; last status: {status:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Workers in the active state.
pub fn active_workers(status: &StatusResponse) -> usize {
    status.workers.iter().filter(|w| w.state == WorkerState::Active as i32).count()
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Installs (once) a panic hook that counts panics in this process, then
/// calls the previous hook.
pub(crate) fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Panics in this process since the first [`crate::TestCluster`] started
/// (caught ones included: a server task or a task kind that panicked).
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}
