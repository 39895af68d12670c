//! Scheduling rules, tested without a socket through a recording `Comm`.

use std::collections::VecDeque;

use bytes::Bytes;

use super::*;

mod balance;
mod deadlines;
mod jobs;
mod lost;
mod routing;
mod stealing;

/// Records every effect; fails the test if one was left unchecked.
#[derive(Default)]
struct TestComm {
    assigned: VecDeque<(WorkerId, TaskKey)>,
    revokes: VecDeque<(WorkerId, Vec<TaskKey>)>,
    delivered: VecDeque<(JobId, TaskReport)>,
    finished: VecDeque<(JobId, JobSummary)>,
    cancels: VecDeque<(WorkerId, Vec<TaskKey>)>,
    notices: VecDeque<(JobId, String)>,
    /// Timeouts of all assignments, never required to be checked.
    timeouts: Vec<Option<u64>>,
}

impl Comm for TestComm {
    fn assign(&mut self, worker: WorkerId, task: AssignedTask<'_>) {
        self.assigned.push_back((worker, task.key));
        self.timeouts.push(task.timeout_ms);
    }
    fn cancel(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        self.cancels.push_back((worker, keys));
    }
    fn revoke(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        self.revokes.push_back((worker, keys));
    }
    fn deliver(&mut self, job: JobId, report: TaskReport) {
        self.delivered.push_back((job, report));
    }
    fn notice(&mut self, job: JobId, message: String) {
        self.notices.push_back((job, message));
    }
    fn job_finished(&mut self, job: JobId, summary: JobSummary) {
        self.finished.push_back((job, summary));
    }
}

impl Drop for TestComm {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(self.assigned.is_empty(), "unchecked assignments: {:?}", self.assigned);
            assert!(self.revokes.is_empty(), "unchecked revokes: {:?}", self.revokes);
            assert!(self.delivered.is_empty(), "unchecked results: {:?}", self.delivered);
            assert!(self.finished.is_empty(), "unchecked job ends: {:?}", self.finished);
            assert!(self.cancels.is_empty(), "unchecked cancels: {:?}", self.cancels);
            assert!(self.notices.is_empty(), "unchecked notices: {:?}", self.notices);
        }
    }
}

impl TestComm {
    fn take_assigned(&mut self) -> Vec<(WorkerId, TaskKey)> {
        self.assigned.drain(..).collect()
    }
}

fn noop(id: u64) -> NewTask {
    NewTask { id, kind: "noop".into(), payload: Bytes::from_static(b"noop") }
}

fn ok() -> Finished {
    Finished { outcome: Outcome::Output(Bytes::new()), run_micros: 10 }
}

fn error(code: FailureCode) -> Finished {
    Finished { outcome: Outcome::failed(code, "x"), run_micros: 0 }
}

fn spec(name: &str, cores: u32, weight: f64) -> WorkerDesc {
    WorkerDesc::new(name, cores).with_weight(weight)
}

fn job(name: &str) -> JobSpec {
    JobSpec { name: name.into(), ..JobSpec::default() }
}

fn core(prefetch_per_core: u32) -> Core {
    Core::new(CoreConfig {
        prefetch_per_core,
        max_attempts: 3,
        default_timeout_ms: None,
        ..CoreConfig::default()
    })
}

const A: WorkerId = WorkerId(1);
const B: WorkerId = WorkerId(2);
const JOB: JobId = JobId(7);
