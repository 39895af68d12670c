//! The coordinator's errors. Each knows its gRPC code; the services turn
//! them into a `tonic::Status` in one place (`From<CoordinatorError>`).

use std::time::Duration;

use crate::sched::JobId;

/// What a client or worker call to the coordinator can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The coordinator is stopping and takes nothing new.
    #[error("the coordinator is shutting down")]
    ShuttingDown,
    /// A job was open when the coordinator stopped.
    #[error("the coordinator is shutting down; {left} tasks of job {job} had no result")]
    ShutDownWithTasksLeft {
        /// The job.
        job: JobId,
        /// Its tasks without a result.
        left: u64,
    },
    /// Someone cancelled the job with a `Cancel` call.
    #[error("job {0} was cancelled by a Cancel call")]
    CancelledByRequest(JobId),
    /// The client closed its submission before sending anything.
    #[error("the submission stream ended before its first message")]
    EmptySubmission,
    /// A submission message was over `--max-message-bytes`.
    #[error(
        "a submission message is over the coordinator's limit of {limit} bytes \
         (--max-message-bytes); send fewer tasks per message ({detail})"
    )]
    SubmissionTooLarge {
        /// The limit.
        limit: usize,
        /// What the transport said.
        detail: String,
    },
    /// The submission stream broke.
    #[error("the submission stream failed: {0}")]
    SubmissionFailed(String),
    /// Two tasks of one job had the same id; the job is refused.
    #[error("task id {id} appears twice in job {job}: task ids must be unique within a job")]
    DuplicateTaskId {
        /// The job.
        job: JobId,
        /// The repeated id.
        id: u64,
    },
    /// `Cancel` named a job the coordinator does not run.
    #[error("no job {0}: it never existed or has already finished")]
    UnknownJob(JobId),
    /// A resume named a job the coordinator does not know.
    #[error(
        "job {0} is not known here: the coordinator keeps no state directory (--state-dir), or the job \
         finished longer ago than its retention; it was lost and must be submitted again"
    )]
    LostJob(JobId),
    /// Another client resumed this job.
    #[error("another client resumed job {0}")]
    Resumed(JobId),
    /// A registration named something that is not an address.
    #[error("`{0}` is not a host:port address")]
    BadAddress(String),
    /// A Unix socket advertised by a registration that did not come over
    /// the coordinator's own Unix socket.
    #[error(
        "`{0}` is a Unix socket of the coordinator's machine: a worker may advertise one only when it \
         registers over the coordinator's --listen-unix socket"
    )]
    UnixFromAfar(String),
    /// A registering worker could not be dialled back, or another worker
    /// answered there.
    #[error("the coordinator could not open a session to {address}: {source}")]
    Unreachable {
        /// The address it registered.
        address: String,
        /// Why the session did not open.
        source: LinkError,
    },
}

/// The gRPC codes a coordinator error maps to, without depending on tonic
/// below the service layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// `UNAVAILABLE`: try again later or elsewhere.
    Unavailable,
    /// `CANCELLED`.
    Cancelled,
    /// `INVALID_ARGUMENT`: the request itself is wrong.
    InvalidArgument,
    /// `RESOURCE_EXHAUSTED`: a limit was hit.
    ResourceExhausted,
    /// `FAILED_PRECONDITION`: the system is not in a state to do it.
    FailedPrecondition,
    /// `NOT_FOUND`: the thing named does not exist.
    NotFound,
}

impl CoordinatorError {
    /// Which kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        use CoordinatorError::*;
        match self {
            Unreachable { source: LinkError::WrongWorker { .. }, .. } => ErrorClass::FailedPrecondition,
            ShuttingDown | ShutDownWithTasksLeft { .. } | Unreachable { .. } => ErrorClass::Unavailable,
            CancelledByRequest(_) | SubmissionFailed(_) | Resumed(_) => ErrorClass::Cancelled,
            EmptySubmission | BadAddress(_) | UnixFromAfar(_) | DuplicateTaskId { .. } => {
                ErrorClass::InvalidArgument
            }
            UnknownJob(_) | LostJob(_) => ErrorClass::NotFound,
            SubmissionTooLarge { .. } => ErrorClass::ResourceExhausted,
        }
    }

    /// The gRPC status code a client sees.
    pub fn code(&self) -> tonic::Code {
        match self.class() {
            ErrorClass::Unavailable => tonic::Code::Unavailable,
            ErrorClass::Cancelled => tonic::Code::Cancelled,
            ErrorClass::InvalidArgument => tonic::Code::InvalidArgument,
            ErrorClass::ResourceExhausted => tonic::Code::ResourceExhausted,
            ErrorClass::FailedPrecondition => tonic::Code::FailedPrecondition,
            ErrorClass::NotFound => tonic::Code::NotFound,
        }
    }
}

impl From<CoordinatorError> for tonic::Status {
    fn from(error: CoordinatorError) -> Self {
        tonic::Status::new(error.code(), error.to_string())
    }
}

/// Why a session with a worker could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The worker could not be dialled.
    #[error(transparent)]
    Dial(#[from] cluster_node::DialError),
    /// The worker turned the session down.
    #[error("session refused: {code}: {message}")]
    Refused {
        /// The gRPC code's name.
        code: String,
        /// Its message.
        message: String,
    },
    /// The session opened, then failed before the worker's hello.
    #[error("session failed: {0}")]
    Failed(String),
    /// The worker's first message was not its hello.
    #[error("the worker did not introduce itself")]
    NoHello,
    /// The worker at the address is not the one that registered it.
    #[error(
        "the worker at {address} is {found}, not {expected}: another worker advertises this address, \
         so the registration is refused"
    )]
    WrongWorker {
        /// The address dialled.
        address: String,
        /// The id the registration named.
        expected: String,
        /// The id the worker there gave.
        found: String,
    },
    /// Dialling and opening took too long.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The coordinator is stopping.
    #[error("the coordinator is shutting down")]
    ShuttingDown,
}

/// Why a worker's session ended.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum SessionEnd {
    /// Nothing came from the worker for the heartbeat timeout.
    #[error("no message or heartbeat for {0:?}")]
    Silent(Duration),
    /// The stream broke.
    #[error("stream error: {0}")]
    Broken(String),
    /// The worker ended the session.
    #[error("the worker closed the session")]
    Closed,
}
