//! Nothing lost: workers killed, frozen, restarted and drained; clients
//! interrupted. Real processes, real signals.

use std::time::Instant;

use cluster_client::{tasks, Client, ClientError};
use cluster_proto::task_result;
use cluster_proto::TaskResult;
use cluster_tests::{
    active_workers, json_lines, signal_child, spawn_submit, stderr, stdout, submit, wait_status, Proc,
    DEADLINE,
};
use tokio::task::JoinHandle;

const SIGKILL: i32 = 9;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const SIGSTOP: i32 = 19;

#[tokio::test]
async fn chaos_kill_one_worker_freeze_another_every_result_arrives_once() {
    let workers: Vec<Proc> = (0..3).map(|_| Proc::worker(&["--cpus", "1"])).collect();
    let mut args = vec!["--heartbeat-timeout-ms", "1000"];
    for w in &workers {
        args.extend(["--worker", w.addr.as_str()]);
    }
    let coordinator = Proc::coordinator(&args);
    let url = coordinator.url();
    wait_status(&url, "three workers", |s| active_workers(s) == 3).await;
    // 600 tasks over six distinct inputs around 200,000.
    let distinct: Vec<u64> = (0..6).map(|i| 200_000 + 100 * i).collect();
    let expected: Vec<u64> = distinct.iter().map(|&n| cluster_tasks::sum_primes(n)).collect();
    let inputs: Vec<String> = (0..600).map(|i| distinct[i % 6].to_string()).collect();
    let inputs = inputs.join(",");
    let submit_url = url.clone();
    let run = tokio::task::spawn_blocking(move || {
        submit(&["sum-primes", "--inputs", &inputs, "--coordinator", &submit_url, "--json"])
    });
    wait_status(&url, "some progress", |s| s.workers.iter().map(|w| w.completed).sum::<u64>() >= 60).await;
    workers[0].signal(SIGKILL);
    workers[1].signal(SIGSTOP); // frozen, never resumed
    let out = run.await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (results, stats) = json_lines(&stdout(&out));
    assert_eq!(results.len(), 600);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
        assert_eq!(r["output"], expected[i % 6], "task {i}: {r}");
    }
    assert_eq!(stats["succeeded"], 600);
    let status = wait_status(&url, "the frozen worker declared lost", |s| active_workers(s) == 1).await;
    println!("late results dropped: {}", status.late_results);
    assert!(coordinator.log().contains("no message or heartbeat for"), "{}", coordinator.log());
}

#[tokio::test]
async fn worker_restarted_on_the_same_address_gets_tasks_again() {
    let first = Proc::worker(&["--cpus", "1"]);
    let addr = first.addr.clone();
    let coordinator = Proc::coordinator(&["--worker", &addr]);
    let url = coordinator.url();
    wait_status(&url, "the worker", |s| active_workers(s) == 1).await;
    first.signal(SIGKILL);
    drop(first);
    wait_status(&url, "the worker lost", |s| active_workers(s) == 0).await;
    let _second = Proc::start("cluster-worker", &["--cpus", "1", "--listen", &addr]);
    wait_status(&url, "the worker back", |s| active_workers(s) == 1).await;
    let mut client = Client::connect(&url).await.unwrap();
    let mut on = Vec::new();
    let summary =
        client.run("again", (0..5).map(|i| tasks::sum_primes(i, 1000)), |r| on.push(r.worker)).await;
    assert_eq!(summary.unwrap().succeeded, 5);
    assert!(on.iter().all(|w| *w == addr), "{on:?}");
}

#[tokio::test]
async fn self_registered_worker_rejoins_a_restarted_coordinator() {
    let first = Proc::coordinator(&[]);
    let addr = first.addr.clone();
    let url = first.url();
    let worker = Proc::worker(&["--cpus", "1", "--coordinator", &url, "--advertise", "127.0.0.1"]);
    wait_status(&url, "registration", |s| active_workers(s) == 1).await;
    first.signal(SIGKILL);
    drop(first);
    let second = Proc::start("cluster-coordinator", &["--listen", &addr]);
    wait_status(&second.url(), "re-registration", |s| active_workers(s) == 1).await;
    let mut client = Client::connect(&second.url()).await.unwrap();
    let mut on = Vec::new();
    let summary = client.run("again", (0..3).map(tasks::noop), |r| on.push(r.worker)).await.unwrap();
    assert_eq!(summary.succeeded, 3);
    assert!(on.iter().all(|w| *w == worker.addr));
}

#[tokio::test]
async fn sigint_on_submit_cancels_every_task_of_its_batch() {
    let worker = Proc::worker(&["--cpus", "2"]);
    let coordinator = Proc::coordinator(&["--worker", &worker.addr]);
    let url = coordinator.url();
    wait_status(&url, "the worker", |s| active_workers(s) == 1).await;
    let mut child = spawn_submit(&["spin", "--ms", "10000", "--count", "100", "--coordinator", &url]);
    wait_status(&url, "tasks running", |s| s.workers[0].in_flight > 0).await;
    signal_child(&child, SIGINT);
    let interrupted = Instant::now();
    let status = child.wait().unwrap();
    assert!(!status.success());
    wait_status(&url, "nothing of the batch left", |s| {
        s.queued == 0 && s.active_jobs == 0 && s.workers.iter().all(|w| w.in_flight == 0)
    })
    .await;
    println!("all tasks stopped {:?} after SIGINT", interrupted.elapsed());
    // The worker is free again: a new job runs at once.
    let mut client = Client::connect(&url).await.unwrap();
    assert_eq!(client.run("next", (0..4).map(tasks::noop), |_| {}).await.unwrap().succeeded, 4);
}

#[tokio::test]
async fn cancel_by_job_id_from_another_client() {
    let worker = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &worker.addr]);
    let url = coordinator.url();
    let mut owner = Client::connect(&url).await.unwrap();
    let run =
        tokio::spawn(async move { owner.run("long", (0..20).map(|i| tasks::spin(i, 10_000)), |_| {}).await });
    let status =
        wait_status(&url, "the job", |s| s.jobs.len() == 1 && s.workers.iter().any(|w| w.in_flight > 0))
            .await;
    let job = status.jobs[0].job_id;
    let mut other = Client::connect(&url).await.unwrap();
    assert_eq!(other.cancel(job).await.unwrap(), 20);
    let err = run.await.unwrap().unwrap_err().to_string();
    assert!(err.contains(&format!("job {job} was cancelled by a Cancel call")), "{err}");
    wait_status(&url, "worker idle", |s| s.workers.iter().all(|w| w.in_flight == 0)).await;
}

#[tokio::test]
async fn sigterm_on_a_busy_worker_finishes_and_delivers_its_tasks() {
    let leaving = Proc::worker(&["--cpus", "1"]);
    let (_staying, coordinator, run) = spin_over_two(&leaving, 20, 300).await;
    let url = coordinator.url();
    wait_status(&url, "work on the leaving worker", |s| {
        s.workers.iter().any(|w| w.address == leaving.addr && w.in_flight > 0 && w.completed >= 1)
    })
    .await;
    leaving.signal(SIGTERM);
    let mut leaving = leaving;
    assert_eq!(leaving.wait_exit(), Some(0), "{}", leaving.log());
    let results = run.await.unwrap().unwrap();
    assert_eq!(results.len(), 20);
    assert!(results.iter().all(|r| matches!(r.outcome, Some(task_result::Outcome::Output(_)))));
    // Nothing was lost: the task it was running finished there and no task
    // needed a second attempt.
    assert!(results.iter().all(|r| r.attempts == 1), "{results:?}");
    assert!(results.iter().filter(|r| r.worker == leaving.addr).count() >= 2);
    assert!(leaving.log().contains("drained: every task finished and was reported"), "{}", leaving.log());
}

#[tokio::test]
async fn sigterm_on_the_coordinator_tells_clients_and_exits_cleanly() {
    let worker = Proc::worker(&["--cpus", "1"]);
    let mut coordinator = Proc::coordinator(&["--worker", &worker.addr]);
    let url = coordinator.url();
    wait_status(&url, "the worker", |s| active_workers(s) == 1).await;
    let mut client = Client::connect(&url).await.unwrap();
    let run =
        tokio::spawn(async move { client.run("cut", (0..10).map(|i| tasks::spin(i, 5_000)), |_| {}).await });
    wait_status(&url, "running", |s| s.workers[0].in_flight > 0).await;
    coordinator.signal(SIGTERM);
    let err = tokio::time::timeout(DEADLINE, run).await.unwrap().unwrap().unwrap_err().to_string();
    assert!(err.contains("the coordinator is shutting down"), "{err}");
    assert_eq!(coordinator.wait_exit(), Some(0), "{}", coordinator.log());
}

#[tokio::test]
async fn drain_grace_over_hands_running_tasks_back_to_run_elsewhere() {
    let leaving = Proc::start_with_env(
        "cluster-worker",
        &["--listen", "127.0.0.1:0", "--cpus", "1", "--drain-grace-ms", "200"],
        &[("RUST_LOG", "debug")],
    );
    let (staying, coordinator, run) = spin_over_two(&leaving, 2, 2_000).await;
    let url = coordinator.url();
    wait_status(&url, "a task on each worker", |s| s.workers.iter().all(|w| w.in_flight == 1)).await;
    leaving.wait_log("task started"); // running there, not just sent
    leaving.signal(SIGTERM);
    let mut leaving = leaving;
    assert_eq!(leaving.wait_exit(), Some(0), "{}", leaving.log());
    assert!(leaving.log().contains("stopped and handed back"), "{}", leaving.log());
    let results = run.await.unwrap().unwrap();
    assert_eq!(results.len(), 2);
    assert!(
        results.iter().all(|r| matches!(r.outcome, Some(task_result::Outcome::Output(_)))),
        "{results:?}"
    );
    assert!(results.iter().all(|r| r.worker == staying.addr), "{results:?}");
    assert_eq!(results.iter().map(|r| r.attempts).max(), Some(2), "the stopped task ran again");
}

/// A coordinator over `leaving` and a fresh one-core worker (returned first),
/// running `count` spin tasks of `ms` in the background.
async fn spin_over_two(
    leaving: &Proc,
    count: u64,
    ms: u64,
) -> (Proc, Proc, JoinHandle<Result<Vec<TaskResult>, ClientError>>) {
    let staying = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &leaving.addr, "--worker", &staying.addr]);
    let url = coordinator.url();
    wait_status(&url, "both workers", |s| active_workers(s) == 2).await;
    let mut client = Client::connect(&url).await.unwrap();
    let run = tokio::spawn(async move {
        let mut results = Vec::new();
        client
            .run("spin", (0..count).map(move |i| tasks::spin(i, ms)), |r| results.push(r))
            .await
            .map(|_| results)
    });
    (staying, coordinator, run)
}
