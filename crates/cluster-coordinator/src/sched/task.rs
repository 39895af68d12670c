//! A task as the scheduler keeps it: compact, because a million may be
//! queued, with its payload stored once and shared with every assignment.

use bytes::Bytes;

use super::routing::{ClassId, ProfileId};
use super::{JobId, WorkerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskState {
    Queued,
    /// On `worker` since assignment `seq`; `revoking`: asked back for an
    /// idle core of that profile.
    Assigned {
        worker: WorkerId,
        seq: u64,
        revoking: Option<ProfileId>,
    },
}

#[derive(Debug)]
pub(super) struct TaskEntry {
    pub(super) job: JobId,
    /// Its kind and required labels: which workers may run it.
    pub(super) class: ClassId,
    /// The client's id for the task.
    pub(super) id: u64,
    /// Kind and input, encoded for the worker.
    pub(super) payload: Bytes,
    pub(super) state: TaskState,
    /// Handed back from a busy worker for an idle core: dispatch sends it
    /// to an idle worker, not back to the least loaded one.
    pub(super) stolen: bool,
    /// Attempts spent: times the task was running on a worker that was
    /// lost, or timed out.
    pub(super) attempts: u32,
    /// The workers those attempts were spent on.
    pub(super) tried_on: Vec<String>,
}
