//! Backtraces taken without allocating: libgcc's unwinder, `_Unwind_Backtrace`.
//!
//! Mirrors jemalloc 2.2.1's `prof_backtrace()` built with `JEMALLOC_PROF_LIBGCC`. The unwinder
//! reads the `.eh_frame` unwind tables that compilers emit by default on x86-64, so it walks
//! through C built at `-O2` without frame pointers, where a frame-pointer walk stops or reads
//! garbage. It allocates nothing (libgcc finds each object's tables with `_dl_find_object` or
//! `dl_iterate_phdr`), and Rust's standard library already links `libgcc_s`, so it adds no
//! dependency. The caller holds no allocator or profiler lock while it runs.
//!
//! The frames of the allocator itself are cut off: everything up to and including the
//! outermost frame whose function is an allocation entry point ([`register_entry_points`]:
//! `malloc`, `calloc`, `realloc`, ... of the engine, and the C library's exports, which
//! register theirs), so a backtrace starts at the caller of `malloc`, as 2.2.1's does.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

/// The most frames a backtrace keeps (2^`LG_PROF_BT_MAX`).
pub const MAX_FRAMES: usize = 1 << crate::conf::LG_PROF_BT_MAX;
/// The most allocator frames above the caller's: deeper walks keep everything they saw.
const MAX_INNER: usize = 24;

#[repr(C)]
struct UnwindContext {
    _opaque: [u8; 0],
}

type TraceFn = extern "C" fn(*mut UnwindContext, *mut c_void) -> c_int;

#[link(name = "gcc_s")]
extern "C" {
    fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIP(ctx: *mut UnwindContext) -> usize;
    fn _Unwind_GetRegionStart(ctx: *mut UnwindContext) -> usize;
}

const URC_NO_REASON: c_int = 0;
const URC_END_OF_STACK: c_int = 5;

/// Function addresses whose frames end the allocator's part of a stack.
const MAX_ENTRIES: usize = 48;
static ENTRIES: [AtomicUsize; MAX_ENTRIES] = [const { AtomicUsize::new(0) }; MAX_ENTRIES];
static NENTRIES: AtomicUsize = AtomicUsize::new(0);

/// Adds allocation entry points: the start addresses of functions that callers outside the
/// allocator call (`malloc` and the like). Extra ones beyond the table's room are ignored.
pub fn register_entry_points(fns: &[usize]) {
    for &f in fns {
        let i = NENTRIES.fetch_add(1, Ordering::AcqRel);
        if i >= MAX_ENTRIES {
            NENTRIES.store(MAX_ENTRIES, Ordering::Release);
            return;
        }
        ENTRIES[i].store(f, Ordering::Release);
    }
}

fn is_entry(start: usize) -> bool {
    let n = NENTRIES.load(Ordering::Acquire).min(MAX_ENTRIES);
    start != 0 && ENTRIES[..n].iter().any(|e| e.load(Ordering::Relaxed) == start)
}

/// A backtrace: return addresses, innermost first.
pub struct Backtrace {
    pub len: usize,
    pub frames: [usize; MAX_FRAMES + MAX_INNER],
}

impl Backtrace {
    pub const fn new() -> Self {
        Backtrace { len: 0, frames: [0; MAX_FRAMES + MAX_INNER] }
    }

    pub fn as_slice(&self) -> &[usize] {
        &self.frames[..self.len]
    }
}

impl Default for Backtrace {
    fn default() -> Self {
        Self::new()
    }
}

struct Walk<'a> {
    bt: &'a mut Backtrace,
    /// Index one past the outermost entry-point frame seen so far.
    cut: usize,
    cap: usize,
}

extern "C" fn on_frame(ctx: *mut UnwindContext, arg: *mut c_void) -> c_int {
    // SAFETY: arg is the Walk that `capture` passes, alive for the whole walk; ctx is the
    // unwinder's context for this frame.
    unsafe {
        let w = &mut *(arg as *mut Walk);
        let ip = _Unwind_GetIP(ctx);
        if ip == 0 {
            return URC_END_OF_STACK;
        }
        let n = w.bt.len;
        w.bt.frames[n] = ip;
        w.bt.len = n + 1;
        if n < MAX_INNER && is_entry(_Unwind_GetRegionStart(ctx)) {
            w.cut = n + 1;
        }
        if w.bt.len == w.cap {
            return URC_END_OF_STACK;
        }
    }
    URC_NO_REASON
}

/// Captures the calling thread's stack into `bt`: at most `max` (<= [`MAX_FRAMES`]) frames
/// from the caller of the allocator outward.
pub fn capture(bt: &mut Backtrace, max: usize) {
    let max = max.min(MAX_FRAMES);
    bt.len = 0;
    let mut w = Walk { bt, cut: 0, cap: max + MAX_INNER };
    // SAFETY: on_frame matches the unwinder's callback type and only touches `w`, which
    // outlives the call.
    unsafe { _Unwind_Backtrace(on_frame, (&mut w as *mut Walk).cast()) };
    let cut = w.cut;
    let bt = w.bt;
    let keep = (bt.len - cut).min(max);
    bt.frames.copy_within(cut..cut + keep, 0);
    bt.len = keep;
}
