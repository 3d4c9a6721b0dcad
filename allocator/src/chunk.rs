//! Chunks: chunk-aligned runs of 2^lg_chunk bytes from the OS, and the process-wide chunk
//! statistics.
//!
//! Mirrors jemalloc 2.2.1 `chunk.c` / `chunk_mmap.c`. Chunks are mapped with mmap, aligned by
//! over-mapping and trimming when the first try lands unaligned, and registered in the chunk
//! registry ([`crate::rtree`]) so any pointer's owner can be found. No lock of its own: the
//! counters are atomics and mmap is thread-safe.

use crate::global::g;
use crate::pages;
use crate::size_classes::PAGE;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// `stats.chunks.current`, `.total`, `.high` in chunks.
pub static CURRENT: AtomicUsize = AtomicUsize::new(0);
pub static TOTAL: AtomicUsize = AtomicUsize::new(0);
pub static HIGH: AtomicUsize = AtomicUsize::new(0);
/// Where the last mapping ended: the next try starts there, which is usually aligned.
static NEXT_HINT: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());

/// Maps `size` bytes aligned to `align` (a power-of-two multiple of the page size).
pub fn map_aligned(size: usize, align: usize) -> *mut u8 {
    let hint = NEXT_HINT.load(Ordering::Relaxed);
    let p = pages::map(hint, size);
    if p.is_null() {
        return p;
    }
    if p as usize & (align - 1) == 0 {
        NEXT_HINT.store(p.wrapping_add(size), Ordering::Relaxed);
        return p;
    }
    pages::unmap(p, size);
    let Some(over) = size.checked_add(align - PAGE) else { return ptr::null_mut() };
    let p = pages::map(ptr::null_mut(), over);
    if p.is_null() {
        return p;
    }
    let lead = (align - (p as usize & (align - 1))) & (align - 1);
    let trail = over - lead - size;
    if lead != 0 {
        pages::unmap(p, lead);
    }
    let aligned = p.wrapping_add(lead);
    if trail != 0 {
        pages::unmap(aligned.wrapping_add(size), trail);
    }
    NEXT_HINT.store(aligned.wrapping_add(size), Ordering::Relaxed);
    aligned
}

/// Counts `n` chunks mapped.
pub fn note_mapped(n: usize) {
    if crate::stats::STATS {
        let cur = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
        TOTAL.fetch_add(n, Ordering::Relaxed);
        HIGH.fetch_max(cur, Ordering::Relaxed);
    }
}

/// Counts `n` chunks unmapped.
pub fn note_unmapped(n: usize) {
    if crate::stats::STATS {
        CURRENT.fetch_sub(n, Ordering::Relaxed);
    }
}

/// A fresh arena chunk, registered in the chunk registry; null when out of memory.
pub fn alloc_arena_chunk() -> *mut u8 {
    let g = g();
    let p = map_aligned(g.sc.chunk_size, g.sc.chunk_size);
    if p.is_null() {
        return p;
    }
    if !g.rtree.set(p as usize, p as usize) {
        pages::unmap(p, g.sc.chunk_size);
        return ptr::null_mut();
    }
    note_mapped(1);
    p
}

/// Unregisters and unmaps an arena chunk.
pub fn release_arena_chunk(p: *mut u8) {
    let g = g();
    g.rtree.set(p as usize, 0);
    pages::unmap(p, g.sc.chunk_size);
    note_unmapped(1);
}
