//! The scheduling core: workers, queue, task and job tables, as a plain
//! synchronous state machine. It takes events (a worker joined, tasks were
//! submitted, results came back, a worker was lost) and answers with effects
//! through [`Comm`]. No async, no sockets, no clock: every rule is tested with
//! plain `#[test]`s and the dispatch cost is benchmarked in-process.

mod comm;
mod dispatch;
mod ids;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use cluster_proto::{task_result, ErrorCode, JobSummary, Task, TaskError, TaskResult, WorkerShare};

pub use comm::Comm;
pub use ids::{JobId, TaskKey, WorkerId};

use dispatch::LoadIndex;
use worker::{Indexed, Worker};

/// Tunables of the scheduling core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Tasks a worker may hold beyond its cores (per core), so no core waits
    /// for a network round trip between two tasks.
    pub prefetch_per_core: u32,
    /// A task lost with its worker this many times fails.
    pub max_attempts: u32,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self { prefetch_per_core: 2, max_attempts: 3 }
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

#[derive(Debug)]
struct TaskEntry {
    job: JobId,
    task: Task,
    state: TaskState,
    /// Attempts spent: times the task was running on a worker that was lost.
    attempts: u32,
    lost_on: Vec<String>,
}

#[derive(Debug, Default)]
struct Job {
    remaining: u64,
    input_closed: bool,
    succeeded: u64,
    failed: u64,
    shares: BTreeMap<WorkerId, WorkerShare>,
}

/// The coordinator's scheduling state.
#[derive(Debug, Default)]
pub struct Core {
    config: CoreConfig,
    workers: HashMap<WorkerId, Worker>,
    /// Active workers with a free pipeline slot, least loaded first.
    load: LoadIndex,
    /// Workers holding unstarted tasks beyond their cores, by how many.
    prefetched: BTreeSet<(u32, WorkerId)>,
    /// Sum over workers of cores without a task.
    idle_cores: u64,
    /// Tasks asked back from workers and not answered yet.
    revoking: u64,
    queue: VecDeque<TaskKey>,
    queued: u64,
    tasks: HashMap<TaskKey, TaskEntry>,
    jobs: HashMap<JobId, Job>,
    next_key: u64,
    tick: u64,
    late_results: u64,
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
        self.apply_index(id, worker.indexed, Indexed::default());
        let running = worker.spec.cores as usize;
        let mut requeue = Vec::new();
        for (position, key) in std::mem::take(&mut worker.assigned).into_values().enumerate() {
            let Some(entry) = self.tasks.get_mut(&key) else { continue };
            if let TaskState::Assigned { revoking: true, .. } = entry.state {
                self.revoking -= 1;
            }
            entry.state = TaskState::Queued;
            if position < running {
                entry.attempts += 1;
                entry.lost_on.push(worker.spec.name.clone());
                if entry.attempts >= self.config.max_attempts {
                    let message = format!(
                        "task was running on a worker that was lost {} times (on {})",
                        entry.attempts,
                        entry.lost_on.join(", ")
                    );
                    self.fail(key, ErrorCode::WorkerLost, message, comm);
                    continue;
                }
            }
            requeue.push(key);
        }
        self.queued += requeue.len() as u64;
        for key in requeue.into_iter().rev() {
            self.queue.push_front(key);
        }
    }

    /// A client opened a job.
    pub fn open_job(&mut self, job: JobId) {
        self.jobs.entry(job).or_default();
    }

    /// Tasks of an open job; they join the back of the queue.
    pub fn submit(&mut self, job: JobId, tasks: impl IntoIterator<Item = Task>) {
        let Some(entry) = self.jobs.get_mut(&job) else { return };
        for task in tasks {
            let key = TaskKey(self.next_key);
            self.next_key += 1;
            entry.remaining += 1;
            self.tasks.insert(
                key,
                TaskEntry { job, task, state: TaskState::Queued, attempts: 0, lost_on: Vec::new() },
            );
            self.queue.push_back(key);
            self.queued += 1;
        }
    }

    /// The client sent all of the job's tasks.
    pub fn close_input(&mut self, job: JobId, comm: &mut impl Comm) {
        if let Some(entry) = self.jobs.get_mut(&job) {
            entry.input_closed = true;
            self.finish_job_if_done(job, comm);
        }
    }

    /// The client went away: its queued tasks are dropped, results of its
    /// running tasks will be discarded.
    pub fn cancel_job(&mut self, job: JobId) {
        if self.jobs.remove(&job).is_none() {
            return;
        }
        let mut dropped = 0;
        self.tasks.retain(|_, entry| {
            let drop = entry.job == job && entry.state == TaskState::Queued;
            dropped += u64::from(drop);
            !drop
        });
        self.queued -= dropped;
    }

    /// Results reported by a worker.
    pub fn complete(&mut self, worker_id: WorkerId, key: TaskKey, result: TaskResult, comm: &mut impl Comm) {
        let Some(entry) = self.tasks.get(&key) else {
            self.late_results += 1;
            return;
        };
        let TaskState::Assigned { worker, seq, revoking } = entry.state else {
            self.late_results += 1;
            return;
        };
        if worker != worker_id {
            self.late_results += 1;
            return;
        }
        let Some(entry) = self.tasks.remove(&key) else { return };
        let Some(w) = self.workers.get_mut(&worker_id) else { return };
        w.assigned.remove(&seq);
        w.completed += 1;
        if revoking {
            w.revoking -= 1;
            self.revoking -= 1;
        }
        let (name, cores) = (w.spec.name.clone(), w.spec.cores);
        self.reindex(worker_id);
        let result =
            TaskResult { id: entry.task.id, worker: name.clone(), attempts: entry.attempts + 1, ..result };
        let Some(job) = self.jobs.get_mut(&entry.job) else { return };
        let share = job.shares.entry(worker_id).or_insert_with(|| WorkerShare {
            worker: name,
            cores,
            jobs: 0,
            busy_micros: 0,
        });
        share.jobs += 1;
        share.busy_micros += result.run_micros;
        self.record(entry.job, result, comm);
    }

    /// A worker answered a revoke request: `returned` are the keys it gave
    /// back unstarted; the request's other keys had started.
    pub fn revoked(&mut self, worker_id: WorkerId, returned: &[TaskKey]) {
        let Some(worker) = self.workers.get_mut(&worker_id) else { return };
        let Some(request) = worker.pending_revokes.pop_front() else { return };
        let returned: HashSet<_> = returned.iter().copied().collect();
        let mut requeue = Vec::new();
        for key in request {
            let Some(entry) = self.tasks.get_mut(&key) else { continue };
            let TaskState::Assigned { worker, seq, revoking: true } = entry.state else { continue };
            if worker != worker_id {
                continue;
            }
            worker_revoke_done(self.workers.get_mut(&worker_id), &mut self.revoking);
            if returned.contains(&key) {
                if let Some(w) = self.workers.get_mut(&worker_id) {
                    w.assigned.remove(&seq);
                }
                entry.state = TaskState::Queued;
                requeue.push(key);
            } else {
                entry.state = TaskState::Assigned { worker, seq, revoking: false };
            }
        }
        self.queued += requeue.len() as u64;
        for key in requeue.into_iter().rev() {
            self.queue.push_front(key);
        }
        self.reindex(worker_id);
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
            let Some(entry) = self.tasks.get_mut(&key) else {
                self.queue.pop_front(); // cancelled while queued
                continue;
            };
            if entry.state != TaskState::Queued {
                self.queue.pop_front();
                continue;
            }
            let Some(slot) = self.load.first() else { break };
            self.queue.pop_front();
            self.queued -= 1;
            let worker_id = slot.worker();
            let Some(worker) = self.workers.get_mut(&worker_id) else { break };
            self.tick += 1;
            let seq = self.tick;
            worker.assigned.insert(seq, key);
            worker.last_assigned = seq;
            entry.state = TaskState::Assigned { worker: worker_id, seq, revoking: false };
            comm.assign(worker_id, key, &entry.task);
            self.reindex(worker_id);
        }
    }

    fn steal(&mut self, comm: &mut impl Comm) {
        while self.revoking < self.idle_cores {
            let Some(&(prefetched, victim)) = self.prefetched.last() else { return };
            let want = (self.idle_cores - self.revoking).min(u64::from(prefetched)) as usize;
            let Some(worker) = self.workers.get_mut(&victim) else { return };
            // The newest assignments are the ones furthest from starting.
            let keys: Vec<TaskKey> = worker
                .assigned
                .values()
                .rev()
                .copied()
                .filter(|key| {
                    matches!(self.tasks.get(key), Some(e) if matches!(e.state, TaskState::Assigned { revoking: false, .. }))
                })
                .take(want)
                .collect();
            if keys.is_empty() {
                return;
            }
            for key in &keys {
                if let Some(entry) = self.tasks.get_mut(key) {
                    if let TaskState::Assigned { worker, seq, .. } = entry.state {
                        entry.state = TaskState::Assigned { worker, seq, revoking: true };
                    }
                }
            }
            worker.revoking += keys.len() as u32;
            self.revoking += keys.len() as u64;
            worker.pending_revokes.push_back(keys.clone());
            comm.revoke(victim, keys);
            self.reindex(victim);
        }
    }

    fn fail(&mut self, key: TaskKey, code: ErrorCode, message: String, comm: &mut impl Comm) {
        let Some(entry) = self.tasks.remove(&key) else { return };
        let result = TaskResult {
            id: entry.task.id,
            outcome: Some(task_result::Outcome::Error(TaskError { code: code as i32, message })),
            worker: entry.lost_on.last().cloned().unwrap_or_default(),
            run_micros: 0,
            attempts: entry.attempts,
        };
        self.record(entry.job, result, comm);
    }

    fn record(&mut self, job_id: JobId, result: TaskResult, comm: &mut impl Comm) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        job.remaining -= 1;
        match result.outcome {
            Some(task_result::Outcome::Output(_)) => job.succeeded += 1,
            _ => job.failed += 1,
        }
        comm.deliver(job_id, result);
        self.finish_job_if_done(job_id, comm);
    }

    fn finish_job_if_done(&mut self, job_id: JobId, comm: &mut impl Comm) {
        let done = matches!(self.jobs.get(&job_id), Some(job) if job.input_closed && job.remaining == 0);
        if !done {
            return;
        }
        if let Some(job) = self.jobs.remove(&job_id) {
            let summary = JobSummary {
                succeeded: job.succeeded,
                failed: job.failed,
                workers: job.shares.into_values().collect(),
            };
            comm.job_finished(job_id, summary);
        }
    }

    /// Recomputes a worker's places in the indexes after its load changed.
    fn reindex(&mut self, id: WorkerId) {
        let Some(worker) = self.workers.get_mut(&id) else { return };
        let new = worker.index_entry(id);
        let old = std::mem::replace(&mut worker.indexed, new);
        self.apply_index(id, old, Indexed::default());
        self.apply_index(id, Indexed::default(), new);
    }

    /// Removes `old`'s entries from the indexes and adds `new`'s.
    fn apply_index(&mut self, id: WorkerId, old: Indexed, new: Indexed) {
        if let Some(key) = old.load {
            self.load.remove(&key);
        }
        if old.prefetched > 0 {
            self.prefetched.remove(&(old.prefetched, id));
        }
        self.idle_cores -= u64::from(old.idle);
        if let Some(key) = new.load {
            self.load.insert(key);
        }
        if new.prefetched > 0 {
            self.prefetched.insert((new.prefetched, id));
        }
        self.idle_cores += u64::from(new.idle);
    }
}

fn worker_revoke_done(worker: Option<&mut Worker>, total: &mut u64) {
    if let Some(worker) = worker {
        worker.revoking -= 1;
    }
    *total -= 1;
}
