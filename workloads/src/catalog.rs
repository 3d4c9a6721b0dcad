//! The workloads: what each models, and the factory that builds its shared state.
//!
//! A workload is a [`Workload`] record (name, one-line summary, the published benchmark it
//! follows) and a factory that builds its [`Shared`] state for a number of threads. Each
//! thread runs [`Shared::thread`]: it allocates its bookkeeping, calls
//! [`ThreadCtx::start_warm_up`] if it has warm-up objects to allocate, calls
//! [`ThreadCtx::ready`], runs rounds while [`ThreadCtx::running`], calls
//! [`ThreadCtx::finish`] and frees what it still holds. Objects left in shared structures are
//! freed by [`Shared::teardown`] after every thread has finished. Every object is freed by the
//! same allocator that returned it, whichever thread frees it.

use crate::ctx::ThreadCtx;

mod bench_malloc_thread;
mod big;
mod cache;
mod fragmentation;
mod huge;
mod larson;
mod mstress;
mod realloc;
mod rptest;
mod shbench;
mod simple;
mod threadtest;
mod xmalloc;

/// What a factory is given.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub threads: usize,
    pub seed: u64,
}

/// A workload's state shared by its threads.
pub trait Shared: Sync {
    /// One thread's program.
    fn thread(&self, ctx: &mut ThreadCtx<'_>);
    /// Frees what the threads left in shared structures; runs once, after every thread ended.
    fn teardown(&self, _ctx: &mut ThreadCtx<'_>) {}
}

pub struct Workload {
    pub name: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// The published benchmark it follows.
    pub follows: &'static str,
    /// Time every call, not one in `sample_every`: for workloads with few, slow calls.
    pub time_every_call: bool,
    pub make: fn(&Setup) -> Box<dyn Shared>,
}

static ALL: [Workload; 18] = [
    larson::LARSON,
    threadtest::THREADTEST,
    xmalloc::XMALLOC,
    cache::CACHE_SCRATCH,
    cache::CACHE_THRASH,
    shbench::SHBENCH,
    mstress::MSTRESS,
    bench_malloc_thread::BENCH_MALLOC_THREAD,
    rptest::RPTEST,
    realloc::REALLOC,
    fragmentation::FRAGMENTATION,
    huge::HUGE,
    big::MALLOC_LARGE,
    big::LARGE_CHURN,
    simple::SMALL_LOOP,
    simple::SMALL_BATCH,
    simple::MEDIUM,
    simple::ALIGNED,
];

/// Every workload, in the order `jemctl workloads` lists them.
pub fn all() -> &'static [Workload] {
    &ALL
}

pub fn find(name: &str) -> Option<&'static Workload> {
    ALL.iter().find(|w| w.name == name)
}

#[cfg(test)]
mod tests;
