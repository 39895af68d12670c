//! Jobs that outlive their coordinator's crash: with a coordinator that
//! keeps durable state, a broken connection is not the end of the job. The
//! client reconnects with backoff, resumes the job by id, sends again the
//! tasks the coordinator does not hold, and drops results it already had
//! (each task's result comes once to the caller, whatever was resent).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_proto::{submit_response, JobOptions, JobSummary, ResumeJob, SubmitRequest, Task};
use futures::StreamExt;

use crate::{submission, Client, ClientError, JobEvent};

/// Longest pause between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How a job's stream ended, when it did not finish.
enum Broken {
    /// The connection failed (the coordinator died, restarted, or the
    /// network broke): worth resuming.
    Transient(String),
    /// An answer that resuming cannot change.
    Final(ClientError),
}

impl Client {
    /// Runs a job of `count` tasks, task `i` being `make(i)` (made again for
    /// tasks the coordinator lost), calling `on_event` for everything its
    /// result stream brings. If the coordinator keeps durable state, a
    /// broken connection is retried with backoff for up to `reconnect`,
    /// and the job resumed where it was; otherwise it ends the job with
    /// [`ClientError::JobLost`].
    pub async fn run_durable(
        &mut self,
        options: JobOptions,
        count: u64,
        make: impl Fn(u64) -> Task + Send + Sync + 'static,
        reconnect: Duration,
        on_event: impl FnMut(JobEvent),
    ) -> Result<JobSummary, ClientError> {
        self.drive(&options, count, Arc::new(make), None, reconnect, on_event).await
    }

    /// Resumes job `job` from this process (its tasks already all sent by
    /// the client that submitted it), calling `on_event` as
    /// [`Client::run_durable`] does.
    pub async fn attach(
        &mut self,
        job: u64,
        reconnect: Duration,
        on_event: impl FnMut(JobEvent),
    ) -> Result<JobSummary, ClientError> {
        // No tasks to send: an attached client only reads. A coordinator
        // that holds fewer tasks than were sent lost them; nobody can send
        // them again from here.
        let nothing = Arc::new(|_| Task::default());
        self.drive(&JobOptions::default(), 0, nothing, Some((job, true)), reconnect, on_event).await
    }

    /// Streams until the job ends, reconnecting and resuming `job` (its id,
    /// and whether the coordinator keeps it durably; `None` until it
    /// accepts a new one) after a broken connection while that helps.
    async fn drive<F: Fn(u64) -> Task + Send + Sync + 'static>(
        &mut self,
        options: &JobOptions,
        count: u64,
        make: Arc<F>,
        mut job: Option<(u64, bool)>,
        reconnect: Duration,
        mut on_event: impl FnMut(JobEvent),
    ) -> Result<JobSummary, ClientError> {
        let mut seen: HashSet<u64> = HashSet::new();
        loop {
            let why = match self.attempt(options, count, &make, &mut seen, &mut job, &mut on_event).await {
                Ok(summary) => return Ok(summary),
                Err(Broken::Final(error)) => return Err(error),
                Err(Broken::Transient(why)) => why,
            };
            match job {
                Some((id, true)) => {
                    on_event(JobEvent::Reconnecting(why.clone()));
                    self.reconnect(reconnect).await.map_err(|last| {
                        ClientError::JobLost(format!(
                            "lost the coordinator ({why}) and could not reach it again within {reconnect:?} \
                             ({last}); job {id} may still run there: resume it with `attach --job {id}`"
                        ))
                    })?;
                }
                Some((id, false)) => {
                    return Err(ClientError::JobLost(format!(
                        "lost the coordinator ({why}); it keeps no durable state (--state-dir), so job {id} \
                         was lost and must be submitted again"
                    )))
                }
                None => return Err(ClientError::ConnectionLost(why)),
            }
        }
    }

    /// One stream: a new job (`job` is `None`) or a resumed one.
    async fn attempt<F: Fn(u64) -> Task + Send + Sync + 'static>(
        &mut self,
        options: &JobOptions,
        count: u64,
        make: &Arc<F>,
        seen: &mut HashSet<u64>,
        job: &mut Option<(u64, bool)>,
        on_event: &mut impl FnMut(JobEvent),
    ) -> Result<JobSummary, Broken> {
        let (held_tx, held_rx) = tokio::sync::oneshot::channel::<u64>();
        let requests = match job.map(|(id, _)| id) {
            None => futures::stream::iter(submission(
                options.clone(),
                (0..count).map({
                    let make = make.clone();
                    move |i| make(i)
                }),
            ))
            .boxed(),
            Some(id) => {
                let first =
                    SubmitRequest { resume: Some(ResumeJob { job_id: id }), ..SubmitRequest::default() };
                let make = make.clone();
                // The tasks the coordinator does not hold, once it says how
                // many it does.
                let rest = async move {
                    let from = held_rx.await.unwrap_or(count).min(count);
                    submission_tail((from..count).map(move |i| make(i)))
                };
                futures::stream::once(async { first }).chain(futures::stream::once(rest).flatten()).boxed()
            }
        };
        let mut held_tx = Some(held_tx);
        let mut responses = match self.inner.submit(requests).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Err(classify(status)),
        };
        loop {
            let event = match responses.message().await {
                Ok(Some(response)) => response.event,
                Ok(None) => {
                    return Err(Broken::Transient("the result stream ended before the job did".into()))
                }
                Err(status) => return Err(classify(status)),
            };
            match event {
                Some(submit_response::Event::Accepted(accepted)) => {
                    if let Some(tx) = held_tx.take() {
                        let _ = tx.send(accepted.tasks_received);
                    }
                    if job.is_none() {
                        *job = Some((accepted.job_id, accepted.durable));
                        on_event(JobEvent::Accepted(accepted.job_id));
                    } else {
                        on_event(JobEvent::Resumed {
                            job: accepted.job_id,
                            results_before: seen.len() as u64,
                            tasks_received: accepted.tasks_received,
                        });
                    }
                }
                Some(submit_response::Event::Results(batch)) => {
                    for result in batch.results {
                        if seen.insert(result.id) {
                            on_event(JobEvent::Result(result));
                        }
                    }
                }
                Some(submit_response::Event::Notice(notice)) => on_event(JobEvent::Notice(notice.message)),
                Some(submit_response::Event::Summary(summary)) => return Ok(summary),
                None => {}
            }
        }
    }

    /// Connects again, with backoff, for up to `window`; the last error
    /// when it gives up.
    async fn reconnect(&mut self, window: Duration) -> Result<(), String> {
        let until = Instant::now() + window;
        let mut pause = Duration::from_millis(50);
        loop {
            match Client::connect_with(&self.url, &self.security).await {
                Ok(client) => {
                    *self = client;
                    return Ok(());
                }
                Err(e) if Instant::now() + pause > until => return Err(e.to_string()),
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Task batches without options (the job exists already).
fn submission_tail(
    tasks: impl Iterator<Item = Task> + Send + 'static,
) -> impl futures::Stream<Item = SubmitRequest> + Send + 'static {
    futures::stream::iter(submission(JobOptions::default(), tasks).map(|mut request| {
        request.options = None;
        request
    }))
}

/// Whether a failed call is worth resuming.
fn classify(status: tonic::Status) -> Broken {
    use tonic::Code;
    match status.code() {
        // Transport failures surface as UNKNOWN or INTERNAL (h2 errors);
        // a coordinator going down answers UNAVAILABLE.
        Code::Unavailable | Code::Unknown | Code::Internal => Broken::Transient(status.message().to_string()),
        Code::NotFound => Broken::Final(ClientError::JobLost(status.message().to_string())),
        _ => Broken::Final(status.into()),
    }
}
