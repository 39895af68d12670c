//! The scheduler's vocabulary: what a worker, a task, an outcome and a
//! job's summary are, as plain Rust types. The wire edge (`crate::wire`)
//! converts to and from the proto; nothing here knows gRPC.

use std::collections::BTreeMap;

use bytes::Bytes;

/// A worker as it described itself when its session opened, validated once.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerDesc {
    /// The worker process's identity: one session per id.
    pub id: String,
    /// Display name: the one it advertised, else the address dialled.
    pub name: String,
    /// The address the coordinator dialled.
    pub address: String,
    /// Cores it runs tasks on, in `1..=MAX_CORES`.
    pub cores: u32,
    /// Relative speed of a core: positive and finite.
    pub weight: f64,
    /// Labels it advertised.
    pub labels: BTreeMap<String, String>,
    /// Task kinds it runs.
    pub kinds: Vec<String>,
    /// Its software version.
    pub version: String,
}

/// Most cores one worker is believed to have: a bogus core count must not
/// make the coordinator think the whole cluster is idle.
pub const MAX_CORES: u32 = 4096;

#[cfg_attr(not(any(test, feature = "bench")), allow(dead_code))]
impl WorkerDesc {
    /// A worker called `name` with `cores` of weight 1 that runs `noop`, for
    /// tests and benches.
    pub fn new(name: &str, cores: u32) -> Self {
        Self {
            id: name.into(),
            name: name.into(),
            address: name.into(),
            cores,
            weight: 1.0,
            labels: BTreeMap::new(),
            kinds: vec!["noop".into()],
            version: String::new(),
        }
    }

    /// The same worker running these kinds instead.
    pub fn with_kinds(self, kinds: &[&str]) -> Self {
        Self { kinds: kinds.iter().map(|&kind| kind.to_owned()).collect(), ..self }
    }

    /// The same worker with another weight.
    pub fn with_weight(self, weight: f64) -> Self {
        Self { weight, ..self }
    }

    /// Capacity `cores x weight`, the dispatch order's denominator.
    pub fn capacity(&self) -> f64 {
        f64::from(self.cores) * self.weight
    }
}

/// A task a worker kept running across the end of its previous session
/// (its coordinator restarted), as its new session reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// The task's job.
    pub job: super::JobId,
    /// The client's id for it.
    pub task_id: u64,
    /// How it ended, if it finished meanwhile.
    pub finished: Option<Finished>,
}

/// A task as a client submitted it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// The client's id for it, echoed in its result.
    pub id: u64,
    /// Its kind: only a worker that runs it gets the task.
    pub kind: String,
    /// What the worker gets: the task's kind and input, encoded once at the
    /// edge and sent as is to every worker it is assigned to.
    pub payload: Bytes,
}

/// Why a task failed, as the scheduler's retry rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// The input was malformed or out of range.
    InvalidInput,
    /// No worker knows the kind.
    UnknownKind,
    /// The task's own code failed.
    TaskFailed,
    /// It ran over its timeout (a worker stopped it): spends an attempt.
    TimedOut,
    /// The workers running it were lost too many times.
    WorkerLost,
    /// It was stopped before finishing (its job was cancelled, or its
    /// worker shut down): spends an attempt if the job still wants it.
    Cancelled,
    /// Its result did not fit in a message.
    ResultTooLarge,
    /// A code this coordinator does not know.
    Unspecified,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It succeeded; the output as the worker encoded it, passed through.
    Output(Bytes),
    /// It failed.
    Failed {
        /// Why, for programs.
        code: FailureCode,
        /// Why, for people.
        message: String,
        /// What the worker attached (an exec task's status and output, as
        /// an encoded `ExecOutput`), passed through.
        detail: Option<Bytes>,
    },
}

impl Outcome {
    /// A failure.
    pub fn failed(code: FailureCode, message: impl Into<String>) -> Self {
        Outcome::Failed { code, message: message.into(), detail: None }
    }

    /// Whether the task succeeded.
    pub fn is_output(&self) -> bool {
        matches!(self, Outcome::Output(_))
    }
}

/// What a worker reported for a task it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// How it ended.
    pub outcome: Outcome,
    /// How long it ran, in microseconds.
    pub run_micros: u64,
}

/// A task's one result, as delivered to its client.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    /// The client's id for the task.
    pub id: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The worker that ran it last; empty if none did.
    pub worker: String,
    /// How long it ran, in microseconds.
    pub run_micros: u64,
    /// Times it was started.
    pub attempts: u32,
}

/// The tasks one worker ran for a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// The worker's name.
    pub worker: String,
    /// Its cores.
    pub cores: u32,
    /// Tasks of the job it ran.
    pub tasks: u64,
    /// Their run time, in microseconds.
    pub busy_micros: u64,
}

/// A finished job's figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSummary {
    /// Tasks that succeeded.
    pub succeeded: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Each worker's share, in the order the workers joined.
    pub shares: Vec<Share>,
}

/// What a client asks of a job besides its tasks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSpec {
    /// A name for status and logs.
    pub name: String,
    /// Longest a task may run, in milliseconds; `None` takes the default.
    pub timeout_ms: Option<u64>,
    /// Longest the whole job may take, in milliseconds from its opening.
    pub deadline_ms: Option<u64>,
    /// Labels a worker must carry to get the job's tasks.
    pub require: BTreeMap<String, String>,
    /// Longest a task may wait when no connected worker can run it, in
    /// milliseconds; `None` takes the default.
    pub unroutable_timeout_ms: Option<u64>,
}
