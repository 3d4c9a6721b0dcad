//! The allocator underneath: the next definition of each function after this library
//! (`dlsym(RTLD_NEXT, ...)`), resolved once, and the bootstrap arena that serves the calls made
//! while it is being resolved.
//!
//! `dlsym` itself may call `calloc` (glibc allocates its error buffer) before `calloc` is
//! known; those few calls are served from a static bump arena, whose blocks are never freed
//! to the real allocator and never recorded. Entry point: [`real`], which resolves on first use.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

pub type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
pub type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
pub type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
pub type FreeFn = unsafe extern "C" fn(*mut c_void);
pub type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int;
pub type AlignedFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
pub type AllocmFn = unsafe extern "C" fn(*mut *mut c_void, *mut usize, usize, c_int) -> c_int;
pub type RallocmFn = unsafe extern "C" fn(*mut *mut c_void, *mut usize, usize, usize, c_int) -> c_int;
pub type DallocmFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// The real functions. Those the allocator underneath lacks (the `*allocm` family, unless it
/// is jemalloc 2.x) are `None`.
pub struct Real {
    pub malloc: MallocFn,
    pub calloc: CallocFn,
    pub realloc: ReallocFn,
    pub free: FreeFn,
    pub posix_memalign: PosixMemalignFn,
    pub aligned_alloc: Option<AlignedFn>,
    pub memalign: Option<AlignedFn>,
    pub valloc: Option<MallocFn>,
    pub pvalloc: Option<MallocFn>,
    pub allocm: Option<AllocmFn>,
    pub rallocm: Option<RallocmFn>,
    pub dallocm: Option<DallocmFn>,
}

const UNRESOLVED: u8 = 0;
const RESOLVING: u8 = 1;
const RESOLVED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNRESOLVED);
static REAL: AtomicPtr<Real> = AtomicPtr::new(core::ptr::null_mut());
/// Storage of the one `Real`, written once by the resolving thread.
static mut REAL_STORAGE: core::mem::MaybeUninit<Real> = core::mem::MaybeUninit::uninit();

/// The real functions, or `None` while this thread is resolving them (the caller then uses
/// the bootstrap arena).
#[inline]
pub fn real() -> Option<&'static Real> {
    let r = REAL.load(Ordering::Acquire);
    if !r.is_null() {
        // SAFETY: REAL is set once, to REAL_STORAGE fully written, and never changed.
        return Some(unsafe { &*r });
    }
    resolve()
}

#[cold]
#[inline(never)]
fn resolve() -> Option<&'static Real> {
    match STATE.compare_exchange(UNRESOLVED, RESOLVING, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        // This thread is inside dlsym (or another thread is): serve from the bootstrap arena
        // until the pointers are there.
        Err(RESOLVING) => {
            return None;
        }
        Err(_) => {}
    }
    if STATE.load(Ordering::Acquire) == RESOLVED {
        // SAFETY: as in `real`.
        return Some(unsafe { &*REAL.load(Ordering::Acquire) });
    }
    // SAFETY: dlsym with RTLD_NEXT and NUL-terminated names; each non-null result is the
    // address of the C function of that name, whose signature is the standard one.
    let real = unsafe {
        let find = |name: &[u8]| libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast::<c_char>());
        let required = |name: &[u8]| {
            let p = find(name);
            if p.is_null() {
                fatal(b"<jemctl-recorder>: the allocator underneath lacks malloc, calloc, realloc, free or posix_memalign\n");
            }
            p
        };
        let optional = |name: &[u8]| {
            let p = find(name);
            (!p.is_null()).then_some(p)
        };
        Real {
            malloc: core::mem::transmute::<*mut c_void, MallocFn>(required(b"malloc\0")),
            calloc: core::mem::transmute::<*mut c_void, CallocFn>(required(b"calloc\0")),
            realloc: core::mem::transmute::<*mut c_void, ReallocFn>(required(b"realloc\0")),
            free: core::mem::transmute::<*mut c_void, FreeFn>(required(b"free\0")),
            posix_memalign: core::mem::transmute::<*mut c_void, PosixMemalignFn>(required(b"posix_memalign\0")),
            aligned_alloc: optional(b"aligned_alloc\0").map(|p| core::mem::transmute::<*mut c_void, AlignedFn>(p)),
            memalign: optional(b"memalign\0").map(|p| core::mem::transmute::<*mut c_void, AlignedFn>(p)),
            valloc: optional(b"valloc\0").map(|p| core::mem::transmute::<*mut c_void, MallocFn>(p)),
            pvalloc: optional(b"pvalloc\0").map(|p| core::mem::transmute::<*mut c_void, MallocFn>(p)),
            allocm: optional(b"allocm\0").map(|p| core::mem::transmute::<*mut c_void, AllocmFn>(p)),
            rallocm: optional(b"rallocm\0").map(|p| core::mem::transmute::<*mut c_void, RallocmFn>(p)),
            dallocm: optional(b"dallocm\0").map(|p| core::mem::transmute::<*mut c_void, DallocmFn>(p)),
        }
    };
    // SAFETY: only the thread that won the exchange above writes, once, before publishing.
    let stored = unsafe {
        let storage = &mut *core::ptr::addr_of_mut!(REAL_STORAGE);
        storage.write(real) as *mut Real
    };
    REAL.store(stored, Ordering::Release);
    STATE.store(RESOLVED, Ordering::Release);
    // SAFETY: just published.
    Some(unsafe { &*stored })
}

/// Writes `msg` to stderr and aborts: nothing can be forwarded without the real allocator.
pub fn fatal(msg: &[u8]) -> ! {
    // SAFETY: writing a valid buffer to fd 2, then aborting.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::abort()
    }
}

const BOOTSTRAP_BYTES: usize = 64 * 1024;

#[repr(C, align(64))]
struct Bootstrap([u8; BOOTSTRAP_BYTES]);

static mut BOOTSTRAP: Bootstrap = Bootstrap([0; BOOTSTRAP_BYTES]);
static BOOTSTRAP_USED: AtomicUsize = AtomicUsize::new(0);

/// Each bootstrap block is preceded by 16 bytes holding its size.
const BOOTSTRAP_HEADER: usize = 16;

fn bootstrap_base() -> usize {
    core::ptr::addr_of!(BOOTSTRAP) as usize
}

/// A zeroed block from the bootstrap arena (never reused, so always zero), or null when the
/// arena is spent.
pub fn bootstrap_alloc(size: usize, align: usize) -> *mut c_void {
    let align = align.max(16);
    let mut used = BOOTSTRAP_USED.load(Ordering::Relaxed);
    loop {
        let start = (bootstrap_base() + used + BOOTSTRAP_HEADER).next_multiple_of(align) - bootstrap_base();
        let Some(end) = start.checked_add(size).filter(|&e| e <= BOOTSTRAP_BYTES) else {
            return core::ptr::null_mut();
        };
        match BOOTSTRAP_USED.compare_exchange(used, end, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => {
                let p = (bootstrap_base() + start) as *mut u8;
                // SAFETY: [start - 16, end) lies inside the arena and belongs to this block alone.
                unsafe { p.sub(BOOTSTRAP_HEADER).cast::<usize>().write(size) };
                return p.cast();
            }
            Err(now) => used = now,
        }
    }
}

/// Whether `p` is a bootstrap block (which `free` ignores).
#[inline]
pub fn is_bootstrap(p: *mut c_void) -> bool {
    let a = p as usize;
    a >= bootstrap_base() && a < bootstrap_base() + BOOTSTRAP_BYTES
}

/// The requested size of bootstrap block `p`.
///
/// # Safety
/// `p` is a block [`bootstrap_alloc`] returned.
pub unsafe fn bootstrap_size(p: *mut c_void) -> usize {
    // SAFETY: the caller guarantees the header before p was written by bootstrap_alloc.
    unsafe { p.cast::<u8>().sub(BOOTSTRAP_HEADER).cast::<usize>().read() }
}
