//! Free page runs of one arena, indexed for a chunk-ordered good fit: a request takes a dirty
//! run if one is big enough, else a clean one, from the lowest-numbered chunk that holds one
//! and, within that chunk, from the smallest size class of runs that fits.
//!
//! jemalloc 2.2.1 keeps free runs in red-black trees ordered by (size, address)
//! (`runs_avail_dirty`, `runs_avail_clean` in `arena.c`): the best fit anywhere in the arena.
//! Under a churn of big runs, that spreads live runs over every chunk the arena holds, and
//! freed runs everywhere are reused: kept resident, or faulted in again. Preferring the
//! lowest chunks packs live runs there and leaves the highest ones to drain, where the purge
//! takes its pages first ([`crate::arena`]). On a C model of large-churn (64 blocks of 64 KiB
//! to 1 MiB replaced at random, first and last byte written; one thread, 1M replacements)
//! this placement with that purge order took 0.60x the time and 0.47x the page faults of the
//! best fit, at a peak RSS of 38.8 MiB against 30.9 (glibc: 40.6).
//!
//! Entry points: [`FreeRuns::attach`] and [`FreeRuns::detach`] (a chunk joins or leaves the
//! arena's runs), [`FreeRuns::insert`] and [`FreeRuns::remove`] (a free run),
//! [`FreeRuns::first_fit_in`] (the arena asks the dirty set first, then the clean one).
//!
//! Structure: each chunk takes the lowest free slot when it joins. A slot keeps its chunk's
//! free runs in lists by size class (exact up to seven pages, then four classes per doubling
//! up to 8192 pages, one per doubling above), dirty and clean apart, with a bitmap of the
//! non-empty lists; the lists link through the runs' first map entries. Two max trees over
//! the slots, dirty and clean, hold for each chunk a bound on its longest free run of the
//! kind: raised exactly as runs are filed, left high as they are taken, and made exact when a
//! search finds it stale. Dirty runs go first wherever they are, so that pages already
//! resident are reused before clean ones are faulted in. Slots and the trees live in base
//! memory and double when full (the old arrays stay behind in base memory: at most as much
//! again). Guarded by the owning arena's lock: the caller holds it for every method.

use crate::chunk_map::{Chunk, ChunkHeader, MapEntry};
use core::ptr;

/// The set of clean runs, for [`FreeRuns::first_fit_in`].
pub const CLEAN_RUNS: usize = 0;
/// The set of dirty runs.
pub const DIRTY_RUNS: usize = 1;
/// Run lengths up to this many pages have a class each.
const EXACT: usize = 7;
/// From runs of 2^COARSE pages up, one class per doubling.
const COARSE: usize = 13;
/// Classes a chunk of at most 2^30 bytes needs (`class_of(1 << 18)` is 52), within a u64.
const MAX_CLASSES: usize = 64;
/// Slots of a new arena's index.
const FIRST_CAP: usize = 4;

/// `class_of` of the run lengths below 1024 pages (those of the default 4 MiB chunks), looked
/// up rather than computed.
static SMALL_CLASSES: [u8; 1024] = {
    let mut t = [0u8; 1024];
    let mut n = 1;
    while n < 1024 {
        t[n] = compute_class(n) as u8;
        n += 1;
    }
    t
};

/// The size class of a run of `npages` (> 0) pages: `npages - 1` up to `EXACT` pages, then
/// four classes per doubling up to 2^`COARSE` pages, then one per doubling.
#[inline]
pub fn class_of(npages: usize) -> usize {
    match SMALL_CLASSES.get(npages) {
        Some(&k) => k as usize,
        None => compute_class(npages),
    }
}

const fn compute_class(npages: usize) -> usize {
    if npages <= EXACT {
        return npages - 1;
    }
    let lg = (usize::BITS - 1 - npages.leading_zeros()) as usize;
    if lg < COARSE {
        EXACT + (lg - 3) * 4 + ((npages >> (lg - 2)) & 3)
    } else {
        EXACT + (COARSE - 3) * 4 + (lg - COARSE)
    }
}

/// One chunk's free runs. The list heads, `2 * nclasses` of them, follow it in the same base
/// allocation.
#[repr(C)]
pub struct Slot {
    /// The chunk in this slot, or null when the slot is free.
    chunk: *mut ChunkHeader,
    /// The slot's index.
    index: usize,
    /// Bit `k` of `nonempty[set]`: the list of class `k` in `set` (0 clean, 1 dirty) has runs.
    nonempty: [u64; 2],
}

pub struct FreeRuns {
    /// `cap` slot pointers; null until a slot is first used.
    slots: *mut *mut Slot,
    /// The max trees, clean (0) and dirty (1): `tree[set][cap + i]` bounds the longest free
    /// run of that set in slot `i`'s chunk (0 for a free slot), `tree[set][k]` is the greater
    /// of `tree[set][2k]` and `tree[set][2k + 1]`; `2 * cap` entries each.
    tree: [*mut u32; 2],
    cap: usize,
    nclasses: usize,
}

impl FreeRuns {
    /// An empty index for chunks whose runs are at most `max_pages` pages long.
    pub const fn new(max_pages: usize) -> FreeRuns {
        FreeRuns { slots: ptr::null_mut(), tree: [ptr::null_mut(); 2], cap: 0, nclasses: compute_class(max_pages) + 1 }
    }

    /// The list head of class `k` in `set` of slot `s`.
    ///
    /// # Safety
    /// `s` is an allocated slot of this index, `set < 2`, `k < nclasses`.
    #[inline]
    unsafe fn head(&self, s: *mut Slot, set: usize, k: usize) -> *mut *mut MapEntry {
        // SAFETY: the heads, 2 * nclasses of them, follow the slot in its allocation.
        unsafe { (s.add(1) as *mut *mut MapEntry).add(set * self.nclasses + k) }
    }

    /// The slot of the chunk holding the free run headed by `e`.
    ///
    /// # Safety
    /// `e` is a map entry of an attached chunk.
    #[inline]
    unsafe fn slot_of(&self, e: *const MapEntry) -> *mut Slot {
        let mask = crate::global::g().chunk_mask;
        // SAFETY: attached chunks record their slot.
        unsafe { (*Chunk::containing(e.cast(), mask).0).slot }
    }

    fn grow(&mut self) -> bool {
        let cap = (self.cap * 2).max(FIRST_CAP);
        let slots = crate::base::alloc(cap * core::mem::size_of::<*mut Slot>()) as *mut *mut Slot;
        let tree = [0; 2].map(|_| crate::base::alloc(2 * cap * core::mem::size_of::<u32>()) as *mut u32);
        if slots.is_null() || tree.iter().any(|t| t.is_null()) {
            return false;
        }
        // SAFETY: the new arrays are fresh, zeroed and twice the size of the old ones, which
        // hold `cap / 2` valid entries (none when the index is new).
        unsafe {
            if self.cap > 0 {
                ptr::copy_nonoverlapping(self.slots, slots, self.cap);
            }
            for (&old, &t) in self.tree.iter().zip(&tree) {
                if self.cap > 0 {
                    ptr::copy_nonoverlapping(old.add(self.cap), t.add(cap), self.cap);
                }
                for k in (1..cap).rev() {
                    *t.add(k) = (*t.add(2 * k)).max(*t.add(2 * k + 1));
                }
            }
        }
        self.slots = slots;
        self.tree = tree;
        self.cap = cap;
        true
    }

    /// Slots in the index, free ones included.
    pub fn slots(&self) -> usize {
        self.cap
    }

    /// The chunk in slot `i` (below [`FreeRuns::slots`]), if any.
    pub fn chunk_in(&self, i: usize) -> Option<Chunk> {
        assert!(i < self.cap);
        // SAFETY: i < cap; a non-null slot pointer is an allocated slot.
        let s = unsafe { *self.slots.add(i) };
        // SAFETY: as above.
        (!s.is_null() && !unsafe { (*s).chunk }.is_null()).then(|| Chunk(unsafe { (*s).chunk }))
    }

    /// Gives chunk `c`, which has no runs filed, the lowest free slot, growing the index if
    /// every slot is taken; false when base memory is exhausted.
    ///
    /// # Safety
    /// `c` is a live chunk of the arena, not attached.
    pub unsafe fn attach(&mut self, c: Chunk) -> bool {
        // SAFETY: slots below cap are either null or allocated.
        let is_free = |i: usize| unsafe { (*self.slots.add(i)).is_null() || (**self.slots.add(i)).chunk.is_null() };
        let i = match (0..self.cap).find(|&i| is_free(i)) {
            Some(i) => i,
            None => {
                let i = self.cap;
                if !self.grow() {
                    return false;
                }
                i
            }
        };
        // SAFETY: i < cap; a slot is allocated once, from fresh zeroed base memory of the
        // slot's size (a null chunk, empty lists), and a free one has empty lists.
        unsafe {
            if (*self.slots.add(i)).is_null() {
                let size = core::mem::size_of::<Slot>() + 2 * self.nclasses * core::mem::size_of::<*mut MapEntry>();
                let s = crate::base::alloc(size) as *mut Slot;
                if s.is_null() {
                    return false;
                }
                *self.slots.add(i) = s;
            }
            let s = &mut **self.slots.add(i);
            debug_assert!(s.nonempty == [0, 0]);
            s.chunk = c.0;
            s.index = i;
            (*c.0).slot = s;
        }
        true
    }

    /// Frees the slot of chunk `c`, which has no runs filed.
    ///
    /// # Safety
    /// `c` is attached.
    pub unsafe fn detach(&mut self, c: Chunk) {
        // SAFETY: an attached chunk's slot is allocated and below cap.
        unsafe {
            let s = &mut *(*c.0).slot;
            let i = s.index;
            debug_assert!(s.nonempty == [0, 0]);
            s.chunk = ptr::null_mut();
            (*c.0).slot = ptr::null_mut();
            self.set_bound(0, i, 0);
            self.set_bound(1, i, 0);
        }
    }

    /// Files the free run whose first entry is `e`, in the list its dirtiness and length say.
    ///
    /// # Safety
    /// `e` heads a free run of `npages` pages, in no list, of an attached chunk.
    pub unsafe fn insert(&mut self, e: *mut MapEntry, npages: usize) {
        // SAFETY: the slot is allocated (attached chunk); the linked entries head free runs.
        unsafe {
            let (set, k) = ((*e).is_dirty() as usize, class_of(npages));
            let s = self.slot_of(e);
            let head = self.head(s, set, k);
            (*e).link = [*head, ptr::null_mut()];
            if !(*head).is_null() {
                (**head).link[1] = e;
            }
            *head = e;
            (*s).nonempty[set] |= 1 << k;
            self.raise(set, (*s).index, npages);
        }
    }

    /// Unfiles the free run whose first entry is `e`. The chunk's bound stays as it was.
    ///
    /// # Safety
    /// `e` heads a free run of `npages` pages that is filed here, with the dirtiness it was
    /// filed with.
    pub unsafe fn remove(&mut self, e: *mut MapEntry, npages: usize) {
        // SAFETY: as in insert.
        unsafe {
            let [next, prev] = (*e).link;
            if !next.is_null() {
                (*next).link[1] = prev;
            }
            if !prev.is_null() {
                (*prev).link[0] = next;
                return;
            }
            let (set, k) = ((*e).is_dirty() as usize, class_of(npages));
            let s = self.slot_of(e);
            *self.head(s, set, k) = next;
            if next.is_null() {
                (*s).nonempty[set] &= !(1 << k);
            }
        }
    }

    /// A dirty run if one fits, else a clean one, as the arena takes them (with a merge of an
    /// empty chunk between the two: `Arena::run_alloc`); for the tests.
    #[cfg(test)]
    pub fn first_fit(&mut self, npages: usize) -> Option<(*mut MapEntry, usize)> {
        self.first_fit_in(DIRTY_RUNS, npages).or_else(|| self.first_fit_in(CLEAN_RUNS, npages))
    }

    /// The head of a free run of `set` ([`DIRTY_RUNS`] or [`CLEAN_RUNS`]) of at least `npages`
    /// pages and its length: one from the lowest-numbered chunk that has one, and in it from
    /// the smallest class that holds a fit.
    #[inline]
    pub fn first_fit_in(&mut self, set: usize, npages: usize) -> Option<(*mut MapEntry, usize)> {
        while let Some(i) = self.leftmost(set, npages) {
            // SAFETY: a slot with a non-zero bound is allocated.
            let s = unsafe { *self.slots.add(i) };
            // SAFETY: s is an allocated slot; its lists hold free runs of its chunk.
            if let Some(fit) = unsafe { self.fit_in(s, set, npages) } {
                return Some(fit);
            }
            self.make_exact(set, i);
        }
        None
    }

    /// Slot `i`'s bound in `set` was stale: makes it exact.
    #[cold]
    fn make_exact(&mut self, set: usize, i: usize) {
        // SAFETY: the caller found slot i through a non-zero bound, so it is allocated.
        let exact = unsafe { self.longest(*self.slots.add(i), set) };
        self.set_bound(set, i, exact);
    }

    /// A free run of `set` of at least `npages` pages in slot `s`.
    ///
    /// # Safety
    /// `s` is an allocated slot.
    unsafe fn fit_in(&self, s: *mut Slot, set: usize, npages: usize) -> Option<(*mut MapEntry, usize)> {
        let k = class_of(npages);
        // SAFETY: s is allocated; the lists link live free-run heads.
        unsafe {
            let bits = (*s).nonempty[set];
            if bits & (1 << k) != 0 {
                let mut e = *self.head(s, set, k);
                while !e.is_null() {
                    if (*e).value() >= npages {
                        return Some((e, (*e).value()));
                    }
                    e = (*e).link[0];
                }
            }
            let above = bits & (!1u64 << k);
            if above != 0 {
                let e = *self.head(s, set, above.trailing_zeros() as usize);
                return Some((e, (*e).value()));
            }
        }
        None
    }

    /// The longest free run of `set` in slot `s`'s chunk, in pages (0 for none).
    ///
    /// # Safety
    /// `s` is an allocated slot.
    unsafe fn longest(&self, s: *mut Slot, set: usize) -> u32 {
        // SAFETY: s is allocated; the lists link live free-run heads.
        unsafe {
            let bits = (*s).nonempty[set];
            if bits == 0 {
                return 0;
            }
            let mut longest = 0;
            let mut e = *self.head(s, set, 63 - bits.leading_zeros() as usize);
            while !e.is_null() {
                longest = longest.max((*e).value());
                e = (*e).link[0];
            }
            longest as u32
        }
    }

    /// The lowest slot whose bound in `set` is at least `npages`.
    fn leftmost(&self, set: usize, npages: usize) -> Option<usize> {
        let t = self.tree[set];
        // SAFETY: k stays below 2 * cap: it starts at the root and descends while below cap.
        unsafe {
            if self.cap == 0 || (*t.add(1) as usize) < npages {
                return None;
            }
            let mut k = 1;
            while k < self.cap {
                k = 2 * k + ((*t.add(2 * k) as usize) < npages) as usize;
            }
            Some(k - self.cap)
        }
    }

    /// Raises slot `i`'s bound in `set` to at least `npages`.
    fn raise(&mut self, set: usize, i: usize, npages: usize) {
        let (t, v) = (self.tree[set], npages as u32);
        let mut k = self.cap + i;
        // SAFETY: k walks from a leaf (i < cap) up to the root.
        unsafe {
            while k >= 1 && *t.add(k) < v {
                *t.add(k) = v;
                k /= 2;
            }
        }
    }

    /// Sets slot `i`'s bound in `set` to `v` and the maxima above it.
    fn set_bound(&mut self, set: usize, i: usize, v: u32) {
        let t = self.tree[set];
        let mut k = self.cap + i;
        // SAFETY: as in raise.
        unsafe {
            *t.add(k) = v;
            while k > 1 {
                k /= 2;
                *t.add(k) = (*t.add(2 * k)).max(*t.add(2 * k + 1));
            }
        }
    }
}

const _: () = assert!(compute_class(1 << (crate::size_classes::MAX_LG_CHUNK - crate::size_classes::LG_PAGE)) < MAX_CLASSES);
const _: () = assert!(MAX_CLASSES <= 64);

#[cfg(test)]
mod tests;
