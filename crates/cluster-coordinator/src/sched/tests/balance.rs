//! How tasks spread over workers: pipelines filled to cores plus prefetch,
//! shares that follow cores and weights, pipelines that deepen for tiny tasks.

use super::*;

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
