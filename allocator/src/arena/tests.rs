use super::*;
use crate::chunk_cache::tests::{large_free, private_arena, resident_pages, start};
use crate::size_classes::PAGE;

/// Chunks in the arena's runs.
fn attached(arena: &Arena) -> usize {
    // SAFETY: the test's private arena; no other thread uses it.
    let runs = unsafe { &arena.state().runs };
    (0..runs.slots()).filter(|&i| runs.chunk_in(i).is_some()).count()
}

/// Chunks in the arena's runs with no run in use, counted from their maps' owners: what
/// `idle_chunks` must say.
fn idle(arena: &Arena) -> usize {
    // SAFETY: the test's private arena.
    let runs = unsafe { &arena.state().runs };
    (0..runs.slots())
        .filter_map(|i| runs.chunk_in(i))
        // SAFETY: attached chunks' headers are live.
        .filter(|c| unsafe { (*c.0).nused } == 0)
        .count()
}

/// Empty chunks kept aside.
fn kept_aside(arena: &Arena) -> usize {
    let mut n = 0;
    // SAFETY: as above; the empty list links live chunk headers.
    unsafe {
        let mut c = arena.state().empty_head;
        while !c.is_null() {
            n += 1;
            c = (*c).next;
        }
    }
    n
}

/// Frees the test's remaining large objects, then lets the arena's memory and the chunk
/// cache go, for the next test.
fn free_all_and_finish(arena: &Arena, blocks: impl IntoIterator<Item = *mut u8>) {
    for p in blocks {
        large_free(arena, p);
    }
    arena.purge_all();
    crate::chunk_cache::flush();
}

fn malloc(arena: &Arena, size: usize) -> *mut u8 {
    let p = crate::large::malloc(arena, size, false);
    assert!(!p.is_null());
    p
}

/// Runs of a quarter chunk: four fill a chunk, and eight taken make the arena churn (more
/// than the manual's limit of one chunk's pages taken recently).
fn quarter() -> usize {
    (g().max_run_pages / 4) * PAGE
}

#[test]
fn a_chunk_that_empties_while_the_arena_churns_stays_with_its_pages() {
    let _g = start();
    let arena = private_arena();
    let blocks: Vec<*mut u8> = (0..8).map(|_| malloc(arena, quarter())).collect();
    // SAFETY: the test's private arena.
    assert!(unsafe { arena.churning() });
    assert_eq!(attached(arena), 2);
    let second = blocks[4] as usize & !g().chunk_mask;
    for &p in &blocks[4..] {
        assert_eq!(p as usize & !g().chunk_mask, second, "four runs fill a chunk");
        // SAFETY: a live object of the test.
        unsafe { core::ptr::write_bytes(p, 0x5a, quarter()) };
        large_free(arena, p);
    }
    assert_eq!((attached(arena), kept_aside(arena)), (2, 0), "the emptied chunk stays in the runs");
    // SAFETY: the test's private arena.
    assert_eq!((unsafe { arena.state().idle_chunks }, idle(arena)), (1, 1));
    // SAFETY: the test's private arena.
    assert_eq!(unsafe { arena.state().ndirty }, 4 * quarter() / PAGE, "its freed pages count as dirty, no others");
    for &p in &blocks[4..] {
        assert_eq!(resident_pages(p, quarter()), quarter() / PAGE, "and were not purged");
    }
    // Its dirty pages and the clean ones after them serve a request that no dirty run fits:
    // the chunk becomes one dirty run.
    let again = malloc(arena, g().sc.arena_maxclass);
    assert_eq!(again as usize & !g().chunk_mask, second, "the next request takes it back whole");
    // SAFETY: a live object of the test.
    assert_eq!(unsafe { *again.add(4 * quarter() - 1) }, 0x5a, "with its pages");
    large_free(arena, again);
    for &p in &blocks[..4] {
        large_free(arena, p);
    }
    arena.purge_all();
    assert_eq!((attached(arena), kept_aside(arena)), (0, 0), "arenas.purge lets every empty chunk go");
    crate::chunk_cache::flush();
}

#[test]
fn a_chunk_whose_pages_a_purge_takes_while_the_arena_churns_stays_in_the_runs() {
    let _g = start();
    let arena = private_arena();
    let blocks: Vec<*mut u8> = (0..8).map(|_| malloc(arena, quarter())).collect();
    for &p in &blocks[4..] {
        large_free(arena, p);
    }
    // SAFETY: the test's private arena.
    assert!(unsafe { arena.churning() });
    assert_eq!((attached(arena), kept_aside(arena)), (2, 0));
    arena.lock.lock();
    // SAFETY: lock held.
    unsafe { arena.purge(0) };
    arena.unlock();
    // The purge files the emptied chunk's pages back as one clean run of more than half of
    // it; that frees no object, so the chunk stays where the churn will want it, clean. Kept
    // aside, it counted as dirty again and went to the chunk cache at the next purge, to come
    // back with its pages purged once more.
    assert_eq!((attached(arena), kept_aside(arena)), (2, 0), "the purged chunk stays in the runs");
    // SAFETY: the test's private arena.
    assert_eq!(unsafe { arena.state().ndirty }, 0, "and counts no dirty pages");
    free_all_and_finish(arena, blocks[..4].iter().copied());
}

#[test]
fn a_chunk_emptied_by_a_run_of_more_than_half_of_it_is_kept_aside() {
    let _g = start();
    let arena = private_arena();
    let small: Vec<*mut u8> = (0..8).map(|_| malloc(arena, quarter())).collect();
    let big = malloc(arena, g().sc.arena_maxclass);
    // SAFETY: the test's private arena.
    assert!(unsafe { arena.churning() });
    assert_eq!(attached(arena), 3);
    large_free(arena, big);
    assert_eq!((attached(arena), kept_aside(arena)), (2, 1), "its chunk left the runs");
    free_all_and_finish(arena, small);
}

#[test]
fn an_arena_that_goes_idle_lets_go_of_the_empty_chunks_its_churn_kept() {
    let _g = start();
    let arena = private_arena();
    let blocks: Vec<*mut u8> = (0..12).map(|_| malloc(arena, quarter())).collect();
    for &p in &blocks {
        large_free(arena, p);
    }
    assert_eq!((attached(arena), kept_aside(arena)), (3, 0), "a churning arena keeps its emptied chunks in its runs");
    arena.went_idle();
    assert_eq!((attached(arena), kept_aside(arena)), (0, 0), "all three left the arena");
    // SAFETY: the test's private arena.
    assert_eq!(unsafe { arena.state().idle_chunks }, 0);
    // SAFETY: the test's private arena.
    unsafe {
        assert_eq!(arena.state().ndirty, 0);
        assert_eq!(arena.state().stats.mapped, 0);
    }
    crate::chunk_cache::flush();
}

#[test]
fn a_chunk_that_empties_with_no_churn_is_kept_aside_and_reused_whole() {
    let _g = start();
    let arena = private_arena();
    let p = malloc(arena, 4 * PAGE);
    large_free(arena, p);
    // SAFETY: the test's private arena.
    assert!(!unsafe { arena.churning() });
    assert_eq!((attached(arena), kept_aside(arena)), (0, 1));
    let q = malloc(arena, 8 * PAGE);
    assert_eq!(q as usize & !g().chunk_mask, p as usize & !g().chunk_mask, "the same chunk serves again");
    assert_eq!((attached(arena), kept_aside(arena)), (1, 0));
    free_all_and_finish(arena, [q]);
}

/// Big blocks of random sizes replaced at random: after every free the dirty pages are within
/// the churn's band, and a purge leaves at most 7/8 of the recent churn.
#[test]
fn a_churning_arena_purges_down_to_seven_eighths_of_its_recent_churn() {
    let _g = start();
    let arena = private_arena();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let size = |r: usize| (16 + r) * PAGE;
    let mut held: Vec<*mut u8> = (0..64).map(|_| malloc(arena, size(next(241)))).collect();
    let mut purges = 0;
    for _ in 0..100_000 {
        let i = next(held.len());
        // SAFETY: the test's private arena, used by this thread alone.
        let before = unsafe { arena.state().stats.npurge };
        large_free(arena, held[i]);
        // SAFETY: as above.
        let (st, manual) = unsafe { (arena.state(), arena.manual_limit()) };
        let recent = st.recent_pages;
        assert!(st.ndirty <= manual.max(recent + recent / 2), "dirty {} above the band of {recent}", st.ndirty);
        if st.stats.npurge != before {
            purges += 1;
            assert!(st.ndirty <= (manual / 2).max(recent - recent / 8), "a purge left {} dirty of {recent}", st.ndirty);
            // It takes whole runs: the last may take it below by up to a chunk's pages.
            let floor = (manual / 2).max(recent - recent / 8);
            assert!(st.ndirty + g().max_run_pages >= floor, "a purge went below the band: {} of {recent}", st.ndirty);
        }
        held[i] = malloc(arena, size(next(241)));
        // SAFETY: as above.
        assert_eq!(unsafe { arena.state().idle_chunks }, idle(arena));
    }
    assert!(purges > 10, "the churn purged {purges} times");
    free_all_and_finish(arena, held);
}

/// Small regions freed one by one empty their runs into the arena: the purge that their dirty
/// pages call for runs once the bin lock is released, and none is lost.
#[test]
fn runs_emptied_by_small_frees_are_purged_once_the_bin_lock_is_released() {
    let _g = start();
    let arena = private_arena();
    let binind = g().sc.nbins - 1;
    let run_pages = g().sc.bins[binind].run_pages as usize;
    let nregs = g().sc.bins[binind].nregs as usize;
    // Runs of three chunks' worth of pages: more than the manual's limit of one.
    let n = 3 * g().max_run_pages / run_pages * nregs;
    let regions: Vec<*mut u8> = (0..n).map(|_| crate::bin::malloc_small(arena, binind)).collect();
    assert!(regions.iter().all(|p| !p.is_null()));
    for &p in &regions {
        let c = crate::chunk_map::Chunk::containing(p, g().chunk_mask);
        // SAFETY: a live small region of the test's arena, freed once.
        unsafe { crate::bin::dalloc_small(c, c.page_of(p), p) };
    }
    // SAFETY: the test's private arena, used by this thread alone.
    unsafe {
        assert!(arena.state().stats.npurge > 0, "the frees purged");
        assert!(!arena.purge_due(), "no purge is left due: {} dirty", arena.state().ndirty);
        assert!(!arena.bin(binind).locked().purge_due);
    }
    free_all_and_finish(arena, std::iter::empty());
}
