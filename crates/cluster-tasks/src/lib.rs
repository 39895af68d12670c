//! The task library: what a task is, the registry of task kinds a worker can
//! run, the built-in kinds `sum-primes`, `noop` and `spin`, and `exec`,
//! which runs programs on workers that allow it.
//!
//! It knows nothing of gRPC: the worker converts wire messages to [`Input`]
//! and [`Output`]. A Rust user adds a kind by implementing [`TaskKind`] and
//! registering it in a [`Registry`] passed to their own worker binary.
#![warn(missing_docs)]

mod builtin;
mod cancel;
pub mod exec;
mod registry;
pub mod typed;

pub use builtin::{sum_primes, Noop, Spin, SumPrimes, MAX_SPIN_MILLIS, MAX_SUM_PRIMES_N};
pub use cancel::CancelToken;
pub use exec::{Allow, Exec, ExecInput, ExecOutput};
pub use registry::{Registry, TaskKind};
pub use typed::{Typed, TypedKind};

use bytes::Bytes;

/// The input of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Input of `sum-primes`.
    SumPrimes {
        /// Sum the primes strictly below this.
        n: u64,
    },
    /// Input of `spin`.
    Spin {
        /// Milliseconds to keep a core busy.
        millis: u64,
    },
    /// Input of `noop`.
    Noop,
    /// Input of `exec`.
    Exec(Box<ExecInput>),
    /// Input of a custom kind.
    Custom(Bytes),
    /// The task carried no input at all.
    Missing,
}

impl Input {
    /// A short name for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Input::SumPrimes { .. } => "a sum-primes input",
            Input::Spin { .. } => "a spin input",
            Input::Noop => "a noop input",
            Input::Exec(_) => "an exec input",
            Input::Custom(_) => "custom bytes",
            Input::Missing => "no input",
        }
    }
}

/// The output of a successful task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Output of `sum-primes`.
    SumPrimes(u64),
    /// Output of `spin`: milliseconds spent.
    SpinMillis(u64),
    /// Output of `noop`.
    Noop,
    /// Output of `exec`, whatever the program's exit status: the worker
    /// reports a non-zero one as a failed task.
    Exec(Box<ExecOutput>),
    /// Output of a custom kind.
    Custom(Bytes),
}

/// Why a task failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or out-of-range input; retrying will not help.
    InvalidInput,
    /// The worker does not know the kind.
    UnknownKind,
    /// The task's own code failed.
    Failed,
    /// The task was cancelled (timeout or job cancellation) while it ran.
    Cancelled,
}

/// A task's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// A message that names what was wrong.
    pub message: String,
}

impl TaskError {
    /// An input error.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::InvalidInput, message: message.into() }
    }

    /// A failure of the task's own code.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Failed, message: message.into() }
    }
}
