//! The wire edge's tests: proto messages in and out, decoded as the other
//! side decodes them.

use bytes::Bytes;
use cluster_proto::{self as pb, batch};
use prost::Message;

use super::session::{completion, Completion};
use super::*;
use crate::actor::{Assign, StatusReport, ToWorker};
use crate::sched::{FailureCode, Outcome, TaskKey, TaskReport, MAX_CORES};

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
    let Some(pb::coordinator_message::Event::Assign(batch)) = decoded.event else { panic!("{decoded:?}") };
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
    let report = TaskReport { id: 1, outcome: done.outcome, worker: "w".into(), run_micros: 12, attempts: 1 };
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
