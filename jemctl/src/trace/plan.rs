//! A trace turned into a program to replay: one list of [`Step`]s per recorded thread, naming
//! objects by number instead of address, so that any allocator can run it.
//!
//! Every call that allocated, freed or resized something in the recorded run becomes a step;
//! calls that failed, frees of addresses the trace never saw allocated, and `free(NULL)` are
//! left out (and counted). Aligned calls (`posix_memalign`, `aligned_alloc`, `memalign`,
//! `valloc`, `pvalloc`, aligned `allocm`) replay as `posix_memalign`, `allocm` with
//! `ALLOCM_ZERO` as `calloc`, `rallocm` as `realloc`, and `dallocm` as `free`: the table of
//! functions every allocator is measured through has these. A step that ends an object
//! allocated by another thread waits, in replay, until that thread has allocated it: every
//! wait is for a step earlier in the trace's order, so the replay cannot deadlock.

use super::format::{Op, Trace, ALLOCM_ZERO};
use super::objects::{Objects, NONE};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Malloc,
    Calloc,
    /// `posix_memalign` with `align`.
    Aligned,
    /// `realloc` of `old` (or of NULL when `old` is [`NONE`]) to `size`, giving `obj`.
    Realloc,
    Free,
}

#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub kind: Kind,
    /// The object this step allocates (NONE for a free).
    pub obj: u32,
    /// The object this step frees or reallocates.
    pub old: u32,
    pub size: u64,
    /// A power of two, at least 8 (aligned steps only).
    pub align: u32,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub threads: Vec<Vec<Step>>,
    /// Requested size of each object.
    pub sizes: Vec<u64>,
    /// Objects the trace never frees: the replay frees them after the timed part.
    pub leaked: Vec<u32>,
    /// Calls of the trace left out of the replay.
    pub skipped: u64,
    /// Live bytes at the peak, in the trace's order, of the replayed calls: the same on every
    /// allocator.
    pub peak_live_bytes: u64,
}

impl Plan {
    pub fn calls(&self) -> u64 {
        self.threads.iter().map(|t| t.len() as u64).sum()
    }
}

pub fn build(trace: &Trace, objects: &Objects) -> Plan {
    let nthreads = trace.threads.iter().map(|t| t.thread as usize + 1).max().unwrap_or(0);
    // Recorded thread numbers are dense in a trace, but keep only those that made calls.
    let mut threads: Vec<Vec<Step>> = vec![Vec::new(); nthreads];
    let mut skipped = 0;
    let mut live = 0u64;
    let mut peak = 0u64;
    for (i, e) in trace.events.iter().enumerate() {
        let (ended, started) = (objects.ended[i], objects.started[i]);
        if ended == NONE && started == NONE {
            skipped += 1;
            continue;
        }
        let size = e.size;
        let step = match (ended, started) {
            (old, NONE) => Step { kind: Kind::Free, obj: NONE, old, size: 0, align: 0 },
            (old, obj) if e.op == Op::Realloc || e.op == Op::Rallocm => {
                Step { kind: Kind::Realloc, obj, old, size, align: 0 }
            }
            (_, obj) => {
                let kind = match e.op {
                    Op::Calloc => Kind::Calloc,
                    Op::Allocm if e.flags & ALLOCM_ZERO != 0 && e.align <= 16 => Kind::Calloc,
                    Op::Malloc => Kind::Malloc,
                    _ if e.align > 16 => Kind::Aligned,
                    Op::Allocm => Kind::Malloc,
                    _ => Kind::Aligned,
                };
                let align = e.align.clamp(8, 1 << 31).next_power_of_two() as u32;
                Step { kind, obj, old: NONE, size, align }
            }
        };
        if ended != NONE {
            live -= objects.objects[ended as usize].size;
        }
        if started != NONE {
            live += objects.objects[started as usize].size;
        }
        peak = peak.max(live);
        threads[e.thread as usize].push(step);
    }
    let threads: Vec<Vec<Step>> = threads.into_iter().filter(|t| !t.is_empty()).collect();
    let leaked = objects.objects.iter().enumerate().filter(|(_, o)| !o.freed).map(|(i, _)| i as u32).collect();
    Plan { threads, sizes: objects.objects.iter().map(|o| o.size).collect(), leaked, skipped, peak_live_bytes: peak }
}
