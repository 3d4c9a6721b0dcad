//! Statistics counters, kept where the events happen and read by `ctl`.
//!
//! Mirrors jemalloc 2.2.1 `stats.h`: per-bin, per-large-class and per-arena counters, guarded
//! by the lock of the structure they live in (bin lock, arena lock), and process-wide chunk and
//! huge counters kept as atomics. With the `stats` feature off, [`STATS`] is false and every
//! update compiles away.

/// `stats.cactive`: bytes in active pages, each arena's share rounded up to whole chunks,
/// plus huge objects. Updated atomically as it changes; the manual's pointer points here.
pub static CACTIVE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Whether statistics are compiled in.
pub const STATS: bool = cfg!(feature = "stats");

/// `stats.arenas.<i>.bins.<j>.*` (bin lock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BinStats {
    /// Bytes in regions currently handed out by this bin (including those in thread caches).
    pub allocated: usize,
    pub nmalloc: u64,
    pub ndalloc: u64,
    pub nrequests: u64,
    pub nfills: u64,
    pub nflushes: u64,
    pub nruns: u64,
    pub nreruns: u64,
    pub highruns: usize,
    pub curruns: usize,
}

impl BinStats {
    pub fn merge(&mut self, o: &BinStats) {
        self.allocated += o.allocated;
        self.nmalloc += o.nmalloc;
        self.ndalloc += o.ndalloc;
        self.nrequests += o.nrequests;
        self.nfills += o.nfills;
        self.nflushes += o.nflushes;
        self.nruns += o.nruns;
        self.nreruns += o.nreruns;
        self.highruns += o.highruns;
        self.curruns += o.curruns;
    }
}

/// `stats.arenas.<i>.lruns.<j>.*` (arena lock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LargeStats {
    pub nmalloc: u64,
    pub ndalloc: u64,
    pub nrequests: u64,
    pub highruns: usize,
    pub curruns: usize,
}

impl LargeStats {
    pub fn merge(&mut self, o: &LargeStats) {
        self.nmalloc += o.nmalloc;
        self.ndalloc += o.ndalloc;
        self.nrequests += o.nrequests;
        self.highruns += o.highruns;
        self.curruns += o.curruns;
    }
}

/// `stats.arenas.<i>.*` apart from bins and large classes (arena lock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaStats {
    pub mapped: usize,
    pub npurge: u64,
    pub nmadvise: u64,
    pub purged: u64,
    pub allocated_large: usize,
    pub nmalloc_large: u64,
    pub ndalloc_large: u64,
    pub nrequests_large: u64,
}

impl ArenaStats {
    pub fn merge(&mut self, o: &ArenaStats) {
        self.mapped += o.mapped;
        self.npurge += o.npurge;
        self.nmadvise += o.nmadvise;
        self.purged += o.purged;
        self.allocated_large += o.allocated_large;
        self.nmalloc_large += o.nmalloc_large;
        self.ndalloc_large += o.ndalloc_large;
        self.nrequests_large += o.nrequests_large;
    }
}

/// Runs `f` only when statistics are compiled in.
#[inline(always)]
pub fn update(f: impl FnOnce()) {
    if STATS {
        f()
    }
}
