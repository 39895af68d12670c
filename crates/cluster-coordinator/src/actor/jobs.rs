//! Jobs as the actor sees them: opened, given tasks, read by their client,
//! cancelled, and all ended at once when the coordinator shuts down.

use tokio::sync::oneshot;

use super::handle::CancelReason;
use super::{Actor, JobEvent, JobTx, Opened, Permits, MAX_UNREAD_BYTES};
use crate::error::CoordinatorError;
use crate::sched::{JobId, JobSpec, NewTask, Outcome};

impl Actor {
    pub(super) fn open_job(
        &mut self,
        tx: JobTx,
        spec: JobSpec,
        client: Option<std::net::SocketAddr>,
        reply: oneshot::Sender<Result<Opened, CoordinatorError>>,
    ) {
        if self.closing {
            let _ = reply.send(Err(CoordinatorError::ShuttingDown));
            return;
        }
        let job = JobId(self.next_job);
        self.next_job += 1;
        let durable = match &self.durable {
            // Accepted once it is written; its tasks wait for that too.
            Some(durable) => {
                let (ready, durable_rx) = oneshot::channel();
                let accepted = tx.clone();
                let on_durable = Box::new(move || {
                    if accepted.send(JobEvent::Accepted(job)).is_ok() {
                        let _ = ready.send(());
                    }
                });
                let next_job = self.next_job;
                durable.store.send(crate::store::Op::OpenJob {
                    id: job,
                    spec: spec.clone(),
                    next_job,
                    on_durable,
                });
                Some(durable_rx)
            }
            None => {
                if tx.send(JobEvent::Accepted(job)).is_err() {
                    return;
                }
                None
            }
        };
        if reply.send(Ok(Opened { job, durable })).is_ok() {
            self.comm.jobs.insert(job, tx);
            self.comm.observe.job_opened(job, &spec, client);
            self.core.open_job(job, spec);
        }
    }

    pub(super) fn submit(
        &mut self,
        job: JobId,
        tasks: Vec<NewTask>,
        rejected: Vec<(u64, Outcome)>,
        permits: Permits,
    ) {
        self.held.tasks += permits.tasks;
        self.held.bytes += permits.bytes;
        self.comm.observe.submitted(job, tasks.iter().map(|task| task.id));
        self.comm.observe.submitted(job, rejected.iter().map(|(id, _)| *id));
        if self.durable.is_some() {
            let received = (tasks.len() + rejected.len()) as u64;
            let stored = tasks.iter().map(|task| (task.id, task.payload.clone())).collect();
            self.store(crate::store::Op::Tasks { job, tasks: stored, received });
        }
        self.core.submit(job, tasks, &mut self.comm);
        for (id, outcome) in rejected {
            self.core.reject(job, id, outcome, &mut self.comm);
        }
    }

    /// The job's client took results: dispatch goes on unless it is still
    /// over the bound (then its stream tells again when it is not).
    pub(super) fn client_read(&mut self, job: JobId) {
        if self.comm.jobs.get(&job).is_some_and(|tx| tx.unread() < MAX_UNREAD_BYTES) {
            self.core.resume_job(job);
        }
    }

    pub(super) fn cancel_job(&mut self, job: JobId, reason: CancelReason) {
        // A job is known while it runs (its stream open, or detached):
        // `Cancel` of any other id answers NOT_FOUND.
        let reason = match reason {
            CancelReason::Requested(reply) if self.core.job_submitted(job).is_none() => {
                let _ = reply.send(Err(CoordinatorError::UnknownJob(job)));
                return;
            }
            // A client that left after another resumed the job: nothing.
            CancelReason::Disconnected(tx)
                if self.comm.jobs.get(&job).is_some_and(|now| !now.same_channel(&tx)) =>
            {
                return;
            }
            // With durable state: detached, or already detached.
            CancelReason::Disconnected(_) if self.detach(job) || self.detached.contains_key(&job) => return,
            reason => reason,
        };
        self.detached.remove(&job);
        self.store(crate::store::Op::Forget { job });
        let cancelled = self.core.cancel_job(job, &mut self.comm);
        self.comm.observe.cancelled(cancelled);
        match reason {
            CancelReason::Disconnected(_) => {
                if self.comm.jobs.remove(&job).is_some() {
                    self.comm
                        .observe
                        .job_ended(job, &format_args!("its client went away ({cancelled} cancelled)"));
                }
            }
            CancelReason::Requested(reply) => {
                self.comm.end_job(job, CoordinatorError::CancelledByRequest(job));
                let _ = reply.send(Ok(cancelled));
            }
            CancelReason::Failed(error) => self.comm.end_job(job, error),
        }
    }

    pub(super) fn shutdown(&mut self, reply: oneshot::Sender<()>) {
        self.closing = true;
        let jobs: Vec<JobId> = self.comm.jobs.keys().copied().collect();
        for job in jobs {
            let left = self.core.cancel_job(job, &mut self.comm);
            self.comm.observe.cancelled(left);
            self.comm.end_job(job, CoordinatorError::ShutDownWithTasksLeft { job, left });
        }
        self.comm.flush(u64::MAX);
        let _ = reply.send(());
    }
}
