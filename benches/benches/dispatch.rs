//! Criterion bench of the scheduling core's pick-and-complete cycle: one
//! task completes on a worker and `schedule` hands that worker the next
//! queued task. The cost per task should barely grow with the worker count
//! (target: at 100,000 workers within 2x of 10).
//!
//! `cargo bench -p cluster-bench`

use std::time::Duration;

use cluster_bench::dispatch::DispatchBench;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for workers in [10usize, 1_000, 100_000] {
        // One state per worker count: the queue is topped up outside the
        // timed loop, so every timed cycle finds a task to assign.
        let mut bench = DispatchBench::new(workers, 0);
        group.bench_with_input(BenchmarkId::new("complete+schedule", workers), &workers, |b, _| {
            b.iter_custom(|iters| bench.time_cycles(iters))
        });
        if let Err(e) = bench.check() {
            panic!("dispatch with {} workers: {e}", bench.workers());
        }
    }
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
