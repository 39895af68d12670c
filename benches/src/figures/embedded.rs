//! Embedded latency: sequential single-task jobs with the coordinator and a
//! local worker in this process (what `cluster-submit` with no address
//! runs), one client, all three talking in process. Measured on a
//! current-thread runtime (one job at a time needs one thread, and then no
//! hand-off wakes another thread), and for comparison on the bench's
//! multi-thread runtime (what `cluster-submit` uses, for large jobs).

use std::time::Duration;

use anyhow::{Context, Result};
use cluster_auth::Security;
use cluster_client::embedded::Embedded;
use serde_json::json;

use super::latency::{percentile, round_trips};
use super::{thousands, Figure, Plan, Row};

/// Target p50, in microseconds.
const P50_TARGET: f64 = 50.0;

pub(crate) fn run(plan: &Plan, multi_thread: &tokio::runtime::Runtime) -> Result<Figure> {
    let n = plan.latency_jobs;
    let warmup = (n / 10).min(100);
    let cpus = cluster_worker::available_cores();
    let one_thread = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let micros = one_thread.block_on(round_trips_embedded(cpus, n, warmup))?;
    let multi = multi_thread.block_on(round_trips_embedded(cpus, n, warmup))?;
    let (p50, p99) = (percentile(&micros, 0.50), percentile(&micros, 0.99));
    let (multi_p50, multi_p99) = (percentile(&multi, 0.50), percentile(&multi, 0.99));
    let row = Row::new("embedded latency p50", format!("{p50:.0} us"))
        .target(format!("<= {P50_TARGET:.0} us"), p50 <= P50_TARGET)
        .detail(format!(
            "{} sequential 1-noop jobs (after {warmup} warm-up), coordinator and a {cpus}-cpu worker in the \
             bench process, current-thread runtime; p99 {p99:.0} us, min {:.0} us; on a multi-thread \
             runtime: p50 {multi_p50:.0} us, p99 {multi_p99:.0} us",
            thousands(n as u64),
            micros[0]
        ));
    Ok(Figure {
        rows: vec![row],
        json: json!({
            "jobs": n,
            "p50_us": p50,
            "p99_us": p99,
            "min_us": micros[0],
            "multi_thread_p50_us": multi_p50,
            "multi_thread_p99_us": multi_p99,
            "target_p50_us": P50_TARGET,
            "met": p50 <= P50_TARGET,
        }),
    })
}

/// Starts an embedded cluster on the current runtime and times `n`
/// sequential one-noop jobs after `warmup`; sorted microseconds.
async fn round_trips_embedded(cpus: u32, n: usize, warmup: usize) -> Result<Vec<f64>> {
    let embedded =
        Embedded::start(cpus, &[], &Security::default()).await.context("starting embedded mode")?;
    embedded.wait_for_workers(Duration::from_secs(30)).await.context("the local worker")?;
    let mut client = embedded.client().await?;
    let micros = round_trips(&mut client, n, warmup).await;
    drop(client);
    embedded.shutdown().await;
    micros
}
