//! Bad input fails alone, with a message that names what was wrong.

use anyhow::Result;
use cluster_client::{tasks, JobEvent};
use cluster_proto::{task, task_result, ErrorCode, JobOptions, Task};
use cluster_testkit::{json_lines, panics, stderr, stdout, submit, TestCluster};

#[test]
fn non_numeric_input_is_refused_before_submitting() -> Result<()> {
    let out = submit(["sum-primes", "--inputs", "5,abc"])?;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("'abc'"), "{err}");
    assert!(stdout(&out).is_empty(), "nothing may run: {}", stdout(&out));
    Ok(())
}

#[test]
fn too_large_n_fails_alone_and_exit_is_non_zero() -> Result<()> {
    let out = submit(["sum-primes", "--inputs", "100,20000001,10", "--local-cpus", "1", "--json"])?;
    assert_eq!(out.status.code(), Some(1));
    let (tasks, stats) = json_lines(&stdout(&out));
    assert_eq!(tasks[0]["output"], 1060);
    assert_eq!(tasks[1]["error"], "sum-primes: n = 20000001 is above the maximum 20000000");
    assert_eq!(tasks[2]["output"], 17);
    assert_eq!(stats["failed"], 1);
    // The text form says it too.
    let out = submit(["sum-primes", "--inputs", "20000001", "--local-cpus", "1"])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("failed: sum-primes: n = 20000001 is above the maximum 20000000"));
    Ok(())
}

#[tokio::test]
async fn unknown_kind_through_grpc_fails_alone() -> Result<()> {
    let cluster = TestCluster::builder().worker(1).start().await?;
    let mut client = cluster.client();
    let batch = vec![
        tasks::sum_primes(0, 100),
        Task { id: 1, kind: "fib".into(), input: Some(task::Input::Custom(vec![1, 2, 3].into())) },
        Task { id: 2, kind: "sum-primes".into(), input: None },
        tasks::noop(3),
    ];
    let mut results = Vec::new();
    let mut notices = Vec::new();
    let options =
        JobOptions { name: "mixed".into(), unroutable_timeout_ms: Some(200), ..JobOptions::default() };
    let summary = client
        .run_events(options, batch, |event| match event {
            JobEvent::Result(r) => results.push(r),
            JobEvent::Notice(n) => notices.push(n),
            _ => {}
        })
        .await?;
    results.sort_by_key(|r| r.id);
    // No worker runs `fib`: the client is told at once, and the task fails
    // after the wait, naming what the workers offer.
    assert_eq!(notices, ["waiting: no worker runs kind 'fib' (1 workers connected)"]);
    assert_eq!((summary.succeeded, summary.failed), (2, 2));
    let error = |i: usize| match &results[i].outcome {
        Some(task_result::Outcome::Error(e)) => (ErrorCode::try_from(e.code).unwrap(), e.message.clone()),
        other => panic!("task {i} should fail: {other:?}"),
    };
    assert_eq!(
        error(1),
        (
            ErrorCode::UnknownKind,
            "no worker runs kind 'fib' after waiting 200 ms; the workers offer noop, spin, sum-primes".into()
        )
    );
    assert_eq!(
        error(2),
        (ErrorCode::InvalidInput, "sum-primes expects a sum-primes input, got no input".into())
    );
    assert!(matches!(results[0].outcome, Some(task_result::Outcome::Output(_))));
    assert!(matches!(results[3].outcome, Some(task_result::Outcome::Output(_))));
    // Both servers are still there and serving, and nothing panicked.
    let again = client.run("after", vec![tasks::sum_primes(0, 10)], |_| {}).await?;
    assert_eq!(again.succeeded, 1);
    assert_eq!(panics(), 0);
    Ok(())
}
