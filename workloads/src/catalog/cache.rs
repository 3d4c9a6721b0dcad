//! cache-scratch and cache-thrash: false sharing of small objects between threads.
//!
//! Both follow Hoard's benchmarks of the same names (Berger et al., ASPLOS 2000). In each round
//! a thread allocates an 8-byte object, writes it many times and frees it. In cache-thrash an
//! allocator that hands neighbouring objects of one cache line to different threads makes the
//! threads fight over the line (active false sharing). In cache-scratch one thread first
//! allocates an object for every thread, all likely on one cache line, and each thread frees
//! its object before starting: an allocator that then reuses that freed object in the thread
//! that freed it brings the sharing back (passive false sharing).

use super::{Setup, Shared, Workload};
use crate::ctx::ThreadCtx;
use std::sync::atomic::{AtomicPtr, Ordering};

pub const CACHE_SCRATCH: Workload = Workload {
    name: "cache-scratch",
    summary: "passive false sharing: objects from one thread freed by others, then reused and written hard",
    follows: "Hoard cache-scratch (Berger et al. 2000)",
    time_every_call: false,
    make: make_scratch,
};

pub const CACHE_THRASH: Workload = Workload {
    name: "cache-thrash",
    summary: "active false sharing: threads allocate 8 B objects and write them hard",
    follows: "Hoard cache-thrash (Berger et al. 2000)",
    time_every_call: false,
    make: make_thrash,
};

const SIZE: usize = 8;
const OBJECTS_PER_ROUND: usize = 20;
const WRITES: usize = 500;

struct Cache {
    /// cache-scratch: the objects thread 0 allocates for each thread; empty for cache-thrash.
    handed: Vec<AtomicPtr<u8>>,
}

fn make_scratch(setup: &Setup) -> Box<dyn Shared> {
    Box::new(Cache { handed: (0..setup.threads).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect() })
}

fn make_thrash(_: &Setup) -> Box<dyn Shared> {
    Box::new(Cache { handed: Vec::new() })
}

impl Shared for Cache {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        ctx.start_warm_up();
        if ctx.thread == 0 {
            for slot in &self.handed {
                slot.store(ctx.malloc(SIZE), Ordering::Release);
            }
        }
        ctx.ready();
        if let Some(slot) = self.handed.get(ctx.thread) {
            let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
            // SAFETY: thread 0 allocated it before the start barrier; only this thread takes it.
            unsafe { ctx.free(p, SIZE) };
        }
        while ctx.running() {
            for _ in 0..OBJECTS_PER_ROUND {
                let p = ctx.malloc(SIZE);
                for i in 0..WRITES {
                    // SAFETY: p is a live block of SIZE bytes.
                    unsafe { p.write_volatile(p.read_volatile().wrapping_add(i as u8)) };
                }
                // SAFETY: allocated above, freed once.
                unsafe { ctx.free(p, SIZE) };
            }
        }
        ctx.finish();
    }
}
