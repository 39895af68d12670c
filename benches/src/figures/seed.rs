//! The seed's workload: Parallel Python's sum-primes demo (eight inputs,
//! each twice) on two single-core workers, against the same sums computed
//! serially in this process.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use cluster_client::tasks::sum_primes;
use cluster_proto::task_output::Value;
use serde_json::json;

use super::{check_results, cluster, deadline, spread, Figure, Plan, Row};

const TARGET: f64 = 1.9;

/// 500000, 500100, ..., 500700, each twice.
fn inputs() -> Vec<u64> {
    (0..16).map(|i| 500_000 + 100 * (i % 8)).collect()
}

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let inputs = inputs();
    let n = inputs.len() as u64;
    // Serial, in this process, one thread; no cluster running yet.
    let start = Instant::now();
    let expected: Vec<u64> = inputs.iter().map(|&x| cluster_tasks::sum_primes(x)).collect();
    let serial = start.elapsed().as_secs_f64();

    let mut cluster = cluster(plan, 2, 1).await?;
    let mut client = cluster.client().await?;
    let mut results = Vec::with_capacity(inputs.len());
    let tasks: Vec<_> = inputs.iter().enumerate().map(|(i, &x)| sum_primes(i as u64, x)).collect();
    let start = Instant::now();
    let summary = deadline(
        plan.job_timeout,
        "the sum-primes job",
        client.run("bench-seed", tasks, |r| results.push(r)),
    )
    .await?
    .context("the sum-primes job")?;
    let parallel = start.elapsed().as_secs_f64();
    cluster.check_alive()?;
    check_results(n, &results, &summary, |id, output| match output.value {
        Some(Value::SumPrimes(sum)) if sum == expected[id as usize] => Ok(()),
        ref other => {
            let x = inputs[id as usize];
            bail!("sum-primes({x}) returned {other:?}, in-process {}", expected[id as usize])
        }
    })?;
    let speedup = serial / parallel;
    let row = Row::new("seed speed-up", format!("{speedup:.2}x"))
        .target(format!(">= {TARGET}x"), speedup >= TARGET)
        .detail(format!(
            "16 sum-primes (500000..500700, each twice): serial in-process {serial:.3} s / \
             cluster 2 workers x 1 cpu {parallel:.3} s ({}); sums match",
            spread(&summary)
        ));
    Ok(Figure {
        rows: vec![row],
        json: json!({
            "tasks": n,
            "serial_s": serial,
            "parallel_s": parallel,
            "speedup": speedup,
            "target": TARGET,
            "met": speedup >= TARGET,
        }),
    })
}
