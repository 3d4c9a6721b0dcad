//! `libjemalloc_rs.so`: the jemalloc 2.2.1 C API, unprefixed, or with the feature `je_prefix`
//! prefixed with `je_` (`je_malloc`, `je_mallctl`, ..., as 2.2.1's
//! `--with-jemalloc-prefix=je_`), for programs that use it beside the C library's malloc.
//!
//! Each export forwards to the engine crate's function of the same name; the engine does the
//! work and never unwinds (this library is built with `panic = "abort"` in release, and an
//! `extern "C"` function aborts rather than unwind in any profile). Loading this library with
//! `LD_PRELOAD` replaces a program's allocator; `allocator/include/jemalloc/jemalloc.h`
//! declares the API for C programs linking it. Besides the functions it exports the manual's two
//! variables, `malloc_message` and `malloc_conf`.

use core::ffi::{c_char, c_int, c_void};
use engine::message::MessageFn;
use engine::{api, ctl};

/// # Safety
/// As C's `malloc`.
#[export_name = engine::c_name!("malloc")]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::malloc(size) }
}

/// # Safety
/// As C's `calloc`.
#[export_name = engine::c_name!("calloc")]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::calloc(n, size) }
}

/// # Safety
/// As POSIX `posix_memalign`.
#[export_name = engine::c_name!("posix_memalign")]
pub unsafe extern "C" fn posix_memalign(memptr: *mut *mut c_void, alignment: usize, size: usize) -> c_int {
    // SAFETY: same contract.
    unsafe { api::posix_memalign(memptr, alignment, size) }
}

/// # Safety
/// As C11 `aligned_alloc`.
#[export_name = engine::c_name!("aligned_alloc")]
pub unsafe extern "C" fn aligned_alloc(alignment: usize, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::aligned_alloc(alignment, size) }
}

/// # Safety
/// As `memalign`.
#[export_name = engine::c_name!("memalign")]
pub unsafe extern "C" fn memalign(alignment: usize, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::memalign(alignment, size) }
}

/// # Safety
/// As `valloc`.
#[export_name = engine::c_name!("valloc")]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::valloc(size) }
}

/// # Safety
/// As glibc's `pvalloc`. Exported by the unprefixed build only, so that memory glibc's own
/// `pvalloc` would return never reaches this library's `free` (the prefixed build keeps it
/// unexported: there glibc's allocator stays the program's).
#[cfg_attr(not(feature = "je_prefix"), no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::pvalloc(size) }
}

/// # Safety
/// As C's `realloc`.
#[export_name = engine::c_name!("realloc")]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { api::realloc(p, size) }
}

/// # Safety
/// As C's `free`.
#[export_name = engine::c_name!("free")]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: same contract.
    unsafe { api::free(p) }
}

/// # Safety
/// As glibc's `malloc_usable_size`.
#[export_name = engine::c_name!("malloc_usable_size")]
pub unsafe extern "C" fn malloc_usable_size(p: *const c_void) -> usize {
    // SAFETY: same contract.
    unsafe { api::malloc_usable_size(p) }
}

/// # Safety
/// As the manual's `allocm`.
#[export_name = engine::c_name!("allocm")]
pub unsafe extern "C" fn allocm(p: *mut *mut c_void, rsize: *mut usize, size: usize, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { api::allocm(p, rsize, size, flags) }
}

/// # Safety
/// As the manual's `rallocm`.
#[export_name = engine::c_name!("rallocm")]
pub unsafe extern "C" fn rallocm(p: *mut *mut c_void, rsize: *mut usize, size: usize, extra: usize, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { api::rallocm(p, rsize, size, extra, flags) }
}

/// # Safety
/// As the manual's `sallocm`.
#[export_name = engine::c_name!("sallocm")]
pub unsafe extern "C" fn sallocm(p: *const c_void, rsize: *mut usize, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { api::sallocm(p, rsize, flags) }
}

/// # Safety
/// As the manual's `dallocm`.
#[export_name = engine::c_name!("dallocm")]
pub unsafe extern "C" fn dallocm(p: *mut c_void, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { api::dallocm(p, flags) }
}

/// # Safety
/// As the manual's `mallctl`.
#[export_name = engine::c_name!("mallctl")]
pub unsafe extern "C" fn mallctl(
    name: *const c_char,
    oldp: *mut c_void,
    oldlenp: *mut usize,
    newp: *mut c_void,
    newlen: usize,
) -> c_int {
    // SAFETY: same contract.
    unsafe { ctl::mallctl(name, oldp, oldlenp, newp, newlen) }
}

/// # Safety
/// As the manual's `mallctlnametomib`.
#[export_name = engine::c_name!("mallctlnametomib")]
pub unsafe extern "C" fn mallctlnametomib(name: *const c_char, mibp: *mut usize, miblenp: *mut usize) -> c_int {
    // SAFETY: same contract.
    unsafe { ctl::nametomib(name, mibp, miblenp) }
}

/// # Safety
/// As the manual's `mallctlbymib`.
#[export_name = engine::c_name!("mallctlbymib")]
pub unsafe extern "C" fn mallctlbymib(
    mib: *const usize,
    miblen: usize,
    oldp: *mut c_void,
    oldlenp: *mut usize,
    newp: *mut c_void,
    newlen: usize,
) -> c_int {
    // SAFETY: same contract.
    unsafe { ctl::bymib(mib, miblen, oldp, oldlenp, newp, newlen) }
}

/// # Safety
/// As the manual's `malloc_stats_print`.
#[export_name = engine::c_name!("malloc_stats_print")]
pub unsafe extern "C" fn malloc_stats_print(write_cb: Option<MessageFn>, cbopaque: *mut c_void, opts: *const c_char) {
    // SAFETY: same contract.
    unsafe { engine::stats_print::malloc_stats_print(write_cb, cbopaque, opts) }
}

/// The manual's `malloc_message` variable: every diagnostic and the default statistics report go
/// through the function it holds, which a program may replace by assigning it. The engine reads
/// it afresh for each message (through the dynamic symbol, so a program's copy of the variable
/// is the one read).
#[export_name = engine::c_name!("malloc_message")]
#[allow(non_upper_case_globals)]
#[used]
pub static mut malloc_message: Option<MessageFn> = Some(engine::message::write_stderr);

/// The manual's `malloc_conf`: a program that defines its own `const char *malloc_conf`
/// overrides this null default, and start-up reads the program's string first.
#[export_name = engine::c_name!("malloc_conf")]
#[allow(non_upper_case_globals)]
#[used]
pub static mut malloc_conf: *const c_char = core::ptr::null();

/// Tells the heap profiler which functions are this library's entry points, so that its
/// backtraces start at their callers. Runs when the library is loaded (before `main`); it
/// only stores addresses.
extern "C" fn register_entry_points() {
    engine::prof::register_entry_points(&[
        malloc as *const () as usize,
        calloc as *const () as usize,
        posix_memalign as *const () as usize,
        aligned_alloc as *const () as usize,
        memalign as *const () as usize,
        valloc as *const () as usize,
        pvalloc as *const () as usize,
        realloc as *const () as usize,
        allocm as *const () as usize,
        rallocm as *const () as usize,
    ]);
}

#[used]
#[link_section = ".init_array"]
static REGISTER_ENTRY_POINTS: extern "C" fn() = register_entry_points;
