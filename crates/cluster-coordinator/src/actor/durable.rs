//! The actor's side of the state directory: jobs restored at start, clients
//! that detach and resume, and the retention of finished jobs.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Actor, JobEvent, JobTx, ToWorker};
use crate::error::CoordinatorError;
use crate::sched::{Held, JobId, WorkerId};
use crate::store::{self, Op, Recovered, Snapshot, Store};

/// How the actor keeps jobs in the state directory.
#[derive(Debug, Clone)]
pub(crate) struct Durability {
    pub(crate) store: Store,
    /// A job whose client went away waits this long for one to resume it.
    pub(crate) detach_timeout: Duration,
    /// A finished job's results are kept this long for late clients.
    pub(crate) retention: Duration,
    /// After a restart, restored jobs wait at most this long for the
    /// workers of before to come back and report the tasks they kept.
    pub(crate) readopt_wait: Duration,
}

/// Restored jobs held back from dispatch until the workers of before are
/// back (or the wait is over), so a task one of them still runs is adopted
/// rather than started again elsewhere.
#[derive(Debug, Default)]
pub(crate) struct Readoption {
    jobs: Vec<JobId>,
    awaiting: std::collections::HashSet<String>,
    until: Option<Instant>,
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
            self.core.index_restored(job.id);
            self.core.pause_job(job.id);
            self.readoption.jobs.push(job.id);
            self.detached.insert(job.id, now);
        }
        let wait = self.durable.as_ref().map_or(Duration::ZERO, |d| d.readopt_wait);
        self.readoption.awaiting = recovered.workers.into_iter().collect();
        self.readoption.until = Some(now + wait);
        if self.readoption.awaiting.is_empty() {
            self.end_readoption();
        } else {
            let workers = self.readoption.awaiting.len();
            tracing::info!(
                workers,
                "restored jobs wait up to {wait:?} for the workers of before to report their tasks"
            );
        }
    }

    /// A worker's session opened: it is back, and any tasks it kept running
    /// are adopted if they are still queued here (else it stops them).
    pub(super) fn adopt(&mut self, id: WorkerId, worker_id: &str, held: Vec<Held>) {
        self.store(Op::WorkerSeen { id: worker_id.to_owned() });
        if !held.is_empty() {
            let asked: Vec<(JobId, u64)> = held.iter().map(|h| (h.job, h.task_id)).collect();
            let keys = self.core.adopt(id, held, &mut self.comm);
            let adopted = keys.iter().filter(|k| k.is_some()).count();
            tracing::info!(
                worker = worker_id,
                adopted,
                held = asked.len(),
                "tasks a worker kept running were adopted"
            );
            let answer = asked.into_iter().zip(keys).map(|((job, task), key)| (job, task, key)).collect();
            self.comm.send_worker(id, ToWorker::Adopt(answer));
        }
        if self.readoption.awaiting.remove(worker_id) && self.readoption.awaiting.is_empty() {
            self.end_readoption();
        }
    }

    /// Restored jobs are dispatched from now on.
    fn end_readoption(&mut self) {
        for job in std::mem::take(&mut self.readoption.jobs) {
            self.core.resume_job(job);
        }
        self.readoption.until = None;
        self.readoption.awaiting.clear();
        self.core.forget_restored();
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
        if self.readoption.until.is_some_and(|until| now >= until) {
            let missing = self.readoption.awaiting.len();
            tracing::info!(
                missing,
                "restored jobs are dispatched: the wait for the workers of before is over"
            );
            self.end_readoption();
        }
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
