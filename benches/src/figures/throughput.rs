//! Throughput: many `noop` tasks from one client through a coordinator and
//! two single-core workers, end to end.

use anyhow::Result;
use serde_json::json;

use super::{cluster, noop_job, thousands, Figure, Plan, Row};

/// Target: tasks per second.
const TARGET: f64 = 100_000.0;

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let n = plan.throughput_tasks;
    let mut cluster = cluster(plan, 2, 1).await?;
    let (elapsed, summary) = noop_job(plan, &mut cluster, "bench-throughput", n).await?;
    let rate = n as f64 / elapsed.as_secs_f64();
    let split: Vec<String> = summary.workers.iter().map(|w| thousands(w.jobs)).collect();
    let row = Row::new("throughput", format!("{} tasks/s", thousands(rate as u64)))
        .target(format!(">= {} tasks/s", thousands(TARGET as u64)), rate >= TARGET)
        .detail(format!(
            "{} noop tasks in {:.3} s, 1 client, 2 workers x 1 cpu (split {})",
            thousands(n),
            elapsed.as_secs_f64(),
            split.join(" / ")
        ));
    Ok(Figure {
        rows: vec![row],
        json: json!({
            "tasks": n,
            "seconds": elapsed.as_secs_f64(),
            "tasks_per_s": rate,
            "target_tasks_per_s": TARGET,
            "met": rate >= TARGET,
        }),
    })
}
