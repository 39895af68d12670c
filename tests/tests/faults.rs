//! Nothing lost: workers killed, frozen, restarted and drained; clients
//! interrupted. Signals go to real processes; the rest runs in-process.

use std::time::{Duration, Instant};

use anyhow::Result;
use cluster_client::{tasks, Client, ClientError};
use cluster_proto::task_result;
use cluster_proto::TaskResult;
use cluster_tasks::{Registry, Spin};
use cluster_testkit::{
    announced, connect, json_lines, stderr, stdout, submit, wait_status, Cmd, Proc, ProcCluster, Signal,
    TestCluster, WorkerSpec, DEADLINE,
};
use tokio::task::JoinHandle;

#[tokio::test(flavor = "multi_thread")]
async fn chaos_kill_one_worker_freeze_another_every_result_arrives_once() -> Result<()> {
    let cpus = || vec!["--cpus", "1"];
    let cluster = ProcCluster::start(&[cpus(), cpus(), cpus()], &["--heartbeat-timeout-ms", "1000"]).await?;
    // 600 tasks over six distinct inputs around 200,000.
    let distinct: Vec<u64> = (0..6).map(|i| 200_000 + 100 * i).collect();
    let expected: Vec<u64> = distinct.iter().map(|&n| cluster_tasks::sum_primes(n)).collect();
    let inputs: Vec<String> = (0..600).map(|i| distinct[i % 6].to_string()).collect();
    let args = vec![
        "sum-primes".into(),
        "--inputs".into(),
        inputs.join(","),
        "--coordinator".into(),
        cluster.url(),
        "--json".into(),
    ];
    let run = tokio::task::spawn_blocking(move || submit(args));
    cluster
        .wait_status("some progress", |s| s.workers.iter().map(|w| w.completed).sum::<u64>() >= 60)
        .await?;
    cluster.workers[0].signal(Signal::Kill);
    cluster.workers[1].signal(Signal::Stop); // frozen, never resumed
    let out = run.await??;
    assert!(out.status.success(), "{}", stderr(&out));
    let (results, stats) = json_lines(&stdout(&out));
    assert_eq!(results.len(), 600);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
        assert_eq!(r["output"], expected[i % 6], "task {i}: {r}");
    }
    assert_eq!(stats["succeeded"], 600);
    let status = cluster
        .wait_status("the frozen worker declared lost", |s| cluster_testkit::active_workers(s) == 1)
        .await?;
    println!("late results dropped: {}", status.late_results);
    let log = cluster.coordinator.log();
    assert!(log.contains("no message or heartbeat for"), "{log}");
    Ok(())
}

#[tokio::test]
async fn worker_restarted_on_the_same_address_gets_tasks_again() -> Result<()> {
    let mut cluster = ProcCluster::start(&[vec!["--cpus", "1"]], &[]).await?;
    let addr = cluster.workers[0].addr().to_string();
    cluster.workers[0].signal(Signal::Kill);
    cluster.workers.clear();
    cluster.wait_status("the worker lost", |s| cluster_testkit::active_workers(s) == 0).await?;
    let _second = Cmd::new("cluster-worker")?.args(["--cpus", "1", "--listen", &addr]).start()?;
    cluster.wait_status("the worker back", |s| cluster_testkit::active_workers(s) == 1).await?;
    let mut on = Vec::new();
    let summary = cluster
        .client()
        .await?
        .run("again", (0..5).map(|i| tasks::sum_primes(i, 1000)), |r| on.push(r.worker))
        .await;
    assert_eq!(summary?.succeeded, 5);
    assert!(on.iter().all(|w| *w == addr), "{on:?}");
    Ok(())
}

#[tokio::test]
async fn self_registered_worker_rejoins_a_restarted_coordinator() -> Result<()> {
    let first = Proc::coordinator([] as [&str; 0])?;
    let (addr, url) = (first.addr().to_string(), first.url());
    let worker = Proc::worker(["--cpus", "1", "--coordinator", &url, "--advertise", "127.0.0.1"])?;
    let active = |s: &cluster_proto::StatusResponse| cluster_testkit::active_workers(s) == 1;
    wait_status(&mut connect(&url, &Default::default()).await?, "registration", active).await?;
    first.signal(Signal::Kill);
    drop(first);
    let second = Cmd::new("cluster-coordinator")?.args(["--listen", &addr]).start()?;
    let mut client = connect(&second.url(), &Default::default()).await?;
    wait_status(&mut client, "re-registration", active).await?;
    let mut on = Vec::new();
    let summary = client.run("again", (0..3).map(tasks::noop), |r| on.push(r.worker)).await?;
    assert_eq!(summary.succeeded, 3);
    assert!(on.iter().all(|w| *w == worker.addr()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_on_submit_cancels_every_task_of_its_batch() -> Result<()> {
    let cluster = TestCluster::builder().worker(2).start().await?;
    let mut submit = Cmd::new("cluster-submit")?
        .args(["spin", "--ms", "10000", "--count", "100", "--coordinator", cluster.url()])
        .spawn()?;
    cluster.wait_status("tasks running", |s| s.workers[0].in_flight > 0).await?;
    submit.signal(Signal::Int);
    let interrupted = Instant::now();
    let status = tokio::task::block_in_place(|| submit.wait_exit(DEADLINE))?;
    assert!(!status.success());
    cluster
        .wait_status("nothing of the batch left", |s| {
            s.queued == 0 && s.active_jobs == 0 && s.workers.iter().all(|w| w.in_flight == 0)
        })
        .await?;
    println!("all tasks stopped {:?} after SIGINT", interrupted.elapsed());
    // The worker is free again: a new job runs at once.
    assert_eq!(cluster.client().run("next", (0..4).map(tasks::noop), |_| {}).await?.succeeded, 4);
    Ok(())
}

#[tokio::test]
async fn cancel_by_job_id_from_another_client() -> Result<()> {
    let cluster = TestCluster::builder().worker(1).start().await?;
    let mut owner = cluster.client();
    let run =
        tokio::spawn(async move { owner.run("long", (0..20).map(|i| tasks::spin(i, 10_000)), |_| {}).await });
    let status = cluster
        .wait_status("the job", |s| s.jobs.len() == 1 && s.workers.iter().any(|w| w.in_flight > 0))
        .await?;
    let job = status.jobs[0].job_id;
    let mut other = cluster.connect().await?;
    assert_eq!(other.cancel(job).await?, 20);
    let err = run.await?.unwrap_err().to_string();
    assert!(err.contains(&format!("job {job} was cancelled by a Cancel call")), "{err}");
    cluster.wait_status("worker idle", |s| s.workers.iter().all(|w| w.in_flight == 0)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_a_busy_worker_finishes_and_delivers_its_tasks() -> Result<()> {
    let mut cluster = ProcCluster::start(&[vec!["--cpus", "1"], vec!["--cpus", "1"]], &[]).await?;
    let leaving = cluster.workers[0].addr().to_string();
    let run = spin(cluster.client().await?, 20, 300);
    cluster
        .wait_status("work on the leaving worker", |s| {
            s.workers.iter().any(|w| w.address == leaving && w.in_flight > 0 && w.completed >= 1)
        })
        .await?;
    cluster.workers[0].signal(Signal::Term);
    let exit = tokio::task::block_in_place(|| cluster.workers[0].wait_exit(DEADLINE))?;
    let log = cluster.workers[0].log();
    assert_eq!(exit.code(), Some(0), "{log}");
    let results = run.await??;
    assert_eq!(results.len(), 20);
    assert!(results.iter().all(|r| matches!(r.outcome, Some(task_result::Outcome::Output(_)))));
    // Nothing was lost: the task it was running finished there and no task
    // needed a second attempt.
    assert!(results.iter().all(|r| r.attempts == 1), "{results:?}");
    assert!(results.iter().filter(|r| r.worker == leaving).count() >= 2);
    assert!(log.contains("drained: every task finished and was reported"), "{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_the_coordinator_tells_clients_and_exits_cleanly() -> Result<()> {
    let mut cluster = ProcCluster::start(&[vec!["--cpus", "1"]], &[]).await?;
    let mut client = cluster.client().await?;
    let run =
        tokio::spawn(async move { client.run("cut", (0..10).map(|i| tasks::spin(i, 5_000)), |_| {}).await });
    cluster.wait_status("running", |s| s.workers[0].in_flight > 0).await?;
    cluster.coordinator.signal(Signal::Term);
    let err = tokio::time::timeout(DEADLINE, run).await??.unwrap_err().to_string();
    assert!(err.contains("the coordinator is shutting down"), "{err}");
    let exit = tokio::task::block_in_place(|| cluster.coordinator.wait_exit(DEADLINE))?;
    assert_eq!(exit.code(), Some(0), "{}", cluster.coordinator.log());
    Ok(())
}

#[tokio::test]
async fn drain_grace_over_hands_running_tasks_back_to_run_elsewhere() -> Result<()> {
    // The leaving worker's spin reports each task it starts, so the drain
    // begins while a task is running there, not merely sent there.
    let (spin_kind, mut started) = announced(Spin);
    let mut cluster = TestCluster::builder()
        .worker(WorkerSpec::cores(1).registry(Registry::builtin().with("spin", spin_kind)))
        .worker(1)
        .start()
        .await?;
    let staying = cluster.addr(1).to_string();
    let run = spin(cluster.client(), 2, 2_000);
    cluster.wait_status("a task on each worker", |s| s.workers.iter().all(|w| w.in_flight == 1)).await?;
    tokio::time::timeout(DEADLINE, started.recv()).await?.expect("a task started on the leaving worker");
    let left = cluster.take_worker(0).drain(Duration::from_millis(200)).await;
    assert_eq!(left, 1, "the grace period ended with its task still running: it was stopped and handed back");
    let results = run.await??;
    assert_eq!(results.len(), 2);
    assert!(
        results.iter().all(|r| matches!(r.outcome, Some(task_result::Outcome::Output(_)))),
        "{results:?}"
    );
    assert!(results.iter().all(|r| r.worker == staying), "{results:?}");
    assert_eq!(results.iter().map(|r| r.attempts).max(), Some(2), "the stopped task ran again");
    Ok(())
}

/// Runs `count` spin tasks of `ms` in the background.
fn spin(mut client: Client, count: u64, ms: u64) -> JoinHandle<Result<Vec<TaskResult>, ClientError>> {
    tokio::spawn(async move {
        let mut results = Vec::new();
        client
            .run("spin", (0..count).map(move |i| tasks::spin(i, ms)), |r| results.push(r))
            .await
            .map(|_| results)
    })
}
