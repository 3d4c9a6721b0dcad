//! The simple workloads: the small-object fast path, batches of mixed small sizes, blocks of
//! 64 KiB to 1 MiB, and aligned allocation.
//!
//! small-loop and small-batch follow glibc's `benchtests/bench-malloc-simple` (a tight
//! malloc/free loop, and blocks allocated then freed in order); medium and aligned follow no
//! published benchmark and cover the large classes and `posix_memalign`.

use super::{Shared, Workload};
use crate::ctx::{touch, ThreadCtx};

pub const SMALL_LOOP: Workload = Workload {
    name: "small-loop",
    summary: "tight loop: malloc(16), write, free",
    follows: "glibc bench-malloc-simple (single-object loop)",
    time_every_call: false,
    make: |_| Box::new(Simple::SmallLoop),
};

pub const SMALL_BATCH: Workload = Workload {
    name: "small-batch",
    summary: "batches of 256 mixed small sizes (8-512 B) allocated, then freed in order",
    follows: "glibc bench-malloc-simple (batch allocate, then free)",
    time_every_call: false,
    make: |_| Box::new(Simple::SmallBatch),
};

pub const MEDIUM: Workload = Workload {
    name: "medium",
    summary: "blocks of 64 KiB-1 MiB, 8 at a time, touched page by page, freed in reverse",
    follows: "large classes and mmap thresholds (no published benchmark)",
    time_every_call: false,
    make: |_| Box::new(Simple::Medium),
};

pub const ALIGNED: Workload = Workload {
    name: "aligned",
    summary: "posix_memalign with alignments 16 B-4 KiB and sizes 8 B-8 KiB, batches of 64",
    follows: "posix_memalign paths (no published benchmark)",
    time_every_call: false,
    make: |_| Box::new(Simple::Aligned),
};

enum Simple {
    SmallLoop,
    SmallBatch,
    Medium,
    Aligned,
}

const LOOP: usize = 1000;
const SMALL_SIZES: usize = 256;
const MEDIUM_BLOCKS: usize = 8;
const ALIGNED_BATCH: usize = 64;

impl Shared for Simple {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        match self {
            Simple::SmallLoop => small_loop(ctx),
            Simple::SmallBatch => batch(ctx, SMALL_SIZES, |ctx| (ctx.rng.range(8, 512), 0)),
            Simple::Medium => batch(ctx, MEDIUM_BLOCKS, |ctx| (ctx.rng.range(64 << 10, 1 << 20), 0)),
            Simple::Aligned => batch(ctx, ALIGNED_BATCH, |ctx| (ctx.rng.range(8, 8192), 16 << ctx.rng.below(9))),
        }
        ctx.finish();
    }
}

fn small_loop(ctx: &mut ThreadCtx<'_>) {
    ctx.ready();
    while ctx.running() {
        for _ in 0..LOOP {
            let p = ctx.malloc(16);
            // SAFETY: a fresh 16-byte block, freed once.
            unsafe {
                p.write_volatile(1);
                ctx.free(p, 16);
            }
        }
    }
}

/// Allocates `n` blocks of (size, alignment) from `pick` (alignment 0: plain malloc), touches
/// them, then frees them: small blocks in order, large ones in reverse.
fn batch(ctx: &mut ThreadCtx<'_>, n: usize, pick: fn(&mut ThreadCtx<'_>) -> (usize, usize)) {
    let mut blocks = vec![(std::ptr::null_mut::<u8>(), 0usize); n];
    ctx.ready();
    while ctx.running() {
        for b in blocks.iter_mut() {
            let (size, align) = pick(ctx);
            let p = if align == 0 { ctx.malloc(size) } else { ctx.memalign(align, size) };
            // SAFETY: a fresh block of size bytes.
            unsafe { touch(p, size) };
            *b = (p, size);
        }
        let large = blocks[0].1 >= 64 << 10;
        let mut free = |&(p, size): &(*mut u8, usize)| {
            // SAFETY: allocated above, freed once.
            unsafe { ctx.free(p, size) }
        };
        if large {
            blocks.iter().rev().for_each(&mut free);
        } else {
            blocks.iter().for_each(&mut free);
        }
    }
}
