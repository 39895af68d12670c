//! A connected worker as the core sees it.

use std::collections::VecDeque;

use super::dispatch::LoadKey;
use super::routing::{ClassId, ProfileId};
use super::{JobId, Share, TaskKey, WorkerDesc, WorkerId};

/// What a worker contributes to the core's indexes right now, kept so the
/// exact entries can be removed when its load changes.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Indexed {
    pub(super) load: Option<LoadKey>,
    /// Its place among workers with an idle core.
    pub(super) idle_key: Option<LoadKey>,
    pub(super) prefetched: u32,
    pub(super) idle: u32,
}

/// Work a core should have queued behind its running task, in microseconds
/// of task run time: enough to cover a network round trip several times over.
const PIPELINE_BUDGET_MICROS: f64 = 2_000.0;
/// Deepest prefetch per core, for the tiniest tasks.
const MAX_PREFETCH_PER_CORE: u32 = 128;
/// Run times below this are treated as this: the worker's own per-task cost.
const MIN_RUN_MICROS: f64 = 10.0;

#[derive(Debug)]
pub(super) struct Worker {
    pub(super) desc: WorkerDesc,
    /// Its kinds and labels, as the routing knows them.
    pub(super) profile: ProfileId,
    capacity: f64,
    /// The configured prefetch per core: the floor of the adaptive one.
    min_prefetch: u32,
    /// Unstarted tasks it may hold per core: deep for tiny tasks, shallow
    /// for long ones, from the moving average of its tasks' run times.
    prefetch: u32,
    /// Moving average of run times, in microseconds.
    mean_run_micros: Option<f64>,
    /// Tasks assigned and not finished, in assignment order (by sequence
    /// number). The worker starts them in this order, so the first `cores`
    /// are the ones running.
    pub(super) assigned: Assigned,
    /// Of those, how many are being asked back.
    pub(super) revoking: u32,
    /// Revoke requests sent and not answered, oldest first.
    /// Each with the assignment sequence number of every task it asked for.
    pub(super) pending_revokes: VecDeque<Vec<(TaskKey, u64)>>,
    pub(super) completed: u64,
    /// Of those, tasks that failed.
    pub(super) failed: u64,
    pub(super) last_assigned: u64,
    /// Shutting down: it gets no new tasks and hands back unstarted ones.
    pub(super) draining: bool,
    /// Tasks taken back because the worker ran them far past their
    /// timeout without a word: each may still hold a core, so the worker
    /// counts one core fewer per task until it reports that task.
    pub(super) stuck: Vec<TaskKey>,
    /// The classes on whose stacks of steal candidates it is listed.
    pub(super) victim_of: Vec<ClassId>,
    /// Per unfinished job: tasks it ran and their run time in microseconds.
    job_shares: Vec<(JobId, u64, u64)>,
    pub(super) indexed: Indexed,
}

impl Worker {
    /// A worker as `desc` describes it (validated at the wire edge).
    pub(super) fn new(desc: WorkerDesc, profile: ProfileId, prefetch_per_core: u32) -> Self {
        Self {
            profile,
            capacity: desc.capacity(),
            min_prefetch: prefetch_per_core,
            prefetch: prefetch_per_core,
            mean_run_micros: None,
            desc,
            assigned: Assigned::default(),
            revoking: 0,
            pending_revokes: VecDeque::new(),
            completed: 0,
            failed: 0,
            last_assigned: 0,
            draining: false,
            stuck: Vec::new(),
            victim_of: Vec::new(),
            job_shares: Vec::new(),
            indexed: Indexed::default(),
        }
    }

    /// Cores not held by a stuck task.
    pub(super) fn free_cores(&self) -> u32 {
        self.desc.cores.saturating_sub(self.stuck.len() as u32)
    }

    pub(super) fn in_flight(&self) -> u32 {
        self.assigned.len() as u32
    }

    /// Counts a task of `job` it ran; true if it is its first for the job.
    pub(super) fn add_share(&mut self, job: JobId, run_micros: u64) -> bool {
        match self.job_shares.iter_mut().find(|(j, _, _)| *j == job) {
            Some((_, tasks, busy)) => {
                *tasks += 1;
                *busy = busy.saturating_add(run_micros);
                false
            }
            None => {
                self.job_shares.push((job, 1, run_micros));
                true
            }
        }
    }

    /// Removes and returns its share of `job`.
    pub(super) fn take_share(&mut self, job: JobId) -> Option<Share> {
        let at = self.job_shares.iter().position(|(j, _, _)| *j == job)?;
        let (_, tasks, busy) = self.job_shares.swap_remove(at);
        Some(self.share(tasks, busy))
    }

    /// Removes and returns its shares of every job (it is leaving).
    pub(super) fn take_all_shares(&mut self) -> Vec<(JobId, Share)> {
        let shares = std::mem::take(&mut self.job_shares);
        shares.into_iter().map(|(job, tasks, busy)| (job, self.share(tasks, busy))).collect()
    }

    fn share(&self, tasks: u64, busy_micros: u64) -> Share {
        Share { worker: self.desc.name.clone(), cores: self.desc.cores, tasks, busy_micros }
    }

    /// Most tasks it may hold: its cores plus the prefetch.
    fn limit(&self) -> u32 {
        self.free_cores().saturating_mul(1 + self.prefetch)
    }

    /// Learns from a finished task's run time how deep its pipeline should
    /// be: enough queued work per core to cover `PIPELINE_BUDGET_MICROS`.
    pub(super) fn observe(&mut self, run_micros: u64) {
        let run = (run_micros as f64).max(MIN_RUN_MICROS);
        let mean = match self.mean_run_micros {
            Some(mean) => mean + (run - mean) / 16.0,
            None => run,
        };
        self.mean_run_micros = Some(mean);
        let wanted = (PIPELINE_BUDGET_MICROS / mean).ceil() as u32;
        self.prefetch = wanted.clamp(self.min_prefetch, MAX_PREFETCH_PER_CORE.max(self.min_prefetch));
    }

    /// The index entries this worker should have now.
    pub(super) fn index_entry(&self, id: WorkerId) -> Indexed {
        if self.draining {
            return Indexed::default();
        }
        let in_flight = self.in_flight();
        let key = LoadKey::new(in_flight, self.capacity, self.last_assigned, id);
        let load = (in_flight < self.limit()).then_some(key);
        let held = in_flight - self.revoking;
        Indexed {
            load,
            idle_key: (in_flight < self.free_cores()).then_some(key),
            prefetched: held.saturating_sub(self.free_cores()),
            idle: self.free_cores().saturating_sub(in_flight),
        }
    }
}

/// A worker's unfinished tasks in assignment order, by sequence number,
/// with the time each started running. Sequence numbers only grow, so the
/// deque stays sorted; tasks mostly finish in the order they were given, so
/// removals are near the front and cheap.
///
/// The worker starts tasks in this order on its free cores, so the first
/// `free cores` entries are the running ones; each is stamped with the time
/// it entered that window (the coordinator's best knowledge of its start).
#[derive(Debug, Default)]
pub(super) struct Assigned {
    tasks: VecDeque<(u64, TaskKey, u64)>,
    /// How many leading entries carry a start time.
    started: usize,
}

/// Start time of a task not running yet.
const NOT_STARTED: u64 = u64::MAX;

impl Assigned {
    pub(super) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Appends a task assigned with a sequence number above all others.
    pub(super) fn push(&mut self, seq: u64, key: TaskKey) {
        debug_assert!(self.tasks.back().is_none_or(|&(last, _, _)| last < seq));
        self.tasks.push_back((seq, key, NOT_STARTED));
    }

    pub(super) fn remove(&mut self, seq: u64) -> Option<TaskKey> {
        let at = self.tasks.binary_search_by_key(&seq, |&(s, _, _)| s).ok()?;
        if at < self.started {
            self.started -= 1;
        }
        self.tasks.remove(at).map(|(_, key, _)| key)
    }

    /// Stamps the tasks that now run on the `free` cores with `now`.
    pub(super) fn mark_running(&mut self, free: usize, now: u64) {
        while self.started < free.min(self.tasks.len()) {
            self.tasks[self.started].2 = now;
            self.started += 1;
        }
    }

    /// The running tasks with their start times.
    pub(super) fn running(&self) -> impl Iterator<Item = (TaskKey, u64)> + '_ {
        self.tasks.iter().take(self.started).map(|&(_, key, started)| (key, started))
    }

    /// Keys, oldest assignment first.
    pub(super) fn keys(&self) -> impl DoubleEndedIterator<Item = TaskKey> + '_ {
        self.tasks.iter().map(|&(_, key, _)| key)
    }

    pub(super) fn take(&mut self) -> Vec<TaskKey> {
        self.started = 0;
        self.tasks.drain(..).map(|(_, key, _)| key).collect()
    }
}
