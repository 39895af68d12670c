//! Conversions between wire messages and the task library's types.

use cluster_proto::{task, task_output, ErrorCode, NoopOutput, Task, TaskOutput};
use cluster_tasks::{ErrorKind, Input, Output, TaskError};

/// The task library's view of a task's input.
pub(crate) fn input(task: &Task) -> Input {
    match &task.input {
        Some(task::Input::SumPrimes(i)) => Input::SumPrimes { n: i.n },
        Some(task::Input::Spin(i)) => Input::Spin { millis: i.millis },
        Some(task::Input::Noop(_)) => Input::Noop,
        Some(task::Input::Custom(bytes)) => Input::Custom(bytes.clone()),
        None => Input::Missing,
    }
}

pub(crate) fn output(output: Output) -> TaskOutput {
    let value = match output {
        Output::SumPrimes(sum) => task_output::Value::SumPrimes(sum),
        Output::SpinMillis(ms) => task_output::Value::SpinMillis(ms),
        Output::Noop => task_output::Value::Noop(NoopOutput {}),
        Output::Custom(bytes) => task_output::Value::Custom(bytes),
    };
    TaskOutput { value: Some(value) }
}

pub(crate) fn error(err: TaskError) -> cluster_proto::TaskError {
    let code = match err.kind {
        ErrorKind::InvalidInput => ErrorCode::InvalidInput,
        ErrorKind::UnknownKind => ErrorCode::UnknownKind,
        ErrorKind::Failed => ErrorCode::TaskFailed,
        ErrorKind::Cancelled => ErrorCode::Cancelled,
    };
    cluster_proto::TaskError { code: code as i32, message: err.message }
}
