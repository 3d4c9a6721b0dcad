//! What a trace says about its program: calls by kind, threads, live bytes over time and their
//! peak, request sizes (a histogram, and the jemalloc 2.2.1 size classes they fall in), object
//! lifetimes and cross-thread frees. [`analyse`] computes a [`Summary`] (which serialises to
//! `jemctl trace --json`); the per-object parts run in parallel with rayon.

use super::format::{Op, Trace, ALL_OPS};
use super::objects::{Objects, NONE};
use jemalloc_rs::size_classes::SizeClasses;
use rayon::prelude::*;
use serde::Serialize;

/// Points kept for the live-bytes chart.
const TIMELINE_POINTS: usize = 2000;

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub program: String,
    pub pid: u32,
    pub ppid: u32,
    pub forked_child: bool,
    pub calls: u64,
    pub calls_by_kind: Vec<KindCount>,
    pub threads: Vec<ThreadCalls>,
    pub duration_ms: f64,
    pub file_bytes: u64,
    pub used_bytes: u64,
    /// Used bytes per call: the trace's size cost.
    pub bytes_per_call: f64,
    pub truncated: Option<String>,
    pub objects: u64,
    pub requested_bytes: u64,
    pub peak_live_bytes: u64,
    /// The order (0-based call index) of the call that reached the peak, and about when.
    pub peak_at_call: u64,
    pub peak_at_ms: f64,
    pub live_bytes_at_end: u64,
    pub live_objects_at_end: u64,
    pub size_histogram: Vec<SizeBucket>,
    pub size_classes: SizeClassReport,
    pub lifetimes: Lifetimes,
    /// Objects freed (or reallocated) by a thread other than the one that allocated them.
    pub cross_thread_frees: u64,
    pub unknown_frees: u64,
    pub null_frees: u64,
    pub failed_allocations: u64,
    pub reused_while_live: u64,
    /// (call index, ms, live bytes): the highest live bytes in each of up to 2000 slices.
    pub timeline: Vec<(u64, f64, u64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KindCount {
    pub kind: &'static str,
    pub calls: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThreadCalls {
    pub thread: u32,
    pub tid: u32,
    pub calls: u64,
}

/// Requests of `min..=max` bytes.
#[derive(Clone, Debug, Serialize)]
pub struct SizeBucket {
    pub min: u64,
    pub max: u64,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SizeClassReport {
    /// Requests per category of the manual's Table 1: tiny, quantum-spaced, cacheline-spaced,
    /// subpage-spaced, large, huge.
    pub by_category: Vec<(String, u64)>,
    /// The busiest classes: (class size, requests), most requested first (at most 20).
    pub top_classes: Vec<(u64, u64)>,
    /// Bytes lost to rounding up to the class: 1 - requested / class bytes.
    pub internal_fragmentation: f64,
}

/// Lifetimes of freed objects, in calls (of all threads) between allocation and free.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Lifetimes {
    pub freed: u64,
    pub p50_calls: u64,
    pub p90_calls: u64,
    pub p99_calls: u64,
    pub max_calls: u64,
    /// Freed within 16 calls of being allocated.
    pub short_lived: u64,
    pub never_freed: u64,
}

pub fn analyse(trace: &Trace, objects: &Objects) -> Summary {
    let events = &trace.events;
    let mut by_kind = [0u64; 13];
    let mut per_thread: Vec<u64> = vec![0; trace.threads.iter().map(|t| t.thread as usize + 1).max().unwrap_or(0)];
    for e in events {
        by_kind[e.op as usize] += 1;
        if let Some(c) = per_thread.get_mut(e.thread as usize) {
            *c += 1;
        }
    }
    let calls = events.len() as u64;

    // Live bytes in order; the peak and a down-sampled timeline.
    let slice = (events.len() / TIMELINE_POINTS).max(1);
    let mut live: u64 = 0;
    let (mut peak, mut peak_at) = (0u64, 0usize);
    let mut timeline = Vec::new();
    let mut slice_max = 0u64;
    for (i, _) in events.iter().enumerate() {
        if objects.ended[i] != NONE {
            live -= objects.objects[objects.ended[i] as usize].size;
        }
        if objects.started[i] != NONE {
            live += objects.objects[objects.started[i] as usize].size;
        }
        if live > peak {
            peak = live;
            peak_at = i;
        }
        slice_max = slice_max.max(live);
        if (i + 1) % slice == 0 || i + 1 == events.len() {
            timeline.push((i as u64, trace.time_of(events[i].seq) as f64 / 1e6, slice_max));
            slice_max = 0;
        }
    }
    let sc = SizeClasses::default_classes();
    let categories = ["tiny", "quantum-spaced", "cacheline-spaced", "subpage-spaced", "large", "huge"];
    let category = |size: u64| -> usize {
        let s = size.max(1) as usize;
        if s <= sc.sspace_max {
            match sc.bins[sc.small_bin(s)].kind {
                jemalloc_rs::size_classes::SmallKind::Tiny => 0,
                jemalloc_rs::size_classes::SmallKind::Quantum => 1,
                jemalloc_rs::size_classes::SmallKind::Cacheline => 2,
                jemalloc_rs::size_classes::SmallKind::Subpage => 3,
            }
        } else if s <= sc.arena_maxclass {
            4
        } else {
            5
        }
    };
    struct Acc {
        pow2: [u64; 65],
        cats: [u64; 6],
        classes: std::collections::HashMap<u64, u64>,
        requested: u128,
        class_bytes: u128,
    }
    let new_acc = || Acc { pow2: [0; 65], cats: [0; 6], classes: Default::default(), requested: 0, class_bytes: 0 };
    let acc = objects
        .objects
        .par_iter()
        .fold(new_acc, |mut a, o| {
            let bucket = if o.size == 0 { 0 } else { 64 - (o.size - 1).leading_zeros() as usize };
            a.pow2[bucket] += 1;
            a.cats[category(o.size)] += 1;
            let class = sc.usable_size(o.size.min(usize::MAX as u64) as usize).map_or(o.size, |c| c as u64);
            *a.classes.entry(class).or_default() += 1;
            a.requested += u128::from(o.size);
            a.class_bytes += u128::from(class);
            a
        })
        .reduce(new_acc, |mut a, b| {
            for (x, y) in a.pow2.iter_mut().zip(b.pow2) {
                *x += y;
            }
            for (x, y) in a.cats.iter_mut().zip(b.cats) {
                *x += y;
            }
            for (k, v) in b.classes {
                *a.classes.entry(k).or_default() += v;
            }
            a.requested += b.requested;
            a.class_bytes += b.class_bytes;
            a
        });
    let size_histogram = acc
        .pow2
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(b, &count)| {
            let max = if b == 0 {
                0
            } else if b >= 64 {
                u64::MAX
            } else {
                1u64 << b
            };
            let min = if b == 0 { 0 } else { (max >> 1) + 1 };
            SizeBucket { min: if b == 1 { 1 } else { min }, max, count }
        })
        .collect();
    let mut top: Vec<(u64, u64)> = acc.classes.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(20);

    let mut lifetimes: Vec<u64> =
        objects.objects.par_iter().filter(|o| o.freed).map(|o| o.end_seq - o.alloc_seq).collect();
    lifetimes.par_sort_unstable();
    let pct = |q: f64| -> u64 {
        if lifetimes.is_empty() {
            0
        } else {
            lifetimes[((lifetimes.len() - 1) as f64 * q).round() as usize]
        }
    };
    let never_freed = objects.objects.par_iter().filter(|o| o.end_seq == u64::MAX).count() as u64;
    let live_at_end: u64 = objects.objects.par_iter().filter(|o| o.end_seq == u64::MAX).map(|o| o.size).sum();
    let cross = objects.objects.par_iter().filter(|o| o.freed && o.end_thread != o.alloc_thread).count() as u64;
    let duration_ns = trace.times.last().map_or(0, |t| t.1);

    Summary {
        program: trace.program.clone(),
        pid: trace.pid,
        ppid: trace.ppid,
        forked_child: trace.forked,
        calls,
        calls_by_kind: ALL_OPS
            .iter()
            .map(|&op: &Op| KindCount { kind: op.name(), calls: by_kind[op as usize] })
            .filter(|k| k.calls > 0)
            .collect(),
        threads: trace
            .threads
            .iter()
            .map(|t| ThreadCalls {
                thread: t.thread,
                tid: t.tid,
                calls: per_thread.get(t.thread as usize).copied().unwrap_or(0),
            })
            .collect(),
        duration_ms: duration_ns as f64 / 1e6,
        file_bytes: trace.file_bytes,
        used_bytes: trace.used_bytes,
        bytes_per_call: if calls > 0 { trace.used_bytes as f64 / calls as f64 } else { 0.0 },
        truncated: trace.truncated.clone(),
        objects: objects.objects.len() as u64,
        requested_bytes: acc.requested.min(u128::from(u64::MAX)) as u64,
        peak_live_bytes: peak,
        peak_at_call: peak_at as u64,
        peak_at_ms: events.get(peak_at).map_or(0.0, |e| trace.time_of(e.seq) as f64 / 1e6),
        live_bytes_at_end: live_at_end,
        live_objects_at_end: never_freed,
        size_histogram,
        size_classes: SizeClassReport {
            by_category: categories.iter().zip(acc.cats).map(|(c, n)| (c.to_string(), n)).collect(),
            top_classes: top,
            internal_fragmentation: if acc.class_bytes > 0 {
                1.0 - acc.requested as f64 / acc.class_bytes as f64
            } else {
                0.0
            },
        },
        lifetimes: Lifetimes {
            freed: lifetimes.len() as u64,
            p50_calls: pct(0.5),
            p90_calls: pct(0.9),
            p99_calls: pct(0.99),
            max_calls: lifetimes.last().copied().unwrap_or(0),
            short_lived: lifetimes.iter().take_while(|&&l| l <= 16).count() as u64,
            never_freed,
        },
        cross_thread_frees: cross,
        unknown_frees: objects.unknown_frees,
        null_frees: objects.null_frees,
        failed_allocations: objects.failed_allocations,
        reused_while_live: objects.reused_while_live,
        timeline,
    }
}
