//! Huge objects: whole chunks mapped for one object, shared by all threads.
//!
//! Mirrors jemalloc 2.2.1 `huge.c`. Each huge object has a node (address, size) from a base
//! node pool, registered in the chunk registry with its low bit set, so lookups take no lock.
//! Chunks come from the chunk layer ([`crate::chunk`]), whichever source serves them. Unlike
//! 2.2.1, a freed huge object of anonymous pages goes to the [`chunk_cache`], which keeps a
//! bounded amount mapped with its pages, and a new one is served from there first; when
//! nothing cached is big enough, cached ranges' pages are moved into the fresh range with
//! `mremap`, so that only the rest is faulted in. Growth maps the pages right after the object
//! when its source allows and they are free, and otherwise moves the object to a new
//! chunk-aligned range (anonymous pages move with `mremap` instead of being copied). The
//! statistics lock guards only the counters.

use crate::base::NodePool;
use crate::chunk;
use crate::chunk_cache;
use crate::global::g;
use crate::mutex::Mutex;
use crate::pages;
use crate::size_classes::chunk_ceiling;
use core::ptr;
use core::sync::atomic::Ordering;

/// Registry values with this bit set are huge nodes.
pub const HUGE_TAG: usize = 1;

#[repr(C)]
pub struct HugeNode {
    pub addr: *mut u8,
    pub size: usize,
}

/// `stats.huge.*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HugeStats {
    pub allocated: usize,
    pub nmalloc: u64,
    pub ndalloc: u64,
}

pub static STATS: Mutex<HugeStats> = Mutex::new(HugeStats { allocated: 0, nmalloc: 0, ndalloc: 0 });
pub(crate) static NODES: NodePool = NodePool::new(core::mem::size_of::<HugeNode>());

/// Counts `active` bytes of huge objects made live (or, wrapping, ended), `nmalloc` objects
/// allocated and `ndalloc` freed; the bytes are chunks in use for the cache's bound.
fn note(active: usize, nmalloc: u64, ndalloc: u64) {
    if crate::stats::STATS {
        let mut s = STATS.lock();
        s.allocated = s.allocated.wrapping_add(active);
        s.nmalloc += nmalloc;
        s.ndalloc += ndalloc;
    }
    crate::stats::CACTIVE.fetch_add(active, Ordering::Relaxed);
    chunk_cache::note_in_use(active);
}

/// `size` fresh bytes aligned to `align` from the chunk layer, counted as mapped chunks;
/// anonymous ones ask for transparent huge pages under `opt.thp`.
fn map(size: usize, align: usize) -> *mut u8 {
    let p = chunk::alloc(size, align);
    if !p.is_null() {
        chunk::note_mapped(size >> g().sc.lg_chunk);
        if g().opts.thp && chunk::from_mmap(p) {
            pages::advise_huge_pages(p, size, true);
        }
    }
    p
}

/// Most cached ranges moved into one new mapping.
const MAX_MOVES: usize = 8;

/// A cached range of `size` bytes aligned to `align`, cleared if `zero`; None if the cache has
/// none that fits.
fn cached(size: usize, align: usize, zero: bool) -> Option<*mut u8> {
    let p = chunk_cache::take(size, align)?;
    if zero {
        // SAFETY: the cached range is ours, `size` bytes, and holds no object.
        unsafe { ptr::write_bytes(p, 0, size) };
    }
    Some(p)
}

/// The largest cached range smaller than `size` bytes, extended to `size` where it lies by a
/// fresh mapping right after it, if that space is free, into which other cached ranges'
/// pages are moved. The range's own pages stay where they are: [`range`] would move them too,
/// and each move with mremap makes the kernel interrupt every other CPU running the process
/// to flush its TLB.
fn extended(size: usize, align: usize, zero: bool) -> Option<*mut u8> {
    // Where swap files or sbrk serve fresh chunks first, the extension, an anonymous mapping,
    // would take their place.
    if !chunk::mmap_only() {
        return None;
    }
    let (p, len) = chunk_cache::take_to_extend(size, align)?;
    if !chunk::grow_in_place(p, len, size) {
        chunk_cache::restore(p, len);
        return None;
    }
    chunk::note_mapped((size - len) >> g().sc.lg_chunk);
    if g().opts.thp {
        pages::advise_huge_pages(p.wrapping_add(len), size - len, true);
    }
    let moved = move_cached_into(p.wrapping_add(len), size - len);
    if zero {
        // SAFETY: the first len + moved bytes are ours and hold old data; the rest reads as
        // zero.
        unsafe { ptr::write_bytes(p, 0, len + moved) };
    }
    Some(p)
}

/// Moves cached ranges' pages (largest first) into the fresh mapping `[p, p + room)`;
/// returns the bytes moved, from `p` on.
fn move_cached_into(p: *mut u8, room: usize) -> usize {
    let mut moved = 0;
    for _ in 0..MAX_MOVES {
        let Some((old, len)) = chunk_cache::take_pages(room - moved) else { break };
        if !pages::remap_to(old, len, p.wrapping_add(moved), len) {
            chunk::unmap(old, len);
            break;
        }
        chunk::note_unmapped(len >> g().sc.lg_chunk);
        moved += len;
    }
    moved
}

/// `size` bytes (a chunk multiple) aligned to `align`: a cached range, a smaller cached range
/// extended where it lies ([`extended`]), or a fresh mapping into which cached ranges' pages
/// are moved (largest first) so that only the rest is faulted in. Its pages read as zero if
/// `zero`.
fn range(size: usize, align: usize, zero: bool) -> *mut u8 {
    if let Some(p) = cached(size, align, zero) {
        return p;
    }
    if let Some(p) = extended(size, align, zero) {
        return p;
    }
    let p = map(size, align);
    if p.is_null() || !chunk::from_mmap(p) {
        return p;
    }
    // Another thread may have freed a range that fits while this one mapped: take it, and
    // give back the fresh mapping, untouched, rather than move the whole range into it.
    if let Some(q) = cached(size, align, zero) {
        chunk::unmap(p, size);
        chunk::note_unmapped(size >> g().sc.lg_chunk);
        return q;
    }
    let moved = move_cached_into(p, size);
    if zero && moved > 0 {
        // SAFETY: the first `moved` bytes of the new range hold the moved pages.
        unsafe { ptr::write_bytes(p, 0, moved) };
    }
    p
}

/// A huge object of at least `size` bytes aligned to `alignment` (at least the chunk size);
/// null when the size cannot be served or the system is out of memory. Its bytes read as zero
/// if `zero`; otherwise they may hold a freed object's data.
pub fn malloc(size: usize, alignment: usize, zero: bool) -> *mut u8 {
    let g = g();
    let Some(csize) = chunk_ceiling(size, g.sc.chunk_size) else { return ptr::null_mut() };
    let node = NODES.take() as *mut HugeNode;
    if node.is_null() {
        return ptr::null_mut();
    }
    let p = range(csize, alignment.max(g.sc.chunk_size), zero);
    if p.is_null() {
        // SAFETY: the node came from this pool and was never published.
        unsafe { NODES.give(node.cast()) };
        return p;
    }
    // SAFETY: the node is ours until published in the registry.
    unsafe { node.write(HugeNode { addr: p, size: csize }) };
    if !g.rtree.set(p as usize, node as usize | HUGE_TAG) {
        chunk::unmap(p, csize);
        // SAFETY: never published.
        unsafe { NODES.give(node.cast()) };
        return ptr::null_mut();
    }
    note(csize, 1, 0);
    p
}

/// The node of the huge object at `p`, if `p` is one.
#[inline]
pub fn node(p: *const u8) -> Option<*mut HugeNode> {
    let v = g().rtree.get(p as usize);
    (v & HUGE_TAG != 0).then_some((v & !HUGE_TAG) as *mut HugeNode)
}

/// Frees the huge object with node `n`.
///
/// # Safety
/// `n` is the live node of a huge object nobody will use again.
pub unsafe fn dalloc(n: *mut HugeNode) {
    // SAFETY: the node is live until given back below.
    let (addr, size) = unsafe { ((*n).addr, (*n).size) };
    g().rtree.set(addr as usize, 0);
    // SAFETY: unregistered above, so nobody else can reach the node.
    unsafe { NODES.give(n.cast()) };
    note(size.wrapping_neg(), 0, 1);
    if chunk::from_mmap(addr) {
        chunk_cache::put(addr, size);
    } else {
        chunk::unmap(addr, size);
    }
}

/// Resizes the huge object with node `n` to `size` bytes without moving it, if possible.
///
/// # Safety
/// `n` is the live node of a huge object owned by the caller.
pub unsafe fn ralloc_in_place(n: *mut HugeNode, size: usize) -> bool {
    let g = g();
    let Some(csize) = chunk_ceiling(size, g.sc.chunk_size) else { return false };
    // SAFETY: the caller owns the object and so its node.
    let node = unsafe { &mut *n };
    if csize == node.size {
        return true;
    }
    if csize < node.size {
        chunk::unmap(node.addr.wrapping_add(csize), node.size - csize);
        note((node.size - csize).wrapping_neg(), 0, 0);
        node.size = csize;
        return true;
    }
    if chunk::grow_in_place(node.addr, node.size, csize) {
        chunk::note_mapped((csize - node.size) >> g.sc.lg_chunk);
        note(csize - node.size, 0, 0);
        node.size = csize;
        return true;
    }
    false
}

/// Moves the huge object with node `n` to a new range of `size` bytes aligned to `alignment`
/// (see [`chunk::relocate`]). Returns the new address, or null (the object is then untouched).
///
/// # Safety
/// `n` is the live node of a huge object owned by the caller, and `size` exceeds its size.
pub unsafe fn ralloc_move(n: *mut HugeNode, size: usize, alignment: usize) -> *mut u8 {
    let g = g();
    let Some(csize) = chunk_ceiling(size, g.sc.chunk_size) else { return ptr::null_mut() };
    // SAFETY: the caller owns the object and so its node.
    let node = unsafe { &mut *n };
    let new = map(csize, alignment.max(g.sc.chunk_size));
    if new.is_null() {
        return new;
    }
    if !g.rtree.set(new as usize, n as usize | HUGE_TAG) {
        chunk::unmap(new, csize);
        return ptr::null_mut();
    }
    // Unregister the old address before its pages go: once they are given back, another
    // thread may get a chunk there and register it, and clearing the entry afterwards would
    // erase that registration.
    g.rtree.set(node.addr as usize, 0);
    // SAFETY: the caller owns the object; the new range is fresh and larger.
    unsafe { chunk::relocate(node.addr, node.size, new) };
    chunk::note_unmapped(node.size >> g.sc.lg_chunk);
    note(csize.wrapping_sub(node.size), 0, 0);
    node.addr = new;
    node.size = csize;
    new
}
