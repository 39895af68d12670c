//! The coordinator's own deadline on running tasks. A worker stops a task
//! that overruns its timeout and reports it; one that does not (a bug, a
//! kind that ignores cancellation, a hostile worker) would hold the task
//! forever. Past the timeout plus a grace, the scheduler takes the task
//! back, spends an attempt, runs it elsewhere, and counts the core it may
//! still occupy as stuck until the worker reports that task.

use super::task::TaskState;
use super::{Comm, Core, FailureCode, JobId, TaskKey, WorkerId};

/// The grace past a task's timeout: a tenth of it plus a second, for the
/// worker to notice, stop the task and report.
pub(super) fn grace_ms(timeout_ms: u64) -> u64 {
    timeout_ms / 10 + 1_000
}

impl Core {
    /// Sets the time, in milliseconds from any fixed origin. The caller
    /// owns the clock; nothing in the scheduler reads one.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    /// Takes back running tasks that overran their timeout and grace, and
    /// ends jobs whose deadline passed.
    pub fn check_deadlines(&mut self, comm: &mut impl Comm) {
        let now = self.now_ms;
        let expired: Vec<(JobId, u64)> = self
            .jobs
            .iter()
            .filter_map(|(&id, job)| match job.deadline {
                Some((at, allowed)) if !job.expired && now >= at => Some((id, allowed)),
                _ => None,
            })
            .collect();
        for (job, allowed) in expired {
            self.expire_job(job, allowed, comm);
        }
        let mut overdue: Vec<(WorkerId, TaskKey, u64)> = Vec::new();
        for (&worker_id, worker) in &self.workers {
            for (key, started) in worker.assigned.running() {
                let Some(task) = self.tasks.get(key) else { continue };
                let Some(timeout) = self.jobs.get(&task.job).and_then(|job| job.timeout_ms) else { continue };
                if now.saturating_sub(started) > timeout + grace_ms(timeout) {
                    overdue.push((worker_id, key, timeout));
                }
            }
        }
        for (worker_id, key, timeout) in overdue {
            self.take_back(worker_id, key, timeout, comm);
        }
        self.check_unroutable(comm);
    }

    /// Lanes no connected worker can run: their clients are told, and past
    /// the job's unroutable timeout their tasks fail with UNKNOWN_KIND.
    fn check_unroutable(&mut self, comm: &mut impl Comm) {
        let now = self.now_ms;
        for class in self.routing.unroutable_with_parked() {
            // Lanes of jobs that ended are forgotten here too.
            let jobs = &self.jobs;
            self.routing.class(class).parked.retain(|(job, _)| jobs.contains_key(job));
            for lane in self.routing.class(class).parked.clone() {
                self.block_lane(lane, comm);
                let Some(job) = self.jobs.get_mut(&lane.0) else { continue };
                let timeout = job.unroutable_timeout_ms;
                let Some(lane) = job.lanes.get_mut(lane.1 as usize) else { continue };
                let Some(_) = lane.blocked_since.filter(|&since| now.saturating_sub(since) >= timeout) else {
                    continue;
                };
                let queue = std::mem::take(&mut lane.queue);
                lane.blocked_since = None;
                let message = self.routing.unroutable_message(class, timeout);
                self.unqueue(&queue);
                for key in queue {
                    self.fail(key, FailureCode::UnknownKind, message.clone(), comm);
                }
            }
        }
    }

    /// A job's time is up: every task without a result fails, queued ones
    /// at once, running ones stopped on their workers (whose answers are
    /// then late).
    fn expire_job(&mut self, job_id: JobId, allowed: u64, comm: &mut impl Comm) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        job.expired = true;
        let message = || format!("the job's deadline of {allowed} ms passed before the task finished");
        for key in self.take_queued(job_id) {
            self.fail(key, FailureCode::TimedOut, message(), comm);
        }
        for (worker_id, keys) in self.assigned_tasks_of(job_id) {
            for &key in &keys {
                self.unassign(worker_id, key);
                self.fail(key, FailureCode::TimedOut, message(), comm);
            }
            self.reindex(worker_id);
            comm.cancel(worker_id, keys);
        }
    }

    fn take_back(&mut self, worker_id: WorkerId, key: TaskKey, timeout: u64, comm: &mut impl Comm) {
        if !self.unassign(worker_id, key) {
            return;
        }
        let Some(worker) = self.workers.get_mut(&worker_id) else { return };
        worker.stuck.push(key);
        let name = worker.desc.name.clone();
        comm.cancel(worker_id, vec![key]);
        self.reindex(worker_id);
        let Some(entry) = self.tasks.get_mut(key) else { return };
        debug_assert_eq!(entry.state, TaskState::Queued);
        entry.attempts += 1;
        entry.tried_on.push(name);
        if entry.attempts < self.config.max_attempts {
            self.requeue_front(vec![key]);
            return;
        }
        let message = format!(
            "ran over its timeout of {timeout} ms by more than {} ms without its worker reporting it, \
             on each of {} attempts (on {})",
            grace_ms(timeout),
            entry.attempts,
            entry.tried_on.join(", ")
        );
        self.fail(key, FailureCode::TimedOut, message, comm);
    }
}
