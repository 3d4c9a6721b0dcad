//! Arenas: chunks carved into page runs, the home of small bins and large objects.
//!
//! Mirrors jemalloc 2.2.1 `arena.c` (run half; bins are in [`crate::bin`], large objects in
//! [`crate::large`]). An arena owns chunks; free page runs are indexed by chunk and size class
//! ([`crate::free_runs`]), so a request takes a dirty run if one fits, else a clean one, from
//! the lowest-numbered chunk that has one, the smallest class that fits within it (2.2.1 takes
//! the best fit anywhere in the arena). Freed runs coalesce with free neighbours through the
//! page map. Dirty (freed, not yet purged) pages are counted and purged ([`chunk::purge`]:
//! `madvise`), highest chunks first, under the `opt.lg_dirty_mult` rule, extended by what the
//! arena is about to reuse, purging only the excess while it churns (see
//! [`Arena::maybe_purge`]). While the arena churns, a chunk that empties stays in the arena's
//! runs, its pages purged as any other's; an empty chunk of an arena that does not churn is
//! kept aside while the dirty allowance has room and unmapped, oldest first, when it has not.
//!
//! Locking: [`Arena::lock`] guards everything in [`ArenaState`] and the page maps of the
//! arena's chunks. Lock order is bin lock, then arena lock. The lock is dropped around mmap,
//! munmap and madvise: chunks to unmap are queued and unmapped by [`Arena::unlock`].

use crate::bin::Bin;
use crate::chunk;
use crate::chunk_cache;
use crate::chunk_map::{Chunk, ChunkHeader, MapEntry, ALLOCATED, DIRTY, LARGE, SMALL};
use crate::global::g;
use crate::mutex::RawMutex;
use crate::free_runs::{FreeRuns, CLEAN_RUNS, DIRTY_RUNS};
use crate::size_classes::LG_PAGE;
use crate::stats::{self, ArenaStats, LargeStats};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Most arenas `opt.narenas` may ask for.
pub const MAX_ARENAS: usize = 1024;
/// Runs a purge takes out of the free lists before it drops the lock to madvise them, in one
/// system call where the kernel allows ([`chunk::purge_many`]).
const PURGE_BATCH: usize = crate::pages::PURGE_MANY;

/// What a run backs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Large,
    Small(usize),
}

/// One arena. Lives in base memory for the life of the process.
#[repr(C, align(64))]
pub struct Arena {
    pub ind: usize,
    /// Threads bound to this arena (`stats.arenas.<i>.nthreads`).
    pub nthreads: AtomicUsize,
    pub lock: RawMutex,
    state: UnsafeCell<ArenaState>,
    /// `nbins` bins, each with its own lock.
    pub bins: *mut Bin,
}

/// The arena's run-level state (arena lock).
pub struct ArenaState {
    /// Free runs, clean (purged or never used) and dirty ones. Runs are all clean or all
    /// dirty: neighbours coalesce only when they match, and within a chunk allocation takes
    /// dirty runs first so that clean pages stay unfaulted.
    runs: FreeRuns,
    /// Empty chunks kept to avoid mapping churn, newest first, linked through
    /// `next`/`prev` (their dirty pages count in `ndirty`).
    empty_head: *mut ChunkHeader,
    empty_tail: *mut ChunkHeader,
    /// Chunks in `runs` with no run in use: those a churning arena kept when they emptied, and
    /// one just attached for a run. [`Arena::merge_an_empty_chunk`] looks for none while
    /// there are none.
    idle_chunks: usize,
    /// Pages recently taken for runs, decayed at every run allocation and free by 1/64 per
    /// thread bound to the arena: the dirty memory the arena's own churn is about to reuse.
    recent_pages: usize,
    /// Emptied chunks to unmap once the lock is dropped, linked through `next`.
    to_unmap: *mut ChunkHeader,
    /// Pages in allocated runs.
    pub nactive: usize,
    /// Dirty pages in free runs and in cached empty chunks.
    pub ndirty: usize,
    pub stats: ArenaStats,
    /// `nlclasses + 1` entries, indexed by page count.
    pub lstats: *mut LargeStats,
}

// SAFETY: all mutable state is behind the arena lock or the bin locks.
unsafe impl Sync for Arena {}
// SAFETY: as above.
unsafe impl Send for Arena {}

impl Arena {
    /// Makes arena `ind` in base memory; null when out of memory.
    pub fn create(ind: usize) -> *mut Arena {
        let g = g();
        let a = crate::base::alloc(core::mem::size_of::<Arena>()) as *mut Arena;
        let lstats = crate::base::alloc((g.sc.nlclasses + 1) * core::mem::size_of::<LargeStats>()) as *mut LargeStats;
        let bins = crate::base::alloc(g.sc.nbins * core::mem::size_of::<Bin>()) as *mut Bin;
        if a.is_null() || lstats.is_null() || bins.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `a` and `bins` are fresh, zeroed, suitably aligned base memory of the right
        // sizes; writing whole values initialises them.
        unsafe {
            a.write(Arena {
                ind,
                nthreads: AtomicUsize::new(0),
                lock: RawMutex::new(),
                state: UnsafeCell::new(ArenaState {
                    runs: FreeRuns::new(g.max_run_pages),
                    empty_head: ptr::null_mut(),
                    empty_tail: ptr::null_mut(),
                    idle_chunks: 0,
                    recent_pages: 0,
                    to_unmap: ptr::null_mut(),
                    nactive: 0,
                    ndirty: 0,
                    stats: ArenaStats::default(),
                    lstats,
                }),
                bins,
            });
            for i in 0..g.sc.nbins {
                bins.add(i).write(Bin::new(i));
            }
        }
        a
    }

    /// The run-level state.
    ///
    /// # Safety
    /// The caller holds `self.lock`.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub unsafe fn state(&self) -> &mut ArenaState {
        // SAFETY: the caller holds the arena lock, which guards the state.
        unsafe { &mut *self.state.get() }
    }

    /// Bin `i` of this arena.
    #[inline(always)]
    pub fn bin(&self, i: usize) -> &Bin {
        // SAFETY: bins has nbins entries, initialised in `create`, and i < nbins.
        unsafe { &*self.bins.add(i) }
    }

    /// Drops the arena lock, then unmaps the chunks that emptied while it was held.
    pub fn unlock(&self) {
        // SAFETY: the caller holds the lock (this is its unlock).
        let mut c = core::mem::replace(unsafe { &mut self.state().to_unmap }, ptr::null_mut());
        self.lock.unlock();
        while !c.is_null() {
            // SAFETY: queued chunks are ours alone: empty, off every list.
            let next = unsafe { (*c).next };
            chunk_cache::release_arena_chunk(c.cast());
            c = next;
        }
    }

    // --- the free-run index ------------------------------------------------------------

    /// Files the free run headed by `e`.
    ///
    /// # Safety
    /// Arena lock held; `e` heads a free run of `npages` pages, filed nowhere, in a chunk
    /// attached to the index.
    #[inline]
    unsafe fn avail_insert(&self, e: *mut MapEntry, npages: usize) {
        // SAFETY: forwarded contract; the lock guards the index.
        unsafe { self.state().runs.insert(e, npages) }
    }

    /// Files the free run of `len` pages at `page` of `c`: its first and last page map entries
    /// say its length and `flag` (DIRTY or 0), and it joins the free-run index.
    ///
    /// # Safety
    /// Arena lock held; the pages are free, in a chunk of this arena, on no list.
    unsafe fn file_free_run(&self, c: Chunk, page: usize, len: usize, flag: usize) {
        let hp = g().header_pages;
        // SAFETY: per the contract; both pages lie in the chunk.
        unsafe {
            let first = c.entry(page, hp);
            (*c.entry(page + len - 1, hp)).set(flag, len);
            (*first).set(flag, len);
            self.avail_insert(first, len);
        }
    }

    /// # Safety
    /// Arena lock held; `e` heads a free run of `npages` pages that is filed.
    #[inline]
    unsafe fn avail_remove(&self, e: *mut MapEntry, npages: usize) {
        // SAFETY: forwarded contract.
        unsafe { self.state().runs.remove(e, npages) }
    }

    // --- runs -------------------------------------------------------------------------

    /// Allocates a run of `npages` pages for `kind`, zeroing its dirty pages if `zero`.
    /// Returns null when out of memory. May drop and retake the lock to map a chunk.
    ///
    /// # Safety
    /// Arena lock held.
    pub unsafe fn run_alloc(&self, npages: usize, kind: RunKind, zero: bool) -> *mut u8 {
        let g = g();
        loop {
            // SAFETY: lock held (caller).
            let fit = unsafe {
                let mut fit = self.state().runs.first_fit_in(DIRTY_RUNS, npages);
                if fit.is_none() && self.merge_an_empty_chunk() {
                    fit = self.state().runs.first_fit_in(DIRTY_RUNS, npages);
                }
                fit.or_else(|| self.state().runs.first_fit_in(CLEAN_RUNS, npages))
            };
            if let Some((e, len)) = fit {
                // SAFETY: e heads a filed free run of `len` pages.
                unsafe {
                    let c = Chunk::containing(e.cast(), g.chunk_mask);
                    let page = c.page_of_entry(e, g.header_pages);
                    self.avail_remove(e, len);
                    return self.run_take(c, page, len, npages, kind, zero);
                }
            }
            // SAFETY: lock held.
            if !unsafe { self.add_chunk(npages) } {
                return ptr::null_mut();
            }
        }
    }

    /// Gives the arena a free chunk for a run of `npages` pages: the newest of its own empty
    /// ones kept aside, or one from the chunk cache or a new mapping, with the lock dropped. A recycled
    /// chunk keeps resident only the pages the run needs, filed as a dirty run (they hold old
    /// data; calloc zeroes dirty pages); the rest are purged and filed clean, so that an arena
    /// that needs a page does not take on a whole chunk of resident memory.
    ///
    /// # Safety
    /// Arena lock held.
    unsafe fn add_chunk(&self, npages: usize) -> bool {
        let g = g();
        let hp = g.header_pages;
        // SAFETY: lock held.
        let st = unsafe { self.state() };
        let empty = st.empty_head;
        if !empty.is_null() {
            let c = Chunk(empty);
            // SAFETY: the chunks of the empty list are empty chunks of ours, not attached,
            // whose maps are one dirty run.
            unsafe {
                if !st.runs.attach(c) {
                    return false;
                }
                self.empty_remove(empty);
                st.idle_chunks += 1;
                self.avail_insert(c.entry(hp, hp), g.max_run_pages);
            }
            return true;
        }
        self.lock.unlock();
        let fresh = chunk_cache::alloc_arena_chunk();
        let keep = npages.min(g.max_run_pages);
        if let Some((p, false)) = fresh {
            let c = Chunk(p.cast());
            // SAFETY: a recycled chunk of ours: its header pages held another object's data;
            // the header and the page map start zeroed, as in a fresh chunk.
            unsafe { ptr::write_bytes(p, 0, hp << LG_PAGE) };
            if keep < g.max_run_pages {
                chunk::purge(c.page_addr(hp + keep), (g.max_run_pages - keep) << LG_PAGE);
            }
        }
        self.lock.lock();
        let Some((p, zeroed)) = fresh else { return false };
        let c = Chunk(p.cast());
        // SAFETY: p is a chunk of ours with a zeroed header; its pages read as zero if
        // `zeroed`; otherwise the first `keep` hold old data and the rest were purged. Lock
        // held again.
        unsafe {
            (*c.0).arena = self as *const Arena as *mut Arena;
            let st = self.state();
            if !st.runs.attach(c) {
                // Out of base memory for the index: the chunk goes back unused.
                (*c.0).next = st.to_unmap;
                st.to_unmap = c.0;
                return false;
            }
            st.stats.mapped += g.sc.chunk_size;
            st.idle_chunks += 1;
            let dirty = if zeroed { 0 } else { keep };
            if dirty > 0 {
                st.ndirty += dirty;
                (*c.0).ndirty = dirty;
                self.file_free_run(c, hp, dirty, DIRTY);
            }
            let clean = g.max_run_pages - dirty;
            if clean > 0 {
                self.file_free_run(c, hp + dirty, clean, 0);
            }
        }
        true
    }

    /// Takes the first `npages` of the free run of `len` pages at `page` (already out of its
    /// index), returning the rest to the index.
    ///
    /// # Safety
    /// Arena lock held; the run is free, out of the index, and `npages <= len`.
    unsafe fn run_take(&self, c: Chunk, page: usize, len: usize, npages: usize, kind: RunKind, zero: bool) -> *mut u8 {
        let g = g();
        let hp = g.header_pages;
        let run = c.page_addr(page);
        // SAFETY: pages page..page+len are in the chunk and owned by this (locked) arena.
        unsafe {
            let flag = (*c.entry(page, hp)).bits & DIRTY;
            let dirty_taken = if flag != 0 { npages } else { 0 };
            if zero && flag != 0 {
                ptr::write_bytes(run, 0, npages << LG_PAGE);
            }
            match kind {
                // A large run's head holds its length and its last page marks it allocated
                // for the free neighbour after it; interior entries are never read.
                RunKind::Large => {
                    (*c.entry(page + npages - 1, hp)).set(ALLOCATED | LARGE, 0);
                    (*c.entry(page, hp)).set(ALLOCATED | LARGE, npages);
                }
                // Every page of a small run leads `free` to the run header.
                RunKind::Small(bin) => {
                    for p in page..page + npages {
                        let e = c.entry(p, hp);
                        (*e).set(ALLOCATED | SMALL, bin);
                        (*e).link[0] = run.cast();
                    }
                }
            }
            if len > npages {
                self.file_free_run(c, page + npages, len - npages, flag);
            }
            let st = self.state();
            st.ndirty -= dirty_taken;
            (*c.0).ndirty -= dirty_taken;
            if (*c.0).nused == 0 {
                st.idle_chunks -= 1;
            }
            (*c.0).nused += npages;
            st.recent_pages = st.recent_pages - self.recent_decay(st.recent_pages) + npages;
            self.add_active(npages as isize);
        }
        run
    }

    /// What `recent_pages` loses at each run taken or freed: 1/64 for each thread bound to
    /// the arena, so that the allowance covers the same stretch of each thread's churn however
    /// many share the arena.
    #[inline]
    fn recent_decay(&self, recent: usize) -> usize {
        recent / (64 * self.nthreads.load(Ordering::Relaxed).max(1))
    }

    /// Grows the large run at `page` of `old` pages by `extra` pages in place, if the pages
    /// after it are free. Returns whether it did.
    ///
    /// # Safety
    /// Arena lock held; `page` heads an allocated large run of `old` pages in chunk `c`.
    pub unsafe fn run_grow(&self, c: Chunk, page: usize, old: usize, extra: usize, zero: bool) -> bool {
        let g = g();
        let next = page + old;
        if next >= g.sc.chunk_pages {
            return false;
        }
        // SAFETY: next is a page of this chunk; lock held.
        unsafe {
            let e = c.entry(next, g.header_pages);
            if (*e).is_allocated() || (*e).value() < extra {
                return false;
            }
            let len = (*e).value();
            self.avail_remove(e, len);
            self.run_take(c, next, len, extra, RunKind::Large, zero);
            // Merge the new pages into the run: its head records the new length.
            (*c.entry(next, g.header_pages)).set(ALLOCATED | LARGE, 0);
            (*c.entry(page, g.header_pages)).set(ALLOCATED | LARGE, old + extra);
        }
        true
    }

    /// Shrinks the large run at `page` from `old` to `new` pages, freeing the tail.
    ///
    /// # Safety
    /// Arena lock held; `page` heads an allocated large run of `old > new` pages in `c`.
    pub unsafe fn run_trim_tail(&self, c: Chunk, page: usize, old: usize, new: usize) {
        let g = g();
        // SAFETY: lock held; the tail pages are part of the run.
        unsafe {
            (*c.entry(page + new - 1, g.header_pages)).set(ALLOCATED | LARGE, 0);
            (*c.entry(page, g.header_pages)).set(ALLOCATED | LARGE, new);
            (*c.entry(page + new, g.header_pages)).set(ALLOCATED | LARGE, old - new);
            self.run_dalloc(c, page + new, old - new, true);
        }
    }

    /// Changes the active page count, keeping `stats.cactive` (this arena's share rounded up
    /// to whole chunks, so the total may be high but never low) in step.
    ///
    /// # Safety
    /// Arena lock held.
    #[inline]
    unsafe fn add_active(&self, delta: isize) {
        // SAFETY: lock held.
        let st = unsafe { self.state() };
        let chunk_mask = g().chunk_mask;
        let ceil = |pages: usize| ((pages << LG_PAGE) + chunk_mask) & !chunk_mask;
        let old = ceil(st.nactive);
        st.nactive = st.nactive.wrapping_add_signed(delta);
        let new = ceil(st.nactive);
        if new != old {
            stats::CACTIVE.fetch_add(new.wrapping_sub(old), Ordering::Relaxed);
        }
    }

    /// Frees the run of `npages` pages at `page`: marks it free (dirty or clean), coalesces it
    /// with free neighbours and files it, or retires the chunk if it is now empty. A dirty
    /// free is the end of an allocated run (its pages stop being active); a clean one returns
    /// pages a purge held.
    ///
    /// # Safety
    /// Arena lock held; the pages form an allocated (or purge-held) run of this arena.
    pub unsafe fn run_dalloc(&self, c: Chunk, page: usize, npages: usize, dirty: bool) {
        let g = g();
        let hp = g.header_pages;
        // SAFETY: all pages touched are in chunk c, owned by this arena; lock held.
        unsafe {
            let st = self.state();
            if (*c.entry(page, hp)).bits & SMALL != 0 {
                // Interior entries of free and large runs must never look small.
                for p in page..page + npages {
                    (*c.entry(p, hp)).set(0, 0);
                }
            }
            if dirty {
                st.recent_pages -= self.recent_decay(st.recent_pages);
                self.add_active(-(npages as isize));
                st.ndirty += npages;
                (*c.0).ndirty += npages;
            }
            let flag = if dirty { DIRTY } else { 0 };
            let (mut start, mut len) = (page, npages);
            if start > hp {
                let prev = c.entry(start - 1, hp);
                if !(*prev).is_allocated() && (*prev).bits & DIRTY == flag {
                    let plen = (*prev).value();
                    start -= plen;
                    len += plen;
                    self.avail_remove(c.entry(start, hp), plen);
                }
            }
            let end = start + len;
            if end < g.sc.chunk_pages {
                let next = c.entry(end, hp);
                if !(*next).is_allocated() && (*next).bits & DIRTY == flag {
                    let nlen = (*next).value();
                    self.avail_remove(next, nlen);
                    len += nlen;
                }
            }
            self.file_free_run(c, start, len, flag);
            if dirty {
                (*c.0).nused -= npages;
                if (*c.0).nused == 0 {
                    self.state().idle_chunks += 1;
                }
            }
            if (*c.0).nused == 0 {
                // A purge filing its pages back as clean freed no object: no run of its size
                // had the chunk to itself.
                self.maybe_retire(c, if dirty { npages } else { 0 });
            }
        }
    }

    /// Retires chunk `c`, which emptied when a run of `npages` pages was freed, unless the
    /// arena churns: then the chunk stays in the arena's runs, which the churn is about to
    /// want again, and its pages are purged as any other's (a request that no dirty run fits
    /// merges it into one dirty run first: [`Arena::merge_an_empty_chunk`]). Taken out
    /// and put back each time the highest chunk drained, it went whole to the chunk cache
    /// when the dirty allowance was short and came back with its pages purged: on
    /// large-block churn, twice the page faults and 1.3x the time of keeping it (keeping only
    /// the last chunk to empty, as 2.2.1's spare, still took 1.3x the faults).
    ///
    /// A chunk emptied by a run of more than half its pages is retired all the same: a run
    /// that size has the chunk to itself, so the chunk is as fit for a huge object, which the
    /// chunk cache may hand it to, as for the arena (kept in the arena, such chunks cost
    /// churning huge objects 6-10% more peak RSS).
    ///
    /// # Safety
    /// Arena lock held; `c` is a chunk of this arena with no allocated runs.
    unsafe fn maybe_retire(&self, c: Chunk, npages: usize) {
        // SAFETY: lock held (caller).
        unsafe {
            if !self.churning() || npages > g().max_run_pages / 2 {
                self.retire_if_empty(c);
            }
        }
    }

    /// Takes chunk `c` out of the arena's runs into the empty chunks kept aside, if nothing in
    /// it is allocated or held by a purge in progress.
    ///
    /// # Safety
    /// Arena lock held; `c` is a chunk of this arena, attached.
    unsafe fn retire_if_empty(&self, c: Chunk) {
        // SAFETY: lock held (caller).
        unsafe {
            if self.merge_if_empty(c) {
                self.state().runs.detach(c);
                self.state().idle_chunks -= 1;
                self.retire_chunk(c);
            }
        }
    }

    /// Makes chunk `c` one dirty run, out of the index, if nothing in it is allocated or held
    /// by a purge in progress; returns whether it did.
    ///
    /// # Safety
    /// Arena lock held; `c` is a chunk of this arena, attached.
    unsafe fn merge_if_empty(&self, c: Chunk) -> bool {
        let g = g();
        let hp = g.header_pages;
        // SAFETY: lock held; the walk visits run heads of this chunk only.
        unsafe {
            let mut p = hp;
            while p < g.sc.chunk_pages {
                let e = c.entry(p, hp);
                if (*e).is_allocated() {
                    return false;
                }
                p += (*e).value();
            }
            let mut p = hp;
            while p < g.sc.chunk_pages {
                let e = c.entry(p, hp);
                let len = (*e).value();
                self.avail_remove(e, len);
                p += len;
            }
            // An empty chunk is one run, so that it can serve any request when reused; its
            // clean pages are counted dirty from now on (they may be handed out as if they
            // were, which only costs a memset for calloc).
            let st = self.state();
            st.ndirty += g.max_run_pages - (*c.0).ndirty;
            (*c.0).ndirty = g.max_run_pages;
            (*c.entry(hp, hp)).set(DIRTY, g.max_run_pages);
            (*c.entry(g.sc.chunk_pages - 1, hp)).set(DIRTY, g.max_run_pages);
        }
        true
    }

    /// Makes one empty chunk of the arena's runs that holds both clean and dirty runs one dirty
    /// run, for a request that no dirty run fits; returns whether it found one. Its clean pages
    /// count as dirty from then on, as a retired chunk's do. Left as its clean and dirty runs,
    /// such a chunk could not serve a request bigger than either, and the arena faulted in
    /// fresh pages elsewhere: 8 blocks of 64 KiB-1 MiB churned in order on 2 threads peaked at
    /// up to 1.15x the RSS. Merged as soon as it emptied, the clean pages it then counted as
    /// dirty pushed other dirty pages out: mstress (bursts of small objects) took 2.2x the page
    /// faults and 1.1x the time.
    ///
    /// # Safety
    /// Arena lock held.
    #[cold]
    unsafe fn merge_an_empty_chunk(&self) -> bool {
        let max = g().max_run_pages;
        // SAFETY: lock held; slots hold attached chunks of this arena.
        unsafe {
            if self.state().idle_chunks == 0 {
                return false;
            }
            for slot in 0..self.state().runs.slots() {
                let Some(c) = self.state().runs.chunk_in(slot) else { continue };
                if (*c.0).nused == 0 && (*c.0).ndirty > 0 && (*c.0).ndirty < max && self.merge_if_empty(c) {
                    self.avail_insert(c.entry(g().header_pages, g().header_pages), max);
                    return true;
                }
            }
        }
        false
    }

    /// Retires every empty chunk still in the arena's runs (they stay there while it churns).
    ///
    /// # Safety
    /// Arena lock held.
    unsafe fn retire_empty_chunks(&self) {
        // SAFETY: lock held; a slot's chunk is attached until retire_if_empty detaches it,
        // which frees only that slot.
        unsafe {
            for slot in 0..self.state().runs.slots() {
                if let Some(c) = self.state().runs.chunk_in(slot) {
                    if (*c.0).nused == 0 {
                        self.retire_if_empty(c);
                    }
                }
            }
        }
    }

    /// An emptied chunk joins the cache of empty chunks; the purge decides when it goes.
    ///
    /// # Safety
    /// Arena lock held; `c` holds only free runs, none of them filed.
    unsafe fn retire_chunk(&self, c: Chunk) {
        // SAFETY: lock held; c is ours and empty.
        unsafe {
            let st = self.state();
            (*c.0).prev = ptr::null_mut();
            (*c.0).next = st.empty_head;
            if st.empty_head.is_null() {
                st.empty_tail = c.0;
            } else {
                (*st.empty_head).prev = c.0;
            }
            st.empty_head = c.0;
        }
    }

    /// # Safety
    /// Arena lock held; `c` is in the empty-chunk cache.
    unsafe fn empty_remove(&self, c: *mut ChunkHeader) {
        // SAFETY: lock held; the cache links chunk headers of this arena.
        unsafe {
            let st = self.state();
            let (next, prev) = ((*c).next, (*c).prev);
            if next.is_null() {
                st.empty_tail = prev;
            } else {
                (*next).prev = prev;
            }
            if prev.is_null() {
                st.empty_head = next;
            } else {
                (*prev).next = next;
            }
        }
    }

    /// # Safety
    /// Arena lock held; `c` is an empty chunk of this arena on no list.
    unsafe fn queue_unmap(&self, c: *mut ChunkHeader) {
        // SAFETY: lock held.
        unsafe {
            let st = self.state();
            st.ndirty -= (*c).ndirty;
            st.stats.mapped -= g().sc.chunk_size;
            (*c).next = st.to_unmap;
            st.to_unmap = c;
        }
    }

    // --- purging ----------------------------------------------------------------------

    /// The manual's dirty limit: `nactive >> lg_dirty_mult` or one chunk's worth of pages,
    /// whichever is greater.
    ///
    /// # Safety
    /// Arena lock held; `lg_dirty_mult >= 0`.
    #[inline]
    unsafe fn manual_limit(&self) -> usize {
        let g = g();
        // SAFETY: lock held (caller).
        let nactive = unsafe { self.state().nactive };
        (nactive >> g.opts.lg_dirty_mult).max(g.sc.chunk_pages)
    }

    /// Purges when dirty pages exceed the manual's limit ([`Arena::manual_limit`]) or half as
    /// much again as the arena recently took for runs (`recent_pages`), if that is greater.
    /// The last term keeps a program that frees and reallocates big blocks in a steady state
    /// from purging pages it refaults at once; it decays with every run taken or freed (more
    /// slowly the more threads share the arena), so after a bulk free the manual's limit
    /// applies again within a few hundred frees, with no timer.
    ///
    /// How far it purges depends on which term set the limit. While recent churn sets it, the
    /// purge goes down to 7/8 of `recent_pages`: every page purged below the churn's own need
    /// is a page the next allocations fault in again (purging down to half the limit cost
    /// large-block churn 4x the pages purged and up to 1.5x the time), but purging only the
    /// excess over `recent_pages` made one madvise nearly every other free. On two threads
    /// each madvise interrupts the other CPU to flush its TLB: this band took a quarter of
    /// the madvise calls for the same page faults, and 1.1-1.3x the speed, at 1.01x the peak
    /// RSS. Under the manual's limit it purges down to half of that limit, so that madvise
    /// calls come in batches rather than one per free.
    ///
    /// # Safety
    /// Arena lock held.
    pub unsafe fn maybe_purge(&self) {
        // SAFETY: lock held.
        if unsafe { self.purge_due() } {
            // SAFETY: lock held; lg_dirty_mult >= 0 (purge_due).
            let (recent, manual) = unsafe { (self.state().recent_pages, self.manual_limit()) };
            // SAFETY: lock held.
            unsafe { self.purge((manual / 2).max(recent - recent / 8)) };
        }
    }

    /// Whether [`Arena::maybe_purge`] would purge now: dirty pages past the manual's limit, or
    /// past half as much again as the recent churn if that is more.
    ///
    /// # Safety
    /// Arena lock held.
    #[inline]
    pub unsafe fn purge_due(&self) -> bool {
        if g().opts.lg_dirty_mult < 0 {
            return false;
        }
        // SAFETY: lock held (caller); manual_limit with lg_dirty_mult >= 0.
        let (st, manual) = unsafe { (self.state(), self.manual_limit()) };
        st.ndirty > manual.max(st.recent_pages + st.recent_pages / 2)
    }

    /// Whether the arena's recent churn sets its dirty limit rather than the manual's rule
    /// (always, with purging off).
    ///
    /// # Safety
    /// Arena lock held.
    #[inline]
    unsafe fn churning(&self) -> bool {
        // SAFETY: lock held (caller); manual_limit only with lg_dirty_mult >= 0.
        g().opts.lg_dirty_mult < 0 || unsafe { self.state().recent_pages > self.manual_limit() }
    }

    /// Purges dirty pages until at most `target` remain. Drops the lock around madvise.
    ///
    /// # Safety
    /// Arena lock held.
    pub unsafe fn purge(&self, target: usize) {
        let g = g();
        let hp = g.header_pages;
        // SAFETY: the lock is held whenever state or maps are touched; purge-held runs are
        // marked allocated, so nobody else touches them while the lock is dropped.
        unsafe {
            stats::update(|| self.state().stats.npurge += 1);
            if !self.churning() {
                self.retire_empty_chunks();
            }
            while self.state().ndirty > target {
                // Whole empty chunks go first, oldest first, those this purge empties too:
                // unmapping them is one call each and leaves no holes.
                let c = self.state().empty_tail;
                if !c.is_null() {
                    self.empty_remove(c);
                    self.queue_unmap(c);
                    continue;
                }
                let mut held = [(Chunk(ptr::null_mut()), 0usize, 0usize); PURGE_BATCH];
                let mut nheld = 0;
                let mut want = self.state().ndirty - target;
                // The highest chunks first: allocation prefers the lowest, so the highest hold
                // the pages least likely to be wanted again soon.
                let mut slot = self.state().runs.slots();
                'chunks: while slot > 0 && want > 0 {
                    slot -= 1;
                    let Some(ch) = self.state().runs.chunk_in(slot) else { continue };
                    let c = ch.0;
                    let mut p = hp;
                    while p < g.sc.chunk_pages && (*c).ndirty > 0 {
                        let e = ch.entry(p, hp);
                        let len = self.run_pages_at(e);
                        if !(*e).is_allocated() {
                            // Free runs are all dirty or all clean.
                            let d = if (*e).is_dirty() { len } else { 0 };
                            if d > 0 {
                                self.avail_remove(e, len);
                                (*ch.entry(p + len - 1, hp)).set(DIRTY | ALLOCATED, 0);
                                (*e).set(DIRTY | ALLOCATED, len);
                                self.state().ndirty -= d;
                                (*c).ndirty -= d;
                                held[nheld] = (ch, p, len);
                                nheld += 1;
                                want = want.saturating_sub(d);
                                if nheld == PURGE_BATCH || want == 0 {
                                    break 'chunks;
                                }
                            }
                        }
                        p += len;
                    }
                }
                if nheld == 0 {
                    break;
                }
                self.unlock();
                let mut ranges = [(ptr::null_mut(), 0); PURGE_BATCH];
                let mut npurged = 0;
                for (r, &(ch, page, len)) in ranges.iter_mut().zip(&held[..nheld]) {
                    *r = (ch.page_addr(page), len << LG_PAGE);
                    npurged += len;
                }
                let nmadvise = chunk::purge_many(&ranges[..nheld]) as u64;
                self.lock.lock();
                stats::update(|| {
                    let st = self.state();
                    st.stats.nmadvise += nmadvise;
                    st.stats.purged += npurged as u64;
                });
                for &(ch, page, len) in &held[..nheld] {
                    self.run_dalloc(ch, page, len, false);
                }
            }
        }
    }

    /// Length in pages of the run whose first page's entry is `e`.
    ///
    /// # Safety
    /// `e` is the first map entry of a run (free, large, small or purge-held).
    unsafe fn run_pages_at(&self, e: *const MapEntry) -> usize {
        // SAFETY: caller guarantees e is a run head.
        let e = unsafe { &*e };
        if e.bits & SMALL != 0 {
            g().sc.bins[e.value()].run_pages as usize
        } else {
            e.value()
        }
    }

    /// The last thread bound to this arena exited: nothing it allocated recently is about to
    /// be reused, so the arena forgets its recent churn, retires the empty chunks the churn
    /// kept and purges down to half the manual's limit, as a purge under that limit would.
    pub fn went_idle(&self) {
        self.lock.lock();
        // SAFETY: lock held.
        unsafe {
            self.state().recent_pages = 0;
            if g().opts.lg_dirty_mult >= 0 {
                self.retire_empty_chunks();
                let target = self.manual_limit() / 2;
                if self.state().ndirty > target {
                    self.purge(target);
                }
            }
        }
        self.unlock();
    }

    /// Purges every dirty page and lets every empty chunk go (`arenas.purge`).
    pub fn purge_all(&self) {
        self.lock.lock();
        // SAFETY: lock held.
        unsafe {
            self.retire_empty_chunks();
            self.purge(0);
        }
        self.unlock();
    }

    /// Large-class statistics slot for a run of `npages` pages.
    ///
    /// # Safety
    /// Arena lock held; `npages <= nlclasses`.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub unsafe fn lstats(&self, npages: usize) -> &mut LargeStats {
        // SAFETY: lstats has nlclasses + 1 entries; lock held.
        unsafe { &mut *self.state().lstats.add(npages) }
    }
}

/// Every arena created so far (null slots for those not yet created).
pub static ARENAS: [core::sync::atomic::AtomicPtr<Arena>; MAX_ARENAS] =
    [const { core::sync::atomic::AtomicPtr::new(ptr::null_mut()) }; MAX_ARENAS];

/// Arena `i`, creating it on first use; None when out of memory or `i >= narenas`.
pub fn get_or_create(i: usize) -> Option<&'static Arena> {
    if let Some(a) = get(i) {
        return Some(a);
    }
    let _guard = crate::global::ARENAS_LOCK.lock();
    get_or_create_locked(i)
}

/// `get_or_create` for a caller that holds `ARENAS_LOCK`.
pub fn get_or_create_locked(i: usize) -> Option<&'static Arena> {
    if i >= g().narenas() {
        return None;
    }
    if let Some(a) = get(i) {
        return Some(a);
    }
    let a = Arena::create(i);
    ARENAS[i].store(a, Ordering::Release);
    get(i)
}

/// Arena `i` if it has been created.
pub fn get(i: usize) -> Option<&'static Arena> {
    let a = ARENAS.get(i)?.load(Ordering::Acquire);
    // SAFETY: arenas live in base memory forever once published.
    (!a.is_null()).then(|| unsafe { &*a })
}

#[cfg(test)]
mod tests;
