//! Free extents of a chunk source: the chunks a swap file or the dss has handed back, kept for
//! reuse.
//!
//! Mirrors the pair of extent trees (`chunks_szad`, `chunks_ad`) of jemalloc 2.2.1
//! `chunk_swap.c` and `chunk_dss.c`, as one address-ordered list of coalesced ranges: a source
//! holds a few free extents at most (its chunks are reused lowest address first, and neighbours
//! merge), so a walk is short. Entry points: [`Extents::take`], [`Extents::insert`],
//! [`Extents::pop_ending_at`] (with [`Extents::peek_ending_at`]), [`Extents::take_at`]. Nodes come from a base node pool; because taking one may map
//! base memory, a caller takes a [`Spare`] before it locks its source, and the list consumes
//! it only when a range needs a node of its own. The list has no lock: it lives inside its
//! source's state and that source's lock guards it. Lock order: source lock, then the node
//! pool's lock (nodes are given back with the source lock held).

use crate::base::NodePool;
use core::ptr;

#[repr(C)]
struct Node {
    addr: usize,
    size: usize,
    next: *mut Node,
}

static NODES: NodePool = NodePool::new(core::mem::size_of::<Node>());

/// The node pool's lock, for the fork handlers.
pub(crate) fn lock() -> &'static crate::mutex::RawMutex {
    NODES.lock()
}

/// A node taken before the source lock, for a range that may need one.
pub struct Spare(*mut Node);

impl Spare {
    /// A fresh node, or none when base memory is exhausted.
    pub fn take() -> Spare {
        Spare(NODES.take().cast())
    }

    /// No node at all.
    pub const fn none() -> Spare {
        Spare(ptr::null_mut())
    }

    fn get(&mut self) -> Option<*mut Node> {
        let n = core::mem::replace(&mut self.0, ptr::null_mut());
        (!n.is_null()).then_some(n)
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        if let Some(n) = self.get() {
            // SAFETY: the node came from NODES and was never linked into a list.
            unsafe { NODES.give(n.cast()) };
        }
    }
}

/// Free ranges, ordered by address, never adjacent to each other (neighbours merge).
pub struct Extents {
    head: *mut Node,
    /// Bytes in all the ranges.
    total: usize,
}

// SAFETY: the nodes are base memory reached only through the owning source's lock.
unsafe impl Send for Extents {}

impl Extents {
    pub const fn new() -> Extents {
        Extents { head: ptr::null_mut(), total: 0 }
    }

    /// Bytes held.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Takes `size` bytes starting at a multiple of `align` (a power of two) from the lowest
    /// range that holds them; what is left before and after stays free. A range that would be
    /// split in three needs `spare`'s node; without one it is passed over.
    pub fn take(&mut self, size: usize, align: usize, spare: &mut Spare) -> Option<usize> {
        let mut link: *mut *mut Node = &mut self.head;
        // SAFETY: every node reachable from head is a live node of this list, guarded by the
        // caller's source lock (`&mut self`).
        unsafe {
            while !(*link).is_null() {
                let n = *link;
                let end = (*n).addr + (*n).size;
                let start = ((*n).addr + align - 1) & !(align - 1);
                let fits = start >= (*n).addr && start.checked_add(size).is_some_and(|e| e <= end);
                if !fits {
                    link = &mut (*n).next;
                    continue;
                }
                let lead = start - (*n).addr;
                let trail = end - (start + size);
                match (lead, trail) {
                    (0, 0) => {
                        *link = (*n).next;
                        NODES.give(n.cast());
                    }
                    (0, _) => {
                        (*n).addr += size;
                        (*n).size -= size;
                    }
                    (_, 0) => (*n).size = lead,
                    _ => {
                        let Some(t) = spare.get() else {
                            link = &mut (*n).next;
                            continue;
                        };
                        t.write(Node { addr: start + size, size: trail, next: (*n).next });
                        (*n).size = lead;
                        (*n).next = t;
                    }
                }
                self.total -= size;
                return Some(start);
            }
        }
        None
    }

    /// Takes `[addr, addr + size)` if a free range begins exactly at `addr` and holds it: how a
    /// huge object grows in place into the free space right after it.
    pub fn take_at(&mut self, addr: usize, size: usize) -> bool {
        let mut link: *mut *mut Node = &mut self.head;
        // SAFETY: as in `take`.
        unsafe {
            while !(*link).is_null() && (**link).addr < addr {
                link = &mut (**link).next;
            }
            let n = *link;
            if n.is_null() || (*n).addr != addr || (*n).size < size {
                return false;
            }
            if (*n).size == size {
                *link = (*n).next;
                NODES.give(n.cast());
            } else {
                (*n).addr += size;
                (*n).size -= size;
            }
        }
        self.total -= size;
        true
    }

    /// Adds `[addr, addr + size)`, which overlaps no range held, merging it with its
    /// neighbours. Returns false when it needed `spare`'s node and there was none (the range
    /// is then not recorded).
    pub fn insert(&mut self, addr: usize, size: usize, spare: &mut Spare) -> bool {
        let end = addr + size;
        let mut prev: *mut Node = ptr::null_mut();
        let mut next = self.head;
        // SAFETY: as in `take`: live nodes of this list under the caller's source lock.
        unsafe {
            while !next.is_null() && (*next).addr < addr {
                prev = next;
                next = (*next).next;
            }
            let joins_prev = !prev.is_null() && (*prev).addr + (*prev).size == addr;
            let joins_next = !next.is_null() && (*next).addr == end;
            match (joins_prev, joins_next) {
                (true, true) => {
                    (*prev).size += size + (*next).size;
                    (*prev).next = (*next).next;
                    NODES.give(next.cast());
                }
                (true, false) => (*prev).size += size,
                (false, true) => {
                    (*next).addr = addr;
                    (*next).size += size;
                }
                (false, false) => {
                    let Some(n) = spare.get() else { return false };
                    n.write(Node { addr, size, next });
                    if prev.is_null() {
                        self.head = n;
                    } else {
                        (*prev).next = n;
                    }
                }
            }
        }
        self.total += size;
        true
    }

    /// The start of the highest range, if it ends exactly at `end`.
    #[cfg_attr(not(feature = "dss"), allow(dead_code))]
    pub fn peek_ending_at(&self, end: usize) -> Option<usize> {
        let mut last = None;
        self.for_each(|a, s| last = Some((a, s)));
        last.filter(|&(a, s)| a + s == end).map(|(a, _)| a)
    }

    /// Removes the highest range if it ends exactly at `end`, returning its start: the source
    /// can then give the space back at its top.
    pub fn pop_ending_at(&mut self, end: usize) -> Option<usize> {
        let mut link: *mut *mut Node = &mut self.head;
        // SAFETY: as in `take`.
        unsafe {
            while !(*link).is_null() {
                let n = *link;
                if (*n).next.is_null() {
                    if (*n).addr + (*n).size != end {
                        return None;
                    }
                    let addr = (*n).addr;
                    self.total -= (*n).size;
                    *link = ptr::null_mut();
                    NODES.give(n.cast());
                    return Some(addr);
                }
                link = &mut (*n).next;
            }
        }
        None
    }

    /// Calls `f` with each range, lowest first.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        let mut n = self.head;
        while !n.is_null() {
            // SAFETY: as in `take`; reading only.
            unsafe {
                f((*n).addr, (*n).size);
                n = (*n).next;
            }
        }
    }
}

impl Default for Extents {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
