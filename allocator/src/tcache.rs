//! Thread caches: per-thread stacks of free objects for every small class and for large classes
//! up to 2^`opt.lg_tcache_max`, so most allocations take no lock.
//!
//! Mirrors jemalloc 2.2.1 `tcache.c` / `tcache.h`. Entry points: [`try_pop`] and [`try_push`],
//! the malloc and free fast paths (a pop or push on the thread's own stack, reached through
//! [`Fast`], which is [`Fast::NONE`] where the thread has no cache); [`alloc`] and [`dalloc`],
//! the slow paths' pop and push, with their `#[cold]` miss paths (fill from the arena's bin in
//! one batch; flush half the stack back); the incremental garbage
//! collector (`tick`: one bin every `2^lg_tcache_gc_sweep / nhbins` events, flushing
//! three quarters of what stayed unused since the last visit and tuning the fill size), and
//! [`flush_current_thread`] / [`destroy`] for `tcache.flush` and thread exit.
//!
//! The cache meets the arena at one seam: [`crate::bin::fill`] and the flush loop below, which
//! returns every object to the arena that owns it (objects freed by a thread other than their
//! allocator's go home). Only the owning thread touches its cache, so no lock guards it; caches
//! of exited threads are recycled through a pool under the thread module's pool lock.

use crate::arena::Arena;
use crate::bin;
use crate::chunk_map::Chunk;
use crate::global::g;
use crate::large;
use crate::size_classes::{LG_PAGE, MAX_BINS, PAGE};
use crate::stats;
use crate::thread;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Most objects a small class keeps (jemalloc's `TCACHE_NSLOTS_SMALL_MAX`).
const NSLOTS_SMALL_MAX: usize = 200;
/// Fewest slots a small class gets, so classes with one or two regions per run still batch.
const NSLOTS_SMALL_MIN: usize = 8;
/// Objects each large class keeps at least (jemalloc's `TCACHE_NSLOTS_LARGE`).
const NSLOTS_LARGE: usize = 20;
/// Bytes the two- and three-page classes' slots hold: 32 and 21 objects. A batch of 30 blocks
/// of 8 KiB missed half the time with 20 slots (flushed by half when full). The one-page
/// class keeps 20: with 64, `benches/rss-giveback` kept 8 MiB resident after freeing 1 GiB in
/// blocks of 4 KiB instead of 6 (where its frees stopped in the arena's purge cycle).
const LARGE_SLOT_BYTES: usize = 256 << 10;

/// One size class of a thread's cache.
///
/// The stack is addressed by its top. A pop tests for an empty stack with the load it makes
/// anyway: below the bottom slot lies a null guard, which it reads as the top of an empty
/// stack. A push compares the top with `limit`, which it loads beside the top rather than
/// after it (reading the slot it would write instead made free's chain of dependent loads
/// one longer, and cost more than the compare).
#[repr(C)]
pub struct TcacheBin {
    /// One past the top of the stack (`avail() + ncached`); the top, `top[-1]`, is handed
    /// out first.
    top: *mut *mut u8,
    /// The lowest `top` since the last GC visit (2.2.1's `low_water`).
    low: *mut *mut u8,
    /// One past the last slot: `avail() + ncached_max`.
    limit: *mut *mut u8,
    /// Requests served since the last merge into the arena's statistics.
    pub nrequests: u64,
    /// The class size.
    pub usize: u32,
    ncached_max: u16,
    /// Fills take `ncached_max >> lg_fill_div` objects.
    lg_fill_div: u8,
    /// The stack ran dry since the last GC visit (2.2.1's `low_water` of -1).
    ran_dry: bool,
}

impl TcacheBin {
    /// Objects cached.
    #[inline(always)]
    pub fn ncached(&self) -> usize {
        // SAFETY: top and avail point into the same stack, top at or above avail.
        unsafe { self.top.offset_from(self.avail()) as usize }
    }

    /// Objects the bin can hold.
    pub fn ncached_max(&self) -> usize {
        self.ncached_max as usize
    }

    /// The bottom of the stack.
    #[inline(always)]
    fn avail(&self) -> *mut *mut u8 {
        // SAFETY: limit is ncached_max slots past the bottom of the same stack.
        unsafe { self.limit.sub(self.ncached_max as usize) }
    }
}

/// A thread's cache: a header followed by `nhbins` bins and their stacks.
#[repr(C)]
pub struct Tcache {
    /// The arena fills come from (the thread's arena).
    pub arena: *mut Arena,
    /// Events until the next GC step.
    gc_ticks: u32,
    next_gc_bin: u32,
    /// Link in the pool of caches of exited threads.
    pool_next: *mut Tcache,
    // Followed by [TcacheBin; nhbins] and the stacks.
}

/// Per-process cache geometry, set once at start-up.
struct Geometry {
    nhbins: AtomicUsize,
    bytes: AtomicUsize,
    gc_incr: AtomicUsize,
    max_class: AtomicUsize,
}

static GEOMETRY: Geometry = Geometry {
    nhbins: AtomicUsize::new(0),
    bytes: AtomicUsize::new(0),
    gc_incr: AtomicUsize::new(0),
    max_class: AtomicUsize::new(0),
};

/// Caches of exited threads, ready for reuse (thread::pool_lock).
static mut POOL: *mut Tcache = ptr::null_mut();

fn slots(binind: usize) -> usize {
    let g = g();
    if binind < g.sc.nbins {
        (2 * g.sc.bins[binind].nregs as usize).clamp(NSLOTS_SMALL_MIN, NSLOTS_SMALL_MAX)
    } else {
        match binind - g.sc.nbins + 1 {
            1 => NSLOTS_LARGE,
            pages => NSLOTS_LARGE.max((LARGE_SLOT_BYTES >> LG_PAGE) / pages),
        }
    }
}

/// Largest class cached: 2^lg_tcache_max, at least the largest small class, at most the
/// largest large class.
pub fn max_class() -> usize {
    GEOMETRY.max_class.load(Ordering::Relaxed)
}

/// Number of cached classes (`arenas.nhbins`).
pub fn nhbins() -> usize {
    GEOMETRY.nhbins.load(Ordering::Relaxed)
}

/// Sizes the caches for the options. Called once at start-up, before any cache exists.
pub fn boot() {
    let g = g();
    let lg = g.opts.lg_tcache_max.min(usize::BITS as usize - 1);
    let max = (1usize << lg).clamp(g.sc.sspace_max, g.sc.arena_maxclass) & !(PAGE - 1);
    let max = max.max(g.sc.sspace_max);
    let nlarge = if max > g.sc.sspace_max { max >> LG_PAGE } else { 0 };
    let nhbins = g.sc.nbins + nlarge;
    GEOMETRY.nhbins.store(nhbins, Ordering::Relaxed);
    GEOMETRY.max_class.store(if nlarge > 0 { max } else { g.sc.sspace_max }, Ordering::Relaxed);
    // Each stack has one slot more, below its bottom: the null guard (see `TcacheBin`).
    let stacks: usize = (0..nhbins).map(|i| slots(i) + 1).sum();
    let bytes = core::mem::size_of::<Tcache>() + nhbins * core::mem::size_of::<TcacheBin>() + stacks * 8;
    GEOMETRY.bytes.store(bytes, Ordering::Relaxed);
    let incr = if g.opts.lg_tcache_gc_sweep < 0 {
        u32::MAX as usize
    } else {
        let sweep = 1usize << (g.opts.lg_tcache_gc_sweep as u32).min(31);
        sweep.div_ceil(nhbins).max(1)
    };
    GEOMETRY.gc_incr.store(incr, Ordering::Relaxed);
}

/// The bin index of a cached class of `size` bytes (small bins first, then one per page).
#[inline(always)]
pub fn bin_of_size(size: usize) -> usize {
    let g = g();
    if size <= g.sc.sspace_max {
        g.sc.small_bin(size)
    } else {
        g.sc.nbins + ((size + PAGE - 1) >> LG_PAGE) - 1
    }
}

impl Tcache {
    /// Bin `i`.
    ///
    /// # Safety
    /// `this` is a live cache and `i < nhbins`.
    #[inline(always)]
    pub unsafe fn bin(this: *mut Tcache, i: usize) -> *mut TcacheBin {
        // SAFETY: the bins follow the header; the caller keeps i in range.
        unsafe { (this.add(1) as *mut TcacheBin).add(i) }
    }

    /// The cache as the fast paths hold it (see [`Fast`]); [`Fast::NONE`] for null.
    pub fn fast(this: *mut Tcache) -> Fast {
        if this.is_null() {
            return Fast::NONE;
        }
        // The bins follow the header within the cache's allocation.
        Fast(this.wrapping_add(1) as *mut TcacheBin)
    }
}

/// A thread cache as the fast paths hold it: the address of its first bin, which the header
/// precedes. A bin's fields then lie at small offsets from the bin's address, which the
/// compiler forms with one instruction.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Fast(*mut TcacheBin);

impl Fast {
    /// No cache: [`EMPTY`], whose every bin is at once empty and full, so that the fast paths
    /// miss without testing for a cache first.
    pub const NONE: Fast = Fast((&raw const EMPTY).cast::<TcacheBin>().cast_mut());

    pub fn is_none(self) -> bool {
        self == Fast::NONE
    }

    /// The cache's header.
    #[inline(always)]
    fn header(self) -> *mut Tcache {
        // SAFETY: a cache's bins follow its header (Tcache::fast).
        unsafe { (self.0 as *mut Tcache).sub(1) }
    }

    /// Bin `i`.
    ///
    /// # Safety
    /// The cache is live and `i < nhbins`.
    #[inline(always)]
    unsafe fn bin(self, i: usize) -> *mut TcacheBin {
        // SAFETY: the caller keeps i in range.
        unsafe { self.0.add(i) }
    }

    /// The class size of bin `i`.
    ///
    /// # Safety
    /// The cache is live and `i < nhbins`.
    #[inline(always)]
    pub unsafe fn usize(self, i: usize) -> usize {
        // SAFETY: forwarded contract.
        unsafe { (*self.bin(i)).usize as usize }
    }
}

/// The bins the fast paths see where a thread has no cache (before its first slow path, with
/// caching off or the fill options on, while it exits): a bin for every small class there can
/// be, each with its top and limit one past a null guard, so that a pop reads the guard (a
/// miss) and a push finds the stack full. Read-only: neither path writes to a bin it missed.
#[repr(C)]
pub struct Empty {
    bins: [TcacheBin; MAX_BINS],
    guard: [*mut u8; 1],
}

// SAFETY: never written; its pointers point into itself.
unsafe impl Sync for Empty {}

/// One past [`EMPTY`]'s guard.
const EMPTY_TOP: *mut *mut u8 = (&raw const EMPTY.guard).cast::<*mut u8>().wrapping_add(1).cast_mut();

const EMPTY_BIN: TcacheBin = TcacheBin {
    top: EMPTY_TOP,
    low: EMPTY_TOP,
    limit: EMPTY_TOP,
    nrequests: 0,
    usize: 0,
    ncached_max: 0,
    lg_fill_div: 0,
    ran_dry: false,
};

pub static EMPTY: Empty = Empty { bins: [EMPTY_BIN; MAX_BINS], guard: [ptr::null_mut()] };

/// A cache for the calling thread, bound to `arena`; null when out of memory.
pub fn create(arena: *mut Arena) -> *mut Tcache {
    let g = g();
    let nhbins = nhbins();
    let bytes = GEOMETRY.bytes.load(Ordering::Relaxed);
    thread::pool_lock().lock();
    // SAFETY: POOL is only touched under pool_lock.
    let recycled = unsafe {
        let t = POOL;
        if !t.is_null() {
            POOL = (*t).pool_next;
        }
        t
    };
    thread::pool_lock().unlock();
    let t = if recycled.is_null() { crate::base::alloc(bytes) as *mut Tcache } else { recycled };
    if t.is_null() {
        return t;
    }
    // SAFETY: t is `bytes` long and ours alone; the stacks follow the bins.
    unsafe {
        t.write(Tcache {
            arena,
            gc_ticks: GEOMETRY.gc_incr.load(Ordering::Relaxed).min(u32::MAX as usize) as u32,
            next_gc_bin: 0,
            pool_next: ptr::null_mut(),
        });
        let mut stack = Tcache::bin(t, nhbins) as *mut *mut u8;
        for i in 0..nhbins {
            let n = slots(i);
            stack.write(ptr::null_mut());
            let avail = stack.add(1);
            let usize_ = if i < g.sc.nbins { g.sc.bins[i].reg_size as usize } else { (i - g.sc.nbins + 1) << LG_PAGE };
            Tcache::bin(t, i).write(TcacheBin {
                top: avail,
                low: avail,
                limit: avail.add(n),
                nrequests: 0,
                usize: usize_ as u32,
                ncached_max: n as u16,
                lg_fill_div: 1,
                ran_dry: false,
            });
            stack = avail.add(n);
        }
    }
    t
}

/// Pops a cached object of bin `b` without counting an event; null on a miss.
///
/// # Safety
/// `b` is a bin of the calling thread's live cache.
#[inline(always)]
unsafe fn pop(b: *mut TcacheBin) -> *mut u8 {
    // SAFETY: the caller's cache; top[-1] is the top object or, for an empty stack, the null
    // guard, so it is always in bounds.
    unsafe {
        let b = &mut *b;
        let top = b.top.sub(1);
        let p = *top;
        if p.is_null() {
            return p;
        }
        b.top = top;
        if top < b.low {
            b.low = top;
        }
        if stats::STATS {
            b.nrequests += 1;
        }
        p
    }
}

/// The malloc fast path: pops a cached object, adds its class size to `allocated` (the
/// thread's counter) and counts the event, running a GC step when one is due (after the pop,
/// as 2.2.1's `tcache_event`); None on a miss, with nothing counted, where the caller takes
/// the slow path.
///
/// # Safety
/// `f` is the calling thread's live cache, `binind < nhbins`, and `allocated` is valid.
#[inline(always)]
pub unsafe fn try_pop(f: Fast, binind: usize, allocated: *mut u64) -> Option<*mut u8> {
    // SAFETY: forwarded contract.
    unsafe {
        let b = f.bin(binind);
        let p = pop(b);
        if p.is_null() {
            return None;
        }
        if stats::STATS {
            *allocated += (*b).usize as u64;
        }
        let t = f.header();
        if event_due(t) {
            return Some(gc_step_then(p, t));
        }
        Some(p)
    }
}

/// Runs the GC step that the event just counted made due, then hands back `p` (a tail call
/// for the fast paths, which keep nothing live across it). `p` comes first: with the cache
/// first, the compiler kept the cache in malloc's first argument register and moved the size
/// out of its way, two instructions more.
///
/// # Safety
/// `t` is the calling thread's live cache.
#[cold]
#[inline(never)]
unsafe fn gc_step_then(p: *mut u8, t: *mut Tcache) -> *mut u8 {
    // SAFETY: forwarded contract.
    unsafe { gc_step(t) };
    p
}

/// An object of bin `binind`: from the cache, else filled from the arena (small) or taken
/// from it directly (large); null when out of memory. Also says whether it reads as zero:
/// with `zero` (calloc), a large object the cache lacks comes from the arena asking for zeroed
/// pages, so the arena clears only the pages that may hold data (2.2.1's unzeroed page flags)
/// instead of the caller clearing all of them; a cached object holds old data.
///
/// # Safety
/// `t` is the calling thread's live cache and `binind < nhbins`.
#[inline]
pub unsafe fn alloc(t: *mut Tcache, binind: usize, zero: bool) -> (*mut u8, bool) {
    // SAFETY: forwarded contract.
    unsafe {
        tick(t);
        let p = pop(Tcache::bin(t, binind));
        if !p.is_null() {
            return (p, false);
        }
        alloc_miss(t, binind, zero)
    }
}

/// The cache's miss: a small class is filled from the arena's bin, a large object comes from
/// the arena directly, with its pages zeroed if `zero` asks (the arena clears only those that
/// may hold data). Returns the object and whether it reads as zero.
///
/// # Safety
/// As [`alloc`], and the stack of `binind` is empty.
#[cold]
#[inline(never)]
unsafe fn alloc_miss(t: *mut Tcache, binind: usize, zero: bool) -> (*mut u8, bool) {
    let g = g();
    // SAFETY: the caller's cache; the arena lives forever. The fill writes at most
    // ncached_max objects from the bottom of the empty stack.
    unsafe {
        let b = &mut *Tcache::bin(t, binind);
        b.ran_dry = true;
        let arena = &*(*t).arena;
        if binind >= g.sc.nbins {
            // One object at a time, counted by the arena as its own request (as 2.2.1's
            // tcache_alloc_large); the cache's hits are merged at flush and exit.
            return (large::malloc(arena, b.usize as usize, zero), zero);
        }
        let want = ((b.ncached_max >> b.lg_fill_div) as usize).max(1);
        let out = core::slice::from_raw_parts_mut(b.avail(), want);
        // The requests served since the last merge go to the bin with the fill (2.2.1's
        // arena_tcache_fill_small); this one is counted afterwards, with the cache's own.
        let n = bin::fill(arena, binind, out, core::mem::take(&mut b.nrequests));
        if n == 0 {
            return (ptr::null_mut(), false);
        }
        // The fill returned ascending addresses; reverse so the lowest is on top.
        out[..n].reverse();
        b.top = b.avail().add(n - 1);
        b.low = b.avail();
        if stats::STATS {
            b.nrequests += 1;
        }
        (*b.top, false)
    }
}

/// The free fast path: caches `p` if there is room, adds its class size to `deallocated`
/// (the thread's counter) and counts the event, running a GC step when one is due (after
/// the push, as 2.2.1's `tcache_event`); false, with nothing counted, when the stack is full.
///
/// # Safety
/// `f` is the calling thread's live cache, `binind < nhbins`, and `p` a live object of that
/// class; `deallocated` is valid.
#[inline(always)]
pub unsafe fn try_push(f: Fast, binind: usize, p: *mut u8, deallocated: *mut u64) -> bool {
    // SAFETY: the caller's cache.
    unsafe {
        let b = f.bin(binind);
        if !push(b, p) {
            return false;
        }
        if stats::STATS {
            *deallocated += (*b).usize as u64;
        }
        tick(f.header());
        true
    }
}

/// Caches the freed object `p` in bin `b` if there is room, returning whether it did.
///
/// # Safety
/// `b` is a bin of the calling thread's live cache, and `p` a live object of its class.
#[inline(always)]
unsafe fn push(b: *mut TcacheBin, p: *mut u8) -> bool {
    // SAFETY: the caller's cache; below limit, *top is a free slot, and top[-1] is the top
    // object or, for an empty stack, the null guard.
    unsafe {
        let b = &mut *b;
        let top = b.top;
        if top == b.limit {
            return false;
        }
        // p is never null, so it equals the guard of an empty stack never.
        if *top.sub(1) == p {
            double_free();
        }
        *top = p;
        b.top = top.add(1);
        true
    }
}

#[cold]
fn double_free() -> ! {
    crate::message::fatal("free(): double free (the object was freed twice in a row)")
}

/// Caches the freed object `p` of bin `binind`, flushing half the stack first if it is full.
///
/// # Safety
/// As `push`: `t` is the calling thread's live cache, `binind < nhbins`, and `p` a live
/// object of that class.
#[inline]
pub unsafe fn dalloc(t: *mut Tcache, binind: usize, p: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe {
        tick(t);
        if !push(Tcache::bin(t, binind), p) {
            dalloc_miss(t, binind, p);
        }
    }
}

/// # Safety
/// As `push`: `t` is the calling thread's live cache, `binind < nhbins`, and `p` a live
/// object of that class.
#[cold]
#[inline(never)]
unsafe fn dalloc_miss(t: *mut Tcache, binind: usize, p: *mut u8) {
    // SAFETY: forwarded contract; after the flush there is room.
    unsafe {
        let max = (*Tcache::bin(t, binind)).ncached_max;
        flush(t, binind, max as usize / 2);
        let ok = push(Tcache::bin(t, binind), p);
        debug_assert!(ok);
    }
}

/// Counts one cache event and runs a GC step when due.
///
/// # Safety
/// `t` is the calling thread's live cache.
#[inline(always)]
unsafe fn tick(t: *mut Tcache) {
    // SAFETY: forwarded contract.
    unsafe {
        if event_due(t) {
            gc_step(t);
        }
    }
}

/// Counts one cache event; true when it makes a GC step due.
///
/// # Safety
/// `t` is the calling thread's live cache.
#[inline(always)]
unsafe fn event_due(t: *mut Tcache) -> bool {
    // SAFETY: the caller's cache.
    unsafe {
        (*t).gc_ticks -= 1;
        (*t).gc_ticks == 0
    }
}

/// One incremental GC step: visit the next bin, flush three quarters of the objects that sat
/// unused since the last visit, and adapt the fill size (smaller if objects sat unused, larger
/// if the stack ran dry). With `opt.lg_tcache_gc_sweep` of -1 there is no GC: the count only
/// starts again.
///
/// # Safety
/// `t` is the calling thread's live cache.
#[cold]
#[inline(never)]
unsafe fn gc_step(t: *mut Tcache) {
    // SAFETY: the caller's cache; next_gc_bin < nhbins; low lies within the bin's stack.
    unsafe {
        (*t).gc_ticks = GEOMETRY.gc_incr.load(Ordering::Relaxed).min(u32::MAX as usize) as u32;
        if g().opts.lg_tcache_gc_sweep < 0 {
            return;
        }
        let i = (*t).next_gc_bin as usize;
        let b = &mut *Tcache::bin(t, i);
        if b.ran_dry {
            if b.lg_fill_div > 1 {
                b.lg_fill_div -= 1;
            }
        } else {
            let low = b.low.offset_from(b.avail()) as usize;
            if low > 0 {
                let keep = b.ncached() - low + (low >> 2);
                flush(t, i, keep);
                if (b.ncached_max >> (b.lg_fill_div + 1)) >= 1 {
                    b.lg_fill_div += 1;
                }
            }
        }
        b.ran_dry = false;
        b.low = b.top;
        (*t).next_gc_bin = ((i + 1) % nhbins()) as u32;
    }
}

/// Returns all but the `keep` most recently cached objects of bin `binind` to the arenas
/// that own them, one arena (one lock) at a time.
///
/// # Safety
/// `t` is the calling thread's live cache and `binind < nhbins`.
pub unsafe fn flush(t: *mut Tcache, binind: usize, keep: usize) {
    let g = g();
    // SAFETY: the caller's cache; every cached object is a live object of this class whose
    // chunk header names its arena.
    unsafe {
        let b = &mut *Tcache::bin(t, binind);
        let ncached = b.ncached();
        if keep >= ncached {
            return;
        }
        let mut left = ncached - keep;
        let objs = b.avail();
        let own = (*t).arena;
        let small = binind < g.sc.nbins;
        while left > 0 {
            let first = Chunk::containing(*objs, g.chunk_mask);
            let arena = &*(*first.0).arena;
            if small {
                arena.bin(binind).lock.lock();
            } else {
                arena.lock.lock();
            }
            if ptr::eq(arena, own) {
                merge_requests(arena, binind, b);
            }
            let deferred = if small {
                let b = arena.bin(binind).locked();
                let deferred = b.dalloc_batch_locked(arena, objs, left);
                stats::update(|| b.stats.nflushes += 1);
                arena.bin(binind).unlock_and_purge(arena);
                deferred
            } else {
                let mut deferred = 0;
                for j in 0..left {
                    let p = *objs.add(j);
                    let c = Chunk::containing(p, g.chunk_mask);
                    if !ptr::eq((*c.0).arena, arena) {
                        *objs.add(deferred) = p;
                        deferred += 1;
                        continue;
                    }
                    large::dalloc_locked(arena, c, c.page_of(p));
                }
                arena.maybe_purge();
                arena.unlock();
                deferred
            };
            left = deferred;
        }
        ptr::copy(objs.add(ncached - keep), objs, keep);
        b.top = objs.add(keep);
        if b.top < b.low {
            b.low = b.top;
        }
    }
}

/// Folds the cache's request count into its own arena's statistics.
///
/// # Safety
/// The bin lock (small) or arena lock (large) of `arena` is held.
unsafe fn merge_requests(arena: &Arena, binind: usize, b: &mut TcacheBin) {
    let g = g();
    let n = core::mem::take(&mut b.nrequests);
    stats::update(|| {
        // SAFETY: the matching lock is held (caller).
        unsafe {
            if binind < g.sc.nbins {
                arena.bin(binind).locked().stats.nrequests += n;
            } else {
                arena.state().stats.nrequests_large += n;
                arena.lstats(binind - g.sc.nbins + 1).nrequests += n;
            }
        }
    });
}

/// Empties every bin of the cache `t`.
///
/// # Safety
/// `t` is the calling thread's live cache.
pub unsafe fn flush_all(t: *mut Tcache) {
    for i in 0..nhbins() {
        // SAFETY: forwarded contract.
        unsafe {
            flush(t, i, 0);
            merge_pending_requests(t, i);
        }
    }
}

/// Folds what bin `binind` of the cache `t` counted since its last merge into its arena.
///
/// # Safety
/// `t` is the calling thread's live cache and `binind < nhbins`.
unsafe fn merge_pending_requests(t: *mut Tcache, binind: usize) {
    // SAFETY: the caller's cache; its arena lives forever.
    unsafe {
        let b = &mut *Tcache::bin(t, binind);
        if b.nrequests == 0 {
            return;
        }
        let arena = &*(*t).arena;
        if binind < g().sc.nbins {
            arena.bin(binind).lock.lock();
            merge_requests(arena, binind, b);
            arena.bin(binind).lock.unlock();
        } else {
            arena.lock.lock();
            merge_requests(arena, binind, b);
            arena.unlock();
        }
    }
}

/// `tcache.flush`: empties the calling thread's cache, if it has one.
pub fn flush_current_thread() {
    let t = thread::tcache();
    if !t.is_null() {
        // SAFETY: the calling thread's own live cache.
        unsafe { flush_all(t) };
    }
}

/// Folds the requests the calling thread's cache served since its last fill or flush into its
/// arena's statistics, keeping the cached objects (`epoch` calls it so that a thread reads its
/// own requests; other threads' caches merge at their next fill, flush or exit).
pub fn merge_current_thread_requests() {
    let t = thread::tcache();
    if t.is_null() || !stats::STATS {
        return;
    }
    for i in 0..nhbins() {
        // SAFETY: the calling thread's own live cache; i < nhbins.
        unsafe { merge_pending_requests(t, i) };
    }
}

/// Empties the cache and puts it in the pool for a future thread.
///
/// # Safety
/// `t` is the calling (exiting) thread's live cache, no longer reachable from its state.
pub unsafe fn destroy(t: *mut Tcache) {
    // SAFETY: forwarded contract; POOL is only touched under pool_lock.
    unsafe {
        flush_all(t);
        thread::pool_lock().lock();
        (*t).pool_next = POOL;
        POOL = t;
        thread::pool_lock().unlock();
    }
}
