//! Thread caches under threads: objects freed by other threads go home, thread exit gives a
//! full cache back, `tcache.flush` empties the caller's cache, `opt.tcache:false` bypasses it,
//! `thread.arena` moves a thread, the GC shrinks an idle cache (and, turned off, leaves it
//! alone), a thread's first call may be a free, and 16 threads on two cores keep every
//! object's contents.
//!
//! The allocator is driven through `jemalloc_rs::api`; the test harness itself runs on the
//! system allocator. Tests that read arena statistics take `SERIAL` so that they do not see
//! each other's objects.

use jemalloc_rs::api;
use jemalloc_rs::arena;
use jemalloc_rs::chunk_map::Chunk;
use jemalloc_rs::global::g;
use jemalloc_rs::tcache::{self, Tcache};
use jemalloc_rs::thread;
use std::sync::mpsc;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn malloc(size: usize) -> *mut u8 {
    // SAFETY: plain allocation.
    let p = unsafe { api::malloc(size) } as *mut u8;
    assert!(!p.is_null());
    p
}

fn free(p: *mut u8) {
    // SAFETY: the tests free only what they allocated, once.
    unsafe { api::free(p.cast()) }
}

/// Bytes handed out by bin `binind` of every arena (regions in thread caches count as
/// handed out, as in jemalloc).
fn bin_allocated(binind: usize) -> usize {
    (0..arena::MAX_ARENAS)
        .filter_map(arena::get)
        .map(|a| {
            let b = a.bin(binind);
            b.lock.lock();
            // SAFETY: bin lock held.
            let n = unsafe { b.locked().stats.allocated };
            b.lock.unlock();
            n
        })
        .sum()
}

fn arena_of(p: *mut u8) -> usize {
    let c = Chunk::containing(p, g().chunk_mask);
    // SAFETY: p is a live small object, so its chunk header names its arena.
    unsafe { (*(*c.0).arena).ind }
}

fn cached(binind: usize) -> u32 {
    let t = thread::tcache();
    assert!(!t.is_null(), "this thread has a cache");
    // SAFETY: the calling thread's own cache; binind is a small bin.
    unsafe { (*Tcache::bin(t, binind)).ncached() as u32 }
}

fn start() {
    free(malloc(1));
}

/// Moves the calling thread to arena `i` with an empty cache; false (with a message) when
/// there are too few arenas.
fn bind_to_arena(i: usize) -> bool {
    start();
    if g().narenas() <= i {
        eprintln!("skipped: fewer than {} arenas", i + 1);
        return false;
    }
    thread::bind(arena::get_or_create(i).unwrap());
    tcache::flush_current_thread();
    true
}

#[test]
fn thread_exit_returns_a_full_cache() {
    let _serial = SERIAL.lock().unwrap();
    start();
    let binind = g().sc.small_bin(96);
    let before = bin_allocated(binind);
    std::thread::spawn(move || {
        let ps: Vec<_> = (0..5000).map(|_| malloc(96)).collect();
        for p in ps {
            free(p);
        }
        assert!(cached(binind) > 0, "freed objects stay in the cache until the thread exits");
    })
    .join()
    .unwrap();
    assert_eq!(bin_allocated(binind), before, "the exiting thread's cache went back to the arena");
}

#[test]
fn objects_freed_by_another_thread_go_back_to_their_arena() {
    let _serial = SERIAL.lock().unwrap();
    start();
    let binind = g().sc.small_bin(200);
    let before = bin_allocated(binind);
    let (tx, rx) = mpsc::channel::<usize>();
    let producer = std::thread::spawn(move || {
        thread::bind(arena::get_or_create(1).unwrap());
        for i in 0..20_000usize {
            let p = malloc(200);
            assert_eq!(arena_of(p), 1);
            // SAFETY: p has 200 bytes.
            unsafe { p.cast::<usize>().write(i) };
            tx.send(p as usize).unwrap();
        }
    });
    let consumer = std::thread::spawn(move || {
        thread::bind(arena::get_or_create(2).unwrap());
        let mut n = 0usize;
        for v in rx {
            // SAFETY: the producer wrote the index before sending.
            assert_eq!(unsafe { (v as *const usize).read() }, n);
            free(v as *mut u8);
            n += 1;
        }
        n
    });
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), 20_000);
    assert_eq!(bin_allocated(binind), before, "every object went back to arena 1");
}

#[test]
fn tcache_flush_empties_the_callers_cache() {
    let _serial = SERIAL.lock().unwrap();
    std::thread::spawn(|| {
        start();
        let binind = g().sc.small_bin(48);
        let ps: Vec<_> = (0..100).map(|_| malloc(48)).collect();
        for p in ps {
            free(p);
        }
        let with_cache = bin_allocated(binind);
        let n = cached(binind) as usize;
        assert!(n >= 50, "freed objects are cached ({n})");
        tcache::flush_current_thread();
        assert_eq!(cached(binind), 0);
        assert_eq!(bin_allocated(binind), with_cache - n * 48);
    })
    .join()
    .unwrap();
}

#[test]
fn thread_arena_moves_the_calling_thread() {
    let _serial = SERIAL.lock().unwrap();
    std::thread::spawn(|| {
        if !bind_to_arena(3) {
            return;
        }
        let p = malloc(64);
        assert_eq!(arena_of(p), 3);
        free(p);
        thread::bind(arena::get_or_create(0).unwrap());
        tcache::flush_current_thread();
        let q = malloc(64);
        assert_eq!(arena_of(q), 0);
        free(q);
    })
    .join()
    .unwrap();
}

/// Fills the calling thread's cache for 1024-byte objects, which the GC tests then leave
/// idle; returns the class's bin and how many it caches.
fn cache_an_idle_class() -> (usize, u32) {
    let idle = g().sc.small_bin(1024);
    let ps: Vec<_> = (0..40).map(|_| malloc(1024)).collect();
    for p in ps {
        free(p);
    }
    let full = cached(idle);
    assert!(full > 0);
    (idle, full)
}

/// `events` cache events (half allocations, half frees) on 16-byte objects.
fn events_on_another_class(events: usize) {
    for _ in 0..events / 2 {
        free(malloc(16));
    }
}

#[test]
fn gc_shrinks_an_idle_cache() {
    let _serial = SERIAL.lock().unwrap();
    std::thread::spawn(|| {
        start();
        if g().opts.lg_tcache_gc_sweep < 0 {
            return;
        }
        let (idle, full) = cache_an_idle_class();
        // Several full sweeps of events on another class, with the idle one untouched.
        events_on_another_class(4usize << g().opts.lg_tcache_gc_sweep);
        assert!(cached(g().sc.small_bin(16)) > 0);
        assert!(cached(idle) < full / 2, "idle class shrank from {full} to {}", cached(idle));
    })
    .join()
    .unwrap();
}

#[test]
fn sixteen_threads_exchange_objects_and_keep_contents() {
    let _serial = SERIAL.lock().unwrap();
    start();
    let threads = 16;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::channel::<(usize, usize, u8)>()).unzip();
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(id, rx)| {
            let txs = txs.clone();
            std::thread::spawn(move || {
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ id as u64;
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                let mut live: Vec<(usize, usize, u8)> = Vec::new();
                for i in 0..20_000 {
                    let r = next();
                    let size = if r % 100 < 95 { 1 + (r >> 8) as usize % 3840 } else { 4096 + (r >> 8) as usize % 60_000 };
                    let p = malloc(size);
                    let tag = (r >> 40) as u8;
                    // SAFETY: p has `size` bytes.
                    unsafe { std::ptr::write_bytes(p, tag, size) };
                    live.push((p as usize, size, tag));
                    if i % 3 == 0 {
                        let to = (r >> 20) as usize % txs.len();
                        let obj = live.swap_remove((r >> 30) as usize % live.len());
                        let _ = txs[to].send(obj);
                    }
                    while let Ok(obj) = rx.try_recv() {
                        live.push(obj);
                    }
                    if live.len() > 200 {
                        let (p, size, tag) = live.swap_remove((r >> 12) as usize % live.len());
                        // SAFETY: a live object of `size` bytes.
                        let s = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
                        assert!(s.iter().all(|&b| b == tag), "contents kept");
                        free(p as *mut u8);
                    }
                }
                drop(txs);
                live
            })
        })
        .collect();
    drop(txs);
    let mut left = Vec::new();
    for h in handles {
        left.extend(h.join().unwrap());
    }
    left.sort();
    for w in left.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "live objects do not overlap");
    }
    for (p, size, tag) in left {
        // SAFETY: a live object of `size` bytes.
        let s = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
        assert!(s.iter().all(|&b| b == tag));
        free(p as *mut u8);
    }
    // This harness thread's cache would otherwise flush when the thread exits, after SERIAL is
    // released, under another test's before-and-after count.
    tcache::flush_current_thread();
}

/// `opt.tcache:false` is read once per process, so this re-runs the test binary with it.
#[test]
fn tcache_false_serves_without_a_cache() {
    if std::env::var_os("JEMALLOC_RS_TCACHE_CHILD").is_some() {
        start();
        assert!(!g().opts.tcache);
        assert!(thread::tcache().is_null());
        let binind = g().sc.small_bin(32);
        let before = bin_allocated(binind);
        let p = malloc(32);
        free(p);
        assert_eq!(bin_allocated(binind), before, "the free went straight back to the bin");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tcache_false_serves_without_a_cache", "--nocapture"])
        .env("JEMALLOC_RS_TCACHE_CHILD", "1")
        .env("MALLOC_CONF", "tcache:false")
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

/// `(nrequests, nmalloc)` of small bin `binind`, summed over the arenas, as of a fresh epoch.
fn bin_requests(binind: usize) -> (u64, u64) {
    use jemalloc_rs::ctl::typed::{arenas, epoch, stats};
    epoch::advance().unwrap();
    let sum = arenas::narenas::read().unwrap() as usize;
    (stats::arenas::bins::nrequests(sum, binind).unwrap(), stats::arenas::bins::nmalloc(sum, binind).unwrap())
}

/// Requests the cache serves reach `stats.arenas.<i>.bins.<j>.nrequests` (and `small.nrequests`)
/// at each fill, at `epoch` for the calling thread, and at thread exit.
#[test]
#[cfg(feature = "stats")]
fn cached_requests_reach_the_bin_statistics() {
    use jemalloc_rs::ctl::typed::{arenas, stats};
    let _serial = SERIAL.lock().unwrap();
    start();
    const N: u64 = 20_000;
    let binind = g().sc.small_bin(1000);
    let sum = || arenas::narenas::read().unwrap() as usize;
    let (r0, m0) = bin_requests(binind);
    let small0 = stats::arenas::small_nrequests(sum()).unwrap();
    // Live objects: every request needs a region, so nmalloc (regions handed to the cache by
    // fills) is at least N and exceeds nrequests by at most what is still cached.
    let (r1, m1, held) = std::thread::spawn(move || {
        let ps: Vec<_> = (0..N).map(|_| malloc(1000)).collect();
        let (r1, m1) = bin_requests(binind);
        for p in ps {
            free(p);
        }
        (r1, m1, cached(binind) as u64)
    })
    .join()
    .unwrap();
    assert!(r1 - r0 >= N, "{N} cached malloc(1000) calls, bins.{binind}.nrequests moved by {}", r1 - r0);
    assert!(m1 - m0 >= N, "{N} live objects, bins.{binind}.nmalloc moved by {}", m1 - m0);
    assert!(
        (m1 - m0).saturating_sub(r1 - r0) <= held.max(200),
        "nmalloc {} exceeds nrequests {} by more than a cache's worth",
        m1 - m0,
        r1 - r0
    );
    let small1 = stats::arenas::small_nrequests(sum()).unwrap();
    assert!(small1 - small0 >= N, "small.nrequests moved by {} over {N} requests", small1 - small0);

    // One object reused: a single fill serves them all, so only the merges at epoch and at
    // thread exit can report the requests.
    let (r2, m2) = bin_requests(binind);
    std::thread::spawn(move || {
        for _ in 0..N {
            free(malloc(1000));
        }
    })
    .join()
    .unwrap();
    let (r3, m3) = bin_requests(binind);
    assert!(r3 - r2 >= N, "{N} requests by an exited thread, nrequests moved by {}", r3 - r2);
    assert!(m3 - m2 < N / 10, "one reused object, yet nmalloc moved by {}", m3 - m2);
    assert!(r3 - r2 < N + N / 10, "nrequests moved by {} for {N} requests", r3 - r2);
}

/// Large classes the cache holds count their hits too (`lruns.<j>.nrequests`,
/// `large.nrequests`), without counting a miss twice.
#[test]
#[cfg(feature = "stats")]
fn cached_large_requests_reach_the_lrun_statistics() {
    use jemalloc_rs::ctl::typed::{arenas, epoch, stats};
    let _serial = SERIAL.lock().unwrap();
    start();
    const N: u64 = 20_000;
    let size = 2 * jemalloc_rs::size_classes::PAGE;
    assert!(size <= tcache::max_class(), "{size} bytes are cached by default");
    let npages = size / jemalloc_rs::size_classes::PAGE;
    let read = || {
        epoch::advance().unwrap();
        let sum = arenas::narenas::read().unwrap() as usize;
        (
            stats::arenas::lruns::nrequests(sum, npages - 1).unwrap(),
            stats::arenas::lruns::nmalloc(sum, npages - 1).unwrap(),
            stats::arenas::large_nrequests(sum).unwrap(),
        )
    };
    // K live objects (nearly all misses, served by the arena), then N hits on one object.
    const K: u64 = 2_000;
    let (r0, m0, l0) = read();
    std::thread::spawn(move || {
        let ps: Vec<_> = (0..K).map(|_| malloc(size)).collect();
        for p in ps {
            free(p);
        }
        for _ in 0..N {
            free(malloc(size));
        }
    })
    .join()
    .unwrap();
    let (r1, m1, l1) = read();
    assert!((K..K + K / 10).contains(&(m1 - m0)), "{K} live objects, lruns nmalloc moved by {}", m1 - m0);
    let want = N + K;
    assert!(
        (want..want + K / 10).contains(&(r1 - r0)),
        "{want} requests of {size} bytes, lruns nrequests moved by {}",
        r1 - r0
    );
    assert!(l1 - l0 >= want, "large.nrequests moved by {}", l1 - l0);
}

/// The two- and three-page classes keep more objects than jemalloc's 20 (256 KiB of each): a
/// thread that churns a batch of 30 two-page objects, which 20 slots would flush half of at
/// every round, takes them all from its cache after the first round.
#[test]
#[cfg(feature = "stats")]
fn a_batch_of_small_large_objects_stays_cached() {
    use jemalloc_rs::ctl::typed::{arenas, epoch, stats};
    let _serial = SERIAL.lock().unwrap();
    start();
    let page = jemalloc_rs::size_classes::PAGE;
    let lclass = |pages: usize| g().sc.nbins + pages - 1;
    std::thread::spawn(move || {
        start();
        let t = thread::tcache();
        for (pages, slots) in [(1, 20), (2, 32), (3, 21), (4, 20), (8, 20)] {
            // SAFETY: the calling thread's own cache; every class up to 32 KiB is cached.
            let ncached_max = unsafe { (*Tcache::bin(t, lclass(pages))).ncached_max() };
            assert_eq!(ncached_max, slots, "slots of the {pages}-page class");
        }
    })
    .join()
    .unwrap();
    const BATCH: usize = 30;
    const ROUNDS: u64 = 100;
    let nmalloc = || {
        epoch::advance().unwrap();
        stats::arenas::lruns::nmalloc(arenas::narenas::read().unwrap() as usize, 1).unwrap()
    };
    let before = nmalloc();
    std::thread::spawn(move || {
        for _ in 0..ROUNDS {
            let ps: Vec<_> = (0..BATCH).map(|_| malloc(2 * page)).collect();
            for p in ps {
                free(p);
            }
        }
    })
    .join()
    .unwrap();
    let from_arena = nmalloc() - before;
    assert!(from_arena < 2 * BATCH as u64, "{from_arena} of {} allocations came from the arena", ROUNDS * BATCH as u64);
}

/// Fills take regions a bitmap word at a time, across runs and across the words of a run (bin
/// 0's runs have 4028 regions, 63 words), and flushes count their objects once per batch: a
/// thread that holds thousands of objects of one class gets distinct, class-aligned regions,
/// and the bin's statistics match them exactly before and after everything is freed.
#[test]
fn batched_fills_and_flushes_span_runs_and_bitmap_words() {
    let _serial = SERIAL.lock().unwrap();
    std::thread::spawn(|| {
        if !bind_to_arena(3) {
            return;
        }
        for size in [8usize, 64, 3840] {
            let binind = g().sc.small_bin(size);
            let reg = g().sc.bins[binind].reg_size as usize;
            let before = bin_allocated(binind);
            let n = 5000;
            let mut ps: Vec<usize> = (0..n).map(|_| malloc(size) as usize).collect();
            for (i, &p) in ps.iter().enumerate() {
                assert_eq!(arena_of(p as *mut u8), 3);
                // SAFETY: p has `size` bytes.
                unsafe { std::ptr::write_bytes(p as *mut u8, i as u8, size) };
            }
            let cached_now = cached(binind) as usize;
            assert_eq!(bin_allocated(binind), before + (n + cached_now) * reg, "class {size}");
            let mut sorted = ps.clone();
            sorted.sort_unstable();
            assert!(sorted.windows(2).all(|w| w[1] - w[0] >= reg), "class {size}: regions overlap");
            for (i, &p) in ps.iter().enumerate() {
                // SAFETY: written above, still live.
                assert_eq!(unsafe { *(p as *const u8).add(size - 1) }, i as u8, "class {size}: contents");
            }
            // Free in an order unlike the fill's, so that flushes meet runs half full.
            let len = ps.len();
            for i in 0..len {
                ps.swap(i, (i * 7919) % len);
            }
            for p in ps {
                free(p as *mut u8);
            }
            tcache::flush_current_thread();
            assert_eq!(bin_allocated(binind), before, "class {size}: every region went back");
        }
    })
    .join()
    .unwrap();
}

/// The double-free check reads the top of the stack without testing for an empty one (a
/// null guard sits below each stack): freeing into an empty cache is never taken for a double
/// free, and freeing the top twice still is (in `mallctl.rs`'s abort tests).
#[test]
fn freeing_into_an_empty_cache_is_not_a_double_free() {
    let _serial = SERIAL.lock().unwrap();
    std::thread::spawn(|| {
        start();
        let binind = g().sc.small_bin(96);
        let p = malloc(96);
        tcache::flush_current_thread();
        assert_eq!(cached(binind), 0);
        free(p);
        assert_eq!(cached(binind), 1);
        let q = malloc(96);
        assert_eq!(q, p, "the cache hands back what it holds");
        free(q);
    })
    .join()
    .unwrap();
}

/// calloc of a cached large class: an object from the cache is cleared by the caller, one the
/// cache lacks comes from the arena asking for zeroed pages (which clears the dirty ones):
/// both read as zero, whatever the pages held before.
#[test]
fn calloc_of_large_classes_reads_zero_from_the_cache_and_from_the_arena() {
    let _serial = SERIAL.lock().unwrap();
    std::thread::spawn(|| {
        start();
        for size in [4096usize, 12 << 10, 32 << 10] {
            // Dirty runs of this class, some back in the cache and some in the arena.
            let ps: Vec<*mut u8> = (0..64).map(|_| malloc(size)).collect();
            for &p in &ps {
                // SAFETY: p has `size` bytes.
                unsafe { std::ptr::write_bytes(p, 0xa5, size) };
            }
            for p in ps {
                free(p);
            }
            let mut held = Vec::new();
            for round in 0..96 {
                if round == 48 {
                    tcache::flush_current_thread();
                }
                // SAFETY: plain calloc.
                let p = unsafe { api::calloc(1, size) } as *mut u8;
                assert!(!p.is_null());
                // SAFETY: p has `size` bytes.
                let bytes = unsafe { std::slice::from_raw_parts(p, size) };
                assert!(bytes.iter().all(|&b| b == 0), "calloc({size}) round {round} holds old data");
                held.push(p);
            }
            for p in held {
                free(p);
            }
        }
    })
    .join()
    .unwrap();
}

/// A thread's first call may be a free, before it has a cache: the fast path then sees the
/// empty cache (`Fast::NONE`, every bin empty and full at once), misses, and the slow path
/// makes the thread's cache, into which the object goes. A malloc as the first call misses the
/// same way.
#[test]
fn a_threads_first_call_may_be_a_free_or_a_malloc() {
    let _serial = SERIAL.lock().unwrap();
    start();
    let p = malloc(48) as usize;
    std::thread::spawn(move || {
        assert!(thread::tcache().is_null(), "a new thread has no cache yet");
        free(p as *mut u8);
        if g().opts.tcache {
            assert_eq!(cached(g().sc.small_bin(48)), 1, "the slow path cached the object");
        }
    })
    .join()
    .unwrap();
    std::thread::spawn(|| {
        assert!(thread::tcache().is_null(), "a new thread has no cache yet");
        let q = malloc(48);
        // SAFETY: q has 48 bytes.
        unsafe { std::ptr::write_bytes(q, 0x5a, 48) };
        free(q);
    })
    .join()
    .unwrap();
}

/// Set in the child process of `gc_off_keeps_an_idle_cache`.
const GC_OFF_CHILD: &str = "JEMALLOC_RS_TCACHE_GC_OFF_CHILD";

/// `lg_tcache_gc_sweep:-1` disables the cache's garbage collection (the manual): an idle
/// class keeps what it holds through many sweeps' worth of events on another class. Options
/// are read once per process, so the test runs itself again under that `MALLOC_CONF`.
#[test]
fn gc_off_keeps_an_idle_cache() {
    if std::env::var_os(GC_OFF_CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "gc_off_keeps_an_idle_cache", "--nocapture", "--test-threads", "1"])
            .env(GC_OFF_CHILD, "1")
            .env("MALLOC_CONF", "lg_tcache_gc_sweep:-1")
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "child: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    start();
    assert_eq!(g().opts.lg_tcache_gc_sweep, -1, "the child runs under MALLOC_CONF");
    let (idle, full) = cache_an_idle_class();
    // Four sweeps' worth at the default interval of 2^13 events.
    events_on_another_class(4usize << 13);
    assert_eq!(cached(idle), full, "with the GC off the idle class keeps its objects");
}
