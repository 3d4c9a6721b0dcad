//! Cross-thread frees: objects allocated by one thread and freed by another, through the
//! xmalloc (producer-consumer) and larson workloads on two threads.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jemalloc_rs_benches::{allocators, time_workload};
use std::time::Duration;
use workloads::Clock;

const OPS: u64 = 10_000;

fn cross_thread(c: &mut Criterion) {
    let clock = Clock::calibrate();
    let mut group = c.benchmark_group("cross_thread");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2)).sample_size(10);
    group.throughput(Throughput::Elements(2 * OPS));
    for workload in ["xmalloc", "larson"] {
        for (name, t) in allocators() {
            group.bench_function(BenchmarkId::new(name, workload), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| time_workload(workload, t, 2, OPS, &clock)).sum())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, cross_thread);
criterion_main!(benches);
