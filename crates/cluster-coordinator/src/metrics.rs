//! The coordinator's Prometheus metrics, rendered on each scrape with
//! prometheus-client from the actor's totals and its status (see
//! `actor::observe`): nothing on the hot path but plain increments in the
//! actor.

use cluster_node::Refusals;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::actor::{
    ActorHandle, Counters, Histogram, LinkState, StatusReport, BUCKETS_MICROS, FAILURE_CODES,
};
use crate::sched::FailureCode;

/// One scrape: the metrics text, or `None` if the coordinator is shutting
/// down.
pub(crate) async fn scrape(actor: ActorHandle, refusals: Refusals) -> Option<String> {
    let (counters, status) = actor.metrics().await.ok()?;
    Some(render(&counters, &status, refusals.get()))
}

type Labels = Vec<(&'static str, String)>;

fn render(counters: &Counters, status: &StatusReport, refusals: u64) -> String {
    let mut registry = Registry::with_prefix("cluster");
    let counter = |value: u64| ConstCounter::new(value);
    registry.register("tasks_submitted", "Tasks submitted by clients", counter(counters.submitted));
    registry.register("tasks_succeeded", "Tasks that succeeded", counter(counters.succeeded));
    let failed = Family::<Labels, Counter>::default();
    for (code, &count) in FAILURE_CODES.iter().zip(&counters.failed) {
        failed.get_or_create(&vec![("code", code_name(*code).to_owned())]).inc_by(count);
    }
    registry.register("tasks_failed", "Tasks that failed, by error code", failed);
    registry.register("task_retries", "Attempts beyond each task's first", counter(counters.retried));
    registry.register(
        "tasks_cancelled",
        "Tasks left without a result when their job was cancelled or ended",
        counter(counters.cancelled),
    );
    registry.register(
        "task_attempts_timed_out",
        "Attempts a worker stopped for running over their timeout",
        counter(counters.timed_out),
    );
    registry.register("jobs_started", "Jobs opened by clients", counter(counters.jobs_started));
    registry.register(
        "late_results",
        "Results dropped: their task already had one",
        counter(status.late_results),
    );
    registry.register("auth_refusals", "Calls refused for bad or missing credentials", counter(refusals));
    registry.register("queue_depth", "Tasks waiting for a worker", ConstGauge::new(status.queued as i64));
    registry.register("jobs_active", "Jobs not finished", ConstGauge::new(status.active_jobs as i64));
    let workers = Family::<Labels, Gauge>::default();
    let in_flight = Family::<Labels, Gauge>::default();
    let completed = Family::<Labels, Gauge>::default();
    for state in [LinkState::Connecting, LinkState::Active, LinkState::Draining, LinkState::Lost] {
        workers.get_or_create(&vec![("state", state_name(state).to_owned())]).set(0);
    }
    for row in &status.workers {
        workers.get_or_create(&vec![("state", state_name(row.state).to_owned())]).inc();
        let name = row.desc.as_ref().map_or(row.address.as_str(), |desc| desc.name.as_str());
        let labels = vec![("worker", name.to_owned()), ("address", row.address.clone())];
        in_flight.get_or_create(&labels).set(row.in_flight as i64);
        completed.get_or_create(&labels).set(row.completed as i64);
    }
    registry.register("workers", "Workers by state", workers);
    registry.register("worker_in_flight", "Tasks assigned to each worker and not finished", in_flight);
    registry.register("worker_completed", "Tasks each worker finished in its current session", completed);
    registry.register(
        "task_run_seconds",
        "Run time of each task, as its worker measured it",
        Snapshot(counters.run_time.clone()),
    );
    registry.register(
        "task_latency_seconds",
        "From a task's arrival at the coordinator to its result",
        Snapshot(counters.latency.clone()),
    );
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

fn code_name(code: FailureCode) -> &'static str {
    match code {
        FailureCode::InvalidInput => "invalid_input",
        FailureCode::UnknownKind => "unknown_kind",
        FailureCode::TaskFailed => "task_failed",
        FailureCode::TimedOut => "timed_out",
        FailureCode::WorkerLost => "worker_lost",
        FailureCode::Cancelled => "cancelled",
        FailureCode::ResultTooLarge => "result_too_large",
        FailureCode::Unspecified => "unspecified",
    }
}

fn state_name(state: LinkState) -> &'static str {
    match state {
        LinkState::Connecting => "connecting",
        LinkState::Active => "active",
        LinkState::Draining => "draining",
        LinkState::Lost => "lost",
    }
}

/// A copy of one of the actor's histograms, encoded as is.
#[derive(Debug)]
struct Snapshot(Histogram);

impl EncodeMetric for Snapshot {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let bounds = BUCKETS_MICROS.iter().map(|&micros| micros as f64 / 1e6).chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(self.0.counts).collect();
        let sum = self.0.sum_micros as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, self.0.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::WorkerRow;

    #[test]
    fn renders_counts_gauges_and_cumulative_buckets() {
        let mut counters = Counters { submitted: 3, succeeded: 1, ..Counters::default() };
        counters.failed[2] = 2;
        counters.run_time.counts[0] = 1;
        counters.run_time.counts[3] = 2;
        counters.run_time.count = 3;
        counters.run_time.sum_micros = 2_005;
        let status = StatusReport {
            workers: vec![WorkerRow {
                address: "127.0.0.1:1".into(),
                desc: None,
                state: LinkState::Active,
                in_flight: 4,
                completed: 7,
                failed: 0,
                running: 2,
                stuck: 0,
                last_error: String::new(),
            }],
            queued: 5,
            active_jobs: 1,
            late_results: 0,
            jobs: Vec::new(),
            recent_jobs: Vec::new(),
        };
        let text = render(&counters, &status, 9);
        for line in [
            "cluster_tasks_submitted_total 3",
            "cluster_tasks_failed_total{code=\"task_failed\"} 2",
            "cluster_tasks_failed_total{code=\"worker_lost\"} 0",
            "cluster_auth_refusals_total 9",
            "cluster_queue_depth 5",
            "cluster_workers{state=\"active\"} 1",
            "cluster_workers{state=\"lost\"} 0",
            "cluster_worker_in_flight{worker=\"127.0.0.1:1\",address=\"127.0.0.1:1\"} 4",
            "cluster_task_run_seconds_bucket{le=\"0.00001\"} 1",
            "cluster_task_run_seconds_bucket{le=\"0.001\"} 3",
            "cluster_task_run_seconds_bucket{le=\"+Inf\"} 3",
            "cluster_task_run_seconds_count 3",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }
}
