//! Efficiency: equal CPU-bound tasks on two single-core workers, ideal time
//! over the measured makespan.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use cluster_client::tasks::spin;
use cluster_proto::task_output::Value;
use serde_json::json;

use super::{check_results, cluster, deadline, spread, Figure, Plan, Row};

const TARGET: f64 = 0.97;
const CORES: u64 = 2;

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let (n, ms) = (plan.spin_tasks, plan.spin_ms);
    let mut cluster = cluster(plan, CORES as usize, 1).await?;
    let mut client = cluster.client().await?;
    let mut results = Vec::with_capacity(n as usize);
    let start = Instant::now();
    let summary = deadline(
        plan.job_timeout,
        "the spin job",
        client.run("bench-efficiency", (0..n).map(move |id| spin(id, ms)), |r| results.push(r)),
    )
    .await?
    .context("the spin job")?;
    let makespan = start.elapsed().as_secs_f64();
    cluster.check_alive()?;
    check_results(n, &results, &summary, |id, output| match output.value {
        Some(Value::SpinMillis(m)) if m >= ms => Ok(()), // wall time spun, at least `ms`
        ref other => bail!("spin task {id} of {ms} ms returned {other:?}"),
    })?;
    let ideal = (n * ms) as f64 / 1000.0 / CORES as f64;
    let efficiency = ideal / makespan;
    let row = Row::new("efficiency", format!("{efficiency:.3}"))
        .target(format!(">= {TARGET}"), efficiency >= TARGET)
        .detail(format!(
            "{n} spin tasks of {ms} ms on 2 workers x 1 cpu: ideal {ideal:.3} s / makespan {makespan:.3} s \
             ({})",
            spread(&summary)
        ));
    Ok(Figure {
        rows: vec![row],
        json: json!({
            "tasks": n,
            "task_ms": ms,
            "ideal_s": ideal,
            "makespan_s": makespan,
            "worker_busy_s": summary.workers.iter().map(|w| w.busy_micros as f64 / 1e6).collect::<Vec<_>>(),
            "efficiency": efficiency,
            "target": TARGET,
            "met": efficiency >= TARGET,
        }),
    })
}
