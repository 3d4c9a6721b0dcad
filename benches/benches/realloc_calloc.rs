//! realloc growth and calloc, jemalloc-rs against the system allocator.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use jemalloc_rs_benches::allocators;
use std::time::Duration;

fn realloc_growth(c: &mut Criterion) {
    let mut group = c.benchmark_group("realloc_double");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
    for limit in [4096usize, 1 << 20] {
        for (name, t) in allocators() {
            group.bench_with_input(BenchmarkId::new(name, limit), &limit, |b, &limit| {
                b.iter(|| {
                    // SAFETY: each block is live until reallocated or freed, and written in bounds.
                    unsafe {
                        let mut size = 16;
                        let mut p = (t.malloc)(size);
                        while size < limit {
                            size *= 2;
                            p = (t.realloc)(p, black_box(size));
                            p.cast::<u8>().add(size - 1).write_volatile(1);
                        }
                        (t.free)(p);
                    }
                })
            });
        }
    }
    group.finish();
}

fn calloc(c: &mut Criterion) {
    let mut group = c.benchmark_group("calloc_free");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
    for size in [64usize, 4096, 64 << 10] {
        for (name, t) in allocators() {
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                b.iter(|| {
                    // SAFETY: a fresh zeroed block, read and freed at once.
                    unsafe {
                        let p = (t.calloc)(1, black_box(size));
                        black_box(p.cast::<u8>().add(size / 2).read_volatile());
                        (t.free)(p);
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, realloc_growth, calloc);
criterion_main!(benches);
