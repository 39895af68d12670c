//! The scheduling core: workers, queue, task and job tables, as a plain
//! synchronous state machine. It takes events (a worker joined, tasks were
//! submitted, results came back, a worker was lost) and answers with effects
//! through [`Comm`]. No async, no sockets, no clock: every rule is tested with
//! plain `#[test]`s and the dispatch cost is benchmarked in-process.

mod comm;
mod dispatch;
mod ids;
mod jobs;
mod table;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use cluster_proto::{task, task_result, ErrorCode, Task, TaskResult, WorkerShare};

pub use comm::Comm;
pub use ids::{JobId, TaskKey, WorkerId};

use dispatch::LoadIndex;
use jobs::Job;
// Ids are ours, not a client's, so a fast non-DoS-resistant hash is fine.
use rustc_hash::FxHashMap as HashMap;
use table::Table;
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
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self { prefetch_per_core: 2, max_attempts: 3, default_timeout_ms: None }
    }
}

/// What a worker told us about itself when its session opened.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Address, or "local".
    pub name: String,
    /// Cores it runs tasks on (at least 1).
    pub cores: u32,
    /// Relative speed of a core (positive).
    pub weight: f64,
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
}

/// One worker's figures, for status reports.
#[derive(Debug, Clone)]
pub struct WorkerStats {
    /// Session id.
    pub id: WorkerId,
    /// Name and advertised resources.
    pub spec: WorkerSpec,
    /// Tasks assigned and not finished.
    pub in_flight: u64,
    /// Tasks finished in this session.
    pub completed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    Queued,
    Assigned { worker: WorkerId, seq: u64, revoking: bool },
}

/// Distinct task kind names kept shared; beyond this each task keeps its
/// own copy, so a client inventing names cannot grow the set without bound.
const MAX_SHARED_KINDS: usize = 1024;

/// A task as the core keeps it: compact, because a million may be queued.
#[derive(Debug)]
struct TaskEntry {
    job: JobId,
    /// The client's id for the task.
    id: u64,
    kind: Arc<str>,
    input: Option<task::Input>,
    state: TaskState,
    /// Attempts spent: times the task was running on a worker that was
    /// lost, or timed out.
    attempts: u32,
    /// The workers those attempts were spent on.
    tried_on: Vec<String>,
}

/// The coordinator's scheduling state.
#[derive(Debug, Default)]
pub struct Core {
    config: CoreConfig,
    workers: HashMap<WorkerId, Worker>,
    /// Active workers with a free pipeline slot, least loaded first.
    load: LoadIndex,
    /// Workers holding unstarted tasks beyond their cores, by how many.
    /// Workers that held unstarted tasks beyond their cores when last
    /// indexed: candidates to steal from, checked when popped (a stack with
    /// lazy deletion: each worker is listed at most once).
    victims: Vec<WorkerId>,
    /// Sum over workers of cores without a task.
    idle_cores: u64,
    /// Tasks asked back from workers and not answered yet.
    revoking: u64,
    queue: VecDeque<TaskKey>,
    queued: u64,
    tasks: Table<TaskEntry>,
    kinds: HashSet<Arc<str>>,
    jobs: HashMap<JobId, Job>,
    tick: u64,
    late_results: u64,
}

impl TaskEntry {
    fn to_task(&self) -> Task {
        Task { id: self.id, kind: self.kind.to_string(), input: self.input.clone() }
    }
}

impl Core {
    /// An empty core.
    pub fn new(config: CoreConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> u64 {
        self.queued
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
                spec: w.spec.clone(),
                in_flight: u64::from(w.in_flight()),
                completed: w.completed,
            })
            .collect();
        stats.sort_by_key(|s| s.id);
        stats
    }

    /// A worker's session opened.
    pub fn add_worker(&mut self, id: WorkerId, spec: WorkerSpec) {
        self.workers.insert(id, Worker::new(spec, self.config.prefetch_per_core));
        self.reindex(id);
    }

    /// A worker's session ended or it stopped answering. Its unstarted tasks
    /// go back to the front of the queue unmarked; the ones it was running
    /// spend an attempt, and fail once they have spent `max_attempts`.
    pub fn remove_worker(&mut self, id: WorkerId, comm: &mut impl Comm) {
        let Some(mut worker) = self.workers.remove(&id) else { return };
        self.apply_index(worker.indexed, Indexed::default());
        for (job, jobs, busy_micros) in std::mem::take(&mut worker.job_shares) {
            if let Some(job) = self.jobs.get_mut(&job) {
                let share = WorkerShare {
                    worker: worker.spec.name.clone(),
                    cores: worker.spec.cores,
                    jobs,
                    busy_micros,
                };
                job.departed.push((id, share));
            }
        }
        let running = worker.spec.cores as usize;
        let mut requeue = Vec::new();
        for (position, key) in worker.assigned.take().into_iter().enumerate() {
            let Some(entry) = self.tasks.get_mut(key) else { continue };
            if let TaskState::Assigned { revoking: true, .. } = entry.state {
                self.revoking -= 1;
            }
            if !self.jobs.contains_key(&entry.job) {
                self.tasks.remove(key); // its job was cancelled
                continue;
            }
            entry.state = TaskState::Queued;
            if position < running {
                entry.attempts += 1;
                entry.tried_on.push(worker.spec.name.clone());
                if entry.attempts >= self.config.max_attempts {
                    let message = format!(
                        "task was running on a worker that was lost {} times (on {})",
                        entry.attempts,
                        entry.tried_on.join(", ")
                    );
                    self.fail(key, ErrorCode::WorkerLost, message, comm);
                    continue;
                }
            }
            requeue.push(key);
        }
        self.requeue_front(requeue);
    }

    /// Tasks of an open job; they join the back of the queue.
    pub fn submit(&mut self, job: JobId, tasks: impl IntoIterator<Item = Task>) {
        let Some(entry) = self.jobs.get_mut(&job) else { return };
        for task in tasks {
            let kind = match self.kinds.get(task.kind.as_str()) {
                Some(kind) => kind.clone(),
                None => {
                    let kind: Arc<str> = task.kind.into();
                    if self.kinds.len() < MAX_SHARED_KINDS {
                        self.kinds.insert(kind.clone());
                    }
                    kind
                }
            };
            entry.remaining += 1;
            entry.submitted += 1;
            let key = self.tasks.insert(TaskEntry {
                job,
                id: task.id,
                kind,
                input: task.input,
                state: TaskState::Queued,
                attempts: 0,
                tried_on: Vec::new(),
            });
            self.queue.push_back(key);
            self.queued += 1;
        }
    }

    /// Results reported by a worker. The first result for a task wins; one
    /// from a worker the task is no longer assigned to is dropped and
    /// counted. A timed-out task spends an attempt and runs again until it
    /// has spent `max_attempts`.
    pub fn complete(&mut self, worker_id: WorkerId, key: TaskKey, result: TaskResult, comm: &mut impl Comm) {
        if !self.unassign(worker_id, key) {
            self.late_results += 1;
            return;
        }
        let Some(w) = self.workers.get_mut(&worker_id) else { return };
        w.completed += 1;
        w.observe(result.run_micros);
        let name = w.spec.name.clone();
        self.reindex(worker_id);
        let Some(entry) = self.tasks.get_mut(key) else { return };
        let Some(job) = self.jobs.get_mut(&entry.job) else {
            self.tasks.remove(key); // its job was cancelled
            return;
        };
        let code = match &result.outcome {
            Some(task_result::Outcome::Error(e)) => ErrorCode::try_from(e.code).ok(),
            _ => None,
        };
        // Timed out, or stopped by its worker while that worker shut down
        // (its job still wants it): the attempt is spent, the task goes on.
        if let Some(code @ (ErrorCode::TimedOut | ErrorCode::Cancelled)) = code {
            entry.attempts += 1;
            entry.tried_on.push(name);
            if entry.attempts < self.config.max_attempts {
                self.requeue_front(vec![key]);
                return;
            }
            let (code, message) = if code == ErrorCode::TimedOut {
                let timeout = job.timeout_ms.unwrap_or_default();
                (code, format!("timed out after {timeout} ms on each of {} attempts", entry.attempts))
            } else {
                let message = format!("task was running on a worker that was lost {} times", entry.attempts);
                (ErrorCode::WorkerLost, message)
            };
            let message = format!("{message} (on {})", entry.tried_on.join(", "));
            self.fail(key, code, message, comm);
            return;
        }
        if let Some(w) = self.workers.get_mut(&worker_id) {
            if w.add_share(entry.job, result.run_micros) {
                job.participants.push(worker_id);
            }
        }
        let result = TaskResult { id: entry.id, worker: name, attempts: entry.attempts + 1, ..result };
        let job_id = entry.job;
        self.tasks.remove(key);
        self.record(job_id, result, comm);
    }

    /// A worker is draining: it takes no new tasks and handed back
    /// `returned` unstarted; those go back to the front of the queue.
    pub fn drain_worker(&mut self, worker_id: WorkerId, returned: &[TaskKey]) {
        let Some(worker) = self.workers.get_mut(&worker_id) else { return };
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
                TaskState::Assigned { worker, seq, revoking: true }
                    if worker == worker_id && seq == asked_seq =>
                {
                    if returned.contains(&key) {
                        if self.unassign(worker_id, key) {
                            requeue.push(key);
                        }
                    } else {
                        entry.state = TaskState::Assigned { worker, seq, revoking: false };
                        self.revoking -= 1;
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
        if revoking {
            w.revoking -= 1;
            self.revoking -= 1;
        }
        true
    }

    /// Puts tasks back at the front of the queue, in the given order; tasks
    /// whose job is gone are dropped instead.
    fn requeue_front(&mut self, keys: Vec<TaskKey>) {
        for key in keys.into_iter().rev() {
            let alive = matches!(self.tasks.get(key), Some(e) if self.jobs.contains_key(&e.job));
            if alive {
                self.queue.push_front(key);
                self.queued += 1;
            } else {
                self.tasks.remove(key);
            }
        }
    }

    /// Hands queued tasks to workers, least loaded first; when the queue is
    /// empty and cores are idle, asks busy workers to give back prefetched
    /// tasks so the idle cores get them.
    pub fn schedule(&mut self, comm: &mut impl Comm) {
        self.dispatch(comm);
        if self.queue.is_empty() {
            self.steal(comm);
        }
    }

    fn dispatch(&mut self, comm: &mut impl Comm) {
        while let Some(&key) = self.queue.front() {
            let Some(entry) = self.tasks.get_mut(key) else {
                self.queue.pop_front(); // cancelled while queued
                continue;
            };
            if entry.state != TaskState::Queued {
                self.queue.pop_front();
                continue;
            }
            let Some(slot) = self.load.first() else { break };
            let worker_id = slot.worker();
            let Some(worker) = self.workers.get_mut(&worker_id) else { break };
            let timeout_ms = self.jobs.get(&entry.job).and_then(|job| job.timeout_ms);
            self.queue.pop_front();
            self.queued -= 1;
            self.tick += 1;
            let seq = self.tick;
            worker.assigned.push(seq, key);
            worker.last_assigned = seq;
            entry.state = TaskState::Assigned { worker: worker_id, seq, revoking: false };
            comm.assign(worker_id, key, entry.to_task(), timeout_ms);
            self.reindex(worker_id);
        }
    }

    fn steal(&mut self, comm: &mut impl Comm) {
        while self.revoking < self.idle_cores {
            let Some(&victim) = self.victims.last() else { return };
            let prefetched = self.workers.get(&victim).map_or(0, |w| w.indexed.prefetched);
            if prefetched == 0 {
                self.victims.pop();
                if let Some(worker) = self.workers.get_mut(&victim) {
                    worker.victim_listed = false;
                }
                continue;
            }
            let want = (self.idle_cores - self.revoking).min(u64::from(prefetched)) as usize;
            let Some(worker) = self.workers.get_mut(&victim) else { return };
            // The newest assignments are the ones furthest from starting.
            let mut asked = Vec::new();
            for key in worker.assigned.keys().rev() {
                if asked.len() == want {
                    break;
                }
                if let Some(entry) = self.tasks.get_mut(key) {
                    if let TaskState::Assigned { worker, seq, revoking: false } = entry.state {
                        entry.state = TaskState::Assigned { worker, seq, revoking: true };
                        asked.push((key, seq));
                    }
                }
            }
            if asked.is_empty() {
                return;
            }
            worker.revoking += asked.len() as u32;
            self.revoking += asked.len() as u64;
            let keys = asked.iter().map(|&(key, _)| key).collect();
            worker.pending_revokes.push_back(asked);
            comm.revoke(victim, keys);
            self.reindex(victim);
        }
    }

    /// Recomputes a worker's places in the indexes after its load changed.
    fn reindex(&mut self, id: WorkerId) {
        let Some(worker) = self.workers.get_mut(&id) else { return };
        let new = worker.index_entry(id);
        let old = std::mem::replace(&mut worker.indexed, new);
        if new.prefetched > 0 && !worker.victim_listed {
            worker.victim_listed = true;
            self.victims.push(id);
        }
        self.apply_index(old, new);
    }

    /// Removes `old`'s entries from the indexes and adds `new`'s.
    fn apply_index(&mut self, old: Indexed, new: Indexed) {
        if old.load != new.load {
            if let Some(key) = old.load {
                self.load.remove(&key);
            }
            if let Some(key) = new.load {
                self.load.insert(key);
            }
        }
        self.idle_cores = self.idle_cores - u64::from(old.idle) + u64::from(new.idle);
    }
}
