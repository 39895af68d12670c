//! The pick-and-complete cycle of the scheduling core, in-process.
//!
//! `W` workers of one core each, configured prefetch 0, every one busy and
//! more tasks queued. One cycle completes the oldest assignment and calls
//! `schedule`, which hands the next queued task to the worker just freed:
//! the core's whole per-task work between a result and the next assignment.
//!
//! The core adapts each worker's pipeline depth to the run times it reports
//! (deeper for tiny tasks). The results here report [`RUN_MICROS`], long
//! enough that the depth stays at its floor: one task running and at most
//! one prefetched per core. The set-up completes every worker's first task
//! once, untimed, so the depth has settled before anything is measured.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_coordinator::sched::{
    AssignedTask, Comm, Core, CoreConfig, Finished, JobId, JobSpec, JobSummary, NewTask, Outcome, TaskKey,
    TaskReport, WorkerDesc, WorkerId,
};
use prost::Message;

/// A [`Comm`] that records what the core asked for.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Assignments not completed yet, oldest first.
    pub assigned: VecDeque<(WorkerId, TaskKey)>,
    /// Tasks asked back (none are expected with prefetch 0).
    pub revokes: u64,
    /// Tasks stopped (none are expected: the job is never cancelled).
    pub cancels: u64,
    /// Results delivered.
    pub delivered: u64,
    /// Of those, the ones that succeeded.
    pub succeeded: u64,
    /// Jobs finished.
    pub finished: Vec<(JobId, JobSummary)>,
}

impl Comm for Recorder {
    fn assign(&mut self, worker: WorkerId, task: AssignedTask<'_>) {
        self.assigned.push_back((worker, task.key));
    }

    fn cancel(&mut self, _worker: WorkerId, keys: Vec<TaskKey>) {
        self.cancels += keys.len() as u64;
    }

    fn revoke(&mut self, _worker: WorkerId, keys: Vec<TaskKey>) {
        self.revokes += keys.len() as u64;
    }

    fn deliver(&mut self, _job: JobId, report: TaskReport) {
        self.delivered += 1;
        if report.outcome.is_output() {
            self.succeeded += 1;
        }
    }

    fn notice(&mut self, _job: JobId, _message: String) {}

    fn job_finished(&mut self, job: JobId, summary: JobSummary) {
        self.finished.push((job, summary));
    }
}

const JOB: JobId = JobId(1);

/// Tasks kept queued during the set-up: more than one worker's deepest
/// pipeline, so every schedule fills every free slot.
const FILL: u64 = 1_024;

/// Most cycles timed between two top-ups of the queue.
pub const CHUNK: u64 = 65_536;

/// Run time every result reports: 20 ms, like the efficiency figure's tasks.
pub const RUN_MICROS: u64 = 20_000;

/// A core with `W` busy workers and a queue behind them.
pub struct DispatchBench {
    core: Core,
    comm: Recorder,
    workers: usize,
    next_id: u64,
    /// Tasks in flight once the pipelines settled.
    steady: usize,
    /// A noop task's payload, shared by every task as a submission's would be.
    payload: Bytes,
}

impl DispatchBench {
    /// `workers` workers of one core, configured prefetch 0, each with a
    /// full pipeline, and `queued` more tasks waiting.
    pub fn new(workers: usize, queued: u64) -> Self {
        let mut core = Core::new(CoreConfig { prefetch_per_core: 0, ..CoreConfig::default() });
        for i in 0..workers {
            core.add_worker(WorkerId(i as u64 + 1), WorkerDesc::new(&format!("w{i}"), 1));
        }
        core.open_job(JOB, JobSpec { name: "dispatch".into(), ..JobSpec::default() });
        let payload = Bytes::from(cluster_client::tasks::noop(0).encode_to_vec());
        let mut bench = Self { core, comm: Recorder::default(), workers, next_id: 0, steady: 0, payload };
        bench.top_up(workers as u64);
        bench.core.schedule(&mut bench.comm);
        // Every worker reports one result, so its pipeline depth settles.
        let first = bench.in_flight();
        for _ in 0..first {
            bench.top_up(FILL);
            bench.cycle();
        }
        bench.steady = bench.in_flight();
        bench.top_up(queued);
        bench
    }

    /// Makes sure at least `tasks` tasks are queued (submitting more if
    /// needed), so that many cycles each find a task to assign.
    pub fn top_up(&mut self, tasks: u64) {
        let missing = tasks.saturating_sub(self.core.queued());
        let first = self.next_id;
        self.next_id += missing;
        let payload = &self.payload;
        let tasks =
            (first..self.next_id).map(|id| NewTask { id, kind: "noop".into(), payload: payload.clone() });
        self.core.submit(JOB, tasks, &mut self.comm);
    }

    /// Workers in the core.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Tasks currently assigned.
    pub fn in_flight(&self) -> usize {
        self.comm.assigned.len()
    }

    /// Tasks each worker holds (running and prefetched) once settled.
    pub fn depth(&self) -> f64 {
        self.steady as f64 / self.workers as f64
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> u64 {
        self.core.queued()
    }

    /// What the core asked for so far.
    pub fn recorder(&self) -> &Recorder {
        &self.comm
    }

    /// One pick-and-complete cycle: the oldest assignment completes and the
    /// freed worker gets the next queued task.
    #[inline]
    pub fn cycle(&mut self) {
        let (worker, key) = self.comm.assigned.pop_front().expect("a task in flight");
        self.core.complete(worker, key, noop_result(), &mut self.comm);
        self.core.schedule(&mut self.comm);
    }

    /// Runs `cycles` cycles and returns the time they took. The queue is
    /// topped up between chunks of [`CHUNK`] cycles, untimed, so it never
    /// holds more than a chunk's worth of tasks.
    pub fn time_cycles(&mut self, cycles: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = cycles;
        while left > 0 {
            let chunk = left.min(CHUNK);
            self.top_up(chunk);
            let start = Instant::now();
            for _ in 0..chunk {
                self.cycle();
            }
            total += start.elapsed();
            left -= chunk;
        }
        total
    }

    /// Checks the invariants of the cycle: every worker holds the same
    /// number of tasks as after the set-up, every result was delivered and
    /// successful, nothing was revoked or cancelled.
    pub fn check(&self) -> Result<(), String> {
        let r = &self.comm;
        if self.steady < self.workers || self.in_flight() != self.steady {
            return Err(format!(
                "{} tasks in flight on {} workers, {} after the set-up",
                self.in_flight(),
                self.workers,
                self.steady
            ));
        }
        if r.succeeded != r.delivered || r.revokes != 0 || r.cancels != 0 || !r.finished.is_empty() {
            return Err(format!(
                "{} delivered, {} succeeded, {} revoked, {} cancelled, {} jobs finished",
                r.delivered,
                r.succeeded,
                r.revokes,
                r.cancels,
                r.finished.len()
            ));
        }
        let stats = self.core.worker_stats();
        let depth = (self.steady / self.workers) as u64;
        if stats.len() != self.workers || stats.iter().any(|s| s.in_flight != depth) {
            return Err(format!("a worker does not hold {depth} tasks like every other"));
        }
        Ok(())
    }
}

/// A successful `noop` result as a worker reports it.
pub fn noop_result() -> Finished {
    Finished { outcome: Outcome::Output(Bytes::from_static(NOOP_OUTPUT)), run_micros: RUN_MICROS }
}

/// `TaskOutput { noop: {} }`, encoded.
const NOOP_OUTPUT: &[u8] = &[0x1a, 0x00];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cycle_reassigns_the_freed_worker() {
        let mut bench = DispatchBench::new(5, 3);
        assert!(bench.queued() >= 3);
        assert!(bench.depth() >= 1.0, "{}", bench.depth());
        bench.check().unwrap();
        let (delivered, queued) = (bench.recorder().delivered, bench.queued());
        for _ in 0..3 {
            let (freed, _) = bench.comm.assigned[0];
            bench.cycle();
            assert_eq!(bench.comm.assigned.back().unwrap().0, freed);
        }
        assert_eq!(bench.queued(), queued - 3);
        bench.time_cycles(50);
        bench.check().unwrap();
        let r = bench.recorder();
        assert_eq!((r.delivered - delivered, r.succeeded - delivered), (53, 53));
    }
}
