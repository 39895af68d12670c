//! The actor with its channels, without a socket: admission, event order
//! and cancellation, driven through the same handle the services use.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::*;
use crate::sched::{FailureCode, Finished, Outcome};

fn task(id: u64) -> NewTask {
    NewTask { id, payload: Bytes::from_static(b"noop") }
}

fn ok() -> Finished {
    Finished { outcome: Outcome::Output(Bytes::new()), run_micros: 5 }
}

/// The keys of the next assignment message the worker gets.
async fn assigned(rx: &mut mpsc::UnboundedReceiver<ToWorker>) -> Vec<TaskKey> {
    match rx.recv().await {
        Some(ToWorker::Assign(tasks)) => tasks.into_iter().map(|a| a.key).collect(),
        other => panic!("expected an assignment, got {other:?}"),
    }
}

async fn open(actor: &ActorHandle) -> (JobId, mpsc::UnboundedReceiver<JobEvent>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let job = actor.open_job(tx, JobSpec::default()).await.unwrap();
    assert!(matches!(rx.recv().await, Some(JobEvent::Accepted(j)) if j == job));
    (job, rx)
}

#[tokio::test]
async fn admission_permits_come_back_as_tasks_leave_the_queue() {
    let actor = spawn(CoreConfig { prefetch_per_core: 1, ..CoreConfig::default() }, 4);
    let (job, _events) = open(&actor).await;
    actor.admission.acquire_many(4).await.unwrap().forget();
    actor.submit(job, (0..4).map(task).collect(), Vec::new());
    let status = actor.status().await.unwrap();
    assert_eq!((status.queued, actor.admission.available_permits()), (4, 0));
    // A 1-core worker with prefetch 1 takes two: two permits come back.
    let (tx, mut worker_rx) = mpsc::unbounded_channel();
    let worker = actor.worker_up(WorkerDesc::new("w", 1), tx).await.unwrap();
    let keys = assigned(&mut worker_rx).await;
    assert_eq!(keys.len(), 2);
    assert_eq!(actor.status().await.unwrap().queued, 2);
    assert_eq!(actor.admission.available_permits(), 2);
    actor.completions(worker, keys.iter().map(|&k| (k, ok())).collect());
    assert_eq!(assigned(&mut worker_rx).await.len(), 2);
    assert_eq!(actor.status().await.unwrap().queued, 0);
    assert_eq!(actor.admission.available_permits(), 4);
}

#[tokio::test]
async fn results_then_the_summary_end_a_job() {
    let actor = spawn(CoreConfig::default(), 100);
    let (tx, mut worker_rx) = mpsc::unbounded_channel();
    let worker = actor.worker_up(WorkerDesc::new("w", 2), tx).await.unwrap();
    let (job, mut events) = open(&actor).await;
    let rejected = vec![(9, Outcome::failed(FailureCode::InvalidInput, "too big"))];
    actor.submit(job, vec![task(1), task(2)], rejected);
    actor.close_input(job);
    let keys = assigned(&mut worker_rx).await;
    actor.completions(worker, keys.iter().map(|&k| (k, ok())).collect());
    let mut ids = Vec::new();
    let summary = loop {
        match events.recv().await.expect("an event") {
            JobEvent::Results(reports) => ids.extend(reports.iter().map(|r| (r.id, r.outcome.is_output()))),
            JobEvent::Finished(summary) => break summary,
            other => panic!("unexpected {other:?}"),
        }
    };
    ids.sort();
    assert_eq!(ids, [(1, true), (2, true), (9, false)]);
    assert_eq!((summary.succeeded, summary.failed), (2, 1));
    assert_eq!(summary.shares[0].tasks, 2);
}

#[tokio::test]
async fn a_cancel_stops_the_tasks_and_tells_the_client() {
    let actor = spawn(CoreConfig::default(), 100);
    let (tx, mut worker_rx) = mpsc::unbounded_channel();
    actor.worker_up(WorkerDesc::new("w", 1), tx).await.unwrap();
    let (job, mut events) = open(&actor).await;
    actor.submit(job, (0..5).map(task).collect(), Vec::new());
    let keys = assigned(&mut worker_rx).await;
    assert_eq!(actor.cancel(job).await.unwrap(), 5);
    match worker_rx.recv().await {
        Some(ToWorker::Cancel(cancelled)) => assert_eq!(cancelled, keys),
        other => panic!("expected a cancel, got {other:?}"),
    }
    match events.recv().await {
        Some(JobEvent::Failed(error)) => {
            assert_eq!(error.to_string(), format!("job {job} was cancelled by a Cancel call"))
        }
        other => panic!("expected the job to fail, got {other:?}"),
    }
    assert_eq!(actor.status().await.unwrap().queued, 0);
}

#[tokio::test]
async fn shutdown_refuses_new_jobs_and_ends_open_ones() {
    let actor = spawn(CoreConfig::default(), 100);
    let (job, mut events) = open(&actor).await;
    actor.submit(job, (0..3).map(task).collect(), Vec::new());
    actor.shutdown().await;
    match events.recv().await {
        Some(JobEvent::Failed(error)) => {
            assert_eq!(
                error.to_string(),
                format!("the coordinator is shutting down; 3 tasks of job {job} had no result")
            )
        }
        other => panic!("expected the job to fail, got {other:?}"),
    }
    let (tx, _rx) = mpsc::unbounded_channel();
    assert!(matches!(actor.open_job(tx, JobSpec::default()).await, Err(CoordinatorError::ShuttingDown)));
}
