//! A job's task reader: takes the tasks a client streams in, admits them
//! into the coordinator's queue chunk by chunk, and hands them to the actor.

use std::collections::HashSet;

use cluster_proto::batch;
use cluster_proto::SubmitRequest;
use tonic::Streaming;

use super::client_api::{stream_error, NextJob};
use crate::actor::{ActorHandle, JobTx};
use crate::error::CoordinatorError;
use crate::sched::{FailureCode, JobId, NewTask, Outcome};
use crate::wire;

/// Feeds one job's task batches to the actor.
pub(super) struct TaskReader {
    pub(super) job: JobId,
    /// A broken stream detaches the job rather than cancel it.
    pub(super) durable: bool,
    /// The job's event channel for this client.
    pub(super) tx: JobTx,
    pub(super) actor: ActorHandle,
    pub(super) max_message_bytes: usize,
}

impl TaskReader {
    /// Reads until the client half-closes or sends `end_of_input` (the
    /// job's input is complete; then the stream goes to `next`, for the
    /// stream's next job) or the stream fails (the job is cancelled). Tasks go to the actor in
    /// chunks, each first admitted (see `Admission`), so a client that
    /// submits faster than the cluster runs waits here, and HTTP/2 flow
    /// control pushes back on it: the coordinator's queue stays within
    /// `--max-queued` tasks and `--max-queued-bytes`.
    pub(super) async fn run(
        self,
        first: SubmitRequest,
        mut incoming: Streaming<SubmitRequest>,
        next_job: NextJob,
    ) {
        let chunk = self.actor.admission.chunk();
        // Ids seen so far, to refuse a repeated one; kept only while the
        // client is still sending.
        let mut ids = HashSet::new();
        let mut next = Some(first);
        loop {
            let request = match next.take() {
                Some(request) => request,
                None => match incoming.message().await {
                    Ok(Some(request)) => request,
                    Ok(None) => return self.actor.close_input(self.job),
                    Err(status) => {
                        tracing::info!(job = self.job.0, "submission stream failed: {}", status.message());
                        if self.durable && status.code() != tonic::Code::OutOfRange {
                            return self.actor.client_gone(self.job, self.tx);
                        }
                        let error = stream_error(status, self.max_message_bytes);
                        return self.actor.submission_failed(self.job, error);
                    }
                },
            };
            let end_of_input = request.end_of_input;
            if let Some(id) = request.tasks.iter().map(|task| task.id).find(|&id| !ids.insert(id)) {
                let error = CoordinatorError::DuplicateTaskId { job: self.job, id };
                tracing::info!(job = self.job.0, "submission refused: {error}");
                return self.actor.submission_failed(self.job, error);
            }
            let mut tasks = request.tasks.into_iter().map(wire::new_task).peekable();
            while tasks.peek().is_some() {
                let (mut part, mut bytes) = (Vec::new(), 0u64);
                let fits = |part: &Vec<NewTask>, bytes: u64, task: &NewTask| {
                    part.is_empty()
                        || (part.len() < chunk.tasks && bytes + task.payload.len() as u64 <= chunk.bytes)
                };
                while let Some(task) = tasks.next_if(|task| fits(&part, bytes, task)) {
                    bytes += task.payload.len() as u64;
                    part.push(task);
                }
                let Ok(permits) = self.actor.admission.admit(part.len(), bytes).await else {
                    return; // the coordinator is shutting down
                };
                let (fits, rejected) = self.check_sizes(part.into_iter());
                self.actor.submit(self.job, fits, rejected, permits);
            }
            if end_of_input {
                self.actor.close_input(self.job);
                let _ = next_job.send(incoming);
                return;
            }
        }
    }

    /// Refuses tasks too large for an assignment message: one would fail
    /// every worker session it was sent on.
    fn check_sizes(&self, tasks: impl Iterator<Item = NewTask>) -> (Vec<NewTask>, Vec<(u64, Outcome)>) {
        let max = self.max_message_bytes;
        let (fits, too_large): (Vec<NewTask>, Vec<NewTask>) =
            tasks.partition(|task| wire::fits_in_assignment(task.payload.len(), max));
        let rejected = too_large
            .into_iter()
            .map(|task| {
                let message = format!(
                    "task of {} bytes is over the {}-byte limit of a message to a worker (--max-message-bytes)",
                    task.payload.len(),
                    batch::budget(max)
                );
                (task.id, Outcome::failed(FailureCode::InvalidInput, message))
            })
            .collect();
        (fits, rejected)
    }
}
