//! bench-malloc-thread: each thread keeps a working set of 1024 slots and, over and over, frees the
//! block in a random slot and puts a new one of a random size there; the sizes run from 4 to 32768
//! bytes with an inverse-square distribution, so that half are under 8 bytes, three quarters under
//! 16 and one in a hundred over 400.
//!
//! Follows glibc's `benchtests/bench-malloc-thread.c` (mimalloc-bench's `glibc-thread`):
//! - As there: 1024 slots per thread (`WORKING_SET_SIZE`), starting empty; sizes
//!   `MIN_ALLOCATION_SIZE` 4 to `MAX_ALLOCATION_SIZE` 32768 from the inverse-square curve computed in
//!   `f32` as its `get_block_size` does (`((max^-1 - min^-1) r + min^-1)^-1` truncated, `r` uniform
//!   in `0..=RAND_MAX`); the sizes and slots are drawn ahead into two tables of 8000 sizes and 4096
//!   slots, shared by every thread, which each thread walks from the same start, so that all threads
//!   make the same requests, as in glibc; each step is `free` then `malloc`; the blocks are never
//!   written, as glibc never writes them (so this workload cannot notice an allocator that hands out
//!   overlapping blocks; rptest, which writes its blocks' sizes in them and checks them, can).
//! - What differs: the tables come from the run's seed (glibc calls `rand()` unseeded); the first
//!   pass over the empty slots makes no `free(NULL)` calls (glibc makes up to 1024 of them, at the
//!   start of its timed 60-second run); the run lasts `--duration` or `--ops`, not 60 seconds; the blocks left at
//!   the end are freed (glibc exits with them).

use super::{Setup, Shared, Workload};
use crate::ctx::ThreadCtx;
use crate::rng::Rng;

pub const BENCH_MALLOC_THREAD: Workload = Workload {
    name: "bench-malloc-thread",
    summary: "1024 slots per thread: free a random one, malloc 4 B-32 KiB (inverse square: mostly tiny)",
    follows: "glibc benchtests/bench-malloc-thread (mimalloc-bench glibc-thread)",
    time_every_call: false,
    make,
};

const WORKING_SET_SIZE: usize = 1024;
pub(crate) const MIN_ALLOCATION_SIZE: usize = 4;
pub(crate) const MAX_ALLOCATION_SIZE: usize = 32768;
const NUM_BLOCK_SIZES: usize = 8000;
const NUM_OFFSETS: usize = WORKING_SET_SIZE * 4;
/// `RAND_MAX` of glibc's `rand()`.
const RAND_MAX: u32 = i32::MAX as u32;
/// Steps between two looks at the clock and the operation budget.
const STEPS_PER_ROUND: usize = 1000;

struct BenchMallocThread {
    block_sizes: Vec<u32>,
    offsets: Vec<u16>,
}

fn make(setup: &Setup) -> Box<dyn Shared> {
    let mut rng = Rng::new(setup.seed);
    let block_sizes = (0..NUM_BLOCK_SIZES).map(|_| block_size(rng.below(RAND_MAX as usize + 1) as u32)).collect();
    let offsets = (0..NUM_OFFSETS).map(|_| rng.below(WORKING_SET_SIZE) as u16).collect();
    Box::new(BenchMallocThread { block_sizes, offsets })
}

/// glibc's `get_block_size`: `rand_data` in `0..=RAND_MAX` mapped onto the inverse-square
/// distribution between the two sizes, in single precision.
pub(crate) fn block_size(rand_data: u32) -> u32 {
    const EXPONENT: f32 = -2.0;
    let min_pow = (MIN_ALLOCATION_SIZE as f32).powf(EXPONENT + 1.0);
    let max_pow = (MAX_ALLOCATION_SIZE as f32).powf(EXPONENT + 1.0);
    let r = rand_data as f32 / RAND_MAX as f32;
    let size = ((max_pow - min_pow) * r + min_pow).powf(1.0 / (EXPONENT + 1.0)) as u32;
    // Rounding cannot take it outside the range by more than one; keep it inside.
    size.clamp(MIN_ALLOCATION_SIZE as u32, MAX_ALLOCATION_SIZE as u32)
}

/// The next index of a table walked in a cycle, as glibc's `get_random_offset` and
/// `get_random_block_size` step: the first one used is 1.
#[inline(always)]
fn step(state: &mut usize, len: usize) -> usize {
    *state = if *state >= len - 1 { 0 } else { *state + 1 };
    *state
}

impl Shared for BenchMallocThread {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let mut working_set = vec![(std::ptr::null_mut::<u8>(), 0usize); WORKING_SET_SIZE];
        let (mut offset_state, mut block_state) = (0, 0);
        ctx.ready();
        while ctx.running() {
            for _ in 0..STEPS_PER_ROUND {
                let next_idx = self.offsets[step(&mut offset_state, NUM_OFFSETS)] as usize;
                let next_block = self.block_sizes[step(&mut block_state, NUM_BLOCK_SIZES)] as usize;
                let (old, old_size) = working_set[next_idx];
                if !old.is_null() {
                    // SAFETY: the slot owns a live block of old_size bytes.
                    unsafe { ctx.free(old, old_size) };
                }
                working_set[next_idx] = (ctx.malloc(next_block), next_block);
            }
        }
        ctx.finish();
        for (p, size) in working_set.into_iter().filter(|(p, _)| !p.is_null()) {
            // SAFETY: the slot owns a live block of size bytes.
            unsafe { ctx.free(p, size) };
        }
    }
}
