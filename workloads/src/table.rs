//! The table of C allocation functions a workload calls.

use core::ffi::{c_int, c_void};

pub type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
pub type FreeFn = unsafe extern "C" fn(*mut c_void);
pub type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
pub type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
pub type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int;
pub type UsableSizeFn = unsafe extern "C" fn(*const c_void) -> usize;

/// One allocator's C API as function pointers. Every call a workload makes goes through one of
/// these, so no allocator gains from being inlined into the workload.
#[derive(Clone, Copy, Debug)]
pub struct AllocTable {
    pub malloc: MallocFn,
    pub free: FreeFn,
    pub realloc: ReallocFn,
    pub calloc: CallocFn,
    pub posix_memalign: PosixMemalignFn,
    /// Optional: not every allocator exports it.
    pub malloc_usable_size: Option<UsableSizeFn>,
}

extern "C" {
    #[link_name = "malloc_usable_size"]
    fn libc_malloc_usable_size(p: *const c_void) -> usize;
}

impl AllocTable {
    /// This project's engine, linked in, called through the same pointers as every other.
    pub fn jemalloc_rs() -> Self {
        use jemalloc_rs::api;
        AllocTable {
            malloc: api::malloc,
            free: api::free,
            realloc: api::realloc,
            calloc: api::calloc,
            posix_memalign: api::posix_memalign,
            malloc_usable_size: Some(api::malloc_usable_size),
        }
    }

    /// The C library's allocator (glibc's ptmalloc2 on Debian).
    pub fn system() -> Self {
        AllocTable {
            malloc: libc::malloc,
            free: libc::free,
            realloc: libc::realloc,
            calloc: libc::calloc,
            posix_memalign: libc::posix_memalign,
            malloc_usable_size: Some(libc_malloc_usable_size),
        }
    }
}
