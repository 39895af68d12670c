//! Cluster mode with real processes on 127.0.0.1: balance, weights, late
//! joiners, and workers that are missing or drop out.

use cluster_client::{tasks, Client};
use cluster_tests::{
    active_workers, jobs_by_worker, json_lines, stderr, stdout, submit, wait_status, Proc, SEED_INPUTS,
};

fn within_15_pct(actual: u64, expected: f64) -> bool {
    (actual as f64 - expected).abs() <= 0.15 * expected
}

#[test]
fn equal_spin_tasks_split_by_cores() {
    let two = Proc::worker(&["--cpus", "2"]);
    let one = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &two.addr, "--worker", &one.addr]);
    let out = submit(&["spin", "--ms", "20", "--count", "90", "--coordinator", &coordinator.url(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (tasks, stats) = json_lines(&stdout(&out));
    assert_eq!(tasks.len(), 90);
    let jobs = jobs_by_worker(&stats);
    assert!(within_15_pct(jobs[&two.addr], 60.0), "{jobs:?}");
    assert!(within_15_pct(jobs[&one.addr], 30.0), "{jobs:?}");
    // The text form prints the statistics table and no line per task.
    let out = submit(&["spin", "--ms", "1", "--count", "10", "--coordinator", &coordinator.url()]);
    let text = stdout(&out);
    assert!(text.starts_with("Job execution statistics:\n"), "{text}");
}

#[tokio::test]
async fn weight_splits_a_fully_dispatched_batch() {
    // Equal cores; weight says one is twice as fast. With pipelines deep
    // enough to take the whole batch, the dispatcher alone decides the
    // split: 60 to the weight-2 worker, 30 to the other.
    let fast = Proc::worker(&["--cpus", "1", "--weight", "2"]);
    let slow = Proc::worker(&["--cpus", "1", "--weight", "1"]);
    let coordinator =
        Proc::coordinator(&["--worker", &fast.addr, "--worker", &slow.addr, "--prefetch", "200"]);
    let url = coordinator.url();
    wait_status(&url, "both workers", |s| active_workers(s) == 2).await;
    let mut client = Client::connect(&url).await.unwrap();
    let run =
        tokio::spawn(
            async move { client.run("weights", (0..90).map(|i| tasks::spin(i, 500)), |_| {}).await },
        );
    let status =
        wait_status(&url, "all 90 dispatched", |s| s.workers.iter().map(|w| w.in_flight).sum::<u64>() == 90)
            .await;
    let in_flight = |addr: &str| status.workers.iter().find(|w| w.address == addr).unwrap().in_flight;
    assert_eq!((in_flight(&fast.addr), in_flight(&slow.addr)), (60, 30));
    run.abort();
}

#[tokio::test]
async fn late_registered_worker_takes_prefetched_tasks() {
    let busy = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &busy.addr]);
    let url = coordinator.url();
    wait_status(&url, "first worker", |s| active_workers(s) == 1).await;
    // Three 1.5 s tasks on one core: one runs, two are prefetched there;
    // the coordinator's queue is empty.
    let mut client = Client::connect(&url).await.unwrap();
    let run = tokio::spawn(async move {
        let mut results = Vec::new();
        client.run("late", (0..3).map(|i| tasks::spin(i, 1500)), |r| results.push(r)).await.map(|_| results)
    });
    wait_status(&url, "all tasks on the busy worker", |s| s.queued == 0 && s.workers[0].in_flight == 3).await;
    // A worker joins by itself; it advertises its host and its bound port.
    let late = Proc::worker(&["--cpus", "1", "--coordinator", &url, "--advertise", "127.0.0.1"]);
    let joined = std::time::Instant::now();
    wait_status(&url, "the late worker to get a task", |s| {
        s.workers.iter().any(|w| w.address == late.addr && w.in_flight + w.completed > 0)
    })
    .await;
    println!("late worker got its first task {:?} after it started", joined.elapsed());
    let results = run.await.unwrap().unwrap();
    assert_eq!(results.len(), 3);
    let on_late = results.iter().filter(|r| r.worker == late.addr).count();
    assert_eq!(on_late, 1, "the newest prefetched task moves to the idle worker: {results:?}");
}

#[test]
fn unreachable_static_worker_is_reported_and_others_carry_the_batch() {
    let live = Proc::worker(&["--cpus", "1"]);
    // Port 1 on loopback: nothing listens there.
    let out = submit(&[
        "sum-primes",
        "--inputs",
        "100,1000,500000",
        "--workers",
        &format!("127.0.0.1:1,{}", live.addr),
        "--local-cpus",
        "0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: worker 127.0.0.1:1 is not reachable"), "{}", stderr(&out));
    let (tasks, stats) = json_lines(&stdout(&out));
    assert_eq!(tasks[2]["output"], 9914236195u64);
    assert_eq!(jobs_by_worker(&stats).keys().cloned().collect::<Vec<_>>(), vec![live.addr.clone()]);
}

#[test]
fn no_reachable_worker_fails_fast_with_a_message() {
    let out = submit(&["sum-primes", "--inputs", "100", "--workers", "127.0.0.1:1", "--local-cpus", "0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no worker is reachable: 127.0.0.1:1"), "{}", stderr(&out));
}

#[tokio::test]
async fn worker_killed_mid_batch_does_not_lose_tasks() {
    let stays = Proc::worker(&["--cpus", "1"]);
    let dies = Proc::worker(&["--cpus", "1"]);
    let coordinator = Proc::coordinator(&["--worker", &stays.addr, "--worker", &dies.addr]);
    let url = coordinator.url();
    wait_status(&url, "both workers", |s| active_workers(s) == 2).await;
    let mut client = Client::connect(&url).await.unwrap();
    let inputs: Vec<u64> = SEED_INPUTS.to_vec();
    let run = tokio::spawn(async move {
        let mut results = Vec::new();
        let summary = client
            .run(
                "drop-out",
                inputs.into_iter().enumerate().map(|(i, n)| tasks::sum_primes(i as u64, n)),
                |r| results.push(r),
            )
            .await;
        summary.map(|s| (s, results))
    });
    wait_status(&url, "work on the doomed worker", |s| {
        s.workers.iter().any(|w| w.address == dies.addr && w.completed >= 1)
    })
    .await;
    dies.signal(9); // SIGKILL
    let (summary, mut results) = run.await.unwrap().unwrap();
    assert_eq!((summary.succeeded, summary.failed), (16, 0));
    results.sort_by_key(|r| r.id);
    let ids: Vec<u64> = results.iter().map(|r| r.id).collect();
    assert_eq!(ids, (0..16).collect::<Vec<_>>(), "each task exactly once");
}
