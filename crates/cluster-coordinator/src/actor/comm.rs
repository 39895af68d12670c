//! The actor's [`Comm`]: buffers the scheduler's effects during a round,
//! then hands each worker and each job one batch of them. The streams at the
//! edge turn those into proto messages under the size limit, off the actor.

use bytes::Bytes;
use rustc_hash::FxHashMap as HashMap;
use tokio::sync::mpsc;

use crate::error::CoordinatorError;
use crate::sched::{Comm, JobId, JobSummary, TaskKey, TaskReport, WorkerId};

/// What the actor sends a worker's session.
#[derive(Debug)]
pub(crate) enum ToWorker {
    /// Run these, in order.
    Assign(Vec<Assign>),
    /// Give these back if they have not started.
    Revoke(Vec<TaskKey>),
    /// Stop these.
    Cancel(Vec<TaskKey>),
}

/// One task for a worker.
#[derive(Debug)]
pub(crate) struct Assign {
    pub(crate) key: TaskKey,
    pub(crate) payload: Bytes,
    pub(crate) timeout_ms: Option<u64>,
}

/// What the actor sends a job's client.
#[derive(Debug)]
pub(crate) enum JobEvent {
    /// The job is open, with this id.
    Accepted(JobId),
    /// Results of finished tasks.
    Results(Vec<TaskReport>),
    /// Every task has its result: the last event.
    Finished(JobSummary),
    /// The job ended without finishing: the last event.
    Failed(CoordinatorError),
}

/// Messages to one worker's session.
pub(crate) type WorkerTx = mpsc::UnboundedSender<ToWorker>;
/// Events of one job, for its client.
pub(crate) type JobTx = mpsc::UnboundedSender<JobEvent>;

#[derive(Default)]
pub(super) struct ActorComm {
    pub(super) workers: HashMap<WorkerId, WorkerTx>,
    pub(super) jobs: HashMap<JobId, JobTx>,
    assignments: HashMap<WorkerId, Vec<Assign>>,
    results: HashMap<JobId, Vec<TaskReport>>,
    finished: Vec<(JobId, JobSummary)>,
}

impl Comm for ActorComm {
    fn assign(&mut self, worker: WorkerId, key: TaskKey, payload: &Bytes, timeout_ms: Option<u64>) {
        let assign = Assign { key, payload: payload.clone(), timeout_ms };
        self.assignments.entry(worker).or_default().push(assign);
    }

    fn cancel(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        self.send_worker(worker, ToWorker::Cancel(keys));
    }

    fn revoke(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        self.send_worker(worker, ToWorker::Revoke(keys));
    }

    fn deliver(&mut self, job: JobId, report: TaskReport) {
        self.results.entry(job).or_default().push(report);
    }

    fn job_finished(&mut self, job: JobId, summary: JobSummary) {
        self.finished.push((job, summary));
    }
}

impl ActorComm {
    fn send_worker(&mut self, worker: WorkerId, message: ToWorker) {
        // Assignments queued earlier in this round go first.
        if let Some(tasks) = self.assignments.remove(&worker) {
            self.send_raw(worker, ToWorker::Assign(tasks));
        }
        self.send_raw(worker, message);
    }

    fn send_raw(&self, worker: WorkerId, message: ToWorker) {
        if let Some(tx) = self.workers.get(&worker) {
            // A closed channel means the link is ending; it reports the loss.
            let _ = tx.send(message);
        }
    }

    pub(super) fn send_job(&self, job: JobId, event: JobEvent) {
        if let Some(tx) = self.jobs.get(&job) {
            let _ = tx.send(event);
        }
    }

    /// Ends a job's stream with an error.
    pub(super) fn end_job(&mut self, job: JobId, error: CoordinatorError) {
        self.results.remove(&job);
        if let Some(tx) = self.jobs.remove(&job) {
            let _ = tx.send(JobEvent::Failed(error));
        }
    }

    pub(super) fn flush(&mut self) {
        for (worker, tasks) in std::mem::take(&mut self.assignments) {
            self.send_raw(worker, ToWorker::Assign(tasks));
        }
        for (job, results) in std::mem::take(&mut self.results) {
            self.send_job(job, JobEvent::Results(results));
        }
        for (job, summary) in std::mem::take(&mut self.finished) {
            self.send_job(job, JobEvent::Finished(summary));
            self.jobs.remove(&job);
        }
    }
}
