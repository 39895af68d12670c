//! The coordinator's wire edge: every conversion between proto messages and
//! the scheduler's types happens here, once. Services and links call these;
//! the actor and the scheduler never see a proto type.
//!
//! The worker session uses two messages of its own, wire-compatible with
//! `cluster.v1.CoordinatorMessage` and `WorkerMessage`: a task travels to
//! the worker as the bytes encoded once at submission (a protobuf embedded
//! message and a `bytes` field are the same on the wire), and a worker's
//! output travels back to the client without being rebuilt.

use bytes::Bytes;
use cluster_proto::batch::{self, framed_len};
use cluster_proto::{self as pb, submit_response, ErrorCode};
use prost::Message;

use crate::actor::{Assign, StatusReport, ToWorker, WorkerRow};
use crate::sched::{
    FailureCode, Finished, Held, JobId, JobSpec, JobSummary, NewTask, Outcome, TaskKey, TaskReport,
    WorkerDesc, MAX_CORES,
};

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

fn failure_code(code: i32) -> FailureCode {
    match ErrorCode::try_from(code) {
        Ok(ErrorCode::InvalidInput) => FailureCode::InvalidInput,
        Ok(ErrorCode::UnknownKind) => FailureCode::UnknownKind,
        Ok(ErrorCode::TaskFailed) => FailureCode::TaskFailed,
        Ok(ErrorCode::TimedOut) => FailureCode::TimedOut,
        Ok(ErrorCode::WorkerLost) => FailureCode::WorkerLost,
        Ok(ErrorCode::Cancelled) => FailureCode::Cancelled,
        Ok(ErrorCode::ResultTooLarge) => FailureCode::ResultTooLarge,
        Ok(ErrorCode::Unspecified) | Err(_) => FailureCode::Unspecified,
    }
}

fn error_code(code: FailureCode) -> ErrorCode {
    match code {
        FailureCode::InvalidInput => ErrorCode::InvalidInput,
        FailureCode::UnknownKind => ErrorCode::UnknownKind,
        FailureCode::TaskFailed => ErrorCode::TaskFailed,
        FailureCode::TimedOut => ErrorCode::TimedOut,
        FailureCode::WorkerLost => ErrorCode::WorkerLost,
        FailureCode::Cancelled => ErrorCode::Cancelled,
        FailureCode::ResultTooLarge => ErrorCode::ResultTooLarge,
        FailureCode::Unspecified => ErrorCode::Unspecified,
    }
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

/// A task's result as its client gets it.
pub(crate) fn task_result(report: TaskReport) -> pb::TaskResult {
    let outcome = match report.outcome {
        // Checked when it arrived (`finished`).
        Outcome::Output(bytes) => {
            pb::task_result::Outcome::Output(pb::TaskOutput::decode(bytes).unwrap_or_default())
        }
        Outcome::Failed { code, message, detail } => {
            // Checked when it arrived too: it was one before it was bytes.
            let exec = detail.and_then(|bytes| pb::ExecOutput::decode(bytes).ok());
            pb::task_result::Outcome::Error(pb::TaskError { code: error_code(code) as i32, message, exec })
        }
    };
    pb::TaskResult {
        id: report.id,
        outcome: Some(outcome),
        worker: report.worker,
        run_micros: report.run_micros,
        attempts: report.attempts,
    }
}

/// Results as messages under the client's size limit.
pub(crate) fn result_messages(reports: Vec<TaskReport>, max_message_bytes: usize) -> Vec<pb::SubmitResponse> {
    result_batches(reports.into_iter().map(task_result), max_message_bytes)
}

fn result_batches(
    results: impl Iterator<Item = pb::TaskResult>,
    max_message_bytes: usize,
) -> Vec<pb::SubmitResponse> {
    batch::split(results, max_message_bytes, Message::encoded_len)
        .into_iter()
        .map(|results| response(submit_response::Event::Results(pb::ResultBatch { results })))
        .collect()
}

/// Results kept in the state directory (each an encoded `TaskResult`) as
/// messages under the client's size limit; an unreadable one is skipped.
pub(crate) fn stored_result_messages(
    stored: Vec<Bytes>,
    max_message_bytes: usize,
) -> Vec<pb::SubmitResponse> {
    result_batches(
        stored.into_iter().filter_map(|bytes| pb::TaskResult::decode(bytes).ok()),
        max_message_bytes,
    )
}

pub(crate) fn response(event: submit_response::Event) -> pb::SubmitResponse {
    pb::SubmitResponse { event: Some(event) }
}

pub(crate) fn summary(summary: JobSummary) -> pb::JobSummary {
    let workers = summary
        .shares
        .into_iter()
        .map(|s| pb::WorkerShare {
            worker: s.worker,
            cores: s.cores,
            jobs: s.tasks,
            busy_micros: s.busy_micros,
        })
        .collect();
    pb::JobSummary { succeeded: summary.succeeded, failed: summary.failed, workers }
}

/// The status report, as one message of at most `max_message_bytes`:
/// rows past the limit are left out and counted.
pub(crate) fn status(report: StatusReport, max_message_bytes: usize) -> pb::StatusResponse {
    let mut room = batch::budget(max_message_bytes);
    let mut omitted = 0;
    let mut fits = |len: usize| {
        let framed = framed_len(len);
        let fit = framed <= room;
        if fit {
            room -= framed;
        } else {
            omitted += 1;
        }
        fit
    };
    let workers: Vec<_> =
        report.workers.into_iter().map(worker_status).filter(|w| fits(w.encoded_len())).collect();
    let jobs: Vec<_> = report
        .jobs
        .into_iter()
        .map(|j| pb::JobStatus {
            job_id: j.id.0,
            name: j.name,
            submitted: j.submitted,
            finished: j.finished,
            waiting_for_client: j.paused,
            blocked: j.blocked.unwrap_or_default(),
            failed: j.failed,
        })
        .filter(|j| fits(j.encoded_len()))
        .collect();
    let recent_jobs: Vec<_> = report
        .recent_jobs
        .into_iter()
        .map(|j| pb::FinishedJobStatus {
            job_id: j.id.0,
            name: j.name,
            submitted: j.submitted,
            succeeded: j.succeeded,
            failed: j.failed,
            cancelled: j.cancelled.unwrap_or_default(),
            duration_ms: j.duration_ms,
        })
        .filter(|j| fits(j.encoded_len()))
        .collect();
    pb::StatusResponse {
        workers,
        queued: report.queued,
        active_jobs: report.active_jobs,
        version: crate::VERSION.into(),
        late_results: report.late_results,
        jobs,
        omitted_rows: omitted,
        recent_jobs,
    }
}

fn worker_status(row: WorkerRow) -> pb::WorkerStatus {
    use crate::actor::LinkState;
    let state = match row.state {
        LinkState::Connecting => pb::WorkerState::Connecting,
        LinkState::Active => pb::WorkerState::Active,
        LinkState::Draining => pb::WorkerState::Draining,
        LinkState::Lost => pb::WorkerState::Lost,
    };
    let (name, worker_id, cores, weight, labels, version) = match row.desc {
        Some(d) => (d.name, d.id, d.cores, d.weight, d.labels.into_iter().collect(), d.version),
        None => (row.address.clone(), String::new(), 0, 0.0, Default::default(), String::new()),
    };
    pb::WorkerStatus {
        address: name,
        worker_id,
        dial_address: row.address,
        cores,
        weight,
        state: state as i32,
        in_flight: row.in_flight,
        completed: row.completed,
        running: row.running,
        prefetched: row.in_flight.saturating_sub(row.running),
        failed: row.failed,
        labels,
        version,
        last_error: row.last_error,
        stuck_slots: row.stuck,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_decodes_as_the_proto_one_with_the_task_inside() {
        let task = pb::Task {
            id: 9,
            kind: "sum-primes".into(),
            input: Some(pb::task::Input::SumPrimes(pb::SumPrimesInput { n: 100 })),
        };
        let new = new_task(task);
        assert_eq!(new.id, 9);
        let assign = Assign {
            key: TaskKey(5),
            job: crate::sched::JobId(2),
            task_id: 9,
            payload: new.payload,
            timeout_ms: Some(30),
        };
        let messages = to_worker_messages(ToWorker::Assign(vec![assign]), 1 << 20);
        let decoded = pb::CoordinatorMessage::decode(messages[0].encode_to_vec().as_slice()).unwrap();
        let Some(pb::coordinator_message::Event::Assign(batch)) = decoded.event else {
            panic!("{decoded:?}")
        };
        let expected = pb::Task {
            id: 0,
            kind: "sum-primes".into(),
            input: Some(pb::task::Input::SumPrimes(pb::SumPrimesInput { n: 100 })),
        };
        let assignment =
            pb::Assignment { key: 5, task: Some(expected), timeout_ms: Some(30), job_id: 2, task_id: 9 };
        assert_eq!(batch.tasks, [assignment]);
    }

    #[test]
    fn a_worker_completion_keeps_its_output_bytes_to_the_client() {
        let output = pb::TaskOutput { value: Some(pb::task_output::Value::SumPrimes(1060)) };
        let sent = pb::WorkerMessage {
            event: Some(pb::worker_message::Event::Completions(pb::CompletionBatch {
                completions: vec![pb::Completion {
                    key: 3,
                    outcome: Some(pb::completion::Outcome::Output(output.clone())),
                    run_micros: 12,
                }],
            })),
        };
        let got = FromWorkerMessage::decode(sent.encode_to_vec().as_slice()).unwrap();
        let Some(from_worker::Event::Completions(batch)) = got.event else { panic!("{got:?}") };
        let (key, done) = finished(batch.completions.into_iter().next().unwrap());
        assert_eq!((key, done.run_micros), (TaskKey(3), 12));
        let report =
            TaskReport { id: 1, outcome: done.outcome, worker: "w".into(), run_micros: 12, attempts: 1 };
        assert_eq!(task_result(report).outcome, Some(pb::task_result::Outcome::Output(output)));
    }

    #[test]
    fn malformed_or_missing_outcomes_fail_the_task() {
        let garbage = Completion {
            key: 1,
            outcome: Some(completion::Outcome::Output(Bytes::from_static(&[0xff]))),
            run_micros: 0,
        };
        let (_, done) = finished(garbage);
        assert!(
            matches!(done.outcome, Outcome::Failed { code: FailureCode::TaskFailed, ref message, .. } if message.contains("malformed output"))
        );
        let (_, done) = finished(Completion { key: 1, outcome: None, run_micros: 0 });
        assert!(matches!(done.outcome, Outcome::Failed { code: FailureCode::TaskFailed, .. }));
    }

    #[test]
    fn the_worker_hello_is_validated_once() {
        let info = pb::WorkerInfo { cores: 0, weight: f64::NAN, ..Default::default() };
        let desc = worker_desc("10.0.0.1:35000", info);
        assert_eq!((desc.name.as_str(), desc.cores, desc.weight), ("10.0.0.1:35000", 1, 1.0));
        let info = pb::WorkerInfo { cores: u32::MAX, weight: 2.0, name: "big".into(), ..Default::default() };
        let desc = worker_desc("x:1", info);
        assert_eq!((desc.name.as_str(), desc.cores, desc.weight), ("big", MAX_CORES, 2.0));
    }

    #[test]
    fn a_status_too_large_for_a_message_is_cut_and_says_so() {
        use crate::actor::{LinkState, WorkerRow};
        use crate::sched::{JobId, JobStats};
        let row = |i: usize| WorkerRow {
            address: format!("10.0.{}.{}:35000", i / 256, i % 256),
            desc: None,
            state: LinkState::Connecting,
            in_flight: 0,
            completed: 0,
            failed: 0,
            running: 0,
            stuck: 0,
            last_error: "x".repeat(100),
        };
        let job = |i: u64| JobStats {
            id: JobId(i),
            name: "j".repeat(50),
            submitted: 1,
            finished: 0,
            paused: false,
            blocked: None,
            failed: 0,
        };
        let report = StatusReport {
            workers: (0..5_000).map(row).collect(),
            queued: 0,
            active_jobs: 5_000,
            late_results: 0,
            jobs: (0..5_000).map(job).collect(),
            recent_jobs: Vec::new(),
        };
        let max = 256 << 10;
        let status = status(report, max);
        assert!(status.encoded_len() <= max, "{} bytes", status.encoded_len());
        let kept = (status.workers.len() + status.jobs.len()) as u64;
        assert_eq!(kept + status.omitted_rows, 10_000);
        assert!(status.omitted_rows > 0 && !status.workers.is_empty());
        assert_eq!(status.workers[0].address, "10.0.0.0:35000", "the first rows are kept");
    }

    #[test]
    fn a_payload_fits_an_assignment_only_with_room_for_its_envelope() {
        let max = 1 << 20;
        let budget = batch::budget(max);
        assert!(fits_in_assignment(budget - 64, max));
        assert!(!fits_in_assignment(budget - 8, max));
    }
}
