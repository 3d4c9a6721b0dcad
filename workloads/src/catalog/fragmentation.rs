//! fragmentation: phases of different size mixes, each leaving long-lived survivors behind, so
//! that an allocator that cannot reuse the space around survivors for the next phase's sizes
//! keeps growing.
//!
//! Follows the phase behaviour (ramps, peaks, plateaus) that Wilson, Johnstone, Neely and Boles
//! describe in "Dynamic Storage Allocation: A Survey and Critical Review" (IWMM 1995) and the
//! fragmentation experiments of Johnstone and Wilson (ISMM 1998). Each round is one phase: the
//! thread allocates 2 MiB of objects from the phase's size range (small 16-128 B, medium
//! 512 B-4 KiB, page-sized 8-32 KiB, in turn), keeps one object in 16 as a survivor, and frees
//! the rest. Survivors live for several phases: the oldest is freed when a new one needs room.

use super::{Setup, Shared, Workload};
use crate::ctx::{stamp, stamped, touch, ThreadCtx};

pub const FRAGMENTATION: Workload = Workload {
    name: "fragmentation",
    summary: "phases of small, medium and page-sized objects; 1 in 16 survives several phases",
    follows: "phase behaviour of Wilson et al. 1995, Johnstone & Wilson 1998",
    time_every_call: false,
    make,
};

const PHASE_BYTES: usize = 2 << 20;
const PHASES: [(usize, usize); 3] = [(16, 128), (512, 4096), (8192, 32768)];
const KEEP_ONE_IN: usize = 16;
const SURVIVORS: usize = 4096;

struct Fragmentation;

fn make(_: &Setup) -> Box<dyn Shared> {
    Box::new(Fragmentation)
}

/// # Safety
/// `p` is a stamped block this thread owns.
unsafe fn release(ctx: &mut ThreadCtx<'_>, p: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let size = stamped(p);
        ctx.free(p, size);
    }
}

impl Shared for Fragmentation {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let mut phase_objects = vec![std::ptr::null_mut::<u8>(); PHASE_BYTES / PHASES[0].0];
        let mut survivors = vec![std::ptr::null_mut::<u8>(); SURVIVORS];
        let mut next_survivor = 0;
        let mut phase = ctx.thread;
        ctx.ready();
        while ctx.running() {
            let (lo, hi) = PHASES[phase % PHASES.len()];
            phase += 1;
            let mut bytes = 0;
            let mut count = 0;
            while bytes < PHASE_BYTES {
                let size = ctx.rng.range(lo, hi);
                let p = ctx.malloc(size);
                // SAFETY: a fresh block of at least 16 bytes.
                unsafe {
                    touch(p, size);
                    stamp(p, size);
                }
                phase_objects[count] = p;
                count += 1;
                bytes += size;
            }
            for (i, &p) in phase_objects[..count].iter().enumerate() {
                if i % KEEP_ONE_IN == KEEP_ONE_IN - 1 {
                    let old = std::mem::replace(&mut survivors[next_survivor], p);
                    next_survivor = (next_survivor + 1) % SURVIVORS;
                    if !old.is_null() {
                        // SAFETY: the survivor ring owned it.
                        unsafe { release(ctx, old) };
                    }
                } else {
                    // SAFETY: allocated this phase, freed once.
                    unsafe { release(ctx, p) };
                }
            }
        }
        ctx.finish();
        for p in survivors.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: the survivor ring owned it.
            unsafe { release(ctx, p) };
        }
    }
}
