//! Workers that leave: a lost worker's running tasks charged and retried,
//! its late results dropped, a draining worker's tasks run elsewhere, its
//! share kept in the job's summary.

use super::*;

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
