//! xmalloc: producer-consumer. Every object is allocated by one thread and freed by another:
//! the threads form a ring, each producing objects for the next and freeing those the previous
//! one produced.
//!
//! Follows Lever and Boreham, "malloc() Performance in a Multithreaded Linux Environment"
//! (USENIX 2000), the `xmalloc-test` of mimalloc-bench, whose threads are split into allocators
//! and freers; here each thread plays both parts for different neighbours, so that every thread
//! is busy at any thread count. With one thread it frees its own objects through the queue.

use super::{Setup, Shared, Workload};
use crate::ctx::{stamp, stamped, ThreadCtx};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

pub const XMALLOC: Workload = Workload {
    name: "xmalloc",
    summary: "producer-consumer ring: objects of 8-512 B allocated by one thread, freed by the next",
    follows: "xmalloc-test (Lever & Boreham 2000, mimalloc-bench)",
    time_every_call: false,
    make,
};

const BATCH: usize = 200;
const CAPACITY: usize = 4096;
const MIN_SIZE: usize = 8;
const MAX_SIZE: usize = 512;

/// A single-producer, single-consumer queue of pointers.
struct Queue {
    slots: Vec<AtomicPtr<u8>>,
    head: Padded,
    tail: Padded,
}

#[repr(align(128))]
struct Padded(AtomicUsize);

impl Queue {
    fn new() -> Self {
        Queue {
            slots: (0..CAPACITY).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect(),
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
        }
    }

    fn push(&self, p: *mut u8) -> bool {
        let t = self.tail.0.load(Ordering::Relaxed);
        if t - self.head.0.load(Ordering::Acquire) == CAPACITY {
            return false;
        }
        self.slots[t % CAPACITY].store(p, Ordering::Relaxed);
        self.tail.0.store(t + 1, Ordering::Release);
        true
    }

    fn pop(&self) -> Option<*mut u8> {
        let h = self.head.0.load(Ordering::Relaxed);
        if h == self.tail.0.load(Ordering::Acquire) {
            return None;
        }
        let p = self.slots[h % CAPACITY].load(Ordering::Relaxed);
        self.head.0.store(h + 1, Ordering::Release);
        Some(p)
    }
}

struct Xmalloc {
    /// `queues[t]` carries thread t's objects to thread t + 1.
    queues: Vec<Queue>,
}

fn make(setup: &Setup) -> Box<dyn Shared> {
    Box::new(Xmalloc { queues: (0..setup.threads).map(|_| Queue::new()).collect() })
}

fn drain(queue: &Queue, ctx: &mut ThreadCtx<'_>, most: usize) {
    for _ in 0..most {
        let Some(p) = queue.pop() else { break };
        // SAFETY: popping made this thread the only owner of a stamped block.
        unsafe {
            let size = stamped(p);
            ctx.free(p, size);
        }
    }
}

impl Shared for Xmalloc {
    fn thread(&self, ctx: &mut ThreadCtx<'_>) {
        let n = self.queues.len();
        let outbox = &self.queues[ctx.thread];
        let inbox = &self.queues[(ctx.thread + n - 1) % n];
        ctx.ready();
        while ctx.running() {
            for _ in 0..BATCH {
                let size = ctx.rng.range(MIN_SIZE, MAX_SIZE);
                let p = ctx.malloc(size);
                // SAFETY: a fresh block of at least 8 bytes.
                unsafe { stamp(p, size) };
                if !outbox.push(p) {
                    // The consumer is behind: make room by consuming, and if that is not
                    // enough, free the object here rather than wait.
                    drain(inbox, ctx, BATCH);
                    if !outbox.push(p) {
                        // SAFETY: never published; ours alone.
                        unsafe { ctx.free(p, size) };
                    }
                }
            }
            drain(inbox, ctx, 2 * BATCH);
        }
        ctx.finish();
    }

    fn teardown(&self, ctx: &mut ThreadCtx<'_>) {
        for q in &self.queues {
            drain(q, ctx, usize::MAX);
        }
    }
}
