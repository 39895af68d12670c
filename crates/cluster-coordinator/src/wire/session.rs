//! The worker session's own messages, wire-compatible with
//! `cluster.v1.CoordinatorMessage` and `WorkerMessage`: a task travels to
//! the worker as the bytes encoded once at submission (a protobuf embedded
//! message and a `bytes` field are the same on the wire), and a worker's
//! output travels back to the client without being rebuilt.

use bytes::Bytes;

/// `cluster.v1.CoordinatorMessage`, with each assignment's task as bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ToWorkerMessage {
    #[prost(oneof = "to_worker::Event", tags = "1, 2, 3, 4, 5, 6")]
    pub(crate) event: Option<to_worker::Event>,
}

pub(crate) mod to_worker {
    use cluster_proto as pb;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(crate) enum Event {
        #[prost(message, tag = "1")]
        Assign(super::AssignBatch),
        #[prost(message, tag = "2")]
        Revoke(pb::RevokeRequest),
        #[prost(message, tag = "3")]
        Heartbeat(pb::Heartbeat),
        #[prost(message, tag = "4")]
        Cancel(pb::CancelTasks),
        #[prost(message, tag = "5")]
        Start(pb::SessionStart),
        #[prost(message, tag = "6")]
        Adopt(pb::AdoptTasks),
    }
}

/// `cluster.v1.AssignBatch`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AssignBatch {
    #[prost(message, repeated, tag = "1")]
    pub(crate) tasks: Vec<Assignment>,
}

/// `cluster.v1.Assignment`, its `Task` already encoded.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Assignment {
    #[prost(uint64, tag = "1")]
    pub(crate) key: u64,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) task: Bytes,
    #[prost(uint64, optional, tag = "3")]
    pub(crate) timeout_ms: Option<u64>,
    #[prost(uint64, tag = "4")]
    pub(crate) job_id: u64,
    #[prost(uint64, tag = "5")]
    pub(crate) task_id: u64,
}

/// `cluster.v1.WorkerMessage`, with each completion's output as bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct FromWorkerMessage {
    #[prost(oneof = "from_worker::Event", tags = "1, 2, 3, 4, 5")]
    pub(crate) event: Option<from_worker::Event>,
}

pub(crate) mod from_worker {
    use cluster_proto as pb;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(crate) enum Event {
        #[prost(message, tag = "1")]
        Hello(pb::WorkerInfo),
        #[prost(message, tag = "2")]
        Completions(super::CompletionBatch),
        #[prost(message, tag = "3")]
        Revoked(pb::RevokeResponse),
        #[prost(message, tag = "4")]
        Heartbeat(pb::Heartbeat),
        #[prost(message, tag = "5")]
        Draining(pb::DrainNotice),
    }
}

/// `cluster.v1.CompletionBatch`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct CompletionBatch {
    #[prost(message, repeated, tag = "1")]
    pub(crate) completions: Vec<Completion>,
}

/// `cluster.v1.Completion`, its output still encoded.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Completion {
    #[prost(uint64, tag = "1")]
    pub(crate) key: u64,
    #[prost(oneof = "completion::Outcome", tags = "3, 4")]
    pub(crate) outcome: Option<completion::Outcome>,
    #[prost(uint64, tag = "5")]
    pub(crate) run_micros: u64,
}

pub(crate) mod completion {
    use cluster_proto as pb;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(crate) enum Outcome {
        #[prost(bytes = "bytes", tag = "3")]
        Output(bytes::Bytes),
        #[prost(message, tag = "4")]
        Error(pb::TaskError),
    }
}
