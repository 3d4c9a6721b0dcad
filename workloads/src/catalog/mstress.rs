//! mstress: objects with random lifetimes, a few large blocks among them, and some objects
//! passed to other threads through a shared exchange.
//!
//! Follows mimalloc-bench's `mstress` (Leijen et al.): each step replaces a random object of
//! the thread's working set, so lifetimes are geometric; one object in 200 is a large block of
//! 32 KiB to 512 KiB (touched page by page); one in 16 is allocated with 64-byte alignment; one
//! freed object in 8 goes to the exchange instead, where whichever thread displaces it frees it.

use super::{Setup, Shared, Workload};
use crate::ctx::{stamp, stamped, touch, ThreadCtx};
use std::sync::atomic::{AtomicPtr, Ordering};

pub const MSTRESS: Workload = Workload {
    name: "mstress",
    summary: "random lifetimes, 1 in 200 a large block (32-512 KiB), objects exchanged between threads",
    follows: "mimalloc-bench mstress",
    time_every_call: false,
    make,
};

const WORKING_SET: usize = 2000;
const EXCHANGE: usize = 256;
const STEPS_PER_ROUND: usize = 200;

struct Mstress {
    exchange: Vec<AtomicPtr<u8>>,
}

fn make(_: &Setup) -> Box<dyn Shared> {
    Box::new(Mstress { exchange: (0..EXCHANGE).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect() })
}

fn new_object(ctx: &mut ThreadCtx<'_>) -> *mut u8 {
    let (p, size) = if ctx.rng.one_in(200) {
        let size = ctx.rng.range(32 << 10, 512 << 10);
        let p = ctx.malloc(size);
        // SAFETY: a fresh block of size bytes.
        unsafe { touch(p, size) };
        (p, size)
    } else {
        let size = ctx.rng.range(8, 256);
        let p = if ctx.rng.one_in(16) { ctx.memalign(64, size) } else { ctx.malloc(size) };
        (p, size)
    };
    // SAFETY: at least 8 bytes, aligned.
    unsafe { stamp(p, size) };
    p
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

impl Shared for Mstress {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let mut set = vec![std::ptr::null_mut::<u8>(); WORKING_SET];
        ctx.ready();
        while ctx.running() {
            for _ in 0..STEPS_PER_ROUND {
                let i = ctx.rng.below(WORKING_SET);
                let old = set[i];
                if !old.is_null() {
                    if ctx.rng.one_in(8) {
                        let j = ctx.rng.below(EXCHANGE);
                        let displaced = self.exchange[j].swap(old, Ordering::AcqRel);
                        if !displaced.is_null() {
                            // SAFETY: the swap made this thread its only owner.
                            unsafe { release(ctx, displaced) };
                        }
                    } else {
                        // SAFETY: the working set owns it.
                        unsafe { release(ctx, old) };
                    }
                }
                set[i] = new_object(ctx);
            }
        }
        ctx.finish();
        for p in set.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: the working set owns it.
            unsafe { release(ctx, p) };
        }
    }

    fn teardown(&self, ctx: &mut ThreadCtx<'_>) {
        for slot in &self.exchange {
            let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: every thread has ended; the exchange owned it.
                unsafe { release(ctx, p) };
            }
        }
    }
}
