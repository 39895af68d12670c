//! Timeouts, backpressure, oversized messages and garbage on the wire.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use anyhow::Result;
use cluster_client::tasks;
use cluster_proto::{task, task_result, ErrorCode, JobOptions, Task};
use cluster_tasks::{CancelToken, Input, Output, Registry, TaskError, TaskKind};
use cluster_testkit::{active_workers, connect, panics, wait_status, Proc, TestCluster, WorkerSpec};

fn error_of(result: &cluster_proto::TaskResult) -> (ErrorCode, String) {
    match &result.outcome {
        Some(task_result::Outcome::Error(e)) => (ErrorCode::try_from(e.code).unwrap(), e.message.clone()),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn task_over_its_timeout_fails_after_max_attempts_others_succeed() -> Result<()> {
    let cluster =
        TestCluster::builder().worker(1).worker(1).coordinator(|c| c.core.max_attempts = 2).start().await?;
    let batch: Vec<Task> =
        std::iter::once(tasks::spin(0, 60_000)).chain((1..6).map(|i| tasks::spin(i, 10))).collect();
    let options = JobOptions { name: "timeouts".into(), timeout_ms: Some(300), ..JobOptions::default() };
    let mut results = Vec::new();
    let summary = cluster.client().run_with(options, batch, |_| {}, |r| results.push(r)).await?;
    assert_eq!((summary.succeeded, summary.failed), (5, 1));
    results.sort_by_key(|r| r.id);
    let (code, message) = error_of(&results[0]);
    assert_eq!(code, ErrorCode::TimedOut);
    assert!(message.starts_with("timed out after 300 ms on each of 2 attempts (on "), "{message}");
    assert_eq!(results[0].attempts, 2);
    // The slot was freed: the stopped task no longer holds a core.
    cluster.wait_status("workers idle", |s| s.workers.iter().all(|w| w.in_flight == 0)).await?;
    Ok(())
}

#[tokio::test]
async fn a_million_tasks_are_flow_controlled_by_max_queued() -> Result<()> {
    // A real process, for its resident memory. No workers: nothing drains,
    // so only flow control keeps the queue bounded.
    let coordinator = Proc::coordinator(["--max-queued", "1000"])?;
    let (baseline, _) = coordinator.rss()?;
    // Two connections: the submission's flow control must not hold the status calls.
    let mut client = connect(&coordinator.url(), &Default::default()).await?;
    let mut submitter = connect(&coordinator.url(), &Default::default()).await?;
    let run =
        tokio::spawn(async move { submitter.run("million", (0..1_000_000).map(tasks::noop), |_| {}).await });
    wait_status(&mut client, "the queue full", |s| s.queued == 1000).await?;
    // The client keeps pushing; the queue stays at its bound.
    for _ in 0..20 {
        let status = client.status().await?;
        assert!(status.queued <= 1000, "queue over its bound: {}", status.queued);
        assert_eq!(status.jobs[0].submitted, 1000);
    }
    let (rss, peak) = coordinator.rss()?;
    println!("coordinator RSS: baseline {baseline} B, now {rss} B, peak {peak} B with 1000 queued");
    assert!(peak < 64 << 20, "coordinator peak RSS {peak} B with a 1000-task queue");
    run.abort();
    Ok(())
}

#[tokio::test]
async fn oversized_submission_gets_resource_exhausted_with_a_message() -> Result<()> {
    let cluster =
        TestCluster::builder().worker(1).coordinator(|c| c.max_message_bytes = 1 << 20).start().await?;
    let mut client = cluster.client();
    let huge =
        Task { id: 0, kind: "echo".into(), input: Some(task::Input::Custom(vec![7u8; 2 << 20].into())) };
    let err = client.run("huge", vec![huge], |_| {}).await.unwrap_err().to_string();
    assert!(err.contains("the coordinator is out of room"), "{err}");
    assert!(err.contains("over the coordinator's limit of 1048576 bytes"), "{err}");
    // Still serving.
    assert_eq!(client.run("small", vec![tasks::noop(0)], |_| {}).await?.succeeded, 1);
    Ok(())
}

#[tokio::test]
async fn random_bytes_on_each_port_leave_the_servers_serving() -> Result<()> {
    let cluster = TestCluster::builder().worker(1).start().await?;
    let garbage: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for addr in [cluster.addr(0), cluster.coordinator_addr()] {
        let addr: SocketAddr = addr.parse()?;
        let mut stream = TcpStream::connect(addr)?;
        let _ = stream.write_all(&garbage); // the server may hang up first
                                            // A half-open connection too: connect, send nothing, keep it open.
        std::mem::forget(TcpStream::connect(addr)?);
    }
    cluster.wait_for_workers(1).await?;
    assert_eq!(cluster.client().run("after", (0..10).map(tasks::noop), |_| {}).await?.succeeded, 10);
    assert_eq!(panics(), 0);
    Ok(())
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
async fn result_too_large_fails_its_task_and_the_worker_stays() -> Result<()> {
    let worker = WorkerSpec::cores(1)
        .registry(Registry::builtin().with("blob", Blob))
        .with(|c| c.max_message_bytes = 64 << 10);
    let cluster = TestCluster::builder().worker(worker).start().await?;
    let blob = |id, len: u32| Task {
        id,
        kind: "blob".into(),
        input: Some(task::Input::Custom(len.to_le_bytes().to_vec().into())),
    };
    let mut client = cluster.client();
    let mut results = Vec::new();
    let summary = client.run("blobs", vec![blob(0, 200_000), blob(1, 1000)], |r| results.push(r)).await?;
    assert_eq!((summary.succeeded, summary.failed), (1, 1));
    results.sort_by_key(|r| r.id);
    let (code, message) = error_of(&results[0]);
    assert_eq!(code, ErrorCode::ResultTooLarge);
    assert!(message.starts_with("result of 2000"), "{message}");
    assert!(message.ends_with("is over the 64512-byte message limit (--max-message-bytes)"), "{message}");
    let status = client.status().await?;
    assert_eq!(active_workers(&status), 1, "the worker stays in service");
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn task_too_large_to_hand_to_a_worker_fails_alone() -> Result<()> {
    let cluster =
        TestCluster::builder().worker(1).coordinator(|c| c.max_message_bytes = 1 << 20).start().await?;
    let mut client = cluster.client();
    // Fits in a submission message, not in an assignment with its envelope.
    let big =
        Task { id: 1, kind: "echo".into(), input: Some(task::Input::Custom(vec![7u8; 1_048_000].into())) };
    let mut results = Vec::new();
    let summary = client.run("big", vec![tasks::noop(0), big], |r| results.push(r)).await?;
    assert_eq!((summary.succeeded, summary.failed), (1, 1));
    results.sort_by_key(|r| r.id);
    let (code, message) = error_of(&results[1]);
    assert_eq!(code, ErrorCode::InvalidInput);
    assert!(
        message.ends_with("is over the 1047552-byte limit of a message to a worker (--max-message-bytes)"),
        "{message}"
    );
    let status = client.status().await?;
    assert_eq!(status.workers[0].last_error, "", "the worker session never broke");
    assert_eq!(active_workers(&status), 1);
    Ok(())
}
