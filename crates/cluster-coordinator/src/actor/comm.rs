//! The actor's [`Comm`]: buffers the core's effects during a round, then
//! sends them as batched messages to worker and client streams.

use std::collections::HashMap;

use cluster_proto::{
    coordinator_message, submit_response, AssignBatch, Assignment, CancelTasks, CoordinatorMessage,
    JobSummary, ResultBatch, RevokeRequest, SubmitResponse, Task, TaskResult,
};
use prost::Message;
use tokio::sync::mpsc;
use tonic::Status;

use crate::core::{Comm, JobId, TaskKey, WorkerId};

/// Messages to one worker's session.
pub(crate) type WorkerTx = mpsc::UnboundedSender<CoordinatorMessage>;
/// Messages to one job's client.
pub(crate) type JobTx = mpsc::UnboundedSender<Result<SubmitResponse, Status>>;

/// Most tasks per assignment message.
const MAX_ASSIGN_BATCH: usize = 4096;

#[derive(Default)]
pub(super) struct ActorComm {
    pub(super) workers: HashMap<WorkerId, WorkerTx>,
    pub(super) jobs: HashMap<JobId, JobTx>,
    /// Largest message a worker accepts; assignment batches stay under it.
    pub(super) max_message_bytes: usize,
    assignments: HashMap<WorkerId, Vec<Assignment>>,
    results: HashMap<JobId, Vec<TaskResult>>,
    finished: Vec<(JobId, JobSummary)>,
}

impl Comm for ActorComm {
    fn assign(&mut self, worker: WorkerId, key: TaskKey, task: Task, timeout_ms: Option<u64>) {
        let assignment = Assignment { key: key.0, task: Some(task), timeout_ms };
        self.assignments.entry(worker).or_default().push(assignment);
    }

    fn cancel(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        let request = CancelTasks { keys: keys.into_iter().map(|k| k.0).collect() };
        self.send_worker(worker, coordinator_message::Event::Cancel(request));
    }

    fn revoke(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        let request = RevokeRequest { keys: keys.into_iter().map(|k| k.0).collect() };
        self.send_worker(worker, coordinator_message::Event::Revoke(request));
    }

    fn deliver(&mut self, job: JobId, result: TaskResult) {
        self.results.entry(job).or_default().push(result);
    }

    fn job_finished(&mut self, job: JobId, summary: JobSummary) {
        self.finished.push((job, summary));
    }
}

impl ActorComm {
    pub(super) fn new(max_message_bytes: usize) -> Self {
        Self { max_message_bytes, ..Self::default() }
    }

    fn send_worker(&mut self, worker: WorkerId, event: coordinator_message::Event) {
        // Assignments queued earlier in this round go first.
        if let Some(tasks) = self.assignments.remove(&worker) {
            self.send_assignments(worker, tasks);
        }
        self.send_raw(worker, event);
    }

    fn send_raw(&self, worker: WorkerId, event: coordinator_message::Event) {
        if let Some(tx) = self.workers.get(&worker) {
            // A closed channel means the link is ending; it reports the loss.
            let _ = tx.send(CoordinatorMessage { event: Some(event) });
        }
    }

    /// Sends assignments in messages that stay under the size limit.
    fn send_assignments(&self, worker: WorkerId, tasks: Vec<Assignment>) {
        let budget = self.max_message_bytes.saturating_sub(cluster_node::MESSAGE_HEADROOM).max(1);
        let mut batch = Vec::new();
        let mut size = 0;
        for task in tasks {
            let len = task.encoded_len() + 8;
            if !batch.is_empty() && (size + len > budget || batch.len() >= MAX_ASSIGN_BATCH) {
                let tasks = std::mem::take(&mut batch);
                self.send_raw(worker, coordinator_message::Event::Assign(AssignBatch { tasks }));
                size = 0;
            }
            size += len;
            batch.push(task);
        }
        if !batch.is_empty() {
            self.send_raw(worker, coordinator_message::Event::Assign(AssignBatch { tasks: batch }));
        }
    }

    pub(super) fn send_job(&self, job: JobId, event: submit_response::Event) {
        if let Some(tx) = self.jobs.get(&job) {
            let _ = tx.send(Ok(SubmitResponse { event: Some(event) }));
        }
    }

    /// Ends a job's stream with an error status.
    pub(super) fn end_job(&mut self, job: JobId, status: Status) {
        self.results.remove(&job);
        if let Some(tx) = self.jobs.remove(&job) {
            let _ = tx.send(Err(status));
        }
    }

    pub(super) fn flush(&mut self) {
        for (worker, tasks) in std::mem::take(&mut self.assignments) {
            self.send_assignments(worker, tasks);
        }
        for (job, results) in std::mem::take(&mut self.results) {
            self.send_job(job, submit_response::Event::Results(ResultBatch { results }));
        }
        for (job, summary) in std::mem::take(&mut self.finished) {
            self.send_job(job, submit_response::Event::Summary(summary));
            self.jobs.remove(&job);
        }
    }
}
