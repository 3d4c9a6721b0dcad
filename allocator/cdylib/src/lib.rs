//! `libjemalloc_rs.so`: the jemalloc 2.2.1 C API, unprefixed.
//!
//! Each export forwards to the engine crate's function of the same name; the engine does the
//! work and never unwinds (this library is built with `panic = "abort"` in release, and an
//! `extern "C"` function aborts rather than unwind in any profile). Loading this library with
//! `LD_PRELOAD` replaces a program's allocator; `allocator/include/jemalloc/jemalloc.h`
//! declares the API for C programs linking it.

use core::ffi::{c_int, c_void};
use engine::api;

/// # Safety
/// As C's `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::malloc(size) }
}

/// # Safety
/// As C's `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::calloc(n, size) }
}

/// # Safety
/// As POSIX `posix_memalign`.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(memptr: *mut *mut c_void, alignment: usize, size: usize) -> c_int {
    // SAFETY: same contract.
    unsafe { api::posix_memalign(memptr, alignment, size) }
}

/// # Safety
/// As C11 `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(alignment: usize, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::aligned_alloc(alignment, size) }
}

/// # Safety
/// As `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(alignment: usize, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::memalign(alignment, size) }
}

/// # Safety
/// As `valloc`.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::valloc(size) }
}

/// # Safety
/// As C's `realloc`.
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::realloc(p, size) }
}

/// # Safety
/// As C's `free`.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: same contract.
    unsafe { api::free(p) }
}

/// # Safety
/// As glibc's `malloc_usable_size`.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *const c_void) -> usize {
    // SAFETY: same contract.
    unsafe { api::malloc_usable_size(p) }
}

/// # Safety
/// As the manual's `allocm`.
#[no_mangle]
pub unsafe extern "C" fn allocm(p: *mut *mut c_void, rsize: *mut usize, size: usize, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { api::allocm(p, rsize, size, flags) }
}

/// # Safety
/// As the manual's `rallocm`.
#[no_mangle]
pub unsafe extern "C" fn rallocm(p: *mut *mut c_void, rsize: *mut usize, size: usize, extra: usize, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { api::rallocm(p, rsize, size, extra, flags) }
}

/// # Safety
/// As the manual's `sallocm`.
#[no_mangle]
pub unsafe extern "C" fn sallocm(p: *const c_void, rsize: *mut usize, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { api::sallocm(p, rsize, flags) }
}

/// # Safety
/// As the manual's `dallocm`.
#[no_mangle]
pub unsafe extern "C" fn dallocm(p: *mut c_void, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { api::dallocm(p, flags) }
}
