use super::*;
use crate::chunk_map::DIRTY;
use crate::global::g;

#[test]
fn classes_are_exact_then_four_per_doubling() {
    for n in 1..=EXACT {
        assert_eq!(class_of(n), n - 1);
    }
    assert_eq!(class_of(8), EXACT);
    assert_eq!(class_of(9), EXACT);
    assert_eq!(class_of(10), EXACT + 1);
    assert_eq!(class_of(15), EXACT + 3);
    assert_eq!(class_of(16), EXACT + 4);
    let mut last = 0;
    for n in 1..5000 {
        let k = class_of(n);
        assert_eq!(k, compute_class(n), "the table agrees ({n} pages)");
        assert!(k == last || k == last + 1, "classes rise one at a time ({n} pages)");
        last = k;
    }
    // Four classes per doubling up to 2^13 pages, then one.
    assert_eq!(class_of(2048) - class_of(1024), 4);
    assert_eq!(class_of(1 << 14) - class_of(1 << 13), 1);
    assert_eq!(class_of((1 << 14) - 1), class_of(1 << 13));
}

/// Chunks mapped for a test and given back when it ends.
struct Chunks(Vec<Chunk>);

impl Chunks {
    fn new(n: usize) -> Chunks {
        assert!(crate::global::init());
        let size = g().sc.chunk_size;
        Chunks(
            (0..n)
                .map(|_| {
                    let p = crate::chunk::alloc(size, size);
                    assert!(!p.is_null());
                    Chunk(p.cast())
                })
                .collect(),
        )
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        for c in &self.0 {
            crate::chunk::unmap(c.0.cast(), g().sc.chunk_size);
        }
    }
}

/// A filed run of the model: chunk index, first page, length, dirty.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    chunk: usize,
    page: usize,
    len: usize,
    dirty: bool,
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Random runs filed and taken; every `first_fit` answer is checked against a model of what
/// is filed: a run long enough, dirty if a dirty one fits, from the lowest slot that has one
/// of its kind, and of the lowest class that holds a fit of its kind there.
#[test]
fn first_fit_takes_dirty_runs_then_the_lowest_chunk_then_the_smallest_class() {
    let chunks = Chunks::new(5);
    let hp = g().header_pages;
    let max = g().max_run_pages;
    let mut runs = FreeRuns::new(max);
    let mut slot_of = Vec::new();
    for &c in &chunks.0 {
        // SAFETY: a live chunk of this test, not attached.
        assert!(unsafe { runs.attach(c) });
        // SAFETY: attach recorded the slot in the header.
        slot_of.push(unsafe { (*(*c.0).slot).index });
    }
    assert_eq!(slot_of, vec![0, 1, 2, 3, 4], "chunks take the lowest free slots in turn");
    // Runs start every 301 pages and are at most 300 long, so that filed runs never overlap.
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut filed: Vec<Run> = Vec::new();
    let spaces: Vec<(usize, usize)> = (0..chunks.0.len()).flat_map(|c| (hp..hp + max).step_by(301).map(move |p| (c, p))).collect();
    let entry = |r: &Run| {
        // SAFETY: the page lies in the chunk's map.
        unsafe { chunks.0[r.chunk].entry(r.page, hp) }
    };
    for step in 0..20_000 {
        if rng.below(3) != 0 || filed.is_empty() {
            // File a run at a free space.
            let (ci, page) = spaces[rng.below(spaces.len())];
            if filed.iter().any(|r| r.chunk == ci && r.page == page) {
                continue;
            }
            let len = 1 + rng.below(300.min(hp + max - page));
            let r = Run { chunk: ci, page, len, dirty: rng.below(2) == 0 };
            // SAFETY: the entry heads a free run in no list, in an attached chunk.
            unsafe {
                (*entry(&r)).set(if r.dirty { DIRTY } else { 0 }, len);
                runs.insert(entry(&r), len);
            }
            filed.push(r);
        } else if rng.below(2) == 0 {
            // Take a run out without a search, as coalescing does.
            let i = rng.below(filed.len());
            let r = filed.swap_remove(i);
            // SAFETY: the run is filed.
            unsafe { runs.remove(entry(&r), r.len) };
        } else {
            let want = 1 + rng.below(400);
            let fits: Vec<&Run> = filed.iter().filter(|r| r.len >= want).collect();
            let got = runs.first_fit(want);
            if fits.is_empty() {
                assert!(got.is_none(), "step {step}: nothing fits {want} pages");
                continue;
            }
            let (e, len) = got.unwrap_or_else(|| panic!("step {step}: a run of {want} pages is filed"));
            let i = filed.iter().position(|r| entry(r) == e).expect("an answer that is filed");
            let r = filed[i];
            assert_eq!(r.len, len);
            assert!(len >= want);
            assert_eq!(r.dirty, fits.iter().any(|f| f.dirty), "step {step}: a dirty run first when one fits");
            let lowest = fits.iter().filter(|f| f.dirty == r.dirty).map(|f| slot_of[f.chunk]).min();
            assert_eq!(Some(slot_of[r.chunk]), lowest, "step {step}: the lowest chunk with a fit");
            let in_chunk: Vec<&&Run> = fits.iter().filter(|f| f.chunk == r.chunk && f.dirty == r.dirty).collect();
            let best_class = in_chunk.iter().map(|f| class_of(f.len)).min();
            assert_eq!(Some(class_of(r.len)), best_class, "step {step}: the smallest class that fits");
            filed.swap_remove(i);
            // SAFETY: the run is filed.
            unsafe { runs.remove(e, len) };
        }
    }
    for r in filed.drain(..) {
        // SAFETY: the run is filed.
        unsafe { runs.remove(entry(&r), r.len) };
    }
    assert!(runs.first_fit(1).is_none(), "nothing is filed");
    // A detached chunk's slot is the next one handed out.
    // SAFETY: attached chunks with nothing filed.
    unsafe {
        runs.detach(chunks.0[1]);
        runs.detach(chunks.0[3]);
        assert!(runs.attach(chunks.0[3]));
        assert_eq!((*(*chunks.0[3].0).slot).index, 1);
        for &c in &chunks.0 {
            if c != chunks.0[1] {
                runs.detach(c);
            }
        }
    }
}

/// The index grows past its first slots, and the lowest chunk still wins.
#[test]
fn grows_and_keeps_the_order() {
    let chunks = Chunks::new(FIRST_CAP + 3);
    let hp = g().header_pages;
    let mut runs = FreeRuns::new(g().max_run_pages);
    for &c in &chunks.0 {
        // SAFETY: live chunks of this test, not attached.
        assert!(unsafe { runs.attach(c) });
    }
    assert_eq!(runs.slots(), 2 * FIRST_CAP);
    // One dirty run of 10 pages in the last chunk, one of 20 in the second to last.
    let last = chunks.0[FIRST_CAP + 2];
    let before = chunks.0[FIRST_CAP + 1];
    // SAFETY: free runs in no list, in attached chunks.
    unsafe {
        (*last.entry(hp, hp)).set(DIRTY, 10);
        runs.insert(last.entry(hp, hp), 10);
        (*before.entry(hp, hp)).set(DIRTY, 20);
        runs.insert(before.entry(hp, hp), 20);
    }
    assert_eq!(runs.first_fit(5), Some((before.entry_ptr(hp), 20)));
    assert_eq!(runs.first_fit(15), Some((before.entry_ptr(hp), 20)));
    assert_eq!(runs.first_fit(21), None);
    // SAFETY: filed above.
    unsafe { runs.remove(before.entry(hp, hp), 20) };
    // The second to last chunk's bound is stale now; the search corrects it and moves on.
    assert_eq!(runs.first_fit(5), Some((last.entry_ptr(hp), 10)));
    assert_eq!(runs.chunk_in(FIRST_CAP + 2), Some(last));
    // SAFETY: filed above; then nothing is filed.
    unsafe {
        runs.remove(last.entry(hp, hp), 10);
        for &c in &chunks.0 {
            runs.detach(c);
        }
    }
    assert_eq!(runs.chunk_in(0), None);
}

impl Chunk {
    /// The first map entry's address, for comparing answers.
    fn entry_ptr(self, hp: usize) -> *mut MapEntry {
        // SAFETY: the header page count of a live chunk of the test.
        unsafe { self.entry(hp, hp) }
    }
}
