//! Dispatch scaling: the scheduling core's pick-and-complete cycle, in
//! process, as the number of workers grows.

use anyhow::{anyhow, Result};
use cluster_bench::dispatch::{DispatchBench, CHUNK};
use serde_json::json;

use super::{thousands, Figure, Plan, Row};

/// Target: cost per task at the largest worker count, as a multiple of W=10.
const TARGET_RATIO: f64 = 2.0;
/// Timed rounds per worker count. The fastest is reported: on a shared
/// machine noise only ever adds time.
const ROUNDS: u64 = 10;
/// Untimed passes through every task in flight before the timed rounds.
const WARM_PASSES: u64 = 3;

/// One worker count's state and timings.
struct Point {
    workers: usize,
    bench: DispatchBench,
    warm: u64,
    ns: Vec<f64>,
}

/// Nanoseconds per cycle for each worker count, and the tasks each worker
/// held. Every count gets its own core, warmed up for a round and at least
/// [`WARM_PASSES`] times through its tasks in flight; then the timed rounds
/// of `cycles / ROUNDS` cycles take turns across the counts, so a burst of
/// noise from the rest of the machine hits them alike. The fastest round of
/// each is reported.
fn measure(counts: &[usize], cycles: u64) -> Result<Vec<(f64, f64)>> {
    let round = (cycles / ROUNDS).max(1);
    let mut points: Vec<Point> = counts
        .iter()
        .map(|&workers| {
            let mut bench = DispatchBench::new(workers, 0);
            let warm = round.max(WARM_PASSES * bench.in_flight() as u64);
            bench.time_cycles(warm);
            Point { workers, bench, warm, ns: Vec::new() }
        })
        .collect();
    for _ in 0..ROUNDS {
        for point in &mut points {
            let elapsed = point.bench.time_cycles(round);
            point.ns.push(elapsed.as_nanos() as f64 / round as f64);
        }
    }
    points
        .into_iter()
        .map(|Point { workers, bench, warm, ns }| {
            bench.check().map_err(|e| anyhow!("dispatch with {workers} workers: {e}"))?;
            // The set-up completed each worker's first task once.
            let expected = workers as u64 + warm + round * ROUNDS;
            if bench.recorder().delivered != expected {
                return Err(anyhow!("{} results delivered, {expected} expected", bench.recorder().delivered));
            }
            let best = ns.into_iter().fold(f64::INFINITY, f64::min);
            Ok((best, bench.depth()))
        })
        .collect()
}

pub(crate) fn run(plan: &Plan) -> Result<Figure> {
    let mut rows = Vec::new();
    let mut points = Vec::new();
    let mut base = None;
    let mut met = true;
    let measured = measure(&plan.dispatch_workers, plan.dispatch_cycles)?;
    for (&w, (ns, depth)) in plan.dispatch_workers.iter().zip(measured) {
        let base_ns = *base.get_or_insert(ns);
        let ratio = ns / base_ns;
        let label = format!("dispatch W={}", thousands(w as u64));
        let mut row = Row::new(label, format!("{ns:.0} ns/task ({ratio:.2}x W=10)"));
        if w != plan.dispatch_workers[0] {
            let ok = ratio <= TARGET_RATIO;
            met &= ok;
            row = row.target(format!("<= {TARGET_RATIO}x W=10"), ok);
        }
        rows.push(row.detail(format!(
            "core in-process: {w} workers x 1 core, prefetch 0 configured ({depth:.0} tasks held per worker \
             after adapting to 20 ms run times), queue topped up to {} between timed chunks; \
             best of {ROUNDS} x {} complete+schedule cycles, rounds interleaved across worker counts",
            thousands(CHUNK),
            thousands(plan.dispatch_cycles / ROUNDS)
        )));
        points.push(
            json!({ "workers": w, "ns_per_task": ns, "ratio_to_first": ratio, "tasks_per_worker": depth }),
        );
    }
    Ok(Figure {
        rows,
        json: json!({
            "cycles": plan.dispatch_cycles,
            "points": points,
            "target_ratio": TARGET_RATIO,
            "met": met,
        }),
    })
}
