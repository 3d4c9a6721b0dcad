//! The chunk cache: freed huge objects and emptied arena chunks kept mapped, with their
//! pages, for the next huge object or arena chunk. Only ranges of the mmap source
//! ([`chunk::from_mmap`]) are cached: their pages can be moved with `mremap` and they need not
//! read as zero.
//!
//! An extension of jemalloc 2.2.1, which unmaps a huge object at free (`huge.c`,
//! `chunk_dealloc`) and keeps one spare chunk per arena; its nearest relative there is the
//! recycling of dss chunks (`chunk_recycle_dss`). A program that churns big blocks would
//! otherwise pay `mmap`, a page fault on every page it touches (the kernel zeroing each) and
//! `munmap` for every block.
//!
//! Entry points: [`take`] (a cached range for a new huge object), [`take_pages`] (cached ranges,
//! or the front of one, whose pages a caller moves into a fresh mapping with `mremap`),
//! [`take_to_extend`] and [`restore`] (a range a caller extends where it lies), [`put`] (a freed huge
//! object), [`alloc_arena_chunk`] and [`release_arena_chunk`] (an arena's chunks, cached or
//! fresh), [`note_in_use`] (huge objects made or ended) and [`flush`] (`arenas.purge`). Cached
//! ranges are chunk-aligned multiples of the chunk size, unregistered in the chunk registry (a
//! pointer into one is not a live object), adjacent ones merged. A range handed out again holds
//! old data: a huge object zeroes it for calloc, an arena files its pages as dirty (calloc
//! zeroes dirty pages).
//!
//! What counts where: cached ranges stay counted in `stats.chunks.current` and `stats.mapped`,
//! since they are mapped (and a range handed out again is no new chunk in
//! `stats.chunks.total`), but in no arena's `mapped` or `pdirty`, nor in `stats.huge.allocated`,
//! `stats.allocated` or `stats.active`. An arena chunk counts in its arena's `mapped` from the
//! moment the arena takes it until it releases it here.
//!
//! The bound, and the schedule on which memory goes back. "In use" is the chunk memory outside
//! the cache: live huge objects and the chunks arenas hold. The cache holds at most the greater
//! of `in use >> opt.lg_dirty_mult` (the manual's dirty-page ratio) and the churn term, eight
//! times the largest recent request (huge object or arena chunk), which decays by 1/32 at every
//! range put here; and never more than three times the most bytes in use at a recent request
//! (the peak term, decaying by 1/16 at every range put) or the churn term up to 64 MiB,
//! whichever is greater, those last two halving with each range put beyond four in a row
//! with no request between them. A program in a steady churn keeps enough to serve its next blocks however its
//! use swings between them (the amount cached wanders with the sizes it frees and asks for;
//! the wider the bound, the less often it must unmap or fault); one that frees its big blocks
//! for good gets the memory back as it frees: the terms decay with each range freed, the
//! second halves with each free in a row, and the in-use term shrinks with what is freed; and
//! when a thread exits, the churn and peak terms are forgotten ([`thread_exited`]).
//! `lg_dirty_mult:-1` (no purging) keeps only the churn term. Over the bound, the oldest
//! ranges are unmapped, tail first.
//!
//! Locking: [`CACHE`] guards the ranges; it is never held across a system call: ranges to unmap
//! are collected under it and unmapped after it is dropped. The in-use count is an atomic.

use crate::chunk;
use crate::global::g;
use crate::mutex::Mutex;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes the churn term may keep however little is in use (glibc's malloc keeps up to twice
/// its largest mmap threshold, 64 MiB, at the top of its heap).
const FLOOR: usize = 64 << 20;
/// Frees in a row with no request between them that a churn may make (a program's large
/// objects, served by arenas, come between its huge ones); beyond them the 64 MiB floor halves
/// with each further free.
const FREES_IN_A_CHURN: u32 = 4;
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
    /// Eight times the largest recent request, decayed at every free.
    recent: usize,
    /// The most chunk memory in use at a recent request (counting it), decayed at every free.
    peak: usize,
    /// Ranges put here since the last request: a run of frees with no request between them
    /// is a program freeing for good, not churning.
    puts_since_request: u32,
    frees: u64,
}

pub static CACHE: Mutex<CacheState> =
    Mutex::new(CacheState { ranges: [Range { addr: 0, size: 0, stamp: 0 }; SLOTS], len: 0, cached: 0, recent: 0, peak: 0, puts_since_request: 0, frees: 0 });

/// Bytes of chunks in use outside the cache: live huge objects and the chunks arenas hold.
/// Kept whatever the statistics setting: the cache's bound.
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Counts `delta` bytes of chunks put in use (or, wrapping, out of use); returns the bytes in
/// use after the change.
pub fn note_in_use(delta: usize) -> usize {
    IN_USE.fetch_add(delta, Ordering::Relaxed).wrapping_add(delta)
}

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
    chunk::unmap(addr as *mut u8, size);
}

impl CacheState {
    fn remove(&mut self, i: usize) -> Range {
        let r = self.ranges[i];
        self.len -= 1;
        self.ranges[i] = self.ranges[self.len];
        self.cached -= r.size;
        r
    }

    /// Files the range `[addr, addr + size)` with `stamp`, merged with its cached neighbours
    /// (so that a later bigger request can take both); a full cache evicts its oldest range
    /// into `out`.
    fn insert(&mut self, mut addr: usize, mut size: usize, stamp: u64, out: &mut Evicted) {
        let mut i = 0;
        while i < self.len {
            let r = self.ranges[i];
            if r.addr + r.size == addr || addr + size == r.addr {
                self.remove(i);
                addr = addr.min(r.addr);
                size += r.size;
            } else {
                i += 1;
            }
        }
        if self.len == SLOTS {
            let oldest = (0..self.len).min_by_key(|&i| self.ranges[i].stamp).unwrap_or(0);
            let r = self.remove(oldest);
            out.push(r.addr, r.size);
        }
        let n = self.len;
        self.ranges[n] = Range { addr, size, stamp };
        self.len += 1;
        self.cached += size;
    }

    /// Notes a request of `size` bytes: the churn and peak terms of the bound.
    fn note_request(&mut self, size: usize) {
        self.puts_since_request = 0;
        self.recent = self.recent.max(size.saturating_mul(8));
        self.peak = self.peak.max(IN_USE.load(Ordering::Relaxed).saturating_add(size));
    }

    /// The most bytes the cache may hold while `in_use` bytes of chunks are in use.
    fn limit(&self, in_use: usize) -> usize {
        let lg = g().opts.lg_dirty_mult;
        let ratio = if lg < 0 { 0 } else { in_use >> lg };
        let freeing = self.puts_since_request.saturating_sub(FREES_IN_A_CHURN).min(63);
        let (floor, peak) = (self.recent.min(FLOOR) >> freeing, self.peak >> freeing);
        ratio.max(self.recent).min(in_use.max(peak).saturating_mul(3).max(floor))
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
    if !chunk::anonymous_allowed() {
        return None;
    }
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

/// The largest cached range smaller than `size` bytes, aligned to `align`, taken out of the
/// cache so that the caller can extend it to `size` where it lies: `(addr, len)`. A range the
/// caller cannot extend goes back with [`restore`].
pub fn take_to_extend(size: usize, align: usize) -> Option<(*mut u8, usize)> {
    if !chunk::anonymous_allowed() {
        return None;
    }
    let mut c = CACHE.lock();
    let fits = |r: &Range| r.size < size && r.addr & (align - 1) == 0;
    let largest = (0..c.len).filter(|&i| fits(&c.ranges[i])).max_by_key(|&i| c.ranges[i].size)?;
    let r = c.remove(largest);
    Some((r.addr as *mut u8, r.size))
}

/// Puts back a range [`take_to_extend`] took, as the newest, without counting it a free.
pub fn restore(addr: *mut u8, size: usize) {
    let mut out = Evicted::new();
    {
        let mut c = CACHE.lock();
        let stamp = c.frees;
        c.insert(addr as usize, size, stamp, &mut out);
    }
    out.unmap_all();
}

/// Cached pages taken out of the cache so that the caller can move them into `room` bytes (a
/// chunk multiple) of a new mapping: the largest range of at most `room` bytes, or else the
/// first `room` bytes of the smallest larger one; `(addr, len)`.
pub fn take_pages(room: usize) -> Option<(*mut u8, usize)> {
    if room == 0 || !chunk::anonymous_allowed() {
        return None;
    }
    let mut c = CACHE.lock();
    if let Some(largest) = (0..c.len).filter(|&i| c.ranges[i].size <= room).max_by_key(|&i| c.ranges[i].size) {
        let r = c.remove(largest);
        return Some((r.addr as *mut u8, r.size));
    }
    let smallest = (0..c.len).min_by_key(|&i| c.ranges[i].size)?;
    let r = &mut c.ranges[smallest];
    let addr = r.addr;
    r.addr += room;
    r.size -= room;
    c.cached -= room;
    Some((addr as *mut u8, room))
}

/// Caches the freed range `[addr, addr + size)` (chunk-aligned, a chunk multiple, of the mmap
/// source, already unregistered and counted out of use), then trims the cache to its bound.
/// Unmaps what the bound leaves out.
pub fn put(addr: *mut u8, size: usize) {
    let mut out = Evicted::new();
    {
        let mut c = CACHE.lock();
        c.recent -= c.recent >> 5;
        c.peak -= c.peak >> 4;
        c.puts_since_request = c.puts_since_request.saturating_add(1);
        c.frees += 1;
        let stamp = c.frees;
        c.insert(addr as usize, size, stamp, &mut out);
        let limit = c.limit(IN_USE.load(Ordering::Relaxed));
        c.trim(limit, &mut out);
    }
    out.unmap_all();
}

/// A chunk for an arena, registered in the chunk registry and counted in use: a cached one,
/// whose pages hold old data (`false`), or a fresh one that reads as zero (`true`); None when
/// out of memory.
pub fn alloc_arena_chunk() -> Option<(*mut u8, bool)> {
    let g = g();
    let (p, zeroed) = match take(g.sc.chunk_size, g.sc.chunk_size) {
        Some(p) => {
            if g.opts.thp {
                // It may have been a huge object's: an arena's pages stay small, so that a
                // run faulted in or purged costs its own pages only.
                crate::pages::advise_huge_pages(p, g.sc.chunk_size, false);
            }
            (p, false)
        }
        None => {
            let p = chunk::alloc(g.sc.chunk_size, g.sc.chunk_size);
            if p.is_null() {
                return None;
            }
            chunk::note_mapped(1);
            (p, true)
        }
    };
    if !g.rtree.set(p as usize, p as usize) {
        unmap(p as usize, g.sc.chunk_size);
        return None;
    }
    note_in_use(g.sc.chunk_size);
    Some((p, zeroed))
}

/// Unregisters an emptied arena chunk and caches it (mmap chunks) or gives it back to its
/// source.
pub fn release_arena_chunk(p: *mut u8) {
    let g = g();
    g.rtree.set(p as usize, 0);
    note_in_use(g.sc.chunk_size.wrapping_neg());
    if chunk::from_mmap(p) {
        put(p, g.sc.chunk_size);
    } else {
        unmap(p as usize, g.sc.chunk_size);
    }
}

/// A thread exited: the churn it drove is over, so the cache forgets the churn term (threads
/// still churning raise it again with their next request) and keeps only what the in-use
/// ratio allows, as an arena does when its last thread exits.
pub fn thread_exited() {
    let mut out = Evicted::new();
    {
        let mut c = CACHE.lock();
        c.recent = 0;
        c.peak = 0;
        let limit = c.limit(IN_USE.load(Ordering::Relaxed));
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
        c.peak = 0;
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
pub(crate) mod tests;
