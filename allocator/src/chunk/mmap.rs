//! The mmap chunk source: chunk-aligned anonymous mappings, the source every build has.
//!
//! Mirrors jemalloc 2.2.1 `chunk_mmap.c`. A mapping is tried at the address where the last one
//! ended, which is usually aligned; otherwise the request is over-mapped and trimmed to its
//! alignment. Entry points: [`map_aligned`], [`unmap`]. No lock: mmap is thread-safe and the
//! hint is an atomic that is only ever a guess.

use crate::pages;
use crate::size_classes::PAGE;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Where the last mapping ended: the next try starts there, which is usually aligned.
static NEXT_HINT: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());

/// Maps `size` bytes aligned to `align` (a power-of-two multiple of the page size); null when
/// the system refuses. The pages read as zero.
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

/// Gives a range this source mapped back to the system.
pub fn unmap(p: *mut u8, size: usize) {
    pages::unmap(p, size);
}
