//! larson: a server that serves requests on many threads, each request replacing a random
//! object with one of a random size, the objects outliving the thread that allocated them.
//!
//! Follows Larson and Krishnan, "Memory allocation for long-running server applications"
//! (ISMM 1998), as run by Hoard's and mimalloc-bench's `larson` (sizes 8 to 1000 bytes, a few
//! thousand objects per thread). Instead of threads that exit and hand their objects to a new
//! thread, each thread moves to the next thread's region of slots every round, so that most
//! objects are freed by a thread other than the one that allocated them.

use super::{Setup, Shared, Workload};
use crate::ctx::{stamp, stamped, ThreadCtx};
use std::sync::atomic::{AtomicPtr, Ordering};

pub const LARSON: Workload = Workload {
    name: "larson",
    summary: "server simulation: random sizes 8-1000 B replace random objects; objects freed by other threads",
    follows: "Larson & Krishnan 1998 (Hoard / mimalloc-bench larson)",
    time_every_call: false,
    make,
};

const SLOTS_PER_THREAD: usize = 4000;
const MIN_SIZE: usize = 8;
const MAX_SIZE: usize = 1000;
const REPLACEMENTS_PER_ROUND: usize = 1000;

struct Larson {
    threads: usize,
    slots: Vec<AtomicPtr<u8>>,
}

fn make(setup: &Setup) -> Box<dyn Shared> {
    let slots = (0..setup.threads * SLOTS_PER_THREAD).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect();
    Box::new(Larson { threads: setup.threads, slots })
}

impl Larson {
    fn region(&self, index: usize) -> &[AtomicPtr<u8>] {
        let r = index % self.threads;
        &self.slots[r * SLOTS_PER_THREAD..(r + 1) * SLOTS_PER_THREAD]
    }
}

fn new_object(ctx: &mut ThreadCtx<'_>) -> *mut u8 {
    let size = ctx.rng.range(MIN_SIZE, MAX_SIZE);
    let p = ctx.malloc(size);
    // SAFETY: p is a fresh block of size >= 8 bytes; the stamp goes last.
    unsafe {
        p.add(size - 1).write(0x5a);
        stamp(p, size);
    }
    p
}

impl Shared for Larson {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        ctx.start_warm_up();
        for slot in self.region(ctx.thread) {
            let p = new_object(ctx);
            slot.store(p, Ordering::Release);
        }
        ctx.ready();
        let mut round = 0;
        while ctx.running() {
            round += 1;
            let region = self.region(ctx.thread + round);
            for _ in 0..REPLACEMENTS_PER_ROUND {
                let i = ctx.rng.below(SLOTS_PER_THREAD);
                let p = new_object(ctx);
                let old = region[i].swap(p, Ordering::AcqRel);
                if !old.is_null() {
                    // SAFETY: the swap made this thread the only owner of a stamped block.
                    unsafe {
                        let size = stamped(old);
                        ctx.free(old, size);
                    }
                }
            }
        }
        ctx.finish();
    }

    fn teardown(&self, ctx: &mut ThreadCtx<'_>) {
        for slot in &self.slots {
            let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: every thread has ended; the block is stamped and now only ours.
                unsafe {
                    let size = stamped(p);
                    ctx.free(p, size);
                }
            }
        }
    }
}
