//! The scheduling core: workers, queue, task and job tables, as a plain
//! synchronous state machine. It takes events (a worker joined, tasks were
//! submitted, results came back, a worker was lost) and answers with effects
//! through [`Comm`]. No async, no sockets, no clock, no proto types: every
//! rule is tested with plain `#[test]`s and the dispatch cost is benchmarked
//! in-process.
//!
//! - `model`: the vocabulary (worker, task, outcome, summary);
//! - `task` and `table`: the task table, a generational slab;
//! - `worker`: a connected worker's pipeline and shares;
//! - `routing`: which workers may run which tasks (profiles and classes);
//! - `queue`: per-job lanes served in turn;
//! - `dispatch`: the least-loaded index, dispatch and work stealing;
//! - `jobs`: a job's lifecycle and summary.

mod adopt;
mod comm;
mod deadline;
mod dispatch;
mod ids;
mod jobs;
mod model;
mod queue;
mod routing;
mod table;
mod task;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::HashSet;

pub use comm::{AssignedTask, Comm};
pub use ids::{JobId, TaskKey, WorkerId};
pub use model::{
    FailureCode, Finished, Held, JobSpec, JobSummary, NewTask, Outcome, Share, TaskReport, WorkerDesc,
    MAX_CORES,
};

use jobs::Job;
use queue::Ring;
use routing::Routing;
// Ids are ours, not a client's, so a fast non-DoS-resistant hash is fine.
use rustc_hash::FxHashMap as HashMap;
use table::Table;
use task::{TaskEntry, TaskState};
use worker::{Indexed, Worker};

/// Tunables of the scheduling core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Tasks a worker may hold beyond its cores (per core), so no core waits
    /// for a network round trip between two tasks.
    pub prefetch_per_core: u32,
    /// A task that was running on a lost worker, or that timed out, this
    /// many times fails.
    pub max_attempts: u32,
    /// Timeout of a task whose job sets none, in milliseconds.
    pub default_timeout_ms: Option<u64>,
    /// Longest a task waits when no connected worker can run it, in
    /// milliseconds, for jobs that set none; then it fails (UNKNOWN_KIND).
    pub unroutable_timeout_ms: u64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            prefetch_per_core: 2,
            max_attempts: 3,
            default_timeout_ms: None,
            unroutable_timeout_ms: 30_000,
        }
    }
}

/// One job's figures, for status reports.
#[derive(Debug, Clone)]
pub struct JobStats {
    /// Job id.
    pub id: JobId,
    /// Name the client gave it.
    pub name: String,
    /// Tasks submitted so far.
    pub submitted: u64,
    /// Tasks with a result.
    pub finished: u64,
    /// Dispatch paused until its client reads its results.
    pub paused: bool,
    /// Why some of its tasks wait with no worker able to run them.
    pub blocked: Option<String>,
    /// Tasks that failed so far.
    pub failed: u64,
}

/// A job that ended, for status reports.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedJob {
    /// Job id.
    pub id: JobId,
    /// Name the client gave it.
    pub name: String,
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks that succeeded.
    pub succeeded: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Tasks without a result when it was cancelled; `None` if it finished.
    pub cancelled: Option<u64>,
    /// From its opening to its end, in milliseconds.
    pub duration_ms: u64,
}

/// One worker's figures, for status reports.
#[derive(Debug, Clone)]
pub struct WorkerStats {
    /// Session id.
    pub id: WorkerId,
    /// Tasks assigned and not finished.
    pub in_flight: u64,
    /// Tasks finished in this session.
    pub completed: u64,
    /// Of those, tasks that failed.
    pub failed: u64,
    /// Of the tasks in flight, those running (the first `cores` it was
    /// given); the rest are prefetched.
    pub running: u64,
    /// Cores held by tasks taken back from it after they overran.
    pub stuck: u32,
}

/// The coordinator's scheduling state.
#[derive(Debug, Default)]
pub struct Core {
    config: CoreConfig,
    workers: HashMap<WorkerId, Worker>,
    /// Workers grouped by what they run, each group with its least-loaded
    /// indexes; tasks grouped by what they need.
    routing: Routing,
    /// Job lanes with queued tasks, served in turn.
    ring: Ring,
    /// Tasks queued over all jobs, and their payloads' bytes.
    queued: u64,
    queued_bytes: u64,
    tasks: Table<TaskEntry>,
    jobs: HashMap<JobId, Job>,
    tick: u64,
    late_results: u64,
    /// The last jobs that ended, oldest first.
    recent_jobs: std::collections::VecDeque<FinishedJob>,
    /// The time, in milliseconds, as the caller last set it.
    now_ms: u64,
    /// Queued tasks of jobs restored at start, by (job, client id), while
    /// workers may still report holding them.
    restored: HashMap<(JobId, u64), TaskKey>,
    /// Workers the caller knows of (in session, or being dialled), for the
    /// waiting notice.
    known_workers: usize,
}

impl Core {
    /// An empty core.
    pub fn new(config: CoreConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// Tells the core how many workers are connected or being dialled,
    /// beyond those in session, for what it tells waiting clients.
    pub fn set_known_workers(&mut self, n: usize) {
        self.known_workers = n;
    }

    /// Workers connected, as waiting clients are told.
    fn connected(&self) -> usize {
        self.workers.len().max(self.known_workers)
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// Bytes of the payloads of the tasks waiting for a worker.
    pub fn queued_bytes(&self) -> u64 {
        self.queued_bytes
    }

    /// Jobs not finished yet.
    pub fn active_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Results dropped because their task already had one or was moved away.
    pub fn late_results(&self) -> u64 {
        self.late_results
    }

    /// Figures for every connected worker, in id order.
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        let mut stats: Vec<_> = self
            .workers
            .iter()
            .map(|(&id, w)| WorkerStats {
                id,
                in_flight: u64::from(w.in_flight()),
                completed: w.completed,
                failed: w.failed,
                running: u64::from(w.in_flight().min(w.free_cores())),
                stuck: w.stuck.len() as u32,
            })
            .collect();
        stats.sort_by_key(|s| s.id);
        stats
    }

    /// A worker's session opened.
    pub fn add_worker(&mut self, id: WorkerId, desc: WorkerDesc) {
        let profile = self.routing.profile_for(&desc);
        self.routing.profile(profile).active += 1;
        self.workers.insert(id, Worker::new(desc, profile, self.config.prefetch_per_core));
        self.reindex(id);
    }

    /// A worker's session ended or it stopped answering. Its unstarted tasks
    /// go back to the front of the queue unmarked; the ones it was running
    /// spend an attempt, and fail once they have spent `max_attempts`.
    pub fn remove_worker(&mut self, id: WorkerId, comm: &mut impl Comm) {
        let Some(mut worker) = self.workers.remove(&id) else { return };
        self.apply_index(worker.profile, worker.indexed, Indexed::default());
        if !worker.draining {
            self.routing.profile(worker.profile).active -= 1;
        }
        for (job, share) in worker.take_all_shares() {
            if let Some(job) = self.jobs.get_mut(&job) {
                job.departed.push((id, share));
            }
        }
        let running = worker.free_cores() as usize;
        let mut requeue = Vec::new();
        for (position, key) in worker.assigned.take().into_iter().enumerate() {
            let Some(entry) = self.tasks.get_mut(key) else { continue };
            if let TaskState::Assigned { revoking: Some(thief), .. } = entry.state {
                self.routing.profile(thief).revoking -= 1;
            }
            if !self.jobs.contains_key(&entry.job) {
                self.tasks.remove(key); // its job was cancelled
                continue;
            }
            entry.state = TaskState::Queued;
            if position < running {
                entry.attempts += 1;
                entry.tried_on.push(worker.desc.name.clone());
                if entry.attempts >= self.config.max_attempts {
                    let message = format!(
                        "task was running on a worker that was lost {} times (on {})",
                        entry.attempts,
                        entry.tried_on.join(", ")
                    );
                    self.fail(key, FailureCode::WorkerLost, message, comm);
                    continue;
                }
            }
            requeue.push(key);
        }
        self.requeue_front(requeue);
    }

    /// Tasks of an open job; they join the back of its queue (or fail at
    /// once if the job's deadline has passed).
    pub fn submit(&mut self, job: JobId, tasks: impl IntoIterator<Item = NewTask>, comm: &mut impl Comm) {
        for task in tasks {
            let Some(entry) = self.jobs.get_mut(&job) else { return };
            if let (true, Some((_, allowed))) = (entry.expired, entry.deadline) {
                let message =
                    format!("the job's deadline of {allowed} ms passed before the task was submitted");
                self.reject(job, task.id, Outcome::failed(FailureCode::TimedOut, message), comm);
                continue;
            }
            let class = match entry.known_class(&task.kind, &self.routing.classes) {
                Some(class) => class,
                None => match self.routing.class_for(&task.kind, &entry.require) {
                    Some(class) => class,
                    None => {
                        let message = format!(
                            "too many distinct task kinds in the cluster (at most {}): kind '{}' refused",
                            routing::MAX_CLASSES,
                            task.kind
                        );
                        self.reject(job, task.id, Outcome::failed(FailureCode::InvalidInput, message), comm);
                        continue;
                    }
                },
            };
            entry.remaining += 1;
            entry.submitted += 1;
            let key = self.tasks.insert(TaskEntry {
                job,
                class,
                id: task.id,
                payload: task.payload,
                state: TaskState::Queued,
                stolen: false,
                attempts: 0,
                tried_on: Vec::new(),
            });
            self.enqueue(key, false);
        }
    }

    /// A worker's report on a task. The first result for a task wins; one
    /// from a worker the task is no longer assigned to is dropped and
    /// counted. A task its worker stopped (timed out, or cancelled while the
    /// worker shut down) spends an attempt and runs again until it has spent
    /// `max_attempts`.
    pub fn complete(&mut self, worker_id: WorkerId, key: TaskKey, done: Finished, comm: &mut impl Comm) {
        if !self.unassign(worker_id, key) {
            self.late_results += 1;
            // A task taken back for overrunning gives its core back now.
            if let Some(w) = self.workers.get_mut(&worker_id) {
                if let Some(at) = w.stuck.iter().position(|&k| k == key) {
                    w.stuck.swap_remove(at);
                    self.reindex(worker_id);
                }
            }
            return;
        }
        let Some(w) = self.workers.get_mut(&worker_id) else { return };
        w.completed += 1;
        w.failed += u64::from(!done.outcome.is_output());
        w.observe(done.run_micros);
        let name = w.desc.name.clone();
        self.reindex(worker_id);
        let Some(entry) = self.tasks.get_mut(key) else { return };
        let Some(job) = self.jobs.get_mut(&entry.job) else {
            self.tasks.remove(key); // its job was cancelled
            return;
        };
        if let Outcome::Failed { code: code @ (FailureCode::TimedOut | FailureCode::Cancelled), .. } =
            done.outcome
        {
            entry.attempts += 1;
            entry.tried_on.push(name);
            if entry.attempts < self.config.max_attempts {
                self.requeue_front(vec![key]);
                return;
            }
            let (code, message) = if code == FailureCode::TimedOut {
                let timeout = job.timeout_ms.unwrap_or_default();
                (code, format!("timed out after {timeout} ms on each of {} attempts", entry.attempts))
            } else {
                let message = format!("task was running on a worker that was lost {} times", entry.attempts);
                (FailureCode::WorkerLost, message)
            };
            let message = format!("{message} (on {})", entry.tried_on.join(", "));
            self.fail(key, code, message, comm);
            return;
        }
        if let Some(w) = self.workers.get_mut(&worker_id) {
            if w.add_share(entry.job, done.run_micros) {
                job.participants.push(worker_id);
            }
        }
        let report = TaskReport {
            id: entry.id,
            outcome: done.outcome,
            worker: name,
            run_micros: done.run_micros,
            attempts: entry.attempts + 1,
        };
        let job_id = entry.job;
        self.tasks.remove(key);
        self.record(job_id, report, comm);
    }

    /// A worker is draining: it takes no new tasks and handed back
    /// `returned` unstarted; those go back to the front of the queue.
    pub fn drain_worker(&mut self, worker_id: WorkerId, returned: &[TaskKey]) {
        let Some(worker) = self.workers.get_mut(&worker_id) else { return };
        if !worker.draining {
            self.routing.profile(worker.profile).active -= 1;
        }
        worker.draining = true;
        let mut requeue = Vec::new();
        for &key in returned {
            if self.unassign(worker_id, key) {
                requeue.push(key);
            }
        }
        self.reindex(worker_id);
        self.requeue_front(requeue);
    }

    /// A worker answered a revoke request: `returned` are the keys it gave
    /// back unstarted; the request's other keys had started.
    pub fn revoked(&mut self, worker_id: WorkerId, returned: &[TaskKey]) {
        let Some(worker) = self.workers.get_mut(&worker_id) else { return };
        let Some(request) = worker.pending_revokes.pop_front() else { return };
        let returned: HashSet<_> = returned.iter().copied().collect();
        let mut requeue = Vec::new();
        for (key, asked_seq) in request {
            let Some(entry) = self.tasks.get_mut(key) else { continue };
            match entry.state {
                // The same assignment the request was about: a task that
                // timed out and came back to this worker has a new seq, and
                // an answer to an older request must not touch it.
                TaskState::Assigned { worker, seq, revoking: Some(thief) }
                    if worker == worker_id && seq == asked_seq =>
                {
                    if returned.contains(&key) {
                        if self.unassign(worker_id, key) {
                            // Taken back for an idle core: it goes there.
                            if let Some(entry) = self.tasks.get_mut(key) {
                                entry.stolen = true;
                            }
                            requeue.push(key);
                        }
                    } else {
                        entry.state = TaskState::Assigned { worker, seq, revoking: None };
                        self.routing.profile(thief).revoking -= 1;
                        if let Some(w) = self.workers.get_mut(&worker_id) {
                            w.revoking -= 1;
                        }
                    }
                }
                _ => {}
            }
        }
        self.reindex(worker_id);
        self.requeue_front(requeue);
    }

    /// Takes a task off the worker it is assigned to (fixing the revoke
    /// counters) and marks it queued without queueing it; the caller
    /// reindexes the worker. False if the task is not assigned there.
    fn unassign(&mut self, worker_id: WorkerId, key: TaskKey) -> bool {
        let Some(entry) = self.tasks.get_mut(key) else { return false };
        let TaskState::Assigned { worker, seq, revoking } = entry.state else { return false };
        if worker != worker_id {
            return false;
        }
        let Some(w) = self.workers.get_mut(&worker_id) else { return false };
        entry.state = TaskState::Queued;
        w.assigned.remove(seq);
        if let Some(thief) = revoking {
            w.revoking -= 1;
            self.routing.profile(thief).revoking -= 1;
        }
        true
    }
}
