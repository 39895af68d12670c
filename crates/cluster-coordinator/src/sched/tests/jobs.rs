//! Jobs side by side: cancelled, paused, and served in turn so a small
//! job is not stuck behind a large one.

use super::*;

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
