//! `ClientService`: submit jobs, stream results back, report status. Thin
//! handlers: each converts at the wire edge, asks the actor, and turns a
//! `CoordinatorError` into a status in one place.

use std::pin::Pin;

use cluster_proto::client_service_server::ClientService;
use cluster_proto::{
    submit_response, CancelRequest, CancelResponse, JobAccepted, Notice, StatusRequest, StatusResponse,
    SubmitRequest, SubmitResponse,
};
use futures::{Stream, StreamExt};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status, Streaming};

use super::task_reader::TaskReader;
use crate::actor::{job_channel, ActorHandle, JobEvent, JobRx, JobTx, MAX_UNREAD_BYTES};
use crate::error::CoordinatorError;
use crate::sched::JobId;
use crate::wire;

#[derive(Clone)]
pub(crate) struct ClientApi {
    pub(crate) actor: ActorHandle,
    pub(crate) max_message_bytes: usize,
    /// True once the coordinator stops.
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
}

type ResultStream = Pin<Box<dyn Stream<Item = Result<SubmitResponse, Status>> + Send>>;

/// Where a job's task reader hands the submission stream back when the
/// client ended the job's input with `end_of_input`: the stream's next job.
pub(super) type NextJob = oneshot::Sender<Streaming<SubmitRequest>>;
type NextJobRx = oneshot::Receiver<Streaming<SubmitRequest>>;

#[tonic::async_trait]
impl ClientService for ClientApi {
    type SubmitStream = ResultStream;

    async fn submit(
        &self,
        request: Request<Streaming<SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStream>, Status> {
        let client = request.remote_addr();
        let first = self.open(request.into_inner(), client).await?;
        Ok(Response::new(self.jobs_on_stream(first, client)))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(wire::status(self.actor.status().await?, self.max_message_bytes)))
    }

    async fn cancel(&self, request: Request<CancelRequest>) -> Result<Response<CancelResponse>, Status> {
        let cancelled = self.actor.cancel(JobId(request.into_inner().job_id)).await?;
        Ok(Response::new(CancelResponse { cancelled }))
    }
}

impl ClientApi {
    /// Opens the job that the stream's next message starts: its events, and
    /// where its reader hands the stream back for the next job (see
    /// `end_of_input`).
    async fn open(
        &self,
        mut incoming: Streaming<SubmitRequest>,
        client: Option<std::net::SocketAddr>,
    ) -> Result<(ResultStream, NextJobRx), CoordinatorError> {
        // The first message carries the job's options (and maybe tasks).
        let first = incoming.message().await.map_err(|s| stream_error(s, self.max_message_bytes))?;
        let Some(mut first) = first else { return Err(CoordinatorError::EmptySubmission) };
        let (next_tx, next_rx) = oneshot::channel();
        let job = match first.resume.take() {
            Some(resume) => self.resume(JobId(resume.job_id), first, incoming, next_tx).await?,
            None => self.open_job(first, incoming, client, next_tx).await?,
        };
        Ok((job, next_rx))
    }

    /// The events of the stream's jobs, one job after another: when a job's
    /// events end and its reader handed the stream back, the next message
    /// opens the next job. A client that half-closes between jobs ends the
    /// stream (OK); a job that fails ends it with its status.
    fn jobs_on_stream(
        &self,
        first: (ResultStream, NextJobRx),
        client: Option<std::net::SocketAddr>,
    ) -> ResultStream {
        let state = (self.clone(), Some(first));
        Box::pin(futures::stream::unfold(state, move |(api, current)| async move {
            let (mut job, mut next) = current?;
            loop {
                if let Some(event) = job.next().await {
                    return Some((event, (api, Some((job, next)))));
                }
                let incoming = next.await.ok()?;
                let mut stopping = api.stopping.clone();
                let opened = tokio::select! {
                    opened = api.open(incoming, client) => opened,
                    // Idle between jobs: a stopping coordinator ends the
                    // stream (UNAVAILABLE) rather than hold its shutdown.
                    _ = stopping.wait_for(|stopping| *stopping) => {
                        return Some((Err(CoordinatorError::ShuttingDown.into()), (api, None)));
                    }
                };
                match opened {
                    Ok((stream, rx)) => (job, next) = (stream, rx),
                    Err(CoordinatorError::EmptySubmission) => return None,
                    Err(error) => return Some((Err(error.into()), (api, None))),
                }
            }
        }))
    }

    async fn open_job(
        &self,
        mut first: SubmitRequest,
        incoming: Streaming<SubmitRequest>,
        client: Option<std::net::SocketAddr>,
        next: NextJob,
    ) -> Result<ResultStream, CoordinatorError> {
        let (tx, rx) = job_channel();
        let spec = wire::job_spec(first.options.take().unwrap_or_default());
        let opened = self.actor.open_job(tx.clone(), spec, client).await?;
        let (job, durable) = (opened.job, opened.durable.is_some());
        let reader = self.reader(job, durable, tx.clone());
        cluster_node::spawn(async move {
            // With durable state, no task is taken before the job is written.
            if let Some(written) = opened.durable {
                if written.await.is_err() {
                    return;
                }
            }
            reader.run(first, incoming, next).await
        });
        self.watch_client(job, tx);
        Ok(Box::pin(job_stream(rx, job, self.actor.clone(), durable, self.max_message_bytes)))
    }

    /// Reattaches a client to a job: it is sent what the state directory
    /// holds of the job, then the job goes on as if it had never left.
    async fn resume(
        &self,
        job: JobId,
        first: SubmitRequest,
        incoming: Streaming<SubmitRequest>,
        next: NextJob,
    ) -> Result<ResultStream, CoordinatorError> {
        let (tx, rx) = job_channel();
        let resumed = self.actor.resume_job(job, tx.clone()).await?;
        let Ok(Some(snapshot)) = resumed.snapshot.await else { return Err(CoordinatorError::LostJob(job)) };
        let tasks_received = if resumed.running { resumed.tasks_received } else { snapshot.submitted };
        // A finished job's stream ends after its summary: not reusable.
        let stream_reusable = resumed.running;
        let accepted = JobAccepted { job_id: job.0, durable: true, tasks_received, stream_reusable };
        let mut prefix = vec![wire::response(submit_response::Event::Accepted(accepted))];
        prefix.extend(wire::stored_result_messages(snapshot.results, self.max_message_bytes));
        tracing::info!(job = job.0, tasks_received, running = resumed.running, "a client resumed the job");
        if !resumed.running {
            if !snapshot.finished {
                return Err(CoordinatorError::LostJob(job)); // cancelled meanwhile
            }
            prefix.push(wire::response(submit_response::Event::Summary(wire::summary(snapshot.summary))));
            return Ok(Box::pin(futures::stream::iter(prefix.into_iter().map(Ok))));
        }
        self.actor.release(job);
        let reader = self.reader(job, true, tx.clone());
        cluster_node::spawn(reader.run(first, incoming, next));
        self.watch_client(job, tx);
        let live = job_stream(rx, job, self.actor.clone(), true, self.max_message_bytes);
        Ok(Box::pin(futures::stream::iter(prefix.into_iter().map(Ok)).chain(live)))
    }

    fn reader(&self, job: JobId, durable: bool, tx: JobTx) -> TaskReader {
        TaskReader { job, durable, tx, actor: self.actor.clone(), max_message_bytes: self.max_message_bytes }
    }

    /// When the client goes away its response stream is dropped: the job
    /// is cancelled (a no-op once it finished), or, with durable state,
    /// detached for a client to resume.
    fn watch_client(&self, job: JobId, tx: JobTx) {
        let actor = self.actor.clone();
        cluster_node::spawn(async move {
            tx.closed().await;
            actor.client_gone(job, tx);
        });
    }
}

/// A broken submission stream in the client's terms: tonic reports an
/// oversized message as OUT_OF_RANGE with its own wording.
pub(super) fn stream_error(status: Status, limit: usize) -> CoordinatorError {
    if status.code() == tonic::Code::OutOfRange {
        CoordinatorError::SubmissionTooLarge { limit, detail: status.message().into() }
    } else {
        CoordinatorError::SubmissionFailed(status.message().into())
    }
}

/// The job's events as response messages, each under the size limit; the
/// stream ends right after the summary or the error, so the client sees
/// the call end. HTTP/2 polls it only as the client reads; when that brings
/// the job's unread results back under the bound, the actor resumes the
/// job's dispatch.
fn job_stream(
    rx: JobRx,
    job: JobId,
    actor: ActorHandle,
    durable: bool,
    max_message_bytes: usize,
) -> impl Stream<Item = Result<SubmitResponse, Status>> + Send + 'static {
    futures::stream::unfold(Some(rx), move |rx| {
        let actor = actor.clone();
        async move {
            let mut rx = rx?;
            let (event, below_bound) = rx.recv(MAX_UNREAD_BYTES).await?;
            if below_bound {
                actor.client_read(job);
            }
            let (messages, last): (Vec<Result<SubmitResponse, Status>>, bool) = match event {
                JobEvent::Accepted(job) => {
                    let accepted =
                        JobAccepted { job_id: job.0, durable, tasks_received: 0, stream_reusable: true };
                    let accepted = submit_response::Event::Accepted(accepted);
                    (vec![Ok(wire::response(accepted))], false)
                }
                JobEvent::Results(reports, _) => {
                    (wire::result_messages(reports, max_message_bytes).into_iter().map(Ok).collect(), false)
                }
                JobEvent::Notice(message) => {
                    let notice = submit_response::Event::Notice(Notice { message });
                    (vec![Ok(wire::response(notice))], false)
                }
                JobEvent::Finished(summary) => {
                    let summary = submit_response::Event::Summary(wire::summary(summary));
                    (vec![Ok(wire::response(summary))], true)
                }
                JobEvent::Failed(error) => (vec![Err(error.into())], true),
            };
            Some((futures::stream::iter(messages), (!last).then_some(rx)))
        }
    })
    .flatten()
}
