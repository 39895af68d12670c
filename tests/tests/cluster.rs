//! Cluster mode on 127.0.0.1: balance, weights, late joiners, and workers
//! that are missing or drop out.

use anyhow::Result;
use cluster_client::tasks;
use cluster_testkit::{
    jobs_by_worker, json_lines, stderr, stdout, submit, Proc, ProcCluster, Signal, TestCluster, WorkerSpec,
    SEED_INPUTS,
};

fn within_15_pct(actual: u64, expected: f64) -> bool {
    (actual as f64 - expected).abs() <= 0.15 * expected
}

#[tokio::test(flavor = "multi_thread")]
async fn equal_spin_tasks_split_by_cores() -> Result<()> {
    let cluster = TestCluster::builder().worker(2).worker(1).start().await?;
    let mut on = Vec::new();
    let summary =
        cluster.client().run("split", (0..90).map(|i| tasks::spin(i, 20)), |r| on.push(r.worker)).await?;
    assert_eq!((summary.succeeded, on.len()), (90, 90));
    let jobs = |addr: &str| on.iter().filter(|w| *w == addr).count() as u64;
    let (two, one) = (jobs(cluster.addr(0)), jobs(cluster.addr(1)));
    assert!(within_15_pct(two, 60.0) && within_15_pct(one, 30.0), "2-core {two}, 1-core {one} of 90");
    // cluster-submit's text form prints the statistics table and no line per task.
    let args = ["spin", "--ms", "1", "--count", "10", "--coordinator", cluster.url()];
    let out = tokio::task::block_in_place(|| submit(args))?;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Job execution statistics:\n"), "{text}");
    Ok(())
}

#[tokio::test]
async fn weight_splits_a_fully_dispatched_batch() -> Result<()> {
    // Equal cores; weight says one is twice as fast. With pipelines deep
    // enough to take the whole batch, the dispatcher alone decides the
    // split: 60 to the weight-2 worker, 30 to the other.
    let cluster = TestCluster::builder()
        .worker(WorkerSpec::cores(1).weight(2.0))
        .worker(WorkerSpec::cores(1).weight(1.0))
        .coordinator(|c| c.core.prefetch_per_core = 200)
        .start()
        .await?;
    let mut client = cluster.client();
    let run =
        tokio::spawn(
            async move { client.run("weights", (0..90).map(|i| tasks::spin(i, 500)), |_| {}).await },
        );
    let status = cluster
        .wait_status("all 90 dispatched", |s| s.workers.iter().map(|w| w.in_flight).sum::<u64>() == 90)
        .await?;
    let in_flight = |addr: &str| status.workers.iter().find(|w| w.address == addr).unwrap().in_flight;
    assert_eq!((in_flight(cluster.addr(0)), in_flight(cluster.addr(1))), (60, 30));
    run.abort();
    Ok(())
}

#[tokio::test]
async fn late_registered_worker_takes_prefetched_tasks() -> Result<()> {
    let mut cluster = TestCluster::builder().worker(1).start().await?;
    // Three 1.5 s tasks on one core: one runs, two are prefetched there;
    // the coordinator's queue is empty.
    let mut client = cluster.client();
    let run = tokio::spawn(async move {
        let mut results = Vec::new();
        client.run("late", (0..3).map(|i| tasks::spin(i, 1500)), |r| results.push(r)).await.map(|_| results)
    });
    cluster
        .wait_status("all tasks on the busy worker", |s| s.queued == 0 && s.workers[0].in_flight == 3)
        .await?;
    // A worker joins by itself; it advertises its host and its bound port.
    let late = cluster.add_worker(1).await?;
    let late = cluster.addr(late).to_string();
    let joined = std::time::Instant::now();
    cluster
        .wait_status("the late worker to get a task", |s| {
            s.workers.iter().any(|w| w.address == late && w.in_flight + w.completed > 0)
        })
        .await?;
    println!("late worker got its first task {:?} after it started", joined.elapsed());
    let results = run.await??;
    assert_eq!(results.len(), 3);
    let on_late = results.iter().filter(|r| r.worker == late).count();
    assert_eq!(on_late, 1, "the newest prefetched task moves to the idle worker: {results:?}");
    Ok(())
}

#[test]
fn unreachable_static_worker_is_reported_and_others_carry_the_batch() -> Result<()> {
    let live = Proc::worker(["--cpus", "1"])?;
    // Port 1 on loopback: nothing listens there.
    let out = submit([
        "sum-primes",
        "--inputs",
        "100,1000,500000",
        "--workers",
        &format!("127.0.0.1:1,{}", live.addr()),
        "--local-cpus",
        "0",
        "--json",
    ])?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: worker 127.0.0.1:1 is not reachable"), "{}", stderr(&out));
    let (tasks, stats) = json_lines(&stdout(&out));
    assert_eq!(tasks[2]["output"], 9914236195u64);
    assert_eq!(jobs_by_worker(&stats).keys().cloned().collect::<Vec<_>>(), vec![live.addr().to_string()]);
    Ok(())
}

#[test]
fn no_reachable_worker_fails_fast_with_a_message() -> Result<()> {
    let out = submit(["sum-primes", "--inputs", "100", "--workers", "127.0.0.1:1", "--local-cpus", "0"])?;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no worker is reachable: 127.0.0.1:1"), "{}", stderr(&out));
    Ok(())
}

#[tokio::test]
async fn worker_killed_mid_batch_does_not_lose_tasks() -> Result<()> {
    let cpus = || vec!["--cpus", "1"];
    let cluster = ProcCluster::start(&[cpus(), cpus()], &[]).await?;
    let dies = cluster.workers[1].addr().to_string();
    let mut client = cluster.client().await?;
    let run = tokio::spawn(async move {
        let mut results = Vec::new();
        let tasks: Vec<_> =
            SEED_INPUTS.iter().enumerate().map(|(i, &n)| tasks::sum_primes(i as u64, n)).collect();
        let summary = client.run("drop-out", tasks, |r| results.push(r)).await;
        summary.map(|s| (s, results))
    });
    cluster
        .wait_status("work on the doomed worker", |s| {
            s.workers.iter().any(|w| w.address == dies && w.completed >= 1)
        })
        .await?;
    cluster.workers[1].signal(Signal::Kill);
    let (summary, mut results) = run.await??;
    assert_eq!((summary.succeeded, summary.failed), (16, 0));
    results.sort_by_key(|r| r.id);
    let ids: Vec<u64> = results.iter().map(|r| r.id).collect();
    assert_eq!(ids, (0..16).collect::<Vec<_>>(), "each task exactly once");
    Ok(())
}
