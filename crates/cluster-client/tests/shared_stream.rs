//! The stream small jobs share (`SubmitRequest.end_of_input`), against a
//! scripted coordinator that ends it at the worst moments: a job is sent
//! again only if the coordinator never accepted it, never twice once it
//! may have run.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use cluster_client::tasks::noop;
use cluster_client::{Client, ClientError};
use cluster_proto::client_service_server::{ClientService, ClientServiceServer};
use cluster_proto::{
    submit_response, task_output, task_result, CancelRequest, CancelResponse, JobAccepted, JobSummary,
    NoopOutput, ResultBatch, StatusRequest, StatusResponse, SubmitRequest, SubmitResponse, TaskOutput,
    TaskResult,
};
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

/// What the scripted coordinator does with the second job on the first
/// stream.
#[derive(Clone, Copy, PartialEq)]
enum Second {
    /// Ends the stream without accepting it (as a stopping coordinator).
    EndBeforeAccepting,
    /// Accepts it, then ends the stream (the job may have run).
    EndAfterAccepting,
    /// Runs it; and says no stream is reusable (an older coordinator).
    NotReusable,
}

/// A coordinator that answers every job's noop tasks itself and logs each
/// job it receives as `stream:name` (streams numbered from 0), and
/// `stream:<half-closed>` when a client ends a stream's input.
#[derive(Clone)]
struct Scripted {
    second: Second,
    log: Arc<Mutex<Vec<String>>>,
    streams: Arc<Mutex<usize>>,
}

type Events = mpsc::UnboundedSender<Result<SubmitResponse, Status>>;

#[tonic::async_trait]
impl ClientService for Scripted {
    type SubmitStream = Pin<Box<dyn Stream<Item = Result<SubmitResponse, Status>> + Send>>;

    async fn submit(
        &self,
        request: Request<Streaming<SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStream>, Status> {
        let stream = {
            let mut streams = self.streams.lock().unwrap();
            *streams += 1;
            *streams - 1
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let this = self.clone();
        cluster_node::spawn(this.serve(stream, request.into_inner(), tx));
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(StatusResponse::default()))
    }

    async fn cancel(&self, _: Request<CancelRequest>) -> Result<Response<CancelResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
}

impl Scripted {
    async fn serve(self, stream: usize, mut incoming: Streaming<SubmitRequest>, tx: Events) {
        let mut on_stream = 0;
        loop {
            let request = match incoming.message().await {
                Ok(Some(request)) => request,
                // Only a clean end of input is logged, not a reset.
                Ok(None) => {
                    self.log(stream, "<half-closed>");
                    return;
                }
                Err(_) => return,
            };
            let name = request.options.map(|options| options.name).unwrap_or_default();
            let job_id = self.log(stream, &name);
            on_stream += 1;
            let reusable = self.second != Second::NotReusable;
            if stream == 0 && on_stream == 2 {
                match self.second {
                    Second::EndBeforeAccepting => return,
                    Second::EndAfterAccepting => {
                        let _ = tx.send(Ok(accepted(job_id, reusable)));
                        return;
                    }
                    Second::NotReusable => {}
                }
            }
            let _ = tx.send(Ok(accepted(job_id, reusable)));
            let results = request.tasks.iter().map(|task| noop_result(task.id)).collect();
            let _ = tx.send(Ok(event(submit_response::Event::Results(ResultBatch { results }))));
            let summary = JobSummary { succeeded: request.tasks.len() as u64, ..JobSummary::default() };
            let _ = tx.send(Ok(event(submit_response::Event::Summary(summary))));
        }
    }

    /// Logs `what` on `stream`; returns the log's length, a job id.
    fn log(&self, stream: usize, what: &str) -> u64 {
        let mut log = self.log.lock().unwrap();
        log.push(format!("{stream}:{what}"));
        log.len() as u64
    }

    fn logged(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn event(event: submit_response::Event) -> SubmitResponse {
    SubmitResponse { event: Some(event) }
}

fn accepted(job_id: u64, stream_reusable: bool) -> SubmitResponse {
    event(submit_response::Event::Accepted(JobAccepted { job_id, stream_reusable, ..JobAccepted::default() }))
}

fn noop_result(id: u64) -> TaskResult {
    let output = TaskOutput { value: Some(task_output::Value::Noop(NoopOutput {})) };
    TaskResult { id, outcome: Some(task_result::Outcome::Output(output)), ..TaskResult::default() }
}

/// Starts the scripted coordinator on 127.0.0.1, port 0; returns it (for
/// its log) and a client connected to it.
async fn scripted(second: Second) -> (Scripted, Client) {
    let service = Scripted { second, log: Arc::default(), streams: Arc::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = tonic::transport::Server::builder().add_service(ClientServiceServer::new(service.clone()));
    cluster_node::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    (service, Client::connect(&url).await.unwrap())
}

/// Runs a one-noop job; returns the ids of its results.
async fn one_noop(client: &mut Client, name: &str, id: u64) -> Result<Vec<u64>, ClientError> {
    let mut ids = Vec::new();
    let summary = client.run(name, [noop(id)], |result| ids.push(result.id)).await?;
    assert_eq!(summary.succeeded, 1);
    Ok(ids)
}

#[tokio::test]
async fn a_job_the_ended_stream_never_accepted_goes_again_on_a_new_stream() {
    let (service, mut client) = scripted(Second::EndBeforeAccepting).await;
    assert_eq!(one_noop(&mut client, "one", 1).await.unwrap(), [1]);
    assert_eq!(one_noop(&mut client, "two", 2).await.unwrap(), [2]);
    assert_eq!(one_noop(&mut client, "three", 3).await.unwrap(), [3]);
    assert_eq!(service.logged(), ["0:one", "0:two", "1:two", "1:three"]);
}

#[tokio::test]
async fn a_job_accepted_before_its_stream_ended_is_not_run_twice() {
    let (service, mut client) = scripted(Second::EndAfterAccepting).await;
    assert_eq!(one_noop(&mut client, "one", 1).await.unwrap(), [1]);
    let error = one_noop(&mut client, "two", 2).await.unwrap_err();
    assert!(matches!(error, ClientError::Incomplete), "{error}");
    // The client goes on, on a new stream.
    assert_eq!(one_noop(&mut client, "three", 3).await.unwrap(), [3]);
    assert_eq!(service.logged(), ["0:one", "0:two", "1:three"]);
}

#[tokio::test]
async fn a_coordinator_that_cannot_reuse_streams_gets_one_stream_per_job() {
    let (service, mut client) = scripted(Second::NotReusable).await;
    for (id, name) in [(1, "one"), (2, "two"), (3, "three")] {
        assert_eq!(one_noop(&mut client, name, id).await.unwrap(), [id]);
    }
    // Each stream's input ends with its job, as before `end_of_input`.
    let expected = ["0:one", "0:<half-closed>", "1:two", "1:<half-closed>", "2:three", "2:<half-closed>"];
    assert_eq!(service.logged(), expected);
}
