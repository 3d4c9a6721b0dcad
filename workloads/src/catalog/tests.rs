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

unsafe extern "C" fn counting_calloc(n: usize, size: usize) -> *mut c_void {
    REQUESTED.fetch_add((n * size) as u64, Ordering::Relaxed);
    // SAFETY: plain calloc.
    unsafe { libc::calloc(n, size) }
}

unsafe extern "C" fn counting_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> libc::c_int {
    REQUESTED.fetch_add(size as u64, Ordering::Relaxed);
    // SAFETY: as the caller passed them.
    unsafe { libc::posix_memalign(out, align, size) }
}

fn requested_bytes(workload: &str, seed: u64) -> u64 {
    let table = AllocTable {
        malloc: counting_malloc,
        calloc: counting_calloc,
        posix_memalign: counting_posix_memalign,
        ..AllocTable::system()
    };
    REQUESTED.store(0, Ordering::Relaxed);
    run(find(workload).unwrap(), table, &params(1, 5_000, seed), &Clock::calibrate());
    REQUESTED.load(Ordering::Relaxed)
}

#[test]
fn a_seed_fixes_the_sequence_of_requests() {
    let _guard = SERIAL.lock().unwrap();
    for w in ["larson", "shbench", "mstress", "small-batch", "bench-malloc-thread", "rptest"] {
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

unsafe extern "C" fn tagging_calloc(n: usize, size: usize) -> *mut c_void {
    let p = tagging_malloc(n * size);
    // SAFETY: a fresh block of n * size bytes.
    unsafe { p.cast::<u8>().write_bytes(0, n * size) };
    p
}

/// posix_memalign with the same 16-byte header: alignments up to 16 only.
unsafe extern "C" fn tagging_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> libc::c_int {
    assert!(align <= 16);
    // SAFETY: out is writable; malloc's blocks are 16-aligned, and so is the header's end.
    unsafe { out.write(tagging_malloc(size)) };
    0
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
    let table = AllocTable {
        malloc: tagging_malloc,
        free: tagging_free,
        calloc: tagging_calloc,
        posix_memalign: tagging_posix_memalign,
        ..AllocTable::system()
    };
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
    assert!(cross_thread_frees("rptest") > 1_000);
    assert_eq!(cross_thread_frees("bench-malloc-thread"), 0);
    assert_eq!(cross_thread_frees("threadtest"), 0);
    assert_eq!(cross_thread_frees("small-loop"), 0);
}

/// The sizes and kinds of the requests a workload makes on one thread.
#[derive(Default)]
struct Requests {
    malloc: Vec<usize>,
    calloc: Vec<usize>,
    memalign: Vec<(usize, usize)>,
}

static REQUESTS: Mutex<Option<Requests>> = Mutex::new(None);

fn note(f: impl FnOnce(&mut Requests)) {
    if let Some(r) = REQUESTS.lock().unwrap().as_mut() {
        f(r);
    }
}

unsafe extern "C" fn noting_malloc(size: usize) -> *mut c_void {
    note(|r| r.malloc.push(size));
    // SAFETY: plain malloc.
    unsafe { libc::malloc(size) }
}

unsafe extern "C" fn noting_calloc(n: usize, size: usize) -> *mut c_void {
    note(|r| r.calloc.push(n * size));
    // SAFETY: plain calloc.
    unsafe { libc::calloc(n, size) }
}

unsafe extern "C" fn noting_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> libc::c_int {
    note(|r| r.memalign.push((align, size)));
    // SAFETY: as the caller passed them.
    unsafe { libc::posix_memalign(out, align, size) }
}

fn requests(workload: &str, threads: usize, ops: u64) -> Requests {
    let table = AllocTable {
        malloc: noting_malloc,
        calloc: noting_calloc,
        posix_memalign: noting_posix_memalign,
        ..AllocTable::system()
    };
    *REQUESTS.lock().unwrap() = Some(Requests::default());
    let o = run(find(workload).unwrap(), table, &params(threads, ops, 3), &Clock::calibrate());
    assert_eq!(o.end_live_bytes, 0, "{workload} leaks");
    REQUESTS.lock().unwrap().take().unwrap()
}

fn share(sizes: &[usize], below: usize) -> f64 {
    sizes.iter().filter(|&&s| s < below).count() as f64 / sizes.len() as f64
}

#[test]
fn bench_malloc_thread_asks_glibc_s_inverse_square_sizes_with_malloc_only() {
    use super::bench_malloc_thread::{block_size, MAX_ALLOCATION_SIZE, MIN_ALLOCATION_SIZE};
    assert_eq!(block_size(0) as usize, MIN_ALLOCATION_SIZE);
    assert_eq!(block_size(i32::MAX as u32) as usize, MAX_ALLOCATION_SIZE);
    // The middle of the draws maps to just under 8 bytes: 1 / ((1/32768 - 1/4) / 2 + 1/4).
    assert_eq!(block_size(i32::MAX as u32 / 2), 7);

    let _guard = SERIAL.lock().unwrap();
    let r = requests("bench-malloc-thread", 1, 100_000);
    assert!(r.calloc.is_empty() && r.memalign.is_empty());
    assert!(r.malloc.len() >= 50_000, "{} mallocs", r.malloc.len());
    assert!(r.malloc.iter().all(|s| (MIN_ALLOCATION_SIZE..=MAX_ALLOCATION_SIZE).contains(s)));
    // P(size < s) is about 1 - 4/s: a half under 8 bytes, 1% at 400 or more.
    let (under_8, under_400) = (share(&r.malloc, 8), share(&r.malloc, 400));
    assert!((0.46..0.54).contains(&under_8), "{under_8} under 8 B");
    assert!((0.98..0.995).contains(&under_400), "{under_400} under 400 B");
    assert!(r.malloc.iter().any(|&s| s > 8192), "no size over 8 KiB");
}

#[test]
fn rptest_asks_calloc_and_memalign_for_linearly_falling_sizes() {
    use super::rptest::{MAX_SIZE, MIN_SIZE};
    let _guard = SERIAL.lock().unwrap();
    let r = requests("rptest", 1, 100_000);
    assert!(r.malloc.is_empty(), "the source asks only calloc and memalign");
    assert!(r.calloc.iter().all(|s| (MIN_SIZE..=MAX_SIZE).contains(s)));
    // One thread hands no batches: every memalign is a block under 4 KiB, aligned to 8 or 16.
    assert!(r.memalign.iter().all(|&(a, s)| (a == 8 || a == 16) && (MIN_SIZE..4096).contains(&s)));
    let mut sizes: Vec<usize> = r.calloc.clone();
    sizes.extend(r.memalign.iter().map(|&(_, s)| s));
    assert!(sizes.len() >= 40_000, "{} blocks", sizes.len());
    // Blocks under 4 KiB go to calloc one time in three; all bigger ones do.
    let aligned = r.memalign.len() as f64 / sizes.len() as f64;
    let expected = 2.0 / 3.0 * share(&sizes, 4096);
    assert!((aligned - expected).abs() < 0.05, "{aligned} aligned, {expected} expected");
    // A uniform size times a triangular weight: mean about 2.7 KB, three quarters under 4 KiB.
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    assert!((2_200.0..3_200.0).contains(&mean), "mean {mean}");
    assert!((0.70..0.82).contains(&share(&sizes, 4096)));
    assert!(sizes.iter().any(|&s| s > 12_000));

    // With more threads, batches go to other threads with their 32-byte headers.
    let r = requests("rptest", 2, 20_000);
    assert!(r.memalign.iter().filter(|&&(a, s)| a == 16 && s == 32).count() > 10);
}

static LAST_BLOCK: AtomicU64 = AtomicU64::new(0);

/// An allocator that overwrites the first word of the block it handed out before, as one that
/// gave out overlapping blocks would. It never frees, so that what it overwrites is never reused.
unsafe extern "C" fn overwriting_calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: plain calloc; the block before, never freed, has at least 8 bytes.
    unsafe {
        let p = libc::calloc(n, size);
        let before = LAST_BLOCK.swap(p as u64, Ordering::Relaxed) as *mut u64;
        if !before.is_null() {
            before.write_unaligned(0xdead_beef_dead_beef);
        }
        p
    }
}

unsafe extern "C" fn overwriting_posix_memalign(out: *mut *mut c_void, _align: usize, size: usize) -> libc::c_int {
    // SAFETY: calloc's blocks are 16-aligned, enough for the alignments rptest asks on one thread.
    unsafe { out.write(overwriting_calloc(1, size)) };
    0
}

unsafe extern "C" fn never_free(_: *mut c_void) {}

#[test]
fn rptest_catches_an_allocator_that_overwrites_its_blocks() {
    let _guard = SERIAL.lock().unwrap();
    let table = AllocTable {
        calloc: overwriting_calloc,
        posix_memalign: overwriting_posix_memalign,
        free: never_free,
        ..AllocTable::system()
    };
    let caught =
        std::panic::catch_unwind(|| run(find("rptest").unwrap(), table, &params(1, 5_000, 1), &Clock::calibrate()));
    let message = caught.expect_err("rptest did not notice its blocks overwritten");
    let message = message.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("the allocator overwrote it"), "{message}");
}
