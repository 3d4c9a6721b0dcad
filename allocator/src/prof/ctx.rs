//! Profiling contexts: one per distinct backtrace, with its in-use and cumulative counts, and
//! the per-thread backtrace caches in front of the global table.
//!
//! Mirrors jemalloc 2.2.1's `prof_ctx_t`, `bt2ctx` and the per-thread `bt2cnt` caches. A
//! context is made once, from base pages, and never freed, so a pointer to one stays valid in
//! every thread forever. Its counters are atomics that any thread updates: the thread that
//! frees an object need not be the one that allocated it, and a thread's exit loses nothing.
//! The global table ([`BT2CTX`], its lock) maps backtraces to contexts and links every context
//! into a list that dumps walk without the lock (contexts are published fully made). Each
//! thread keeps a cache of the contexts it used (`opt.lg_prof_tcmax` bounds it), so that a
//! repeated backtrace takes no lock.

use crate::mutex::Mutex;
use core::ptr;
use core::sync::atomic::{AtomicI64, AtomicPtr, AtomicU64, Ordering};

/// One backtrace's counts, followed in memory by its `len` frames.
#[repr(C)]
pub struct Ctx {
    /// Next context in the same bucket of the global table (BT2CTX lock).
    bucket_next: *mut Ctx,
    /// Next context in the list of all contexts (written once, before publication).
    all_next: *mut Ctx,
    pub hash: u64,
    pub len: usize,
    pub curobjs: AtomicI64,
    pub curbytes: AtomicI64,
    pub accumobjs: AtomicU64,
    pub accumbytes: AtomicU64,
    /// The counts as the dump in progress read them (dump lock).
    pub dumped: [AtomicU64; 4],
}

impl Ctx {
    pub fn frames(&self) -> &[usize] {
        // SAFETY: a context is allocated with room for `len` frames right after it.
        unsafe { core::slice::from_raw_parts((self as *const Ctx).add(1).cast::<usize>(), self.len) }
    }

    /// Counts one sampled object of `size` bytes.
    pub fn add(&self, size: usize, accum: bool) {
        self.curobjs.fetch_add(1, Ordering::Relaxed);
        self.curbytes.fetch_add(size as i64, Ordering::Relaxed);
        if accum {
            self.accumobjs.fetch_add(1, Ordering::Relaxed);
            self.accumbytes.fetch_add(size as u64, Ordering::Relaxed);
        }
    }

    /// Uncounts a freed sampled object of `size` bytes.
    pub fn sub(&self, size: usize) {
        self.curobjs.fetch_sub(1, Ordering::Relaxed);
        self.curbytes.fetch_sub(size as i64, Ordering::Relaxed);
    }
}

/// The hash of a backtrace.
pub fn hash(frames: &[usize]) -> u64 {
    let mut h: u64 = 0x94122f335b332aea ^ frames.len() as u64;
    for &f in frames {
        h = (h ^ f as u64).wrapping_mul(0x9e3779b97f4a7c15);
        h ^= h >> 29;
    }
    h
}

const LG_BUCKETS: u32 = 14;
const NBUCKETS: usize = 1 << LG_BUCKETS;

struct Table {
    buckets: *mut *mut Ctx,
}

// SAFETY: the buckets are base memory, reachable from any thread under the lock.
unsafe impl Send for Table {}

/// The global backtrace -> context table.
static BT2CTX: Mutex<Table> = Mutex::new(Table { buckets: ptr::null_mut() });
/// Every context, newest first; walked by dumps without a lock.
static ALL: AtomicPtr<Ctx> = AtomicPtr::new(ptr::null_mut());

pub(crate) fn lock() -> &'static crate::mutex::RawMutex {
    BT2CTX.raw()
}

fn same(c: &Ctx, h: u64, frames: &[usize]) -> bool {
    c.hash == h && c.frames() == frames
}

/// The context of `frames` (hash `h`), made if new; null when out of memory.
pub fn lookup_global(frames: &[usize], h: u64) -> *mut Ctx {
    let mut t = BT2CTX.lock();
    if t.buckets.is_null() {
        t.buckets = crate::base::alloc(NBUCKETS * core::mem::size_of::<*mut Ctx>()).cast();
        if t.buckets.is_null() {
            return ptr::null_mut();
        }
    }
    // SAFETY: buckets has NBUCKETS entries; chains hold live contexts (never freed).
    unsafe {
        let slot = t.buckets.add((h >> (64 - LG_BUCKETS)) as usize);
        let mut c = *slot;
        while !c.is_null() {
            if same(&*c, h, frames) {
                return c;
            }
            c = (*c).bucket_next;
        }
        let c = crate::base::alloc(core::mem::size_of::<Ctx>() + core::mem::size_of_val(frames)) as *mut Ctx;
        if c.is_null() {
            return c;
        }
        c.write(Ctx {
            bucket_next: *slot,
            all_next: ALL.load(Ordering::Relaxed),
            hash: h,
            len: frames.len(),
            curobjs: AtomicI64::new(0),
            curbytes: AtomicI64::new(0),
            accumobjs: AtomicU64::new(0),
            accumbytes: AtomicU64::new(0),
            dumped: [const { AtomicU64::new(0) }; 4],
        });
        ptr::copy_nonoverlapping(frames.as_ptr(), c.add(1).cast::<usize>(), frames.len());
        *slot = c;
        ALL.store(c, Ordering::Release);
        c
    }
}

/// Calls `f` on every context made so far.
pub fn for_each(mut f: impl FnMut(&'static Ctx)) {
    let mut c = ALL.load(Ordering::Acquire);
    while !c.is_null() {
        // SAFETY: published contexts are fully written and never freed.
        unsafe {
            f(&*c);
            c = (*c).all_next;
        }
    }
}

/// A thread's cache of contexts: open addressing on the backtrace hash, grown by doubling up
/// to its limit, emptied when full at the limit.
pub struct ThreadCache {
    slots: *mut *mut Ctx,
    cap: usize,
    len: usize,
}

const MIN_CAP: usize = crate::size_classes::PAGE / core::mem::size_of::<*mut Ctx>();
const PROBES: usize = 8;

impl ThreadCache {
    pub const EMPTY: ThreadCache = ThreadCache { slots: ptr::null_mut(), cap: 0, len: 0 };

    /// The context of `frames`, from the cache or the global table; null when out of memory.
    /// `limit` is the most entries the cache may hold (`usize::MAX`: no limit).
    pub fn lookup(&mut self, frames: &[usize], limit: usize) -> *mut Ctx {
        let h = hash(frames);
        if self.cap != 0 {
            for i in 0..PROBES.min(self.cap) {
                // SAFETY: the index is masked into the cache's cap slots.
                let c = unsafe { *self.slots.add((h as usize).wrapping_add(i) & (self.cap - 1)) };
                if c.is_null() {
                    break;
                }
                // SAFETY: cached contexts are never freed.
                if same(unsafe { &*c }, h, frames) {
                    return c;
                }
            }
        }
        let c = lookup_global(frames, h);
        if !c.is_null() {
            self.insert(c, h, limit);
        }
        c
    }

    fn insert(&mut self, c: *mut Ctx, h: u64, limit: usize) {
        let limit = limit.max(1);
        if self.len >= limit {
            self.clear();
        }
        if (self.len + 1) * 4 > self.cap * 3 {
            let max_cap = if limit == usize::MAX { usize::MAX } else { (limit + limit / 3 + 1).next_power_of_two().max(MIN_CAP) };
            let want = (self.cap * 2).max(MIN_CAP);
            if !(want <= max_cap && self.grow(want)) {
                if self.cap == 0 {
                    return;
                }
                self.clear();
            }
        }
        for i in 0..PROBES.min(self.cap) {
            // SAFETY: masked index into cap slots.
            unsafe {
                let s = self.slots.add((h as usize).wrapping_add(i) & (self.cap - 1));
                if (*s).is_null() {
                    *s = c;
                    self.len += 1;
                    return;
                }
            }
        }
        // A crowded neighbourhood: the newcomer replaces the first entry of its probe run.
        // SAFETY: masked index into cap slots.
        unsafe { *self.slots.add(h as usize & (self.cap - 1)) = c };
    }

    fn clear(&mut self) {
        if self.cap != 0 {
            // SAFETY: the cache owns cap slots.
            unsafe { ptr::write_bytes(self.slots, 0, self.cap) };
        }
        self.len = 0;
    }

    /// Moves the entries into a table of `cap` slots; false when out of memory.
    fn grow(&mut self, cap: usize) -> bool {
        let bytes = cap * core::mem::size_of::<*mut Ctx>();
        let slots = crate::pages::map(ptr::null_mut(), bytes) as *mut *mut Ctx;
        if slots.is_null() {
            return false;
        }
        let (old, old_cap) = (self.slots, self.cap);
        self.slots = slots;
        self.cap = cap;
        self.len = 0;
        for i in 0..old_cap {
            // SAFETY: the old table's cap slots, still mapped.
            let c = unsafe { *old.add(i) };
            if !c.is_null() {
                // SAFETY: cached contexts are never freed.
                let h = unsafe { (*c).hash };
                self.insert(c, h, usize::MAX);
            }
        }
        if !old.is_null() {
            crate::pages::unmap(old.cast(), old_cap * core::mem::size_of::<*mut Ctx>());
        }
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
