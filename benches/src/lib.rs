//! Shared helpers for the criterion benchmarks: the allocators compared, each as a table of C
//! function pointers, so that jemalloc-rs and the system allocator run the same code and
//! neither is inlined into it.

use std::time::Duration;
use workloads::{AllocTable, Clock, RunParams};

/// The allocators every benchmark compares.
pub fn allocators() -> [(&'static str, AllocTable); 2] {
    [("jemalloc-rs", AllocTable::jemalloc_rs()), ("system", AllocTable::system())]
}

/// Runs `workload` on `threads` threads for `ops_per_thread` calls each and returns the time
/// the threads took, without thread start-up and tear-down.
pub fn time_workload(workload: &str, table: AllocTable, threads: usize, ops_per_thread: u64, clock: &Clock) -> Duration {
    let Some(w) = workloads::find(workload) else { panic!("no workload named {workload}") };
    let params = RunParams { threads, duration: None, ops_per_thread: Some(ops_per_thread), seed: 1, sample_every: 0 };
    Duration::from_secs_f64(workloads::run(w, table, &params, clock).seconds)
}

/// Size classes worth a benchmark each: every small class of the default table, some large
/// ones and one huge one.
pub fn benchmark_sizes() -> Vec<usize> {
    let sc = jemalloc_rs::size_classes::SizeClasses::default_classes();
    let mut sizes: Vec<usize> = sc.bins().iter().map(|b| b.reg_size as usize).collect();
    sizes.extend([4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20]);
    sizes
}
