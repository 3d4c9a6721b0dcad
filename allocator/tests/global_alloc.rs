//! The allocator as this program's `#[global_allocator]`: the test harness, the collections,
//! the threads and a forked child all allocate through `jemalloc_rs::Jemalloc`.
//!
//! Checks collections growing and shrinking, over-aligned layouts (`alloc`, `alloc_zeroed`
//! over reused dirty memory, `realloc`), sixteen threads passing boxes around on two cores,
//! thousands of short-lived threads (nothing leaks when they exit), `fork` while other threads
//! allocate, and the thread counters against `malloc_usable_size`. Every test holds `SERIAL`:
//! some read process-wide figures, one forks, and together they would need more memory than
//! one at a time.

use jemalloc_rs::api;
use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static A: jemalloc_rs::Jemalloc = jemalloc_rs::Jemalloc;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

fn usable_size<T: ?Sized>(p: *const T) -> usize {
    // SAFETY: callers pass live blocks of this allocator.
    unsafe { api::malloc_usable_size(p.cast()) }
}

/// Byte `i` of the contents of object `seed`.
fn pattern(seed: u64, i: usize) -> u8 {
    let x = (seed ^ (i as u64 >> 3)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> (8 * (i & 7))) as u8
}

fn fill(p: *mut u8, len: usize, seed: u64) {
    for i in 0..len {
        // SAFETY: callers pass blocks of at least `len` bytes.
        unsafe { *p.add(i) = pattern(seed, i) };
    }
}

fn first_difference(p: *const u8, len: usize, seed: u64) -> Option<usize> {
    // SAFETY: callers pass blocks of at least `len` bytes.
    (0..len).find(|&i| unsafe { *p.add(i) } != pattern(seed, i))
}

/// A small xorshift generator, so that every run does the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Mapped chunks, arena and huge, in the whole process.
fn chunks_mapped() -> usize {
    jemalloc_rs::chunk::CURRENT.load(Ordering::Relaxed)
}

/// Threads bound to an arena, over all arenas.
fn bound_threads() -> usize {
    (0..jemalloc_rs::arena::MAX_ARENAS)
        .filter_map(jemalloc_rs::arena::get)
        .map(|a| a.nthreads.load(Ordering::Relaxed))
        .sum()
}

#[test]
fn collections_grow_and_keep_their_contents() {
    let _serial = serial();
    // A vector through every class: small, large, huge, and back by shrinking.
    let mut v: Vec<u64> = Vec::new();
    for i in 0..1_500_000u64 {
        v.push(i * 3);
        if v.len().is_power_of_two() {
            assert!(usable_size(v.as_ptr()) >= v.capacity() * 8, "capacity {}", v.capacity());
        }
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
    v.truncate(100_000);
    v.shrink_to_fit();
    assert!(usable_size(v.as_ptr()) >= 800_000);
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(usable_size(v.as_ptr()), 80, "10 u64s take the 80-byte class");
    assert_eq!(v, (0..10).map(|i| i * 3).collect::<Vec<u64>>());

    let mut s = String::new();
    for i in 0..200_000 {
        s.push_str(&i.to_string());
        s.push(',');
    }
    assert!(s.split(',').filter(|x| !x.is_empty()).enumerate().all(|(i, x)| x == i.to_string()));

    let mut m: HashMap<u64, Vec<u8>> = HashMap::new();
    for k in 0..60_000u64 {
        let len = (k % 700) as usize;
        m.insert(k, (0..len).map(|i| pattern(k, i)).collect());
    }
    m.retain(|k, _| k % 3 != 0);
    for k in 0..60_000u64 {
        match m.get(&k) {
            Some(v) => {
                assert!(k % 3 != 0);
                assert_eq!(v.len(), (k % 700) as usize);
                assert!(v.iter().enumerate().all(|(i, &b)| b == pattern(k, i)), "value of key {k}");
            }
            None => assert_eq!(k % 3, 0, "key {k} lost"),
        }
    }

    let mut t: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..50_000usize {
        t.insert(format!("key-{:08}", (i * 7919) % 50_000), i);
    }
    assert_eq!(t.len(), 50_000);
    for (n, (k, &i)) in t.iter().enumerate() {
        assert_eq!(k, &format!("key-{n:08}"));
        assert_eq!((i * 7919) % 50_000, n);
    }

    // Boxes of every kind of size alive at once.
    let mut rng = Rng(7);
    let boxes: Vec<(u64, Box<[u8]>)> = (0..3_000u64)
        .map(|seed| {
            let len = match rng.below(1000) {
                0..=2 => 4 * MIB + rng.below(4 * MIB),
                3..=150 => 4 * KIB + rng.below(200 * KIB),
                _ => 1 + rng.below(3840),
            };
            let b: Box<[u8]> = (0..len).map(|i| pattern(seed, i)).collect();
            (seed, b)
        })
        .collect();
    for (seed, b) in &boxes {
        assert_eq!(first_difference(b.as_ptr(), b.len(), *seed), None, "box {seed} of {} bytes", b.len());
    }
}

const BIG_ALIGNMENTS: [usize; 6] = [32, 64, 4096, 8192, 1 << 16, 1 << 21];
const SIZES: [usize; 9] = [1, 8, 24, 100, 3000, 4096, 5000, 300 * KIB, 5 * MIB];

#[test]
fn over_aligned_layouts_are_aligned_and_disjoint() {
    let _serial = serial();
    let mut live: BTreeMap<usize, (usize, u64, Layout)> = BTreeMap::new();
    let mut seed = 0;
    for _round in 0..3 {
        for &align in &BIG_ALIGNMENTS {
            for &size in &SIZES {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: the layout has a non-zero size.
                let p = unsafe { alloc(layout) };
                assert!(!p.is_null(), "{layout:?}");
                assert_eq!(p as usize % align, 0, "{layout:?} gave {p:p}");
                let usable = usable_size(p);
                assert!(usable >= size, "{layout:?}: usable {usable}");
                let (start, end) = (p as usize, p as usize + usable);
                if let Some((&s, &(e, _, _))) = live.range(..end).next_back() {
                    assert!(e <= start, "{layout:?} at [{start:#x}, {end:#x}) overlaps [{s:#x}, {e:#x})");
                }
                fill(p, size, seed);
                live.insert(start, (end, seed, layout));
                seed += 1;
            }
        }
    }
    for (&p, &(_, seed, layout)) in &live {
        assert_eq!(first_difference(p as *const u8, layout.size(), seed), None, "{layout:?}");
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(p as *mut u8, layout) };
    }
}

#[test]
fn alloc_zeroed_is_zero_even_over_reused_dirty_memory() {
    let _serial = serial();
    let aligns = [8, 16, 64, 4096, 1 << 21];
    let sizes = [8, 16, 48, 1000, 3840, 4096, 20 * KIB, 100 * KIB, 5 * MIB];
    let mut reused = 0;
    for &align in &aligns {
        for &size in &sizes {
            let layout = Layout::from_size_align(size, align).unwrap();
            let n = if size > MIB { 3 } else { 40 };
            // Dirty some blocks of this layout and give them back ...
            let dirty: Vec<*mut u8> = (0..n)
                .map(|_| {
                    // SAFETY: non-zero size.
                    let p = unsafe { alloc(layout) };
                    assert!(!p.is_null());
                    // SAFETY: p has layout.size() bytes.
                    unsafe { std::ptr::write_bytes(p, 0xff, size) };
                    p
                })
                .collect();
            for &p in &dirty {
                // SAFETY: allocated above with this layout.
                unsafe { dealloc(p, layout) };
            }
            // ... then ask for zeroed ones, which are mostly the same blocks.
            let zeroed: Vec<*mut u8> = (0..n)
                .map(|_| {
                    // SAFETY: non-zero size.
                    let p = unsafe { alloc_zeroed(layout) };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0);
                    // SAFETY: p has layout.size() bytes.
                    let s = unsafe { std::slice::from_raw_parts(p, size) };
                    if let Some(i) = s.iter().position(|&b| b != 0) {
                        panic!("alloc_zeroed({layout:?}) = {p:p}: byte {i} is {:#04x}", s[i]);
                    }
                    p
                })
                .collect();
            reused += zeroed.iter().filter(|p| dirty.contains(p)).count();
            for &p in &zeroed {
                // SAFETY: allocated above with this layout.
                unsafe { dealloc(p, layout) };
            }
        }
    }
    assert!(reused > 0, "no zeroed block reused a dirty one, so this test checked nothing");
}

/// Freed objects give their chunks back, up to what an arena may keep cached. An object
/// aligned to 2 MiB needs a free run of 512 pages, so each takes a chunk of its own, and when
/// it is freed its chunk's free pages are split into dirty and clean runs.
#[test]
fn chunks_of_freed_aligned_objects_are_given_back() {
    let _serial = serial();
    let layout = Layout::from_size_align(8, 1 << 21).unwrap();
    let start = chunks_mapped();
    for _round in 0..50 {
        // SAFETY: non-zero size.
        let ps: Vec<*mut u8> = (0..20).map(|_| unsafe { alloc(layout) }).collect();
        for p in ps {
            assert!(!p.is_null());
            // SAFETY: allocated above with this layout.
            unsafe { dealloc(p, layout) };
        }
    }
    let grown = chunks_mapped().saturating_sub(start);
    // 20 live objects take 20 chunks; the dirty allowance lets an arena keep some dozens of
    // empty ones. A thousand allocations must not keep a chunk each.
    assert!(grown <= 128, "{grown} more chunks mapped with nothing live");
}

#[test]
fn realloc_keeps_contents_and_alignment() {
    let _serial = serial();
    let steps = [1, 40, 3000, 5000, 70 * KIB, 2 * MIB, 6 * MIB, 9 * MIB, 5 * MIB, 500 * KIB, 4096, 100, 3];
    for &align in &[8, 16, 32, 64, 4096, 1 << 16, 1 << 21] {
        let mut layout = Layout::from_size_align(steps[0], align).unwrap();
        // SAFETY: non-zero size.
        let mut p = unsafe { alloc(layout) };
        fill(p, layout.size(), align as u64);
        for &size in &steps[1..] {
            // SAFETY: p is live with `layout`; the new size is non-zero.
            let q = unsafe { realloc(p, layout, size) };
            assert!(!q.is_null(), "realloc to {size} with alignment {align}");
            assert_eq!(q as usize % align, 0, "realloc({} -> {size}) lost alignment {align}: {q:p}", layout.size());
            let kept = layout.size().min(size);
            assert_eq!(
                first_difference(q, kept, align as u64),
                None,
                "realloc({} -> {size}), alignment {align}",
                layout.size()
            );
            assert!(usable_size(q) >= size);
            layout = Layout::from_size_align(size, align).unwrap();
            fill(q, size, align as u64);
            p = q;
        }
        // SAFETY: live with `layout`.
        unsafe { dealloc(p, layout) };
    }
}

#[test]
fn sixteen_threads_pass_boxes_around() {
    let _serial = serial();
    const THREADS: usize = 16;
    const PER_THREAD: u64 = 3_000;
    /// An object's seed, whether it was forwarded already, and its boxes.
    type Parcel = (u64, bool, Box<[u8]>, Box<String>);
    let (txs, rxs): (Vec<mpsc::Sender<Parcel>>, Vec<mpsc::Receiver<Parcel>>) =
        (0..THREADS).map(|_| mpsc::channel()).unzip();
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let txs = txs.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234_5678 + t as u64);
                let mut kept: Vec<Parcel> = Vec::new();
                let (mut received, mut forwarded) = (0u64, 0u64);
                let check = |(seed, _, bytes, text): &Parcel| {
                    assert_eq!(first_difference(bytes.as_ptr(), bytes.len(), *seed), None, "parcel {seed}");
                    assert_eq!(**text, format!("parcel {seed} of {} bytes", bytes.len()));
                };
                for i in 0..PER_THREAD {
                    let seed = (t as u64) << 32 | i;
                    let len = match rng.below(100) {
                        0..=4 => 4 * KIB + rng.below(64 * KIB),
                        _ => 1 + rng.below(2000),
                    };
                    let bytes: Box<[u8]> = (0..len).map(|j| pattern(seed, j)).collect();
                    let text = Box::new(format!("parcel {seed} of {len} bytes"));
                    txs[(t + 1 + rng.below(THREADS - 1)) % THREADS].send((seed, false, bytes, text)).unwrap();
                    while let Ok(parcel) = rx.try_recv() {
                        check(&parcel);
                        received += 1;
                        // Keep some for a while, forward some once more, free the rest here.
                        match rng.below(4) {
                            0 => kept.push(parcel),
                            1 if !parcel.1 => {
                                let (seed, _, bytes, text) = parcel;
                                txs[rng.below(THREADS)].send((seed, true, bytes, text)).unwrap();
                                forwarded += 1;
                            }
                            _ => drop(parcel),
                        }
                    }
                    if kept.len() > 100 {
                        let parcel = kept.swap_remove(rng.below(kept.len()));
                        check(&parcel);
                    }
                }
                drop(txs);
                // Drain until every sender is gone.
                for parcel in rx {
                    check(&parcel);
                    received += 1;
                }
                for parcel in &kept {
                    check(parcel);
                }
                (received, forwarded)
            })
        })
        .collect();
    drop(txs);
    let (mut received, mut forwarded) = (0, 0);
    for h in handles {
        let (r, f) = h.join().unwrap();
        received += r;
        forwarded += f;
    }
    assert_eq!(received, THREADS as u64 * PER_THREAD + forwarded, "every parcel arrived once per send");
}

#[test]
fn thousands_of_short_lived_threads_leak_nothing() {
    let _serial = serial();
    fn churn(threads: usize) {
        for wave in 0..threads / 16 {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..16)
                    .map(|i| {
                        s.spawn(move || {
                            let seed = (wave * 16 + i) as u64;
                            // Fill the thread's cache with small and large objects ...
                            let mut objs: Vec<Vec<u8>> =
                                (0..120).map(|k| vec![k as u8; [24, 100, 500, 2000, 9000, 30_000][k % 6]]).collect();
                            for (k, o) in objs.iter().enumerate() {
                                assert!(o.iter().all(|&b| b == k as u8));
                            }
                            objs.truncate(1);
                            // ... and hand one object to the parent.
                            let out: Box<[u8]> = (0..777).map(|j| pattern(seed, j)).collect();
                            (seed, out, objs)
                        })
                    })
                    .collect();
                for h in handles {
                    let (seed, out, objs) = h.join().unwrap();
                    assert_eq!(first_difference(out.as_ptr(), out.len(), seed), None);
                    assert!(objs[0].iter().all(|&b| b == 0));
                }
            });
        }
    }
    churn(400);
    let chunks_before = chunks_mapped();
    churn(2_000);
    let chunks_after = chunks_mapped();
    // Each thread freed ~800 KiB, much of it into its cache, just before it exited; 2,000
    // threads keeping that would map hundreds of chunks.
    assert!(
        chunks_after <= chunks_before + 16,
        "2,000 threads that exited left {} more chunks mapped ({chunks_before} -> {chunks_after})",
        chunks_after.saturating_sub(chunks_before)
    );
    let bound = bound_threads();
    assert!(bound <= 32, "{bound} threads still count as bound to arenas after 2,400 exited");
}

#[test]
fn thread_counters_add_up_to_usable_sizes() {
    let _serial = serial();
    // A fresh thread, so that nothing else allocates on it between the readings.
    std::thread::spawn(|| {
        let layouts: Vec<Layout> =
            [(1, 1), (24, 8), (100, 16), (3000, 8), (5000, 64), (40 * KIB, 4096), (6 * MIB, 8), (200, 1 << 21)]
                .iter()
                .map(|&(s, a)| Layout::from_size_align(s, a).unwrap())
                .collect();
        let mut live: Vec<(*mut u8, Layout)> = Vec::with_capacity(1_000);
        let state = jemalloc_rs::thread::state();
        // SAFETY: this thread's own counters. The thread may have freed its start-up closure,
        // allocated by its parent, so deallocated may exceed allocated: compare differences.
        let read = || unsafe { ((*state).allocated as i128, (*state).deallocated as i128) };
        let (a0, d0) = read();
        let mut expected = 0;
        for i in 0..800 {
            let layout = layouts[i % layouts.len()];
            // SAFETY: non-zero sizes.
            let p = unsafe {
                if i % 3 == 0 {
                    alloc_zeroed(layout)
                } else {
                    alloc(layout)
                }
            };
            assert!(!p.is_null());
            expected += usable_size(p) as i128;
            live.push((p, layout));
        }
        let (a1, d1) = read();
        assert_eq!(a1 - a0, expected, "thread.allocated counts usable sizes");
        assert_eq!(d1, d0);
        // A resize counts the new usable size in and the old one out.
        let mut balance = expected;
        for (p, layout) in live.iter_mut().step_by(7) {
            let before = usable_size(*p) as i128;
            let new_size = layout.size() * 3 + 1;
            // SAFETY: live with `layout`; non-zero size.
            let q = unsafe { realloc(*p, *layout, new_size) };
            assert!(!q.is_null());
            balance = balance - before + usable_size(q) as i128;
            *p = q;
            *layout = Layout::from_size_align(new_size, layout.align()).unwrap();
        }
        let (a2, d2) = read();
        assert_eq!((a2 - d2) - (a0 - d0), balance, "allocated - deallocated equals what is live");
        let mut freed = 0;
        for &(p, layout) in &live {
            freed += usable_size(p) as i128;
            // SAFETY: live with `layout`.
            unsafe { dealloc(p, layout) };
        }
        let (a3, d3) = read();
        assert_eq!(a3, a2);
        assert_eq!(d3 - d2, freed, "thread.deallocated counts usable sizes");
    })
    .join()
    .unwrap();
}

/// What a forked child checks; no panics there (the parent's other threads may hold the
/// locks panicking needs): a failure is an exit code.
fn child_work() -> i32 {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..200_000 {
        v.push(i);
    }
    if !v.iter().enumerate().all(|(i, &x)| x == i as u64) {
        return 2;
    }
    let boxes: Vec<Box<[u8]>> = [1, 100, 3000, 20 * KIB, 500 * KIB, 5 * MIB]
        .iter()
        .enumerate()
        .map(|(k, &len)| (0..len).map(|j| pattern(k as u64, j)).collect())
        .collect();
    for (k, b) in boxes.iter().enumerate() {
        if first_difference(b.as_ptr(), b.len(), k as u64).is_some() {
            return 3;
        }
    }
    let mut m = HashMap::new();
    for i in 0..10_000u32 {
        m.insert(i, i.to_string());
    }
    if m.len() != 10_000 || m[&1234] != "1234" {
        return 4;
    }
    let layout = Layout::from_size_align(100, 1 << 21).unwrap();
    // SAFETY: non-zero size; freed below.
    let p = unsafe { alloc_zeroed(layout) };
    if p.is_null() || !(p as usize).is_multiple_of(1 << 21) {
        return 5;
    }
    // SAFETY: allocated above with this layout.
    unsafe { dealloc(p, layout) };
    0
}

/// Waits for `pid` for at most `limit`; kills it if it is still running then.
fn wait_for(pid: libc::pid_t, limit: Duration) -> Result<libc::c_int, String> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waiting on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Ok(status);
        }
        if r < 0 {
            return Err(format!("waitpid failed: {}", std::io::Error::last_os_error()));
        }
        if start.elapsed() > limit {
            // SAFETY: our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(format!("the child hung for {limit:?} (a lock held across fork?)"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn fork_while_other_threads_allocate() {
    let _serial = serial();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(99 + t);
                let mut live: Vec<Box<[u8]>> = Vec::new();
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let len = match rng.below(200) {
                        0 => 4 * MIB + rng.below(MIB),
                        1..=20 => 4 * KIB + rng.below(100 * KIB),
                        _ => 1 + rng.below(3000),
                    };
                    live.push(vec![t as u8; len].into_boxed_slice());
                    if live.len() > 64 {
                        let b = live.swap_remove(rng.below(live.len()));
                        assert!(b.iter().all(|&x| x == t as u8));
                    }
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    for i in 0..30 {
        std::thread::sleep(Duration::from_millis(3));
        // SAFETY: the child only allocates, checks and leaves through _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = child_work();
            // SAFETY: leaves the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let status = wait_for(pid, Duration::from_secs(20)).unwrap_or_else(|e| panic!("fork {i}: {e}"));
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "fork {i}: the child ended with status {status:#x} (exit code {} means a failed check)",
            libc::WEXITSTATUS(status)
        );
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        assert!(w.join().unwrap() > 0, "the worker allocated while the parent forked");
    }
}
