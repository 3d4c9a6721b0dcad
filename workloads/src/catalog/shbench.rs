//! shbench: batches of objects of random sizes across all small classes and some larger ones,
//! freed in reverse order in one round and in random order in the next; one object in eight
//! comes from `calloc`.
//!
//! Follows MicroQuill's SmartHeap benchmark `sh6bench` (as run by mimalloc-bench), which
//! allocates arrays of random-sized objects and frees them in reverse and in mixed order.

use super::{Setup, Shared, Workload};
use crate::ctx::ThreadCtx;
use crate::rng::Rng;

pub const SHBENCH: Workload = Workload {
    name: "shbench",
    summary: "random sizes 8 B-32 KiB (mostly small), batches freed in reverse and in random order",
    follows: "MicroQuill SmartHeap sh6bench (mimalloc-bench)",
    time_every_call: false,
    make,
};

const BATCH: usize = 400;

struct ShBench;

fn make(_: &Setup) -> Box<dyn Shared> {
    Box::new(ShBench)
}

/// 80% 8-128 B, 15% up to 1 KiB, 4% up to 4 KiB, 1% up to 32 KiB.
pub(crate) fn mixed_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=79 => rng.range(8, 128),
        80..=94 => rng.range(129, 1024),
        95..=98 => rng.range(1025, 4096),
        _ => rng.range(4097, 32768),
    }
}

impl Shared for ShBench {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let mut objects = vec![(std::ptr::null_mut::<u8>(), 0usize); BATCH];
        let mut order: Vec<usize> = (0..BATCH).collect();
        ctx.ready();
        let mut reverse = false;
        while ctx.running() {
            reverse = !reverse;
            for o in objects.iter_mut() {
                let size = mixed_size(&mut ctx.rng);
                let p = if ctx.rng.one_in(8) { ctx.calloc(1, size) } else { ctx.malloc(size) };
                // SAFETY: a fresh block of size bytes.
                unsafe { p.write_volatile(1) };
                *o = (p, size);
            }
            if !reverse {
                ctx.rng.shuffle(&mut order);
                for &i in &order {
                    // SAFETY: each object is freed once.
                    unsafe { ctx.free(objects[i].0, objects[i].1) };
                }
            } else {
                for &(p, size) in objects.iter().rev() {
                    // SAFETY: each object is freed once.
                    unsafe { ctx.free(p, size) };
                }
            }
        }
        ctx.finish();
    }
}
