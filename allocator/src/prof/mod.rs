//! The heap profiler: sampled allocations attributed to their backtraces, dumped in the format
//! pprof reads, and the leak report at exit.
//!
//! Mirrors jemalloc 2.2.1 `prof.c` (`--enable-prof`, with libgcc's unwinder). Built in with the
//! `prof` feature, and off at run time until `opt.prof` (or `opt.prof_leak`) turns it on:
//! then the thread caches' inline fast paths stand aside (as they do for `opt.junk`), and the
//! allocation slow paths ask [`prepare`] whether to sample each allocation, [`record`] the
//! sampled object, and tell [`freed`] about each free. With `opt.prof` off the only cost is one
//! predictable branch on the allocation and free slow paths.
//!
//! - Sampling ([`prepare`]): every allocation with `opt.lg_prof_sample:0`; otherwise one every
//!   2^N bytes on average, the distance to the next sample drawn from a geometric distribution
//!   per thread, as 2.2.1 does. A sampled small object is promoted to one page when 2^N
//!   exceeds the page size, so that a small `free` never needs to look the object up.
//! - [`backtrace`]: libgcc's unwinder, without allocating; [`ctx`]: one context per
//!   backtrace, with atomic in-use and cumulative counts, behind a per-thread cache
//!   (`opt.lg_prof_tcmax`); [`samples`]: the sampled objects; [`dump`]: files and leak report.
//! - Dumps: final at exit (`<prefix>.<pid>.<seq>.f.heap`, with the leak report under
//!   `opt.prof_leak`), every 2^`opt.lg_prof_interval` bytes allocated (`.i<iseq>`), at each new
//!   high-water mark of mapped chunks with `opt.prof_gdump` (`.u<useq>`), and on `prof.dump`
//!   (`.m<mseq>`, or the name given).
//!
//! Locks: the context table's, the sample table's 64 stripes, the dump lock and the sequence
//! lock, and the lock of the pool of per-thread data; none is held while unwinding or
//! allocating, and each may take the base lock inside. They come after the ctl lock and before
//! every arena lock in the fork handlers' order.

pub mod backtrace;
pub mod ctx;
pub mod dump;
pub mod samples;

#[cfg(test)]
mod tests;

use crate::global::g;
use crate::mutex::Mutex;
use crate::thread;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

pub use backtrace::register_entry_points;
pub use ctx::Ctx;
pub use dump::Kind;

/// Whether the profiler is built (`config.prof`).
pub const BUILT: bool = cfg!(feature = "prof");

/// Whether profiling is on in this process (`opt.prof`).
#[inline(always)]
pub fn on() -> bool {
    BUILT && g().opts.prof
}

/// Whether sampled small objects are promoted to one page (2^lg_prof_sample > page size).
#[inline]
pub fn promotes() -> bool {
    g().opts.lg_prof_sample > crate::size_classes::LG_PAGE as usize
}

/// `prof.active`.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Bytes allocated since start-up, for interval dumps.
static INTERVAL_TOTAL: AtomicU64 = AtomicU64::new(0);
/// Set when mapped chunks reach a new high: the next allocation dumps.
static GDUMP_PENDING: AtomicBool = AtomicBool::new(false);
static CHUNKS_CURRENT: AtomicUsize = AtomicUsize::new(0);
static CHUNKS_HIGH: AtomicUsize = AtomicUsize::new(0);
/// `ln(1 - 2^-lg_prof_sample)`, as f64 bits.
static LN_KEEP: AtomicU64 = AtomicU64::new(0);

/// `prof.active`.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Writes `prof.active`.
pub fn set_active(v: bool) {
    ACTIVE.store(v, Ordering::Relaxed);
}

/// `prof.interval`: bytes between interval dumps, 0 when off.
pub fn interval() -> u64 {
    let lg = g().opts.lg_prof_interval;
    if on() && lg >= 0 {
        1u64.checked_shl(lg as u32).unwrap_or(0)
    } else {
        0
    }
}

/// Settles the profiler's state from the options. Called once at start-up, before any
/// allocation is served.
pub fn boot() {
    if !BUILT {
        return;
    }
    let o = &g().opts;
    ACTIVE.store(o.prof_active, Ordering::Relaxed);
    let rate = 1u64.checked_shl(o.lg_prof_sample as u32).unwrap_or(0);
    let keep = if rate <= 1 { 0.0 } else { ln(1.0 - 1.0 / rate as f64) };
    LN_KEEP.store(keep.to_bits(), Ordering::Relaxed);
    DUMPS_WATCH.store(o.prof && (o.lg_prof_interval >= 0 || o.prof_gdump), Ordering::Relaxed);
    register_entry_points(&crate::api::entry_points());
    register_entry_points(&crate::global_alloc_entry_points());
}

/// Arms the final dump at exit. Called once start-up is complete.
pub fn register_at_exit() {
    if !on() {
        return;
    }
    // SAFETY: at_exit is a plain extern "C" function that lives as long as the process.
    if unsafe { libc::atexit(at_exit) } != 0 {
        crate::say!("Error in atexit()");
        if g().opts.abort {
            // SAFETY: abort has no preconditions.
            unsafe { libc::abort() };
        }
    }
}

extern "C" fn at_exit() {
    busy(|| dump::auto(Kind::Final, g().opts.prof_leak));
}

/// Runs `f` with the calling thread marked busy, so allocations it makes are not sampled.
fn busy<R>(f: impl FnOnce() -> R) -> R {
    let s = thread::state();
    // SAFETY: the thread's own state.
    let was = unsafe { core::mem::replace(&mut (*s).prof_busy, true) };
    let r = f();
    // SAFETY: as above.
    unsafe { (*s).prof_busy = was };
    r
}

/// Per-thread profiler state, from base memory, recycled through a pool when threads exit.
pub struct Tdata {
    /// Bytes left until the next sample.
    left: u64,
    prn: u64,
    /// Bytes allocated not yet added to [`INTERVAL_TOTAL`].
    interval_pending: u64,
    cache: ctx::ThreadCache,
    pool_next: *mut Tdata,
}

struct Pool(*mut Tdata);
// SAFETY: the pooled Tdatas are base memory usable from any thread, under the pool lock.
unsafe impl Send for Pool {}
static POOL: Mutex<Pool> = Mutex::new(Pool(ptr::null_mut()));

/// The calling thread's profiler state, made on first use; null while the thread exits or
/// when out of memory.
fn tdata() -> *mut Tdata {
    let s = thread::state();
    // SAFETY: the thread's own state.
    let t = unsafe { (*s).prof };
    if !t.is_null() || thread::exiting() {
        return t;
    }
    let t = {
        let mut pool = POOL.lock();
        let t = pool.0;
        if !t.is_null() {
            // SAFETY: pooled Tdatas are live and ours once unlinked.
            pool.0 = unsafe { (*t).pool_next };
        }
        t
    };
    let t = if t.is_null() {
        let t = crate::base::alloc(core::mem::size_of::<Tdata>()) as *mut Tdata;
        if t.is_null() {
            return t;
        }
        // SAFETY: fresh base memory of the right size.
        unsafe { t.write(Tdata { left: 0, prn: 0, interval_pending: 0, cache: ctx::ThreadCache::EMPTY, pool_next: ptr::null_mut() }) };
        t
    } else {
        t
    };
    // SAFETY: t is ours; seeding from the stack address and the state's differs per thread.
    unsafe {
        (*t).prn = (&t as *const _ as u64) ^ ((s as u64).rotate_left(32)) ^ 0x5851f42d4c957f2d;
        (*t).left = next_threshold(&mut (*t).prn);
        (*t).interval_pending = 0;
        (*t).pool_next = ptr::null_mut();
        (*s).prof = t;
    }
    t
}

/// Thread exit: the thread's counts already live in the contexts; its state goes back to the
/// pool, cache and all (cached contexts stay valid for the next thread).
///
/// # Safety
/// `t` is the exiting thread's profiler state, already taken out of its thread state, and
/// not used by the caller afterwards.
pub unsafe fn thread_exit(t: *mut Tdata) {
    // SAFETY: per the contract, the Tdata is the caller's to give up.
    unsafe {
        if (*t).interval_pending != 0 {
            add_interval((*t).interval_pending);
            (*t).interval_pending = 0;
        }
        let mut pool = POOL.lock();
        (*t).pool_next = pool.0;
        pool.0 = t;
    }
}

/// One step of 2.2.1's 64-bit linear congruential generator; the top 53 bits.
fn prn53(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(1125899906842625).wrapping_add(1058392653243283975);
    *state >> 11
}

/// Bytes until the next sample: geometric with mean 2^lg_prof_sample, at least 1.
fn next_threshold(state: &mut u64) -> u64 {
    let keep = f64::from_bits(LN_KEEP.load(Ordering::Relaxed));
    if keep == 0.0 {
        return 1;
    }
    let r = prn53(state).max(1);
    let u = r as f64 * (1.0 / 9007199254740992.0);
    (ln(u) / keep) as u64 + 1
}

/// Natural logarithm of a positive finite `x`, without `libm`: x = m * 2^e with m near 1,
/// ln(m) = 2 atanh((m - 1) / (m + 1)) by its series.
pub fn ln(x: f64) -> f64 {
    const LN2: f64 = core::f64::consts::LN_2;
    const SQRT2: f64 = core::f64::consts::SQRT_2;
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if e == -1023 {
        // Subnormal: scale up first.
        return ln(x * (1u64 << 54) as f64) - 54.0 * LN2;
    }
    if m > SQRT2 {
        m /= 2.0;
        e += 1;
    }
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= z2;
        k += 2.0;
    }
    2.0 * sum + e as f64 * LN2
}

fn add_interval(n: u64) {
    let interval = interval();
    if interval == 0 {
        return;
    }
    let before = INTERVAL_TOTAL.fetch_add(n, Ordering::Relaxed);
    if before / interval != before.wrapping_add(n) / interval {
        busy(|| dump::auto(Kind::Interval, false));
    }
}

/// Set at start-up when interval or high-water dumps need every allocation's attention.
static DUMPS_WATCH: AtomicBool = AtomicBool::new(false);

/// The sampling decision for an allocation of `usize_` bytes (its usable size), made before
/// the allocation: the context to count it in, or null when it is not sampled. Also drives
/// interval and high-water dumps.
#[inline]
pub fn prepare(usize_: usize) -> *mut Ctx {
    let s = thread::state();
    // SAFETY: the thread's own state and Tdata. Counting down to the next sample is all most
    // allocations need.
    unsafe {
        let t = (*s).prof;
        if !t.is_null() && (usize_ as u64) < (*t).left && !DUMPS_WATCH.load(Ordering::Relaxed) {
            (*t).left -= usize_ as u64;
            return ptr::null_mut();
        }
    }
    prepare_slow(usize_)
}

/// Counts an allocation of `usize_` bytes toward the next sample when that is all it needs:
/// true when it is not sampled and needs no other attention (the caller then allocates it
/// without [`prepare`]); false when the caller must go through [`prepare`], the countdown
/// untouched.
#[inline]
pub fn sample_skips(usize_: usize) -> bool {
    let s = thread::state();
    // SAFETY: the thread's own state and Tdata.
    unsafe {
        let t = (*s).prof;
        if !t.is_null() && (usize_ as u64) < (*t).left && !DUMPS_WATCH.load(Ordering::Relaxed) {
            (*t).left -= usize_ as u64;
            return true;
        }
    }
    false
}

/// Undoes [`sample_skips`] for an allocation that then took the general path (which counts it
/// again through [`prepare`]).
#[inline]
pub fn sample_unskip(usize_: usize) {
    let s = thread::state();
    // SAFETY: sample_skips found the thread's Tdata.
    unsafe { (*(*s).prof).left += usize_ as u64 };
}

#[cold]
#[inline(never)]
fn prepare_slow(usize_: usize) -> *mut Ctx {
    let s = thread::state();
    // SAFETY: the thread's own state.
    if unsafe { (*s).prof_busy } {
        return ptr::null_mut();
    }
    let o = &g().opts;
    let t = tdata();
    if o.lg_prof_interval >= 0 {
        if t.is_null() {
            add_interval(usize_ as u64);
        } else {
            // SAFETY: the thread's own Tdata.
            unsafe {
                (*t).interval_pending += usize_ as u64;
                if (*t).interval_pending >= (interval() >> 6).max(1) {
                    let n = core::mem::replace(&mut (*t).interval_pending, 0);
                    add_interval(n);
                }
            }
        }
    }
    if GDUMP_PENDING.load(Ordering::Relaxed) && GDUMP_PENDING.swap(false, Ordering::Relaxed) {
        busy(|| dump::auto(Kind::Gdump, false));
    }
    if !active() {
        return ptr::null_mut();
    }
    let sampled = if o.lg_prof_sample == 0 {
        true
    } else if t.is_null() {
        // An exiting thread keeps no countdown: sample with the probability the countdown
        // would have (size / mean).
        let mut st = (s as u64) ^ INTERVAL_TOTAL.load(Ordering::Relaxed).rotate_left(17) ^ usize_ as u64;
        let r = prn53(&mut st);
        (r >> (53 - o.lg_prof_sample.min(53) as u32)) < usize_ as u64
    } else {
        // SAFETY: the thread's own Tdata.
        unsafe {
            let t = &mut *t;
            if (usize_ as u64) < t.left {
                t.left -= usize_ as u64;
                false
            } else {
                let mut carry = usize_ as u64 - t.left;
                let mut next = next_threshold(&mut t.prn);
                while carry >= next {
                    carry -= next;
                    next = next_threshold(&mut t.prn);
                }
                t.left = next - carry;
                true
            }
        }
    };
    if !sampled {
        return ptr::null_mut();
    }
    busy(|| {
        let mut bt = backtrace::Backtrace::new();
        backtrace::capture(&mut bt, 1 << o.lg_prof_bt_max);
        let limit = if o.lg_prof_tcmax < 0 { usize::MAX } else { 1usize.checked_shl(o.lg_prof_tcmax as u32).unwrap_or(usize::MAX) };
        if t.is_null() {
            ctx::lookup_global(bt.as_slice(), ctx::hash(bt.as_slice()))
        } else {
            // SAFETY: the thread's own Tdata.
            unsafe { (*t).cache.lookup(bt.as_slice(), limit) }
        }
    })
}

/// Counts the object `p` of `usize_` bytes, allocated after [`prepare`] returned `ctx`.
///
/// # Safety
/// `ctx` is null or what [`prepare`] returned (contexts are never freed).
pub unsafe fn record(p: *const u8, usize_: usize, ctx: *mut Ctx) {
    if ctx.is_null() || p.is_null() {
        return;
    }
    if samples::insert(p, ctx, usize_) {
        // SAFETY: per the contract, a live context.
        unsafe { (*ctx).add(usize_, g().opts.prof_accum) };
    }
}

/// `p` is being freed (or moved away from): uncounts it if it was sampled. `small`: it is a
/// small object in place (never sampled when small samples are promoted).
pub fn freed(p: *const u8, small: bool) {
    if small && promotes() {
        return;
    }
    if let Some((c, size)) = samples::remove(p) {
        // SAFETY: contexts are never freed.
        unsafe { (*c).sub(size) };
    }
}

/// Counts `n` chunks mapped, for `opt.prof_gdump`.
pub fn chunks_mapped(n: usize) {
    if on() && g().opts.prof_gdump {
        let cur = CHUNKS_CURRENT.fetch_add(n, Ordering::Relaxed) + n;
        if cur > CHUNKS_HIGH.fetch_max(cur, Ordering::Relaxed) && crate::global::is_initialized() {
            GDUMP_PENDING.store(true, Ordering::Relaxed);
        }
    }
}

/// Counts `n` chunks unmapped, for `opt.prof_gdump`.
pub fn chunks_unmapped(n: usize) {
    if on() && g().opts.prof_gdump {
        CHUNKS_CURRENT.fetch_sub(n, Ordering::Relaxed);
    }
}

/// `prof.dump`: Err when profiling is off or the file cannot be written.
///
/// # Safety
/// `path` is null or a NUL-terminated string.
pub unsafe fn dump_now(path: *const core::ffi::c_char) -> Result<(), dump::Failed> {
    if !on() {
        return Err(dump::Failed);
    }
    // SAFETY: forwarded contract.
    busy(|| unsafe { dump::manual(path) })
}

/// Every profiler lock, in acquisition order (fork handlers).
pub(crate) fn for_each_lock(f: &mut dyn FnMut(&crate::mutex::RawMutex)) {
    dump::for_each_lock(f);
    f(ctx::lock());
    samples::for_each_lock(f);
    f(POOL.raw());
}
