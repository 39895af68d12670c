//! What status shows: each worker address and where it stands, the queue
//! and the jobs, in one report the actor builds when asked.

use rustc_hash::FxHashMap as HashMap;

use super::Actor;
use crate::sched::{FinishedJob, JobStats, WorkerDesc, WorkerId};

/// Where a worker address stands, for status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Being dialled; not in a session yet.
    Connecting,
    /// In a session, taking tasks.
    Active,
    /// In a session, taking no new tasks.
    Draining,
    /// Its session ended.
    Lost,
}

/// One worker address as status shows it.
#[derive(Debug, Clone)]
pub(crate) struct WorkerRow {
    pub(crate) address: String,
    /// What the worker said of itself; `None` if it never answered.
    pub(crate) desc: Option<WorkerDesc>,
    pub(crate) state: LinkState,
    pub(crate) in_flight: u64,
    pub(crate) completed: u64,
    /// Of those, failed.
    pub(crate) failed: u64,
    /// Of the tasks in flight, those running.
    pub(crate) running: u64,
    /// Cores held by tasks taken back after overrunning.
    pub(crate) stuck: u32,
    pub(crate) last_error: String,
}

/// The cluster as the coordinator sees it.
#[derive(Debug, Clone)]
pub(crate) struct StatusReport {
    pub(crate) workers: Vec<WorkerRow>,
    pub(crate) queued: u64,
    pub(crate) active_jobs: u64,
    pub(crate) late_results: u64,
    pub(crate) jobs: Vec<JobStats>,
    /// The last jobs that ended, oldest first.
    pub(crate) recent_jobs: Vec<FinishedJob>,
}

impl Actor {
    pub(super) fn status(&self) -> StatusReport {
        let stats: HashMap<WorkerId, _> = self.core.worker_stats().into_iter().map(|s| (s.id, s)).collect();
        let workers = self
            .links
            .values()
            .map(|link| {
                let stats = link.worker.and_then(|id| stats.get(&id));
                WorkerRow {
                    address: link.address.clone(),
                    desc: link.desc.clone(),
                    state: link.state,
                    in_flight: stats.map_or(0, |s| s.in_flight),
                    completed: stats.map_or(0, |s| s.completed),
                    failed: stats.map_or(0, |s| s.failed),
                    running: stats.map_or(0, |s| s.running),
                    stuck: stats.map_or(0, |s| s.stuck),
                    last_error: link.last_error.clone(),
                }
            })
            .collect();
        StatusReport {
            workers,
            queued: self.core.queued(),
            active_jobs: self.core.active_jobs() as u64,
            late_results: self.core.late_results(),
            jobs: self.core.job_stats(),
            recent_jobs: self.core.recent_jobs(),
        }
    }
}
