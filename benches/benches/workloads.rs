//! Every workload on one thread, jemalloc-rs against the system allocator, on the same code.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jemalloc_rs_benches::{allocators, time_workload};
use std::time::Duration;
use workloads::Clock;

/// Calls per run: fewer for the workloads whose calls map and touch megabytes.
fn ops_for(workload: &str) -> u64 {
    match workload {
        "huge" => 40,
        "medium" => 2_000,
        _ => 20_000,
    }
}

fn all_workloads(c: &mut Criterion) {
    let clock = Clock::calibrate();
    let mut group = c.benchmark_group("workload");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(10);
    for w in workloads::all() {
        let ops = ops_for(w.name);
        group.throughput(Throughput::Elements(ops));
        for (name, t) in allocators() {
            group.bench_function(BenchmarkId::new(name, w.name), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| time_workload(w.name, t, 1, ops, &clock)).sum())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, all_workloads);
criterion_main!(benches);
