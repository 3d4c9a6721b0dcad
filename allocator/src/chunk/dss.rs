//! The dss chunk source: chunks carved from the data segment, grown with sbrk(2).
//!
//! Mirrors jemalloc 2.2.1 `chunk_dss.c` (`--enable-dss`, Cargo feature `dss`). The manual's
//! IMPLEMENTATION NOTES: with dss, chunks come from sbrk first and from mmap when sbrk fails.
//! A request grows the break by the chunk-alignment padding plus its size; the padding is
//! filed as a free extent, not lost. Freed ranges are purged (`MADV_DONTNEED`: the data
//! segment is private anonymous memory, so they read as zero) and kept for reuse, lowest
//! address first; a free range at the top of the segment shrinks the break instead. A huge
//! object grows in place into the free range after it, or by growing the break when it ends
//! at the top ([`grow_in_place`]).
//!
//! The dss is `[base, max)`: `base` is the break when this source was first used, `max` the
//! end of what it took. Another user of sbrk in the process (the C library's malloc, when this
//! allocator is not the process's malloc) may own ranges inside it; those are never freed
//! here, and the break is shrunk only while it is still where this source left it.
//!
//! Lock: [`lock`] (the dss lock) guards the bounds and the free extents, and serialises this
//! source's sbrk calls (sbrk is not thread-safe); it is held across sbrk, a short system
//! call, and never across the purge. Order: the dss lock, then the extent node pool.
//! [`contains`] reads the bounds without it.

use super::extents::{Extents, Spare};
use crate::mutex::{Mutex, RawMutex};
use crate::pages;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

struct State {
    /// The first break seen; 0 until first use.
    base: usize,
    /// The end of what this source took.
    max: usize,
    free: Extents,
}

static STATE: Mutex<State> = Mutex::new(State { base: 0, max: 0, free: Extents::new() });
/// Copies of `base` and `max` for [`contains`]; `MAX` only moves under the lock.
static BASE: AtomicUsize = AtomicUsize::new(0);
static MAX: AtomicUsize = AtomicUsize::new(0);

/// The dss lock, for the fork handlers.
pub(crate) fn lock() -> &'static RawMutex {
    STATE.raw()
}

/// Moves the break by `incr`; the old break, or `None` when the system refuses.
fn sbrk(incr: isize) -> Option<usize> {
    // SAFETY: the dss lock serialises this allocator's sbrk calls; sbrk itself has no
    // memory-safety preconditions.
    let p = unsafe { libc::sbrk(incr) };
    (p as isize != -1).then_some(p as usize)
}

/// Whether `p` lies in the dss.
#[inline]
pub fn contains(p: *const u8) -> bool {
    let p = p as usize;
    p >= BASE.load(Ordering::Relaxed) && p < MAX.load(Ordering::Relaxed)
}

/// `[base, max)`: the dss as far as this source took it (empty before first use).
pub fn bounds() -> (usize, usize) {
    let st = STATE.lock();
    (st.base, st.max)
}

/// Bytes of the dss free for reuse.
pub fn free_bytes() -> usize {
    STATE.lock().free.total()
}

/// `size` bytes aligned to `align`, reading as zero, from the free extents or by growing the
/// break; null when sbrk fails.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    if size > isize::MAX as usize {
        return ptr::null_mut();
    }
    // The alignment padding below a new range, or the third piece of a split, needs a node.
    let mut spare = Spare::take();
    let mut st = STATE.lock();
    if st.base == 0 {
        let Some(brk) = sbrk(0) else { return ptr::null_mut() };
        st.base = brk;
        st.max = brk;
        BASE.store(brk, Ordering::Relaxed);
        MAX.store(brk, Ordering::Relaxed);
    }
    if let Some(p) = st.free.take(size, align, &mut spare) {
        return p as *mut u8;
    }
    loop {
        let Some(cur) = sbrk(0) else { return ptr::null_mut() };
        if cur < st.base {
            // Someone shrank the break below where this source started.
            return ptr::null_mut();
        }
        let start = (cur + align - 1) & !(align - 1);
        let Some(end) = start.checked_add(size) else { return ptr::null_mut() };
        if start < cur || end - cur > isize::MAX as usize {
            return ptr::null_mut();
        }
        let Some(prev) = sbrk((end - cur) as isize) else { return ptr::null_mut() };
        if prev != cur {
            // Another thread of the program moved the break in between: the memory taken is
            // misaligned. Give it back if the break is still its end, and try again.
            if sbrk(0) == Some(prev + (end - cur)) {
                sbrk(-((end - cur) as isize));
            }
            continue;
        }
        if start != cur && !st.free.insert(cur, start - cur, &mut spare) {
            // No node for the padding: it stays unused.
        }
        st.max = st.max.max(end);
        MAX.store(st.max, Ordering::Relaxed);
        return start as *mut u8;
    }
}

/// Extends `[p, p + old)`, a range of the dss, to `new` bytes where it lies: into the free range
/// right after it, or by growing the break when it ends at the top. The new part reads as zero.
pub fn grow_in_place(p: *mut u8, old: usize, new: usize) -> bool {
    let (end, more) = (p as usize + old, new - old);
    let mut st = STATE.lock();
    if st.free.take_at(end, more) {
        return true;
    }
    if end != st.max || more > isize::MAX as usize || sbrk(0) != Some(end) {
        return false;
    }
    if sbrk(more as isize) != Some(end) {
        return false;
    }
    st.max = end + more;
    MAX.store(st.max, Ordering::Relaxed);
    true
}

/// Takes back `[p, p + size)` if it lies in the dss; false if it is not the dss's.
pub fn dealloc(p: *mut u8, size: usize) -> bool {
    if !contains(p) {
        return false;
    }
    pages::purge(p, size);
    let mut spare = Spare::take();
    let mut st = STATE.lock();
    if st.free.insert(p as usize, size, &mut spare) {
        let max = st.max;
        if let Some(start) = st.free.peek_ending_at(max) {
            if sbrk(0) == Some(max) && sbrk(-((max - start) as isize)).is_some() {
                st.free.pop_ending_at(max);
                st.max = start;
                MAX.store(start, Ordering::Relaxed);
            }
        }
    }
    true
}

/// The free ranges, lowest first (for tests).
pub fn for_each_free(f: impl FnMut(usize, usize)) {
    STATE.lock().free.for_each(f);
}
