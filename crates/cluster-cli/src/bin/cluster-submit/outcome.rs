//! How a run ends: its exit status, and the failures counted on the way
//! that decide it.

use cluster_proto::{task_result, ErrorCode, TaskResult};

/// How a run ended, as its exit status (documented in README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every task succeeded (`status`: a worker is active).
    Succeeded = 0,
    /// Some task failed, or the run was interrupted.
    TasksFailed = 1,
    /// Bad flags or input (clap's own usage errors exit 2 too).
    Usage = 2,
    /// The cluster failed the run: unreachable, unavailable, lost, or no
    /// worker came to run the tasks (`status`: none is active).
    Cluster = 3,
}

/// An error's exit status: 3 when the cluster or the network failed, 2
/// for what the user gave.
pub(crate) fn exit_code_of(err: &anyhow::Error) -> Outcome {
    let cluster = err.chain().any(|cause| {
        cause.downcast_ref::<cluster_client::ClientError>().is_some_and(|e| e.is_cluster_failure())
            || matches!(cause.downcast_ref(), Some(cluster_node::DialError::Connect { .. }))
    });
    if cluster {
        Outcome::Cluster
    } else {
        Outcome::Usage
    }
}

/// Failures counted as results arrive.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) failed: u64,
    /// Of those, tasks no active worker came to run in time.
    unroutable: u64,
}

impl Tally {
    /// Counts a result; true if it is a failure.
    pub(crate) fn add(&mut self, result: &TaskResult) -> bool {
        match &result.outcome {
            Some(task_result::Outcome::Output(_)) => false,
            Some(task_result::Outcome::Error(e)) => {
                self.failed += 1;
                self.unroutable += u64::from(e.code == ErrorCode::UnknownKind as i32);
                true
            }
            None => {
                self.failed += 1;
                true
            }
        }
    }

    /// The run's outcome, given whether every task succeeded; says on
    /// stderr why when no worker came.
    pub(crate) fn outcome(&self, all_succeeded: bool) -> Outcome {
        if self.unroutable > 0 {
            eprintln!(
                "error: {} tasks failed because no active worker could run them in time (see \
                 --wait-for-workers-ms)",
                self.unroutable
            );
            Outcome::Cluster
        } else if all_succeeded {
            Outcome::Succeeded
        } else {
            Outcome::TasksFailed
        }
    }
}
