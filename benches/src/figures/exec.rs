//! Exec: `/bin/true` as `exec` tasks over two 1-core workers, against the
//! same number of `/bin/true` runs spawned by a local loop two at a time
//! (the floor: what the machine can do with no mesh at all).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use cluster_auth::{Secret, Security};
use cluster_client::tasks;
use cluster_proto::task_output::Value;
use cluster_proto::ExecInput;
use cluster_testkit::{active_workers, connect, wait_status, Cmd, Proc};
use serde_json::json;

use super::{check_results, deadline, spread, Figure, Plan, Row};

const TARGET: f64 = 0.8;
const PROGRAM: &str = "/bin/true";
/// `exec` needs the secret (or mutual TLS), even on loopback.
const SECRET: &str = "cluster-bench exec secret";

pub(crate) async fn run(plan: &Plan) -> Result<Figure> {
    let n = plan.exec_tasks;
    let floor = tokio::task::spawn_blocking(move || local_floor(n)).await??;
    let (rate, summary) = over_the_mesh(plan, n).await?;
    let ratio = rate / floor;
    let row = Row::new("exec", format!("{rate:.0} tasks/s"))
        .target(format!(">= {TARGET} x floor"), ratio >= TARGET)
        .detail(format!(
            "{n} `{PROGRAM}` tasks on 2 workers x 1 cpu: {ratio:.2} of the local floor of {floor:.0}/s \
             (2 spawned at a time, no mesh); {}",
            spread(&summary)
        ));
    Ok(Figure {
        rows: vec![row],
        json: json!({
            "tasks": n,
            "tasks_per_s": rate,
            "floor_tasks_per_s": floor,
            "ratio": ratio,
            "target": TARGET,
            "met": ratio >= TARGET,
        }),
    })
}

/// `n` runs of the program, two at a time, straight from this process.
fn local_floor(n: u64) -> Result<f64> {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let runners: Vec<_> = (0..2)
            .map(|half| {
                scope.spawn(move || -> Result<()> {
                    for _ in (half..n).step_by(2) {
                        let status = std::process::Command::new(PROGRAM).status()?;
                        if !status.success() {
                            bail!("{PROGRAM} exited with {status}");
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        runners.into_iter().try_for_each(|runner| runner.join().expect("a floor thread panicked"))
    })?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn over_the_mesh(plan: &Plan, n: u64) -> Result<(f64, cluster_proto::JobSummary)> {
    let start_worker = || -> Result<Proc> {
        Cmd::new("cluster-worker")?
            .args(["--listen", "127.0.0.1:0", "--cpus", "1", "--allow-exec", PROGRAM])
            .args(&plan.worker_args)
            .env("CLUSTER_SECRET", SECRET)
            .start()
    };
    let workers = [start_worker()?, start_worker()?];
    let mut coordinator = Cmd::new("cluster-coordinator")?.args(["--listen", "127.0.0.1:0"]);
    for worker in &workers {
        coordinator = coordinator.args(["--worker", worker.addr()]);
    }
    let coordinator = coordinator.args(&plan.coordinator_args).env("CLUSTER_SECRET", SECRET).start()?;
    let security = Security { secret: Some(Secret::new(SECRET)?), ..Security::default() };
    let mut client = connect(&coordinator.url(), &security).await?;
    wait_status(&mut client, "2 active workers", |s| active_workers(s) == 2).await?;
    let task = |id| tasks::exec(id, ExecInput { argv: vec![PROGRAM.into()], ..ExecInput::default() });
    let mut results = Vec::with_capacity(n as usize);
    let start = Instant::now();
    let summary = deadline(
        plan.job_timeout,
        "the exec job",
        client.run("bench-exec", (0..n).map(task), |r| results.push(r)),
    )
    .await?
    .context("the exec job")?;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    check_results(n, &results, &summary, |id, output| match &output.value {
        Some(Value::Exec(exec)) if exec.exit_code == 0 => Ok(()),
        other => bail!("exec task {id} returned {other:?}"),
    })?;
    Ok((rate, summary))
}
