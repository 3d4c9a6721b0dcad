//! The chunk header and its page map: constant-time metadata for any pointer into a chunk.
//!
//! Mirrors jemalloc 2.2.1 `arena_chunk_t` / `arena_chunk_map_t`. An arena chunk starts with a
//! [`ChunkHeader`] followed by one [`MapEntry`] per page that is not header. Every entry says
//! whether its page is free, backs a small run (and which run) or a large run (and its length).
//! The first and last entries of a free run carry the run's length so that neighbours coalesce
//! in O(1); the first entry of a free run also links it into its arena's free-run index.
//! The map is guarded by the owning arena's lock, except the entries of small runs, which are
//! written once when the run is created and read lock-free by `free`.

use crate::arena::Arena;
use crate::size_classes::{LG_PAGE, PAGE};
use core::mem::size_of;

/// The page is part of an allocated run (small or large) or held by a purge in progress.
pub const ALLOCATED: usize = 1 << 0;
/// The page belongs to a large run.
pub const LARGE: usize = 1 << 1;
/// The page may hold non-zero data: free but not yet purged, or never purged since use.
pub const DIRTY: usize = 1 << 2;
/// The page belongs to a small run; the small bin index is in the value field.
pub const SMALL: usize = 1 << 3;
const FLAG_BITS: u32 = 4;
const FLAG_MASK: usize = (1 << FLAG_BITS) - 1;

/// One page's metadata. 24 bytes: with the header this makes 6 header pages in a 4 MiB chunk,
/// the 4072 KiB largest large class of the manual's Table 1.
#[repr(C)]
pub struct MapEntry {
    /// Flags in the low bits, a value (run length in pages, or small bin index) above them.
    pub bits: usize,
    /// Free runs: next and previous free run of the same chunk and size class. Small runs:
    /// `link[0]` is the run header, `link[1]` unused.
    pub link: [*mut MapEntry; 2],
}

impl MapEntry {
    #[inline(always)]
    pub fn flags(&self) -> usize {
        self.bits & FLAG_MASK
    }

    #[inline(always)]
    pub fn value(&self) -> usize {
        self.bits >> FLAG_BITS
    }

    #[inline(always)]
    pub fn set(&mut self, flags: usize, value: usize) {
        self.bits = (value << FLAG_BITS) | flags;
    }

    #[inline(always)]
    pub fn is_allocated(&self) -> bool {
        self.bits & ALLOCATED != 0
    }

    #[inline(always)]
    pub fn is_dirty(&self) -> bool {
        self.bits & DIRTY != 0
    }
}

/// The fixed part at the start of every arena chunk.
#[repr(C)]
pub struct ChunkHeader {
    /// The arena owning the chunk; set once, never changed.
    pub arena: *mut Arena,
    /// Links in the arena's list of empty chunks or its queue of chunks to unmap (arena lock).
    pub next: *mut ChunkHeader,
    pub prev: *mut ChunkHeader,
    /// Dirty free pages in this chunk (arena lock).
    pub ndirty: usize,
    /// Pages in allocated runs (arena lock); the chunk is empty when this drops to zero.
    pub nused: usize,
    /// The chunk's slot in its arena's free-run index while attached to it (arena lock).
    pub slot: *mut crate::free_runs::Slot,
}

/// Pages that the header and page map of a chunk of `chunk_pages` pages occupy: the fewest
/// pages that hold the header plus one map entry per remaining page.
pub const fn header_pages(chunk_pages: usize) -> usize {
    let mut h = 1;
    while size_of::<ChunkHeader>() + (chunk_pages - h) * size_of::<MapEntry>() > h * PAGE {
        h += 1;
    }
    h
}

/// A chunk-aligned pointer to an arena chunk's header, with the geometry to index its map.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Chunk(pub *mut ChunkHeader);

impl Chunk {
    /// The chunk containing `ptr`.
    #[inline(always)]
    pub fn containing(ptr: *const u8, chunk_mask: usize) -> Chunk {
        Chunk((ptr as usize & !chunk_mask) as *mut ChunkHeader)
    }

    /// Page index of `ptr` within this chunk.
    #[inline(always)]
    pub fn page_of(self, ptr: *const u8) -> usize {
        (ptr as usize - self.0 as usize) >> LG_PAGE
    }

    #[inline(always)]
    pub fn page_addr(self, page: usize) -> *mut u8 {
        (self.0 as usize + (page << LG_PAGE)) as *mut u8
    }

    /// The map entry of page `page` (which must not be a header page).
    ///
    /// # Safety
    /// `self` is a live arena chunk and `header_pages <= page < chunk_pages`.
    #[inline(always)]
    pub unsafe fn entry(self, page: usize, header_pages: usize) -> *mut MapEntry {
        // SAFETY: the map follows the header and has an entry for every non-header page.
        unsafe { (self.0.add(1) as *mut MapEntry).add(page - header_pages) }
    }

    /// The page whose map entry is `e`.
    #[inline(always)]
    pub fn page_of_entry(self, e: *const MapEntry, header_pages: usize) -> usize {
        let first = self.0 as usize + size_of::<ChunkHeader>();
        (e as usize - first) / size_of::<MapEntry>() + header_pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_chunk_has_six_header_pages() {
        // 4 MiB chunks: the manual's Table 1 ends large classes at 4072 KiB.
        assert_eq!(header_pages(1024), 6);
        assert_eq!(size_of::<MapEntry>(), 24);
    }

    #[test]
    fn header_fits_for_all_chunk_sizes() {
        for lg in crate::size_classes::MIN_LG_CHUNK..=crate::size_classes::MAX_LG_CHUNK {
            let pages = 1usize << (lg - LG_PAGE);
            let h = header_pages(pages);
            assert!(h < pages, "lg_chunk {lg}");
            assert!(size_of::<ChunkHeader>() + (pages - h) * size_of::<MapEntry>() <= h * PAGE);
            assert!(h == 1 || size_of::<ChunkHeader>() + (pages - h + 1) * size_of::<MapEntry>() > (h - 1) * PAGE);
        }
    }
}
