use super::*;
use crate::huge;

/// The cache is process-wide: these tests take turns, and start from an empty cache; other
/// tests that empty it (`arenas.purge`) take this lock too.
pub(crate) static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn start() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(crate::global::init());
    flush();
    guard
}

/// A live huge object of `chunks` chunks while it is in scope: chunks in use, for the cache's
/// bound.
struct Ballast(*mut u8);

impl Ballast {
    fn new(chunks: usize) -> Self {
        Ballast(huge_malloc(chunks, false))
    }
}

impl Drop for Ballast {
    fn drop(&mut self) {
        free(self.0);
    }
}

fn huge_malloc(chunks: usize, zero: bool) -> *mut u8 {
    let p = huge::malloc(chunks * g().sc.chunk_size, g().sc.chunk_size, zero);
    assert!(!p.is_null());
    p
}

fn live_size(p: *mut u8) -> usize {
    let n = huge::node(p).expect("a live huge object");
    // SAFETY: a live huge object of this test.
    unsafe { (*n).size }
}

fn free(p: *mut u8) {
    let n = huge::node(p).expect("a live huge object");
    // SAFETY: a live huge object of this test, freed once.
    unsafe { huge::dalloc(n) };
}

/// Fills `[p, p + len)` with a pattern that fresh pages never hold.
fn scribble(p: *mut u8, len: usize) {
    // SAFETY: callers pass live ranges of theirs.
    unsafe { core::ptr::write_bytes(p, 0x3c, len) };
}

fn all(p: *const u8, len: usize, byte: u8) -> bool {
    // SAFETY: callers pass live ranges of theirs.
    unsafe { core::slice::from_raw_parts(p, len) }.iter().all(|&b| b == byte)
}

#[test]
fn a_freed_huge_object_serves_the_next_with_its_pages() {
    let _g = start();
    let _ballast = Ballast::new(2);
    let len = 3 * g().sc.chunk_size;
    let p = huge_malloc(3, false);
    scribble(p, len);
    free(p);
    assert!(cached() >= len, "the freed object is kept");
    assert!(huge::node(p).is_none(), "a cached range is no live object");
    let q = huge_malloc(3, false);
    assert_eq!(q, p, "the cached range is reused");
    assert!(all(q, len, 0x3c), "its pages were kept, not refaulted");
    free(q);
    let z = huge_malloc(3, true);
    assert_eq!(z, p);
    assert!(all(z, len, 0), "a zeroed request reads as zero");
    free(z);
    flush();
    assert_eq!(cached(), 0);
}

#[test]
fn a_bigger_request_takes_the_cached_pages_by_mremap() {
    let _g = start();
    let _ballast = Ballast::new(1);
    let chunk = g().sc.chunk_size;
    let p = huge_malloc(1, false);
    scribble(p, chunk);
    free(p);
    let q = huge_malloc(3, false);
    assert!(all(q, chunk, 0x3c), "the cached chunk's pages head the new object");
    assert!(all(q.wrapping_add(chunk), 2 * chunk, 0), "the rest is fresh");
    assert_eq!(cached(), 0, "the moved range left the cache");
    free(q);
    let p = huge_malloc(1, false);
    scribble(p, chunk);
    free(p);
    let z = huge_malloc(2, true);
    assert!(all(z, 2 * chunk, 0));
    free(z);
    flush();
}

#[test]
fn a_request_bigger_than_every_cached_range_still_takes_their_pages() {
    let _g = start();
    let chunk = g().sc.chunk_size;
    let a = huge_malloc(3, false);
    let between = huge_malloc(3, false);
    let c = huge_malloc(3, false);
    // SAFETY: live objects of this test.
    unsafe {
        core::ptr::write_bytes(a, 0x3c, 3 * chunk);
        core::ptr::write_bytes(c, 0x5a, 3 * chunk);
    }
    free(a);
    free(c);
    assert_eq!(cached(), 6 * chunk, "two ranges of three chunks, kept apart by a live object");
    let q = huge_malloc(4, false);
    // One whole range moves in, then the first chunk of the other.
    // SAFETY: a live object of this test.
    let first = unsafe { *q };
    let other = if first == 0x3c { 0x5a } else { 0x3c };
    assert!(all(q, 3 * chunk, first), "a whole cached range heads the new object");
    assert!(all(q.wrapping_add(3 * chunk), chunk, other), "the rest comes from the other range");
    assert_eq!(cached(), 2 * chunk, "what was not needed stays cached");
    free(q);
    free(between);
    flush();
}

/// A cached range with free address space after it, and a request bigger than it: the range
/// is extended where it lies, its pages kept in place (no mremap), the rest fresh. The free
/// space comes from shrinking a huge object in place, which unmaps its tail; another test's
/// mapping may land in it before the request, so the test allows a few tries.
#[test]
fn a_bigger_request_extends_the_cached_range_where_it_lies() {
    let _g = start();
    if !chunk::mmap_only() {
        eprintln!("skipped: fresh chunks come from sbrk or swap files first, which extensions would bypass");
        return;
    }
    let _ballast = Ballast::new(1);
    let chunk = g().sc.chunk_size;
    let mut in_place = 0;
    for zero in [false, false, false, true, true, true] {
        let p = huge_malloc(3, false);
        scribble(p, chunk);
        // SAFETY: p is a live huge object of this test.
        assert!(unsafe { huge::ralloc_in_place(huge::node(p).unwrap(), chunk) });
        free(p);
        assert_eq!(cached(), chunk, "the shrunk object's one chunk is cached");
        let q = huge_malloc(3, zero);
        assert_eq!(live_size(q), 3 * chunk);
        assert_eq!(cached(), 0, "the cached chunk went into the new object");
        if q == p {
            in_place += 1;
            assert!(all(q, chunk, if zero { 0 } else { 0x3c }), "the cached chunk's pages stayed where they were");
        } else {
            assert!(all(q, chunk, if zero { 0 } else { 0x3c }), "the cached chunk's pages moved in");
        }
        assert!(all(q.wrapping_add(chunk), 2 * chunk, 0), "the rest is fresh");
        free(q);
        flush();
    }
    assert!(in_place >= 2, "extended in place {in_place} times in 6");
}

/// How many of the pages of `[p, p + len)` are resident.
pub(crate) fn resident_pages(p: *mut u8, len: usize) -> usize {
    let pages = len >> crate::size_classes::LG_PAGE;
    let mut v = vec![0u8; pages];
    // SAFETY: a page-aligned range of ours and a vector of one byte per page.
    assert_eq!(unsafe { libc::mincore(p.cast(), len, v.as_mut_ptr()) }, 0);
    v.iter().filter(|&&b| b & 1 != 0).count()
}

#[test]
fn an_arena_keeps_resident_only_what_it_takes_of_a_recycled_chunk() {
    let _g = start();
    let _ballast = Ballast::new(1);
    let chunk = g().sc.chunk_size;
    let h = huge_malloc(1, false);
    scribble(h, chunk);
    free(h);
    let arena = private_arena();
    let page = crate::size_classes::PAGE;
    let run = crate::large::malloc(arena, 2 * page, false);
    assert_eq!(run as usize & !g().chunk_mask, h as usize, "the arena took the cached chunk");
    let rest = run.wrapping_add(2 * page);
    let rest_len = h as usize + chunk - rest as usize;
    assert_eq!(resident_pages(rest, rest_len), 0, "the pages the run does not use were given back");
    assert_eq!(resident_pages(run, 2 * page), 2);
    let z = crate::large::malloc(arena, 4 * page, true);
    assert!(all(z, 4 * page, 0), "purged pages read as zero");
    large_free(arena, z);
    large_free(arena, run);
    arena.purge_all();
    flush();
}

#[test]
fn huge_objects_freed_for_good_leave_the_cache() {
    let _g = start();
    let chunk = g().sc.chunk_size;
    let objects: Vec<*mut u8> = (0..4).map(|_| huge_malloc(2, false)).collect();
    free(objects[0]);
    assert!(cached() >= 2 * chunk, "a churning program's block is kept");
    for &p in &objects[1..] {
        free(p);
    }
    let objects: Vec<*mut u8> = (0..40).map(|_| huge_malloc(2, false)).collect();
    for p in objects {
        free(p);
    }
    assert_eq!(cached(), 0, "after forty frees and no request the churn term has decayed");
}

/// A fresh arena, outside the arena table, so that no other test's objects share it.
pub(crate) fn private_arena() -> &'static crate::arena::Arena {
    let a = crate::arena::Arena::create(crate::arena::MAX_ARENAS - 1);
    assert!(!a.is_null());
    // SAFETY: arenas live in base memory forever.
    unsafe { &*a }
}

pub(crate) fn large_free(arena: &crate::arena::Arena, p: *mut u8) {
    let c = crate::chunk_map::Chunk::containing(p, g().chunk_mask);
    // SAFETY: a live large object of `arena`, freed once.
    unsafe { crate::large::dalloc(arena, c, c.page_of(p)) };
}

#[test]
fn an_emptied_arena_chunk_serves_a_huge_object() {
    let _g = start();
    let _ballast = Ballast::new(1);
    let arena = private_arena();
    let max = g().sc.arena_maxclass;
    let p = crate::large::malloc(arena, max, false);
    assert!(!p.is_null());
    let chunk = p as usize & !g().chunk_mask;
    scribble(p, max);
    large_free(arena, p);
    arena.purge_all();
    assert!(cached() >= g().sc.chunk_size, "the arena let its empty chunk go to the cache");
    assert!(g().rtree.get(chunk) == 0, "a cached chunk is unregistered");
    let q = huge_malloc(1, false);
    assert_eq!(q as usize, chunk, "the huge object reuses the arena's chunk");
    assert!(all(q.wrapping_add(g().sc.chunk_size - max), max, 0x3c), "with its pages");
    free(q);
    flush();
}

#[test]
fn a_recycled_chunk_serves_an_arena_and_calloc_still_reads_zero() {
    let _g = start();
    let _ballast = Ballast::new(1);
    let chunk = g().sc.chunk_size;
    let max = g().sc.arena_maxclass;
    let h = huge_malloc(1, false);
    scribble(h, chunk);
    free(h);
    let arena = private_arena();
    let mapped = crate::chunk::TOTAL.load(core::sync::atomic::Ordering::Relaxed);
    let z = crate::large::malloc(arena, max, true);
    assert_eq!(z as usize & !g().chunk_mask, h as usize, "the arena took the cached chunk");
    if crate::stats::STATS {
        assert_eq!(crate::chunk::TOTAL.load(core::sync::atomic::Ordering::Relaxed), mapped, "no new chunk was mapped");
    }
    assert!(all(z, max, 0), "a zeroed request on recycled pages reads as zero");
    scribble(z, max);
    large_free(arena, z);
    // The pages are dirty free pages of the arena now: a zeroed request still reads zero.
    let z = crate::large::malloc(arena, max / 2, true);
    assert!(all(z, max / 2, 0));
    large_free(arena, z);
    arena.purge_all();
    flush();
    assert_eq!(cached(), 0);
}

#[test]
fn a_churn_whose_use_swings_keeps_its_big_block() {
    let _g = start();
    let chunk = g().sc.chunk_size;
    let _ballast = Ballast::new(1);
    // In use swings from 1 chunk to 21 and back: twice what is in use after the free (and the
    // 64 MiB floor) would trim the freed block; twice the recent peak keeps it.
    let p = huge_malloc(20, false);
    scribble(p, 20 * chunk);
    free(p);
    assert_eq!(cached(), 20 * chunk, "the freed block is kept whole");
    let q = huge_malloc(20, false);
    assert_eq!(q, p);
    assert!(all(q, 20 * chunk, 0x3c), "with its pages");
    free(q);
    flush();
}

#[test]
fn a_steady_churn_stays_within_its_bound() {
    let _g = start();
    let chunk = g().sc.chunk_size;
    let mut live = [core::ptr::null_mut::<u8>(); 4];
    let mut most_live = 0;
    for round in 0..64 {
        let i = round % live.len();
        if !live[i].is_null() {
            free(live[i]);
        }
        live[i] = huge_malloc(1 + round % 5, false);
        // Eight times the largest recent request (5 chunks), and at most twice the most that
        // was live at a request (this one included) or the 64 MiB floor.
        let live_bytes: usize = live.iter().filter(|p| !p.is_null()).map(|&p| live_size(p)).sum();
        most_live = most_live.max(live_bytes);
        assert!(
            cached() <= 40 * chunk && cached() <= (2 * most_live).max(FLOOR),
            "round {round}: {} bytes cached",
            cached()
        );
    }
    for p in live {
        free(p);
    }
    flush();
    assert_eq!(cached(), 0);
}
