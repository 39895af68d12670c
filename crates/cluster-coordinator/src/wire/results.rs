//! What a client gets back: task results, batched under its size limit,
//! and the job's summary.

use bytes::Bytes;
use cluster_proto::{self as pb, batch, submit_response};
use prost::Message;

use super::codes::error_code;
use crate::sched::{JobSummary, Outcome, TaskReport};

/// A task's result as its client gets it.
pub(crate) fn task_result(report: TaskReport) -> pb::TaskResult {
    let outcome = match report.outcome {
        // Checked when it arrived (`finished`).
        Outcome::Output(bytes) => {
            pb::task_result::Outcome::Output(pb::TaskOutput::decode(bytes).unwrap_or_default())
        }
        Outcome::Failed { code, message, detail } => {
            // Checked when it arrived too: it was one before it was bytes.
            let exec = detail.and_then(|bytes| pb::ExecOutput::decode(bytes).ok());
            pb::task_result::Outcome::Error(pb::TaskError { code: error_code(code) as i32, message, exec })
        }
    };
    pb::TaskResult {
        id: report.id,
        outcome: Some(outcome),
        worker: report.worker,
        run_micros: report.run_micros,
        attempts: report.attempts,
    }
}

/// Results as messages under the client's size limit.
pub(crate) fn result_messages(reports: Vec<TaskReport>, max_message_bytes: usize) -> Vec<pb::SubmitResponse> {
    result_batches(reports.into_iter().map(task_result), max_message_bytes)
}

fn result_batches(
    results: impl Iterator<Item = pb::TaskResult>,
    max_message_bytes: usize,
) -> Vec<pb::SubmitResponse> {
    batch::split(results, max_message_bytes, Message::encoded_len)
        .into_iter()
        .map(|results| response(submit_response::Event::Results(pb::ResultBatch { results })))
        .collect()
}

/// Results kept in the state directory (each an encoded `TaskResult`) as
/// messages under the client's size limit; an unreadable one is skipped.
pub(crate) fn stored_result_messages(
    stored: Vec<Bytes>,
    max_message_bytes: usize,
) -> Vec<pb::SubmitResponse> {
    result_batches(
        stored.into_iter().filter_map(|bytes| pb::TaskResult::decode(bytes).ok()),
        max_message_bytes,
    )
}

pub(crate) fn response(event: submit_response::Event) -> pb::SubmitResponse {
    pb::SubmitResponse { event: Some(event) }
}

pub(crate) fn summary(summary: JobSummary) -> pb::JobSummary {
    let workers = summary
        .shares
        .into_iter()
        .map(|s| pb::WorkerShare {
            worker: s.worker,
            cores: s.cores,
            jobs: s.tasks,
            busy_micros: s.busy_micros,
        })
        .collect();
    pb::JobSummary { succeeded: summary.succeeded, failed: summary.failed, workers }
}
