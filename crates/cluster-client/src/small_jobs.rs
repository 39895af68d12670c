//! Small jobs on one kept stream (`SubmitRequest.end_of_input`): a job
//! whose tasks fit in one message runs on a submission stream this client
//! keeps open between jobs, which saves a stream's set-up per job.

use cluster_proto::{JobSummary, SubmitRequest, SubmitResponse};
use futures::FutureExt;
use tokio::sync::mpsc;
use tonic::Streaming;

use crate::{read_job, Client, ClientError, JobEvent};

/// A submission stream kept open between jobs (`SubmitRequest.end_of_input`):
/// a job small enough for one message then costs no stream set-up.
pub(crate) struct SharedStream {
    /// `None` once half-closed (a coordinator that cannot reuse streams).
    requests: Option<mpsc::UnboundedSender<SubmitRequest>>,
    responses: Streaming<SubmitResponse>,
}

/// The client's idle shared stream; a clone of the client opens its own.
#[derive(Default)]
pub(crate) struct SmallJobs {
    pub(crate) idle: Option<SharedStream>,
    /// The coordinator does not honour `end_of_input`.
    pub(crate) unsupported: bool,
}

impl Clone for SmallJobs {
    fn clone(&self) -> Self {
        SmallJobs { idle: None, unsupported: self.unsupported }
    }
}

impl Client {
    /// Runs a job of one message on the shared stream (opened if there is
    /// none, or if the one kept has ended).
    pub(crate) async fn run_small(
        &mut self,
        mut request: SubmitRequest,
        on_event: &mut impl FnMut(JobEvent),
    ) -> Result<JobSummary, ClientError> {
        request.end_of_input = true;
        let kept = self.small_jobs.idle.take().and_then(SharedStream::if_open);
        if let Some(stream) = kept.and_then(|stream| stream.send(request.clone())) {
            // The kept stream may have ended under the request (the
            // coordinator stopped or restarted): the job was then never
            // accepted, and goes again on a new stream.
            match self.finish_small(stream, on_event).await {
                (Err(_), false) => {}
                (outcome, _) => return outcome,
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(request);
        let requests = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let stream = match self.inner.submit(requests).await {
            Ok(response) => SharedStream { requests: Some(tx), responses: response.into_inner() },
            Err(status) => return Err(self.explain(status).await),
        };
        self.finish_small(stream, on_event).await.0
    }

    /// Reads a small job's events from the shared stream, and keeps the
    /// stream for the next one if the job succeeded; also says whether the
    /// coordinator accepted the job.
    async fn finish_small(
        &mut self,
        mut stream: SharedStream,
        on_event: &mut impl FnMut(JobEvent),
    ) -> (Result<JobSummary, ClientError>, bool) {
        let (mut accepted, mut reusable) = (false, true);
        let outcome = read_job(&mut stream.responses, on_event, |answer| {
            accepted = true;
            if !answer.stream_reusable {
                // An older coordinator: the job's input ends with the stream's.
                reusable = false;
                stream.requests = None;
            }
        })
        .await;
        if !reusable {
            self.small_jobs.unsupported = true;
            if outcome.is_ok() {
                let _ = stream.responses.trailers().await;
            }
        } else if outcome.is_ok() {
            self.small_jobs.idle = Some(stream);
        }
        (outcome, accepted)
    }
}

impl SharedStream {
    /// Nothing has ended the stream since its last job: the coordinator
    /// sends nothing between jobs, so anything ready now is its end.
    fn if_open(mut self) -> Option<Self> {
        let open = self.requests.is_some() && self.responses.message().now_or_never().is_none();
        open.then_some(self)
    }

    /// Sends the next job's message; `None` if the stream is gone.
    fn send(self, request: SubmitRequest) -> Option<Self> {
        self.requests.as_ref()?.send(request).ok()?;
        Some(self)
    }
}
