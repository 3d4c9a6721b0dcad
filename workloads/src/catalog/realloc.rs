//! realloc: strings growing by small appends and vectors growing geometrically, then freed.
//!
//! Follows no single published benchmark; it models the growth policies of C strings built by
//! appending (`strcat`-style, 1 to 32 bytes at a time up to 4 KiB; half of them use
//! `malloc_usable_size` to grow in place without a call, like Redis's sds) and of dynamic arrays
//! (C++ `std::vector`, Rust `Vec`: doubling or 1.5x from 32 bytes to 64-256 KiB), the pattern
//! behind glibc's and jemalloc's in-place `realloc` paths. New bytes are written as they
//! would be by the program.

use super::{Setup, Shared, Workload};
use crate::ctx::{touch, ThreadCtx};

pub const REALLOC: Workload = Workload {
    name: "realloc",
    summary: "strings grown by 1-32 B appends to 4 KiB (half using malloc_usable_size), vectors grown 1.5x/2x to 256 KiB",
    follows: "Vec/String and std::vector growth policies",
    time_every_call: false,
    make,
};

const STRINGS: usize = 4;
const VECTORS: usize = 4;

struct Realloc;

fn make(_: &Setup) -> Box<dyn Shared> {
    Box::new(Realloc)
}

/// # Safety
/// `p..p+len` is writable.
unsafe fn write_tail(p: *mut u8, from: usize, to: usize) {
    // SAFETY: the caller guarantees [from, to) is inside the block.
    unsafe { touch(p.add(from), to - from) };
}

impl Shared for Realloc {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        ctx.ready();
        while ctx.running() {
            for s in 0..STRINGS {
                // Every other string asks malloc_usable_size for its capacity and reallocates
                // only when an append outgrows it, as Redis's sds strings do.
                let capacity_aware = s % 2 == 1;
                let target = ctx.rng.range(256, 4096);
                let mut len = 16;
                let mut requested = len;
                let mut p = ctx.malloc(len);
                // SAFETY: p is our live block.
                let mut capacity = if capacity_aware { unsafe { ctx.usable_size(p) }.unwrap_or(len) } else { len };
                while len < target {
                    let grown = len + ctx.rng.range(1, 32);
                    // SAFETY: p is our live block of `requested` bytes and `capacity` usable
                    // ones; the new tail is inside it.
                    unsafe {
                        if grown > capacity {
                            p = ctx.realloc(p, requested, grown);
                            requested = grown;
                            capacity = if capacity_aware { ctx.usable_size(p).unwrap_or(grown) } else { grown };
                        }
                        write_tail(p, len, grown);
                    }
                    len = grown;
                }
                // SAFETY: our live block of `requested` bytes.
                unsafe { ctx.free(p, requested) };
            }
            for v in 0..VECTORS {
                let target = 64 << ctx.rng.range(10, 12);
                let mut cap = 32;
                let mut p = ctx.calloc(1, cap);
                while cap < target {
                    let grown = if v % 2 == 0 { cap * 2 } else { cap + cap / 2 };
                    // SAFETY: p is our live block of cap bytes; the new tail is inside it.
                    unsafe {
                        p = ctx.realloc(p, cap, grown);
                        write_tail(p, cap, grown);
                    }
                    cap = grown;
                }
                // SAFETY: our live block of cap bytes.
                unsafe { ctx.free(p, cap) };
            }
        }
        ctx.finish();
    }
}
