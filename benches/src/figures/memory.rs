//! Memory: the coordinator's peak RSS growth per queued task, with a large
//! job queued on a coordinator that has no workers.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cluster_client::tasks::noop;
use serde_json::json;

use super::{thousands, Figure, Plan, Row};
use cluster_testkit::Proc;

/// Target: bytes of coordinator memory per queued task.
const TARGET: f64 = 300.0;

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let n = plan.queued_tasks;
    // The queue limit (default 100,000; submitters wait beyond it) must
    // admit the whole job.
    let mut args = vec!["--max-queued".to_string(), n.to_string()];
    args.extend(plan.coordinator_args.iter().cloned());
    let mut coordinator = Proc::coordinator(&args)?;
    let mut watcher = coordinator.client().await?;
    watcher.status().await.context("status")?; // the server has served a request
    let (baseline, _) = coordinator.rss()?;

    let mut client = coordinator.client().await?;
    let job = tokio::spawn(async move { client.run("bench-memory", (0..n).map(noop), |_| {}).await });
    let start = Instant::now();
    let until = start + plan.job_timeout.min(Duration::from_secs(180));
    let queued_in = loop {
        let status = watcher.status().await.context("status")?;
        if status.queued >= n {
            break start.elapsed();
        }
        coordinator.check_alive()?;
        if job.is_finished() {
            bail!("the job ended with {} of {n} tasks queued: {:?}", status.queued, job.await);
        }
        if Instant::now() > until {
            bail!("only {} of {n} tasks queued after {:?}", status.queued, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (rss, peak) = coordinator.rss()?;

    // Cancel the job: the coordinator must drop every queued task.
    job.abort();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let status = watcher.status().await.context("status")?;
        if status.queued == 0 && status.active_jobs == 0 {
            break;
        }
        if Instant::now() > until {
            bail!("the cancelled job still holds {} queued tasks: {status:?}", status.queued);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (after, _) = coordinator.rss()?;
    coordinator.check_alive()?;

    let per_task = peak.saturating_sub(baseline) as f64 / n as f64;
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let row = Row::new("memory per queued task", format!("{per_task:.0} B"))
        .target(format!("<= {TARGET:.0} B"), per_task <= TARGET)
        .detail(format!(
            "{} noop tasks queued (--max-queued {n}) on a coordinator without workers in {:.2} s: \
             RSS {:.1} MiB before, peak {:.1} MiB (RSS {:.1} MiB at full queue), {:.1} MiB after \
             the job was cancelled",
            thousands(n),
            queued_in.as_secs_f64(),
            mib(baseline),
            mib(peak),
            mib(rss),
            mib(after)
        ));
    Ok(Figure {
        rows: vec![row],
        json: json!({
            "tasks": n,
            "baseline_rss_bytes": baseline,
            "peak_hwm_bytes": peak,
            "rss_at_full_queue_bytes": rss,
            "rss_after_cancel_bytes": after,
            "bytes_per_task": per_task,
            "target_bytes_per_task": TARGET,
            "met": per_task <= TARGET,
        }),
    })
}
