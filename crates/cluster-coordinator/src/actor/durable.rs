//! The actor's side of the state directory: jobs restored at start, clients
//! that detach and resume, and the retention of finished jobs.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Actor, JobEvent, JobTx};
use crate::error::CoordinatorError;
use crate::sched::JobId;
use crate::store::{self, Op, Recovered, Snapshot, Store};

/// How the actor keeps jobs in the state directory.
#[derive(Debug, Clone)]
pub(crate) struct Durability {
    pub(crate) store: Store,
    /// A job whose client went away waits this long for one to resume it.
    pub(crate) detach_timeout: Duration,
    /// A finished job's results are kept this long for late clients.
    pub(crate) retention: Duration,
}

/// How often finished jobs past their retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(5);

/// A job just opened: its id, and (with durable state) a signal that fires
/// once it is written, before which none of its tasks may be taken.
pub(crate) struct Opened {
    pub(crate) job: JobId,
    pub(crate) durable: Option<oneshot::Receiver<()>>,
}

/// A job a client reattached to.
pub(crate) struct Resumed {
    /// Tasks the coordinator holds of it.
    pub(crate) tasks_received: u64,
    /// What the state directory holds for it (`None`: nothing, it is gone).
    pub(crate) snapshot: oneshot::Receiver<Option<Snapshot>>,
    /// Whether it still runs here; if not, the snapshot is all there is.
    pub(crate) running: bool,
}

impl Actor {
    /// Puts the unfinished jobs of the state directory back in the
    /// scheduler, detached until their clients resume them.
    pub(super) fn restore(&mut self, recovered: Recovered) {
        self.next_job = self.next_job.max(recovered.next_job);
        let now = Instant::now();
        for job in recovered.jobs {
            let pending = job.tasks.len();
            tracing::info!(job = job.id.0, name = %job.spec.name, pending, "job restored from the state directory");
            self.core.restore_job(job.id, job.spec, job.summary, job.submitted, pending);
            self.core.submit(job.id, job.tasks, &mut self.comm);
            if job.input_closed {
                self.core.close_input(job.id, &mut self.comm);
            }
            self.detached.insert(job.id, now);
        }
    }

    /// Sends an operation to the state directory, if there is one.
    pub(super) fn store(&self, op: Op) {
        if let Some(durable) = &self.durable {
            durable.store.send(op);
        }
    }

    /// Reattaches a client. Its live events are held back until it has
    /// been sent the stored results ([`Actor::release`]), so none falls
    /// between the snapshot and the live stream.
    pub(super) fn resume_job(
        &mut self,
        job: JobId,
        tx: JobTx,
        reply: oneshot::Sender<Result<Resumed, CoordinatorError>>,
    ) {
        let Some(durable) = &self.durable else {
            let _ = reply.send(Err(CoordinatorError::LostJob(job)));
            return;
        };
        let (snapshot_tx, snapshot) = oneshot::channel();
        durable.store.send(Op::Snapshot { job, reply: snapshot_tx });
        let running = self.core.job_submitted(job);
        if running.is_some() {
            self.detached.remove(&job);
            if let Some(old) = self.comm.jobs.insert(job, tx) {
                // Another client had it: it is told, the new one goes on.
                let _ = old.send(JobEvent::Failed(CoordinatorError::Resumed(job)));
            }
            self.comm.hold(job);
        }
        let resumed = Resumed { tasks_received: running.unwrap_or(0), snapshot, running: running.is_some() };
        let _ = reply.send(Ok(resumed));
    }

    /// A resumed client has its stored results: its held events go out.
    pub(super) fn release(&mut self, job: JobId) {
        self.comm.release(job);
    }

    /// The client of a job went away. With durable state the job runs on
    /// for a while, for a client to resume it.
    pub(super) fn detach(&mut self, job: JobId) -> bool {
        if self.durable.is_none() || self.core.job_submitted(job).is_none() {
            return false;
        }
        self.comm.jobs.remove(&job);
        self.detached.insert(job, Instant::now());
        tracing::info!(
            job = job.0,
            "job detached: its client went away; it runs on for a client to resume it"
        );
        true
    }

    /// Jobs detached too long are cancelled; finished jobs past their
    /// retention leave the state directory.
    pub(super) fn durable_clock(&mut self, now: Instant) {
        let Some(durable) = &self.durable else { return };
        let timeout = durable.detach_timeout;
        let expired: Vec<JobId> = self
            .detached
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= timeout)
            .map(|(&j, _)| j)
            .collect();
        for job in expired {
            self.detached.remove(&job);
            if self.core.job_submitted(job).is_some() {
                let cancelled = self.core.cancel_job(job, &mut self.comm);
                tracing::warn!(
                    job = job.0,
                    cancelled,
                    "job cancelled: no client resumed it within {timeout:?}"
                );
                self.store(Op::Forget { job });
            }
        }
        if now.duration_since(self.last_purge) >= PURGE_EVERY {
            self.last_purge = now;
            let retention = self.durable.as_ref().map_or(Duration::ZERO, |d| d.retention);
            let before = store::unix_ms().saturating_sub(retention.as_millis() as u64);
            self.store(Op::Purge { finished_before_unix_ms: before });
        }
    }
}
