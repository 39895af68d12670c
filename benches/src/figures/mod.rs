//! The figures: each runs one benchmark and returns its table rows and its
//! JSON object. A figure fails (an `Err`) only when a run fails or its
//! results are wrong, never because it was slow.

pub(crate) mod dispatch;
pub(crate) mod durable;
pub(crate) mod efficiency;
pub(crate) mod embedded;
pub(crate) mod exec;
pub(crate) mod latency;
pub(crate) mod memory;
pub(crate) mod seed;
pub(crate) mod throughput;
pub(crate) mod workers;

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use cluster_testkit::ProcCluster;

/// Figure names, in the order they run; `--only` takes one of these.
pub(crate) const NAMES: [&str; 10] = [
    "throughput",
    "durable",
    "latency",
    "embedded",
    "efficiency",
    "seed",
    "exec",
    "memory",
    "workers",
    "dispatch",
];

/// What to run: how big each benchmark is, and extra flags for the
/// processes it starts.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) quick: bool,
    /// Extra flags for every coordinator started (e.g. `--prefetch=8`).
    pub(crate) coordinator_args: Vec<String>,
    /// Extra flags for every worker started.
    pub(crate) worker_args: Vec<String>,
    pub(crate) throughput_tasks: u64,
    pub(crate) latency_jobs: usize,
    pub(crate) spin_tasks: u64,
    pub(crate) spin_ms: u64,
    pub(crate) exec_tasks: u64,
    pub(crate) queued_tasks: u64,
    pub(crate) dispatch_workers: Vec<usize>,
    pub(crate) dispatch_cycles: u64,
    /// Workers in the many-workers figure, and its noop tasks.
    pub(crate) many_workers: usize,
    pub(crate) many_workers_tasks: u64,
    /// Longest any one job may run before the figure fails as hung.
    pub(crate) job_timeout: Duration,
}

impl Plan {
    pub(crate) fn full() -> Plan {
        Plan {
            quick: false,
            coordinator_args: Vec::new(),
            worker_args: Vec::new(),
            throughput_tasks: 200_000,
            latency_jobs: 2_000,
            spin_tasks: 200,
            spin_ms: 20,
            exec_tasks: 2_000,
            queued_tasks: 1_000_000,
            dispatch_workers: vec![10, 1_000, 100_000],
            dispatch_cycles: 200_000,
            many_workers: 1_000,
            many_workers_tasks: 200_000,
            job_timeout: Duration::from_secs(300),
        }
    }

    pub(crate) fn quick() -> Plan {
        Plan {
            quick: true,
            throughput_tasks: 10_000,
            latency_jobs: 200,
            spin_tasks: 40,
            exec_tasks: 100,
            queued_tasks: 100_000,
            dispatch_workers: vec![10, 1_000],
            dispatch_cycles: 20_000,
            many_workers: 20,
            many_workers_tasks: 5_000,
            ..Plan::full()
        }
    }
}

/// `workers` workers of `cpus` cores and a coordinator that dials them, as
/// processes, with `plan`'s extra flags; ready once every worker is active.
async fn cluster(plan: &Plan, workers: usize, cpus: u32) -> Result<ProcCluster> {
    let mut worker = vec!["--cpus".to_string(), cpus.to_string()];
    worker.extend(plan.worker_args.iter().cloned());
    ProcCluster::start(&vec![worker; workers], &plan.coordinator_args).await
}

/// Runs a job of `n` noop tasks on `cluster` and checks every result;
/// returns how long it took and its summary.
async fn noop_job(
    plan: &Plan,
    cluster: &mut ProcCluster,
    name: &str,
    n: u64,
) -> Result<(Duration, cluster_proto::JobSummary)> {
    use cluster_proto::task_output::Value;
    let mut client = cluster.client().await?;
    let mut results = Vec::with_capacity(n as usize);
    let start = std::time::Instant::now();
    let run = client.run(name, (0..n).map(cluster_client::tasks::noop), |r| results.push(r));
    let summary = deadline(plan.job_timeout, name, run).await?.map_err(|e| anyhow!("{name}: {e}"))?;
    let elapsed = start.elapsed();
    cluster.check_alive()?;
    check_results(n, &results, &summary, |id, output| match output.value {
        Some(Value::Noop(_)) => Ok(()),
        ref other => Err(anyhow!("noop task {id} returned {other:?}")),
    })?;
    Ok((elapsed, summary))
}

/// One line of the table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) label: String,
    pub(crate) measured: String,
    pub(crate) target: String,
    /// Whether the target is met; `None` for a row without a target.
    pub(crate) met: Option<bool>,
    pub(crate) detail: String,
}

impl Row {
    pub(crate) fn new(label: impl Into<String>, measured: impl Into<String>) -> Row {
        Row {
            label: label.into(),
            measured: measured.into(),
            target: "-".into(),
            met: None,
            detail: String::new(),
        }
    }

    pub(crate) fn target(mut self, target: impl Into<String>, met: bool) -> Row {
        self.target = target.into();
        self.met = Some(met);
        self
    }

    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Row {
        self.detail = detail.into();
        self
    }
}

/// A figure's outcome.
#[derive(Debug)]
pub(crate) struct Figure {
    pub(crate) rows: Vec<Row>,
    pub(crate) json: serde_json::Value,
}

/// Runs one figure by name.
pub(crate) fn run(name: &str, plan: &Plan, rt: &tokio::runtime::Runtime) -> Result<Figure> {
    match name {
        "throughput" => rt.block_on(throughput::run(plan)),
        "durable" => rt.block_on(durable::run(plan)),
        // One client doing one job at a time needs one thread: its
        // connection and its job then wake each other without a thread hop.
        "latency" => {
            tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(latency::run(plan))
        }
        "embedded" => embedded::run(plan, rt),
        "efficiency" => rt.block_on(efficiency::run(plan)),
        "seed" => rt.block_on(seed::run(plan)),
        "exec" => rt.block_on(exec::run(plan)),
        "memory" => rt.block_on(memory::run(plan)),
        "workers" => rt.block_on(workers::run(plan)),
        "dispatch" => dispatch::run(plan),
        other => Err(anyhow!("no figure `{other}`; figures: {}", NAMES.join(", "))),
    }
}

/// Awaits `future`, failing if it takes longer than `limit` (a hang).
pub(crate) async fn deadline<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(limit, future).await.map_err(|_| anyhow!("{what} did not finish within {limit:?}"))
}

/// `1234567` as `1,234,567`.
/// How a job's tasks and busy time were spread: "split 8 / 8; busy 0.199 / 0.201 s".
pub(crate) fn spread(summary: &cluster_proto::JobSummary) -> String {
    let split: Vec<String> = summary.workers.iter().map(|w| w.jobs.to_string()).collect();
    let busy: Vec<String> =
        summary.workers.iter().map(|w| format!("{:.3}", w.busy_micros as f64 / 1e6)).collect();
    format!("split {}; busy {} s", split.join(" / "), busy.join(" / "))
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Checks a job's results: exactly one per task id `0..n`, each successful
/// and passing `check_output`.
pub(crate) fn check_results(
    n: u64,
    results: &[cluster_proto::TaskResult],
    summary: &cluster_proto::JobSummary,
    mut check_output: impl FnMut(u64, &cluster_proto::TaskOutput) -> Result<()>,
) -> Result<()> {
    use cluster_proto::task_result::Outcome;
    if summary.succeeded != n || summary.failed != 0 {
        return Err(anyhow!(
            "summary says {} succeeded, {} failed of {n}",
            summary.succeeded,
            summary.failed
        ));
    }
    if results.len() as u64 != n {
        return Err(anyhow!("{} results for {n} tasks", results.len()));
    }
    let mut seen = vec![false; n as usize];
    for result in results {
        let slot =
            seen.get_mut(result.id as usize).ok_or_else(|| anyhow!("result for unknown id {}", result.id))?;
        if std::mem::replace(slot, true) {
            return Err(anyhow!("two results for task {}", result.id));
        }
        match &result.outcome {
            Some(Outcome::Output(output)) => check_output(result.id, output)?,
            Some(Outcome::Error(e)) => return Err(anyhow!("task {} failed: {e:?}", result.id)),
            None => return Err(anyhow!("task {} has no outcome", result.id)),
        }
    }
    Ok(())
}

/// CPU time a process (all its threads) has had so far, in seconds: the
/// scheduler's nanosecond counts (`/proc/<pid>/task/*/schedstat`), which
/// resolve a few microseconds a job where `/proc/<pid>/stat`'s 10 ms ticks
/// cannot.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let tasks = format!("/proc/{pid}/task");
    let mut nanos = 0u64;
    for task in std::fs::read_dir(&tasks).with_context(|| format!("reading {tasks}"))? {
        // A thread that ended since the listing has no schedstat left.
        let Ok(text) = std::fs::read_to_string(task?.path().join("schedstat")) else { continue };
        nanos += on_cpu_nanos(&text)?;
    }
    Ok(nanos as f64 / 1e9)
}

/// CPU time the calling thread has had so far, in seconds.
pub(crate) fn thread_cpu_seconds() -> Result<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").context("reading thread schedstat")?;
    Ok(on_cpu_nanos(&text)? as f64 / 1e9)
}

/// The first field of a schedstat line: nanoseconds on the CPU.
fn on_cpu_nanos(schedstat: &str) -> Result<u64> {
    schedstat.split_whitespace().next().and_then(|f| f.parse().ok()).context("no CPU time in schedstat")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
