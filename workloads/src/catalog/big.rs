//! The big-block churn workloads: malloc-large (huge objects of 5-25 MiB, every byte written)
//! and large-churn (64 KiB-1 MiB blocks, a random one of 64 replaced).
//!
//! malloc-large follows mimalloc-bench's `malloc-large`: a table of 20 buffers, each step
//! replacing a random one with `make_unique<char[]>` of a random size from 5 to 25 MiB, which
//! value-initialises (writes) every byte. Its 20 buffers are shared out among the threads, so
//! the memory in use does not grow with the thread count. large-churn follows no published
//! benchmark: each thread keeps 64 blocks of 64 KiB to 1 MiB and replaces a random one,
//! writing its first and last byte, as a program's buffers would be churned. Both measure
//! whether freed big blocks are reused with their pages, or unmapped (or purged) and faulted in
//! again.

use super::{Shared, Workload};
use crate::ctx::{stamp, stamped, ThreadCtx};

pub const MALLOC_LARGE: Workload = Workload {
    name: "malloc-large",
    summary: "20 buffers of 5-25 MiB shared out among threads, a random one replaced, every byte written",
    follows: "mimalloc-bench malloc-large",
    time_every_call: true,
    make: |s| Box::new(Churn::MallocLarge { slots: (MALLOC_LARGE_BUFFERS / s.threads.max(1)).max(2) }),
};

pub const LARGE_CHURN: Workload = Workload {
    name: "large-churn",
    summary: "64 blocks of 64 KiB-1 MiB per thread, a random one replaced, first and last byte written",
    follows: "big-block churn (no published benchmark)",
    time_every_call: false,
    make: |_| Box::new(Churn::Large),
};

const MALLOC_LARGE_BUFFERS: usize = 20;
const LARGE_CHURN_BLOCKS: usize = 64;

enum Churn {
    MallocLarge { slots: usize },
    Large,
}

impl Shared for Churn {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let (slots, lo, hi, fill) = match *self {
            Churn::MallocLarge { slots } => (slots, 5 << 20, 25 << 20, true),
            Churn::Large => (LARGE_CHURN_BLOCKS, 64 << 10, 1 << 20, false),
        };
        let mut held = vec![std::ptr::null_mut::<u8>(); slots];
        if !fill {
            // large-churn starts from a full table, as a program in its steady state.
            ctx.start_warm_up();
            for h in held.iter_mut() {
                let size = ctx.rng.range(lo, hi);
                *h = new_block(ctx, size, fill);
            }
        }
        ctx.ready();
        while ctx.running() {
            let i = ctx.rng.below(slots);
            let size = ctx.rng.range(lo, hi);
            let old = held[i];
            if !old.is_null() {
                // SAFETY: held owned the stamped block.
                unsafe { ctx.free(old, stamped(old)) };
            }
            held[i] = new_block(ctx, size, fill);
        }
        ctx.finish();
        for p in held.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: held owned the stamped block.
            unsafe { ctx.free(p, stamped(p)) };
        }
    }
}

/// A block of `size` bytes with every byte written (`fill`) or its first and last.
fn new_block(ctx: &mut ThreadCtx<'_>, size: usize, fill: bool) -> *mut u8 {
    let p = ctx.malloc(size);
    // SAFETY: a fresh block of size (at least 64 KiB) bytes.
    unsafe {
        if fill {
            std::ptr::write_bytes(p, 0, size);
        }
        p.add(size - 1).write_volatile(1);
        stamp(p, size);
    }
    p
}
