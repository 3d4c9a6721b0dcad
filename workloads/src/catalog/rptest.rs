//! rptest: each thread replaces blocks of mixed sizes (8 B to 16 KB, three quarters under 4 KiB: a
//! linear drop-off) in a table of 1000 slots, in loops of a few dozen frees and allocations walked
//! through the table at prime strides; every second loop it also allocates a batch of blocks that
//! it hands to another thread, which frees them.
//!
//! Follows Mattias Jansson's rpmalloc benchmark (`rpmalloc-benchmark`, `benchmark/main.c`), as
//! mimalloc-bench runs it: `rptest N 0 1 2 500 1000 100 8 16000`, that is random sizes, linear size
//! drop-off, a cross-thread batch every 2 loops, 500 loops per iteration, 1000 slots per thread,
//! 100 operations per loop, sizes 8 to 16000 bytes. Those are the parameters here too. As in the
//! source:
//! - A table of 2000 sizes: uniform draws `u` in `0..100000` become `even = 8 + round(15992 u /
//!   100000)`, and size `i` is `8 + (even[i+2] - 8) |w[i] + w[i+1] - 1|` with `w = 1 - (even - 8) /
//!   15992` (a uniform size times a triangular weight: mean about 2.7 KB, median 1.8 KB, a quarter
//!   under 600 B, three quarters under 4 KiB). Tables of 311 allocation counts and 257 free counts
//!   per loop, uniform percents of 30 to 99 of the 100 operations (frees take 80% of theirs).
//! - Each loop: take the batches other threads handed to this one; make the loop's frees, at a stride
//!   of 11 slots (a slot already empty costs nothing); free the batches' blocks, then each batch's
//!   pointer array and header; make the loop's allocations at a stride of 7 slots, each freeing what
//!   its slot holds first; then, on every second loop with more than one thread, a batch of as many
//!   blocks as the loop allocated, given to the next thread in turn (skipping itself). The strides
//!   are the first two primes from 7 up that do not divide the slot count.
//! - Blocks under 4 KiB are asked for with no alignment, 8 or 16 in turn (by the size index);
//!   unaligned ones come from `calloc`, aligned ones from `memalign` and are filled with 0xCD, as
//!   mimalloc-bench's `benchmark_malloc` does to touch all memory (rpmalloc-benchmark's own calls
//!   plain `malloc`). Then each block gets its size in its first 4 bytes, a byte in each whole page
//!   after the first and its last byte; whoever frees it reads the size from there.
//! - After 500 loops an iteration ends: the thread frees every slot, and the next iteration starts
//!   its sizes at `(thread + 1) (iteration + 1) 37` in the table. The source runs two iterations per
//!   thread and the whole thing twice, in new threads; here the iterations go on in the same threads
//!   (the second run's slot and size positions start afresh, as there), the even and odd ones
//!   alternating as the source's do, until `--duration` or `--ops` ends the run.
//!
//! What differs: the size and count tables are drawn from the run's seed instead of the source's
//! fixed numbers; batches carry as many blocks as the loop allocated (as in mimalloc-bench's copy;
//! one version of rpmalloc-benchmark's main.c hands a quarter of them); a thread goes on handing
//! batches to others to the end (the source stops once any thread has finished its iteration) and
//! does not wait for the others between iterations; batches still in flight at the end are freed in
//! the tear-down.

use super::{Setup, Shared, Workload};
use crate::ctx::ThreadCtx;
use crate::rng::Rng;
use std::sync::atomic::{AtomicPtr, Ordering};

pub const RPTEST: Workload = Workload {
    name: "rptest",
    summary: "1000 slots, loops of mixed sizes 8 B-16 KB (3/4 under 4 KiB), batches freed by other threads",
    follows: "rpmalloc-benchmark (mimalloc-bench rptest)",
    time_every_call: false,
    make,
};

/// Slots per thread (`<allocs>`).
const SLOTS: usize = 1000;
/// Operations per loop that the count tables scale (`<op count>`).
const OP_COUNT: usize = 100;
pub(crate) const MIN_SIZE: usize = 8;
pub(crate) const MAX_SIZE: usize = 16000;
/// A batch goes to another thread every this many loops (`<cross rate>`).
const CROSS_RATE: usize = 2;
/// Loops per iteration (`<loops>`).
const LOOPS: usize = 500;
const SIZE_TABLE: usize = 2000;
const ALLOC_COUNT_TABLE: usize = 311;
const FREE_COUNT_TABLE: usize = 257;
const ALLOC_STRIDE: usize = 7;
const FREE_STRIDE: usize = 11;
const _: () = assert!(!SLOTS.is_multiple_of(ALLOC_STRIDE) && !SLOTS.is_multiple_of(FREE_STRIDE));
/// Blocks this small are asked for with these alignments in turn (0: none).
const ALIGNED_BELOW: usize = 4096;
const ALIGNMENTS: [usize; 3] = [0, 8, 16];
/// The source's batch header (`struct thread_pointers`, four words).
const HEADER_BYTES: usize = 32;
const PAGE: usize = 4096;

/// A batch of blocks handed to another thread; it lives in memory from the allocator under
/// test, as the source's does.
#[repr(C)]
struct Batch {
    blocks: *mut *mut u8,
    count: usize,
    next: *mut Batch,
}
const _: () = assert!(std::mem::size_of::<Batch>() <= HEADER_BYTES);

/// One thread's incoming batches, a stack pushed by others and emptied at once by its owner.
#[repr(align(128))]
struct Inbox(AtomicPtr<Batch>);

struct Rptest {
    sizes: Vec<u32>,
    alloc_counts: Vec<u8>,
    free_counts: Vec<u8>,
    inboxes: Vec<Inbox>,
}

fn make(setup: &Setup) -> Box<dyn Shared> {
    let mut rng = Rng::new(setup.seed);
    let range = (MAX_SIZE - MIN_SIZE) as f64;
    let even: Vec<usize> = (0..SIZE_TABLE)
        .map(|_| MIN_SIZE + (range * (rng.below(100_000) as f64 / 100_000.0)).round() as usize)
        .collect();
    let weight = |i: usize| 1.0 - (even[i % SIZE_TABLE] - MIN_SIZE) as f64 / range;
    let sizes = (0..SIZE_TABLE)
        .map(|i| {
            let spread = (even[(i + 2) % SIZE_TABLE] - MIN_SIZE) as f64;
            (MIN_SIZE + (spread * (weight(i) + weight(i + 1) - 1.0).abs()) as usize) as u32
        })
        .collect();
    let mut percents = |n: usize, share: f64| -> Vec<u8> {
        (0..n).map(|_| (share * OP_COUNT as f64 * (rng.range(30, 99) as f64 / 100.0)) as u8).collect()
    };
    let alloc_counts = percents(ALLOC_COUNT_TABLE, 1.0);
    let free_counts = percents(FREE_COUNT_TABLE, 0.8);
    let inboxes = (0..setup.threads).map(|_| Inbox(AtomicPtr::new(std::ptr::null_mut()))).collect();
    Box::new(Rptest { sizes, alloc_counts, free_counts, inboxes })
}

/// A block as the source makes one: its size in its first four bytes (an `int32_t`, which the
/// last byte of an 8-byte block does not overlap), a byte in every whole page after the first,
/// and its last byte.
fn new_block(ctx: &mut ThreadCtx<'_>, size: usize, alignment: usize) -> *mut u8 {
    let p = if alignment == 0 {
        ctx.calloc(1, size)
    } else {
        let p = ctx.memalign(alignment, size);
        // SAFETY: a fresh block of size bytes.
        unsafe { p.write_bytes(0xcd, size) };
        p
    };
    // SAFETY: at least MIN_SIZE (8) bytes, aligned to at least 8; every offset written is below size.
    unsafe {
        p.cast::<u32>().write(size as u32);
        for page in 1..(size - 1) / PAGE {
            p.add(page * PAGE).write_volatile(1);
        }
        p.add(size - 1).write_volatile(1);
    }
    p
}

/// # Safety
/// `p` is a block made by [`new_block`] that this thread now owns.
unsafe fn free_block(ctx: &mut ThreadCtx<'_>, p: *mut u8) {
    // SAFETY: as the caller guarantees, the block is live and stamped.
    unsafe {
        let size = p.cast::<u32>().read() as usize;
        assert!(
            (MIN_SIZE..=MAX_SIZE).contains(&size),
            "rptest: block {p:?} holds size {size}: the allocator overwrote it"
        );
        ctx.free(p, size);
    }
}

/// Frees every block of a chain of batches, and the batches.
///
/// # Safety
/// `batch` heads a chain of batches that this thread now owns.
unsafe fn free_batches(ctx: &mut ThreadCtx<'_>, mut batch: *mut Batch) {
    while !batch.is_null() {
        // SAFETY: taking the chain from the inbox made this thread the owner of each batch,
        // its pointer array and its blocks.
        unsafe {
            let Batch { blocks, count, next } = batch.read();
            for i in 0..count {
                free_block(ctx, blocks.add(i).read());
            }
            ctx.free(blocks.cast(), count * std::mem::size_of::<*mut u8>());
            ctx.free(batch.cast(), HEADER_BYTES);
            batch = next;
        }
    }
}

/// One thread's place in the source's loops.
struct Cursor {
    slots: Vec<*mut u8>,
    alloc_idx: usize,
    free_idx: usize,
    size_index: usize,
    iteration: usize,
    iloop: usize,
    cross_index: usize,
}

impl Rptest {
    fn size_at(&self, cursor: &Cursor) -> usize {
        self.sizes[(cursor.size_index + 2) % SIZE_TABLE] as usize
    }

    fn alignment_at(size: usize, cursor: &Cursor, iop: usize) -> usize {
        if size < ALIGNED_BELOW {
            ALIGNMENTS[(cursor.size_index + iop) % ALIGNMENTS.len()]
        } else {
            0
        }
    }

    fn start_iteration(&self, thread: usize, cursor: &mut Cursor) {
        let pass = cursor.iteration % 2;
        if pass == 0 {
            // The source's second run starts fresh threads.
            (cursor.alloc_idx, cursor.free_idx, cursor.cross_index) = (0, 0, 0);
        }
        cursor.size_index = ((thread + 1) * ((pass + 1) * 37)) % SIZE_TABLE;
        cursor.iloop = 0;
    }

    fn one_loop(&self, ctx: &mut ThreadCtx<'_>, c: &mut Cursor) {
        let foreign = self.inboxes[ctx.thread].0.swap(std::ptr::null_mut(), Ordering::Acquire);
        let pass = c.iteration % 2;
        let free_count = self.free_counts[(pass + c.iloop) % FREE_COUNT_TABLE] as usize;
        let alloc_count = self.alloc_counts[(pass + c.iloop) % ALLOC_COUNT_TABLE] as usize;

        for _ in 0..free_count {
            let p = std::mem::replace(&mut c.slots[c.free_idx], std::ptr::null_mut());
            if !p.is_null() {
                // SAFETY: the slot owned it.
                unsafe { free_block(ctx, p) };
            }
            c.free_idx = (c.free_idx + FREE_STRIDE) % SLOTS;
        }
        // SAFETY: swapping the inbox out made this thread the chain's only owner.
        unsafe { free_batches(ctx, foreign) };

        for iop in 0..alloc_count {
            let old = c.slots[c.alloc_idx];
            if !old.is_null() {
                // SAFETY: the slot owns it.
                unsafe { free_block(ctx, old) };
            }
            let size = self.size_at(c);
            c.slots[c.alloc_idx] = new_block(ctx, size, Self::alignment_at(size, c, iop));
            c.alloc_idx = (c.alloc_idx + ALLOC_STRIDE) % SLOTS;
            c.size_index = (c.size_index + 1) % SIZE_TABLE;
        }

        let n = self.inboxes.len();
        if n > 1 && c.iloop.is_multiple_of(CROSS_RATE) {
            let batch = self.make_batch(ctx, c, alloc_count);
            c.cross_index = (c.cross_index + 1) % n;
            if c.cross_index == ctx.thread {
                c.cross_index = (c.cross_index + 1) % n;
            }
            let inbox = &self.inboxes[c.cross_index].0;
            let mut head = inbox.load(Ordering::Relaxed);
            loop {
                // SAFETY: the batch is still this thread's alone until the exchange succeeds.
                unsafe { (*batch).next = head };
                match inbox.compare_exchange_weak(head, batch, Ordering::Release, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(now) => head = now,
                }
            }
        }
        c.iloop += 1;
    }

    fn make_batch(&self, ctx: &mut ThreadCtx<'_>, c: &mut Cursor, count: usize) -> *mut Batch {
        let batch = ctx.memalign(16, HEADER_BYTES);
        let array_bytes = count * std::mem::size_of::<*mut u8>();
        let blocks = ctx.memalign(16, array_bytes);
        // SAFETY: fresh blocks of HEADER_BYTES and array_bytes bytes, aligned to 16.
        unsafe {
            batch.write_bytes(0xcd, HEADER_BYTES);
            blocks.write_bytes(0xcd, array_bytes);
        }
        let blocks = blocks.cast::<*mut u8>();
        for iop in 0..count {
            let size = self.size_at(c);
            let p = new_block(ctx, size, Self::alignment_at(size, c, iop));
            // SAFETY: iop < count, the array's length.
            unsafe { blocks.add(iop).write(p) };
            c.size_index = (c.size_index + 1) % SIZE_TABLE;
        }
        let batch = batch.cast::<Batch>();
        // SAFETY: HEADER_BYTES hold a Batch, aligned to 16.
        unsafe { batch.write(Batch { blocks, count, next: std::ptr::null_mut() }) };
        batch
    }
}

impl Shared for Rptest {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let mut cursor = Cursor {
            slots: vec![std::ptr::null_mut(); SLOTS],
            alloc_idx: 0,
            free_idx: 0,
            size_index: 0,
            iteration: 0,
            iloop: 0,
            cross_index: 0,
        };
        self.start_iteration(ctx.thread, &mut cursor);
        ctx.ready();
        while ctx.running() {
            self.one_loop(ctx, &mut cursor);
            if cursor.iloop == LOOPS {
                // The end of an iteration: the source frees every slot, counted and timed.
                for p in cursor.slots.iter_mut().map(|p| std::mem::replace(p, std::ptr::null_mut())) {
                    if !p.is_null() {
                        // SAFETY: the slot owned it.
                        unsafe { free_block(ctx, p) };
                    }
                }
                cursor.iteration += 1;
                self.start_iteration(ctx.thread, &mut cursor);
            }
        }
        ctx.finish();
        for p in cursor.slots.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: the slot owned it.
            unsafe { free_block(ctx, p) };
        }
    }

    fn teardown(&self, ctx: &mut ThreadCtx<'_>) {
        for inbox in &self.inboxes {
            let chain = inbox.0.swap(std::ptr::null_mut(), Ordering::Acquire);
            // SAFETY: every thread has ended; the inbox owned the chain.
            unsafe { free_batches(ctx, chain) };
        }
    }
}
