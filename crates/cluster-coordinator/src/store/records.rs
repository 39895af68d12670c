//! What the state directory holds, as prost messages (an encoding that
//! tolerates added fields, so a newer coordinator reads an older store).

use std::collections::BTreeMap;

use crate::sched::{JobSpec, JobSummary, Share};

/// A job: its options, whether its input is complete, and the figures of
/// the tasks that have a result.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct JobRecord {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(uint64, optional, tag = "2")]
    pub(crate) timeout_ms: Option<u64>,
    /// When the job's time is up, in Unix milliseconds.
    #[prost(uint64, optional, tag = "3")]
    pub(crate) deadline_unix_ms: Option<u64>,
    #[prost(btree_map = "string, string", tag = "4")]
    pub(crate) require: BTreeMap<String, String>,
    #[prost(uint64, optional, tag = "5")]
    pub(crate) unroutable_timeout_ms: Option<u64>,
    /// The client sent every task.
    #[prost(bool, tag = "6")]
    pub(crate) input_closed: bool,
    /// Tasks received so far (each stored until it has a result).
    #[prost(uint64, tag = "7")]
    pub(crate) submitted: u64,
    #[prost(uint64, tag = "8")]
    pub(crate) succeeded: u64,
    #[prost(uint64, tag = "9")]
    pub(crate) failed: u64,
    #[prost(message, repeated, tag = "10")]
    pub(crate) shares: Vec<ShareRecord>,
    /// When every task had its result, in Unix milliseconds; 0 while not.
    #[prost(uint64, tag = "11")]
    pub(crate) finished_unix_ms: u64,
}

/// One worker's part of a job.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ShareRecord {
    #[prost(string, tag = "1")]
    pub(crate) worker: String,
    #[prost(uint32, tag = "2")]
    pub(crate) cores: u32,
    #[prost(uint64, tag = "3")]
    pub(crate) tasks: u64,
    #[prost(uint64, tag = "4")]
    pub(crate) busy_micros: u64,
}

impl JobRecord {
    /// A job opened at `now_unix_ms` with these options.
    pub(crate) fn new(spec: JobSpec, now_unix_ms: u64) -> Self {
        JobRecord {
            name: spec.name,
            timeout_ms: spec.timeout_ms,
            deadline_unix_ms: spec.deadline_ms.map(|ms| now_unix_ms.saturating_add(ms)),
            require: spec.require,
            unroutable_timeout_ms: spec.unroutable_timeout_ms,
            ..JobRecord::default()
        }
    }

    /// The options to reopen it with; a deadline counts from now to the
    /// time it was set for (already passed: now).
    pub(crate) fn spec(&self) -> JobSpec {
        let now = super::unix_ms();
        JobSpec {
            name: self.name.clone(),
            timeout_ms: self.timeout_ms,
            deadline_ms: self.deadline_unix_ms.map(|at| at.saturating_sub(now)),
            require: self.require.clone(),
            unroutable_timeout_ms: self.unroutable_timeout_ms,
        }
    }

    /// Its figures so far.
    pub(crate) fn summary(&self) -> JobSummary {
        JobSummary {
            succeeded: self.succeeded,
            failed: self.failed,
            shares: self
                .shares
                .iter()
                .map(|s| Share {
                    worker: s.worker.clone(),
                    cores: s.cores,
                    tasks: s.tasks,
                    busy_micros: s.busy_micros,
                })
                .collect(),
        }
    }

    /// Counts one result.
    pub(crate) fn count(&mut self, succeeded: bool, worker: &str, run_micros: u64) {
        if succeeded {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
        if worker.is_empty() {
            return; // failed before any worker ran it
        }
        match self.shares.iter_mut().find(|share| share.worker == worker) {
            Some(share) => {
                share.tasks += 1;
                share.busy_micros = share.busy_micros.saturating_add(run_micros);
            }
            None => self.shares.push(ShareRecord {
                worker: worker.to_owned(),
                // Not in a result; a summary after a restart shows 0.
                cores: 0,
                tasks: 1,
                busy_micros: run_micros,
            }),
        }
    }
}
