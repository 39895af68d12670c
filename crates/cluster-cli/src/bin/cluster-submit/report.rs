//! How `cluster-submit` prints results and statistics: Parallel Python's
//! lines and table for people, JSON lines for programs.

use std::time::Duration;

use cluster_proto::{task_output, task_result, JobSummary, TaskResult};
use serde_json::{json, Value};

/// One submitted task as the report shows it.
pub(crate) struct Row {
    pub(crate) input: Value,
    pub(crate) result: Option<TaskResult>,
}

fn output_value(result: &TaskResult) -> Result<Value, String> {
    match &result.outcome {
        Some(task_result::Outcome::Output(out)) => Ok(match &out.value {
            Some(task_output::Value::SumPrimes(sum)) => json!(sum),
            Some(task_output::Value::SpinMillis(ms)) => json!(ms),
            Some(task_output::Value::Custom(bytes)) => json!(bytes.len()),
            Some(task_output::Value::Exec(exec)) => json!(String::from_utf8_lossy(&exec.stdout)),
            Some(task_output::Value::Noop(_)) | None => Value::Null,
        }),
        Some(task_result::Outcome::Error(err)) => Err(err.message.clone()),
        None => Err("the worker sent an empty result".into()),
    }
}

/// The people's line for a `sum-primes` result.
pub(crate) fn sum_primes_line(row: &Row) -> String {
    match row.result.as_ref().map(output_value) {
        Some(Ok(sum)) => format!("Sum of primes below {} is {sum}", row.input),
        Some(Err(message)) => format!("Sum of primes below {} failed: {message}", row.input),
        None => format!("Sum of primes below {} got no result", row.input),
    }
}

/// The people's line for a task's output, whatever its kind.
pub(crate) fn plain_line(index: u64, row: &Row) -> String {
    match row.result.as_ref().map(output_value) {
        Some(Ok(value)) => format!("Task {index}: {value}"),
        Some(Err(message)) => format!("Task {index} failed: {message}"),
        None => format!("Task {index} got no result"),
    }
}

/// The people's line for a failed task of another kind, if it failed.
pub(crate) fn failure_line(index: usize, kind: &str, row: &Row) -> Option<String> {
    match row.result.as_ref().map(output_value) {
        Some(Ok(_)) => None,
        Some(Err(message)) => Some(format!("Task {index} ({kind}) failed: {message}")),
        None => Some(format!("Task {index} ({kind}) got no result")),
    }
}

/// The JSON line of one task.
pub(crate) fn json_line(index: usize, row: &Row) -> String {
    let mut line = json!({ "index": index, "input": row.input });
    if let Some(result) = &row.result {
        match output_value(result) {
            Ok(value) => line["output"] = value,
            Err(message) => line["error"] = json!(message),
        }
        line["worker"] = json!(result.worker);
        line["millis"] = json!(result.run_micros as f64 / 1000.0);
        line["attempts"] = json!(result.attempts);
    } else {
        line["error"] = json!("no result");
    }
    line.to_string()
}

/// Statistics per worker, as in Parallel Python's `print_stats`.
pub(crate) struct Stats<'a> {
    pub(crate) summary: &'a JobSummary,
    pub(crate) elapsed: Duration,
    pub(crate) job_id: u64,
}

impl Stats<'_> {
    fn total_jobs(&self) -> u64 {
        self.summary.workers.iter().map(|w| w.jobs).sum::<u64>().max(1)
    }

    pub(crate) fn table(&self) -> String {
        let total = self.total_jobs();
        let mut out = String::from("Job execution statistics:\n");
        out.push_str(" job count | % of all jobs | job time sum | time per job | job server\n");
        for w in &self.summary.workers {
            let busy = w.busy_micros as f64 / 1e6;
            out.push_str(&format!(
                "{:>10} | {:>13.2} | {:>12.4} | {:>12.6} | {}\n",
                w.jobs,
                100.0 * w.jobs as f64 / total as f64,
                busy,
                busy / w.jobs.max(1) as f64,
                w.worker
            ));
        }
        out.push_str(&format!("Time elapsed since server creation {:.4}\n", self.elapsed.as_secs_f64()));
        if self.summary.failed > 0 {
            out.push_str(&format!(
                "{} of {} tasks failed\n",
                self.summary.failed,
                self.summary.failed + self.summary.succeeded
            ));
        }
        out
    }

    pub(crate) fn json(&self) -> String {
        let total = self.total_jobs();
        let workers: Vec<Value> = self
            .summary
            .workers
            .iter()
            .map(|w| {
                let busy = w.busy_micros as f64 / 1e6;
                json!({
                    "worker": w.worker,
                    "cores": w.cores,
                    "jobs": w.jobs,
                    "share_pct": (1000.0 * w.jobs as f64 / total as f64).round() / 10.0,
                    "job_time_s": busy,
                    "time_per_job_s": busy / w.jobs.max(1) as f64,
                })
            })
            .collect();
        json!({ "stats": {
            "job_id": self.job_id,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "succeeded": self.summary.succeeded,
            "failed": self.summary.failed,
            "workers": workers,
        }})
        .to_string()
    }
}
