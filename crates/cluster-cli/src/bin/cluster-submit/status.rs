//! `cluster-submit status`: the cluster as the coordinator sees it, once
//! (a table or JSON) or redrawn every second (`--watch`).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

use cluster_client::Client;
use cluster_proto::{StatusResponse, WorkerState};
use serde_json::json;

/// How often `--watch` redraws.
const REFRESH: Duration = Duration::from_secs(1);

fn state(s: i32) -> &'static str {
    match WorkerState::try_from(s).unwrap_or(WorkerState::Unspecified) {
        WorkerState::Active => "active",
        WorkerState::Connecting => "connecting",
        WorkerState::Draining => "draining",
        WorkerState::Lost => "lost",
        WorkerState::Unspecified => "unknown",
    }
}

/// Workers in session and taking tasks.
pub(crate) fn active_workers(status: &StatusResponse) -> usize {
    status.workers.iter().filter(|w| w.state == WorkerState::Active as i32).count()
}

/// One report; true when a worker is active.
pub(crate) async fn once(mut client: Client, as_json: bool) -> anyhow::Result<bool> {
    let status = client.status().await?;
    if as_json {
        println!("{}", to_json(&status));
    } else {
        print!("{}", table(&status, None));
    }
    Ok(active_workers(&status) > 0)
}

/// Redraws the report every second until Ctrl-C; on a terminal each frame
/// replaces the last, elsewhere frames follow each other. Returns whether
/// a worker was active in the last frame.
pub(crate) async fn watch(mut client: Client) -> anyhow::Result<bool> {
    let terminal = std::io::stdout().is_terminal();
    let mut ticks = tokio::time::interval(REFRESH);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<(Instant, u64)> = None;
    let interrupted = cluster_node::interrupt_signal()?;
    tokio::pin!(interrupted);
    let mut active = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut interrupted => return Ok(active),
        }
        let status = client.status().await?;
        active = active_workers(&status) > 0;
        let now = Instant::now();
        let completed: u64 = status.workers.iter().map(|w| w.completed).sum();
        let rate = previous.map(|(then, before)| {
            completed.saturating_sub(before) as f64 / now.duration_since(then).as_secs_f64().max(1e-3)
        });
        previous = Some((now, completed));
        let mut frame = String::new();
        if terminal {
            frame.push_str("\x1b[H\x1b[2J"); // home, clear the screen
        }
        frame.push_str(&table(&status, Some(rate.unwrap_or(0.0))));
        if !terminal {
            frame.push('\n');
        }
        let mut out = std::io::stdout().lock();
        out.write_all(frame.as_bytes())?;
        out.flush()?;
    }
}

/// The people's report; with `rate`, the cluster's tasks/s line too.
fn table(status: &StatusResponse, rate: Option<f64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<10} {:>5} {:>6} {:<10} {:>7} {:>10} {:>10} {:>7}",
        "WORKER", "ID", "CORES", "WEIGHT", "STATE", "RUNNING", "PREFETCHED", "COMPLETED", "FAILED"
    );
    for w in &status.workers {
        let mut notes = String::new();
        if w.stuck_slots > 0 {
            let _ = write!(notes, "  ({} stuck slots)", w.stuck_slots);
        }
        if !w.last_error.is_empty() {
            let _ = write!(notes, "  ({})", w.last_error);
        }
        let id: String = w.worker_id.chars().take(10).collect();
        let _ = writeln!(
            out,
            "{:<24} {:<10} {:>5} {:>6.2} {:<10} {:>7} {:>10} {:>10} {:>7}{notes}",
            w.address,
            id,
            w.cores,
            w.weight,
            state(w.state),
            w.running,
            w.prefetched,
            w.completed,
            w.failed,
        );
    }
    if status.workers.is_empty() {
        out.push_str("(no workers)\n");
    }
    for j in &status.jobs {
        let percent = 100.0 * j.finished as f64 / j.submitted.max(1) as f64;
        let _ = write!(
            out,
            "job {:<6} {:<16} {:>10} of {:>10} tasks finished ({percent:.0}%), {} failed",
            j.job_id, j.name, j.finished, j.submitted, j.failed
        );
        if j.waiting_for_client {
            out.push_str("  (paused: its client is not reading its results)");
        }
        if !j.blocked.is_empty() {
            let _ = write!(out, "  ({})", j.blocked);
        }
        out.push('\n');
    }
    for j in status.recent_jobs.iter().rev() {
        let ended = if j.cancelled > 0 { format!(", {} cancelled", j.cancelled) } else { String::new() };
        let _ = writeln!(
            out,
            "done {:<5} {:<16} {:>10} tasks: {} succeeded, {} failed{ended}, in {:.1} s",
            j.job_id,
            j.name,
            j.submitted,
            j.succeeded,
            j.failed,
            j.duration_ms as f64 / 1000.0
        );
    }
    if let Some(rate) = rate {
        let _ = write!(out, "tasks/s: {rate:.1}  ");
    }
    let _ = writeln!(
        out,
        "queued: {}  active jobs: {}  active workers: {} of {}  late results dropped: {}  coordinator \
         version: {}",
        status.queued,
        status.active_jobs,
        active_workers(status),
        status.workers.len(),
        status.late_results,
        status.version
    );
    if status.omitted_rows > 0 {
        let _ = writeln!(out, "({} more rows left out to fit one message)", status.omitted_rows);
    }
    out
}

fn to_json(status: &StatusResponse) -> serde_json::Value {
    let workers: Vec<_> = status
        .workers
        .iter()
        .map(|w| {
            json!({
                "address": w.address, "cores": w.cores, "weight": w.weight, "state": state(w.state),
                "in_flight": w.in_flight, "running": w.running, "prefetched": w.prefetched,
                "completed": w.completed, "failed": w.failed, "labels": w.labels,
                "version": w.version, "last_error": w.last_error, "worker_id": w.worker_id,
                "dial_address": w.dial_address, "stuck_slots": w.stuck_slots,
            })
        })
        .collect();
    let jobs: Vec<_> = status
        .jobs
        .iter()
        .map(|j| {
            json!({
                "job_id": j.job_id, "name": j.name, "submitted": j.submitted, "finished": j.finished,
                "failed": j.failed, "waiting_for_client": j.waiting_for_client, "blocked": j.blocked,
            })
        })
        .collect();
    let recent: Vec<_> = status
        .recent_jobs
        .iter()
        .map(|j| {
            json!({
                "job_id": j.job_id, "name": j.name, "submitted": j.submitted, "succeeded": j.succeeded,
                "failed": j.failed, "cancelled": j.cancelled, "duration_ms": j.duration_ms,
            })
        })
        .collect();
    json!({
        "workers": workers,
        "jobs": jobs,
        "recent_jobs": recent,
        "queued": status.queued,
        "late_results": status.late_results,
        "omitted_rows": status.omitted_rows,
        "version": status.version,
    })
}
