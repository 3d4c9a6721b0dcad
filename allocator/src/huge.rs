//! Huge objects: whole chunks mapped for one object, shared by all threads.
//!
//! Mirrors jemalloc 2.2.1 `huge.c`. Each huge object has a node (address, size) from a base
//! node pool, registered in the chunk registry with its low bit set, so lookups take no lock.
//! Chunks come from the chunk layer ([`crate::chunk`]), whichever source serves them. Growth
//! maps the pages right after the object when its source allows and they are free, and
//! otherwise moves the object to a new chunk-aligned range (anonymous pages move with
//! `mremap` instead of being copied). The statistics lock
//! guards only the counters.

use crate::base::NodePool;
use crate::chunk;
use crate::global::g;
use crate::mutex::Mutex;
use crate::size_classes::chunk_ceiling;
use core::ptr;

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

fn note(map: usize, unmap: usize, nmalloc: u64, ndalloc: u64) {
    let csize = g().sc.chunk_size;
    if crate::stats::STATS {
        let mut s = STATS.lock();
        s.allocated = s.allocated + map - unmap;
        s.nmalloc += nmalloc;
        s.ndalloc += ndalloc;
    }
    chunk::note_mapped(map / csize);
    chunk::note_unmapped(unmap / csize);
    crate::stats::CACTIVE.fetch_add(map.wrapping_sub(unmap), core::sync::atomic::Ordering::Relaxed);
}

/// A huge object of at least `size` bytes aligned to `alignment` (at least the chunk size);
/// null when the size cannot be served or the system is out of memory. Its pages read as zero.
pub fn malloc(size: usize, alignment: usize) -> *mut u8 {
    let g = g();
    let Some(csize) = chunk_ceiling(size, g.sc.chunk_size) else { return ptr::null_mut() };
    let node = NODES.take() as *mut HugeNode;
    if node.is_null() {
        return ptr::null_mut();
    }
    let p = chunk::alloc(csize, alignment.max(g.sc.chunk_size));
    if p.is_null() {
        // SAFETY: the node came from this pool and was never published.
        unsafe { NODES.give(node.cast()) };
        return p;
    }
    // SAFETY: the node is ours until published in the registry.
    unsafe { node.write(HugeNode { addr: p, size: csize }) };
    if !g.rtree.set(p as usize, node as usize | HUGE_TAG) {
        chunk::dealloc(p, csize);
        // SAFETY: never published.
        unsafe { NODES.give(node.cast()) };
        return ptr::null_mut();
    }
    note(csize, 0, 1, 0);
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
    chunk::dealloc(addr, size);
    // SAFETY: unregistered above, so nobody else can reach the node.
    unsafe { NODES.give(n.cast()) };
    note(0, size, 0, 1);
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
        chunk::dealloc(node.addr.wrapping_add(csize), node.size - csize);
        note(0, node.size - csize, 0, 0);
        node.size = csize;
        return true;
    }
    if chunk::grow_in_place(node.addr, node.size, csize) {
        note(csize - node.size, 0, 0, 0);
        node.size = csize;
        return true;
    }
    false
}

/// Moves the huge object with node `n` to a new range of `size` bytes aligned to `alignment`
/// (see [`chunk::relocate`]). Returns the new address, or null (the
/// object is then untouched).
///
/// # Safety
/// `n` is the live node of a huge object owned by the caller, and `size` exceeds its size.
pub unsafe fn ralloc_move(n: *mut HugeNode, size: usize, alignment: usize) -> *mut u8 {
    let g = g();
    let Some(csize) = chunk_ceiling(size, g.sc.chunk_size) else { return ptr::null_mut() };
    // SAFETY: the caller owns the object and so its node.
    let node = unsafe { &mut *n };
    let new = chunk::alloc(csize, alignment.max(g.sc.chunk_size));
    if new.is_null() {
        return new;
    }
    if !g.rtree.set(new as usize, n as usize | HUGE_TAG) {
        chunk::dealloc(new, csize);
        return ptr::null_mut();
    }
    // Unregister the old address before its pages go: once they are given back, another
    // thread may get a chunk there and register it, and clearing the entry afterwards would
    // erase that registration.
    g.rtree.set(node.addr as usize, 0);
    // SAFETY: the caller owns the object; the new range is fresh and larger.
    unsafe { chunk::relocate(node.addr, node.size, new) };
    note(csize, node.size, 0, 0);
    node.addr = new;
    node.size = csize;
    new
}
