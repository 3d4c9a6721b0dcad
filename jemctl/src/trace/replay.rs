//! Replaying a [`Plan`] on one allocator, in this process: one thread per recorded thread, each
//! running its steps through the workloads' [`ThreadCtx`] (so calls are counted and sampled for
//! latency exactly as in `jemctl bench`), writing the first and last byte of every object it
//! allocates. Objects live in a table of atomic slots indexed by object number; a step that
//! frees or resizes an object waits until its slot is filled.

use super::plan::{Kind, Plan, Step};
use crate::bench::sample::Sample;
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use workloads::{AllocTable, Clock, RunParams, Shared, ThreadCtx};

struct Replay<'a> {
    plan: &'a Plan,
    slots: Vec<AtomicUsize>,
}

impl Replay<'_> {
    /// The address of object `obj`, once its allocating thread has stored it.
    #[inline]
    fn wait(&self, obj: u32) -> *mut u8 {
        let slot = &self.slots[obj as usize];
        let mut spins = 0u32;
        loop {
            let p = slot.load(Ordering::Acquire);
            if p != 0 {
                return p as *mut u8;
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    fn put(&self, obj: u32, p: *mut u8, size: u64) {
        touch_ends(p, size);
        self.slots[obj as usize].store(p as usize, Ordering::Release);
    }

    fn step(&self, ctx: &mut ThreadCtx<'_>, s: &Step) {
        let size = s.size as usize;
        match s.kind {
            Kind::Malloc => self.put(s.obj, ctx.malloc(size), s.size),
            Kind::Calloc => self.put(s.obj, ctx.calloc(1, size), s.size),
            Kind::Aligned => self.put(s.obj, ctx.memalign(s.align as usize, size), s.size),
            Kind::Realloc => {
                let (p, old_size) = if s.old == super::objects::NONE {
                    (std::ptr::null_mut(), 0)
                } else {
                    (self.wait(s.old), self.plan.sizes[s.old as usize] as usize)
                };
                // A zero-byte realloc that did not free is replayed as one byte: the C library
                // frees on realloc(p, 0), others do not.
                // SAFETY: p is NULL or the live object `old`, of old_size requested bytes, which
                // no other step uses from here on.
                let q = unsafe { ctx.realloc(p, old_size, size.max(1)) };
                self.put(s.obj, q, s.size);
            }
            Kind::Free => {
                let p = self.wait(s.old);
                // SAFETY: p is the live object `old`; this is its last use.
                unsafe { ctx.free(p, self.plan.sizes[s.old as usize] as usize) };
            }
        }
    }
}

/// Writes the first and the last byte, as the program would have touched its memory.
fn touch_ends(p: *mut u8, size: u64) {
    if size > 0 {
        // SAFETY: p is a live block of at least `size` bytes.
        unsafe {
            p.write_volatile(1);
            p.add(size as usize - 1).write_volatile(1);
        }
    }
}

impl Shared for Replay<'_> {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let steps = &self.plan.threads[ctx.thread];
        ctx.ready();
        for s in steps {
            self.step(ctx, s);
        }
        ctx.finish();
    }

    fn teardown(&self, ctx: &mut ThreadCtx<'_>) {
        for &obj in &self.plan.leaked {
            let p = self.slots[obj as usize].swap(0, Ordering::AcqRel);
            if p != 0 {
                // SAFETY: an object the trace never frees, allocated by the replay and not
                // freed by any step.
                unsafe { ctx.free(p as *mut u8, self.plan.sizes[obj as usize] as usize) };
            }
        }
    }
}

/// Replays `plan` on `table`, timing about one call in `sample_every`.
pub fn measure(plan: &Plan, table: AllocTable, sample_every: u32) -> Result<Sample> {
    let replay = Replay { plan, slots: (0..plan.sizes.len()).map(|_| AtomicUsize::new(0)).collect() };
    let clock = Clock::calibrate();
    let params =
        RunParams { threads: plan.threads.len().max(1), duration: None, ops_per_thread: None, seed: 1, sample_every };
    if plan.threads.is_empty() {
        bail!("the trace has no calls to replay");
    }
    let o = workloads::run_shared(&replay, false, table, &params, &clock);
    if o.ops != plan.calls() {
        bail!("the replay made {} calls, not the trace's {}", o.ops, plan.calls());
    }
    // The trace's peak, not the replay's own bookkeeping: identical on every allocator.
    Ok(Sample { peak_live_bytes: plan.peak_live_bytes, ..Sample::from_outcome(&o, &clock) })
}
