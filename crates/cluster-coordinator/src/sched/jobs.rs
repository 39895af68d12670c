//! Jobs: their lifecycle (open, input closed, cancelled, finished), their
//! results, and the per-worker shares their summaries report.

use std::collections::BTreeMap;

use super::queue::{Lane, Place};
use super::routing::ClassId;
use super::{Comm, Core, FailureCode, JobId, JobSpec, JobStats, JobSummary, Outcome, Share, TaskKey};
use super::{FinishedJob, TaskReport, WorkerId};

/// Finished jobs kept for status reports.
const RECENT_JOBS: usize = 8;

#[derive(Debug, Default)]
pub(super) struct Job {
    pub(super) name: String,
    pub(super) timeout_ms: Option<u64>,
    pub(super) submitted: u64,
    pub(super) remaining: u64,
    pub(super) input_closed: bool,
    pub(super) succeeded: u64,
    pub(super) failed: u64,
    /// Workers that ran tasks of this job; each keeps its share of the job
    /// with its own state (memory the completion touches anyway).
    pub(super) participants: Vec<WorkerId>,
    /// Shares of participants that left before the job ended.
    pub(super) departed: Vec<(WorkerId, Share)>,
    /// Labels a worker must carry to get its tasks.
    pub(super) require: BTreeMap<String, String>,
    /// Longest its tasks wait when no connected worker can run them.
    pub(super) unroutable_timeout_ms: u64,
    /// Its tasks waiting for a worker, one lane per class.
    pub(super) lanes: Vec<Lane>,
    /// Not dispatched for now: its client has too many results unread.
    pub(super) paused: bool,
    /// Whether a task of it was ever dispatched.
    pub(super) served: bool,
    /// When the job's time is up (the scheduler's clock), and for how long
    /// it was allowed, in milliseconds.
    pub(super) deadline: Option<(u64, u64)>,
    /// Its deadline passed: every task without a result failed, and tasks
    /// still arriving fail at once.
    pub(super) expired: bool,
    /// When it opened (the scheduler's clock), in milliseconds.
    pub(super) opened_ms: u64,
}

impl Job {
    /// The index of its lane for `class`, made if new.
    pub(super) fn lane_of(&mut self, class: ClassId) -> usize {
        match self.lanes.iter().position(|lane| lane.class == class) {
            Some(index) => index,
            None => {
                self.lanes.push(Lane {
                    class,
                    queue: Default::default(),
                    place: Place::Idle,
                    blocked_since: None,
                });
                self.lanes.len() - 1
            }
        }
    }

    /// The class of its tasks of `kind`, if a lane has it already.
    pub(super) fn known_class(&self, kind: &str, classes: &[super::routing::Class]) -> Option<ClassId> {
        self.lanes.iter().map(|lane| lane.class).find(|class| classes[class.index()].kind == kind)
    }
}

impl Core {
    /// Figures for every unfinished job, in id order.
    pub fn job_stats(&self) -> Vec<JobStats> {
        let mut stats: Vec<_> = self
            .jobs
            .iter()
            .map(|(&id, job)| JobStats {
                id,
                name: job.name.clone(),
                submitted: job.submitted,
                finished: job.submitted - job.remaining,
                paused: job.paused,
                failed: job.failed,
                blocked: job
                    .lanes
                    .iter()
                    .find(|lane| lane.blocked_since.is_some())
                    .map(|lane| self.routing.waiting_message(lane.class, self.connected())),
            })
            .collect();
        stats.sort_by_key(|s| s.id);
        stats
    }

    /// A client opened a job; its timeout overrides the default one.
    pub fn open_job(&mut self, job: JobId, spec: JobSpec) {
        let timeout_ms = spec.timeout_ms.or(self.config.default_timeout_ms);
        let deadline = spec.deadline_ms.map(|ms| (self.now_ms.saturating_add(ms), ms));
        let unroutable_timeout_ms = spec.unroutable_timeout_ms.unwrap_or(self.config.unroutable_timeout_ms);
        let opened_ms = self.now_ms;
        self.jobs.entry(job).or_insert_with(|| Job {
            opened_ms,
            name: spec.name,
            timeout_ms,
            deadline,
            require: spec.require,
            unroutable_timeout_ms,
            ..Job::default()
        });
    }

    /// Tasks received for a job that has not finished, `None` if there is
    /// no such job.
    pub fn job_submitted(&self, job: JobId) -> Option<u64> {
        self.jobs.get(&job).map(|job| job.submitted)
    }

    /// Reopens a job the coordinator had before it restarted: `before` is
    /// what its tasks with a result came to, `received` counts every task
    /// it had, of which `pending` (submitted next) have no result yet.
    pub fn restore_job(
        &mut self,
        job: JobId,
        spec: JobSpec,
        before: JobSummary,
        received: u64,
        pending: usize,
    ) {
        self.open_job(job, spec);
        if let Some(entry) = self.jobs.get_mut(&job) {
            entry.submitted = received.saturating_sub(pending as u64);
            entry.succeeded = before.succeeded;
            entry.failed = before.failed;
            // Shares of workers from before the restart, merged by name
            // into the summary with those of the same workers after it.
            entry.departed = before.shares.into_iter().map(|share| (WorkerId(0), share)).collect();
        }
    }

    /// A task refused before it was queued (too large to hand to any
    /// worker, say): it counts as submitted and fails at once.
    pub fn reject(&mut self, job_id: JobId, task_id: u64, outcome: Outcome, comm: &mut impl Comm) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        job.submitted += 1;
        job.remaining += 1;
        let report = TaskReport { id: task_id, outcome, worker: String::new(), run_micros: 0, attempts: 0 };
        self.record(job_id, report, comm);
    }

    /// The client sent all of the job's tasks.
    pub fn close_input(&mut self, job: JobId, comm: &mut impl Comm) {
        if let Some(entry) = self.jobs.get_mut(&job) {
            entry.input_closed = true;
            self.finish_job_if_done(job, comm);
        }
    }

    /// Cancels a job: its queued tasks are dropped, its assigned ones are
    /// stopped on their workers (whose answers are then discarded). Returns
    /// how many tasks had no result yet.
    pub fn cancel_job(&mut self, job: JobId, comm: &mut impl Comm) -> u64 {
        for key in self.take_queued(job) {
            self.tasks.remove(key);
        }
        let Some(mut entry) = self.jobs.remove(&job) else { return 0 };
        self.remember_finished(job, &entry, true);
        self.collect_shares(job, std::mem::take(&mut entry.participants));
        // Its assigned tasks stay in the table until their workers answer,
        // so those answers are recognised (and dropped) as its.
        for (worker, keys) in self.assigned_tasks_of(job) {
            comm.cancel(worker, keys);
        }
        entry.remaining
    }

    /// A job's tasks now on workers, by worker.
    pub(super) fn assigned_tasks_of(&self, job: JobId) -> BTreeMap<WorkerId, Vec<TaskKey>> {
        let mut on: BTreeMap<WorkerId, Vec<TaskKey>> = BTreeMap::new();
        for (&worker_id, worker) in &self.workers {
            for key in worker.assigned.keys() {
                if self.tasks.get(key).is_some_and(|task| task.job == job) {
                    on.entry(worker_id).or_default().push(key);
                }
            }
        }
        on
    }

    pub(super) fn fail(&mut self, key: TaskKey, code: FailureCode, message: String, comm: &mut impl Comm) {
        let Some(mut entry) = self.tasks.remove(key) else { return };
        let report = TaskReport {
            id: entry.id,
            outcome: Outcome::Failed { code, message, detail: None },
            worker: entry.tried_on.pop().unwrap_or_default(),
            run_micros: 0,
            attempts: entry.attempts,
        };
        self.record(entry.job, report, comm);
    }

    pub(super) fn record(&mut self, job_id: JobId, report: TaskReport, comm: &mut impl Comm) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        job.remaining -= 1;
        if report.outcome.is_output() {
            job.succeeded += 1;
        } else {
            job.failed += 1;
        }
        comm.deliver(job_id, report);
        self.finish_job_if_done(job_id, comm);
    }

    pub(super) fn finish_job_if_done(&mut self, job_id: JobId, comm: &mut impl Comm) {
        let done = matches!(self.jobs.get(&job_id), Some(job) if job.input_closed && job.remaining == 0);
        if !done {
            return;
        }
        if let Some(job) = self.jobs.remove(&job_id) {
            self.remember_finished(job_id, &job, false);
            let mut shares = self.collect_shares(job_id, job.participants);
            shares.extend(job.departed);
            shares.sort_unstable_by_key(|(worker, _)| *worker);
            let summary =
                JobSummary { succeeded: job.succeeded, failed: job.failed, shares: merge_by_name(shares) };
            comm.job_finished(job_id, summary);
        }
    }

    /// Keeps the last few finished jobs for status reports.
    fn remember_finished(&mut self, id: JobId, job: &Job, cancelled: bool) {
        if self.recent_jobs.len() == RECENT_JOBS {
            self.recent_jobs.pop_front();
        }
        self.recent_jobs.push_back(FinishedJob {
            id,
            name: job.name.clone(),
            submitted: job.submitted,
            succeeded: job.succeeded,
            failed: job.failed,
            cancelled: cancelled.then_some(job.remaining),
            duration_ms: self.now_ms.saturating_sub(job.opened_ms),
        });
    }

    /// The last jobs that finished or were cancelled, oldest first.
    pub fn recent_jobs(&self) -> Vec<FinishedJob> {
        self.recent_jobs.iter().cloned().collect()
    }

    /// Takes a finished or cancelled job's shares off its participants.
    fn collect_shares(&mut self, job: JobId, participants: Vec<WorkerId>) -> Vec<(WorkerId, Share)> {
        participants
            .into_iter()
            .filter_map(|id| Some((id, self.workers.get_mut(&id)?.take_share(job)?)))
            .collect()
    }
}

/// One share per worker name, in the order first seen: a worker that left
/// and came back (or ran before and after a restart) counts once.
fn merge_by_name(shares: Vec<(WorkerId, Share)>) -> Vec<Share> {
    let mut merged: Vec<Share> = Vec::with_capacity(shares.len());
    for (_, share) in shares {
        match merged.iter_mut().find(|m| m.worker == share.worker) {
            Some(m) => {
                m.tasks += share.tasks;
                m.busy_micros = m.busy_micros.saturating_add(share.busy_micros);
                m.cores = m.cores.max(share.cores);
            }
            None => merged.push(share),
        }
    }
    merged
}
