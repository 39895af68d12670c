//! The cluster's status report as a client gets it, cut to one message.

use cluster_proto as pb;
use cluster_proto::batch::{self, framed_len};
use prost::Message;

use crate::actor::{StatusReport, WorkerRow};

/// The status report, as one message of at most `max_message_bytes`:
/// rows past the limit are left out and counted.
pub(crate) fn status(report: StatusReport, max_message_bytes: usize) -> pb::StatusResponse {
    let mut room = batch::budget(max_message_bytes);
    let mut omitted = 0;
    let mut fits = |len: usize| {
        let framed = framed_len(len);
        let fit = framed <= room;
        if fit {
            room -= framed;
        } else {
            omitted += 1;
        }
        fit
    };
    let workers: Vec<_> =
        report.workers.into_iter().map(worker_status).filter(|w| fits(w.encoded_len())).collect();
    let jobs: Vec<_> = report
        .jobs
        .into_iter()
        .map(|j| pb::JobStatus {
            job_id: j.id.0,
            name: j.name,
            submitted: j.submitted,
            finished: j.finished,
            waiting_for_client: j.paused,
            blocked: j.blocked.unwrap_or_default(),
            failed: j.failed,
        })
        .filter(|j| fits(j.encoded_len()))
        .collect();
    let recent_jobs: Vec<_> = report
        .recent_jobs
        .into_iter()
        .map(|j| pb::FinishedJobStatus {
            job_id: j.id.0,
            name: j.name,
            submitted: j.submitted,
            succeeded: j.succeeded,
            failed: j.failed,
            cancelled: j.cancelled.unwrap_or_default(),
            duration_ms: j.duration_ms,
        })
        .filter(|j| fits(j.encoded_len()))
        .collect();
    pb::StatusResponse {
        workers,
        queued: report.queued,
        active_jobs: report.active_jobs,
        version: crate::VERSION.into(),
        late_results: report.late_results,
        jobs,
        omitted_rows: omitted,
        recent_jobs,
    }
}

fn worker_status(row: WorkerRow) -> pb::WorkerStatus {
    use crate::actor::LinkState;
    let state = match row.state {
        LinkState::Connecting => pb::WorkerState::Connecting,
        LinkState::Active => pb::WorkerState::Active,
        LinkState::Draining => pb::WorkerState::Draining,
        LinkState::Lost => pb::WorkerState::Lost,
    };
    let (name, worker_id, cores, weight, labels, version) = match row.desc {
        Some(d) => (d.name, d.id, d.cores, d.weight, d.labels.into_iter().collect(), d.version),
        None => (row.address.clone(), String::new(), 0, 0.0, Default::default(), String::new()),
    };
    pb::WorkerStatus {
        address: name,
        worker_id,
        dial_address: row.address,
        cores,
        weight,
        state: state as i32,
        in_flight: row.in_flight,
        completed: row.completed,
        running: row.running,
        prefetched: row.in_flight.saturating_sub(row.running),
        failed: row.failed,
        labels,
        version,
        last_error: row.last_error,
        stuck_slots: row.stuck,
    }
}
