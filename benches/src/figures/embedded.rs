//! Embedded latency: sequential single-task jobs with the coordinator and a
//! local worker in this process (what `cluster-submit` with no address
//! runs), one client connection.

use std::time::Duration;

use anyhow::{Context, Result};
use cluster_auth::Security;
use cluster_client::embedded::Embedded;
use cluster_client::Client;
use serde_json::json;

use super::latency::{percentile, round_trips};
use super::{thousands, Figure, Plan, Row};

/// Target p50, in microseconds.
const P50_TARGET: f64 = 50.0;

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let n = plan.latency_jobs;
    let warmup = (n / 10).min(100);
    let cpus = cluster_worker::available_cores();
    let embedded =
        Embedded::start(cpus, &[], &Security::default()).await.context("starting embedded mode")?;
    embedded.wait_for_workers(Duration::from_secs(30)).await.context("the local worker")?;
    let mut client = Client::connect_with(&embedded.url(), embedded.security()).await?;
    let micros = round_trips(&mut client, n, warmup).await;
    drop(client);
    embedded.shutdown().await;
    let micros = micros?;
    let (p50, p99) = (percentile(&micros, 0.50), percentile(&micros, 0.99));
    let row = Row::new("embedded latency p50", format!("{p50:.0} us"))
        .target(format!("<= {P50_TARGET:.0} us"), p50 <= P50_TARGET)
        .detail(format!(
            "{} sequential 1-noop jobs (after {warmup} warm-up), coordinator and a {cpus}-cpu worker in the \
             bench process; p99 {p99:.0} us, min {:.0} us",
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
            "target_p50_us": P50_TARGET,
            "met": p50 <= P50_TARGET,
        }),
    })
}
