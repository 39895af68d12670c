//! Running a command: the built-in kinds (`sum-primes`, `spin`, `noop`) and
//! `exec` submitted as one durable job each, their results printed, and the
//! other commands handed to their modules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cluster_client::{tasks, Client, JobEvent};
use cluster_proto::{task_result, Task, TaskResult};
use serde_json::json;

use super::cli::Command;
use super::outcome::{Outcome, Tally};
use super::progress::progress_bar;
use super::report::{self, Row, Stats};
use super::target::Target;
use super::{attach, exec, status};

/// What a run submits. Tasks are generated lazily and results of `spin` and
/// `noop` are kept only when printed, so a million-task run stays small.
struct Batch {
    kind: &'static str,
    count: u64,
    /// Task `i`; made again for tasks a restarted coordinator lost.
    make: Arc<dyn Fn(u64) -> Task + Send + Sync>,
    /// The input of task `i`, for the report.
    input: Box<dyn Fn(u64) -> serde_json::Value>,
    /// Print a line per task even without --json.
    per_task_lines: bool,
}

pub(crate) async fn run(command: Command) -> anyhow::Result<Outcome> {
    let (batch, target) = match command {
        Command::Status { to, json, watch } => {
            let client = to.connect().await?;
            let active =
                if watch { status::watch(client).await? } else { status::once(client, json).await? };
            if !active {
                eprintln!("error: no worker is active");
                return Ok(Outcome::Cluster);
            }
            return Ok(Outcome::Succeeded);
        }
        Command::Exec { inputs, template, target } => return run_exec(inputs, template, target).await,
        Command::Cancel { to, job } => {
            let cancelled = to.connect().await?.cancel(job).await?;
            println!("job {job} cancelled: {cancelled} tasks had no result yet");
            return Ok(Outcome::Succeeded);
        }
        Command::SumPrimes { inputs, target } => {
            let count = inputs.len() as u64;
            let inputs = Arc::new(inputs);
            let make = Arc::new({
                let inputs = inputs.clone();
                move |i: u64| tasks::sum_primes(i, inputs[i as usize])
            });
            let input = Box::new(move |i: u64| json!(inputs[i as usize]));
            (Batch { kind: "sum-primes", count, make, input, per_task_lines: true }, target)
        }
        Command::Spin { ms, count, target } => {
            let make = Arc::new(move |i| tasks::spin(i, ms));
            let input = Box::new(move |_| json!(ms));
            (Batch { kind: "spin", count, make, input, per_task_lines: false }, target)
        }
        Command::Noop { count, target } => {
            let make = Arc::new(tasks::noop);
            let input = Box::new(|_| serde_json::Value::Null);
            (Batch { kind: "noop", count, make, input, per_task_lines: false }, target)
        }
        Command::Attach { to, job, json } => return attach::run(to, job, json).await,
    };
    let started = Instant::now();
    let (mut client, embedded) = target.connect().await?;
    let keep_all = target.json || batch.per_task_lines;
    let mut results: Vec<Option<TaskResult>> =
        if keep_all { vec![None; batch.count as usize] } else { Vec::new() };
    let mut failures: Vec<TaskResult> = Vec::new();
    let options = target.job_options(batch.kind);
    let mut job_id = 0;
    let mut tally = Tally::default();
    let progress = progress_bar(batch.count);
    let make = batch.make.clone();
    let reconnect = Duration::from_millis(target.reconnect_ms);
    let run = client.run_durable(
        options,
        batch.count,
        move |i| make(i),
        reconnect,
        |event| match event {
            JobEvent::Accepted(id) => job_id = id,
            JobEvent::Notice(message) => progress.suspend(|| eprintln!("{message}")),
            JobEvent::Reconnecting(why) => {
                progress.suspend(|| eprintln!("coordinator lost ({why}); reconnecting..."))
            }
            JobEvent::Resumed { job, results_before, .. } => progress.suspend(|| {
                eprintln!("resumed job {job}: {results_before} of {} results already here", batch.count)
            }),
            JobEvent::Result(result) => {
                if tally.add(&result) {
                    progress.set_message(format!("{} failed, ", tally.failed));
                }
                progress.inc(1);
                if keep_all {
                    if let Some(slot) = results.get_mut(result.id as usize) {
                        *slot = Some(result);
                    }
                } else if !matches!(result.outcome, Some(task_result::Outcome::Output(_))) {
                    failures.push(result);
                }
            }
        },
    );
    let Some(outcome) = unless_interrupted(run).await? else {
        cancel_on_interrupt(&mut client, job_id).await;
        return Ok(Outcome::TasksFailed);
    };
    progress.finish_and_clear();
    let row = |index: u64, result: Option<TaskResult>| Row { input: (batch.input)(index), result };
    let summary = match outcome {
        Ok(summary) => summary,
        Err(error) => {
            // Every result already here is printed before the error.
            for (index, result) in results.into_iter().enumerate().filter(|(_, r)| r.is_some()) {
                let row = row(index as u64, result);
                if target.json {
                    println!("{}", report::json_line(index, &row));
                } else {
                    println!("{}", report::sum_primes_line(&row));
                }
            }
            return Err(error.into());
        }
    };
    let stats = Stats { summary: &summary, elapsed: started.elapsed(), job_id };
    for (index, result) in results.into_iter().enumerate() {
        let row = row(index as u64, result);
        if target.json {
            println!("{}", report::json_line(index, &row));
        } else {
            println!("{}", report::sum_primes_line(&row));
        }
    }
    failures.sort_by_key(|r| r.id);
    for result in failures {
        let index = result.id;
        if let Some(line) = report::failure_line(index as usize, batch.kind, &row(index, Some(result))) {
            println!("{line}");
        }
    }
    if target.json {
        println!("{}", stats.json());
    } else {
        print!("{}", stats.table());
    }
    if let Some(cluster) = embedded {
        cluster.shutdown().await;
    }
    let delivered = summary.succeeded + summary.failed;
    Ok(tally.outcome(summary.failed == 0 && delivered == batch.count))
}

/// `exec`: one command per input, printed in input order as results come.
async fn run_exec(inputs: exec::Inputs, template: exec::Template, target: Target) -> anyhow::Result<Outcome> {
    if target.coordinator.is_none() {
        anyhow::bail!(
            "exec runs commands on the workers of a running cluster that allow it (cluster-worker \
             --allow-exec): give --coordinator"
        );
    }
    let inputs = inputs.load()?;
    let count = inputs.len() as u64;
    let make = {
        let inputs = inputs.clone();
        move |i: u64| template.task(i, &inputs[i as usize])
    };
    let started = Instant::now();
    let (mut client, _) = target.connect().await?;
    let mut printer = exec::Printer::new(inputs, target.json);
    let mut job_id = 0;
    let mut tally = Tally::default();
    let reconnect = Duration::from_millis(target.reconnect_ms);
    let run = client.run_durable(target.job_options("exec"), count, make, reconnect, |event| match event {
        JobEvent::Accepted(id) => job_id = id,
        JobEvent::Notice(message) => eprintln!("{message}"),
        JobEvent::Reconnecting(why) => eprintln!("coordinator lost ({why}); reconnecting..."),
        JobEvent::Resumed { job, results_before, .. } => {
            eprintln!("resumed job {job}: {results_before} of {count} results already here")
        }
        JobEvent::Result(result) => {
            tally.add(&result);
            printer.add(result)
        }
    });
    let Some(outcome) = unless_interrupted(run).await? else {
        cancel_on_interrupt(&mut client, job_id).await;
        return Ok(Outcome::TasksFailed);
    };
    let summary = match outcome {
        Ok(summary) => summary,
        Err(error) => return Err(error.into()), // the results so far are printed already
    };
    printer.finish();
    let stats = Stats { summary: &summary, elapsed: started.elapsed(), job_id };
    if target.json {
        println!("{}", stats.json());
    } else {
        // Standard output holds the commands' output and nothing else.
        eprint!("{}", stats.table());
    }
    Ok(tally.outcome(summary.failed == 0 && summary.succeeded == count))
}

/// Runs the job to its end; `None` if Ctrl-C came first (the job's future
/// is dropped, so its client is free to cancel it).
async fn unless_interrupted<T>(run: impl std::future::Future<Output = T>) -> anyhow::Result<Option<T>> {
    let interrupted = cluster_node::interrupt_signal().context("installing the Ctrl-C handler")?;
    Ok(tokio::select! {
        outcome = run => Some(outcome),
        _ = interrupted => None,
    })
}

/// Ctrl-C: the job is cancelled on the cluster (a coordinator with durable
/// state would otherwise keep it, waiting for the client to come back).
async fn cancel_on_interrupt(client: &mut Client, job: u64) {
    eprintln!("interrupted: the job's queued and running tasks are cancelled");
    if job != 0 {
        let _ = tokio::time::timeout(Duration::from_secs(2), client.cancel(job)).await;
    }
}
