//! Runs tasks on exactly `cores` blocking threads ("slots"), never on the
//! async runtime, except kinds declared inline (`noop`: nanoseconds, never
//! blocking), which run on the thread that received them. Tasks wait in one
//! FIFO queue; unstarted ones can be taken back (revoked, cancelled,
//! returned on drain), running ones can be asked to stop through their
//! cancel token.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cluster_proto::{completion, Completion, ErrorCode, Task};
use cluster_tasks::{CancelToken, Registry};
use prost::Message;
use rustc_hash::FxHashMap as HashMap;
use tokio::sync::mpsc::UnboundedSender;

use crate::wire;

/// A task waiting for a slot, with where its result goes.
pub(crate) struct Job {
    pub(crate) key: u64,
    pub(crate) session: u64,
    pub(crate) task: Task,
    pub(crate) context: wire::TaskContext,
    pub(crate) timeout: Option<Duration>,
    pub(crate) reply: UnboundedSender<Completion>,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    registry: Registry,
    /// Largest encoded result that fits in a message.
    max_result_bytes: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Running tasks, by (session, key).
    running: HashMap<(u64, u64), Running>,
    /// Held tasks (see [`Running::held_until`]) that finished with no
    /// session to take their result, by (job, task id), kept until then.
    finished_held: HashMap<(u64, u64), (Completion, Instant)>,
    stopping: bool,
}

/// A task on a slot.
struct Running {
    token: CancelToken,
    /// Its (job, task id).
    ids: (u64, u64),
    /// Its session ended with a coordinator that keeps durable state: it
    /// runs on until then, for the next session to adopt.
    held_until: Option<Instant>,
    /// Adopted by a later session: its result goes there, under this key.
    adopted: Option<(u64, UnboundedSender<Completion>)>,
}

/// The slot pool.
pub(crate) struct Executor {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Executor {
    pub(crate) fn new(cores: u32, registry: Registry, max_result_bytes: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            registry,
            max_result_bytes,
        });
        let threads = (0..cores)
            .map(|slot| {
                let shared = shared.clone();
                std::thread::Builder::new().name(format!("cluster-slot-{slot}")).spawn(move || {
                    // Tasks use every core, whatever `--async-cpus`
                    // holds the runtime that started this thread to.
                    cluster_node::affinity::unpin_current_thread();
                    run_slot(&shared)
                })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { shared, threads })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    /// Queues tasks in order behind the ones already waiting.
    pub(crate) fn enqueue(&self, jobs: impl IntoIterator<Item = Job>) {
        let mut state = self.lock();
        let before = state.queue.len();
        state.queue.extend(jobs);
        let added = state.queue.len() - before;
        drop(state);
        for _ in 0..added.min(self.threads.len()) {
            self.shared.ready.notify_one();
        }
    }

    /// Runs `job` here, on the caller's thread, if its kind is declared
    /// inline, and sends its result; otherwise gives it back to be queued.
    /// Waking a slot thread for a task that takes nanoseconds would cost
    /// more than the task: two thread switches on the worker's side of a
    /// small job's round trip.
    pub(crate) fn run_inline(&self, job: Job) -> Option<Job> {
        if !self.shared.registry.is_inline(&job.task.kind) {
            return Some(job);
        }
        let done = within_limit(run_task(&self.shared.registry, &job, &CancelToken::new()), &self.shared);
        let _ = job.reply.send(done);
        None
    }

    /// Takes back the session's unstarted tasks among `keys`; returns them.
    fn take(&self, session: u64, keys: Option<&HashSet<u64>>) -> Vec<Job> {
        let mut state = self.lock();
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(state.queue.len());
        for job in state.queue.drain(..) {
            if job.session == session && keys.is_none_or(|keys| keys.contains(&job.key)) {
                taken.push(job);
            } else {
                kept.push_back(job);
            }
        }
        state.queue = kept;
        taken
    }

    /// Takes back the session's tasks among `keys` that have not started;
    /// returns their keys.
    pub(crate) fn revoke(&self, session: u64, keys: &[u64]) -> Vec<u64> {
        let keys: HashSet<u64> = keys.iter().copied().collect();
        self.take(session, Some(&keys)).into_iter().map(|job| job.key).collect()
    }

    /// Stops the session's tasks among `keys`: unstarted ones are removed
    /// and returned; running ones are told to stop and will complete with
    /// an error.
    pub(crate) fn cancel(&self, session: u64, keys: &[u64]) -> Vec<Job> {
        let set: HashSet<u64> = keys.iter().copied().collect();
        let removed = self.take(session, Some(&set));
        let state = self.lock();
        for key in keys {
            if let Some(running) = state.running.get(&(session, *key)) {
                running.token.cancel();
            }
        }
        removed
    }

    /// All of the session's unstarted tasks (for drain), or drops them when
    /// the session ended.
    pub(crate) fn take_session(&self, session: u64) -> Vec<Job> {
        self.take(session, None)
    }

    /// The session ended (its coordinator restarted, declared this worker
    /// lost, or the network broke): its unstarted tasks are dropped. Its
    /// running ones are told to stop, so the next session's tasks never
    /// queue behind orphans, unless `hold` says to keep them that long for
    /// the next session to adopt (the coordinator keeps durable state).
    /// Returns how many tasks it had.
    pub(crate) fn end_session(&self, session: u64, hold: Option<Duration>) -> usize {
        let dropped = self.take(session, None).len();
        let mut state = self.lock();
        let mut count = 0;
        for ((s, _), running) in state.running.iter_mut() {
            if *s == session && running.adopted.is_none() {
                count += 1;
                match hold {
                    Some(hold) => running.held_until = Some(Instant::now() + hold),
                    None => running.token.cancel(),
                }
            }
        }
        dropped + count
    }

    /// The tasks held for adoption: (job, task id, completion if finished).
    pub(crate) fn held(&self) -> Vec<(u64, u64, Option<Completion>)> {
        let state = self.lock();
        let running = state
            .running
            .values()
            .filter(|r| r.held_until.is_some() && r.adopted.is_none())
            .map(|r| (r.ids.0, r.ids.1, None));
        let finished = state.finished_held.iter().map(|(ids, (done, _))| (ids.0, ids.1, Some(done.clone())));
        running.chain(finished).collect()
    }

    /// A new session adopted a held task under `key`: its result goes to
    /// `reply` (at once, if it finished meanwhile). False if nothing is
    /// held under those ids.
    pub(crate) fn adopt(&self, ids: (u64, u64), key: u64, reply: &UnboundedSender<Completion>) -> bool {
        let mut state = self.lock();
        if let Some((mut done, _)) = state.finished_held.remove(&ids) {
            done.key = key;
            let _ = reply.send(done);
            return true;
        }
        let held = state.running.values_mut().find(|r| r.ids == ids && r.held_until.is_some());
        match held {
            Some(running) => {
                running.held_until = None;
                running.adopted = Some((key, reply.clone()));
                true
            }
            None => false,
        }
    }

    /// Stops and forgets held tasks: those nobody adopted (`ids`), or,
    /// with `None`, every one whose hold is over.
    pub(crate) fn release_held(&self, ids: Option<(u64, u64)>) -> usize {
        let now = Instant::now();
        let mut state = self.lock();
        let due = |r_ids: (u64, u64), until: Instant| ids.map_or(until <= now, |ids| ids == r_ids);
        let mut stopped = 0;
        for running in state.running.values() {
            if running.adopted.is_none() && running.held_until.is_some_and(|until| due(running.ids, until)) {
                running.token.cancel();
                stopped += 1;
            }
        }
        let before = state.finished_held.len();
        state.finished_held.retain(|&k, (_, until)| !due(k, *until));
        stopped + before - state.finished_held.len()
    }

    /// Asks every running task to stop (the worker is shutting down); each
    /// still reports, with ERROR_CODE_CANCELLED, and the coordinator runs it
    /// again elsewhere.
    pub(crate) fn stop_running(&self) {
        self.lock().running.values().for_each(|r| r.token.cancel());
    }

    /// Tasks queued or running.
    pub(crate) fn busy(&self) -> usize {
        let state = self.lock();
        state.queue.len() + state.running.len()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        let mut state = self.lock();
        state.stopping = true;
        state.running.values().for_each(|r| r.token.cancel());
        drop(state);
        self.shared.ready.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panicking task never holds this lock, so poisoning cannot hide a
    // broken invariant: recover the guard.
    shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run_slot(shared: &Shared) {
    loop {
        let (job, token) = {
            let mut state = lock(shared);
            let job = loop {
                if state.stopping {
                    return;
                }
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                state = shared.ready.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            };
            let token = match job.timeout {
                Some(timeout) => CancelToken::with_deadline(Instant::now() + timeout),
                None => CancelToken::new(),
            };
            let running = Running {
                token: token.clone(),
                ids: (job.context.job_id, job.context.task_id),
                held_until: None,
                adopted: None,
            };
            state.running.insert((job.session, job.key), running);
            (job, token)
        };
        tracing::debug!(key = job.key, kind = %job.task.kind, "task started");
        let mut done = within_limit(run_task(&shared.registry, &job, &token), shared);
        let mut state = lock(shared);
        match state.running.remove(&(job.session, job.key)) {
            Some(Running { adopted: Some((key, reply)), .. }) => {
                done.key = key;
                let _ = reply.send(done);
            }
            Some(Running { held_until: Some(until), ids, .. }) => {
                state.finished_held.insert(ids, (done, until));
            }
            // The session may be gone; then nobody wants the result.
            _ => {
                let _ = job.reply.send(done);
            }
        }
    }
}

/// `done`, or an error in its place if its result would not fit in a
/// message.
fn within_limit(mut done: Completion, shared: &Shared) -> Completion {
    let size = done.encoded_len();
    if size > shared.max_result_bytes {
        done.outcome = Some(error(
            ErrorCode::ResultTooLarge,
            format!(
                "result of {size} bytes is over the {}-byte message limit (--max-message-bytes)",
                shared.max_result_bytes
            ),
        ));
    }
    done
}

fn error(code: ErrorCode, message: String) -> completion::Outcome {
    completion::Outcome::Error(cluster_proto::TaskError { code: code as i32, message, exec: None })
}

/// A cancelled task's completion, for tasks stopped before they started.
pub(crate) fn cancelled(job: &Job) -> Completion {
    let outcome = Some(error(ErrorCode::Cancelled, "cancelled before it started".into()));
    Completion { key: job.key, outcome, run_micros: 0 }
}

/// Runs one task, catching a panic in a task kind so it fails that task
/// alone and the slot lives on. A task still running at its deadline is
/// told to stop, and any result after the deadline counts as timed out.
fn run_task(registry: &Registry, job: &Job, token: &CancelToken) -> Completion {
    let task = &job.task;
    let start = Instant::now();
    let input = wire::input(task, &job.context);
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registry.run(&task.kind, &input, token)));
    let outcome = match outcome {
        _ if token.timed_out() => error(
            ErrorCode::TimedOut,
            format!("ran over its timeout of {} ms", job.timeout.unwrap_or_default().as_millis()),
        ),
        Ok(Ok(output)) => wire::outcome(output),
        Ok(Err(err)) => completion::Outcome::Error(wire::error(err)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            error(ErrorCode::TaskFailed, format!("task `{}` panicked: {what}", task.kind))
        }
    };
    Completion { key: job.key, outcome: Some(outcome), run_micros: start.elapsed().as_micros() as u64 }
}

#[cfg(test)]
mod tests;
