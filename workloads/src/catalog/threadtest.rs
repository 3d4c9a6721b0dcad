//! threadtest: each thread allocates a batch of fixed-size objects, writes them, and frees the
//! batch, over and over. No object crosses threads, so a scalable allocator should scale
//! linearly with threads.
//!
//! Follows Hoard's `threadtest` (Berger et al., ASPLOS 2000), as run by mimalloc-bench
//! (`threadtest N 1000 10000 0 8`); objects here are 64 bytes, batches 1000.

use super::{Setup, Shared, Workload};
use crate::ctx::ThreadCtx;

pub const THREADTEST: Workload = Workload {
    name: "threadtest",
    summary: "each thread allocates and frees batches of 1000 fixed 64 B objects",
    follows: "Hoard threadtest (Berger et al. 2000)",
    time_every_call: false,
    make,
};

const BATCH: usize = 1000;
const SIZE: usize = 64;

struct ThreadTest;

fn make(_: &Setup) -> Box<dyn Shared> {
    Box::new(ThreadTest)
}

impl Shared for ThreadTest {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let mut batch = vec![std::ptr::null_mut::<u8>(); BATCH];
        ctx.ready();
        while ctx.running() {
            for p in batch.iter_mut() {
                *p = ctx.malloc(SIZE);
                // SAFETY: a fresh block of SIZE bytes.
                unsafe { p.write_volatile(1) };
            }
            for &p in &batch {
                // SAFETY: allocated above, freed once.
                unsafe { ctx.free(p, SIZE) };
            }
        }
        ctx.finish();
    }
}
