//! Free page runs of one arena, bucketed by exact length, with a two-level bitmap over the
//! buckets so that the smallest run of at least n pages is found in a few word operations.
//!
//! jemalloc 2.2.1 keeps free runs in red-black trees ordered by (size, address)
//! (`runs_avail_dirty`, `runs_avail_clean`); buckets by exact length give the same best fit in
//! O(1). The list links live in the first map entry of each free run. Guarded by the owning
//! arena's lock (the caller holds it for every method).

use crate::chunk_map::MapEntry;
use core::ptr;

pub struct RunBuckets {
    /// `heads[n]`: first free run of exactly `n` pages, linked through `MapEntry::link`
    /// (next, previous).
    heads: *mut *mut MapEntry,
    /// Bit `n` set iff `heads[n]` is non-empty.
    bits: *mut u64,
    /// Bit `w` set iff `bits[w]` is non-zero.
    summary: *mut u64,
    words: usize,
}

impl RunBuckets {
    /// Buckets for runs of up to `max_pages` pages, in base memory; None when out of memory.
    pub fn new(max_pages: usize) -> Option<RunBuckets> {
        let words = (max_pages + 1).div_ceil(64);
        let heads = crate::base::alloc((max_pages + 1) * 8) as *mut *mut MapEntry;
        let bits = crate::base::alloc(words * 8) as *mut u64;
        let summary = crate::base::alloc(words.div_ceil(64) * 8) as *mut u64;
        if heads.is_null() || bits.is_null() || summary.is_null() {
            return None;
        }
        Some(RunBuckets { heads, bits, summary, words })
    }

    /// Files the free run whose first entry is `e`.
    ///
    /// # Safety
    /// Arena lock held; `e` heads a free run of `npages` pages that is in no bucket.
    pub unsafe fn insert(&mut self, e: *mut MapEntry, npages: usize) {
        // SAFETY: heads has max_pages + 1 slots, npages is a run length within a chunk, and
        // the linked entries are live heads of free runs.
        unsafe {
            let head = self.heads.add(npages);
            (*e).link = [*head, ptr::null_mut()];
            if !(*head).is_null() {
                (**head).link[1] = e;
            }
            *head = e;
            let w = npages / 64;
            *self.bits.add(w) |= 1 << (npages % 64);
            *self.summary.add(w / 64) |= 1 << (w % 64);
        }
    }

    /// Unfiles the free run whose first entry is `e`.
    ///
    /// # Safety
    /// Arena lock held; `e` heads a free run of `npages` pages that is in this set.
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
            *self.heads.add(npages) = next;
            if next.is_null() {
                let w = npages / 64;
                let word = self.bits.add(w);
                *word &= !(1 << (npages % 64));
                if *word == 0 {
                    *self.summary.add(w / 64) &= !(1 << (w % 64));
                }
            }
        }
    }

    /// The head of a smallest free run of at least `npages` pages, and its length.
    ///
    /// # Safety
    /// Arena lock held.
    pub unsafe fn first_fit(&self, npages: usize) -> Option<(*mut MapEntry, usize)> {
        // SAFETY: every index stays below `words` (bits) or `words / 64` (summary).
        unsafe {
            let w = npages / 64;
            if w >= self.words {
                return None;
            }
            let here = *self.bits.add(w) & (!0u64 << (npages % 64));
            let len = if here != 0 {
                w * 64 + here.trailing_zeros() as usize
            } else {
                let from = w + 1;
                let nsummary = self.words.div_ceil(64);
                let mut found = None;
                let mut s = from / 64;
                while s < nsummary {
                    let mask = if s == from / 64 { !0u64 << (from % 64) } else { !0 };
                    let sbits = *self.summary.add(s) & mask;
                    if sbits != 0 {
                        let word = s * 64 + sbits.trailing_zeros() as usize;
                        found = Some(word * 64 + (*self.bits.add(word)).trailing_zeros() as usize);
                        break;
                    }
                    s += 1;
                }
                found?
            };
            Some((*self.heads.add(len), len))
        }
    }
}
