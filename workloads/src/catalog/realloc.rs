//! realloc: strings growing by small appends and vectors growing geometrically, then freed.
//!
//! Follows no single published benchmark; it models the growth policies of C strings built by
//! appending (`strcat`-style, 1 to 32 bytes at a time up to 4 KiB) and of dynamic arrays
//! (C++ `std::vector`, Rust `Vec`: doubling or 1.5x from 32 bytes to 64-256 KiB), the pattern
//! behind glibc's and jemalloc's in-place `realloc` paths. New bytes are written as they
//! would be by the program.

use super::{Setup, Shared, Workload};
use crate::ctx::{touch, ThreadCtx};

pub const REALLOC: Workload = Workload {
    name: "realloc",
    summary: "strings grown by 1-32 B appends to 4 KiB, vectors grown 1.5x/2x to 256 KiB",
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
            for _ in 0..STRINGS {
                let target = ctx.rng.range(256, 4096);
                let mut len = 16;
                let mut p = ctx.malloc(len);
                while len < target {
                    let grown = len + ctx.rng.range(1, 32);
                    // SAFETY: p is our live block of len bytes; the new tail is inside it.
                    unsafe {
                        p = ctx.realloc(p, len, grown);
                        write_tail(p, len, grown);
                    }
                    len = grown;
                }
                // SAFETY: our live block of len bytes.
                unsafe { ctx.free(p, len) };
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
