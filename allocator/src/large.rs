//! Large objects: page runs of an arena, from one page up to `arena_maxclass`.
//!
//! Mirrors jemalloc 2.2.1 `arena_malloc_large`, `arena_palloc`, `arena_dalloc_large` and
//! `arena_ralloc_large_{grow,shrink}`. A large run's first map entry holds its length, so
//! freeing and sizing are O(1); realloc grows into free pages after the run or gives back its
//! tail without moving. All under the owning arena's lock.

use crate::arena::{Arena, RunKind};
use crate::chunk_map::{Chunk, ALLOCATED, LARGE};
use crate::global::g;
use crate::size_classes::{LG_PAGE, PAGE};
use crate::stats;

/// # Safety
/// Arena lock held.
unsafe fn note_alloc(arena: &Arena, npages: usize) {
    stats::update(|| {
        // SAFETY: arena lock held; npages <= nlclasses.
        unsafe {
            let st = arena.state();
            st.stats.allocated_large += npages << LG_PAGE;
            st.stats.nmalloc_large += 1;
            st.stats.nrequests_large += 1;
            let ls = arena.lstats(npages);
            ls.nmalloc += 1;
            ls.nrequests += 1;
            ls.curruns += 1;
            ls.highruns = ls.highruns.max(ls.curruns);
        }
    });
}

/// # Safety
/// Arena lock held.
unsafe fn note_dalloc(arena: &Arena, npages: usize) {
    stats::update(|| {
        // SAFETY: arena lock held; npages <= nlclasses.
        unsafe {
            let st = arena.state();
            st.stats.allocated_large -= npages << LG_PAGE;
            st.stats.ndalloc_large += 1;
            let ls = arena.lstats(npages);
            ls.ndalloc += 1;
            ls.curruns -= 1;
        }
    });
}

/// A large object of `size` bytes (a page multiple); null when out of memory.
pub fn malloc(arena: &Arena, size: usize, zero: bool) -> *mut u8 {
    let npages = size >> LG_PAGE;
    arena.lock.lock();
    // SAFETY: arena lock held.
    let p = unsafe { arena.run_alloc(npages, RunKind::Large, zero) };
    if !p.is_null() {
        // SAFETY: arena lock held.
        unsafe { note_alloc(arena, npages) };
    }
    arena.unlock();
    p
}

/// A large object of `size` bytes (a page multiple) aligned to `alignment` (> page).
pub fn malloc_aligned(arena: &Arena, size: usize, alignment: usize, zero: bool) -> *mut u8 {
    let g = g();
    let npages = size >> LG_PAGE;
    let total = npages + ((alignment - PAGE) >> LG_PAGE);
    arena.lock.lock();
    // SAFETY: arena lock held; the run is ours until we free its lead and trail.
    let p = unsafe {
        let run = arena.run_alloc(total, RunKind::Large, zero);
        if run.is_null() {
            arena.unlock();
            return run;
        }
        let c = Chunk::containing(run, g.chunk_mask);
        let page = c.page_of(run);
        let lead = ((alignment - (run as usize & (alignment - 1))) & (alignment - 1)) >> LG_PAGE;
        let trail = total - lead - npages;
        let obj = page + lead;
        if lead > 0 {
            // The object's pages become a run of their own; the lead is freed.
            (*c.entry(obj, g.header_pages)).set(ALLOCATED | LARGE, total - lead);
            arena.run_dalloc(c, page, lead, true);
        }
        if trail > 0 {
            arena.run_trim_tail(c, obj, total - lead, npages);
        }
        c.page_addr(obj)
    };
    // SAFETY: arena lock held.
    unsafe { note_alloc(arena, npages) };
    arena.unlock();
    p
}

/// Frees the large object at page `page` of chunk `c`.
///
/// # Safety
/// The object is a live large object of `arena`.
pub unsafe fn dalloc(arena: &Arena, c: Chunk, page: usize) {
    arena.lock.lock();
    // SAFETY: arena lock held; forwarded contract.
    unsafe {
        dalloc_locked(arena, c, page);
        arena.maybe_purge();
    }
    arena.unlock();
}

/// Frees the large object at page `page` of chunk `c` under a lock the caller holds (the
/// thread cache flushes many at once); the caller purges when done.
///
/// # Safety
/// Arena lock held; the object is a live large object of `arena`.
pub unsafe fn dalloc_locked(arena: &Arena, c: Chunk, page: usize) {
    // SAFETY: arena lock held; the run head holds the length.
    unsafe {
        let npages = (*c.entry(page, g().header_pages)).value();
        arena.run_dalloc(c, page, npages, true);
        note_dalloc(arena, npages);
    }
}

/// Resizes the large object at page `page` of `c` to `new_size` bytes (a page multiple) in
/// place: shrinks by freeing its tail, grows into free pages after it. Returns whether it did.
///
/// # Safety
/// The object is a live large object of `arena` of `old_size` bytes.
pub unsafe fn ralloc_in_place(arena: &Arena, c: Chunk, page: usize, old_size: usize, new_size: usize, zero: bool) -> bool {
    let (old, new) = (old_size >> LG_PAGE, new_size >> LG_PAGE);
    if old == new {
        return true;
    }
    arena.lock.lock();
    // SAFETY: arena lock held; the run is the caller's live object.
    let ok = unsafe {
        if new < old {
            arena.run_trim_tail(c, page, old, new);
            true
        } else {
            arena.run_grow(c, page, old, new - old, zero)
        }
    };
    if ok {
        // SAFETY: arena lock held.
        unsafe {
            note_dalloc(arena, old);
            note_alloc(arena, new);
            stats::update(|| arena.state().stats.nrequests_large -= 1);
            if new < old {
                arena.maybe_purge();
            }
        }
    }
    arena.unlock();
    ok
}
