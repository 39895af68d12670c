//! Conversions between wire messages and the task library's types.

use cluster_proto::{completion, task, task_output, ErrorCode, NoopOutput, Task, TaskOutput};
use cluster_tasks::{ErrorKind, ExecInput, ExecOutput, Input, Output, TaskError};

/// Where a task comes from, for the task's own use.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskContext {
    pub(crate) job_id: u64,
    pub(crate) task_id: u64,
    /// How this worker is known.
    pub(crate) worker: std::sync::Arc<str>,
}

/// The task library's view of a task's input.
pub(crate) fn input(task: &Task, context: &TaskContext) -> Input {
    match &task.input {
        Some(task::Input::SumPrimes(i)) => Input::SumPrimes { n: i.n },
        Some(task::Input::Spin(i)) => Input::Spin { millis: i.millis },
        Some(task::Input::Noop(_)) => Input::Noop,
        Some(task::Input::Exec(exec)) => {
            let mut env: std::collections::BTreeMap<String, String> =
                exec.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            env.insert("CLUSTER_JOB_ID".into(), context.job_id.to_string());
            env.insert("CLUSTER_TASK_INDEX".into(), context.task_id.to_string());
            env.insert("CLUSTER_WORKER".into(), context.worker.to_string());
            Input::Exec(Box::new(ExecInput {
                argv: exec.argv.clone(),
                stdin: exec.stdin.clone(),
                env,
                working_dir: exec.working_dir.as_ref().map(Into::into),
                max_output_bytes: exec.max_output_bytes,
            }))
        }
        Some(task::Input::Custom(bytes)) => Input::Custom(bytes.clone()),
        None => Input::Missing,
    }
}

/// A task's output as its result: an exec task whose program did not exit
/// with status 0 failed, with its status and output attached.
pub(crate) fn outcome(output: Output) -> completion::Outcome {
    let value = match output {
        Output::SumPrimes(sum) => task_output::Value::SumPrimes(sum),
        Output::SpinMillis(ms) => task_output::Value::SpinMillis(ms),
        Output::Noop => task_output::Value::Noop(NoopOutput {}),
        Output::Exec(exec) if !exec.success() => {
            let message = format!("the command ended with {}{}", exec.status(), stderr_tail(&exec));
            let error = cluster_proto::TaskError {
                code: ErrorCode::TaskFailed as i32,
                message,
                exec: Some(exec_output(*exec)),
            };
            return completion::Outcome::Error(error);
        }
        Output::Exec(exec) => task_output::Value::Exec(exec_output(*exec)),
        Output::Custom(bytes) => task_output::Value::Custom(bytes),
    };
    completion::Outcome::Output(TaskOutput { value: Some(value) })
}

/// Most bytes of stderr quoted in a failed command's message.
const STDERR_TAIL_BYTES: usize = 400;

/// "; stderr: <its last lines>", or nothing when it printed none.
fn stderr_tail(exec: &ExecOutput) -> String {
    let text = String::from_utf8_lossy(&exec.stderr);
    let text = text.trim_end();
    if text.is_empty() {
        return String::new();
    }
    let start = text.len().saturating_sub(STDERR_TAIL_BYTES);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    let cut = if start > 0 { "..." } else { "" };
    format!("; stderr: {cut}{}", &text[start..])
}

fn exec_output(exec: ExecOutput) -> cluster_proto::ExecOutput {
    cluster_proto::ExecOutput {
        exit_code: exec.exit_code.unwrap_or(-1),
        signal: exec.signal.unwrap_or(0),
        stdout: exec.stdout,
        stderr: exec.stderr,
        stdout_truncated: exec.stdout_truncated,
        stderr_truncated: exec.stderr_truncated,
    }
}

pub(crate) fn error(err: TaskError) -> cluster_proto::TaskError {
    let code = match err.kind {
        ErrorKind::InvalidInput => ErrorCode::InvalidInput,
        ErrorKind::UnknownKind => ErrorCode::UnknownKind,
        ErrorKind::Failed => ErrorCode::TaskFailed,
        ErrorKind::Cancelled => ErrorCode::Cancelled,
    };
    cluster_proto::TaskError { code: code as i32, message: err.message, exec: None }
}
