//! huge: blocks of one to four 4 MiB chunks, each written page by page, two kept alive at a
//! time per thread.
//!
//! Follows no single published benchmark; it exercises jemalloc's huge objects (whole chunks
//! from `mmap`, `opt.lg_chunk` = 22) and other allocators' direct-mapping paths, where the cost
//! is in system calls, page faults and whether unmapped memory is cached. Sizes fall just short
//! of chunk multiples, as a program's buffers would.

use super::{Setup, Shared, Workload};
use crate::ctx::{stamp, stamped, touch, ThreadCtx};

pub const HUGE: Workload = Workload {
    name: "huge",
    summary: "blocks of 1-4 x 4 MiB chunks, touched page by page, 2 live per thread; every call timed",
    follows: "jemalloc huge objects (chunk-multiple mmap)",
    time_every_call: true,
    make,
};

const CHUNK: usize = 4 << 20;
const HELD: usize = 2;

struct Huge;

fn make(_: &Setup) -> Box<dyn Shared> {
    Box::new(Huge)
}

impl Shared for Huge {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let mut held = [std::ptr::null_mut::<u8>(); HELD];
        let mut next = 0;
        ctx.ready();
        while ctx.running() {
            let size = ctx.rng.range(1, 4) * CHUNK - ctx.rng.below(64 << 10);
            let p = ctx.malloc(size);
            // SAFETY: a fresh block of size bytes.
            unsafe {
                touch(p, size);
                stamp(p, size);
            }
            let old = std::mem::replace(&mut held[next], p);
            next = (next + 1) % HELD;
            if !old.is_null() {
                // SAFETY: held owned the stamped block.
                unsafe { ctx.free(old, stamped(old)) };
            }
        }
        ctx.finish();
        for p in held.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: held owned the stamped block.
            unsafe { ctx.free(p, stamped(p)) };
        }
    }
}
