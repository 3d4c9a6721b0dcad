//! `libjemctl_recorder.so`: preloaded into a program by `jemctl record`, it forwards each
//! allocator call to the allocator underneath and writes the call to a trace.
//!
//! Every export below is the C function of the same name: it calls the next definition
//! ([`real`], found with `dlsym(RTLD_NEXT)`), then [`trace::record`]s the event: its kind, its
//! sizes, alignment and flags, its result, the thread, and an order number shared by all
//! threads. Recording starts in the constructor when `JEMCTL_TRACE` names the trace file
//! (without it the library only forwards). The library never allocates: the trace is written
//! straight into shared file mappings, and the calls `dlsym` makes before the real functions
//! are known come from a static bootstrap arena. `malloc_usable_size` and `sallocm` allocate
//! nothing and are not interposed. The format: `docs/trace-format.md`.

mod real;
mod trace;

use core::ffi::{c_int, c_void};
use real::{bootstrap_alloc, is_bootstrap, real};
use trace::{next_seq, op, record, Event, Field};

/// Not `allocm`'s own: returned when the allocator underneath has no `*allocm` functions.
const ALLOCM_ERR_OOM: c_int = 1;

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

#[used]
#[link_section = ".fini_array"]
static DESTRUCTOR: extern "C" fn() = destructor;

extern "C" fn constructor() {
    let _ = real();
    trace::start();
}

extern "C" fn destructor() {
    trace::finish();
}

#[inline]
fn emit(op: u8, seq: u64, fields: [Field; 5]) {
    record(&Event { op, seq, fields });
}

fn num(v: usize) -> Field {
    Field::Num(v as u64)
}

fn ptr(p: *mut c_void) -> Field {
    Field::Ptr(p as u64)
}

/// # Safety
/// As C's `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    let Some(r) = real() else { return bootstrap_alloc(size, 16) };
    // SAFETY: forwarded with the caller's arguments.
    let p = unsafe { (r.malloc)(size) };
    emit(op::MALLOC, next_seq(), [num(size), ptr(p), Field::None, Field::None, Field::None]);
    p
}

/// # Safety
/// As C's `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(r) = real() else {
        return n.checked_mul(size).map_or(core::ptr::null_mut(), |total| bootstrap_alloc(total, 16));
    };
    // SAFETY: forwarded with the caller's arguments.
    let p = unsafe { (r.calloc)(n, size) };
    emit(op::CALLOC, next_seq(), [num(n), num(size), ptr(p), Field::None, Field::None]);
    p
}

/// # Safety
/// As C's `realloc`.
#[no_mangle]
pub unsafe extern "C" fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
    if is_bootstrap(old) {
        // SAFETY: a bootstrap block is never freed, so it can be copied from.
        return unsafe { realloc_bootstrap(old, size) };
    }
    let Some(r) = real() else { return bootstrap_alloc(size, 16) };
    // SAFETY: forwarded with the caller's arguments.
    let p = unsafe { (r.realloc)(old, size) };
    emit(op::REALLOC, next_seq(), [ptr(old), num(size), ptr(p), Field::None, Field::None]);
    p
}

/// Moves a bootstrap block to the real allocator (recorded as a `malloc`).
///
/// # Safety
/// `old` is a bootstrap block.
unsafe fn realloc_bootstrap(old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: old is a bootstrap block, so its size header is there.
    let old_size = unsafe { real::bootstrap_size(old) };
    // SAFETY: malloc has no preconditions.
    let p = unsafe { malloc(size) };
    if !p.is_null() {
        // SAFETY: both blocks hold at least min(size, old_size) bytes and do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(old.cast::<u8>(), p.cast::<u8>(), size.min(old_size)) };
    }
    p
}

/// # Safety
/// As C's `free`.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if is_bootstrap(p) {
        return;
    }
    let Some(r) = real() else { return };
    emit(op::FREE, next_seq(), [ptr(p), Field::None, Field::None, Field::None, Field::None]);
    // SAFETY: forwarded with the caller's argument. Ordered (above) before the block can be
    // reused.
    unsafe { (r.free)(p) }
}

/// # Safety
/// As POSIX `posix_memalign`.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let Some(r) = real() else {
        let p = bootstrap_alloc(size, align);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller passes a writable pointer.
        unsafe { *out = p };
        return 0;
    };
    // SAFETY: forwarded with the caller's arguments.
    let rc = unsafe { (r.posix_memalign)(out, align, size) };
    // SAFETY: on success the real function stored the block in *out.
    let p = if rc == 0 { unsafe { *out } } else { core::ptr::null_mut() };
    emit(op::POSIX_MEMALIGN, next_seq(), [num(align), num(size), ptr(p), Field::None, Field::None]);
    rc
}

/// An aligned allocation through `f`, or `posix_memalign` when the allocator underneath has no
/// such function; recorded as `kind`.
///
/// # Safety
/// As the C function being forwarded.
unsafe fn aligned(kind: u8, f: Option<real::AlignedFn>, align: usize, size: usize) -> *mut c_void {
    let Some(r) = real() else { return bootstrap_alloc(size, align) };
    let p = match f {
        // SAFETY: forwarded with the caller's arguments.
        Some(f) => unsafe { f(align, size) },
        None => {
            let mut p = core::ptr::null_mut();
            let a = align.max(core::mem::size_of::<usize>()).next_power_of_two();
            // SAFETY: p is writable; a is a power of two multiple of the pointer size.
            if unsafe { (r.posix_memalign)(&mut p, a, size) } != 0 {
                p = core::ptr::null_mut();
            }
            p
        }
    };
    emit(kind, next_seq(), [num(align), num(size), ptr(p), Field::None, Field::None]);
    p
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// # Safety
/// As C11 `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { aligned(op::ALIGNED_ALLOC, real().and_then(|r| r.aligned_alloc), align, size) }
}

/// # Safety
/// As `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: same contract.
    unsafe { aligned(op::MEMALIGN, real().and_then(|r| r.memalign), align, size) }
}

/// # Safety
/// As `valloc`.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    let Some(r) = real() else { return bootstrap_alloc(size, page_size()) };
    let Some(f) = r.valloc else {
        // SAFETY: same contract.
        return unsafe { aligned(op::VALLOC, None, page_size(), size) };
    };
    // SAFETY: forwarded with the caller's argument.
    let p = unsafe { f(size) };
    emit(op::VALLOC, next_seq(), [num(size), ptr(p), Field::None, Field::None, Field::None]);
    p
}

/// # Safety
/// As glibc's `pvalloc`.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let Some(r) = real() else { return bootstrap_alloc(size.next_multiple_of(page_size()), page_size()) };
    let Some(f) = r.pvalloc else {
        // SAFETY: same contract.
        return unsafe { aligned(op::PVALLOC, None, page_size(), size.next_multiple_of(page_size())) };
    };
    // SAFETY: forwarded with the caller's argument.
    let p = unsafe { f(size) };
    emit(op::PVALLOC, next_seq(), [num(size), ptr(p), Field::None, Field::None, Field::None]);
    p
}

/// # Safety
/// As jemalloc 2.2.1's `allocm`.
#[no_mangle]
pub unsafe extern "C" fn allocm(out: *mut *mut c_void, rsize: *mut usize, size: usize, flags: c_int) -> c_int {
    let Some(f) = real().and_then(|r| r.allocm) else { return ALLOCM_ERR_OOM };
    // SAFETY: forwarded with the caller's arguments.
    let rc = unsafe { f(out, rsize, size, flags) };
    // SAFETY: on success the real function stored the block in *out.
    let p = if rc == 0 { unsafe { *out } } else { core::ptr::null_mut() };
    emit(op::ALLOCM, next_seq(), [num(size), num(flags as u32 as usize), ptr(p), Field::None, Field::None]);
    rc
}

/// # Safety
/// As jemalloc 2.2.1's `rallocm`.
#[no_mangle]
pub unsafe extern "C" fn rallocm(
    inout: *mut *mut c_void,
    rsize: *mut usize,
    size: usize,
    extra: usize,
    flags: c_int,
) -> c_int {
    let Some(f) = real().and_then(|r| r.rallocm) else { return ALLOCM_ERR_OOM };
    // SAFETY: the caller passes a valid pointer to the block's pointer.
    let old = unsafe { *inout };
    // SAFETY: forwarded with the caller's arguments.
    let rc = unsafe { f(inout, rsize, size, extra, flags) };
    // SAFETY: as above; on success it holds the (possibly moved) block.
    let p = if rc == 0 { unsafe { *inout } } else { core::ptr::null_mut() };
    emit(op::RALLOCM, next_seq(), [ptr(old), num(size), num(extra), num(flags as u32 as usize), ptr(p)]);
    rc
}

/// # Safety
/// As jemalloc 2.2.1's `dallocm`.
#[no_mangle]
pub unsafe extern "C" fn dallocm(p: *mut c_void, flags: c_int) -> c_int {
    let Some(f) = real().and_then(|r| r.dallocm) else { return ALLOCM_ERR_OOM };
    emit(op::DALLOCM, next_seq(), [ptr(p), num(flags as u32 as usize), Field::None, Field::None, Field::None]);
    // SAFETY: forwarded with the caller's arguments.
    unsafe { f(p, flags) }
}
