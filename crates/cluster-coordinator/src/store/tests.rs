//! The state directory on its own: what is written comes back at start.

use super::*;
use crate::sched::{Outcome, TaskReport};

fn task(id: u64, kind: &str) -> (u64, Bytes) {
    let task = cluster_proto::Task { id: 0, kind: kind.into(), input: None };
    (id, Bytes::from(task.encode_to_vec()))
}

fn report(id: u64, worker: &str) -> TaskReport {
    TaskReport {
        id,
        outcome: Outcome::Output(Bytes::new()),
        worker: worker.into(),
        run_micros: 10,
        attempts: 1,
    }
}

/// Sends `ops` and waits until they are written.
fn write(store: &Store, ops: Vec<Op>) {
    for op in ops {
        store.send(op);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    store.send(Op::Snapshot { job: JobId(u64::MAX), reply: tx });
    assert!(rx.blocking_recv().unwrap().is_none());
}

#[test]
fn an_unfinished_job_comes_back_with_its_tasks_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, recovered) = Store::open(dir.path(), "test").unwrap();
        assert_eq!((recovered.next_job, recovered.jobs.len()), (1, 0));
        let (written, durable) = std::sync::mpsc::channel();
        let spec = JobSpec { name: "j".into(), ..JobSpec::default() };
        let on_durable = Box::new(move || written.send(()).unwrap());
        write(
            &store,
            vec![
                Op::OpenJob { id: JobId(1), spec, next_job: 2, on_durable },
                Op::Tasks {
                    job: JobId(1),
                    tasks: vec![task(0, "noop"), task(1, "spin"), task(2, "noop")],
                    received: 4,
                },
                Op::Results { job: JobId(1), reports: vec![report(1, "w1")] },
                Op::CloseInput { job: JobId(1) },
            ],
        );
        durable.recv().unwrap();
    }
    // The writer thread ends with the last handle, and lets go of the
    // file as it does: open again once it has.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let (_store, recovered) = loop {
        match Store::open(dir.path(), "test") {
            Err(StoreError::InUse { .. }) if std::time::Instant::now() < until => std::thread::yield_now(),
            other => break other.unwrap(),
        }
    };
    assert_eq!(recovered.next_job, 2);
    let job = &recovered.jobs[0];
    assert_eq!((job.id, job.spec.name.as_str(), job.input_closed, job.submitted), (JobId(1), "j", true, 4));
    let kinds: Vec<(u64, &str)> = job.tasks.iter().map(|t| (t.id, t.kind.as_str())).collect();
    assert_eq!(kinds, [(0, "noop"), (2, "noop")]);
    assert_eq!((job.summary.succeeded, job.summary.shares.len()), (1, 1));
}

#[test]
fn a_finished_job_keeps_its_results_until_purged_and_a_forgotten_one_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), "test").unwrap();
    let nothing = || Box::new(|| ()) as OnDurable;
    write(
        &store,
        vec![
            Op::OpenJob { id: JobId(1), spec: JobSpec::default(), next_job: 2, on_durable: nothing() },
            Op::Tasks { job: JobId(1), tasks: vec![task(0, "noop")], received: 1 },
            Op::Results { job: JobId(1), reports: vec![report(0, "w")] },
            Op::Finished { job: JobId(1) },
            Op::OpenJob { id: JobId(2), spec: JobSpec::default(), next_job: 3, on_durable: nothing() },
            Op::Forget { job: JobId(2) },
        ],
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    store.send(Op::Snapshot { job: JobId(1), reply: tx });
    let snapshot = rx.blocking_recv().unwrap().unwrap();
    assert!(snapshot.finished);
    assert_eq!(snapshot.results.len(), 1);
    let (tx, rx) = tokio::sync::oneshot::channel();
    store.send(Op::Snapshot { job: JobId(2), reply: tx });
    assert!(rx.blocking_recv().unwrap().is_none(), "forgotten");
    write(&store, vec![Op::Purge { finished_before_unix_ms: u64::MAX }]);
    let (tx, rx) = tokio::sync::oneshot::channel();
    store.send(Op::Snapshot { job: JobId(1), reply: tx });
    assert!(rx.blocking_recv().unwrap().is_none(), "purged");
}

#[test]
fn a_second_opener_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _) = Store::open(dir.path(), "pid 7 listening on 127.0.0.1:7700").unwrap();
    let err = Store::open(dir.path(), "another").unwrap_err().to_string();
    assert!(err.contains("in use by another coordinator (pid 7 listening on 127.0.0.1:7700)"), "{err}");
}
