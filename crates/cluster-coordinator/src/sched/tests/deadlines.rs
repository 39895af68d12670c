//! Time limits: a task's timeout and its retries, a task its worker never
//! reports, a job's deadline.

use super::*;

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
