//! `ClientService`: submit jobs, stream results back, report status.

use std::pin::Pin;

use cluster_proto::client_service_server::ClientService;
use cluster_proto::{submit_response, StatusRequest, StatusResponse, SubmitRequest, SubmitResponse};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::actor::{ActorHandle, Command};
use crate::core::JobId;

pub(crate) struct ClientApi {
    pub(crate) actor: ActorHandle,
}

type ResultStream = Pin<Box<dyn Stream<Item = Result<SubmitResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ClientService for ClientApi {
    type SubmitStream = ResultStream;

    async fn submit(
        &self,
        request: Request<Streaming<SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStream>, Status> {
        let incoming = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let job = self.actor.open_job(tx.clone()).await?;
        tokio::spawn(read_tasks(incoming, job, self.actor.clone()));
        // When the client goes away its response stream is dropped; cancel
        // whatever of the job is left (a no-op once the job has finished).
        let actor = self.actor.clone();
        tokio::spawn(async move {
            tx.closed().await;
            actor.send(Command::CancelJob { job });
        });
        Ok(Response::new(Box::pin(end_after_summary(UnboundedReceiverStream::new(rx)))))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(self.actor.status().await?))
    }
}

/// Feeds the client's task batches to the actor until the client half-closes
/// (the job's input is complete) or the stream fails (the job is cancelled).
async fn read_tasks(mut incoming: Streaming<SubmitRequest>, job: JobId, actor: ActorHandle) {
    loop {
        match incoming.message().await {
            Ok(Some(request)) => {
                if !request.tasks.is_empty() {
                    actor.send(Command::Submit { job, tasks: request.tasks });
                }
            }
            Ok(None) => {
                actor.send(Command::CloseInput { job });
                return;
            }
            Err(status) => {
                tracing::info!(job = job.0, "submission stream failed: {}", status.message());
                actor.send(Command::CancelJob { job });
                return;
            }
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
