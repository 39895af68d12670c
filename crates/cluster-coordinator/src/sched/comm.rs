//! The effects the scheduling core asks for. The actor implements this with
//! channels to worker and client streams; tests record the calls.

use bytes::Bytes;

use super::{JobId, JobSummary, TaskKey, TaskReport, WorkerId};

/// Where the core's decisions go. Calls are cheap and buffered: the actor
/// flushes them as batched messages after each round of events.
pub trait Comm {
    /// Send the task `key` (its encoded `payload`) to `worker` to run,
    /// stopping it after `timeout_ms`.
    fn assign(&mut self, worker: WorkerId, key: TaskKey, payload: &Bytes, timeout_ms: Option<u64>);
    /// Stop these tasks on `worker` (their job was cancelled).
    fn cancel(&mut self, worker: WorkerId, keys: Vec<TaskKey>);
    /// Ask `worker` to give back these unstarted tasks.
    fn revoke(&mut self, worker: WorkerId, keys: Vec<TaskKey>);
    /// Deliver a task's (only) result to its job's client.
    fn deliver(&mut self, job: JobId, report: TaskReport);
    /// Every task of the job has its result; this is the last call for it.
    fn job_finished(&mut self, job: JobId, summary: JobSummary);
}
