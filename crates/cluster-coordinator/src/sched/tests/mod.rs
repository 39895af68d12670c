//! Scheduling rules, tested without a socket through a recording `Comm`.

use std::collections::VecDeque;

use bytes::Bytes;

use super::*;

mod routing;

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

#[test]
fn pipelines_fill_to_cores_plus_prefetch_in_proportion() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 2, 1.0));
    core.add_worker(B, spec("b", 1, 1.0));
    core.open_job(JOB, job("test"));
    core.submit(JOB, (0..20).map(noop), &mut comm);
    core.schedule(&mut comm);
    let assigned = comm.take_assigned();
    assert_eq!(assigned.iter().filter(|(w, _)| *w == A).count(), 6);
    assert_eq!(assigned.iter().filter(|(w, _)| *w == B).count(), 3);
    assert_eq!(core.queued(), 11);
    // The first three go A, B, A or B, A, A: never three to one worker.
    let first: Vec<_> = assigned.iter().take(3).map(|(w, _)| *w).collect();
    assert_eq!(first.iter().filter(|w| **w == A).count(), 2);
}

/// Simulates workers that each finish `cores` tasks per round, and returns
/// how many tasks each ran.
fn run_rounds(core: &mut Core, comm: &mut TestComm, workers: &[(WorkerId, usize)]) -> Vec<usize> {
    let mut held: Vec<VecDeque<TaskKey>> = vec![VecDeque::new(); workers.len()];
    let mut done = vec![0; workers.len()];
    loop {
        core.schedule(comm);
        for (worker, key) in comm.take_assigned() {
            let i = workers.iter().position(|(w, _)| *w == worker).unwrap();
            held[i].push_back(key);
        }
        if held.iter().all(VecDeque::is_empty) {
            break;
        }
        for (i, (worker, rate)) in workers.iter().enumerate() {
            for _ in 0..*rate {
                if let Some(key) = held[i].pop_front() {
                    core.complete(*worker, key, ok(), comm);
                    done[i] += 1;
                }
            }
        }
    }
    done
}

#[test]
fn split_follows_cores() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 2, 1.0));
    core.add_worker(B, spec("b", 1, 1.0));
    core.open_job(JOB, job("test"));
    core.submit(JOB, (0..90).map(noop), &mut comm);
    core.close_input(JOB, &mut comm);
    let done = run_rounds(&mut core, &mut comm, &[(A, 2), (B, 1)]);
    assert_eq!(done, vec![60, 30]);
    assert_eq!(comm.delivered.drain(..).count(), 90);
    let (job, summary) = comm.finished.pop_front().unwrap();
    assert_eq!(job, JOB);
    assert_eq!(summary.succeeded, 90);
    let shares: Vec<_> = summary.shares.iter().map(|s| (s.worker.as_str(), s.cores, s.tasks)).collect();
    assert_eq!(shares, vec![("a", 2, 60), ("b", 1, 30)]);
}

#[test]
fn weight_scales_capacity() {
    // Equal cores, but B is twice as fast per core and finishes twice as many.
    let mut core = core(1);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.add_worker(B, spec("b", 1, 2.0));
    core.open_job(JOB, job("test"));
    core.submit(JOB, (0..4).map(noop), &mut comm);
    core.schedule(&mut comm);
    // From the first task: B's ratio (1/2) beats A's (1/1).
    assert_eq!(comm.take_assigned()[0].0, B);
    comm.delivered.clear();
}

#[test]
fn lost_worker_charges_only_running_tasks() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("10.0.0.1:35000", 1, 1.0));
    core.open_job(JOB, job("test"));
    core.submit(JOB, (0..3).map(noop), &mut comm);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned().len(), 3);
    core.remove_worker(A, &mut comm);
    assert_eq!(core.queued(), 3);
    // Two more losses of the running task: the first task fails, the two
    // prefetched ones were never charged.
    for round in 0..2 {
        let w = WorkerId(10 + round);
        core.add_worker(w, spec(&format!("10.0.0.{}:35000", round + 2), 1, 1.0));
        core.schedule(&mut comm);
        assert_eq!(comm.take_assigned().len(), 3);
        core.remove_worker(w, &mut comm);
    }
    let (_, failed) = comm.delivered.pop_front().unwrap();
    assert_eq!(failed.id, 0);
    let Outcome::Failed { code, message, .. } = failed.outcome else { panic!("expected an error") };
    assert_eq!(code, FailureCode::WorkerLost);
    assert_eq!(
        message,
        "task was running on a worker that was lost 3 times (on 10.0.0.1:35000, 10.0.0.2:35000, 10.0.0.3:35000)"
    );
    // Tasks 1 and 2 only ever waited behind task 0: queued again, uncharged.
    assert_eq!(core.queued(), 2);
}

#[test]
fn late_result_from_lost_worker_is_dropped() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("test"));
    core.submit(JOB, [noop(0)], &mut comm);
    core.close_input(JOB, &mut comm);
    core.schedule(&mut comm);
    let (_, key) = comm.take_assigned()[0];
    core.remove_worker(A, &mut comm);
    core.add_worker(B, spec("b", 1, 1.0));
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned(), vec![(B, key)]);
    core.complete(A, key, ok(), &mut comm); // late: A was declared lost
    assert!(comm.delivered.is_empty());
    assert_eq!(core.late_results(), 1);
    core.complete(B, key, ok(), &mut comm);
    core.complete(B, key, ok(), &mut comm); // duplicate
    assert_eq!(comm.delivered.drain(..).count(), 1);
    assert_eq!(core.late_results(), 2);
    assert_eq!(comm.finished.drain(..).count(), 1);
}

#[test]
fn idle_newcomer_takes_prefetched_tasks() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("test"));
    core.submit(JOB, (0..3).map(noop), &mut comm);
    core.schedule(&mut comm);
    let keys: Vec<_> = comm.take_assigned().into_iter().map(|(_, k)| k).collect();
    assert_eq!(core.queued(), 0);
    core.add_worker(B, spec("b", 1, 1.0));
    core.schedule(&mut comm);
    // B has one idle core: the newest prefetched task is asked back.
    assert_eq!(comm.revokes.pop_front(), Some((A, vec![keys[2]])));
    core.schedule(&mut comm);
    assert!(comm.revokes.is_empty(), "one request is enough");
    core.revoked(A, &[keys[2]]);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned(), vec![(B, keys[2])]);
    assert!(comm.revokes.is_empty());
}

#[test]
fn revoke_of_started_task_leaves_it_in_place() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("test"));
    core.submit(JOB, (0..2).map(noop), &mut comm);
    core.close_input(JOB, &mut comm);
    core.schedule(&mut comm);
    let keys: Vec<_> = comm.take_assigned().into_iter().map(|(_, k)| k).collect();
    core.add_worker(B, spec("b", 1, 1.0));
    core.schedule(&mut comm);
    assert_eq!(comm.revokes.pop_front(), Some((A, vec![keys[1]])));
    core.revoked(A, &[]); // it had started meanwhile
    core.complete(A, keys[0], ok(), &mut comm);
    core.complete(A, keys[1], ok(), &mut comm);
    assert_eq!(comm.delivered.drain(..).count(), 2);
    assert_eq!(comm.finished.drain(..).count(), 1);
}

#[test]
fn cancelled_job_drops_queued_tasks_and_discards_results() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("test"));
    core.submit(JOB, (0..5).map(noop), &mut comm);
    core.schedule(&mut comm);
    let (_, key) = comm.take_assigned()[0];
    assert_eq!(core.cancel_job(JOB, &mut comm), 5);
    assert_eq!(core.queued(), 0);
    // The running task is stopped on its worker, which answers for it.
    assert_eq!(comm.cancels.pop_front(), Some((A, vec![key])));
    assert_eq!(core.worker_stats()[0].in_flight, 1);
    core.complete(A, key, error(FailureCode::Cancelled), &mut comm);
    assert_eq!(core.worker_stats()[0].in_flight, 0);
    core.schedule(&mut comm);
    assert!(comm.assigned.is_empty() && comm.delivered.is_empty());
    assert_eq!(core.active_jobs(), 0);
    assert_eq!(core.late_results(), 0);
}

#[test]
fn timed_out_task_is_retried_then_fails_naming_the_timeout() {
    let mut core = Core::new(CoreConfig {
        prefetch_per_core: 0,
        max_attempts: 3,
        default_timeout_ms: Some(50),
        ..CoreConfig::default()
    });
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.add_worker(B, spec("b", 1, 1.0));
    core.open_job(JOB, job("t"));
    core.submit(JOB, [noop(0), noop(1)], &mut comm);
    core.close_input(JOB, &mut comm);
    core.schedule(&mut comm);
    let first = comm.take_assigned();
    let slow = first[0].1;
    core.complete(first[1].0, first[1].1, ok(), &mut comm);
    let mut tries = vec![first[0].0];
    let mut at = first[0].0;
    for _ in 0..2 {
        core.complete(at, slow, error(FailureCode::TimedOut), &mut comm);
        core.schedule(&mut comm);
        let next = comm.take_assigned();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].1, slow);
        at = next[0].0;
        tries.push(at);
    }
    assert!(comm.timeouts.iter().all(|t| *t == Some(50)));
    core.complete(at, slow, error(FailureCode::TimedOut), &mut comm);
    let results: Vec<_> = comm.delivered.drain(..).map(|(_, r)| r).collect();
    assert_eq!(results.len(), 2);
    let Outcome::Failed { code, message, .. } = &results[1].outcome else { panic!("{results:?}") };
    assert_eq!(*code, FailureCode::TimedOut);
    let names: Vec<_> = tries.iter().map(|w| if *w == A { "a" } else { "b" }).collect();
    assert_eq!(*message, format!("timed out after 50 ms on each of 3 attempts (on {})", names.join(", ")));
    assert_eq!(results[1].attempts, 3);
    assert_eq!(comm.finished.drain(..).count(), 1);
}

#[test]
fn draining_worker_gets_nothing_new_and_its_returns_run_elsewhere() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("d"));
    core.submit(JOB, (0..3).map(noop), &mut comm);
    core.schedule(&mut comm);
    let keys: Vec<_> = comm.take_assigned().into_iter().map(|(_, k)| k).collect();
    core.drain_worker(A, &keys[1..]);
    core.schedule(&mut comm);
    assert!(comm.assigned.is_empty(), "a draining worker gets nothing");
    let notice = comm.notices.pop_front().unwrap();
    assert_eq!(notice, (JOB, "waiting: no active worker (0 of 1 connected)".to_string()));
    assert_eq!(core.queued(), 2);
    core.add_worker(B, spec("b", 1, 1.0));
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned(), vec![(B, keys[1]), (B, keys[2])]);
    core.complete(A, keys[0], ok(), &mut comm);
    assert_eq!(comm.delivered.drain(..).count(), 1);
}

#[test]
fn pipeline_deepens_for_tiny_tasks_and_stays_shallow_for_long_ones() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("p"));
    core.submit(JOB, (0..1000).map(noop), &mut comm);
    core.schedule(&mut comm);
    let first = comm.take_assigned();
    assert_eq!(first.len(), 3, "1 core + 2 prefetched before anything is known");
    // A 10 us task: the pipeline grows to 1 + 128 per core.
    core.complete(A, first[0].1, ok(), &mut comm);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned().len(), 127);
    assert_eq!(core.worker_stats()[0].in_flight, 129);
    comm.delivered.clear();

    // Long tasks (20 ms) keep it at the configured floor.
    let mut core = self::core(2);
    core.add_worker(B, spec("b", 1, 1.0));
    core.open_job(JOB, job("q"));
    core.submit(JOB, (0..100).map(noop), &mut comm);
    let mut held = VecDeque::new();
    for _ in 0..20 {
        core.schedule(&mut comm);
        held.extend(comm.take_assigned().into_iter().map(|(_, key)| key));
        let key = held.pop_front().unwrap();
        core.complete(B, key, Finished { run_micros: 20_000, ..ok() }, &mut comm);
    }
    core.schedule(&mut comm);
    held.extend(comm.take_assigned().into_iter().map(|(_, key)| key));
    assert_eq!(core.worker_stats()[0].in_flight, 3);
    assert_eq!(held.len(), 3);
    comm.delivered.clear();
}

#[test]
fn summary_keeps_the_share_of_a_worker_that_left() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("s"));
    core.submit(JOB, (0..3).map(noop), &mut comm);
    core.close_input(JOB, &mut comm);
    core.schedule(&mut comm);
    let (_, key) = comm.take_assigned()[0];
    core.complete(A, key, ok(), &mut comm);
    core.remove_worker(A, &mut comm); // idle when it leaves: nothing charged
    core.add_worker(B, spec("b", 1, 1.0));
    for _ in 0..2 {
        core.schedule(&mut comm);
        let (w, key) = comm.take_assigned()[0];
        core.complete(w, key, ok(), &mut comm);
    }
    assert_eq!(comm.delivered.drain(..).count(), 3);
    let (_, summary) = comm.finished.pop_front().unwrap();
    let shares: Vec<_> = summary.shares.iter().map(|s| (s.worker.as_str(), s.tasks)).collect();
    assert_eq!(shares, vec![("a", 1), ("b", 2)]);
}

#[test]
fn an_old_revoke_answer_does_not_touch_a_reassigned_task() {
    let mut core = Core::new(CoreConfig {
        prefetch_per_core: 2,
        max_attempts: 3,
        default_timeout_ms: Some(10),
        ..CoreConfig::default()
    });
    let mut comm = TestComm::default();
    const C: WorkerId = WorkerId(3);
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("r"));
    core.submit(JOB, (0..2).map(noop), &mut comm);
    core.schedule(&mut comm);
    let keys: Vec<_> = comm.take_assigned().into_iter().map(|(_, k)| k).collect();
    let k1 = keys[1];
    core.add_worker(B, spec("b", 1, 1.0));
    core.schedule(&mut comm);
    assert_eq!(comm.revokes.pop_front(), Some((A, vec![k1]))); // request R1
                                                               // K1 had started on A and times out before A answers R1.
    core.remove_worker(B, &mut comm);
    core.complete(A, k1, error(FailureCode::TimedOut), &mut comm);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned(), vec![(A, k1)], "back on A, the only worker");
    core.add_worker(C, spec("c", 1, 1.0));
    core.schedule(&mut comm);
    assert_eq!(comm.revokes.pop_front(), Some((A, vec![k1]))); // request R2
    core.revoked(A, &[]); // answer to R1: it had started (the old assignment)
    core.revoked(A, &[k1]); // answer to R2: handed back
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned(), vec![(C, k1)]);
    assert!(comm.revokes.is_empty());
}

#[test]
fn a_stolen_task_goes_to_the_idle_worker_even_when_the_busy_one_is_heavier() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("heavy", 1, 10.0));
    core.add_worker(B, spec("light", 1, 1.0));
    core.open_job(JOB, job("s"));
    core.submit(JOB, (0..3).map(noop), &mut comm);
    core.schedule(&mut comm);
    // (in flight + 1) / capacity: 0.1, 0.2, 0.3 on A, all below B's 1.0.
    let assigned = comm.take_assigned();
    assert!(assigned.iter().all(|(w, _)| *w == A), "{assigned:?}");
    // Each time B is idle, one of A's prefetched tasks is taken back for
    // it, and it reaches B (not A again, which is "less loaded").
    let mut rounds = 0;
    while let Some((victim, asked)) = comm.revokes.pop_front() {
        assert_eq!((victim, asked.len()), (A, 1));
        core.revoked(A, &asked);
        core.schedule(&mut comm);
        assert_eq!(comm.take_assigned(), [(B, asked[0])], "round {rounds}: the stolen task must reach B");
        core.complete(B, asked[0], ok(), &mut comm);
        comm.delivered.clear();
        core.schedule(&mut comm);
        rounds += 1;
        assert!(rounds <= 2, "A only had two prefetched tasks");
    }
    assert_eq!(rounds, 2);
}

const SMALL: JobId = JobId(8);

#[test]
fn a_small_job_runs_next_behind_a_large_one() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("large"));
    core.submit(JOB, (0..1000).map(noop), &mut comm);
    core.schedule(&mut comm);
    let [(_, first)] = comm.take_assigned()[..] else { panic!() };
    core.open_job(SMALL, job("small"));
    core.submit(SMALL, [noop(0)], &mut comm);
    core.close_input(SMALL, &mut comm);
    core.complete(A, first, ok(), &mut comm);
    core.schedule(&mut comm);
    let next = comm.take_assigned()[0].1;
    core.complete(A, next, ok(), &mut comm);
    let jobs: Vec<JobId> = comm.delivered.drain(..).map(|(job, _)| job).collect();
    assert_eq!(jobs, [JOB, SMALL], "the small job's task ran second, not after 1,000");
    assert_eq!(comm.finished.pop_front().map(|(job, _)| job), Some(SMALL));
    core.schedule(&mut comm);
    comm.take_assigned();
}

#[test]
fn jobs_take_turns_and_a_retry_waits_for_its_own_job_turn() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, job("large"));
    core.submit(JOB, (0..10).map(noop), &mut comm);
    core.schedule(&mut comm);
    let [(_, first)] = comm.take_assigned()[..] else { panic!() };
    core.open_job(SMALL, job("small"));
    core.submit(SMALL, (0..10).map(noop), &mut comm);
    // A is lost while running the large job's first task; B (2 cores,
    // no prefetch yet) joins: one task of each job, the small one first.
    core.remove_worker(A, &mut comm);
    core.add_worker(B, spec("b", 2, 1.0));
    core.schedule(&mut comm);
    let assigned = comm.take_assigned();
    assert_eq!(assigned.len(), 2);
    assert_ne!(assigned[0].1, first, "the small job has its turn before the large job's retry");
    assert_eq!(assigned[1].1, first, "then the retry, first in its own job");
    for (_, key) in assigned {
        core.complete(B, key, ok(), &mut comm);
    }
    let jobs: Vec<JobId> = comm.delivered.drain(..).map(|(job, _)| job).collect();
    assert_eq!(jobs, [SMALL, JOB]);
    core.schedule(&mut comm);
    let jobs: Vec<JobId> =
        comm.take_assigned().iter().map(|&(_, key)| core.tasks.get(key).unwrap().job).collect();
    assert!(jobs.windows(2).all(|w| w[0] != w[1]), "turns alternate: {jobs:?}");
}

#[test]
fn cancelling_a_job_frees_its_queued_tasks_at_once() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.open_job(JOB, job("c"));
    core.submit(JOB, (0..1000).map(noop), &mut comm);
    assert_eq!((core.queued(), core.queued_bytes()), (1000, 4000));
    assert_eq!(core.cancel_job(JOB, &mut comm), 1000);
    assert_eq!((core.queued(), core.queued_bytes()), (0, 0));
    assert_eq!(core.tasks.len(), 0, "no key of the cancelled job is kept");
    // The next job is served at once.
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(SMALL, job("next"));
    core.submit(SMALL, [noop(0)], &mut comm);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned().len(), 1);
}

#[test]
fn a_paused_job_waits_while_others_run() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, spec("a", 2, 1.0));
    core.open_job(JOB, job("paused"));
    core.open_job(SMALL, job("other"));
    core.pause_job(JOB);
    core.submit(JOB, (0..3).map(noop), &mut comm);
    core.submit(SMALL, [noop(0)], &mut comm);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned().len(), 1, "only the other job's task");
    assert_eq!(core.queued(), 3);
    core.resume_job(JOB);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned().len(), 1, "one free core left");
}

#[test]
fn a_task_its_worker_never_reports_is_taken_back_after_its_timeout_and_grace() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.set_clock(1_000);
    core.add_worker(A, spec("mute", 1, 1.0));
    core.open_job(JOB, JobSpec { name: "t".into(), timeout_ms: Some(500), ..JobSpec::default() });
    core.submit(JOB, [noop(0)], &mut comm);
    core.schedule(&mut comm);
    let [(A, key)] = comm.take_assigned()[..] else { panic!() };
    // Within timeout + grace (500 + 1,050 ms): nothing happens.
    core.set_clock(1_000 + 1_550);
    core.check_deadlines(&mut comm);
    assert!(comm.cancels.is_empty());
    // Past it: taken back, stopped on A, and A's core counted as stuck.
    core.set_clock(1_000 + 1_551);
    core.check_deadlines(&mut comm);
    assert_eq!(comm.cancels.pop_front(), Some((A, vec![key])));
    assert_eq!(core.worker_stats()[0].stuck, 1);
    core.schedule(&mut comm);
    assert!(comm.take_assigned().is_empty(), "A's only core is stuck");
    core.add_worker(B, spec("b", 1, 1.0));
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned(), [(B, key)]);
    core.complete(B, key, ok(), &mut comm);
    let (_, report) = comm.delivered.pop_front().unwrap();
    assert_eq!((report.attempts, report.worker.as_str()), (2, "b"));
    comm.finished.clear();
    // A finally reports the task: late, and its core is free again.
    core.complete(A, key, error(FailureCode::Cancelled), &mut comm);
    assert_eq!((core.late_results(), core.worker_stats()[0].stuck), (1, 0));
}

#[test]
fn a_job_past_its_deadline_fails_every_task_without_a_result() {
    let mut core = core(1);
    let mut comm = TestComm::default();
    core.set_clock(0);
    core.add_worker(A, spec("a", 1, 1.0));
    core.open_job(JOB, JobSpec { name: "d".into(), deadline_ms: Some(100), ..JobSpec::default() });
    core.submit(JOB, (0..5).map(noop), &mut comm);
    core.schedule(&mut comm);
    let assigned = comm.take_assigned();
    assert_eq!(assigned.len(), 2, "one running, one prefetched");
    core.complete(A, assigned[0].1, ok(), &mut comm);
    core.set_clock(100);
    core.check_deadlines(&mut comm);
    let (_, cancelled) = comm.cancels.pop_front().expect("the rest stopped on A");
    assert_eq!(cancelled, [assigned[1].1]);
    let failed = comm.delivered.iter().filter(|(_, r)| !r.outcome.is_output()).count();
    assert_eq!((comm.delivered.len(), failed), (5, 4));
    comm.delivered.clear();
    assert_eq!((core.queued(), core.worker_stats()[0].in_flight), (0, 0));
    // Tasks still arriving fail at once; closing the input ends the job.
    core.submit(JOB, [noop(9)], &mut comm);
    let (_, late) = comm.delivered.pop_front().unwrap();
    assert_eq!(
        late.outcome,
        Outcome::failed(
            FailureCode::TimedOut,
            "the job's deadline of 100 ms passed before the task was submitted"
        )
    );
    core.close_input(JOB, &mut comm);
    let (_, summary) = comm.finished.pop_front().unwrap();
    assert_eq!((summary.succeeded, summary.failed), (1, 5));
    core.complete(A, assigned[1].1, error(FailureCode::Cancelled), &mut comm);
    assert_eq!(core.late_results(), 1);
}
