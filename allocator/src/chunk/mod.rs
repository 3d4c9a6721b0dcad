//! Chunks: chunk-aligned runs of 2^lg_chunk bytes, from the chunk sources, and the
//! process-wide chunk statistics.
//!
//! Mirrors jemalloc 2.2.1 `chunk.c`. The sources, in the manual's order of preference: the
//! swap files a program gave through `swap.fds` ([`swap`], Cargo feature `swap`), the data
//! segment grown with sbrk ([`dss`], feature `dss`), and anonymous mmap ([`mmap`]). With swap
//! files in use and `opt.overcommit` false, nothing but the files serves chunks.
//!
//! Entry points: [`alloc`] and [`dealloc`] for any chunk-aligned range (the chunk cache,
//! [`crate::chunk_cache`], sits above them and hands out arena chunks and huge objects);
//! [`purge`] for free pages inside a chunk; [`grow_in_place`] and
//! [`relocate`] for huge objects. Every range [`alloc`] returns reads as zero: recycled
//! ranges are zeroed when they are freed. No lock here: each source guards its own state, and
//! the counters are atomics.

#[cfg(any(feature = "swap", feature = "dss"))]
pub(crate) mod extents;
pub mod mmap;

#[cfg(feature = "dss")]
pub mod dss;
#[cfg(feature = "swap")]
pub mod swap;

use crate::global::g;
use crate::pages;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// `stats.chunks.current`, `.total`, `.high` in chunks.
pub static CURRENT: AtomicUsize = AtomicUsize::new(0);
pub static TOTAL: AtomicUsize = AtomicUsize::new(0);
pub static HIGH: AtomicUsize = AtomicUsize::new(0);

/// `size` bytes (a multiple of the chunk size) aligned to `align` (a power of two, at least
/// the chunk size), reading as zero; null when no source can serve them.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    #[cfg(feature = "swap")]
    if swap::enabled() {
        let p = swap::alloc(size, align);
        if !p.is_null() || !anonymous_allowed() {
            return p;
        }
    }
    #[cfg(feature = "dss")]
    {
        let p = dss::alloc(size, align);
        if !p.is_null() {
            return p;
        }
    }
    mmap::map_aligned(size, align)
}

/// Whether fresh chunks come from anonymous mappings alone: no swap files in use, and no dss
/// (sbrk), which [`alloc`] tries first when the feature is built in.
pub fn mmap_only() -> bool {
    #[cfg(feature = "swap")]
    if swap::enabled() {
        return false;
    }
    !cfg!(feature = "dss")
}

/// Whether anonymous memory may serve chunks: not once swap files are in use with
/// `opt.overcommit` false (cached anonymous ranges are then not handed out either).
pub fn anonymous_allowed() -> bool {
    #[cfg(feature = "swap")]
    if swap::enabled() && !g().opts.overcommit {
        return false;
    }
    true
}

/// Gives back `[p, p + size)`, a chunk-aligned range [`alloc`] returned (or part of one) that
/// nobody uses any more, to the source it came from.
pub fn dealloc(p: *mut u8, size: usize) {
    #[cfg(feature = "swap")]
    if swap::dealloc(p, size) {
        return;
    }
    #[cfg(feature = "dss")]
    if dss::dealloc(p, size) {
        return;
    }
    mmap::unmap(p, size);
}

/// [`dealloc`] for a range counted in `stats.chunks.current`: gives it back and uncounts its
/// chunks.
pub fn unmap(p: *mut u8, size: usize) {
    dealloc(p, size);
    note_unmapped(size >> g().sc.lg_chunk);
}

/// Whether `p` lies in an anonymous mapping of the mmap source: its pages can be extended by
/// mapping next to them and moved with mremap.
pub fn from_mmap(p: *const u8) -> bool {
    #[cfg(feature = "swap")]
    if swap::contains(p) {
        return false;
    }
    #[cfg(feature = "dss")]
    if dss::contains(p) {
        return false;
    }
    let _ = p;
    true
}

/// Gives the physical memory behind free pages `[p, p + size)` of a chunk back; they read as
/// zero afterwards.
pub fn purge(p: *mut u8, size: usize) {
    #[cfg(feature = "swap")]
    if swap::contains(p) {
        swap::zero(p as usize, size);
        return;
    }
    pages::purge(p, size);
}

/// Gives the physical memory behind each range `(p, size)` of free chunk pages back, as
/// [`purge`] does, in as few system calls as the kernel allows ([`pages::purge_many`]; at most
/// [`pages::PURGE_MANY`] ranges). Returns the calls made.
pub fn purge_many(ranges: &[(*mut u8, usize)]) -> usize {
    debug_assert!(ranges.len() <= pages::PURGE_MANY);
    #[cfg(feature = "swap")]
    if ranges.iter().any(|&(p, _)| swap::contains(p)) {
        let mut rest = [(core::ptr::null_mut(), 0); pages::PURGE_MANY];
        let mut n = 0;
        let mut calls = 0;
        for &(p, size) in ranges {
            if swap::contains(p) {
                swap::zero(p as usize, size);
                calls += 1;
            } else {
                rest[n] = (p, size);
                n += 1;
            }
        }
        return calls + pages::purge_many(&rest[..n]);
    }
    pages::purge_many(ranges)
}

/// Extends the range `[p, p + old)` (from [`alloc`]) to `new` bytes where it lies, if the
/// space after it is free in the same source. The new pages read as zero.
pub fn grow_in_place(p: *mut u8, old: usize, new: usize) -> bool {
    #[cfg(feature = "swap")]
    if swap::contains(p) {
        return swap::grow_in_place(p, old, new);
    }
    #[cfg(feature = "dss")]
    if dss::contains(p) {
        return dss::grow_in_place(p, old, new);
    }
    pages::map_exactly_at(p.wrapping_add(old), new - old)
}

/// Moves the first `len` bytes of the range `[old, old + old_size)` to `new` (a fresh range of
/// at least `old_size` bytes from [`alloc`]) and gives the old range back: anonymous pages
/// move with mremap, without copying; other sources' pages are copied.
///
/// # Safety
/// Both ranges are the caller's; nothing else uses the old one.
pub unsafe fn relocate(old: *mut u8, old_size: usize, new: *mut u8) {
    if from_mmap(old) && from_mmap(new) && pages::remap_to(old, old_size, new, old_size) {
        return;
    }
    // SAFETY: both ranges are the caller's and at least old_size bytes; they do not overlap.
    unsafe { ptr::copy_nonoverlapping(old, new, old_size) };
    dealloc(old, old_size);
}

/// Counts `n` chunks handed out.
pub fn note_mapped(n: usize) {
    crate::prof::chunks_mapped(n);
    if crate::stats::STATS {
        let cur = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
        TOTAL.fetch_add(n, Ordering::Relaxed);
        HIGH.fetch_max(cur, Ordering::Relaxed);
    }
}

/// Counts `n` chunks given back.
pub fn note_unmapped(n: usize) {
    crate::prof::chunks_unmapped(n);
    if crate::stats::STATS {
        CURRENT.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Calls `f` with each chunk-source lock, in acquisition order (for the fork handlers).
pub(crate) fn for_each_lock(f: &mut dyn FnMut(&crate::mutex::RawMutex)) {
    #[cfg(feature = "swap")]
    swap::for_each_lock(f);
    #[cfg(feature = "dss")]
    f(dss::lock());
    #[cfg(any(feature = "swap", feature = "dss"))]
    f(extents::lock());
    let _ = f;
}
