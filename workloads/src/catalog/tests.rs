use crate::{all, find, run, AllocTable, Clock, RunParams};
use core::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

fn params(threads: usize, ops: u64, seed: u64) -> RunParams {
    RunParams { threads, duration: None, ops_per_thread: Some(ops), seed, sample_every: 4 }
}

#[test]
fn every_workload_runs_measures_and_frees_everything() {
    let clock = Clock::calibrate();
    for w in all() {
        for threads in [1, 3] {
            let p = RunParams { duration: Some(std::time::Duration::from_millis(30)), ..params(threads, 2_000, 1) };
            let o = run(w, AllocTable::system(), &p, &clock);
            assert!(o.ops >= threads as u64, "{}: {} ops", w.name, o.ops);
            assert_eq!(o.end_live_bytes, 0, "{} on {threads} threads leaks", w.name);
            assert!(!o.latency.is_empty(), "{}: no latency samples", w.name);
            assert!(o.seconds > 0.0, "{}: {} s", w.name, o.seconds);
            assert!(o.peak_rss_bytes >= o.baseline_rss_bytes);
        }
    }
}

#[test]
fn names_are_unique_and_found() {
    for w in all() {
        assert!(std::ptr::eq(find(w.name).unwrap(), w));
        assert!(!w.summary.is_empty() && !w.follows.is_empty());
    }
    assert!(find("no-such-workload").is_none());
}

static REQUESTED: AtomicU64 = AtomicU64::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

unsafe extern "C" fn counting_malloc(size: usize) -> *mut c_void {
    REQUESTED.fetch_add(size as u64, Ordering::Relaxed);
    // SAFETY: plain malloc.
    unsafe { libc::malloc(size) }
}

fn requested_bytes(workload: &str, seed: u64) -> u64 {
    let table = AllocTable { malloc: counting_malloc, ..AllocTable::system() };
    REQUESTED.store(0, Ordering::Relaxed);
    run(find(workload).unwrap(), table, &params(1, 5_000, seed), &Clock::calibrate());
    REQUESTED.load(Ordering::Relaxed)
}

#[test]
fn a_seed_fixes_the_sequence_of_requests() {
    let _guard = SERIAL.lock().unwrap();
    for w in ["larson", "shbench", "mstress", "small-batch"] {
        let a = requested_bytes(w, 42);
        assert!(a > 0);
        assert_eq!(a, requested_bytes(w, 42), "{w} is not reproducible");
        assert_ne!(a, requested_bytes(w, 43), "{w} ignores its seed");
    }
}

#[test]
fn duration_stops_the_run() {
    let p = RunParams {
        threads: 2,
        duration: Some(std::time::Duration::from_millis(50)),
        ops_per_thread: None,
        seed: 1,
        sample_every: 16,
    };
    let o = run(find("small-loop").unwrap(), AllocTable::system(), &p, &Clock::calibrate());
    assert!(o.seconds >= 0.05 && o.seconds < 2.0, "ran {} s", o.seconds);
}

static CROSS_THREAD_FREES: AtomicU64 = AtomicU64::new(0);
/// The thread that runs the tear-down, whose frees do not count.
static TEARDOWN_THREAD: AtomicU64 = AtomicU64::new(0);

fn thread_id() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u64 }
}

/// malloc that records the allocating thread in a 16-byte header.
unsafe extern "C" fn tagging_malloc(size: usize) -> *mut c_void {
    // SAFETY: plain malloc; the header fits in the extra 16 bytes.
    unsafe {
        let p = libc::malloc(size + 16).cast::<u64>();
        p.write(thread_id());
        p.cast::<u8>().add(16).cast()
    }
}

unsafe extern "C" fn tagging_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: p came from tagging_malloc, 16 bytes past a header.
    unsafe {
        let base = p.cast::<u8>().sub(16);
        let me = thread_id();
        if base.cast::<u64>().read() != me && me != TEARDOWN_THREAD.load(Ordering::Relaxed) {
            CROSS_THREAD_FREES.fetch_add(1, Ordering::Relaxed);
        }
        libc::free(base.cast());
    }
}

fn cross_thread_frees(workload: &str) -> u64 {
    let table = AllocTable { malloc: tagging_malloc, free: tagging_free, ..AllocTable::system() };
    CROSS_THREAD_FREES.store(0, Ordering::Relaxed);
    TEARDOWN_THREAD.store(thread_id(), Ordering::Relaxed);
    run(find(workload).unwrap(), table, &params(2, 20_000, 5), &Clock::calibrate());
    CROSS_THREAD_FREES.load(Ordering::Relaxed)
}

#[test]
fn handoff_workloads_free_across_threads_and_the_others_do_not() {
    let _guard = SERIAL.lock().unwrap();
    assert!(cross_thread_frees("larson") > 1_000);
    assert!(cross_thread_frees("xmalloc") > 1_000);
    assert!(cross_thread_frees("cache-scratch") >= 1);
    assert_eq!(cross_thread_frees("threadtest"), 0);
    assert_eq!(cross_thread_frees("small-loop"), 0);
}
