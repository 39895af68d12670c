//! Many workers: one coordinator process holding 1,000 worker sessions over
//! real gRPC connections, against the same run with 2. The workers are the
//! real `cluster_worker` library (1 core each, heartbeats, self-registered),
//! many in this process; the coordinator is its own process, so its memory
//! and CPU time are read from `/proc`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cluster_client::tasks::noop;
use cluster_proto::task_output::Value;
use cluster_testkit::{active_workers, Proc};
use cluster_worker::{RunningWorker, WorkerConfig};
use serde_json::json;

use super::{check_results, cpu_seconds, deadline, thousands, Figure, Plan, Row};

/// Goal: coordinator memory per idle connected worker, in bytes.
const MEMORY_GOAL: f64 = 64.0 * 1024.0;
/// Target: noop throughput with many workers, as a share of the 2-worker run.
const RATIO_TARGET: f64 = 0.5;
/// How long the idle coordinator's CPU time is sampled.
const IDLE_WINDOW: Duration = Duration::from_secs(2);

/// One run's measurements.
struct Run {
    workers: usize,
    tasks_per_s: f64,
    /// RSS growth from no workers to all of them connected, per worker.
    bytes_per_worker: f64,
    /// Coordinator CPU (share of one core) while all workers sit idle.
    idle_cpu: f64,
    /// Coordinator CPU time per task during the noop job.
    cpu_ns_per_task: f64,
    connect_s: f64,
    split_max: u64,
}

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let few = measure(plan, 2).await.context("the 2-worker run")?;
    let many = measure(plan, plan.many_workers)
        .await
        .with_context(|| format!("the {}-worker run", plan.many_workers))?;
    let ratio = many.tasks_per_s / few.tasks_per_s;
    let kib = |b: f64| b / 1024.0;
    let n = thousands(many.workers as u64);
    let detail = |r: &Run| {
        format!(
            "{} workers x 1 cpu (real sessions, self-registered, in one bench process) connected in {:.1} s; \
             {} noop tasks: {} tasks/s, coordinator CPU {:.0} ns/task, most tasks on one worker {}; \
             idle coordinator CPU {:.1}% of a core",
            thousands(r.workers as u64),
            r.connect_s,
            thousands(plan.many_workers_tasks),
            thousands(r.tasks_per_s as u64),
            r.cpu_ns_per_task,
            r.split_max,
            r.idle_cpu * 100.0
        )
    };
    let rows = vec![
        Row::new(format!("workers={n} throughput"), format!("{} tasks/s ({ratio:.2}x W=2)", thousands(many.tasks_per_s as u64)))
            .target(format!(">= {RATIO_TARGET}x W=2"), ratio >= RATIO_TARGET)
            .detail(detail(&many)),
        Row::new("workers=2 throughput", format!("{} tasks/s", thousands(few.tasks_per_s as u64))).detail(detail(&few)),
        Row::new(format!("memory per idle worker (W={n})"), format!("{:.1} KiB", kib(many.bytes_per_worker)))
            .target(format!("<= {:.0} KiB (goal)", kib(MEMORY_GOAL)), many.bytes_per_worker <= MEMORY_GOAL)
            .detail(format!(
                "coordinator RSS growth from 0 to {n} connected idle workers, per worker; idle CPU per worker {:.4}% of a core (heartbeats every 500 ms)",
                many.idle_cpu * 100.0 / many.workers as f64
            )),
    ];
    let as_json = |r: &Run| {
        json!({
            "workers": r.workers,
            "tasks_per_s": r.tasks_per_s,
            "bytes_per_worker": r.bytes_per_worker,
            "idle_cpu_share": r.idle_cpu,
            "cpu_ns_per_task": r.cpu_ns_per_task,
            "connect_s": r.connect_s,
        })
    };
    Ok(Figure {
        rows,
        json: json!({
            "tasks": plan.many_workers_tasks,
            "few": as_json(&few),
            "many": as_json(&many),
            "ratio": ratio,
            "target_ratio": RATIO_TARGET,
            "memory_goal_bytes": MEMORY_GOAL,
            "met": ratio >= RATIO_TARGET,
        }),
    })
}

/// A coordinator process with `n` in-process workers registered to it: idle
/// memory and CPU, then a noop job.
async fn measure(plan: &Plan, n: usize) -> Result<Run> {
    let mut coordinator = Proc::coordinator(&plan.coordinator_args)?;
    let mut client = coordinator.client().await?;
    client.status().await.context("status")?; // the server has served a request
    let (baseline, _) = coordinator.rss()?;

    let start = Instant::now();
    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        workers.push(start_worker(&coordinator.url()).await?);
    }
    wait_active(&mut client, &mut coordinator, n).await?;
    let connect_s = start.elapsed().as_secs_f64();

    let cpu0 = cpu_seconds(coordinator.pid())?;
    let idle_window = if plan.quick { IDLE_WINDOW / 4 } else { IDLE_WINDOW };
    tokio::time::sleep(idle_window).await;
    let idle_cpu = (cpu_seconds(coordinator.pid())? - cpu0) / idle_window.as_secs_f64();
    let (rss, _) = coordinator.rss()?;

    let tasks = plan.many_workers_tasks;
    let mut results = Vec::with_capacity(tasks as usize);
    let cpu0 = cpu_seconds(coordinator.pid())?;
    let t = Instant::now();
    let summary = deadline(
        plan.job_timeout,
        "the noop job",
        client.run("bench-workers", (0..tasks).map(noop), |r| results.push(r)),
    )
    .await?
    .context("the noop job")?;
    let elapsed = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds(coordinator.pid())? - cpu0;
    coordinator.check_alive()?;
    check_results(tasks, &results, &summary, |id, output| match output.value {
        Some(Value::Noop(_)) => Ok(()),
        ref other => bail!("noop task {id} returned {other:?}"),
    })?;
    drop(coordinator); // killed first, so the workers' shutdown is quick
    for worker in workers {
        worker.shutdown().await;
    }
    Ok(Run {
        workers: n,
        tasks_per_s: tasks as f64 / elapsed,
        bytes_per_worker: rss.saturating_sub(baseline) as f64 / n as f64,
        idle_cpu,
        cpu_ns_per_task: cpu * 1e9 / tasks as f64,
        connect_s,
        split_max: summary.workers.iter().map(|w| w.jobs).max().unwrap_or(0),
    })
}

/// A 1-core worker on loopback that registers with `coordinator`.
async fn start_worker(coordinator: &str) -> Result<RunningWorker> {
    let config = WorkerConfig {
        cores: 1,
        coordinator: Some(coordinator.to_string()),
        advertise: Some("127.0.0.1".into()),
        ..WorkerConfig::new("127.0.0.1:0".parse()?)
    };
    Ok(cluster_worker::start(config, cluster_tasks::Registry::builtin()).await?)
}

/// Polls status (not too often: with many workers it is a large answer)
/// until `n` workers are active.
async fn wait_active(client: &mut cluster_client::Client, coordinator: &mut Proc, n: usize) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let status = client.status().await.context("status")?;
        if active_workers(&status) >= n {
            return Ok(());
        }
        coordinator.check_alive()?;
        if Instant::now() > until {
            bail!("only {} of {n} workers active after 120 s", active_workers(&status));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
