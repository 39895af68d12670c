//! What a client submits, at the wire edge: its tasks, encoded once, and
//! its job's options.

use bytes::Bytes;
use cluster_proto as pb;
use cluster_proto::batch::{self, framed_len};
use prost::Message;

use super::session::Assignment;
use crate::sched::{JobSpec, NewTask};

/// A submitted task: its kind and input are encoded once, for every worker
/// it may be sent to; the client's id stays with the coordinator.
pub(crate) fn new_task(mut task: pb::Task) -> NewTask {
    let id = std::mem::take(&mut task.id);
    let payload = Bytes::from(task.encode_to_vec());
    NewTask { id, kind: task.kind, payload }
}

/// Whether a task whose payload is `len` bytes fits in an assignment
/// message of at most `max_message_bytes`.
pub(crate) fn fits_in_assignment(len: usize, max_message_bytes: usize) -> bool {
    let assignment = Assignment {
        key: u64::MAX,
        task: Bytes::new(),
        timeout_ms: Some(u64::MAX),
        job_id: u64::MAX,
        task_id: u64::MAX,
    };
    framed_len(assignment.encoded_len() + framed_len(len)) <= batch::budget(max_message_bytes)
}

pub(crate) fn job_spec(options: pb::JobOptions) -> JobSpec {
    JobSpec {
        name: options.name,
        timeout_ms: options.timeout_ms,
        deadline_ms: options.deadline_ms,
        require: options.require.into_iter().collect(),
        unroutable_timeout_ms: options.unroutable_timeout_ms,
    }
}
