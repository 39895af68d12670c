//! A worker's session at the wire edge: its hello, its reports on tasks,
//! and the actor's messages to it, split under its size limit.

use bytes::Bytes;
use cluster_proto::{self as pb, batch};
use prost::Message;

use super::codes::failure_code;
use super::session::{completion, to_worker, AssignBatch, Assignment, Completion, ToWorkerMessage};
use crate::actor::{Assign, ToWorker};
use crate::sched::{FailureCode, Finished, Held, JobId, Outcome, TaskKey, WorkerDesc, MAX_CORES};

// The scheduler's cap is the protocol's.
const _: () = assert!(MAX_CORES == pb::MAX_CORES);

/// A worker's hello, validated: the name falls back to the address, the
/// weight to 1, and the core count is capped.
pub(crate) fn worker_desc(address: &str, info: pb::WorkerInfo) -> WorkerDesc {
    let name = if info.name.is_empty() { address.to_string() } else { info.name };
    let weight = if info.weight.is_finite() && info.weight > 0.0 { info.weight } else { 1.0 };
    // A worker that names no id is known by its address.
    let id = if info.worker_id.is_empty() { address.to_string() } else { info.worker_id };
    WorkerDesc {
        id,
        name,
        address: address.to_string(),
        cores: info.cores.clamp(1, MAX_CORES),
        weight,
        labels: info.labels.into_iter().collect(),
        kinds: info.kinds,
        version: info.version,
    }
}

/// The tasks a worker's hello says it kept from its previous session.
pub(crate) fn held_tasks(info: &mut pb::WorkerInfo) -> Vec<Held> {
    std::mem::take(&mut info.held)
        .into_iter()
        .map(|held| Held {
            job: JobId(held.job_id),
            task_id: held.task_id,
            // Re-read as the session's completions are, output as bytes.
            finished: held
                .completion
                .and_then(|done| Completion::decode(done.encode_to_vec().as_slice()).ok())
                .map(|done| finished(done).1),
        })
        .collect()
}

/// A worker's report on one task. An output that does not decode as a
/// `TaskOutput`, or a report without an outcome, fails the task.
pub(crate) fn finished(done: Completion) -> (TaskKey, Finished) {
    let outcome = match done.outcome {
        Some(completion::Outcome::Output(bytes)) => match pb::TaskOutput::decode(bytes.clone()) {
            Ok(_) => Outcome::Output(bytes),
            Err(e) => {
                Outcome::failed(FailureCode::TaskFailed, format!("the worker sent a malformed output: {e}"))
            }
        },
        Some(completion::Outcome::Error(e)) => {
            let detail = e.exec.map(|exec| Bytes::from(exec.encode_to_vec()));
            Outcome::Failed { code: failure_code(e.code), message: e.message, detail }
        }
        None => Outcome::failed(FailureCode::TaskFailed, "the worker reported the task without an outcome"),
    };
    (TaskKey(done.key), Finished { outcome, run_micros: done.run_micros })
}

/// One message of the actor's to a worker, as session messages under the
/// worker's size limit.
pub(crate) fn to_worker_messages(message: ToWorker, max_message_bytes: usize) -> Vec<ToWorkerMessage> {
    let keys = |keys: Vec<TaskKey>| batch::split(keys, max_message_bytes, |k| key_len(k.0));
    let events: Vec<to_worker::Event> = match message {
        ToWorker::Assign(tasks) => {
            let tasks = tasks.into_iter().map(|a: Assign| Assignment {
                key: a.key.0,
                task: a.payload,
                timeout_ms: a.timeout_ms,
                job_id: a.job.0,
                task_id: a.task_id,
            });
            batch::split(tasks, max_message_bytes, Message::encoded_len)
                .into_iter()
                .map(|tasks| to_worker::Event::Assign(AssignBatch { tasks }))
                .collect()
        }
        ToWorker::Cancel(list) => keys(list)
            .into_iter()
            .map(|keys| {
                to_worker::Event::Cancel(pb::CancelTasks { keys: keys.into_iter().map(|k| k.0).collect() })
            })
            .collect(),
        ToWorker::Adopt(adoptions) => {
            let tasks = adoptions
                .into_iter()
                .map(|(job, task_id, key)| pb::Adoption {
                    job_id: job.0,
                    task_id,
                    adopted: key.is_some(),
                    key: key.map_or(0, |k| k.0),
                })
                .collect();
            vec![to_worker::Event::Adopt(pb::AdoptTasks { tasks })]
        }
        // Never split: the worker answers each request once, and the
        // scheduler asks for at most a worker's prefetched tasks.
        ToWorker::Revoke(list) => {
            vec![to_worker::Event::Revoke(pb::RevokeRequest {
                keys: list.into_iter().map(|k| k.0).collect(),
            })]
        }
    };
    events.into_iter().map(|event| ToWorkerMessage { event: Some(event) }).collect()
}

/// The protocol version this coordinator speaks.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

/// The first message of a session: the worker heartbeats at a third of the
/// coordinator's timeout (or more often, if it is set to).
pub(crate) fn session_start(heartbeat_timeout: std::time::Duration, durable: bool) -> ToWorkerMessage {
    let timeout_ms = heartbeat_timeout.as_millis() as u64;
    let start = pb::SessionStart {
        protocol_version: PROTOCOL_VERSION,
        heartbeat_interval_ms: (timeout_ms / 3).max(1),
        heartbeat_timeout_ms: timeout_ms,
        durable,
    };
    ToWorkerMessage { event: Some(to_worker::Event::Start(start)) }
}

fn key_len(key: u64) -> usize {
    prost::encoding::encoded_len_varint(key)
}
