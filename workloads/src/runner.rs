//! Runs one workload on N threads and measures it.
//!
//! The runner builds the workload's shared state, starts the threads, and waits until each has
//! allocated its bookkeeping; then it records the baseline RSS and lets them warm up (objects
//! that are part of the workload's memory but allocated outside the timed part). When all are
//! prepared it restarts the kernel's peak-RSS mark, releases all threads at once and samples
//! the sum of the threads' live bytes and the RSS every millisecond until the threads finish
//! (after `duration`, or when each has done its `ops_per_thread`). Last it tears the workload
//! down on the calling thread, so that everything is freed, and reads the RSS that remains.

use crate::catalog::{Setup, Shared, Workload};
use crate::clock::Clock;
use crate::ctx::{new_histogram, LiveSlot, Rendezvous, ThreadCtx, ThreadReport};
use crate::os;
use crate::table::AllocTable;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct RunParams {
    pub threads: usize,
    /// Stop after this long; with `ops_per_thread` too, whichever comes first.
    pub duration: Option<Duration>,
    /// Stop each thread after this many allocator calls (checked once per round).
    pub ops_per_thread: Option<u64>,
    pub seed: u64,
    /// Time about one call in this many (every call for workloads that ask); 0 times none.
    pub sample_every: u32,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Allocator calls in the measured part, all threads.
    pub ops: u64,
    /// From the first thread's start to the last thread's finish.
    pub seconds: f64,
    pub cpu_user_seconds: f64,
    pub cpu_sys_seconds: f64,
    /// Sampled call latencies in nanoseconds, all threads.
    pub latency: Histogram<u64>,
    /// Requested bytes live at the peak: on one thread, exact; on more, the highest sum of the
    /// threads' counts sampled every millisecond (a thread's own count is no guide when it
    /// frees what others allocated), so a run shorter than a millisecond may show 0.
    pub peak_live_bytes: u64,
    /// Requested bytes still live after tear-down: 0 unless the workload leaks.
    pub end_live_bytes: i64,
    /// RSS when all threads had their bookkeeping, before the workload's own allocations.
    pub baseline_rss_bytes: u64,
    pub peak_rss_bytes: u64,
    /// RSS after tear-down.
    pub end_rss_bytes: u64,
    /// Whether the peak RSS is the kernel's exact mark (else: the highest 1 ms sample).
    pub peak_rss_exact: bool,
}

pub fn run(workload: &Workload, table: AllocTable, params: &RunParams, clock: &Clock) -> Outcome {
    let shared = (workload.make)(&Setup { threads: params.threads.max(1), seed: params.seed });
    run_shared(&*shared, workload.time_every_call, table, params, clock)
}

/// Runs a workload's shared state built elsewhere (such as a replayed trace) the way [`run`]
/// runs a catalogued workload.
pub fn run_shared(
    shared: &dyn Shared,
    time_every_call: bool,
    table: AllocTable,
    params: &RunParams,
    clock: &Clock,
) -> Outcome {
    let threads = params.threads.max(1);
    let slots: Vec<LiveSlot> = (0..=threads).map(|_| LiveSlot::default()).collect();
    let booked = Barrier::new(threads + 1);
    let warm_up = Barrier::new(threads + 1);
    let prepared = Barrier::new(threads + 1);
    let go = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let budget = params.ops_per_thread.unwrap_or(u64::MAX);
    let sample_every = if time_every_call && params.sample_every != 0 { 1 } else { params.sample_every };
    let live_sum = || slots.iter().map(|s| s.0.load(Ordering::Relaxed)).sum::<i64>();

    let mut baseline_rss = 0;
    let mut exact = false;
    let mut peak_live = 0i64;
    let mut sampled_rss = 0;
    let mut start = Instant::now();
    let reports: Vec<ThreadReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (slots, booked, warm_up, prepared, go) = (&slots, &booked, &warm_up, &prepared, &go);
                let (stop, finished) = (&stop, &finished);
                s.spawn(move || {
                    // Counts the thread as finished even when it panics (a workload that found
                    // its blocks overwritten), so that the runner stops waiting and re-raises it.
                    let _finished = OnDrop(|| {
                        finished.fetch_add(1, Ordering::Release);
                    });
                    let sync = Rendezvous { booked, warm_up, prepared, go, stop };
                    let mut ctx = ThreadCtx::new(
                        table,
                        params.seed,
                        t,
                        threads,
                        clock,
                        Some(sync),
                        &slots[t],
                        budget,
                        sample_every,
                    );
                    shared.thread(&mut ctx);
                    ctx.into_report()
                })
            })
            .collect();
        booked.wait();
        baseline_rss = os::current_rss();
        warm_up.wait();
        prepared.wait();
        exact = os::reset_peak();
        sampled_rss = os::current_rss();
        go.wait();
        start = Instant::now();
        loop {
            peak_live = peak_live.max(live_sum());
            sampled_rss = sampled_rss.max(os::current_rss());
            if finished.load(Ordering::Acquire) == threads {
                break;
            }
            if params.duration.is_some_and(|d| start.elapsed() >= d) {
                stop.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    // The RSS before the run is itself a sample of the run's resident set: when something else
    // in the process gives memory back meanwhile, the samples taken during the run can be lower.
    let peak_rss = if exact { os::peak_rss().max(sampled_rss) } else { sampled_rss }.max(baseline_rss);

    let mut teardown = ThreadCtx::new(table, params.seed, threads, threads, clock, None, &slots[threads], 0, 0);
    shared.teardown(&mut teardown);
    drop(teardown);
    let end_live = live_sum();
    let end_rss = os::current_rss();

    let mut latency = new_histogram();
    let (mut ops, mut user, mut sys) = (0, 0.0, 0.0);
    let start = reports.iter().filter_map(|r| r.start).min().unwrap_or(start);
    let mut end = start;
    for r in &reports {
        ops += r.ops;
        user += r.cpu_user;
        sys += r.cpu_sys;
        end = end.max(r.end.unwrap_or(start));
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = latency.add(&r.latency);
    }
    Outcome {
        ops,
        seconds: end.duration_since(start).as_secs_f64(),
        cpu_user_seconds: user,
        cpu_sys_seconds: sys,
        latency,
        peak_live_bytes: if threads == 1 { peak_live.max(reports[0].peak_live) } else { peak_live }.max(0) as u64,
        end_live_bytes: end_live,
        baseline_rss_bytes: baseline_rss,
        peak_rss_bytes: peak_rss,
        end_rss_bytes: end_rss,
        peak_rss_exact: exact,
    }
}

/// Runs a closure when dropped, on unwinding too.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}
