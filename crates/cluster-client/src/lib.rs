//! Client library for the cluster task mesh: submit tasks to a coordinator
//! and receive their results ([`Client`]), with builders for the built-in
//! task kinds ([`tasks`]).
//!
//! With the `embedded` feature, [`embedded`] runs a coordinator with local
//! and remote workers in this process (Parallel Python's
//! `pp.Server(ppservers=...)`); it pulls in the coordinator and worker
//! libraries, so it is off by default. The `cluster-submit` command lives
//! in `cluster-cli`.
#![warn(missing_docs)]

#[cfg(feature = "embedded")]
pub mod embedded;
mod resume;
mod small_jobs;
pub mod tasks;

use std::time::Duration;

use small_jobs::SmallJobs;

pub use cluster_node::Security;
use cluster_proto::batch::Batcher;
use cluster_proto::client_service_client::ClientServiceClient;
use cluster_proto::{
    submit_response, CancelRequest, JobAccepted, JobOptions, JobSummary, StatusRequest, StatusResponse,
    SubmitRequest, SubmitResponse, Task, TaskResult,
};
use prost::Message;
use tonic::Streaming;

/// Tasks per submission message.
const BATCH: usize = 1024;

/// What can go wrong talking to a coordinator. Each variant's text is
/// whole (no error source repeats it), and says what to do where it can.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The coordinator could not be reached.
    #[error("cannot reach the coordinator: {0}")]
    Connect(cluster_node::DialError),
    /// The coordinator answered with an error.
    #[error("{}", describe(*code, message))]
    Status {
        /// gRPC status code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// The job is gone: the coordinator was lost and kept no durable
    /// state, or it does not know the job.
    #[error("{0}")]
    JobLost(String),
    /// The result stream ended before the job did.
    #[error("the coordinator closed the result stream before the job finished")]
    Incomplete,
    /// The address answers, but as a worker: the user gave a worker's
    /// address where a coordinator's was needed.
    #[error("this address serves a worker, not a coordinator: give the coordinator's address")]
    NotACoordinator,
    /// A plaintext call failed at the protocol level: the server likely
    /// serves TLS.
    #[error("the server did not answer plaintext HTTP/2 ({0}): if it serves TLS, use an https:// address and --tls-ca")]
    NotPlaintext(String),
    /// The connection broke while the job ran (the coordinator died, froze
    /// past the keep-alive, or the network failed).
    #[error("lost the connection to the coordinator while the job ran: {0}")]
    ConnectionLost(String),
}

impl From<cluster_node::DialError> for ClientError {
    fn from(error: cluster_node::DialError) -> Self {
        ClientError::Connect(error)
    }
}

impl ClientError {
    /// True when the fault is the cluster's or the network's (unreachable,
    /// unavailable, connection lost), not the request's.
    pub fn is_cluster_failure(&self) -> bool {
        use tonic::Code;
        match self {
            ClientError::Connect(e) => {
                matches!(
                    e,
                    cluster_node::DialError::Connect { .. } | cluster_node::DialError::NoInProcessServer(_)
                )
            }
            ClientError::Incomplete | ClientError::ConnectionLost(_) | ClientError::JobLost(_) => true,
            ClientError::NotACoordinator | ClientError::NotPlaintext(_) => false,
            ClientError::Status { code, .. } => {
                !matches!(code, Code::InvalidArgument | Code::NotFound | Code::OutOfRange | Code::Cancelled)
            }
        }
    }
}

/// A status the coordinator (or whatever answered) sent, as a person should
/// read it: "refused" only for refusals, and a hint for the usual mistakes.
fn describe(code: tonic::Code, message: &str) -> String {
    use tonic::Code;
    let detail = if message.is_empty() { String::new() } else { format!(": {message}") };
    match code {
        Code::Unimplemented => "this address does not serve the coordinator's client API (it may serve a \
                                worker, not a coordinator): give the coordinator's address"
            .to_owned(),
        Code::Unauthenticated | Code::PermissionDenied => {
            format!("the coordinator refused the call{detail} (check CLUSTER_SECRET or --secret-file)")
        }
        Code::Unavailable => format!("the coordinator is unavailable{detail}"),
        Code::ResourceExhausted => format!("the coordinator is out of room{detail}"),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange | Code::AlreadyExists => {
            format!("the coordinator rejected the request{detail}")
        }
        Code::NotFound => format!("not found{detail}"),
        Code::Cancelled => format!("cancelled{detail}"),
        Code::DeadlineExceeded => format!("no answer in time{detail}"),
        code => format!("the coordinator answered {code:?}{detail}"),
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Status { code: status.code(), message: status.message().to_string() }
    }
}

/// What a job's result stream brings, in the order it comes.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// The coordinator accepted the job, with this id.
    Accepted(u64),
    /// Something to tell the person waiting (no worker can run some of the
    /// job's tasks yet, say); the job goes on.
    Notice(String),
    /// A task's result.
    Result(TaskResult),
    /// The connection to the coordinator broke; the client is reconnecting
    /// to resume the job (it keeps durable state). Says why.
    Reconnecting(String),
    /// The job was resumed after a reconnection.
    Resumed {
        /// The job.
        job: u64,
        /// Results this client already had.
        results_before: u64,
        /// Tasks the coordinator held; the rest were sent again.
        tasks_received: u64,
    },
}

/// A connection to a coordinator's `ClientService`.
#[derive(Clone)]
pub struct Client {
    inner: ClientServiceClient<cluster_node::Channel>,
    channel: cluster_node::Channel,
    /// Dialed without TLS.
    plaintext: bool,
    /// Where it connected, to connect again.
    url: String,
    security: Security,
    /// The stream small jobs run on, one after another.
    small_jobs: SmallJobs,
}

impl Client {
    /// Connects to a coordinator, e.g. `http://127.0.0.1:7700`, with no
    /// secret and no TLS.
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        Self::connect_with(url, &Security::default()).await
    }

    /// Connects with a shared secret and/or TLS (`https://` URLs).
    pub async fn connect_with(url: &str, security: &Security) -> Result<Self, ClientError> {
        let channel = cluster_node::connect(security, url, Duration::from_secs(5)).await?;
        let inner = ClientServiceClient::new(channel.clone()).max_decoding_message_size(usize::MAX);
        let plaintext = url.starts_with("http://")
            || cluster_node::unix_path(url).is_some()
            || (!url.contains("://") && security.client_tls.is_none());
        let small_jobs = SmallJobs::default();
        Ok(Self { inner, channel, plaintext, url: url.to_string(), security: security.clone(), small_jobs })
    }

    /// `status` as a [`ClientError`]; an UNIMPLEMENTED answer from a worker
    /// becomes [`ClientError::NotACoordinator`].
    async fn explain(&self, status: tonic::Status) -> ClientError {
        if status.code() == tonic::Code::Unimplemented
            && cluster_node::serves(self.channel.clone(), "cluster.v1.WorkerService").await
        {
            return ClientError::NotACoordinator;
        }
        // A TLS server answers a plaintext HTTP/2 preface with a TLS alert:
        // an h2 protocol error, or the connection closes under the call.
        let code = status.code();
        if self.plaintext
            && matches!(code, tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::Cancelled)
        {
            return ClientError::NotPlaintext(status.message().to_owned());
        }
        status.into()
    }

    /// The cluster as the coordinator sees it.
    pub async fn status(&mut self) -> Result<StatusResponse, ClientError> {
        match self.inner.status(StatusRequest {}).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.explain(status).await),
        }
    }

    /// Runs one job: streams `tasks` to the coordinator in batches and calls
    /// `on_result` for each result as it arrives (completion order). Returns
    /// the job summary once every task has its result.
    pub async fn run(
        &mut self,
        name: &str,
        tasks: impl IntoIterator<Item = Task, IntoIter: Send + 'static>,
        on_result: impl FnMut(TaskResult),
    ) -> Result<JobSummary, ClientError> {
        let options = JobOptions { name: name.to_string(), ..JobOptions::default() };
        self.run_with(options, tasks, |_| {}, on_result).await
    }

    /// Cancels a job by id (from any client); returns how many of its tasks
    /// had no result yet.
    pub async fn cancel(&mut self, job_id: u64) -> Result<u64, ClientError> {
        match self.inner.cancel(CancelRequest { job_id }).await {
            Ok(response) => Ok(response.into_inner().cancelled),
            Err(status) => Err(self.explain(status).await),
        }
    }

    /// As [`Client::run`], with job options (a timeout, say), and
    /// `on_accepted` called with the job's id as soon as the coordinator
    /// accepts it; notices are logged (`tracing`, at WARN). Dropping the
    /// returned future cancels the job.
    pub async fn run_with(
        &mut self,
        options: JobOptions,
        tasks: impl IntoIterator<Item = Task, IntoIter: Send + 'static>,
        on_accepted: impl FnOnce(u64),
        mut on_result: impl FnMut(TaskResult),
    ) -> Result<JobSummary, ClientError> {
        let mut on_accepted = Some(on_accepted);
        self.run_events(options, tasks, |event| match event {
            JobEvent::Accepted(id) => {
                if let Some(f) = on_accepted.take() {
                    f(id);
                }
            }
            JobEvent::Notice(message) => tracing::warn!("{message}"),
            JobEvent::Result(result) => on_result(result),
            // Not sent by `run_events`, which does not resume.
            JobEvent::Reconnecting(_) | JobEvent::Resumed { .. } => {}
        })
        .await
    }

    /// Runs one job, calling `on_event` for everything its result stream
    /// brings (see [`JobEvent`]); returns the job summary once every task
    /// has its result. Dropping the returned future cancels the job.
    ///
    /// A job whose tasks fit in one message runs on a stream this client
    /// keeps open for such jobs (one after another), which saves a stream's
    /// set-up; larger jobs get a stream of their own.
    pub async fn run_events(
        &mut self,
        options: JobOptions,
        tasks: impl IntoIterator<Item = Task, IntoIter: Send + 'static>,
        mut on_event: impl FnMut(JobEvent),
    ) -> Result<JobSummary, ClientError> {
        let mut requests = submission(options, tasks.into_iter());
        let first = requests.next().unwrap_or_default();
        let second = requests.next();
        if second.is_none() && !self.small_jobs.unsupported {
            return self.run_small(first, &mut on_event).await;
        }
        let requests = futures::stream::iter(std::iter::once(first).chain(second).chain(requests));
        let mut responses = match self.inner.submit(requests).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Err(self.explain(status).await),
        };
        let outcome = read_job(&mut responses, &mut on_event, |_| {}).await;
        if outcome.is_ok() {
            // The summary is the last message: read the call's end too, so
            // the stream closes cleanly rather than by a reset (HTTP/2 ends
            // a connection after 1,024 streams reset by its own side).
            let _ = responses.trailers().await;
        }
        outcome
    }
}

/// Reads one job's events from its result stream until its summary,
/// calling `on_accepted` with the coordinator's acceptance.
async fn read_job(
    responses: &mut Streaming<SubmitResponse>,
    on_event: &mut impl FnMut(JobEvent),
    mut on_accepted: impl FnMut(&JobAccepted),
) -> Result<JobSummary, ClientError> {
    loop {
        match responses.message().await {
            Ok(Some(response)) => match response.event {
                Some(submit_response::Event::Results(batch)) => {
                    batch.results.into_iter().for_each(|result| on_event(JobEvent::Result(result)))
                }
                Some(submit_response::Event::Summary(summary)) => return Ok(summary),
                Some(submit_response::Event::Accepted(accepted)) => {
                    on_accepted(&accepted);
                    on_event(JobEvent::Accepted(accepted.job_id))
                }
                Some(submit_response::Event::Notice(notice)) => on_event(JobEvent::Notice(notice.message)),
                None => {}
            },
            Ok(None) => return Err(ClientError::Incomplete),
            // A transport failure surfaces as UNKNOWN; statuses the
            // coordinator sends itself keep their code and message.
            Err(status) if status.code() == tonic::Code::Unknown => {
                return Err(ClientError::ConnectionLost(status.message().to_string()))
            }
            Err(status) => return Err(status.into()),
        }
    }
}

/// The submission stream: the options, then the tasks in batches of
/// `BATCH`, drawn from the iterator only as HTTP/2 flow control lets the
/// stream go on, so a million lazily made tasks never sit in memory at once
/// and no extra task or channel stands between the iterator and the socket.
fn submission(
    options: JobOptions,
    tasks: impl Iterator<Item = Task> + Send + 'static,
) -> impl Iterator<Item = SubmitRequest> + Send + 'static {
    let mut options = Some(options);
    let mut tasks = tasks;
    // At most BATCH tasks, and never over a coordinator's default message
    // limit (a task larger than that travels alone, and the coordinator
    // says it is too large).
    let mut batcher = Batcher::new(cluster_node::DEFAULT_MAX_MESSAGE_BYTES).with_max_items(BATCH);
    std::iter::from_fn(move || {
        let batch = loop {
            let Some(task) = tasks.next() else {
                if options.is_none() && batcher.is_empty() {
                    return None; // the end of the stream half-closes it
                }
                break batcher.take();
            };
            let len = task.encoded_len();
            if let Some(full) = batcher.push(task, len) {
                break full;
            }
        };
        Some(SubmitRequest { options: options.take(), tasks: batch, ..SubmitRequest::default() })
    })
}
