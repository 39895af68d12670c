//! The actor with its channels, without a socket: admission, event order
//! and cancellation, driven through the same handle the services use.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::*;
use crate::error::CoordinatorError;
use crate::sched::{FailureCode, Finished, JobSpec, NewTask, Outcome, TaskKey, WorkerDesc};

const FORGET: Duration = Duration::from_secs(300);

fn limits(tasks: usize) -> Limits {
    Limits { tasks, bytes: 1 << 30 }
}

fn task(id: u64) -> NewTask {
    NewTask { id, kind: "noop".into(), payload: Bytes::from_static(b"noop") }
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

async fn open(actor: &ActorHandle) -> (JobId, JobRx) {
    let (tx, mut rx) = job_channel();
    let job = actor.open_job(tx, JobSpec::default(), None).await.unwrap().job;
    assert!(matches!(next(&mut rx).await, JobEvent::Accepted(j) if j == job));
    (job, rx)
}

/// The job's next event.
async fn next(events: &mut JobRx) -> JobEvent {
    events.recv(MAX_UNREAD_BYTES).await.expect("an event").0
}

#[tokio::test]
async fn admission_permits_come_back_as_tasks_leave_the_queue() {
    let actor = spawn(CoreConfig { prefetch_per_core: 1, ..CoreConfig::default() }, limits(4), FORGET, None);
    let (job, _events) = open(&actor).await;
    let permits = actor.admission.admit(4, 16).await.unwrap();
    actor.submit(job, (0..4).map(task).collect(), Vec::new(), permits);
    let status = actor.status().await.unwrap();
    assert_eq!((status.queued, actor.admission.available().tasks), (4, 0));
    assert_eq!(actor.admission.available().bytes, (1 << 30) - 16);
    // A 1-core worker with prefetch 1 takes two: two permits come back.
    let (tx, mut worker_rx) = mpsc::unbounded_channel();
    let worker = actor.worker_up(WorkerDesc::new("w", 1), Vec::new(), tx).await.unwrap();
    let keys = assigned(&mut worker_rx).await;
    assert_eq!(keys.len(), 2);
    assert_eq!(actor.status().await.unwrap().queued, 2);
    assert_eq!(actor.admission.available().tasks, 2);
    actor.completions(worker, keys.iter().map(|&k| (k, ok())).collect());
    assert_eq!(assigned(&mut worker_rx).await.len(), 2);
    assert_eq!(actor.status().await.unwrap().queued, 0);
    assert_eq!(actor.admission.available(), Permits { tasks: 4, bytes: 1 << 30 });
}

#[tokio::test]
async fn results_then_the_summary_end_a_job() {
    let actor = spawn(CoreConfig::default(), limits(100), FORGET, None);
    let (tx, mut worker_rx) = mpsc::unbounded_channel();
    let worker = actor.worker_up(WorkerDesc::new("w", 2), Vec::new(), tx).await.unwrap();
    let (job, mut events) = open(&actor).await;
    let rejected = vec![(9, Outcome::failed(FailureCode::InvalidInput, "too big"))];
    actor.submit(job, vec![task(1), task(2)], rejected, Permits::default());
    actor.close_input(job);
    let keys = assigned(&mut worker_rx).await;
    actor.completions(worker, keys.iter().map(|&k| (k, ok())).collect());
    let mut ids = Vec::new();
    let summary = loop {
        match next(&mut events).await {
            JobEvent::Results(reports, _) => {
                ids.extend(reports.iter().map(|r| (r.id, r.outcome.is_output())))
            }
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
    let actor = spawn(CoreConfig::default(), limits(100), FORGET, None);
    let (tx, mut worker_rx) = mpsc::unbounded_channel();
    actor.worker_up(WorkerDesc::new("w", 1), Vec::new(), tx).await.unwrap();
    let (job, mut events) = open(&actor).await;
    actor.submit(job, (0..5).map(task).collect(), Vec::new(), Permits::default());
    let keys = assigned(&mut worker_rx).await;
    assert_eq!(actor.cancel(job).await.unwrap(), 5);
    match worker_rx.recv().await {
        Some(ToWorker::Cancel(cancelled)) => assert_eq!(cancelled, keys),
        other => panic!("expected a cancel, got {other:?}"),
    }
    match next(&mut events).await {
        JobEvent::Failed(error) => {
            assert_eq!(error.to_string(), format!("job {job} was cancelled by a Cancel call"))
        }
        other => panic!("expected the job to fail, got {other:?}"),
    }
    assert_eq!(actor.status().await.unwrap().queued, 0);
}

#[tokio::test]
async fn shutdown_refuses_new_jobs_and_ends_open_ones() {
    let actor = spawn(CoreConfig::default(), limits(100), FORGET, None);
    let (job, mut events) = open(&actor).await;
    actor.submit(job, (0..3).map(task).collect(), Vec::new(), Permits::default());
    actor.shutdown().await;
    match next(&mut events).await {
        JobEvent::Failed(error) => {
            assert_eq!(
                error.to_string(),
                format!("the coordinator is shutting down; 3 tasks of job {job} had no result")
            )
        }
        other => panic!("expected the job to fail, got {other:?}"),
    }
    let (tx, _rx) = job_channel();
    assert!(matches!(
        actor.open_job(tx, JobSpec::default(), None).await,
        Err(CoordinatorError::ShuttingDown)
    ));
}

#[tokio::test]
async fn a_client_that_does_not_read_pauses_its_job_and_reading_resumes_it() {
    let actor =
        spawn(CoreConfig { prefetch_per_core: 0, ..CoreConfig::default() }, limits(1_000_000), FORGET, None);
    let (tx, mut worker_rx) = mpsc::unbounded_channel();
    let worker = actor.worker_up(WorkerDesc::new("w", 8), Vec::new(), tx).await.unwrap();
    let (job, mut events) = open(&actor).await;
    let total = 200_000;
    actor.submit(job, (0..total).map(task).collect(), Vec::new(), Permits::default());
    actor.close_input(job);
    // The worker finishes everything it is given; the client reads nothing.
    let paused = loop {
        match worker_rx.try_recv() {
            Ok(ToWorker::Assign(tasks)) => {
                actor.completions(worker, tasks.into_iter().map(|a| (a.key, ok())).collect())
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {
                let status = actor.status().await.unwrap();
                assert!(status.jobs.len() == 1, "every task ran: dispatch never paused");
                if status.jobs[0].paused && worker_rx.is_empty() {
                    break status;
                }
            }
        }
    };
    let finished = paused.jobs[0].finished;
    assert!(finished < total / 2, "{finished} results held for a client that reads nothing");
    assert!(paused.queued > 0);
    // The client reads: the job goes on to the end.
    let summary = loop {
        tokio::select! {
            event = events.recv(MAX_UNREAD_BYTES) => match event.expect("an event") {
                (JobEvent::Results(..), below) => {
                    if below {
                        actor.client_read(job);
                    }
                }
                (JobEvent::Finished(summary), _) => break summary,
                (other, _) => panic!("unexpected {other:?}"),
            },
            Some(message) = worker_rx.recv() => {
                let ToWorker::Assign(tasks) = message else { panic!("unexpected {message:?}") };
                actor.completions(worker, tasks.into_iter().map(|a| (a.key, ok())).collect());
            }
        }
    };
    assert_eq!(summary.succeeded, total);
}
