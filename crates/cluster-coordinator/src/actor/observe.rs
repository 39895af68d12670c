//! What the actor observes for operators, where it already sees each
//! outcome: counters and histograms for metrics, and the job and task
//! failure log lines. Plain fields owned by the actor (no atomics, no
//! locks, no allocation per task but the entry of a task's submit time);
//! a metrics scrape asks the actor for a copy.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;

use crate::sched::{FailureCode, JobId, JobSpec, JobSummary, Outcome, TaskReport};

/// Every failure code, in the order [`Counters::failed`] counts them.
pub(crate) const FAILURE_CODES: [FailureCode; 8] = [
    FailureCode::InvalidInput,
    FailureCode::UnknownKind,
    FailureCode::TaskFailed,
    FailureCode::TimedOut,
    FailureCode::WorkerLost,
    FailureCode::Cancelled,
    FailureCode::ResultTooLarge,
    FailureCode::Unspecified,
];

fn code_index(code: FailureCode) -> usize {
    FAILURE_CODES.iter().position(|&c| c == code).unwrap_or(FAILURE_CODES.len() - 1)
}

/// Upper bounds of the histogram buckets, in microseconds (10 us to 5 min).
pub(crate) const BUCKETS_MICROS: [u64; 14] = [
    10,
    100,
    500,
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    60_000_000,
    300_000_000,
];

/// A histogram of durations: a count per bucket (the last one is +Inf),
/// not cumulative.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    pub(crate) counts: [u64; BUCKETS_MICROS.len() + 1],
    pub(crate) sum_micros: u64,
    pub(crate) count: u64,
}

impl Histogram {
    fn observe(&mut self, micros: u64) {
        let bucket = BUCKETS_MICROS.partition_point(|&bound| bound < micros);
        self.counts[bucket] += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
        self.count += 1;
    }
}

/// Totals since the coordinator started.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) submitted: u64,
    pub(crate) succeeded: u64,
    /// Final failures, by code (see [`FAILURE_CODES`]).
    pub(crate) failed: [u64; FAILURE_CODES.len()],
    /// Attempts beyond each task's first, counted when its result is in.
    pub(crate) retried: u64,
    /// Tasks left without a result when their job was cancelled or failed.
    pub(crate) cancelled: u64,
    /// Attempts a worker stopped for running over their timeout (retried
    /// or not).
    pub(crate) timed_out: u64,
    pub(crate) jobs_started: u64,
    /// Run time of each task that ran, as its worker measured it.
    pub(crate) run_time: Histogram,
    /// From a task's arrival at the coordinator to its result, for one
    /// task in [`LATENCY_SAMPLE`] of each job (its first among them).
    pub(crate) latency: Histogram,
}

/// One task in this many of each job has its latency measured: a hash
/// entry per task cost about 5% of the noop throughput.
pub(crate) const LATENCY_SAMPLE: u64 = 16;

/// A job as the logs and the latency histogram need it.
struct JobInfo {
    name: String,
    client: Option<SocketAddr>,
    opened: Instant,
    submitted: u64,
    succeeded: u64,
    failed: u64,
    /// Arrival time of each sampled task without a result, in
    /// microseconds after the job opened, by the client's id.
    arrived: HashMap<u64, u64>,
}

/// Task failures logged per second at most; the others are counted and
/// the count is logged.
const FAILURES_LOGGED_PER_SECOND: u32 = 5;

#[derive(Default)]
pub(super) struct Observer {
    pub(super) counters: Counters,
    jobs: HashMap<JobId, JobInfo>,
    /// The time of the actor's current round.
    now: Option<Instant>,
    window: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl Observer {
    /// The actor's round started at `now`; logs how many failures went
    /// unlogged in a window that ended.
    pub(super) fn set_now(&mut self, now: Instant) {
        self.now = Some(now);
        if self.window.is_some_and(|start| now.duration_since(start) >= Duration::from_secs(1)) {
            if self.suppressed > 0 {
                tracing::warn!(
                    suppressed = self.suppressed,
                    "more task failures in the last second, not logged"
                );
            }
            (self.window, self.logged, self.suppressed) = (None, 0, 0);
        }
    }

    fn now(&self) -> Instant {
        self.now.unwrap_or_else(Instant::now)
    }

    pub(super) fn job_opened(&mut self, job: JobId, spec: &JobSpec, client: Option<SocketAddr>) {
        self.counters.jobs_started += 1;
        // DEBUG: a line per small job costs its round trip a write(2) on
        // the actor's thread; the job's end is logged at INFO with all of
        // this, and `status` shows the jobs running.
        let client_address = client.map(|a| a.to_string()).unwrap_or_default();
        tracing::debug!(
            job = job.0,
            name = %spec.name,
            client = %client_address,
            timeout_ms = spec.timeout_ms,
            deadline_ms = spec.deadline_ms,
            "job started"
        );
        let info = JobInfo {
            name: spec.name.clone(),
            client,
            opened: self.now(),
            submitted: 0,
            succeeded: 0,
            failed: 0,
            arrived: HashMap::default(),
        };
        self.jobs.insert(job, info);
    }

    /// Tasks of `job` arrived (those refused at the edge included).
    pub(super) fn submitted(&mut self, job: JobId, ids: impl ExactSizeIterator<Item = u64>) {
        self.counters.submitted += ids.len() as u64;
        let now = self.now();
        let Some(info) = self.jobs.get_mut(&job) else { return };
        let at = now.duration_since(info.opened).as_micros() as u64;
        for id in ids {
            if info.submitted % LATENCY_SAMPLE == 0 {
                info.arrived.insert(id, at);
            }
            info.submitted += 1;
        }
    }

    /// A worker stopped a task for running over its timeout.
    pub(super) fn attempt_timed_out(&mut self) {
        self.counters.timed_out += 1;
    }

    /// Tasks of a job that ended without their results.
    pub(super) fn cancelled(&mut self, tasks: u64) {
        self.counters.cancelled += tasks;
    }

    /// A task's one result is going to its client.
    pub(super) fn delivered(&mut self, job: JobId, report: &TaskReport) {
        let counters = &mut self.counters;
        counters.retried += u64::from(report.attempts.saturating_sub(1));
        if report.attempts > 0 {
            counters.run_time.observe(report.run_micros);
        }
        let mut info = self.jobs.get_mut(&job);
        if let Outcome::Failed { code, message, .. } = &report.outcome {
            counters.failed[code_index(*code)] += 1;
            let name = info.as_ref().map_or("", |info| info.name.as_str());
            let now = self.now.unwrap_or_else(Instant::now);
            if self.logged < FAILURES_LOGGED_PER_SECOND {
                self.window.get_or_insert(now);
                self.logged += 1;
                tracing::warn!(
                    job = job.0,
                    name,
                    task = report.id,
                    code = ?code,
                    worker = %report.worker,
                    attempts = report.attempts,
                    "task failed: {message}"
                );
            } else {
                self.suppressed += 1;
            }
        } else {
            counters.succeeded += 1;
        }
        let Some(info) = info.as_mut() else { return };
        if report.outcome.is_output() {
            info.succeeded += 1;
        } else {
            info.failed += 1;
        }
        if info.arrived.is_empty() {
            return;
        }
        if let (Some(at), Some(now)) = (info.arrived.remove(&report.id), self.now) {
            let since_open = now.duration_since(info.opened).as_micros() as u64;
            counters.latency.observe(since_open.saturating_sub(at));
        }
    }

    /// Every task of the job has its result.
    pub(super) fn job_finished(&mut self, job: JobId, summary: &JobSummary) {
        let Some(info) = self.jobs.remove(&job) else { return };
        tracing::info!(
            job = job.0,
            name = %info.name,
            client = %info.client.map(|a| a.to_string()).unwrap_or_default(),
            tasks = info.submitted,
            succeeded = summary.succeeded,
            failed = summary.failed,
            workers = summary.shares.len(),
            duration_ms = self.now().duration_since(info.opened).as_millis() as u64,
            "job finished"
        );
    }

    /// The job ended before every task had its result.
    pub(super) fn job_ended(&mut self, job: JobId, why: &dyn std::fmt::Display) {
        let Some(info) = self.jobs.remove(&job) else { return };
        tracing::info!(
            job = job.0,
            name = %info.name,
            client = %info.client.map(|a| a.to_string()).unwrap_or_default(),
            tasks = info.submitted,
            succeeded = info.succeeded,
            failed = info.failed,
            unfinished = info.submitted.saturating_sub(info.succeeded + info.failed),
            duration_ms = self.now().duration_since(info.opened).as_millis() as u64,
            "job ended early: {why}"
        );
    }
}
