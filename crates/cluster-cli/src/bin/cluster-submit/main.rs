//! `cluster-submit`: run tasks on a cluster, or on an embedded one.

mod attach;
mod exec;
mod report;
mod status;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use cluster_cli::security::ClientSecurityArgs;
use cluster_client::embedded::Embedded;
use cluster_client::{tasks, Client, JobEvent};
use cluster_proto::{task_result, ErrorCode, JobOptions, Task, TaskResult};
use serde_json::json;

use report::{Row, Stats};

/// Submit tasks to a cluster and print their results.
///
/// With no address it runs an embedded coordinator and a local worker on all
/// cores; with --workers it drives those workers (plus --local-cpus local
/// cores); with --coordinator it uses a running cluster.
#[derive(Parser, Debug)]
// Name and short about as when this binary lived in the `cluster-client`
// package (clap took them from the package); `--version` still says
// `cluster-client`.
#[command(
    name = "cluster-client",
    version,
    about = "Client library for the cluster task mesh, and the cluster-submit command",
    after_help = cluster_cli::logging::LOGGING_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: cluster_cli::logging::LogArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sum the primes below each input (Parallel Python's demo).
    SumPrimes {
        /// Comma-separated inputs, e.g. 500000,500100.
        #[arg(long, env = "CLUSTER_INPUTS", value_delimiter = ',', required = true, num_args = 1..)]
        inputs: Vec<u64>,
        #[command(flatten)]
        target: Target,
    },
    /// Busy-loop tasks, for trying a cluster's balance.
    Spin {
        /// Milliseconds each task keeps a core busy.
        #[arg(long, env = "CLUSTER_SPIN_MS")]
        ms: u64,
        /// Number of tasks.
        #[arg(long, env = "CLUSTER_COUNT")]
        count: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Empty tasks, for measuring the mesh's overhead.
    Noop {
        /// Number of tasks.
        #[arg(long, env = "CLUSTER_COUNT")]
        count: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Run a command per input on workers started with --allow-exec; each
    /// command's stdout is printed in input order, its stderr lines on
    /// stderr prefixed by the input's index.
    Exec {
        #[command(flatten)]
        inputs: exec::Inputs,
        #[command(flatten)]
        template: exec::Template,
        #[command(flatten)]
        target: Target,
    },
    /// Reattach to a running job (submitted by another process, or by one
    /// that died) on a coordinator with --state-dir, and print its results.
    Attach {
        #[command(flatten)]
        to: Connection,
        /// The job's id.
        #[arg(long, env = "CLUSTER_JOB")]
        job: u64,
        /// Print one JSON object per line instead of text.
        #[arg(long, env = "CLUSTER_JSON")]
        json: bool,
    },
    /// Cancel a running job by id (see `status` for the ids).
    Cancel {
        /// The job's id.
        #[arg(long, env = "CLUSTER_JOB")]
        job: u64,
        #[command(flatten)]
        to: Connection,
    },
    /// Show a running cluster's workers, jobs and last finished jobs;
    /// exits 3 when no worker is active.
    Status {
        /// Print JSON instead of a table.
        #[arg(long, env = "CLUSTER_JSON", value_parser = clap::builder::BoolishValueParser::new(), conflicts_with = "watch")]
        json: bool,
        /// Redraw every second (workers' running, prefetched, completed and
        /// failed tasks, the cluster's tasks/s, jobs' progress) until Ctrl-C.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        to: Connection,
    },
}

/// A running coordinator and how to reach it.
#[derive(Args, Debug)]
struct Connection {
    /// Coordinator URL, e.g. http://127.0.0.1:7700 (https:// with --tls-ca).
    #[arg(long, env = "CLUSTER_COORDINATOR", help_heading = cluster_cli::heading::CONNECTION)]
    coordinator: String,
    #[command(flatten)]
    security: ClientSecurityArgs,
}

impl Connection {
    async fn connect(&self) -> anyhow::Result<Client> {
        Ok(Client::connect_with(&self.coordinator, &self.security.load()?).await?)
    }
}

/// Where tasks run.
#[derive(Args, Debug)]
struct Target {
    /// A running coordinator, e.g. http://127.0.0.1:7700.
    #[arg(long, env = "CLUSTER_COORDINATOR", conflicts_with_all = ["workers", "local_cpus"], help_heading = cluster_cli::heading::CONNECTION)]
    coordinator: Option<String>,
    /// Workers (host:port, comma-separated) for an embedded coordinator.
    #[arg(long, env = "CLUSTER_WORKERS", value_delimiter = ',', help_heading = cluster_cli::heading::CONNECTION)]
    workers: Vec<String>,
    /// Local cores the embedded coordinator also uses; 0 = remote only
    /// [default: all cores].
    #[arg(long, env = "CLUSTER_LOCAL_CPUS", help_heading = cluster_cli::heading::CONNECTION)]
    local_cpus: Option<u32>,
    /// Longest a task may run (e.g. 90s; a plain number is milliseconds);
    /// a task over it is stopped and retried, then fails [default: the
    /// coordinator's].
    #[arg(long, env = "CLUSTER_TIMEOUT_MS", value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    timeout_ms: Option<u64>,
    /// Longest the whole job may take (e.g. 10m), queue time included;
    /// tasks without a result then fail as timed out.
    #[arg(long, env = "CLUSTER_DEADLINE_MS", value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    deadline_ms: Option<u64>,
    /// Labels a worker must carry to get the job's tasks, as key=value
    /// (comma-separated or repeated), e.g. gpu=1,zone=b.
    #[arg(long, value_delimiter = ',', value_parser = cluster_cli::key_value, help_heading = cluster_cli::heading::TUNING)]
    require: Vec<(String, String)>,
    /// Longest the job's tasks wait while no active worker can run them
    /// (none connected, or none runs their kind), e.g. 10s; then they fail
    /// and the command exits 3. A notice on stderr says at once that they
    /// wait [default: the coordinator's, 30 s].
    #[arg(long, env = "CLUSTER_WAIT_FOR_WORKERS_MS", visible_alias = "unroutable-timeout-ms", value_parser = cluster_cli::duration::millis, help_heading = cluster_cli::heading::TUNING)]
    wait_for_workers_ms: Option<u64>,
    /// Print one JSON object per line instead of text.
    #[arg(long, env = "CLUSTER_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    json: bool,
    /// With a coordinator that keeps durable state: how long to keep
    /// reconnecting to it, in milliseconds, after the connection breaks.
    #[arg(long, env = "CLUSTER_RECONNECT_MS", default_value_t = 60_000)]
    reconnect_ms: u64,
    /// Secret and TLS for reaching the coordinator or the --workers.
    #[command(flatten)]
    security: ClientSecurityArgs,
}

impl Target {
    fn job_options(&self, name: &str) -> JobOptions {
        JobOptions {
            name: name.into(),
            timeout_ms: self.timeout_ms,
            deadline_ms: self.deadline_ms,
            require: self.require.iter().cloned().collect(),
            unroutable_timeout_ms: self.wait_for_workers_ms,
        }
    }

    /// A client of the coordinator, or of an embedded cluster started here.
    async fn connect(&self) -> anyhow::Result<(Client, Option<Embedded>)> {
        let security = self.security.load()?;
        if let Some(url) = &self.coordinator {
            return Ok((Client::connect_with(url, &security).await?, None));
        }
        let local = self.local_cpus.unwrap_or_else(cluster_worker::available_cores);
        let cluster = Embedded::start(local, &self.workers, &security)
            .await
            .context("starting the embedded cluster")?;
        for (worker, why) in cluster.wait_for_workers(Duration::from_secs(5)).await? {
            eprintln!("warning: worker {worker} is not reachable, running without it: {why}");
        }
        Ok((cluster.client().await?, Some(cluster)))
    }
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init("warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(err) => {
            // Each cause once, though some errors print their sources too.
            eprintln!("error: {}", cluster_auth::error_chain(err.as_ref()));
            ExitCode::from(exit_code_of(&err) as u8)
        }
    }
}

/// How a run ended, as its exit status (documented in README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every task succeeded (`status`: a worker is active).
    Succeeded = 0,
    /// Some task failed, or the run was interrupted.
    TasksFailed = 1,
    /// Bad flags or input (clap's own usage errors exit 2 too).
    Usage = 2,
    /// The cluster failed the run: unreachable, unavailable, lost, or no
    /// worker came to run the tasks (`status`: none is active).
    Cluster = 3,
}

/// An error's exit status: 3 when the cluster or the network failed, 2
/// for what the user gave.
fn exit_code_of(err: &anyhow::Error) -> Outcome {
    let cluster = err.chain().any(|cause| {
        cause.downcast_ref::<cluster_client::ClientError>().is_some_and(|e| e.is_cluster_failure())
            || matches!(cause.downcast_ref(), Some(cluster_node::DialError::Connect { .. }))
    });
    if cluster {
        Outcome::Cluster
    } else {
        Outcome::Usage
    }
}

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

async fn run(command: Command) -> anyhow::Result<Outcome> {
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
    let interrupted = cluster_node::interrupt_signal().context("installing the Ctrl-C handler")?;
    let outcome = tokio::select! {
        summary = run => summary,
        _ = interrupted => {
            cancel_on_interrupt(&mut client, job_id).await;
            return Ok(Outcome::TasksFailed);
        }
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

/// Failures counted as results arrive.
#[derive(Default)]
struct Tally {
    failed: u64,
    /// Of those, tasks no active worker came to run in time.
    unroutable: u64,
}

impl Tally {
    /// Counts a result; true if it is a failure.
    fn add(&mut self, result: &TaskResult) -> bool {
        match &result.outcome {
            Some(task_result::Outcome::Output(_)) => false,
            Some(task_result::Outcome::Error(e)) => {
                self.failed += 1;
                self.unroutable += u64::from(e.code == ErrorCode::UnknownKind as i32);
                true
            }
            None => {
                self.failed += 1;
                true
            }
        }
    }

    /// The run's outcome, given whether every task succeeded; says on
    /// stderr why when no worker came.
    fn outcome(&self, all_succeeded: bool) -> Outcome {
        if self.unroutable > 0 {
            eprintln!(
                "error: {} tasks failed because no active worker could run them in time (see \
                 --wait-for-workers-ms)",
                self.unroutable
            );
            Outcome::Cluster
        } else if all_succeeded {
            Outcome::Succeeded
        } else {
            Outcome::TasksFailed
        }
    }
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
    let interrupted = cluster_node::interrupt_signal().context("installing the Ctrl-C handler")?;
    let outcome = tokio::select! {
        summary = run => summary,
        _ = interrupted => {
            cancel_on_interrupt(&mut client, job_id).await;
            return Ok(Outcome::TasksFailed);
        }
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

/// Ctrl-C: the job is cancelled on the cluster (a coordinator with durable
/// state would otherwise keep it, waiting for the client to come back).
async fn cancel_on_interrupt(client: &mut Client, job: u64) {
    eprintln!("interrupted: the job's queued and running tasks are cancelled");
    if job != 0 {
        let _ = tokio::time::timeout(Duration::from_secs(2), client.cancel(job)).await;
    }
}

/// A progress bar on stderr, shown only when stderr is a terminal (so
/// pipes and `--json` consumers see nothing of it).
fn progress_bar(count: u64) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(count);
    // The message holds "N failed, " once a task fails.
    let template = "{bar:40} {pos}/{len} tasks, {msg}{rate} tasks/s, {elapsed_precise}, ETA {eta}";
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}", state.per_sec());
        };
        bar.set_style(style.with_key("rate", rate));
    }
    bar
}
