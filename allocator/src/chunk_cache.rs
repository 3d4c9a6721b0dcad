//! The chunk cache: freed huge objects kept mapped, with their pages, for the next huge request.
//! Only ranges of the mmap source ([`chunk::from_mmap`]) are cached: their pages can be moved
//! with `mremap` and they need not read as zero.
//!
//! An extension of jemalloc 2.2.1, which unmaps a huge object at free (`huge.c`,
//! `chunk_dealloc`); its nearest relative there is the recycling of dss chunks
//! (`chunk_recycle_dss`). A program that churns big blocks would otherwise pay `mmap`, a page
//! fault on every page it touches (the kernel zeroing each) and `munmap` for every block.
//!
//! Entry points: [`take`] (a cached range for a new huge object), [`take_pages`] (cached ranges
//! whose pages a caller moves into a fresh mapping with `mremap`), [`put`] (a freed huge object)
//! and [`flush`] (`arenas.purge`). Cached ranges are chunk-aligned multiples of the chunk size,
//! unregistered in the chunk registry (a pointer into one is not a live object), adjacent ones
//! merged. They stay counted in `stats.chunks.current` and `stats.mapped`, since they are
//! mapped, but not in `stats.huge.allocated` nor `stats.active`.
//!
//! The bound, and the schedule on which memory goes back: the cache holds at most the greater
//! of `stats.huge.allocated >> opt.lg_dirty_mult` (the manual's dirty-page ratio, applied to
//! huge objects) and four times the largest recent request, which decays by 1/16 at every huge
//! free, and never more than twice the bytes of the huge objects still live. A program in a
//! steady churn keeps enough to serve its next blocks (the amount it holds cached wanders
//! with the sizes it frees and asks for; the wider the bound, the less often it must unmap
//! or fault); one that frees its huge objects for good gets the memory back as it frees, all
//! of it once none is live. `lg_dirty_mult:-1` (no purging) keeps only
//! the churn term. Over the bound, the oldest ranges are unmapped, tail first.
//!
//! Locking: [`CACHE`] guards everything here; it is never held across a system call: ranges
//! to unmap are collected under it and unmapped after it is dropped.

use crate::chunk;
use crate::global::g;
use crate::mutex::Mutex;

/// Most ranges kept; a full cache unmaps its oldest to admit a new one.
const SLOTS: usize = 32;

#[derive(Clone, Copy)]
struct Range {
    addr: usize,
    size: usize,
    /// When it was cached, in frees: the lowest is the oldest.
    stamp: u64,
}

pub struct CacheState {
    ranges: [Range; SLOTS],
    len: usize,
    /// Bytes in `ranges`.
    cached: usize,
    /// Four times the largest recent request, decayed at every free.
    recent: usize,
    frees: u64,
}

pub static CACHE: Mutex<CacheState> =
    Mutex::new(CacheState { ranges: [Range { addr: 0, size: 0, stamp: 0 }; SLOTS], len: 0, cached: 0, recent: 0, frees: 0 });

/// Ranges to unmap once the lock is dropped.
struct Evicted {
    ranges: [(usize, usize); SLOTS + 1],
    len: usize,
}

impl Evicted {
    const fn new() -> Self {
        Evicted { ranges: [(0, 0); SLOTS + 1], len: 0 }
    }

    fn push(&mut self, addr: usize, size: usize) {
        if self.len < self.ranges.len() {
            self.ranges[self.len] = (addr, size);
            self.len += 1;
        } else {
            // Never happens (at most one range per slot, plus the one being put), but a full
            // list unmaps at once rather than leak.
            unmap(addr, size);
        }
    }

    fn unmap_all(self) {
        for &(addr, size) in &self.ranges[..self.len] {
            unmap(addr, size);
        }
    }
}

fn unmap(addr: usize, size: usize) {
    chunk::dealloc(addr as *mut u8, size);
    chunk::note_unmapped(size >> g().sc.lg_chunk);
}

impl CacheState {
    fn remove(&mut self, i: usize) -> Range {
        let r = self.ranges[i];
        self.len -= 1;
        self.ranges[i] = self.ranges[self.len];
        self.cached -= r.size;
        r
    }

    /// Notes a request of `size` bytes: the churn term of the bound.
    fn note_request(&mut self, size: usize) {
        self.recent = self.recent.max(size.saturating_mul(4));
    }

    /// The most bytes the cache may hold while `allocated` bytes of huge objects are live.
    fn limit(&self, allocated: usize) -> usize {
        let lg = g().opts.lg_dirty_mult;
        let ratio = if lg < 0 { 0 } else { allocated >> lg };
        ratio.max(self.recent).min(allocated.saturating_mul(2))
    }

    /// Unmaps (into `out`) the oldest ranges' tails until the cache is within `limit`.
    fn trim(&mut self, limit: usize, out: &mut Evicted) {
        let chunk_mask = g().chunk_mask;
        while self.cached > limit && self.len > 0 {
            let oldest = (0..self.len).min_by_key(|&i| self.ranges[i].stamp).unwrap_or(0);
            let excess = (self.cached - limit + chunk_mask) & !chunk_mask;
            let r = &mut self.ranges[oldest];
            if excess < r.size {
                r.size -= excess;
                self.cached -= excess;
                out.push(r.addr + r.size, excess);
            } else {
                let r = self.remove(oldest);
                out.push(r.addr, r.size);
            }
        }
    }
}

/// A cached range of `size` bytes (a chunk multiple) aligned to `align`, the smallest that
/// fits, split off the front of a larger one if need be. Its pages hold old data.
pub fn take(size: usize, align: usize) -> Option<*mut u8> {
    let mut c = CACHE.lock();
    c.note_request(size);
    let best = (0..c.len)
        .filter(|&i| c.ranges[i].size >= size && c.ranges[i].addr & (align - 1) == 0)
        .min_by_key(|&i| c.ranges[i].size)?;
    let r = &mut c.ranges[best];
    let addr = r.addr;
    if r.size > size {
        r.addr += size;
        r.size -= size;
        c.cached -= size;
    } else {
        c.remove(best);
    }
    Some(addr as *mut u8)
}

/// The largest cached range of at most `room` bytes, taken out of the cache so that the
/// caller can move its pages into `room` bytes of a new mapping; `(addr, len)`.
pub fn take_pages(room: usize) -> Option<(*mut u8, usize)> {
    let mut c = CACHE.lock();
    let largest = (0..c.len).filter(|&i| c.ranges[i].size <= room).max_by_key(|&i| c.ranges[i].size)?;
    let r = c.remove(largest);
    Some((r.addr as *mut u8, r.size))
}

/// Caches the freed huge object `[addr, addr + size)` (chunk-aligned, a chunk multiple,
/// already unregistered), then trims the cache to its bound given `allocated` live huge bytes
/// (after this free). Unmaps what the bound leaves out.
pub fn put(addr: *mut u8, size: usize, allocated: usize) {
    let mut out = Evicted::new();
    {
        let mut c = CACHE.lock();
        c.recent -= c.recent >> 4;
        c.frees += 1;
        let stamp = c.frees;
        let (mut addr, mut size) = (addr as usize, size);
        // Merge with the neighbours, so that a later bigger request can take both.
        let mut i = 0;
        while i < c.len {
            let r = c.ranges[i];
            if r.addr + r.size == addr || addr + size == r.addr {
                c.remove(i);
                addr = addr.min(r.addr);
                size += r.size;
            } else {
                i += 1;
            }
        }
        if c.len == SLOTS {
            let oldest = (0..c.len).min_by_key(|&i| c.ranges[i].stamp).unwrap_or(0);
            let r = c.remove(oldest);
            out.push(r.addr, r.size);
        }
        let n = c.len;
        c.ranges[n] = Range { addr, size, stamp };
        c.len += 1;
        c.cached += size;
        let limit = c.limit(allocated);
        c.trim(limit, &mut out);
    }
    out.unmap_all();
}

/// Unmaps everything cached and forgets the recent churn (`arenas.purge`).
pub fn flush() {
    let mut out = Evicted::new();
    {
        let mut c = CACHE.lock();
        c.recent = 0;
        while c.len > 0 {
            let last = c.len - 1;
            let r = c.remove(last);
            out.push(r.addr, r.size);
        }
    }
    out.unmap_all();
}

/// Bytes cached now.
pub fn cached() -> usize {
    CACHE.lock().cached
}

#[cfg(test)]
mod tests;
