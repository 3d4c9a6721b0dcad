//! The allocator's building blocks, tested through the crate's public items without starting
//! the allocator: size classes for every option combination, the options parser, the message
//! buffer, the futex mutex, the chunk registry and the base allocator.
//!
//! This binary runs on the system allocator; nothing here calls `jemalloc_rs::api`.

use jemalloc_rs::base::{self, NodePool};
use jemalloc_rs::chunk_map;
use jemalloc_rs::conf::{self, Opts};
use jemalloc_rs::message::{self, MessageBuf};
use jemalloc_rs::mutex::{Mutex, RawMutex};
use jemalloc_rs::rtree::ChunkTree;
use jemalloc_rs::size_classes::{self as sc, SizeClassError, SizeClasses, SmallKind};
use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CStr};
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

// --- size classes -----------------------------------------------------------------------

/// Every `(lg_chunk, lg_qspace_max, lg_cspace_max)` the options accept.
fn every_option_combination() -> Vec<(u32, u32, u32)> {
    let mut all = Vec::new();
    for lg_chunk in sc::MIN_LG_CHUNK..=sc::MAX_LG_CHUNK {
        for q in sc::LG_QUANTUM..=sc::LG_PAGE - 2 {
            for c in (q + 1).max(sc::LG_CACHELINE)..=sc::LG_PAGE - 1 {
                all.push((lg_chunk, q, c));
            }
        }
    }
    all
}

#[test]
fn option_ranges_match_the_size_class_constructor() {
    let combos = every_option_combination();
    assert_eq!(combos.len(), 17 * 27, "17 chunk sizes times 27 (quantum, cacheline) pairs");
    for &(lg_chunk, q, c) in &combos {
        assert!(SizeClasses::new(lg_chunk, q, c).is_ok(), "({lg_chunk}, {q}, {c})");
        // The same values through the options parser are accepted too.
        let mut o = Opts::DEFAULT;
        let s = format!("lg_chunk:{lg_chunk},lg_qspace_max:{q},lg_cspace_max:{c}");
        conf::parse(&mut o, s.as_bytes(), "test");
        assert_eq!((o.lg_chunk, o.lg_qspace_max, o.lg_cspace_max), (lg_chunk as usize, q as usize, c as usize));
    }
    assert_eq!(SizeClasses::new(sc::MIN_LG_CHUNK - 1, 7, 9).unwrap_err(), SizeClassError::LgChunk);
    assert_eq!(SizeClasses::new(sc::MAX_LG_CHUNK + 1, 7, 9).unwrap_err(), SizeClassError::LgChunk);
    assert_eq!(SizeClasses::new(22, sc::LG_QUANTUM - 1, 9).unwrap_err(), SizeClassError::LgQspaceMax);
    assert_eq!(SizeClasses::new(22, sc::LG_PAGE - 1, 11).unwrap_err(), SizeClassError::LgQspaceMax);
    assert_eq!(SizeClasses::new(22, 7, 7).unwrap_err(), SizeClassError::LgCspaceMax);
    assert_eq!(SizeClasses::new(22, 4, sc::LG_CACHELINE - 1).unwrap_err(), SizeClassError::LgCspaceMax);
    assert_eq!(SizeClasses::new(22, 7, sc::LG_PAGE).unwrap_err(), SizeClassError::LgCspaceMax);
    for (e, name) in [
        (SizeClassError::LgChunk, "lg_chunk"),
        (SizeClassError::LgQspaceMax, "lg_qspace_max"),
        (SizeClassError::LgCspaceMax, "lg_cspace_max"),
    ] {
        assert!(e.message().contains(name), "{e:?}: {}", e.message());
    }
}

/// Table 1's rows, for any options: each kind's classes are evenly spaced over its range.
fn check_rows(s: &SizeClasses, what: &str) {
    let sizes = |kind| s.bins().iter().filter(|b| b.kind == kind).map(|b| b.reg_size as usize).collect::<Vec<_>>();
    assert_eq!(sizes(SmallKind::Tiny), if s.ntbins > 0 { vec![8] } else { vec![] }, "{what}");
    let q: Vec<usize> = (1..=s.qspace_max / sc::QUANTUM).map(|k| k * sc::QUANTUM).collect();
    assert_eq!(sizes(SmallKind::Quantum), q, "{what}");
    let c: Vec<usize> = (s.cspace_min..=s.cspace_max).step_by(sc::CACHELINE).collect();
    assert_eq!(sizes(SmallKind::Cacheline), c, "{what}");
    assert_eq!(s.cspace_min, (s.qspace_max + sc::CACHELINE) & !(sc::CACHELINE - 1), "{what}");
    let sp: Vec<usize> = (s.sspace_min..=s.sspace_max).step_by(sc::SUBPAGE).collect();
    assert_eq!(sizes(SmallKind::Subpage), sp, "{what}");
    assert_eq!(s.sspace_min, (s.cspace_max + sc::SUBPAGE) & !(sc::SUBPAGE - 1), "{what}");
    assert_eq!(s.sspace_max, sc::PAGE - sc::SUBPAGE, "{what}");
    assert_eq!(s.nbins, s.ntbins + s.nqbins + s.ncbins + s.nsbins, "{what}");
    assert_eq!(s.bins().len(), s.nbins, "{what}");
    assert!(s.nbins <= sc::MAX_BINS, "{what}");
    // Strictly increasing, in row order, ending at the largest small class.
    for w in s.bins().windows(2) {
        assert!(w[0].reg_size < w[1].reg_size, "{what}: {} then {}", w[0].reg_size, w[1].reg_size);
        assert!(w[0].kind as u8 <= w[1].kind as u8, "{what}: rows out of order");
    }
    assert_eq!(s.bins().last().unwrap().reg_size as usize, s.sspace_max, "{what}");
}

/// Run geometry of every bin: the run fits in a chunk, the header and regions fit in the run,
/// regions are aligned, the bitmap covers them, no further region would fit, and offsets map
/// back to regions exactly.
fn check_bins(s: &SizeClasses, what: &str) {
    for b in s.bins() {
        let what = format!("{what}, class {}", b.reg_size);
        let (size, nregs, reg0) = (b.reg_size as usize, b.nregs as usize, b.reg0_offset as usize);
        assert!((1..=sc::RUN_MAX_PAGES as u32).contains(&b.run_pages), "{what}: {} pages", b.run_pages);
        let chunk_room = s.chunk_pages - s.chunk_header_pages;
        assert!(b.run_pages as usize <= chunk_room, "{what}: a run of {} pages, a chunk has {chunk_room}", b.run_pages);
        assert!((1..=sc::RUN_MAX_REGS).contains(&nregs), "{what}: {nregs} regions");
        assert_eq!(b.reg_align as usize, (1 << size.trailing_zeros()).min(sc::PAGE), "{what}");
        assert_eq!(reg0 % b.reg_align as usize, 0, "{what}");
        assert!(reg0 >= sc::run_header_size(nregs), "{what}: header overlaps region 0");
        assert!(reg0 + nregs * size <= b.run_size(), "{what}: regions overrun the run");
        assert_eq!(b.bitmap_words as usize, nregs.div_ceil(64), "{what}");
        if nregs < sc::RUN_MAX_REGS {
            let reg0_more = sc::run_header_size(nregs + 1).next_multiple_of(b.reg_align as usize);
            assert!(reg0_more + (nregs + 1) * size > b.run_size(), "{what}: one more region fits");
        }
        assert_eq!(b.reg_size_inv as u64, (1u64 << 32).div_ceil(size as u64), "{what}");
        for i in 0..nregs {
            for off in [0, size / 2, size - 1] {
                assert_eq!(b.region_index(i * size + off), i, "{what}: byte {off} of region {i}");
            }
        }
    }
}

/// `small_bin`, `usable_size` and `aligned_usable_size` agree with the table and each other.
fn check_lookups(s: &SizeClasses, what: &str) {
    let mut bin = 0;
    for size in 1..=s.sspace_max {
        while (s.bins[bin].reg_size as usize) < size {
            bin += 1;
        }
        assert_eq!(s.small_bin(size), bin, "{what}: small_bin({size})");
        assert_eq!(s.usable_size(size), Some(s.bins[bin].reg_size as usize), "{what}: usable_size({size})");
    }
    assert_eq!(s.usable_size(0), s.usable_size(1), "{what}");
    let page = sc::PAGE;
    assert_eq!(s.chunk_size, 1 << s.lg_chunk, "{what}");
    assert_eq!(s.chunk_pages, s.chunk_size / page, "{what}");
    assert_eq!(s.chunk_header_pages, chunk_map::header_pages(s.chunk_pages), "{what}");
    assert_eq!(s.arena_maxclass, s.chunk_size - s.chunk_header_pages * page, "{what}");
    assert_eq!(s.nlclasses, s.arena_maxclass / page, "{what}");
    let boundaries = [
        s.sspace_max + 1,
        page,
        page + 1,
        3 * page - 1,
        s.arena_maxclass - 1,
        s.arena_maxclass,
        s.arena_maxclass + 1,
        s.chunk_size,
        s.chunk_size + 1,
        5 * s.chunk_size - 3,
    ];
    for &size in &boundaries {
        let u = s.usable_size(size).unwrap();
        let expected =
            if size <= s.arena_maxclass { size.next_multiple_of(page) } else { size.next_multiple_of(s.chunk_size) };
        assert_eq!(u, expected, "{what}: usable_size({size})");
        assert_eq!(s.usable_size(u), Some(u), "{what}: a class is its own usable size");
    }
    for size in [usize::MAX, isize::MAX as usize + 1, usize::MAX - s.chunk_size + 2] {
        assert_eq!(s.usable_size(size), None, "{what}: usable_size({size})");
    }
    for lg_align in 3..=s.lg_chunk + 2 {
        let align = 1usize << lg_align;
        for &size in [1, 7, 8, 9, 17, 100, 129, 1000, 3000, 3840, 3841, 4096, 12_345, s.arena_maxclass / 3]
            .iter()
            .chain(&boundaries)
        {
            let u = s.aligned_usable_size(size, align).unwrap();
            let what = format!("{what}: aligned_usable_size({size}, {align}) = {u}");
            assert!(u >= size, "{what}");
            assert_eq!(s.usable_size(u), Some(u), "{what} is not a class");
            if u <= s.sspace_max {
                assert!(s.bins[s.small_bin(u)].reg_align as usize >= align, "{what}: regions less aligned");
            } else if align <= page {
                assert_eq!(u % align, 0, "{what}");
            } else if u <= s.arena_maxclass {
                assert!(u + align - page <= s.arena_maxclass, "{what}: the trimmed run does not fit a chunk");
            }
            if align <= sc::QUANTUM && size > 8 {
                assert_eq!(Some(u), s.usable_size(size), "{what}: quantum alignment costs nothing");
            }
        }
    }
    assert_eq!(s.aligned_usable_size(usize::MAX - 10, 64), None, "{what}");
}

#[test]
fn size_classes_for_every_option_combination() {
    for (lg_chunk, q, c) in every_option_combination() {
        let s = SizeClasses::new(lg_chunk, q, c).unwrap();
        let what = format!("lg_chunk {lg_chunk}, lg_qspace_max {q}, lg_cspace_max {c}");
        assert_eq!((s.lg_chunk, s.lg_qspace_max, s.lg_cspace_max), (lg_chunk, q, c));
        check_rows(&s, &what);
        check_lookups(&s, &what);
        check_bins(&s, &what);
    }
}

#[test]
fn chunk_ceiling_rejects_what_no_object_may_be() {
    let chunk = 1 << 22;
    assert_eq!(sc::chunk_ceiling(1, chunk), Some(chunk));
    assert_eq!(sc::chunk_ceiling(chunk, chunk), Some(chunk));
    assert_eq!(sc::chunk_ceiling(chunk + 1, chunk), Some(2 * chunk));
    assert_eq!(sc::chunk_ceiling(0, chunk), None);
    assert_eq!(sc::chunk_ceiling(usize::MAX, chunk), None);
    assert_eq!(sc::chunk_ceiling(isize::MAX as usize, chunk), None, "past isize::MAX once rounded");
    assert_eq!(sc::chunk_ceiling(isize::MAX as usize - chunk, chunk), Some((isize::MAX as usize + 1) - chunk));
}

// --- options --------------------------------------------------------------------------

/// Messages the allocator said while a [`Captured`] was alive.
static MESSAGES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
/// One capture at a time: the message hook is process-wide.
static CAPTURE: std::sync::Mutex<()> = std::sync::Mutex::new(());

unsafe extern "C" fn capture(_cbopaque: *mut c_void, s: *const c_char) {
    // SAFETY: the allocator passes NUL-terminated text.
    let text = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    MESSAGES.lock().unwrap().push(text);
}

/// Routes the allocator's messages into [`MESSAGES`] until dropped.
struct Captured(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Captured {
    fn start() -> Captured {
        let guard = CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
        MESSAGES.lock().unwrap().clear();
        message::set_hook(Some(capture));
        Captured(guard)
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *MESSAGES.lock().unwrap())
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        message::set_hook(None);
    }
}

/// Parses `s` over the defaults; returns the options and what was said.
fn parse(s: &[u8]) -> (Opts, Vec<String>) {
    let cap = Captured::start();
    let mut o = Opts::DEFAULT;
    conf::parse(&mut o, s, "MALLOC_CONF");
    (o, cap.take())
}

#[test]
fn integers_in_every_base() {
    for (text, value) in [("20", 20), ("0x14", 20), ("0X14", 20), ("024", 20), ("0x0000000000000016", 22), ("030", 24)]
    {
        let (o, said) = parse(format!("lg_chunk:{text}").as_bytes());
        assert_eq!(o.lg_chunk, value, "lg_chunk:{text}");
        assert!(said.is_empty(), "lg_chunk:{text}: {said:?}");
    }
    let (o, said) = parse(b"narenas:010,lg_dirty_mult:-0x1,lg_tcache_gc_sweep:0x3f,lg_tcache_max:0");
    assert_eq!((o.narenas, o.lg_dirty_mult, o.lg_tcache_gc_sweep, o.lg_tcache_max), (8, -1, 63, 0));
    assert!(said.is_empty(), "{said:?}");
}

#[test]
fn malformed_pairs_are_skipped_with_a_warning_each() {
    let cases: &[(&[u8], &str)] = &[
        (b"lg_chunk", "Malformed conf string"),
        (b"nocolon", "Malformed conf string"),
        (b"lg_chunk:", "Invalid conf value"),
        (b"lg_chunk:0x", "Invalid conf value"),
        (b"lg_chunk:08", "Invalid conf value"),
        (b"lg_chunk:1e3", "Invalid conf value"),
        (b"lg_chunk:2:0", "Invalid conf value"),
        (b"lg_chunk:99999999999999999999999", "Invalid conf value"),
        (b"junk:TRUE", "Invalid conf value"),
        (b"junk:1", "Invalid conf value"),
        (b"junk:true ", "Invalid conf value"),
        (b"zero:", "Invalid conf value"),
        (b":20", "Invalid conf pair"),
        (b"LG_CHUNK:20", "Invalid conf pair"),
        (b"lg_chunks:20", "Invalid conf pair"),
        (b"\xff\xfe:1", "Invalid conf pair"),
    ];
    for &(pair, kind) in cases {
        let text = String::from_utf8_lossy(pair);
        let (o, said) = parse(pair);
        assert_eq!(o, Opts::DEFAULT, "{text:?} changed an option");
        assert_eq!(said.len(), 1, "{text:?}: {said:?}");
        let m = &said[0];
        assert!(m.starts_with("<jemalloc>: ") && m.ends_with('\n'), "{m:?}");
        assert!(m.contains(kind), "{text:?}: {m:?} does not say {kind:?}");
        assert!(m.contains("MALLOC_CONF"), "{m:?} does not name the source");
    }
    // Good pairs around bad ones still apply, and empty pairs are not errors.
    let (o, said) = parse(b",,narenas:3,,bogus,zero:true,lg_chunk:99,lg_chunk:20,");
    assert_eq!((o.narenas, o.zero, o.lg_chunk), (3, true, 20));
    assert_eq!(said.len(), 2, "{said:?}");
    let (o, said) = parse(b"");
    assert_eq!(o, Opts::DEFAULT);
    assert!(said.is_empty());
}

#[test]
fn every_option_is_range_checked() {
    let max_arenas = jemalloc_rs::arena::MAX_ARENAS as i64;
    let ranges: &[(&str, i64, i64)] = &[
        ("lg_chunk", sc::MIN_LG_CHUNK as i64, sc::MAX_LG_CHUNK as i64),
        ("lg_qspace_max", sc::LG_QUANTUM as i64, sc::LG_PAGE as i64 - 2),
        ("lg_cspace_max", sc::LG_CACHELINE as i64, sc::LG_PAGE as i64 - 1),
        ("narenas", 1, max_arenas),
        ("lg_tcache_max", 0, 63),
        ("lg_dirty_mult", -1, 63),
        ("lg_tcache_gc_sweep", -1, 63),
    ];
    let read = |o: &Opts, key: &str| -> i64 {
        match key {
            "lg_chunk" => o.lg_chunk as i64,
            "lg_qspace_max" => o.lg_qspace_max as i64,
            "lg_cspace_max" => o.lg_cspace_max as i64,
            "narenas" => o.narenas as i64,
            "lg_tcache_max" => o.lg_tcache_max as i64,
            "lg_dirty_mult" => o.lg_dirty_mult as i64,
            _ => o.lg_tcache_gc_sweep as i64,
        }
    };
    for &(key, lo, hi) in ranges {
        for v in [lo, hi] {
            let (o, said) = parse(format!("{key}:{v}").as_bytes());
            assert_eq!(read(&o, key), v, "{key}:{v} is in range");
            assert!(said.is_empty(), "{key}:{v}: {said:?}");
        }
        for v in [lo - 1, hi + 1] {
            let (o, said) = parse(format!("{key}:{v}").as_bytes());
            assert_eq!(o, Opts::DEFAULT, "{key}:{v} is out of range");
            assert_eq!(said.len(), 1, "{key}:{v}: {said:?}");
            assert!(said[0].contains("Invalid conf value"), "{said:?}");
        }
    }
    let overcommit = if cfg!(feature = "swap") { &["overcommit"][..] } else { &[] };
    for &key in ["abort", "stats_print", "junk", "zero", "sysv", "xmalloc", "tcache", "thp"].iter().chain(overcommit) {
        let (on, said_on) = parse(format!("{key}:true").as_bytes());
        let (off, said_off) = parse(format!("{key}:false").as_bytes());
        assert!(said_on.is_empty() && said_off.is_empty(), "{key}: {said_on:?} {said_off:?}");
        assert_ne!(on, off, "{key}:true and {key}:false give the same options");
    }
    // Later pairs win.
    let (o, _) = parse(b"narenas:3,junk:true,narenas:5,junk:false");
    assert_eq!((o.narenas, o.junk), (5, false));
}

#[test]
fn finish_settles_dependent_options() {
    let cap = Captured::start();
    let mut o = Opts::DEFAULT;
    conf::parse(&mut o, b"lg_qspace_max:9,lg_cspace_max:8,sysv:true,xmalloc:true", "test");
    assert!(cap.take().is_empty());
    conf::finish(&mut o);
    assert_eq!(o.lg_cspace_max, 10, "lg_cspace_max moves above lg_qspace_max");
    assert!(!o.sysv && o.xmalloc, "xmalloc wins over sysv");
    assert!(o.narenas >= 1 && o.narenas <= jemalloc_rs::arena::MAX_ARENAS, "narenas {}", o.narenas);
    assert_eq!(cap.take().len(), 2, "each adjustment is reported");
    let mut o = Opts::DEFAULT;
    conf::parse(&mut o, b"narenas:7", "test");
    conf::finish(&mut o);
    assert_eq!(o.narenas, 7, "an explicit narenas stays");
    assert!(cap.take().is_empty());
}

// --- messages -------------------------------------------------------------------------

#[test]
fn message_buffer_cuts_at_its_size_and_stays_nul_terminated() {
    let mut m = MessageBuf::<8>::new();
    let (number, tail) = (12, "ab");
    write!(m, "{number}-{tail}").unwrap();
    assert_eq!(m.as_bytes(), b"12-ab");
    // SAFETY: as_c_str returns a NUL-terminated buffer that lives as long as m.
    assert_eq!(unsafe { CStr::from_ptr(m.as_c_str()) }.to_bytes(), b"12-ab");
    m.write_str("cdefgh").unwrap();
    assert_eq!(m.as_bytes(), b"12-abcd", "seven bytes and the NUL fill eight");
    m.write_str("more").unwrap();
    assert_eq!(m.as_bytes(), b"12-abcd");
    // SAFETY: as above.
    assert_eq!(unsafe { CStr::from_ptr(m.as_c_str()) }.to_bytes(), b"12-abcd");
    m.clear();
    assert_eq!(m.as_bytes(), b"");
    // SAFETY: as above.
    assert_eq!(unsafe { CStr::from_ptr(m.as_c_str()) }.to_bytes(), b"");
    m.write_str("x").unwrap();
    assert_eq!(m.as_bytes(), b"x");

    let mut tiny = MessageBuf::<1>::new();
    tiny.write_str("abc").unwrap();
    assert_eq!(tiny.as_bytes(), b"");
    // SAFETY: as above.
    assert_eq!(unsafe { CStr::from_ptr(tiny.as_c_str()) }.to_bytes(), b"");
}

#[test]
fn say_prefixes_terminates_and_cuts_long_messages() {
    let cap = Captured::start();
    jemalloc_rs::say!("value {} of {}", 5, "x");
    assert_eq!(cap.take(), vec!["<jemalloc>: value 5 of x\n".to_string()]);
    let long = "y".repeat(2000);
    jemalloc_rs::say!("{long}");
    let said = cap.take();
    assert_eq!(said.len(), 1);
    assert!(said[0].starts_with("<jemalloc>: yyy"));
    assert_eq!(said[0].len(), 511, "cut to the 512-byte buffer less its NUL");
    drop(cap);
    let stderr_sink: message::MessageFn = message::write_stderr;
    assert_eq!(message::hook() as usize, stderr_sink as usize, "dropping the capture restored stderr");
}

// --- mutex ----------------------------------------------------------------------------

#[test]
fn mutex_serialises_eight_threads() {
    const THREADS: usize = 8;
    const ROUNDS: u64 = 50_000;
    let counter = Arc::new(Mutex::new(0u64));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (counter, start) = (counter.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..ROUNDS {
                    let mut g = counter.lock();
                    // A read-modify-write split by a pause: without the lock, increments get lost.
                    let v = *g;
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                    *g = v + 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*counter.lock(), THREADS as u64 * ROUNDS);
}

#[test]
fn a_held_mutex_blocks_until_unlocked() {
    let m = Arc::new(RawMutex::new());
    assert!(m.try_lock(), "a new lock is free");
    assert!(!m.try_lock(), "a held lock cannot be taken again");
    let got_it = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (m, got_it) = (m.clone(), got_it.clone());
        std::thread::spawn(move || {
            m.lock();
            got_it.store(true, Ordering::SeqCst);
            m.unlock();
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(!got_it.load(Ordering::SeqCst), "the waiter got a held lock");
    m.unlock();
    waiter.join().unwrap();
    assert!(got_it.load(Ordering::SeqCst));
    assert!(m.try_lock(), "the waiter released it");
    m.reset_after_fork();
    assert!(m.try_lock(), "reset_after_fork frees a held lock");
    m.unlock();

    let data = Mutex::new(41);
    data.raw().lock();
    // SAFETY: the raw lock is held.
    unsafe { *data.data_unchecked() += 1 };
    assert!(!data.raw().try_lock());
    data.raw().unlock();
    assert_eq!(*data.lock(), 42);
}

// --- chunk registry -------------------------------------------------------------------

fn chunk_tree(lg_chunk: u32) -> &'static ChunkTree {
    let mut t = ChunkTree::new();
    assert!(t.init(lg_chunk), "mapping the root for lg_chunk {lg_chunk}");
    Box::leak(Box::new(t))
}

#[test]
fn chunk_tree_maps_registered_chunks_and_nothing_else() {
    for lg_chunk in [14, 20, 22, 30] {
        let t = chunk_tree(lg_chunk);
        let chunk = 1usize << lg_chunk;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Chunk addresses spread over the user address space, a few per leaf region.
        let n = if lg_chunk < 20 { 200 } else { 3_000 };
        let keys: Vec<usize> = (0..n).map(|_| (next() as usize % (1 << 47)) & !(chunk - 1)).collect();
        for &k in &keys {
            assert_eq!(t.get(k), 0, "lg_chunk {lg_chunk}: {k:#x} before any set");
        }
        let value = |k: usize| k | 1;
        for &k in &keys {
            assert!(t.set(k, value(k)));
        }
        for &k in &keys {
            assert_eq!(t.get(k), value(k), "lg_chunk {lg_chunk}: {k:#x}");
            for neighbour in [k.wrapping_sub(chunk), k + chunk] {
                if !keys.contains(&neighbour) {
                    assert_eq!(t.get(neighbour), 0, "lg_chunk {lg_chunk}: {neighbour:#x} next to {k:#x}");
                }
            }
        }
        // Beyond the 48-bit user address space nothing is registered, and asking is safe.
        for k in [1usize << 48, 1 << 63, usize::MAX & !(chunk - 1)] {
            assert_eq!(t.get(k), 0, "lg_chunk {lg_chunk}: {k:#x}");
        }
        for &k in keys.iter().step_by(2) {
            assert!(t.set(k, 0));
        }
        for (i, &k) in keys.iter().enumerate() {
            // A key drawn twice stays unset if either draw was unset.
            let registered = !keys.iter().step_by(2).any(|&o| o == k);
            assert_eq!(t.get(k), if registered { value(k) } else { 0 }, "lg_chunk {lg_chunk}: key {i} after unsetting");
        }
    }
}

#[test]
fn chunk_tree_leaves_are_created_once_under_contention() {
    const THREADS: usize = 8;
    let t = chunk_tree(22);
    // All threads register chunks of one leaf that does not exist yet, at the same moment.
    let base = 0x5555_0000_0000usize;
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                for j in 0..64 {
                    let k = base + ((j * THREADS + i) << 22);
                    assert!(t.set(k, k + 1));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for n in 0..64 * THREADS {
        let k = base + (n << 22);
        assert_eq!(t.get(k), k + 1, "chunk {n} lost: two leaves were made for one slot");
    }
}

// --- base allocation ------------------------------------------------------------------

#[test]
fn base_allocations_are_aligned_zeroed_and_distinct() {
    let sizes = [1, 8, 63, 64, 65, 100, 4096, 100_000, 1 << 20, (1 << 20) + 1, 3 << 20, 24, 7];
    let mut live: BTreeMap<usize, (usize, u8)> = BTreeMap::new();
    let mapped_before = base::mapped();
    for round in 0..4u8 {
        for &size in &sizes {
            let p = base::alloc(size);
            assert!(!p.is_null(), "base::alloc({size})");
            assert_eq!(p as usize % 64, 0, "base::alloc({size}) = {p:p}");
            // SAFETY: base::alloc returned `size` bytes.
            let s = unsafe { std::slice::from_raw_parts_mut(p, size) };
            assert!(s.iter().all(|&b| b == 0), "base::alloc({size}) is not zeroed");
            // Requests are rounded up to 64 bytes; the rounding is the block's too.
            let (start, end) = (p as usize, p as usize + size.next_multiple_of(64));
            if let Some((&o, &(e, _))) = live.range(..end).next_back() {
                assert!(e <= start, "[{start:#x}, {end:#x}) overlaps [{o:#x}, {e:#x})");
            }
            let tag = round.wrapping_mul(31).wrapping_add(size as u8) | 1;
            s.fill(tag);
            live.insert(start, (start + size, tag));
        }
    }
    for (&start, &(end, tag)) in &live {
        // SAFETY: allocated above, never freed.
        let s = unsafe { std::slice::from_raw_parts(start as *const u8, end - start) };
        assert!(s.iter().all(|&b| b == tag), "block at {start:#x} was overwritten");
    }
    // Some requests may fit in the block mapped before the test started.
    let total: usize = live.iter().map(|(s, (e, _))| e - s).sum();
    assert!(base::mapped() + (1 << 20) >= mapped_before + total, "base::mapped() does not cover what was handed out");
}

#[test]
fn node_pool_recycles_zeroed_nodes() {
    let pool: &'static NodePool = Box::leak(Box::new(NodePool::new(48)));
    let a = pool.take();
    assert!(!a.is_null());
    assert_eq!(a as usize % 8, 0);
    // SAFETY: a node of 48 bytes, ours until given back.
    unsafe {
        assert!(std::slice::from_raw_parts(a, 48).iter().all(|&b| b == 0));
        std::ptr::write_bytes(a, 0xee, 48);
        pool.give(a);
    }
    let b = pool.take();
    assert_eq!(b, a, "a given-back node is taken again first");
    // SAFETY: as above.
    assert!(unsafe { std::slice::from_raw_parts(b, 48) }.iter().all(|&x| x == 0), "a recycled node is zeroed");

    // Eight threads taking and giving: no node is ever held by two threads at once.
    const THREADS: usize = 8;
    let clashes = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let clashes = clashes.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for i in 0..20_000usize {
                    let n = pool.take() as *mut usize;
                    let mark = (t << 32 | i) + 1;
                    // SAFETY: a node of 48 bytes, ours until given back.
                    unsafe {
                        if *n != 0 {
                            clashes.fetch_add(1, Ordering::Relaxed);
                        }
                        *n.add(1) = mark;
                    }
                    held.push((n, mark));
                    if held.len() > 8 || i % 3 == 0 {
                        let (n, mark) = held.swap_remove(i % held.len());
                        // SAFETY: still ours.
                        unsafe {
                            if *n.add(1) != mark {
                                clashes.fetch_add(1, Ordering::Relaxed);
                            }
                            pool.give(n.cast());
                        }
                    }
                }
                for (n, _) in held {
                    // SAFETY: still ours.
                    unsafe { pool.give(n.cast()) };
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(clashes.load(Ordering::Relaxed), 0, "a node was shared or not zeroed");
    // SAFETY: b is ours.
    unsafe { pool.give(b) };
}
