//! The chunk cache's table of free ranges: address-ordered, each dirty (freed with its pages)
//! or clean (never used, or purged: reads as zero), neighbours of the same kind merged.
//!
//! A fixed array, so that the cache needs no memory of its own: first-fit keeps the free
//! ranges few (they are chunk multiples of a few regions), and a range that finds the table
//! full is given back to the system by the caller instead. Guarded by the cache's lock.

/// Most free ranges kept.
pub const CAP: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub addr: usize,
    pub size: usize,
    pub dirty: bool,
}

impl Extent {
    fn end(&self) -> usize {
        self.addr + self.size
    }
}

pub struct Table {
    ext: [Extent; CAP],
    len: usize,
    /// Bytes in dirty ranges.
    dirty: usize,
}

/// The first multiple of `align` (a power of two) at or above `addr`.
fn align_up(addr: usize, align: usize) -> usize {
    (addr + align - 1) & !(align - 1)
}

impl Table {
    pub const fn new() -> Table {
        Table { ext: [Extent { addr: 0, size: 0, dirty: false }; CAP], len: 0, dirty: 0 }
    }

    /// Bytes in dirty ranges.
    pub fn dirty(&self) -> usize {
        self.dirty
    }

    /// The free ranges, lowest first.
    #[cfg(test)]
    pub fn extents(&self) -> &[Extent] {
        &self.ext[..self.len]
    }

    /// Files the free range `[addr, addr + size)`, which overlaps none filed, merging it with
    /// neighbours of its kind. False when that needs a slot and the table is full.
    pub fn insert(&mut self, addr: usize, size: usize, dirty: bool) -> bool {
        let i = self.ext[..self.len].partition_point(|e| e.addr < addr);
        let joins_prev = i > 0 && self.ext[i - 1].end() == addr && self.ext[i - 1].dirty == dirty;
        let joins_next = i < self.len && self.ext[i].addr == addr + size && self.ext[i].dirty == dirty;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ext[i - 1].size += size + self.ext[i].size;
                self.remove_at(i);
            }
            (true, false) => self.ext[i - 1].size += size,
            (false, true) => {
                self.ext[i].addr = addr;
                self.ext[i].size += size;
            }
            (false, false) => {
                if self.len == CAP {
                    return false;
                }
                self.ext.copy_within(i..self.len, i + 1);
                self.ext[i] = Extent { addr, size, dirty };
                self.len += 1;
            }
        }
        if dirty {
            self.dirty += size;
        }
        true
    }

    fn remove_at(&mut self, i: usize) {
        self.ext.copy_within(i + 1..self.len, i);
        self.len -= 1;
    }

    /// The lowest address where `size` bytes aligned to `align` are free: within one dirty
    /// range if `dirty_only`, else within a run of adjacent ranges of either kind. A place
    /// that would split a range in three is passed over while the table is full.
    pub fn find(&self, size: usize, align: usize, dirty_only: bool) -> Option<usize> {
        let full = self.len == CAP;
        if dirty_only {
            let mut best: Option<(usize, usize)> = None;
            for e in &self.ext[..self.len] {
                let start = align_up(e.addr, align);
                let splits = start > e.addr && start + size < e.end();
                if e.dirty && start.checked_add(size).is_some_and(|x| x <= e.end()) && !(full && splits) && best.is_none_or(|(s, _)| e.size < s) {
                    best = Some((e.size, start));
                }
            }
            return best.map(|(_, a)| a);
        }
        let mut i = 0;
        while i < self.len {
            let first = self.ext[i];
            // The run of adjacent ranges starting at i (only i itself for dirty_only).
            let mut end = first.end();
            let mut j = i;
            if !dirty_only {
                while j + 1 < self.len && self.ext[j + 1].addr == end {
                    j += 1;
                    end = self.ext[j].end();
                }
            }
            let start = align_up(first.addr, align);
            let splits = j == i && start > first.addr && start + size < end;
            let fits = start.checked_add(size).is_some_and(|e| e <= end);
            if (first.dirty || !dirty_only) && fits && !(full && splits) {
                return Some(start);
            }
            i = j + 1;
        }
        None
    }

    /// Whether `[addr, addr + size)` is free.
    pub fn covers(&self, addr: usize, size: usize) -> bool {
        let i = self.ext[..self.len].partition_point(|e| e.end() <= addr);
        let mut at = addr;
        for e in &self.ext[i..self.len] {
            if e.addr > at {
                return false;
            }
            at = e.end();
            if at >= addr + size {
                return true;
            }
        }
        false
    }

    /// Takes `[addr, addr + size)`, which is free ([`Table::covers`]; a place [`Table::find`]
    /// returned), out of the table; returns how many of its bytes were dirty. What lies
    /// before and after it in the same ranges stays free.
    pub fn carve(&mut self, addr: usize, size: usize) -> usize {
        let end = addr + size;
        let mut i = self.ext[..self.len].partition_point(|e| e.end() <= addr);
        let mut dirty = 0;
        while i < self.len && self.ext[i].addr < end {
            let e = self.ext[i];
            let overlap = e.end().min(end) - e.addr.max(addr);
            if e.dirty {
                dirty += overlap;
                self.dirty -= overlap;
            }
            let lead = addr.saturating_sub(e.addr);
            let trail = e.end().saturating_sub(end);
            match (lead > 0, trail > 0) {
                (false, false) => {
                    self.remove_at(i);
                    continue;
                }
                (false, true) => {
                    self.ext[i] = Extent { addr: end, size: trail, dirty: e.dirty };
                }
                (true, false) => self.ext[i].size = lead,
                (true, true) => {
                    // find() leaves a slot for this split.
                    assert!(self.len < CAP, "a carve that splits a range needs a slot");
                    self.ext[i].size = lead;
                    self.ext.copy_within(i + 1..self.len, i + 2);
                    self.ext[i + 1] = Extent { addr: end, size: trail, dirty: e.dirty };
                    self.len += 1;
                    i += 1;
                }
            }
            i += 1;
        }
        debug_assert_eq!(dirty, dirty.min(size));
        dirty
    }

    /// Takes up to `want` dirty bytes (multiples of `unit` from the top of each range) out of
    /// the table, highest addresses first, into `out`; returns how many ranges it filled.
    pub fn take_dirty_top(&mut self, want: usize, unit: usize, out: &mut [(usize, usize)]) -> usize {
        let mut n = 0;
        let mut want = want;
        let mut i = self.len;
        while i > 0 && want > 0 && n < out.len() {
            i -= 1;
            let e = self.ext[i];
            if !e.dirty {
                continue;
            }
            let take = if want >= e.size { e.size } else { (want.div_ceil(unit) * unit).min(e.size) };
            out[n] = (e.end() - take, take);
            n += 1;
            want = want.saturating_sub(take);
            self.dirty -= take;
            if take == e.size {
                self.remove_at(i);
            } else {
                self.ext[i].size -= take;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: usize = 1 << 22;

    /// The table's ranges as (first chunk, chunks, dirty).
    fn shape(t: &Table) -> Vec<(usize, usize, bool)> {
        t.extents().iter().map(|e| (e.addr / C, e.size / C, e.dirty)).collect()
    }

    #[test]
    fn neighbours_of_a_kind_merge() {
        let mut t = Table::new();
        assert!(t.insert(10 * C, 2 * C, true));
        assert!(t.insert(14 * C, 2 * C, true));
        assert!(t.insert(12 * C, 2 * C, true));
        assert_eq!(shape(&t), [(10, 6, true)]);
        assert!(t.insert(16 * C, C, false));
        assert!(t.insert(8 * C, 2 * C, false));
        assert_eq!(shape(&t), [(8, 2, false), (10, 6, true), (16, 1, false)]);
        assert_eq!(t.dirty(), 6 * C);
    }

    #[test]
    fn dirty_ranges_first_then_the_lowest_run_of_either_kind() {
        let mut t = Table::new();
        t.insert(C, 2 * C, false);
        t.insert(3 * C, C, true);
        t.insert(4 * C, 3 * C, false);
        t.insert(21 * C, 2 * C, true);
        assert_eq!(t.find(2 * C, C, true), Some(21 * C), "the only dirty range that fits");
        assert_eq!(t.find(C, C, true), Some(3 * C), "the lowest dirty one");
        assert_eq!(t.find(5 * C, C, false), Some(C), "a run of clean and dirty ranges");
        assert_eq!(t.find(7 * C, C, false), None);
        assert_eq!(t.find(2 * C, 8 * C, false), None, "no aligned place");
        assert_eq!(t.find(2 * C, 4 * C, false), Some(4 * C));
        // Carving across the run returns its dirty bytes and leaves the rest.
        assert_eq!(t.carve(2 * C, 4 * C), C);
        assert_eq!(shape(&t), [(1, 1, false), (6, 1, false), (21, 2, true)]);
        assert_eq!(t.dirty(), 2 * C);
        assert!(t.covers(21 * C, 2 * C) && !t.covers(20 * C, 2 * C) && !t.covers(2 * C, C));
        // A carve from the middle splits a range in three.
        assert_eq!(t.carve(21 * C + C / 2, C / 4), C / 4);
        assert_eq!(t.extents().len(), 4);
    }

    #[test]
    fn the_purge_takes_the_highest_dirty_chunks_first() {
        let mut t = Table::new();
        t.insert(0, 4 * C, true);
        t.insert(10 * C, 3 * C, true);
        t.insert(13 * C, 2 * C, false);
        let mut out = [(0, 0); 4];
        assert_eq!(t.take_dirty_top(C + 1, C, &mut out), 1);
        assert_eq!(out[0], (11 * C, 2 * C), "whole chunks off the top of the highest range");
        assert_eq!(t.take_dirty_top(usize::MAX, C, &mut out), 2);
        assert_eq!(&out[..2], &[(10 * C, C), (0, 4 * C)]);
        assert_eq!(t.dirty(), 0);
        assert_eq!(shape(&t), [(13, 2, false)]);
    }

    #[test]
    fn a_full_table_refuses_new_ranges_and_splits() {
        let mut t = Table::new();
        // Dirty ranges of 8 chunks, each starting a chunk past a multiple of 16 chunks.
        for i in 0..CAP {
            assert!(t.insert((16 * i + 1) * C, 8 * C, true));
        }
        assert!(!t.insert(16 * CAP * C, C, true), "no slot for a range that merges with nothing");
        assert!(t.insert(9 * C, C, true), "one that merges needs none");
        assert_eq!(t.extents()[0], Extent { addr: C, size: 9 * C, dirty: true });
        // 4-chunk alignment puts a place 3 chunks into each range: one that leaves a tail
        // would split the range in three, and a full table passes it over.
        assert_eq!(t.find(C, 4 * C, true), None, "every place splits its range");
        assert_eq!(t.find(6 * C, 4 * C, true), Some(4 * C), "no tail: no split");
        t.carve(17 * C, 8 * C);
        assert_eq!(t.find(C, 4 * C, true), Some(4 * C), "with a slot free, the split is made");
        assert_eq!(t.carve(4 * C, C), C);
        assert_eq!(&t.extents()[..2], &[Extent { addr: C, size: 3 * C, dirty: true }, Extent { addr: 5 * C, size: 5 * C, dirty: true }]);
    }

    /// Random inserts and carves against a model of which chunks are free and dirty.
    #[test]
    fn matches_a_model_of_free_chunks() {
        let mut t = Table::new();
        let mut model = vec![None::<bool>; 64];
        let mut x = 0x2545f4914f6cdd1du64;
        let mut rnd = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..20_000 {
            let at = rnd(60);
            let len = 1 + rnd(4);
            if model[at..at + len].iter().all(|m| m.is_none()) {
                let dirty = rnd(2) == 0;
                assert!(t.insert(at * C, len * C, dirty));
                model[at..at + len].iter_mut().for_each(|m| *m = Some(dirty));
            } else if model[at..at + len].iter().all(|m| m.is_some()) {
                assert!(t.covers(at * C, len * C));
                let dirty = model[at..at + len].iter().filter(|m| **m == Some(true)).count();
                assert_eq!(t.carve(at * C, len * C), dirty * C);
                model[at..at + len].iter_mut().for_each(|m| *m = None);
            } else {
                assert!(!t.covers(at * C, len * C));
            }
            let want = 1 + rnd(4);
            let lowest_run = (0..=64 - want).find(|&s| model[s..s + want].iter().all(|m| m.is_some()));
            assert_eq!(t.find(want * C, C, false), lowest_run.map(|s| s * C));
            let dirty: usize = model.iter().filter(|m| **m == Some(true)).count();
            assert_eq!(t.dirty(), dirty * C);
            for w in t.extents().windows(2) {
                assert!(w[0].end() <= w[1].addr && !(w[0].end() == w[1].addr && w[0].dirty == w[1].dirty));
            }
        }
    }
}
