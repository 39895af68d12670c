//! Routing by capability: kinds and required labels decide who may run a
//! task; least-loaded order and stealing work within that set.

use super::*;

fn task(id: u64, kind: &str) -> NewTask {
    NewTask { id, kind: kind.into(), payload: Bytes::from(kind.to_owned()) }
}

fn runs(name: &str, cores: u32, kinds: &[&str]) -> WorkerDesc {
    WorkerDesc::new(name, cores).with_kinds(kinds)
}

fn labelled(desc: WorkerDesc, labels: &[(&str, &str)]) -> WorkerDesc {
    WorkerDesc { labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..desc }
}

const C: WorkerId = WorkerId(3);
const OTHER: JobId = JobId(9);

#[test]
fn a_task_goes_only_to_a_worker_that_runs_its_kind_even_when_another_is_idle() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, runs("plain", 4, &["noop"]));
    core.add_worker(B, runs("exec", 1, &["noop", "exec"]));
    core.open_job(JOB, job("mixed"));
    core.submit(JOB, (0..3).map(|id| task(id, "exec")), &mut comm);
    core.schedule(&mut comm);
    // One exec core: one task now, though "plain" has four idle cores.
    let assigned = comm.take_assigned();
    assert_eq!(assigned.iter().map(|&(w, _)| w).collect::<Vec<_>>(), vec![B]);
    // Noop tasks of another job meanwhile go to the least loaded, "plain".
    core.open_job(OTHER, job("noops"));
    core.submit(OTHER, (0..2).map(|id| task(id, "noop")), &mut comm);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned().iter().map(|&(w, _)| w).collect::<Vec<_>>(), vec![A, A]);
    // The exec worker finishes (a tiny task: its pipeline deepens): the
    // other exec tasks go there too.
    core.complete(B, assigned[0].1, ok(), &mut comm);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned().iter().map(|&(w, _)| w).collect::<Vec<_>>(), vec![B, B]);
    comm.delivered.clear();
}

#[test]
fn required_labels_pick_the_workers_and_least_loaded_order_holds_among_them() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, labelled(runs("a", 2, &["noop"]), &[("zone", "a")]));
    core.add_worker(B, labelled(runs("b", 1, &["noop"]), &[("zone", "b"), ("gpu", "1")]));
    core.add_worker(C, labelled(runs("c", 1, &["noop"]), &[("zone", "b")]));
    let spec = JobSpec { require: [("zone".to_string(), "b".to_string())].into(), ..job("zoned") };
    core.open_job(JOB, spec);
    core.submit(JOB, (0..4).map(|id| task(id, "noop")), &mut comm);
    core.schedule(&mut comm);
    let mut on: Vec<WorkerId> = comm.take_assigned().into_iter().map(|(w, _)| w).collect();
    on.sort();
    assert_eq!(on, vec![B, C], "one task per zone-b core, none on zone a");
    assert_eq!(core.queued(), 2);
}

#[test]
fn a_lane_nobody_can_run_waits_told_then_fails_naming_what_is_offered() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.set_clock(1_000);
    core.add_worker(A, runs("a", 1, &["noop", "spin"]));
    let spec = JobSpec { unroutable_timeout_ms: Some(5_000), ..job("exec") };
    core.open_job(JOB, spec);
    core.submit(JOB, (0..2).map(|id| task(id, "exec")), &mut comm);
    core.submit(JOB, [task(2, "noop")], &mut comm);
    core.schedule(&mut comm);
    // The blocked lane does not hold up the job's other lane.
    assert_eq!(comm.take_assigned().len(), 1);
    assert_eq!(
        comm.notices.drain(..).collect::<Vec<_>>(),
        vec![(JOB, "waiting: no worker runs kind 'exec' (1 workers connected)".to_string())]
    );
    assert_eq!(
        core.job_stats()[0].blocked.as_deref(),
        Some("waiting: no worker runs kind 'exec' (1 workers connected)")
    );
    // Told once, however often the clock ticks.
    core.set_clock(5_999);
    core.check_deadlines(&mut comm);
    assert!(comm.notices.is_empty() && comm.delivered.is_empty());
    core.set_clock(6_000);
    core.check_deadlines(&mut comm);
    let failed: Vec<_> = comm.delivered.drain(..).map(|(_, report)| (report.id, report.outcome)).collect();
    let why = "no worker runs kind 'exec' after waiting 5000 ms; the workers offer noop, spin";
    assert_eq!(
        failed,
        vec![
            (0, Outcome::failed(FailureCode::UnknownKind, why)),
            (1, Outcome::failed(FailureCode::UnknownKind, why))
        ]
    );
    assert_eq!(core.queued(), 0);
}

#[test]
fn a_worker_that_joins_in_time_runs_the_waiting_tasks() {
    let mut core = core(0);
    let mut comm = TestComm::default();
    core.add_worker(A, runs("a", 1, &["noop"]));
    core.open_job(JOB, job("exec"));
    core.submit(JOB, (0..2).map(|id| task(id, "exec")), &mut comm);
    core.schedule(&mut comm);
    assert!(comm.assigned.is_empty());
    assert_eq!(comm.notices.len(), 1);
    comm.notices.clear();
    core.add_worker(B, runs("b", 2, &["exec"]));
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned().iter().map(|&(w, _)| w).collect::<Vec<_>>(), vec![B, B]);
    assert_eq!(core.job_stats()[0].blocked, None);
    // Waiting again after the only exec worker leaves: told again.
    core.submit(JOB, [task(5, "exec")], &mut comm);
    core.remove_worker(B, &mut comm);
    core.schedule(&mut comm);
    assert!(comm.assigned.is_empty());
    assert_eq!(comm.notices.drain(..).count(), 1);
}

#[test]
fn idle_cores_steal_only_tasks_they_can_run() {
    let mut core = core(2);
    let mut comm = TestComm::default();
    core.add_worker(A, runs("busy", 1, &["noop", "exec"]));
    core.open_job(JOB, job("exec"));
    core.submit(JOB, (0..3).map(|id| task(id, "exec")), &mut comm);
    core.schedule(&mut comm);
    let keys: Vec<TaskKey> = comm.take_assigned().into_iter().map(|(_, k)| k).collect();
    assert_eq!(keys.len(), 3, "1 running + 2 prefetched");
    // An idle worker that cannot run exec asks for nothing.
    core.add_worker(B, runs("noop only", 1, &["noop"]));
    core.schedule(&mut comm);
    assert!(comm.revokes.is_empty());
    // One that can gets the newest prefetched task back.
    core.add_worker(C, runs("exec too", 1, &["exec"]));
    core.schedule(&mut comm);
    assert_eq!(comm.revokes.pop_front(), Some((A, vec![keys[2]])));
    core.revoked(A, &[keys[2]]);
    core.schedule(&mut comm);
    assert_eq!(comm.take_assigned(), vec![(C, keys[2])]);
}
