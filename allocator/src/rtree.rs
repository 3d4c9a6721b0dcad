//! The chunk registry: a two-level radix tree from chunk address to what the chunk is.
//!
//! Mirrors jemalloc 2.2.1 `rtree.c` (which it uses for `ivsalloc`). Every chunk this allocator
//! hands out is registered: arena chunks map to their own address, huge objects to their node
//! with the low bit set. Lookups are lock-free (an acquire load per level); inserts take the
//! tree's lock to create a leaf. It answers "is this pointer ours?" in two loads, and finds a
//! huge object's node without a lock.

use crate::base;
use crate::mutex::RawMutex;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// User-space addresses are below 2^48 on x86-64 and aarch64 Linux.
const ADDRESS_BITS: u32 = 48;

pub struct ChunkTree {
    lock: RawMutex,
    root: AtomicPtr<AtomicPtr<AtomicUsize>>,
    lg_chunk: u32,
    leaf_bits: u32,
    root_bits: u32,
}

impl ChunkTree {
    pub const fn new() -> Self {
        ChunkTree { lock: RawMutex::new(), root: AtomicPtr::new(ptr::null_mut()), lg_chunk: 0, leaf_bits: 0, root_bits: 0 }
    }

    /// Sizes the tree for `lg_chunk` and maps its root. Returns false when out of memory.
    pub fn init(&mut self, lg_chunk: u32) -> bool {
        let bits = ADDRESS_BITS - lg_chunk;
        self.lg_chunk = lg_chunk;
        self.leaf_bits = bits / 2;
        self.root_bits = bits - self.leaf_bits;
        let root = base::alloc(8 << self.root_bits) as *mut AtomicPtr<AtomicUsize>;
        self.root.store(root, Ordering::Release);
        !root.is_null()
    }

    #[inline(always)]
    fn split(&self, chunk: usize) -> (usize, usize) {
        let key = chunk >> self.lg_chunk;
        (key >> self.leaf_bits, key & ((1 << self.leaf_bits) - 1))
    }

    /// What is registered for the chunk at `chunk` (0 if nothing).
    #[inline(always)]
    pub fn get(&self, chunk: usize) -> usize {
        let (hi, lo) = self.split(chunk);
        if hi >> self.root_bits != 0 {
            return 0;
        }
        let root = self.root.load(Ordering::Acquire);
        // SAFETY: root has 2^root_bits slots and hi is below that.
        let leaf = unsafe { (*root.add(hi)).load(Ordering::Acquire) };
        if leaf.is_null() {
            return 0;
        }
        // SAFETY: each leaf has 2^leaf_bits slots and lo is below that.
        unsafe { (*leaf.add(lo)).load(Ordering::Acquire) }
    }

    /// Registers `value` for the chunk at `chunk` (0 unregisters). False when out of memory.
    pub fn set(&self, chunk: usize, value: usize) -> bool {
        let (hi, lo) = self.split(chunk);
        let root = self.root.load(Ordering::Acquire);
        // SAFETY: as in `get`; chunk addresses from mmap are below 2^48.
        let slot = unsafe { &*root.add(hi) };
        let mut leaf = slot.load(Ordering::Acquire);
        if leaf.is_null() {
            self.lock.lock();
            leaf = slot.load(Ordering::Acquire);
            if leaf.is_null() {
                leaf = base::alloc(8 << self.leaf_bits) as *mut AtomicUsize;
                if leaf.is_null() {
                    self.lock.unlock();
                    return false;
                }
                slot.store(leaf, Ordering::Release);
            }
            self.lock.unlock();
        }
        // SAFETY: as in `get`.
        unsafe { (*leaf.add(lo)).store(value, Ordering::Release) };
        true
    }

    pub(crate) fn raw_lock(&self) -> &RawMutex {
        &self.lock
    }
}

impl Default for ChunkTree {
    fn default() -> Self {
        Self::new()
    }
}
