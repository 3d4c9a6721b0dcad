//! The statistics snapshot that `stats.*` names read and writing `epoch` refreshes.
//!
//! Mirrors jemalloc 2.2.1 `ctl_stats`, `ctl_refresh()` and `ctl_arena_refresh()`. The snapshot
//! is made on first use, in base memory: one [`ArenaSnap`] per arena plus one more (index
//! `narenas`) that holds the sum over all arenas, each with its bins' and large classes' counters.
//! A refresh copies every created arena's counters, taking each bin's lock and then the arena's
//! lock in turn (never two at once), and the chunk and huge counters.
//!
//! Locking: the ctl lock guards the whole snapshot. It is taken before bin and arena locks and
//! is never held while calling out of the allocator.

use super::{Error, Result};
use crate::arena;
use crate::global::g;
use crate::huge::HugeStats;
use crate::mutex::{Mutex, RawMutex};
use crate::stats::{ArenaStats, BinStats, LargeStats};
use core::sync::atomic::{AtomicBool, Ordering};

/// Small-object totals of one arena, summed over its bins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmallTotals {
    pub allocated: usize,
    pub nmalloc: u64,
    pub ndalloc: u64,
    pub nrequests: u64,
}

/// One arena's counters as of the last refresh.
pub struct ArenaSnap {
    pub initialized: bool,
    pub nthreads: u32,
    pub pactive: usize,
    pub pdirty: usize,
    pub astats: ArenaStats,
    pub small: SmallTotals,
    /// `nbins` entries.
    bstats: *mut BinStats,
    /// `nlclasses` entries; entry `j` is the class of `j + 1` pages.
    lstats: *mut LargeStats,
}

impl ArenaSnap {
    fn clear(&mut self) {
        let g = g();
        self.nthreads = 0;
        self.pactive = 0;
        self.pdirty = 0;
        self.astats = ArenaStats::default();
        self.small = SmallTotals::default();
        // SAFETY: the arrays have nbins and nlclasses entries, made in `make`.
        unsafe {
            core::slice::from_raw_parts_mut(self.bstats, g.sc.nbins).fill(BinStats::default());
            core::slice::from_raw_parts_mut(self.lstats, g.sc.nlclasses).fill(LargeStats::default());
        }
    }

    fn bins(&self) -> &[BinStats] {
        // SAFETY: nbins entries, made in `make`, guarded with the snapshot.
        unsafe { core::slice::from_raw_parts(self.bstats, g().sc.nbins) }
    }

    fn bins_mut(&mut self) -> &mut [BinStats] {
        // SAFETY: as in `bins`, and we hold the snapshot mutably.
        unsafe { core::slice::from_raw_parts_mut(self.bstats, g().sc.nbins) }
    }

    fn lruns(&self) -> &[LargeStats] {
        // SAFETY: nlclasses entries, made in `make`.
        unsafe { core::slice::from_raw_parts(self.lstats, g().sc.nlclasses) }
    }

    fn lruns_mut(&mut self) -> &mut [LargeStats] {
        // SAFETY: as in `lruns`, and we hold the snapshot mutably.
        unsafe { core::slice::from_raw_parts_mut(self.lstats, g().sc.nlclasses) }
    }

    fn merge_into(&self, sum: &mut ArenaSnap) {
        sum.nthreads += self.nthreads;
        sum.pactive += self.pactive;
        sum.pdirty += self.pdirty;
        sum.astats.merge(&self.astats);
        sum.small.allocated += self.small.allocated;
        sum.small.nmalloc += self.small.nmalloc;
        sum.small.ndalloc += self.small.ndalloc;
        sum.small.nrequests += self.small.nrequests;
        for (s, a) in sum.bins_mut().iter_mut().zip(self.bins()) {
            s.merge(a);
        }
        for (s, a) in sum.lruns_mut().iter_mut().zip(self.lruns()) {
            s.merge(a);
        }
    }
}

/// Everything `stats.*` reports, as of the last refresh.
pub struct Snapshot {
    pub epoch: u64,
    pub narenas: usize,
    /// `narenas + 1` entries; the last is the sum.
    arenas: *mut ArenaSnap,
    pub chunks_current: usize,
    pub chunks_total: u64,
    pub chunks_high: usize,
    pub huge: HugeStats,
    pub allocated: usize,
    pub active: usize,
    pub mapped: usize,
    /// `swap.avail`.
    pub swap_avail: usize,
}

// SAFETY: the pointers are to base memory, reached only under the ctl lock.
unsafe impl Send for Snapshot {}

impl Snapshot {
    /// Arena `i`'s counters (`i == narenas` is the sum). Indices were checked by the tree.
    pub fn arena(&self, i: usize) -> &ArenaSnap {
        assert!(i <= self.narenas);
        // SAFETY: narenas + 1 initialised entries.
        unsafe { &*self.arenas.add(i) }
    }

    fn arena_mut(&mut self, i: usize) -> &mut ArenaSnap {
        assert!(i <= self.narenas);
        // SAFETY: as in `arena`, and we hold the snapshot mutably.
        unsafe { &mut *self.arenas.add(i) }
    }

    /// Bin `j` of arena `i`.
    pub fn bin(&self, i: usize, j: usize) -> &BinStats {
        &self.arena(i).bins()[j]
    }

    /// Large class `j` (runs of `j + 1` pages) of arena `i`.
    pub fn lrun(&self, i: usize, j: usize) -> &LargeStats {
        &self.arena(i).lruns()[j]
    }

    /// Copies the live counters in and advances the epoch.
    fn refresh(&mut self) {
        let g = g();
        let n = self.narenas;
        self.arena_mut(n).clear();
        for i in 0..n {
            let Some(a) = arena::get(i) else {
                self.arena_mut(i).initialized = false;
                continue;
            };
            let snap = self.arena_mut(i);
            snap.clear();
            snap.initialized = true;
            snap.nthreads = a.nthreads.load(Ordering::Relaxed) as u32;
            for (j, out) in snap.bins_mut().iter_mut().enumerate() {
                let bin = a.bin(j);
                bin.lock.lock();
                // SAFETY: bin lock held.
                *out = unsafe { bin.locked().stats };
                bin.lock.unlock();
            }
            a.lock.lock();
            {
                // SAFETY: arena lock held.
                let st = unsafe { a.state() };
                snap.pactive = st.nactive;
                snap.pdirty = st.ndirty;
                snap.astats = st.stats;
                for (j, out) in snap.lruns_mut().iter_mut().enumerate() {
                    // SAFETY: arena lock held; j + 1 <= nlclasses.
                    *out = unsafe { *a.lstats(j + 1) };
                }
            }
            a.unlock();
            let mut small = SmallTotals::default();
            for b in snap.bins() {
                small.allocated += b.allocated;
                small.nmalloc += b.nmalloc;
                small.ndalloc += b.ndalloc;
                small.nrequests += b.nrequests;
            }
            snap.small = small;
            // SAFETY: entries i < n and n are distinct.
            let (snap, sum) = unsafe { (&*self.arenas.add(i), &mut *self.arenas.add(n)) };
            snap.merge_into(sum);
        }
        self.chunks_current = crate::chunk::CURRENT.load(Ordering::Relaxed);
        self.chunks_total = crate::chunk::TOTAL.load(Ordering::Relaxed) as u64;
        self.chunks_high = crate::chunk::HIGH.load(Ordering::Relaxed);
        self.huge = *crate::huge::STATS.lock();
        let sum = self.arena(n);
        let (allocated, pactive) = (sum.small.allocated + sum.astats.allocated_large, sum.pactive);
        self.allocated = allocated + self.huge.allocated;
        self.active = (pactive << crate::size_classes::LG_PAGE) + self.huge.allocated;
        self.mapped = self.chunks_current << g.sc.lg_chunk;
        #[cfg(feature = "swap")]
        {
            self.swap_avail = crate::chunk::swap::avail();
        }
        self.epoch += 1;
    }
}

struct Cell(Option<Snapshot>);

static CTL: Mutex<Cell> = Mutex::new(Cell(None));
/// Set once the snapshot exists, so that later calls need not take the lock to learn it.
static READY: AtomicBool = AtomicBool::new(false);

pub(super) fn lock() -> &'static RawMutex {
    CTL.raw()
}

/// Makes the snapshot if there is none yet. EAGAIN when base memory runs out.
pub(super) fn ensure() -> Result<()> {
    if READY.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut cell = CTL.lock();
    if cell.0.is_some() {
        return Ok(());
    }
    let s = make().ok_or(Error::Again)?;
    cell.0 = Some(s);
    if let Some(s) = cell.0.as_mut() {
        s.refresh();
    }
    READY.store(true, Ordering::Release);
    Ok(())
}

fn make() -> Option<Snapshot> {
    let g = g();
    let n = g.narenas();
    let arenas = crate::base::alloc((n + 1) * core::mem::size_of::<ArenaSnap>()) as *mut ArenaSnap;
    if arenas.is_null() {
        return None;
    }
    for i in 0..=n {
        let bstats = crate::base::alloc(g.sc.nbins * core::mem::size_of::<BinStats>()) as *mut BinStats;
        let lstats = crate::base::alloc(g.sc.nlclasses * core::mem::size_of::<LargeStats>()) as *mut LargeStats;
        if bstats.is_null() || lstats.is_null() {
            return None;
        }
        // SAFETY: entry i of a fresh base block of n + 1 entries; zeroed base memory is a valid
        // (all-zero) value for the counter arrays.
        unsafe {
            arenas.add(i).write(ArenaSnap {
                initialized: i == n,
                nthreads: 0,
                pactive: 0,
                pdirty: 0,
                astats: ArenaStats::default(),
                small: SmallTotals::default(),
                bstats,
                lstats,
            })
        };
    }
    Some(Snapshot {
        epoch: 0,
        narenas: n,
        arenas,
        chunks_current: 0,
        chunks_total: 0,
        chunks_high: 0,
        huge: HugeStats::default(),
        allocated: 0,
        active: 0,
        mapped: 0,
        swap_avail: 0,
    })
}

/// Runs `f` on the snapshot under the ctl lock.
pub(super) fn with<R>(f: impl FnOnce(&Snapshot) -> R) -> Result<R> {
    let cell = CTL.lock();
    cell.0.as_ref().map(f).ok_or(Error::Again)
}

/// Refreshes the snapshot (optionally) and returns the epoch.
pub(super) fn epoch(refresh: bool) -> Result<u64> {
    let mut cell = CTL.lock();
    let s = cell.0.as_mut().ok_or(Error::Again)?;
    if refresh {
        s.refresh();
    }
    Ok(s.epoch)
}

/// Whether arena `i` existed at the last refresh (`i == narenas`, the sum, always does).
pub(super) fn arena_initialized(i: usize) -> bool {
    with(|s| i <= s.narenas && s.arena(i).initialized).unwrap_or(false)
}

/// Copies `initialized` flags of the first `out.len()` arenas as of the last refresh.
pub(super) fn initialized(out: &mut [bool]) -> Result<()> {
    with(|s| {
        for (i, o) in out.iter_mut().enumerate().take(s.narenas) {
            *o = s.arena(i).initialized;
        }
    })
}
