//! Base allocation: the allocator's own metadata, from pages it maps itself.
//!
//! Mirrors jemalloc 2.2.1 `base.c`. A bump allocator over mapped blocks, guarded by one lock,
//! for structures that live as long as the process (arenas, bins, radix tree leaves, thread
//! caches) plus free lists of fixed-size nodes that are recycled (huge nodes, thread caches).
//! Never calls back into the allocator.

use crate::mutex::Mutex;
use crate::pages;
use core::ptr;

const BLOCK: usize = 1 << 20;
const ALIGN: usize = 64;

struct Bump {
    next: *mut u8,
    end: *mut u8,
    mapped: usize,
}

// SAFETY: the pointers are addresses of mapped memory, usable from any thread.
unsafe impl Send for Bump {}

static BASE: Mutex<Bump> = Mutex::new(Bump { next: ptr::null_mut(), end: ptr::null_mut(), mapped: 0 });

/// `size` bytes aligned to 64, zeroed, never freed; null if the system is out of memory.
pub fn alloc(size: usize) -> *mut u8 {
    let size = (size + ALIGN - 1) & !(ALIGN - 1);
    let mut b = BASE.lock();
    if (b.end as usize) - (b.next as usize) < size {
        let block = size.max(BLOCK);
        let p = pages::map(ptr::null_mut(), block);
        if p.is_null() {
            return ptr::null_mut();
        }
        b.next = p;
        // SAFETY: p .. p + block is the mapping just made.
        b.end = unsafe { p.add(block) };
        b.mapped += block;
    }
    let p = b.next;
    // SAFETY: the check above left at least `size` bytes between next and end.
    b.next = unsafe { p.add(size) };
    p
}

/// Bytes of metadata mapped so far.
pub fn mapped() -> usize {
    BASE.lock().mapped
}

pub(crate) fn lock() -> &'static crate::mutex::RawMutex {
    BASE.raw()
}

/// A free list of recycled fixed-size nodes, each at least a pointer wide.
pub struct NodePool {
    free: Mutex<usize>,
    size: usize,
}

impl NodePool {
    pub const fn new(size: usize) -> Self {
        NodePool { free: Mutex::new(0), size }
    }

    /// A zeroed node; null if the system is out of memory.
    pub fn take(&self) -> *mut u8 {
        let mut head = self.free.lock();
        let p = *head as *mut u8;
        if !p.is_null() {
            // SAFETY: free nodes store the next free node in their first word.
            *head = unsafe { *(p as *const usize) };
            drop(head);
            // SAFETY: the node is ours alone now and `size` bytes long.
            unsafe { ptr::write_bytes(p, 0, self.size) };
            return p;
        }
        drop(head);
        alloc(self.size)
    }

    /// Returns a node taken from this pool.
    ///
    /// # Safety
    /// `p` came from `take` on this pool and is no longer used.
    pub unsafe fn give(&self, p: *mut u8) {
        let mut head = self.free.lock();
        // SAFETY: the node is at least a word and no longer used by anyone.
        unsafe { *(p as *mut usize) = *head };
        *head = p as usize;
    }

    pub(crate) fn lock(&self) -> &crate::mutex::RawMutex {
        self.free.raw()
    }
}
