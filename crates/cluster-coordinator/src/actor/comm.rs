//! The actor's [`Comm`]: buffers the scheduler's effects during a round,
//! then hands each worker and each job one batch of them. The streams at the
//! edge turn those into proto messages under the size limit, off the actor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rustc_hash::FxHashMap as HashMap;
use tokio::sync::mpsc;

use crate::error::CoordinatorError;
use crate::sched::{AssignedTask, Comm, JobId, JobSummary, Outcome, TaskKey, TaskReport, WorkerId};

/// What the actor sends a worker's session.
#[derive(Debug)]
pub(crate) enum ToWorker {
    /// Run these, in order.
    Assign(Vec<Assign>),
    /// Give these back if they have not started.
    Revoke(Vec<TaskKey>),
    /// Stop these.
    Cancel(Vec<TaskKey>),
    /// The tasks it held from its previous session: each adopted under a
    /// key, or (`None`) to be stopped.
    Adopt(Vec<(JobId, u64, Option<TaskKey>)>),
}

/// One task for a worker.
#[derive(Debug)]
pub(crate) struct Assign {
    pub(crate) key: TaskKey,
    pub(crate) job: JobId,
    pub(crate) task_id: u64,
    pub(crate) payload: Bytes,
    pub(crate) timeout_ms: Option<u64>,
}

/// What the actor sends a job's client.
#[derive(Debug)]
pub(crate) enum JobEvent {
    /// The job is open, with this id.
    Accepted(JobId),
    /// Results of finished tasks, and about how many bytes they hold.
    Results(Vec<TaskReport>, u64),
    /// Something the client should know while it waits.
    Notice(String),
    /// Every task has its result: the last event.
    Finished(JobSummary),
    /// The job ended without finishing: the last event.
    Failed(CoordinatorError),
}

/// Messages to one worker's session.
pub(crate) type WorkerTx = mpsc::UnboundedSender<ToWorker>;

/// Events of one job, for its client, with a count of the result bytes
/// sent and not yet taken by the client's stream (which takes no more than
/// HTTP/2 flow control lets through to a client that reads).
#[derive(Debug, Clone)]
pub(crate) struct JobTx {
    tx: mpsc::UnboundedSender<JobEvent>,
    unread: Arc<AtomicU64>,
}

/// The receiving end of a [`JobTx`], for the job's response stream.
#[derive(Debug)]
pub(crate) struct JobRx {
    rx: mpsc::UnboundedReceiver<JobEvent>,
    unread: Arc<AtomicU64>,
}

/// A job's event channel.
pub(crate) fn job_channel() -> (JobTx, JobRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let unread = Arc::new(AtomicU64::new(0));
    (JobTx { tx, unread: unread.clone() }, JobRx { rx, unread })
}

impl JobTx {
    pub(crate) fn send(&self, event: JobEvent) -> Result<(), JobEvent> {
        self.tx.send(event).map_err(|e| e.0)
    }

    /// Result bytes its client has not taken.
    pub(crate) fn unread(&self) -> u64 {
        self.unread.load(Ordering::Acquire)
    }

    /// Whether both are the same client's channel.
    pub(crate) fn same_channel(&self, other: &JobTx) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// Resolves when the job's stream is gone.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await
    }
}

impl JobRx {
    /// The next event. Taking results lowers the unread count; returns
    /// also whether this took it from `limit` or over to below it.
    pub(crate) async fn recv(&mut self, limit: u64) -> Option<(JobEvent, bool)> {
        let event = self.rx.recv().await?;
        let mut crossed = false;
        if let JobEvent::Results(_, bytes) = &event {
            let before = self.unread.fetch_sub(*bytes, Ordering::AcqRel);
            crossed = before >= limit && before - bytes < limit;
        }
        Some((event, crossed))
    }
}

/// About how many bytes a result holds in the coordinator.
fn approx_len(report: &TaskReport) -> u64 {
    let outcome = match &report.outcome {
        Outcome::Output(bytes) => bytes.len(),
        Outcome::Failed { message, detail, .. } => message.len() + detail.as_ref().map_or(0, Bytes::len),
    };
    (std::mem::size_of::<TaskReport>() + outcome + report.worker.len()) as u64
}

#[derive(Default)]
pub(super) struct ActorComm {
    pub(super) workers: HashMap<WorkerId, WorkerTx>,
    pub(super) jobs: HashMap<JobId, JobTx>,
    assignments: HashMap<WorkerId, Vec<Assign>>,
    results: HashMap<JobId, Vec<TaskReport>>,
    finished: Vec<(JobId, JobSummary)>,
    /// Events of resumed jobs whose clients are being sent their stored
    /// results first.
    held: HashMap<JobId, Vec<JobEvent>>,
    /// The state directory, which gets every result and job end.
    pub(super) store: Option<crate::store::Store>,
    /// Counts and logs what passes through.
    pub(super) observe: super::observe::Observer,
}

impl Comm for ActorComm {
    fn assign(&mut self, worker: WorkerId, task: AssignedTask<'_>) {
        let assign = Assign {
            key: task.key,
            job: task.job,
            task_id: task.task_id,
            payload: task.payload.clone(),
            timeout_ms: task.timeout_ms,
        };
        self.assignments.entry(worker).or_default().push(assign);
    }

    fn cancel(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        self.send_worker(worker, ToWorker::Cancel(keys));
    }

    fn revoke(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        self.send_worker(worker, ToWorker::Revoke(keys));
    }

    fn deliver(&mut self, job: JobId, report: TaskReport) {
        self.observe.delivered(job, &report);
        self.results.entry(job).or_default().push(report);
    }

    fn notice(&mut self, job: JobId, message: String) {
        self.send_job(job, JobEvent::Notice(message));
    }

    fn job_finished(&mut self, job: JobId, summary: JobSummary) {
        self.observe.job_finished(job, &summary);
        self.finished.push((job, summary));
    }
}

impl ActorComm {
    /// Buffers effects for the streams, and writes results and job ends
    /// to `store` if there is one.
    pub(super) fn new(store: Option<crate::store::Store>) -> Self {
        Self { store, ..Self::default() }
    }

    pub(super) fn send_worker(&mut self, worker: WorkerId, message: ToWorker) {
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

    pub(super) fn send_job(&mut self, job: JobId, event: JobEvent) {
        if let Some(held) = self.held.get_mut(&job) {
            held.push(event);
        } else if let Some(tx) = self.jobs.get(&job) {
            let _ = tx.send(event);
        }
    }

    /// Holds a job's events back until [`ActorComm::release`].
    pub(super) fn hold(&mut self, job: JobId) {
        self.held.entry(job).or_default();
    }

    /// Sends a job's held events, in order.
    pub(super) fn release(&mut self, job: JobId) {
        let Some(events) = self.held.remove(&job) else { return };
        let finished =
            events.iter().any(|event| matches!(event, JobEvent::Finished(_) | JobEvent::Failed(_)));
        for event in events {
            self.send_job(job, event);
        }
        if finished {
            self.jobs.remove(&job);
        }
    }

    /// Ends a job's stream with an error.
    pub(super) fn end_job(&mut self, job: JobId, error: CoordinatorError) {
        self.observe.job_ended(job, &error);
        self.results.remove(&job);
        self.held.remove(&job);
        if let Some(tx) = self.jobs.remove(&job) {
            let _ = tx.send(JobEvent::Failed(error));
        }
    }

    /// Sends what the round produced; returns the jobs whose clients now
    /// have `unread_limit` bytes of results or more unread.
    pub(super) fn flush(&mut self, unread_limit: u64) -> Vec<JobId> {
        for (worker, tasks) in std::mem::take(&mut self.assignments) {
            self.send_raw(worker, ToWorker::Assign(tasks));
        }
        let mut over = Vec::new();
        for (job, results) in std::mem::take(&mut self.results) {
            if let Some(store) = &self.store {
                store.send(crate::store::Op::Results { job, reports: results.clone() });
            }
            let Some(tx) = self.jobs.get(&job) else { continue };
            let bytes = results.iter().map(approx_len).sum();
            let unread = tx.unread.fetch_add(bytes, Ordering::AcqRel) + bytes;
            self.send_job(job, JobEvent::Results(results, bytes));
            if unread >= unread_limit {
                over.push(job);
            }
        }
        for (job, summary) in std::mem::take(&mut self.finished) {
            if let Some(store) = &self.store {
                store.send(crate::store::Op::Finished { job });
            }
            let held = self.held.contains_key(&job);
            self.send_job(job, JobEvent::Finished(summary));
            if !held {
                self.jobs.remove(&job);
            }
        }
        over
    }
}
