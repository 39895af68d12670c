//! Runs tasks on exactly `cores` blocking threads ("slots"), never on the
//! async runtime. Tasks wait in one FIFO queue; unstarted ones can be taken
//! back (revoked) by the coordinator.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use cluster_proto::{task_result, Completion, Task, TaskResult};
use cluster_tasks::{CancelToken, Registry};
use tokio::sync::mpsc::UnboundedSender;

use crate::wire;

/// A task waiting for a slot, with where its result goes.
pub(crate) struct Job {
    pub(crate) key: u64,
    pub(crate) session: u64,
    pub(crate) task: Task,
    pub(crate) reply: UnboundedSender<Completion>,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    registry: Registry,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    stopping: bool,
}

/// The slot pool.
pub(crate) struct Executor {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Executor {
    pub(crate) fn new(cores: u32, registry: Registry) -> std::io::Result<Self> {
        let shared =
            Arc::new(Shared { queue: Mutex::new(Queue::default()), ready: Condvar::new(), registry });
        let threads = (0..cores)
            .map(|slot| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("cluster-slot-{slot}"))
                    .spawn(move || run_slot(&shared))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { shared, threads })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        lock(&self.shared)
    }

    /// Queues tasks in order behind the ones already waiting.
    pub(crate) fn enqueue(&self, jobs: impl IntoIterator<Item = Job>) {
        let mut queue = self.lock();
        let before = queue.jobs.len();
        queue.jobs.extend(jobs);
        let added = queue.jobs.len() - before;
        drop(queue);
        for _ in 0..added.min(self.threads.len()) {
            self.shared.ready.notify_one();
        }
    }

    /// Takes back the session's tasks among `keys` that have not started;
    /// returns their keys.
    pub(crate) fn revoke(&self, session: u64, keys: &[u64]) -> Vec<u64> {
        let wanted: std::collections::HashSet<_> = keys.iter().copied().collect();
        let mut returned = Vec::new();
        self.lock().jobs.retain(|job| {
            let take = job.session == session && wanted.contains(&job.key);
            if take {
                returned.push(job.key);
            }
            !take
        });
        returned
    }

    /// Drops the unstarted tasks of a session that ended.
    pub(crate) fn drop_session(&self, session: u64) -> usize {
        let mut queue = self.lock();
        let before = queue.jobs.len();
        queue.jobs.retain(|job| job.session != session);
        before - queue.jobs.len()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.lock().stopping = true;
        self.shared.ready.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Queue> {
    // A panicking task never holds this lock, so poisoning cannot hide a
    // broken invariant: recover the guard.
    shared.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run_slot(shared: &Shared) {
    loop {
        let job = {
            let mut queue = lock(shared);
            loop {
                if queue.stopping {
                    return;
                }
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                queue = shared.ready.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let result = run_task(&shared.registry, &job.task);
        // The session may be gone; then nobody wants the result.
        let _ = job.reply.send(Completion { key: job.key, result: Some(result) });
    }
}

/// Runs one task, catching a panic in a task kind so it fails that task
/// alone and the slot lives on.
fn run_task(registry: &Registry, task: &Task) -> TaskResult {
    let start = Instant::now();
    let input = wire::input(task);
    let cancel = CancelToken::new();
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registry.run(&task.kind, &input, &cancel)));
    let outcome = match outcome {
        Ok(Ok(output)) => task_result::Outcome::Output(wire::output(output)),
        Ok(Err(err)) => task_result::Outcome::Error(wire::error(err)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            task_result::Outcome::Error(wire::error(cluster_tasks::TaskError::failed(format!(
                "task `{}` panicked: {what}",
                task.kind
            ))))
        }
    };
    TaskResult {
        id: task.id,
        outcome: Some(outcome),
        run_micros: start.elapsed().as_micros() as u64,
        ..TaskResult::default()
    }
}
