//! The effects the scheduling core asks for. The actor implements this with
//! channels to worker and client streams; tests record the calls.

use bytes::Bytes;

use super::{JobId, JobSummary, TaskKey, TaskReport, WorkerId};

/// A task as the core hands it to a worker.
#[derive(Debug, Clone, Copy)]
pub struct AssignedTask<'a> {
    /// The core's key for it: results and revokes name it.
    pub key: TaskKey,
    /// Its job.
    pub job: JobId,
    /// The client's id for it.
    pub task_id: u64,
    /// Its kind and input, encoded.
    pub payload: &'a Bytes,
    /// Stop it after this many milliseconds.
    pub timeout_ms: Option<u64>,
}

/// Where the core's decisions go. Calls are cheap and buffered: the actor
/// flushes them as batched messages after each round of events.
pub trait Comm {
    /// Send a task to `worker` to run.
    fn assign(&mut self, worker: WorkerId, task: AssignedTask<'_>);
    /// Stop these tasks on `worker` (their job was cancelled).
    fn cancel(&mut self, worker: WorkerId, keys: Vec<TaskKey>);
    /// Ask `worker` to give back these unstarted tasks.
    fn revoke(&mut self, worker: WorkerId, keys: Vec<TaskKey>);
    /// Deliver a task's (only) result to its job's client.
    fn deliver(&mut self, job: JobId, report: TaskReport);
    /// Tell the job's client something it should know while it waits (its
    /// tasks wait for a worker that can run them, say).
    fn notice(&mut self, job: JobId, message: String);
    /// Every task of the job has its result; this is the last call for it.
    fn job_finished(&mut self, job: JobId, summary: JobSummary);
}
