//! Builders for the built-in task kinds, and for kinds with typed input
//! and output ([`TypedKind`]).

use cluster_proto::{task, task_output, task_result, ExecInput, NoopInput, SpinInput, SumPrimesInput, Task};
use cluster_proto::{TaskError, TaskResult};
use cluster_tasks::TypedKind;

/// A `sum-primes` task: the sum of primes below `n`.
pub fn sum_primes(id: u64, n: u64) -> Task {
    Task { id, kind: "sum-primes".into(), input: Some(task::Input::SumPrimes(SumPrimesInput { n })) }
}

/// A `spin` task: `millis` milliseconds of busy CPU.
pub fn spin(id: u64, millis: u64) -> Task {
    Task { id, kind: "spin".into(), input: Some(task::Input::Spin(SpinInput { millis })) }
}

/// An `exec` task: run `argv` on a worker started with `--allow-exec`
/// (see [`ExecInput`] for stdin, environment and output bounds).
pub fn exec(id: u64, input: ExecInput) -> Task {
    Task { id, kind: "exec".into(), input: Some(task::Input::Exec(input)) }
}

/// A `noop` task.
pub fn noop(id: u64) -> Task {
    Task { id, kind: "noop".into(), input: Some(task::Input::Noop(NoopInput {})) }
}

/// A task of the typed kind `K` (see [`cluster_tasks::TypedKind`]).
pub fn typed<K: TypedKind>(id: u64, input: &K::Input) -> Task {
    let bytes = cluster_tasks::typed::to_bytes(input);
    Task { id, kind: K::NAME.into(), input: Some(task::Input::Custom(bytes)) }
}

/// The output of a task of the typed kind `K`, or why there is none: the
/// task's own error, or an output that is not what `K` returns.
pub fn typed_output<K: TypedKind>(result: &TaskResult) -> Result<K::Output, TaskError> {
    let mismatch = |message: String| TaskError {
        code: cluster_proto::ErrorCode::TaskFailed as i32,
        message,
        exec: None,
    };
    match &result.outcome {
        Some(task_result::Outcome::Output(output)) => match &output.value {
            Some(task_output::Value::Custom(bytes)) => {
                cluster_tasks::typed::from_bytes::<K>(bytes).map_err(|e| mismatch(e.message))
            }
            other => Err(mismatch(format!("{} returned {other:?}, not custom bytes", K::NAME))),
        },
        Some(task_result::Outcome::Error(error)) => Err(error.clone()),
        None => Err(mismatch("the result has no outcome".into())),
    }
}
