//! Size classes: the manual's Table 1, computed from `opt.lg_chunk`, `opt.lg_qspace_max` and
//! `opt.lg_cspace_max`.
//!
//! Mirrors jemalloc 2.2.1 `arena_boot()`/`bin_info_init()`: tiny, quantum-spaced,
//! cacheline-spaced and subpage-spaced small classes, page-multiple large classes up to what
//! fits in a chunk after its header, and chunk-multiple huge classes. Every table here is derived
//! from the options; nothing is typed in. [`SizeClasses`] is plain data, computed once at start-up
//! by [`SizeClasses::new`] and read without locks afterwards. `jemctl sizeclasses` prints it from
//! the same code.

use crate::chunk_map;

/// log2 of the page size. x86-64 and aarch64 Linux with 4 KiB pages.
pub const LG_PAGE: u32 = 12;
pub const PAGE: usize = 1 << LG_PAGE;
pub const PAGE_MASK: usize = PAGE - 1;
/// log2 of the quantum: 16 bytes on 64-bit systems.
pub const LG_QUANTUM: u32 = 4;
pub const QUANTUM: usize = 1 << LG_QUANTUM;
/// Tiny classes start at `sizeof(void *)`.
pub const LG_TINY_MIN: u32 = 3;
pub const LG_CACHELINE: u32 = 6;
pub const CACHELINE: usize = 1 << LG_CACHELINE;
pub const LG_SUBPAGE: u32 = 8;
pub const SUBPAGE: usize = 1 << LG_SUBPAGE;

/// Most small bins there can be: every class is at least 8 bytes apart below a page.
pub const MAX_BINS: usize = PAGE / 8;
/// Entries of the size -> bin lookup table: one per 8 bytes up to a page.
pub const SIZE2BIN_LEN: usize = PAGE / 8 + 1;
/// A run holds at most this many regions (a two-level bitmap of 64 x 64 bits).
pub const RUN_MAX_REGS: usize = 64 * 64;
/// Small runs are at most this many pages.
pub const RUN_MAX_PAGES: usize = 8;
/// Accept the first run size whose wasted fraction is at most 1/64 (jemalloc's 1.5%).
const RUN_MAX_WASTE_SHIFT: u32 = 6;

/// Defaults from the manual.
pub const DEFAULT_LG_CHUNK: u32 = 22;
pub const DEFAULT_LG_QSPACE_MAX: u32 = 7;
pub const DEFAULT_LG_CSPACE_MAX: u32 = 9;
/// The chunk must leave room for a header and at least one large page run.
pub const MIN_LG_CHUNK: u32 = LG_PAGE + 2;
/// Past 2^30 a chunk's page indices no longer fit the 18 bits the page map gives them.
pub const MAX_LG_CHUNK: u32 = 30;

/// Which Table 1 row a small bin belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallKind {
    Tiny,
    Quantum,
    Cacheline,
    Subpage,
}

impl SmallKind {
    pub fn name(self) -> &'static str {
        match self {
            SmallKind::Tiny => "tiny",
            SmallKind::Quantum => "quantum-spaced",
            SmallKind::Cacheline => "cacheline-spaced",
            SmallKind::Subpage => "subpage-spaced",
        }
    }
}

/// Geometry of one small bin's runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinInfo {
    pub kind: SmallKind,
    /// Region size, the class size.
    pub reg_size: u32,
    /// Alignment every region of this bin has: the largest power of two dividing `reg_size`.
    pub reg_align: u32,
    /// Pages per run.
    pub run_pages: u32,
    /// Regions per run.
    pub nregs: u32,
    /// Offset of region 0 from the run's start; the run header lives below it.
    pub reg0_offset: u32,
    /// `ceil(2^32 / reg_size)`: turns a byte offset into a region index without dividing.
    pub reg_size_inv: u32,
    /// 64-bit words in the run's region bitmap.
    pub bitmap_words: u32,
}

impl BinInfo {
    pub const EMPTY: BinInfo = BinInfo {
        kind: SmallKind::Tiny,
        reg_size: 0,
        reg_align: 0,
        run_pages: 0,
        nregs: 0,
        reg0_offset: 0,
        reg_size_inv: 0,
        bitmap_words: 0,
    };

    pub fn run_size(&self) -> usize {
        self.run_pages as usize * PAGE
    }

    /// Region index of the byte at `offset` from region 0.
    #[inline(always)]
    pub fn region_index(&self, offset: usize) -> usize {
        ((offset as u64 * self.reg_size_inv as u64) >> 32) as usize
    }
}

/// Why a combination of options cannot give size classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeClassError {
    LgChunk,
    LgQspaceMax,
    LgCspaceMax,
}

impl SizeClassError {
    pub fn message(self) -> &'static str {
        match self {
            SizeClassError::LgChunk => "lg_chunk must be between 14 and 30",
            SizeClassError::LgQspaceMax => "lg_qspace_max must be between 4 and 10",
            SizeClassError::LgCspaceMax => {
                "lg_cspace_max must be greater than lg_qspace_max, at least 6 and at most 11"
            }
        }
    }
}

/// All size classes for one choice of options.
#[derive(Clone, Debug)]
pub struct SizeClasses {
    pub lg_chunk: u32,
    pub chunk_size: usize,
    pub lg_qspace_max: u32,
    pub lg_cspace_max: u32,

    pub tspace_min: usize,
    pub tspace_max: usize,
    pub qspace_min: usize,
    pub qspace_max: usize,
    pub cspace_min: usize,
    pub cspace_max: usize,
    pub sspace_min: usize,
    pub sspace_max: usize,

    pub ntbins: usize,
    pub nqbins: usize,
    pub ncbins: usize,
    pub nsbins: usize,
    pub nbins: usize,

    /// Pages at the start of each arena chunk that hold its header and page map.
    pub chunk_header_pages: usize,
    /// Pages per chunk.
    pub chunk_pages: usize,
    /// The largest large class: a chunk less its header.
    pub arena_maxclass: usize,
    /// Number of large classes (`arenas.nlruns`): one per page up to `arena_maxclass`.
    pub nlclasses: usize,

    pub bins: [BinInfo; MAX_BINS],
    /// `size2bin[(size + 7) >> 3]` is the bin of a small `size`.
    pub size2bin: [u8; SIZE2BIN_LEN],
}

impl SizeClasses {
    /// Size classes for the given options, or which option is out of range.
    pub fn new(lg_chunk: u32, lg_qspace_max: u32, lg_cspace_max: u32) -> Result<Self, SizeClassError> {
        if !(MIN_LG_CHUNK..=MAX_LG_CHUNK).contains(&lg_chunk) {
            return Err(SizeClassError::LgChunk);
        }
        if !(LG_QUANTUM..LG_PAGE - 1).contains(&lg_qspace_max) {
            return Err(SizeClassError::LgQspaceMax);
        }
        if lg_cspace_max <= lg_qspace_max || !(LG_CACHELINE..LG_PAGE).contains(&lg_cspace_max) {
            return Err(SizeClassError::LgCspaceMax);
        }
        let chunk_size = 1usize << lg_chunk;
        let chunk_pages = chunk_size >> LG_PAGE;
        let chunk_header_pages = chunk_map::header_pages(chunk_pages);
        let arena_maxclass = chunk_size - (chunk_header_pages << LG_PAGE);

        let tspace_min = 1 << LG_TINY_MIN;
        let tspace_max = QUANTUM >> 1;
        let ntbins = if cfg!(feature = "tiny") { (LG_QUANTUM - LG_TINY_MIN) as usize } else { 0 };
        let qspace_min = QUANTUM;
        let qspace_max = 1usize << lg_qspace_max;
        let nqbins = qspace_max >> LG_QUANTUM;
        let cspace_min = (qspace_max + 1 + CACHELINE - 1) & !(CACHELINE - 1);
        let cspace_max = 1usize << lg_cspace_max;
        let ncbins = if cspace_max >= cspace_min { ((cspace_max - cspace_min) >> LG_CACHELINE) + 1 } else { 0 };
        let sspace_min = (cspace_max + 1 + SUBPAGE - 1) & !(SUBPAGE - 1);
        let sspace_max = PAGE - SUBPAGE;
        let nsbins = if sspace_max >= sspace_min { ((sspace_max - sspace_min) >> LG_SUBPAGE) + 1 } else { 0 };
        let nbins = ntbins + nqbins + ncbins + nsbins;

        let mut sc = SizeClasses {
            lg_chunk,
            chunk_size,
            lg_qspace_max,
            lg_cspace_max,
            tspace_min,
            tspace_max,
            qspace_min,
            qspace_max,
            cspace_min,
            cspace_max,
            sspace_min,
            sspace_max,
            ntbins,
            nqbins,
            ncbins,
            nsbins,
            nbins,
            chunk_header_pages,
            chunk_pages,
            arena_maxclass,
            nlclasses: arena_maxclass >> LG_PAGE,
            bins: [BinInfo::EMPTY; MAX_BINS],
            size2bin: [0; SIZE2BIN_LEN],
        };
        let mut i = 0;
        let max_run_pages = chunk_pages - chunk_header_pages;
        let mut push = |kind, size: usize| {
            sc.bins[i] = bin_info(kind, size, max_run_pages);
            i += 1;
        };
        for lg in LG_TINY_MIN..LG_TINY_MIN + ntbins as u32 {
            push(SmallKind::Tiny, 1 << lg);
        }
        for k in 1..=nqbins {
            push(SmallKind::Quantum, k << LG_QUANTUM);
        }
        for k in 0..ncbins {
            push(SmallKind::Cacheline, cspace_min + (k << LG_CACHELINE));
        }
        for k in 0..nsbins {
            push(SmallKind::Subpage, sspace_min + (k << LG_SUBPAGE));
        }
        debug_assert_eq!(i, nbins);
        let mut bin = 0;
        for (slot, entry) in sc.size2bin.iter_mut().enumerate() {
            let size = (slot << 3).max(1);
            if size > sspace_max {
                break;
            }
            while (sc.bins[bin].reg_size as usize) < size {
                bin += 1;
            }
            *entry = bin as u8;
        }
        Ok(sc)
    }

    /// The default classes (the manual's Table 1).
    pub fn default_classes() -> Self {
        match Self::new(DEFAULT_LG_CHUNK, DEFAULT_LG_QSPACE_MAX, DEFAULT_LG_CSPACE_MAX) {
            Ok(sc) => sc,
            Err(_) => unreachable!("the defaults are in range"),
        }
    }

    pub fn bins(&self) -> &[BinInfo] {
        &self.bins[..self.nbins]
    }

    /// The small bin for `1..=sspace_max` bytes.
    #[inline(always)]
    pub fn small_bin(&self, size: usize) -> usize {
        debug_assert!(size <= self.sspace_max);
        self.size2bin[(size + 7) >> 3] as usize
    }

    /// The usable size a request of `size` bytes gets (its class), or None if no class holds it.
    pub fn usable_size(&self, size: usize) -> Option<usize> {
        let size = size.max(1);
        if size <= self.sspace_max {
            Some(self.bins[self.small_bin(size)].reg_size as usize)
        } else if size <= self.arena_maxclass {
            Some((size + PAGE_MASK) & !PAGE_MASK)
        } else {
            chunk_ceiling(size, self.chunk_size)
        }
    }

    /// The usable size of a request of `size` bytes aligned to `alignment` (a power of two), or
    /// None if no class holds it. Mirrors jemalloc's `sa2u()`.
    pub fn aligned_usable_size(&self, size: usize, alignment: usize) -> Option<usize> {
        debug_assert!(alignment.is_power_of_two());
        let size = size.max(1);
        if alignment <= PAGE {
            // A multiple of the alignment rounds up to a class that is itself such a multiple,
            // and every region of a small class is aligned to the largest power of two
            // dividing its size.
            let rounded = size.checked_add(alignment - 1)? & !(alignment - 1);
            return self.usable_size(rounded);
        }
        // Larger alignments take a page run trimmed to the alignment, or chunks.
        let pages = size.checked_add(PAGE_MASK)? & !PAGE_MASK;
        if pages.checked_add(alignment - PAGE)? <= self.arena_maxclass {
            Some(pages)
        } else {
            chunk_ceiling(pages, self.chunk_size)
        }
    }
}

/// `size` rounded up to a multiple of the chunk size, if that is a size an object may have.
pub fn chunk_ceiling(size: usize, chunk_size: usize) -> Option<usize> {
    let c = size.checked_add(chunk_size - 1)? & !(chunk_size - 1);
    if c == 0 || c > isize::MAX as usize {
        None
    } else {
        Some(c)
    }
}

/// Bytes a run header with `nregs` regions needs: see `bin::RunHeader`.
pub fn run_header_size(nregs: usize) -> usize {
    crate::bin::RUN_HEADER_FIXED + 8 * nregs.div_ceil(64)
}

/// The run geometry of a class; a run has at most `max_pages` pages, what a chunk holds after
/// its header (small chunks hold fewer than `RUN_MAX_PAGES`).
fn bin_info(kind: SmallKind, reg_size: usize, max_pages: usize) -> BinInfo {
    let reg_align = (1usize << reg_size.trailing_zeros()).min(PAGE);
    let layout = |pages: usize| {
        let run_size = pages * PAGE;
        // The header grows with the region count, so settle the count from above.
        let mut nregs = (run_size / reg_size).min(RUN_MAX_REGS);
        loop {
            let reg0 = (run_header_size(nregs) + reg_align - 1) & !(reg_align - 1);
            if reg0 + nregs * reg_size <= run_size {
                return (nregs, reg0, run_size - nregs * reg_size);
            }
            nregs -= 1;
        }
    };
    let mut best = (1, layout(1));
    for pages in 1..=RUN_MAX_PAGES.min(max_pages) {
        let l = layout(pages);
        if l.0 == 0 {
            continue;
        }
        if best.1 .0 == 0 || l.2 * best.0 < best.1 .2 * pages {
            best = (pages, l);
        }
        if l.2 <= (pages * PAGE) >> RUN_MAX_WASTE_SHIFT {
            best = (pages, l);
            break;
        }
    }
    let (run_pages, (nregs, reg0, _)) = best;
    BinInfo {
        kind,
        reg_size: reg_size as u32,
        reg_align: reg_align as u32,
        run_pages: run_pages as u32,
        nregs: nregs as u32,
        reg0_offset: reg0 as u32,
        reg_size_inv: ((1u64 << 32).div_ceil(reg_size as u64)) as u32,
        bitmap_words: nregs.div_ceil(64) as u32,
    }
}

#[cfg(test)]
mod tests;
