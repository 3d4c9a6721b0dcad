//! Small-object bins and their runs: regions of one size class carved from page runs.
//!
//! Mirrors jemalloc 2.2.1 `arena_bin_t` / `arena_run_t` and the small half of `arena.c`. Each
//! run starts with a [`RunHeader`] holding a two-level bitmap of free regions; allocation takes
//! the lowest free region of the current run (`runcur`), and when that run fills, the
//! lowest-addressed non-full run of the bin (a pairing heap keyed by address). Both choices keep
//! live objects packed low, which is what keeps fragmentation down. A run whose last region is
//! freed goes back to the arena.
//!
//! Locking: [`Bin::lock`] guards the bin and the headers of its runs. Taking the arena lock
//! while holding a bin lock is allowed (never the reverse). The seam to the thread cache is
//! [`fill`] and [`BinState::dalloc_batch_locked`].

use crate::arena::{Arena, RunKind};
use crate::chunk_map::Chunk;
use crate::global::g;
use crate::mutex::RawMutex;
use crate::size_classes::BinInfo;
use crate::stats::{self, BinStats};
use core::cell::UnsafeCell;
use core::ptr;

/// Bytes of [`RunHeader`] before its bitmap words.
pub const RUN_HEADER_FIXED: usize = core::mem::size_of::<RunHeader>();

/// The header at the start of every small run (bin lock).
#[repr(C)]
pub struct RunHeader {
    pub nfree: u32,
    pub binind: u32,
    /// Pairing-heap links among the bin's non-full runs: first child, next sibling, and the
    /// previous sibling (or the parent, for a first child).
    heap_child: *mut RunHeader,
    heap_next: *mut RunHeader,
    heap_prev: *mut RunHeader,
    /// Bit `w` set iff bitmap word `w` has a free region.
    summary: u64,
    // Followed by `bitmap_words` u64 words; bit set = region free.
}

impl RunHeader {
    #[inline(always)]
    fn bitmap(this: *mut RunHeader) -> *mut u64 {
        // SAFETY: the bitmap directly follows the header inside the run.
        unsafe { this.add(1).cast() }
    }

    /// Initialises a fresh run's header with every region free.
    ///
    /// # Safety
    /// `run` is a fresh run of bin `info`, writable for its header.
    unsafe fn init(run: *mut RunHeader, binind: usize, info: &BinInfo) {
        // SAFETY: the header and bitmap fit below reg0_offset by construction of BinInfo.
        unsafe {
            run.write(RunHeader {
                nfree: info.nregs,
                binind: binind as u32,
                heap_child: ptr::null_mut(),
                heap_next: ptr::null_mut(),
                heap_prev: ptr::null_mut(),
                summary: 0,
            });
            let bm = Self::bitmap(run);
            let n = info.nregs as usize;
            for w in 0..info.bitmap_words as usize {
                let bits = (n - w * 64).min(64);
                *bm.add(w) = if bits == 64 { !0 } else { (1u64 << bits) - 1 };
            }
            (*run).summary = if info.bitmap_words == 64 { !0 } else { (1u64 << info.bitmap_words) - 1 };
        }
    }

    /// Takes the lowest `out.len().min(nfree)` free regions in ascending order, a bitmap word
    /// at a time, and returns how many it took.
    ///
    /// # Safety
    /// Bin lock held; `run` is a live run of the bin `info` describes.
    #[inline]
    unsafe fn alloc_regions(run: *mut RunHeader, info: &BinInfo, out: &mut [*mut u8]) -> usize {
        // SAFETY: while fewer than nfree regions are taken some summary bit is set, and every
        // set summary bit names a non-zero word within the bitmap; k < want <= out.len().
        unsafe {
            let want = out.len().min((*run).nfree as usize);
            let bm = Self::bitmap(run);
            let base = run as usize + info.reg0_offset as usize;
            let size = info.reg_size as usize;
            let mut summary = (*run).summary;
            let mut k = 0;
            while k < want {
                let w = summary.trailing_zeros() as usize;
                let mut word = *bm.add(w);
                let first = base + w * 64 * size;
                while word != 0 && k < want {
                    *out.get_unchecked_mut(k) = (first + word.trailing_zeros() as usize * size) as *mut u8;
                    word &= word - 1;
                    k += 1;
                }
                *bm.add(w) = word;
                if word == 0 {
                    summary &= !(1 << w);
                }
            }
            (*run).summary = summary;
            (*run).nfree -= k as u32;
            k
        }
    }

    /// The index of the region that starts `offset` bytes past region 0. Aborts unless a
    /// region starts there.
    #[inline(always)]
    fn region_at(info: &BinInfo, offset: usize) -> usize {
        let idx = info.region_index(offset);
        if idx >= info.nregs as usize || idx * info.reg_size as usize != offset {
            invalid_pointer();
        }
        idx
    }

    /// Sets the free bit of region `idx`, leaving `nfree` and the summary word to the caller
    /// ([`BinState::settle`]); returns the summary bit of its bitmap word. Aborts if the region
    /// is already free.
    ///
    /// # Safety
    /// Bin lock held; `idx < nregs` of this run's bin.
    #[inline(always)]
    unsafe fn mark_free(run: *mut RunHeader, idx: usize) -> u64 {
        // SAFETY: idx < nregs, so the bitmap word exists.
        unsafe {
            let word = Self::bitmap(run).add(idx / 64);
            let bit = 1u64 << (idx % 64);
            if *word & bit != 0 {
                crate::message::fatal("free(): double free of a small object");
            }
            *word |= bit;
        }
        1 << (idx / 64)
    }
}

#[cold]
fn invalid_pointer() -> ! {
    crate::message::fatal("free(): invalid pointer (not the start of an allocation)")
}

/// One small size class of one arena.
#[repr(C, align(64))]
pub struct Bin {
    pub lock: RawMutex,
    state: UnsafeCell<BinState>,
}

// SAFETY: `state` is only reached through `locked`, under `lock`.
unsafe impl Sync for Bin {}

/// The bin's runs and statistics (bin lock).
pub struct BinState {
    pub binind: usize,
    /// The run allocations come from; may be full; null if none.
    runcur: *mut RunHeader,
    /// Non-full runs other than `runcur`, lowest address at the root.
    heap: *mut RunHeader,
    /// A run emptied into the arena took its dirty pages past the purge limit: whoever
    /// releases the bin lock purges ([`Bin::unlock_and_purge`]), so that no madvise runs with
    /// the bin locked.
    pub(crate) purge_due: bool,
    pub stats: BinStats,
}

impl Bin {
    pub fn new(binind: usize) -> Bin {
        Bin {
            lock: RawMutex::new(),
            state: UnsafeCell::new(BinState {
                binind,
                runcur: ptr::null_mut(),
                heap: ptr::null_mut(),
                purge_due: false,
                stats: BinStats::default(),
            }),
        }
    }

    /// Releases the bin lock, then purges `arena` (which owns the bin) if a run the holder
    /// emptied took its dirty pages past the limit. A purge made with the bin locked kept
    /// every thread that frees to or fills from the bin waiting on its madvise: with 16
    /// threads sharing 2 CPUs, most of rptest's waits on locks were thread-cache flushes
    /// waiting so.
    ///
    /// # Safety
    /// The caller holds `self.lock`; `arena` owns this bin.
    #[inline]
    pub unsafe fn unlock_and_purge(&self, arena: &Arena) {
        // SAFETY: lock held (caller).
        let due = core::mem::take(unsafe { &mut self.locked().purge_due });
        self.lock.unlock();
        if due {
            arena.lock.lock();
            // SAFETY: arena lock held.
            unsafe { arena.maybe_purge() };
            arena.unlock();
        }
    }

    /// The bin's mutable state.
    ///
    /// # Safety
    /// The caller holds `self.lock`.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub unsafe fn locked(&self) -> &mut BinState {
        // SAFETY: the bin lock serialises every access through this reference.
        unsafe { &mut *self.state.get() }
    }
}

impl BinState {
    /// Allocates one region. Null when out of memory.
    ///
    /// # Safety
    /// `self.lock` held; `arena` owns this bin.
    pub unsafe fn alloc_locked(&mut self, arena: &Arena) -> *mut u8 {
        let mut one = [ptr::null_mut()];
        // SAFETY: forwarded contract.
        unsafe { self.alloc_batch_locked(arena, &mut one) };
        one[0]
    }

    /// Allocates up to `out.len()` regions, the lowest of `runcur` first, then of the runs
    /// [`Self::next_run`] gives; returns how many (fewer only when out of memory).
    ///
    /// # Safety
    /// `self.lock` held; `arena` owns this bin.
    pub unsafe fn alloc_batch_locked(&mut self, arena: &Arena, out: &mut [*mut u8]) -> usize {
        let info = &g().sc.bins[self.binind];
        let mut n = 0;
        // SAFETY: bin lock held; runcur, when set, is a live run of this bin.
        unsafe {
            while n < out.len() {
                let mut run = self.runcur;
                if run.is_null() || (*run).nfree == 0 {
                    run = self.next_run(arena);
                    if run.is_null() {
                        break;
                    }
                }
                n += RunHeader::alloc_regions(run, info, &mut out[n..]);
            }
        }
        stats::update(|| {
            self.stats.allocated += n * info.reg_size as usize;
            self.stats.nmalloc += n as u64;
        });
        n
    }

    /// Makes `runcur` a run with a free region: the lowest non-full run, or a new one.
    ///
    /// # Safety
    /// Bin lock held.
    #[cold]
    unsafe fn next_run(&mut self, arena: &Arena) -> *mut RunHeader {
        // SAFETY: bin lock held; heap nodes are live runs of this bin.
        unsafe {
            if !self.heap.is_null() {
                let run = self.heap;
                self.heap_remove(run);
                self.runcur = run;
                stats::update(|| self.stats.nreruns += 1);
                return run;
            }
            let info = &g().sc.bins[self.binind];
            arena.lock.lock();
            let p = arena.run_alloc(info.run_pages as usize, RunKind::Small(self.binind), false);
            arena.unlock();
            if p.is_null() {
                return ptr::null_mut();
            }
            let run = p as *mut RunHeader;
            RunHeader::init(run, self.binind, info);
            self.runcur = run;
            stats::update(|| {
                self.stats.nruns += 1;
                self.stats.curruns += 1;
                self.stats.highruns = self.stats.highruns.max(self.stats.curruns);
            });
            run
        }
    }

    /// Frees the region `p` of `run`.
    ///
    /// # Safety
    /// Bin lock held; `run` is a run of this bin (from the page map) in `arena`, and `p` lies
    /// in it.
    #[inline]
    pub unsafe fn dalloc_locked(&mut self, arena: &Arena, run: *mut RunHeader, p: *mut u8) {
        let info = &g().sc.bins[self.binind];
        // SAFETY: forwarded contract.
        unsafe { self.release(arena, run, info, p) };
        self.note_dallocs(1);
    }

    /// Marks the region `p` of `run` free and settles the run. Uncounted (see
    /// [`Self::note_dallocs`]).
    ///
    /// # Safety
    /// Bin lock held; `run` is a live run of this bin, described by `info`, and `p` lies in it.
    #[inline(always)]
    unsafe fn release(&mut self, arena: &Arena, run: *mut RunHeader, info: &BinInfo, p: *mut u8) {
        let offset = (p as usize).wrapping_sub(run as usize + info.reg0_offset as usize);
        let idx = RunHeader::region_at(info, offset);
        // SAFETY: per the contract; idx < nregs.
        unsafe {
            let summary = RunHeader::mark_free(run, idx);
            self.settle(arena, run, info, 1, summary);
        }
    }

    /// Accounts `freed` regions whose bits [`RunHeader::mark_free`] set in `run` (their
    /// bitmap words named by `summary`), then files the run as its new count of free regions
    /// says: back to the arena once empty, among the non-full runs once no longer full.
    ///
    /// # Safety
    /// Bin lock held; `run` is a live run of this bin, described by `info`, and `freed`
    /// regions of it were marked free since its header was last updated.
    #[inline(always)]
    unsafe fn settle(&mut self, arena: &Arena, run: *mut RunHeader, info: &BinInfo, freed: u32, summary: u64) {
        // SAFETY: per the contract.
        unsafe {
            let before = (*run).nfree;
            let nfree = before + freed;
            (*run).nfree = nfree;
            (*run).summary |= summary;
            // A run that was full is in no structure; one with a free region is runcur or
            // in the heap.
            let current = run == self.runcur;
            if nfree == info.nregs {
                self.run_emptied(arena, run, info, before > 0 && !current);
            } else if before == 0 && !current {
                self.file_nonfull(run);
            }
        }
    }

    /// Counts `n` regions freed.
    #[inline(always)]
    fn note_dallocs(&mut self, n: usize) {
        stats::update(|| {
            self.stats.allocated -= n * g().sc.bins[self.binind].reg_size as usize;
            self.stats.ndalloc += n as u64;
        });
    }

    /// The thread cache's flush: frees into this bin the first `n` objects of `objs` that
    /// belong to `arena`, moving the others (objects of other arenas) to the front of `objs`
    /// and returning how many there are. Counts the freed ones once.
    ///
    /// # Safety
    /// `self.lock` held; `arena` owns this bin; `objs[..n]` are live regions of this class,
    /// each in an arena chunk.
    pub unsafe fn dalloc_batch_locked(&mut self, arena: &Arena, objs: *mut *mut u8, n: usize) -> usize {
        let g = g();
        // Copied out, so that the loop's stores through raw pointers do not make the compiler
        // load them again for every object.
        let info = g.sc.bins[self.binind];
        let (chunk_mask, header_pages) = (g.chunk_mask, g.header_pages);
        let size = info.reg_size as usize;
        let span = info.nregs as usize * size;
        let mut deferred = 0;
        // The run the last object fell in, and the regions freed into it since its header was
        // settled. Objects flushed together were mostly cached together, so they mostly share
        // a run: the next one then costs neither a page map lookup nor header updates. `base`
        // starts at 0, a window no region lies in (no chunk is mapped at address 0).
        let mut run: *mut RunHeader = ptr::null_mut();
        let mut base = 0usize;
        let mut freed = 0u32;
        let mut summary = 0u64;
        // SAFETY: per the contract: each object's chunk header names its arena, and a region of
        // ours has a page map entry naming its run; a window hit lies within `run`'s regions.
        unsafe {
            for j in 0..n {
                let p = *objs.add(j);
                let mut offset = (p as usize).wrapping_sub(base);
                if offset >= span {
                    let c = Chunk::containing(p, chunk_mask);
                    if !ptr::eq((*c.0).arena, arena) {
                        *objs.add(deferred) = p;
                        deferred += 1;
                        continue;
                    }
                    if !run.is_null() {
                        self.settle(arena, run, &info, freed, summary);
                    }
                    run = (*c.entry(c.page_of(p), header_pages)).link[0] as *mut RunHeader;
                    base = run as usize + info.reg0_offset as usize;
                    (freed, summary) = (0, 0);
                    offset = (p as usize).wrapping_sub(base);
                    if offset >= span {
                        invalid_pointer();
                    }
                }
                // Within the window, so idx < nregs.
                let idx = info.region_index(offset);
                if idx * size != offset {
                    invalid_pointer();
                }
                summary |= RunHeader::mark_free(run, idx);
                freed += 1;
            }
            if !run.is_null() {
                self.settle(arena, run, &info, freed, summary);
            }
        }
        self.note_dallocs(n - deferred);
        deferred
    }

    /// # Safety
    /// Bin lock held; `run` just became non-full, is not `runcur` and not in the heap.
    unsafe fn file_nonfull(&mut self, run: *mut RunHeader) {
        // SAFETY: bin lock held.
        unsafe {
            let cur = self.runcur;
            if !cur.is_null() && run < cur {
                // Prefer the lower run: it becomes current, the old current goes to the heap
                // (or, if full, to no structure).
                self.runcur = run;
                if (*cur).nfree > 0 {
                    self.heap_insert(cur);
                }
            } else if cur.is_null() {
                self.runcur = run;
            } else {
                self.heap_insert(run);
            }
        }
    }

    /// # Safety
    /// Bin lock held; every region of `run` is free; `in_heap` says whether it is in the
    /// heap of non-full runs.
    #[cold]
    unsafe fn run_emptied(&mut self, arena: &Arena, run: *mut RunHeader, info: &BinInfo, in_heap: bool) {
        // SAFETY: bin lock held; the run is ours and empty.
        unsafe {
            if run == self.runcur {
                self.runcur = ptr::null_mut();
            } else if in_heap {
                self.heap_remove(run);
            }
            stats::update(|| self.stats.curruns -= 1);
            let g = g();
            let c = Chunk::containing(run.cast(), g.chunk_mask);
            arena.lock.lock();
            arena.run_dalloc(c, c.page_of(run.cast()), info.run_pages as usize, true);
            self.purge_due |= arena.purge_due();
            arena.unlock();
        }
    }

    // --- pairing heap of non-full runs, keyed by address ------------------------------

    /// # Safety
    /// Bin lock held; `a` and `b` are heap roots (either may be null).
    unsafe fn meld(a: *mut RunHeader, b: *mut RunHeader) -> *mut RunHeader {
        if a.is_null() {
            return b;
        }
        if b.is_null() {
            return a;
        }
        let (parent, child) = if a < b { (a, b) } else { (b, a) };
        // SAFETY: both are live run headers of this bin.
        unsafe {
            (*child).heap_next = (*parent).heap_child;
            if !(*parent).heap_child.is_null() {
                (*(*parent).heap_child).heap_prev = child;
            }
            (*child).heap_prev = parent;
            (*parent).heap_child = child;
            (*parent).heap_next = ptr::null_mut();
            (*parent).heap_prev = ptr::null_mut();
        }
        parent
    }

    /// Melds a sibling list into one heap (two-pass pairing).
    ///
    /// # Safety
    /// Bin lock held; `first` heads a sibling list detached from its parent.
    unsafe fn merge_pairs(mut first: *mut RunHeader) -> *mut RunHeader {
        // SAFETY: all nodes are live run headers of this bin.
        unsafe {
            // Pass 1: meld pairs left to right, stacking the results through heap_next.
            let mut stack: *mut RunHeader = ptr::null_mut();
            while !first.is_null() {
                let a = first;
                let b = (*a).heap_next;
                first = if b.is_null() { ptr::null_mut() } else { (*b).heap_next };
                (*a).heap_next = ptr::null_mut();
                (*a).heap_prev = ptr::null_mut();
                if !b.is_null() {
                    (*b).heap_next = ptr::null_mut();
                    (*b).heap_prev = ptr::null_mut();
                }
                let m = Self::meld(a, b);
                (*m).heap_next = stack;
                stack = m;
            }
            // Pass 2: meld the stack (right to left).
            let mut root: *mut RunHeader = ptr::null_mut();
            while !stack.is_null() {
                let next = (*stack).heap_next;
                (*stack).heap_next = ptr::null_mut();
                root = Self::meld(root, stack);
                stack = next;
            }
            root
        }
    }

    /// # Safety
    /// Bin lock held; `run` is in no structure.
    unsafe fn heap_insert(&mut self, run: *mut RunHeader) {
        // SAFETY: bin lock held.
        unsafe {
            (*run).heap_child = ptr::null_mut();
            (*run).heap_next = ptr::null_mut();
            (*run).heap_prev = ptr::null_mut();
            self.heap = Self::meld(self.heap, run);
        }
    }

    /// # Safety
    /// Bin lock held; `run` is in the heap.
    unsafe fn heap_remove(&mut self, run: *mut RunHeader) {
        // SAFETY: bin lock held; run and its links are live nodes of this heap.
        unsafe {
            let children = Self::merge_pairs((*run).heap_child);
            (*run).heap_child = ptr::null_mut();
            if run == self.heap {
                self.heap = children;
                return;
            }
            let prev = (*run).heap_prev;
            let next = (*run).heap_next;
            if (*prev).heap_child == run {
                (*prev).heap_child = next;
            } else {
                (*prev).heap_next = next;
            }
            if !next.is_null() {
                (*next).heap_prev = prev;
            }
            (*run).heap_next = ptr::null_mut();
            (*run).heap_prev = ptr::null_mut();
            self.heap = Self::meld(self.heap, children);
        }
    }
}

/// Frees a small region, locating its run and bin through the page map.
///
/// # Safety
/// `p` is a live small region of an arena chunk `c`, page `page`.
#[inline]
pub unsafe fn dalloc_small(c: Chunk, page: usize, p: *mut u8) {
    let g = g();
    // SAFETY: small-run map entries are written once at run creation and stay valid while
    // the region is live; the chunk header's arena never changes.
    unsafe {
        let e = c.entry(page, g.header_pages);
        let run = (*e).link[0] as *mut RunHeader;
        let arena = &*(*c.0).arena;
        let bin = arena.bin((*e).value());
        bin.lock.lock();
        bin.locked().dalloc_locked(arena, run, p);
        bin.unlock_and_purge(arena);
    }
}

/// Allocates up to `out.len()` regions of bin `binind` of `arena` in one lock hold (the
/// thread cache's fill), folding in `nrequests`, the requests the cache served since its last
/// merge. Returns how many it got (fewer only when out of memory).
pub fn fill(arena: &Arena, binind: usize, out: &mut [*mut u8], nrequests: u64) -> usize {
    let bin = arena.bin(binind);
    bin.lock.lock();
    let n;
    // SAFETY: bin lock held.
    unsafe {
        let b = bin.locked();
        stats::update(|| b.stats.nrequests += nrequests);
        n = b.alloc_batch_locked(arena, out);
        stats::update(|| b.stats.nfills += 1);
    }
    bin.lock.unlock();
    n
}

/// Allocates one region of bin `binind` from `arena` (the path without a thread cache).
pub fn malloc_small(arena: &Arena, binind: usize) -> *mut u8 {
    let bin = arena.bin(binind);
    bin.lock.lock();
    // SAFETY: bin lock held.
    let p = unsafe {
        let b = bin.locked();
        stats::update(|| b.stats.nrequests += 1);
        b.alloc_locked(arena)
    };
    bin.lock.unlock();
    p
}
