//! Timeouts, backpressure, oversized messages and garbage on the wire.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use cluster_client::{tasks, Client};
use cluster_proto::{task, task_result, ErrorCode, JobOptions, Task};
use cluster_tasks::{CancelToken, Input, Output, Registry, TaskError, TaskKind};
use cluster_tests::{active_workers, wait_status, Proc};

fn error_of(result: &cluster_proto::TaskResult) -> (ErrorCode, String) {
    match &result.outcome {
        Some(task_result::Outcome::Error(e)) => (ErrorCode::try_from(e.code).unwrap(), e.message.clone()),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn task_over_its_timeout_fails_after_max_attempts_others_succeed() {
    let a = Proc::worker(&["--cpus", "1"]);
    let b = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &a.addr, "--worker", &b.addr, "--max-attempts", "2"]);
    let url = coordinator.url();
    wait_status(&url, "workers", |s| active_workers(s) == 2).await;
    let mut client = Client::connect(&url).await.unwrap();
    let batch: Vec<Task> =
        std::iter::once(tasks::spin(0, 60_000)).chain((1..6).map(|i| tasks::spin(i, 10))).collect();
    let options = JobOptions { name: "timeouts".into(), timeout_ms: Some(300) };
    let mut results = Vec::new();
    let summary = client.run_with(options, batch, |_| {}, |r| results.push(r)).await.unwrap();
    assert_eq!((summary.succeeded, summary.failed), (5, 1));
    results.sort_by_key(|r| r.id);
    let (code, message) = error_of(&results[0]);
    assert_eq!(code, ErrorCode::TimedOut);
    assert!(message.starts_with("timed out after 300 ms on each of 2 attempts (on "), "{message}");
    assert_eq!(results[0].attempts, 2);
    // The slot was freed: the stopped task no longer holds a core.
    wait_status(&url, "workers idle", |s| s.workers.iter().all(|w| w.in_flight == 0)).await;
}

#[tokio::test]
async fn a_million_tasks_are_flow_controlled_by_max_queued() {
    // No workers: nothing drains, so only flow control keeps the queue bounded.
    let coordinator = Proc::coordinator(&["--max-queued", "1000"]);
    let url = coordinator.url();
    let (baseline, _) = coordinator.rss();
    let mut client = Client::connect(&url).await.unwrap();
    let run =
        tokio::spawn(async move { client.run("million", (0..1_000_000).map(tasks::noop), |_| {}).await });
    wait_status(&url, "the queue full", |s| s.queued == 1000).await;
    // The client keeps pushing; the queue stays at its bound.
    for _ in 0..20 {
        let status = wait_status(&url, "a status", |_| true).await;
        assert!(status.queued <= 1000, "queue over its bound: {}", status.queued);
        assert_eq!(status.jobs[0].submitted, 1000);
    }
    let (rss, peak) = coordinator.rss();
    println!("coordinator RSS: baseline {baseline} B, now {rss} B, peak {peak} B with 1000 queued");
    assert!(peak < 64 << 20, "coordinator peak RSS {peak} B with a 1000-task queue");
    run.abort();
}

#[tokio::test]
async fn oversized_submission_gets_resource_exhausted_with_a_message() {
    let worker = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &worker.addr, "--max-message-bytes", "1048576"]);
    let mut client = Client::connect(&coordinator.url()).await.unwrap();
    let huge =
        Task { id: 0, kind: "echo".into(), input: Some(task::Input::Custom(vec![7u8; 2 << 20].into())) };
    let err = client.run("huge", vec![huge], |_| {}).await.unwrap_err().to_string();
    assert!(err.contains("ResourceExhausted"), "{err}");
    assert!(err.contains("over the coordinator's limit of 1048576 bytes"), "{err}");
    // Still serving.
    assert_eq!(client.run("small", vec![tasks::noop(0)], |_| {}).await.unwrap().succeeded, 1);
}

#[tokio::test]
async fn random_bytes_on_each_port_leave_the_servers_serving() {
    let worker = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &worker.addr]);
    let garbage: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for addr in [&worker.addr, &coordinator.addr] {
        let addr: SocketAddr = addr.parse().unwrap();
        let mut stream = TcpStream::connect(addr).unwrap();
        let _ = stream.write_all(&garbage); // the server may hang up first
                                            // A half-open connection too: connect, send nothing, keep it open.
        std::mem::forget(TcpStream::connect(addr).unwrap());
    }
    let url = coordinator.url();
    wait_status(&url, "the worker", |s| active_workers(s) == 1).await;
    let mut client = Client::connect(&url).await.unwrap();
    assert_eq!(client.run("after", (0..10).map(tasks::noop), |_| {}).await.unwrap().succeeded, 10);
    assert!(!worker.log().contains("panicked") && !coordinator.log().contains("panicked"));
}

/// A kind whose result is as large as its input says.
struct Blob;

impl TaskKind for Blob {
    fn run(&self, input: &Input, _: &CancelToken) -> Result<Output, TaskError> {
        match input {
            Input::Custom(bytes) => {
                let len = u32::from_le_bytes(
                    bytes[..4].try_into().map_err(|_| TaskError::invalid_input("4 bytes"))?,
                );
                Ok(Output::Custom(vec![1u8; len as usize].into()))
            }
            other => Err(TaskError::invalid_input(format!("blob wants bytes, got {}", other.describe()))),
        }
    }
}

#[tokio::test]
async fn result_too_large_fails_its_task_and_the_worker_stays() {
    let config = cluster_worker::WorkerConfig {
        cores: 1,
        max_message_bytes: 64 << 10,
        ..cluster_worker::WorkerConfig::new("127.0.0.1:0".parse().unwrap())
    };
    let worker = cluster_worker::start(config, Registry::builtin().with("blob", Blob)).await.unwrap();
    let addr = worker.addr().to_string();
    let coordinator = Proc::coordinator(&["--worker", &addr]);
    let blob = |id, len: u32| Task {
        id,
        kind: "blob".into(),
        input: Some(task::Input::Custom(len.to_le_bytes().to_vec().into())),
    };
    let mut client = Client::connect(&coordinator.url()).await.unwrap();
    let mut results = Vec::new();
    let summary =
        client.run("blobs", vec![blob(0, 200_000), blob(1, 1000)], |r| results.push(r)).await.unwrap();
    assert_eq!((summary.succeeded, summary.failed), (1, 1));
    results.sort_by_key(|r| r.id);
    let (code, message) = error_of(&results[0]);
    assert_eq!(code, ErrorCode::ResultTooLarge);
    assert!(message.starts_with("result of 2000"), "{message}");
    assert!(message.ends_with("is over the 64512-byte message limit (--max-message-bytes)"), "{message}");
    let status = client.status().await.unwrap();
    assert_eq!(active_workers(&status), 1, "the worker stays in service");
    worker.shutdown().await;
}

#[tokio::test]
async fn task_too_large_to_hand_to_a_worker_fails_alone() {
    let worker = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &worker.addr, "--max-message-bytes", "1048576"]);
    let url = coordinator.url();
    wait_status(&url, "the worker", |s| active_workers(s) == 1).await;
    let mut client = Client::connect(&url).await.unwrap();
    // Fits in a submission message, not in an assignment with its envelope.
    let big =
        Task { id: 1, kind: "echo".into(), input: Some(task::Input::Custom(vec![7u8; 1_048_000].into())) };
    let mut results = Vec::new();
    let summary = client.run("big", vec![tasks::noop(0), big], |r| results.push(r)).await.unwrap();
    assert_eq!((summary.succeeded, summary.failed), (1, 1));
    results.sort_by_key(|r| r.id);
    let (code, message) = error_of(&results[1]);
    assert_eq!(code, ErrorCode::InvalidInput);
    assert!(
        message.ends_with("is over the 1047552-byte limit of a message to a worker (--max-message-bytes)"),
        "{message}"
    );
    let status = client.status().await.unwrap();
    assert_eq!(status.workers[0].last_error, "", "the worker session never broke");
    assert_eq!(active_workers(&status), 1);
}
