//! Work stealing: prefetched tasks asked back for an idle worker, and
//! revoke answers that come too late or too old.

use super::*;

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
