//! `ClientService`: submit jobs, stream results back, report status.

use std::pin::Pin;

use cluster_proto::client_service_server::ClientService;
use cluster_proto::{
    submit_response, CancelRequest, CancelResponse, StatusRequest, StatusResponse, SubmitRequest,
    SubmitResponse,
};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::actor::{ActorHandle, CancelReason, Command};
use crate::core::JobId;

pub(crate) struct ClientApi {
    pub(crate) actor: ActorHandle,
    pub(crate) max_message_bytes: usize,
}

type ResultStream = Pin<Box<dyn Stream<Item = Result<SubmitResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ClientService for ClientApi {
    type SubmitStream = ResultStream;

    async fn submit(
        &self,
        request: Request<Streaming<SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStream>, Status> {
        let mut incoming = request.into_inner();
        // The first message carries the job's options (and maybe tasks).
        let first = incoming.message().await.map_err(|s| too_large(s, self.max_message_bytes))?;
        let Some(first) = first else {
            return Err(Status::invalid_argument("the submission stream ended before its first message"));
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let options = first.options.clone().unwrap_or_default();
        let job = self.actor.open_job(tx.clone(), options).await?;
        cluster_node::spawn(read_tasks(first, incoming, job, self.actor.clone(), self.max_message_bytes));
        // When the client goes away its response stream is dropped; cancel
        // whatever of the job is left (a no-op once the job has finished).
        let actor = self.actor.clone();
        cluster_node::spawn(async move {
            tx.closed().await;
            actor.send(Command::CancelJob { job, reason: CancelReason::Disconnected });
        });
        Ok(Response::new(Box::pin(end_after_summary(UnboundedReceiverStream::new(rx)))))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(self.actor.status().await?))
    }

    async fn cancel(&self, request: Request<CancelRequest>) -> Result<Response<CancelResponse>, Status> {
        let job = JobId(request.into_inner().job_id);
        let cancelled = self.actor.cancel(job).await?;
        Ok(Response::new(CancelResponse { cancelled }))
    }
}

/// tonic reports an oversized message as OUT_OF_RANGE with its own wording;
/// say it in the client's terms.
fn too_large(status: Status, limit: usize) -> Status {
    if status.code() == tonic::Code::OutOfRange {
        Status::resource_exhausted(format!(
            "a submission message is over the coordinator's limit of {limit} bytes \
             (--max-message-bytes); send fewer tasks per message ({})",
            status.message()
        ))
    } else {
        status
    }
}

/// Feeds the client's task batches to the actor until the client half-closes
/// (the job's input is complete) or the stream fails (the job is cancelled).
/// Each task first takes an admission permit, so a client that submits
/// faster than the cluster runs waits here, and HTTP/2 flow control pushes
/// back on it: the coordinator's queue stays within `--max-queued`.
async fn read_tasks(
    first: SubmitRequest,
    mut incoming: Streaming<SubmitRequest>,
    job: JobId,
    actor: ActorHandle,
    max_message_bytes: usize,
) {
    let chunk = (actor.max_queued / 4).max(1);
    let mut next = Some(first);
    loop {
        let request = match next.take() {
            Some(request) => request,
            None => match incoming.message().await {
                Ok(Some(request)) => request,
                Ok(None) => {
                    actor.send(Command::CloseInput { job });
                    return;
                }
                Err(status) => {
                    tracing::info!(job = job.0, "submission stream failed: {}", status.message());
                    let status = too_large(status, max_message_bytes);
                    actor.send(Command::CancelJob { job, reason: CancelReason::Failed(status) });
                    return;
                }
            },
        };
        let mut tasks = request.tasks;
        while !tasks.is_empty() {
            let rest = tasks.split_off(tasks.len().min(chunk));
            match actor.admission.acquire_many(tasks.len() as u32).await {
                Ok(permits) => permits.forget(),
                Err(_) => return, // the coordinator is shutting down
            }
            actor.send(Command::Submit { job, tasks });
            tasks = rest;
        }
    }
}

/// Ends the response stream right after the job summary, so the client sees
/// a clean end of stream.
fn end_after_summary(
    stream: impl Stream<Item = Result<SubmitResponse, Status>> + Send + 'static,
) -> impl Stream<Item = Result<SubmitResponse, Status>> + Send + 'static {
    stream.scan(false, |ended, item| {
        let out = if *ended { None } else { Some(item) };
        if let Some(Ok(SubmitResponse { event: Some(submit_response::Event::Summary(_)) })) = &out {
            *ended = true;
        }
        futures::future::ready(out)
    })
}
