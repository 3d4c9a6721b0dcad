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
