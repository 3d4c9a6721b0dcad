//! jemalloc-rs: the jemalloc 2.2.1 memory allocator, reimplemented in Rust.
//!
//! The specification is the jemalloc 2.2.1 manual. This crate is the engine: use it as a Rust
//! global allocator with
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: jemalloc_rs::Jemalloc = jemalloc_rs::Jemalloc;
//! ```
//!
//! or call the C-semantics functions in [`api`] directly. The sibling crate
//! `jemalloc_rs_cdylib` builds `libjemalloc_rs.so`, which exports the same functions
//! unprefixed (`malloc`, `free`, ...) for `LD_PRELOAD` and C programs; linking this crate alone
//! never replaces a program's C `malloc`.
//!
//! Layers, bottom up (each calls only downward): [`pages`] (the OS) -> [`chunk`], [`chunk_cache`]
//! and [`rtree`] -> [`arena`] with [`bin`] and [`large`], and [`huge`] -> [`thread`] -> [`api`]
//! and [`Jemalloc`]. [`base`] serves metadata to all of them; [`stats`] counters are kept in
//! place; [`ctl`], [`stats_print`] and [`report`] (an extension: reports to a descriptor) read
//! them. The crate depends on `core` and `libc` only and never allocates through itself.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

/// The public C name of `$name` (a string literal): `"je_"` followed by it in a build with the
/// feature `je_prefix` (jemalloc 2.2.1's `--with-jemalloc-prefix=je_`), else the name itself.
/// The C library exports and the program's variables the engine reads (`malloc_conf`,
/// `malloc_message`) are named through it.
#[cfg(feature = "je_prefix")]
#[macro_export]
macro_rules! c_name {
    ($name:literal) => {
        concat!("je_", $name)
    };
}

/// The public C name of `$name` (a string literal): `"je_"` followed by it in a build with the
/// feature `je_prefix` (jemalloc 2.2.1's `--with-jemalloc-prefix=je_`), else the name itself.
/// The C library exports and the program's variables the engine reads (`malloc_conf`,
/// `malloc_message`) are named through it.
#[cfg(not(feature = "je_prefix"))]
#[macro_export]
macro_rules! c_name {
    ($name:literal) => {
        $name
    };
}

pub mod api;
pub mod arena;
pub mod base;
pub mod bin;
pub mod chunk;
pub mod chunk_cache;
pub mod chunk_map;
pub mod conf;
pub mod ctl;
pub mod free_runs;
pub mod global;
pub mod huge;
pub mod large;
pub mod message;
pub mod mutex;
pub mod pages;
pub mod prof;
pub mod report;
pub mod rtree;
pub mod size_classes;
pub mod stats;
pub mod stats_print;
pub mod tcache;
pub mod thread;

use core::alloc::{GlobalAlloc, Layout};

/// The allocator as a Rust [`GlobalAlloc`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Jemalloc;

/// The `GlobalAlloc` methods, which the heap profiler's backtraces treat as allocator entry
/// points when they are not inlined.
pub(crate) fn global_alloc_entry_points() -> [usize; 4] {
    [
        <Jemalloc as GlobalAlloc>::alloc as unsafe fn(&Jemalloc, Layout) -> *mut u8 as *const () as usize,
        <Jemalloc as GlobalAlloc>::alloc_zeroed as unsafe fn(&Jemalloc, Layout) -> *mut u8 as *const () as usize,
        <Jemalloc as GlobalAlloc>::realloc as unsafe fn(&Jemalloc, *mut u8, Layout, usize) -> *mut u8 as *const () as usize,
        <Jemalloc as GlobalAlloc>::dealloc as unsafe fn(&Jemalloc, *mut u8, Layout) as *const () as usize,
    ]
}

/// Whether plain `malloc` already gives `layout`'s alignment: every class of 16 bytes or more
/// is 16-aligned, and the 8-byte class is 8-aligned.
#[inline(always)]
fn malloc_aligns(layout: &Layout) -> bool {
    layout.align() <= 8 || (layout.align() <= size_classes::QUANTUM && layout.size() > 8)
}

// SAFETY: every method forwards to the C-semantics API, which returns blocks of at least the
// requested size and alignment or null, and frees only what it returned.
unsafe impl GlobalAlloc for Jemalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain allocation calls have no preconditions.
        unsafe {
            if malloc_aligns(&layout) {
                api::malloc(layout.size()).cast()
            } else {
                let mut p = core::ptr::null_mut();
                if api::posix_memalign(&mut p, layout.align(), layout.size()) == 0 {
                    p.cast()
                } else {
                    core::ptr::null_mut()
                }
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in alloc; calloc zeroes the block.
        unsafe {
            if malloc_aligns(&layout) {
                api::calloc(1, layout.size()).cast()
            } else {
                let p = self.alloc(layout);
                if !p.is_null() {
                    core::ptr::write_bytes(p, 0, layout.size());
                }
                p
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator returned with `layout`; a
        // malloc-aligned small layout was served (and realloc'ed) by malloc for that size, so
        // the size names its class.
        unsafe {
            if malloc_aligns(&layout) && layout.size() <= api::SMALL_SIZED_MAX && layout.size() != 0 {
                api::free_small_sized(ptr.cast(), layout.size())
            } else {
                api::free(ptr.cast())
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block of `layout`; new_size is non-zero.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            if malloc_aligns(&new_layout) {
                return api::realloc(ptr.cast(), new_size).cast();
            }
            let mut p = ptr.cast();
            let flags = layout.align().trailing_zeros() as core::ffi::c_int;
            if api::rallocm(&mut p, core::ptr::null_mut(), new_size, 0, flags) == api::ALLOCM_SUCCESS {
                p.cast()
            } else {
                core::ptr::null_mut()
            }
        }
    }
}
