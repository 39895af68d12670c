//! Chaos at scale: self-registering workers killed (SIGKILL and SIGTERM
//! mixed), replaced, killed while registering, frozen and resumed, while
//! one job runs; every result must arrive exactly once and be right.
//!
//! CI runs 8 workers and 1,500 tasks; `CLUSTER_TEST_CHURN=20,5000` runs the
//! full size (20 workers, 5,000 tasks).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Result};
use cluster_auth::Security;
use cluster_client::tasks;
use cluster_proto::{task_output, task_result};
use cluster_testkit::{active_workers, connect, wait_status, Cmd, Proc, Signal};

/// A tiny deterministic generator, so a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % sides as u64) as usize
    }
}

fn worker(url: &str) -> Result<Proc> {
    Cmd::new("cluster-worker")?
        .args(["--listen", "127.0.0.1:0", "--cpus", "1", "--coordinator", url, "--advertise", "127.0.0.1"])
        .args(["--drain-grace-ms", "200"])
        .start()
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_churning_through_a_job_lose_and_double_nothing() -> Result<()> {
    let size = std::env::var("CLUSTER_TEST_CHURN").unwrap_or_else(|_| "8,1500".into());
    let (workers, total) = match size.split_once(',').map(|(w, t)| (w.parse::<usize>(), t.parse::<u64>())) {
        Some((Ok(w), Ok(t))) => (w, t),
        _ => bail!("CLUSTER_TEST_CHURN is WORKERS,TASKS, got {size}"),
    };
    let coordinator = Proc::coordinator([
        "--heartbeat-timeout-ms",
        "500",
        "--max-attempts",
        "20",
        "--forget-lost-ms",
        "1000",
    ])?;
    let url = coordinator.url();
    let mut pool: Vec<Proc> = (0..workers).map(|_| worker(&url)).collect::<Result<_>>()?;
    let mut client = connect(&url, &Security::default()).await?;
    wait_status(&mut client, "every worker", |s| active_workers(s) == workers).await?;

    // Sums of primes below 50,000 + i % 7: a few milliseconds each.
    let n = |i: u64| 50_000 + i % 7;
    let batch: Vec<_> = (0..total).map(|i| tasks::sum_primes(i, n(i))).collect();
    let mut job_client = client.clone();
    let job = tokio::spawn(async move {
        let mut results = Vec::new();
        let summary = job_client.run("churn", batch, |r| results.push(r)).await;
        (summary, results)
    });

    let mut dice = Dice(7);
    // A frozen worker stays frozen for four rounds: past the heartbeat
    // timeout, so it is declared lost, then resumes and registers again.
    let mut frozen: Option<(Proc, u32)> = None;
    let mut events = BTreeMap::<&str, u32>::new();
    while !job.is_finished() {
        // Chaos at a steady pace, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(150)).await;
        match frozen.take() {
            Some((proc, 0)) => {
                proc.signal(Signal::Cont);
                pool.push(proc);
                *events.entry("resumed").or_default() += 1;
            }
            Some((proc, rounds)) => frozen = Some((proc, rounds - 1)),
            None => {}
        }
        let victim = pool.remove(dice.roll(pool.len()));
        match dice.roll(4) {
            0 if frozen.is_none() => {
                victim.signal(Signal::Stop);
                frozen = Some((victim, 4));
                *events.entry("frozen").or_default() += 1;
            }
            1 => {
                victim.signal(Signal::Term);
                *events.entry("SIGTERM").or_default() += 1;
            }
            _ => {
                victim.signal(Signal::Kill);
                *events.entry("SIGKILL").or_default() += 1;
            }
        }
        // A replacement; now and then one killed while it registers.
        if dice.roll(5) == 0 {
            worker(&url)?.signal(Signal::Kill);
            *events.entry("killed while registering").or_default() += 1;
        }
        pool.push(worker(&url)?);
    }
    if let Some((proc, _)) = frozen.take() {
        proc.signal(Signal::Cont);
    }
    let (summary, results) = job.await?;
    let summary = summary?;
    eprintln!(
        "{workers} workers, {total} tasks: {events:?}; summary {} ok, {} failed",
        summary.succeeded, summary.failed
    );
    assert_eq!((summary.succeeded, summary.failed), (total, 0));
    let mut seen = vec![0u32; total as usize];
    for result in &results {
        seen[result.id as usize] += 1;
        let Some(task_result::Outcome::Output(output)) = &result.outcome else {
            bail!("task {} failed: {result:?}", result.id)
        };
        let expected = cluster_tasks::sum_primes(n(result.id));
        assert_eq!(output.value, Some(task_output::Value::SumPrimes(expected)), "task {}", result.id);
    }
    assert!(seen.iter().all(|&count| count == 1), "every result exactly once");
    Ok(())
}
