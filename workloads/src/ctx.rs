//! What a workload thread sees: the allocator's functions, counted, sampled for latency and
//! accounted in live bytes; its random numbers; and when to stop.
//!
//! Between [`ThreadCtx::ready`] and [`ThreadCtx::finish`] every call counts as one operation and
//! about one call in `sample_every` (at pseudo-random gaps, so that no period of the workload
//! aliases with the sampling) is timed with the [`Clock`], less the clock's own cost. Before
//! `ready` (warm-up, preallocation) and after `finish` (tear-down) calls are neither counted nor
//! timed. Live bytes are counted always, in a per-thread slot the runner samples.

use crate::clock::Clock;
use crate::os;
use crate::rng::Rng;
use crate::table::AllocTable;
use core::ffi::c_void;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Barrier;
use std::time::Instant;

/// Latencies are kept to two significant digits from 1 ns to 100 s.
pub fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 100_000_000_000, 2) {
        Ok(h) => h,
        Err(e) => unreachable!("fixed bounds are valid: {e}"),
    }
}

/// One thread's live-byte count, alone on its cache line so that updating it shares nothing.
#[repr(align(128))]
#[derive(Default)]
pub struct LiveSlot(pub AtomicI64);

/// What a thread measured between `ready` and `finish`.
pub struct ThreadReport {
    pub ops: u64,
    pub latency: Histogram<u64>,
    pub start: Option<Instant>,
    pub end: Option<Instant>,
    pub cpu_user: f64,
    pub cpu_sys: f64,
    /// The most live bytes this thread alone accounted for.
    pub peak_live: i64,
}

/// The barriers and the stop flag a workload thread shares with the runner.
pub(crate) struct Rendezvous<'a> {
    /// Every thread has its bookkeeping; the runner reads the baseline RSS between the two.
    pub booked: &'a Barrier,
    pub warm_up: &'a Barrier,
    pub prepared: &'a Barrier,
    pub go: &'a Barrier,
    pub stop: &'a AtomicBool,
}

pub struct ThreadCtx<'a> {
    table: AllocTable,
    /// This thread's random numbers, seeded from the run's seed and the thread index.
    pub rng: Rng,
    /// This thread's index, `0..threads`.
    pub thread: usize,
    pub threads: usize,
    clock: &'a Clock,
    sync: Option<Rendezvous<'a>>,
    live_slot: &'a LiveSlot,
    live: i64,
    peak_live: i64,
    timing: bool,
    warming: bool,
    readied: bool,
    ops: u64,
    budget: u64,
    sample_every: u32,
    countdown: u32,
    gap_state: u32,
    latency: Histogram<u64>,
    cpu_start: (f64, f64),
    report_start: Option<Instant>,
    report_end: Option<Instant>,
    cpu: (f64, f64),
}

impl<'a> ThreadCtx<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        table: AllocTable,
        seed: u64,
        thread: usize,
        threads: usize,
        clock: &'a Clock,
        sync: Option<Rendezvous<'a>>,
        live_slot: &'a LiveSlot,
        budget: u64,
        sample_every: u32,
    ) -> Self {
        ThreadCtx {
            table,
            rng: Rng::for_thread(seed, thread),
            thread,
            threads,
            clock,
            sync,
            live_slot,
            live: 0,
            peak_live: 0,
            timing: false,
            warming: false,
            readied: false,
            ops: 0,
            budget,
            sample_every,
            countdown: sample_every.max(1),
            gap_state: (seed as u32 ^ thread as u32).wrapping_mul(2_654_435_761) | 1,
            latency: new_histogram(),
            cpu_start: (0.0, 0.0),
            report_start: None,
            report_end: None,
            cpu: (0.0, 0.0),
        }
    }

    /// Ends the bookkeeping: what the thread allocates from here to [`ThreadCtx::ready`] is
    /// the workload's warm-up, counted in its memory (the baseline RSS is read before it) but
    /// not timed. Workloads without a warm-up need not call it.
    pub fn start_warm_up(&mut self) {
        if self.warming {
            return;
        }
        self.warming = true;
        if let Some(sync) = &self.sync {
            sync.booked.wait();
            sync.warm_up.wait();
        }
    }

    /// Ends the preparation: waits until every thread is prepared, then starts counting.
    pub fn ready(&mut self) {
        if self.readied {
            return;
        }
        self.start_warm_up();
        self.readied = true;
        if let Some(sync) = &self.sync {
            sync.prepared.wait();
            sync.go.wait();
        }
        self.cpu_start = os::thread_cpu();
        self.report_start = Some(Instant::now());
        self.timing = true;
    }

    /// True while the workload should go on: call it once per round.
    #[inline]
    pub fn running(&self) -> bool {
        self.timing && self.ops < self.budget && !self.sync.as_ref().is_some_and(|s| s.stop.load(Ordering::Relaxed))
    }

    /// Ends the measured part; what follows is tear-down.
    pub fn finish(&mut self) {
        if self.timing {
            self.timing = false;
            self.report_end = Some(Instant::now());
            let (u, s) = os::thread_cpu();
            self.cpu = (u - self.cpu_start.0, s - self.cpu_start.1);
        }
    }

    pub(crate) fn into_report(mut self) -> ThreadReport {
        // A thread that ended without calling ready must still pass the barriers.
        self.ready();
        self.finish();
        ThreadReport {
            ops: self.ops,
            latency: self.latency,
            start: self.report_start,
            end: self.report_end,
            cpu_user: self.cpu.0,
            cpu_sys: self.cpu.1,
            peak_live: self.peak_live,
        }
    }

    /// Bytes this thread has allocated less what it has freed (negative when it frees what
    /// others allocated).
    pub fn live_bytes(&self) -> i64 {
        self.live
    }

    #[inline(always)]
    fn account(&mut self, delta: i64) {
        self.live += delta;
        self.peak_live = self.peak_live.max(self.live);
        self.live_slot.0.store(self.live, Ordering::Relaxed);
    }

    #[inline(always)]
    fn call<R>(&mut self, f: impl FnOnce(&AllocTable) -> R) -> R {
        if self.timing {
            self.ops += 1;
            if self.sample_every != 0 {
                self.countdown -= 1;
                if self.countdown == 0 {
                    return self.timed(f);
                }
            }
        }
        f(&self.table)
    }

    #[inline(never)]
    fn timed<R>(&mut self, f: impl FnOnce(&AllocTable) -> R) -> R {
        let t0 = self.clock.ticks();
        let r = f(&self.table);
        let t1 = self.clock.ticks();
        let ns = self.clock.ticks_to_ns(t1.wrapping_sub(t0)).saturating_sub(self.clock.overhead_ns());
        self.latency.saturating_record(ns.max(1));
        // xorshift32 for the next gap, uniform in 1..2k.
        let mut x = self.gap_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.gap_state = x;
        self.countdown = 1 + x % (2 * self.sample_every - 1).max(1);
        r
    }

    /// `malloc(size)`; aborts the run if the allocator returns null.
    #[inline]
    pub fn malloc(&mut self, size: usize) -> *mut u8 {
        // SAFETY: malloc has no preconditions.
        let p = self.call(|t| unsafe { (t.malloc)(size) });
        self.check(p, size);
        self.account(size as i64);
        p.cast()
    }

    /// `calloc(n, size)`.
    #[inline]
    pub fn calloc(&mut self, n: usize, size: usize) -> *mut u8 {
        // SAFETY: calloc has no preconditions.
        let p = self.call(|t| unsafe { (t.calloc)(n, size) });
        self.check(p, n * size);
        self.account((n * size) as i64);
        p.cast()
    }

    /// `posix_memalign(&p, align, size)`; `align` is a power of two and a multiple of the
    /// pointer size.
    #[inline]
    pub fn memalign(&mut self, align: usize, size: usize) -> *mut u8 {
        let mut p: *mut c_void = core::ptr::null_mut();
        // SAFETY: p is writable; the alignment is valid.
        let rc = self.call(|t| unsafe { (t.posix_memalign)(&mut p, align, size) });
        if rc != 0 {
            p = core::ptr::null_mut();
        }
        self.check(p, size);
        self.account(size as i64);
        p.cast()
    }

    /// `realloc(p, new_size)` of a block of `old_size` requested bytes.
    ///
    /// # Safety
    /// `p` is a live block of this table's allocator, of `old_size` requested bytes.
    #[inline]
    pub unsafe fn realloc(&mut self, p: *mut u8, old_size: usize, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees p is live and ours.
        let q = self.call(|t| unsafe { (t.realloc)(p.cast(), new_size) });
        self.check(q, new_size);
        self.account(new_size as i64 - old_size as i64);
        q.cast()
    }

    /// `free(p)` of a block of `size` requested bytes.
    ///
    /// # Safety
    /// `p` is a live block of this table's allocator, of `size` requested bytes, not used after.
    #[inline]
    pub unsafe fn free(&mut self, p: *mut u8, size: usize) {
        // SAFETY: the caller guarantees p is live and ours.
        self.call(|t| unsafe { (t.free)(p.cast()) });
        self.account(-(size as i64));
    }

    /// `malloc_usable_size(p)`, if the allocator has it.
    ///
    /// # Safety
    /// `p` is a live block of this table's allocator.
    pub unsafe fn usable_size(&mut self, p: *mut u8) -> Option<usize> {
        let f = self.table.malloc_usable_size?;
        // SAFETY: the caller guarantees p is live and ours.
        Some(self.call(|_| unsafe { f(p.cast()) }))
    }

    #[inline(always)]
    fn check(&self, p: *mut c_void, size: usize) {
        if p.is_null() {
            out_of_memory(size);
        }
    }
}

#[cold]
#[inline(never)]
fn out_of_memory(size: usize) -> ! {
    panic!("the allocator under test returned null for {size} bytes");
}

/// Writes `size` into the first word of a block of at least 8 bytes, so that whichever thread
/// frees it knows its size.
///
/// # Safety
/// `p` is a live block of at least 8 bytes, aligned to 8.
#[inline(always)]
pub unsafe fn stamp(p: *mut u8, size: usize) {
    // SAFETY: the caller guarantees 8 writable, aligned bytes.
    unsafe { p.cast::<usize>().write(size) }
}

/// The size [`stamp`] wrote.
///
/// # Safety
/// `p` was stamped and is still live.
#[inline(always)]
pub unsafe fn stamped(p: *const u8) -> usize {
    // SAFETY: the caller guarantees a stamped, live block.
    unsafe { p.cast::<usize>().read() }
}

/// Writes one byte in every 4 KiB page of the block and its last byte, as a program that uses
/// the memory would, so that the pages become resident.
///
/// # Safety
/// `p` is a live block of `size` writable bytes.
#[inline]
pub unsafe fn touch(p: *mut u8, size: usize) {
    let mut off = 0;
    while off < size {
        // SAFETY: off < size.
        unsafe { p.add(off).write_volatile(off as u8) };
        off += 4096;
    }
    if size > 0 {
        // SAFETY: size - 1 is in bounds.
        unsafe { p.add(size - 1).write_volatile(1) };
    }
}
