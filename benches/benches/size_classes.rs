//! malloc/free pairs for each size class, jemalloc-rs against the system allocator.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jemalloc_rs_benches::{allocators, benchmark_sizes};
use std::time::Duration;

fn malloc_free(c: &mut Criterion) {
    let mut group = c.benchmark_group("malloc_free");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
    group.throughput(Throughput::Elements(1));
    for size in benchmark_sizes() {
        for (name, t) in allocators() {
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                b.iter(|| {
                    // SAFETY: a fresh block, freed at once.
                    unsafe {
                        let p = (t.malloc)(black_box(size));
                        p.cast::<u8>().write_volatile(1);
                        (t.free)(black_box(p));
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, malloc_free);
criterion_main!(benches);
