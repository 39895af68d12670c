//! Durable: the throughput figure's job with the coordinator keeping its
//! state on disk (`--state-dir`), beside the same job in memory, and what
//! the state directory holds once the finished jobs' retention has passed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use cluster_testkit::ProcCluster;
use serde_json::json;

use super::{noop_job, thousands, Figure, Plan, Row};

/// Target: tasks per second with durable state.
const TARGET: f64 = 100_000.0;
/// Target: the state directory once retention has passed.
const DISK_TARGET: u64 = 64 << 20;

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let n = plan.throughput_tasks;
    let memory = rate(plan, n, None).await?;
    let dir = tempfile::tempdir()?;
    let durable = rate(plan, n, Some(dir.path())).await?;
    let ratio = durable / memory;
    let disk = dir_size(dir.path())?;
    let row = Row::new("durable", format!("{} tasks/s", thousands(durable as u64)))
        .target(format!(">= {} tasks/s", thousands(TARGET as u64)), durable >= TARGET)
        .detail(format!(
            "{} noop tasks, 2 workers x 1 cpu, --state-dir on this machine's disk: {ratio:.2} of the same job in \
             memory ({} tasks/s)",
            thousands(n),
            thousands(memory as u64)
        ));
    let disk_row = Row::new("state dir", format!("{:.1} MiB", disk as f64 / (1 << 20) as f64))
        .target(format!("< {} MiB", DISK_TARGET >> 20), disk < DISK_TARGET)
        .detail("the state directory after the durable job, its results purged (--result-retention-ms 0)");
    Ok(Figure {
        rows: vec![row, disk_row],
        json: json!({
            "tasks": n,
            "tasks_per_s": durable,
            "in_memory_tasks_per_s": memory,
            "ratio": ratio,
            "state_dir_bytes": disk,
            "target_tasks_per_s": TARGET,
            "met": durable >= TARGET && disk < DISK_TARGET,
        }),
    })
}

/// Noop tasks per second through a fresh cluster, with `state` as its
/// state directory if given (results purged at once after the job).
async fn rate(plan: &Plan, n: u64, state: Option<&Path>) -> Result<f64> {
    let mut coordinator: Vec<String> = plan.coordinator_args.clone();
    if let Some(dir) = state {
        let dir = dir.to_str().context("a UTF-8 temporary directory")?;
        coordinator.extend(["--state-dir".into(), dir.into(), "--result-retention-ms".into(), "0".into()]);
    }
    let mut worker = vec!["--cpus".to_string(), "1".to_string()];
    worker.extend(plan.worker_args.iter().cloned());
    let mut cluster = ProcCluster::start(&vec![worker; 2], &coordinator).await?;
    let (elapsed, _) = noop_job(plan, &mut cluster, "bench-durable", n).await?;
    if state.is_some() && !plan.quick {
        // The purge runs every 5 s; give it two rounds.
        tokio::time::sleep(Duration::from_secs(11)).await;
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        total += entry?.metadata()?.len();
    }
    Ok(total)
}
