//! The swap-file chunk source: files a program hands over through `swap.fds`, mapped side by
//! side and carved into chunks before any anonymous memory is used.
//!
//! Mirrors jemalloc 2.2.1 `chunk_swap.c` (`--enable-swap`). [`enable`] maps the files
//! contiguously (each truncated to a page multiple in the mapping, the whole to a chunk
//! multiple; the files themselves are not changed) over a chunk-aligned reservation. Chunks
//! are served from the free extents first, lowest address first, then from the never-used top
//! of the region. A freed range is zeroed by punching a hole in its file (`MADV_REMOVE`, or
//! writing zeros where the file system cannot), so that a recycled chunk reads as zero
//! whatever `swap.prezeroed` says; the never-used part is trusted to be zero only when
//! `swap.prezeroed` was set, as the manual says, and zeroed on first use otherwise. A huge
//! object grows in place into the free range after it, or into the top ([`grow_in_place`]).
//!
//! Locks: [`STATE`] guards the region's bounds, its free extents and the descriptors; it is
//! never held across a system call (zeroing happens before a range is filed or after it is
//! taken). [`CONFIG`] serialises the writers of `swap.fds` and `swap.prezeroed` and is held
//! while the files are mapped; allocation never takes it. Order: `CONFIG`, then `STATE`, then
//! the extent node pool. The region's bounds never change once [`ENABLED`] is set, so
//! [`contains`] reads them without a lock.
//!
//! A process that forks after enabling shares the files' pages with its child, as with
//! 2.2.1: a child that keeps allocating must exec first.

use super::extents::{Extents, Spare};
use super::mmap;
use crate::global::g;
use crate::mutex::{Mutex, RawMutex};
use crate::pages;
use crate::size_classes::PAGE;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct State {
    /// The region `[base, max)`; `[top, max)` has never been handed out.
    base: usize,
    top: usize,
    max: usize,
    free: Extents,
    /// `swap.prezeroed`.
    prezeroed: bool,
    /// A copy of the descriptors in use, in base memory (`swap.fds`).
    fds: *const i32,
    nfds: usize,
}

// SAFETY: `fds` points at base memory that lives as long as the process.
unsafe impl Send for State {}

static STATE: Mutex<State> = Mutex::new(State {
    base: 0,
    top: 0,
    max: 0,
    free: Extents::new(),
    prezeroed: false,
    fds: ptr::null(),
    nfds: 0,
});
static CONFIG: Mutex<()> = Mutex::new(());
/// Set once the region is mapped; `BASE` and `MAX` are final before it is.
static ENABLED: AtomicBool = AtomicBool::new(false);
static BASE: AtomicUsize = AtomicUsize::new(0);
static MAX: AtomicUsize = AtomicUsize::new(0);

/// Why `swap.fds` could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableError {
    /// The files were given already; they stay for the life of the process.
    AlreadyEnabled,
    /// No descriptors.
    NoFiles,
    /// A descriptor is not open (the `errno` of `fstat`).
    BadDescriptor { fd: i32, errno: i32 },
    /// A descriptor is not a regular file or block device, or is not open for reading and
    /// writing.
    Unusable { fd: i32 },
    /// The files together hold less than one chunk.
    TooSmall,
    /// The files together exceed the address space.
    TooLarge,
    /// Mapping a file failed (the `errno` of `mmap`).
    MapFailed { fd: i32, errno: i32 },
    /// No address space for the region, or no base memory for the descriptors' copy.
    NoMemory,
}

impl core::fmt::Display for EnableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            EnableError::AlreadyEnabled => f.write_str("swap files are already in use"),
            EnableError::NoFiles => f.write_str("no file descriptors given"),
            EnableError::BadDescriptor { fd, errno } => write!(f, "descriptor {fd} is not open (errno {errno})"),
            EnableError::Unusable { fd } => {
                write!(f, "descriptor {fd} is not a regular file or block device open for reading and writing")
            }
            EnableError::TooSmall => f.write_str("the files hold less than one chunk"),
            EnableError::TooLarge => f.write_str("the files exceed the address space"),
            EnableError::MapFailed { fd, errno } => write!(f, "mapping descriptor {fd} failed (errno {errno})"),
            EnableError::NoMemory => f.write_str("out of address space or memory"),
        }
    }
}

/// Whether `swap.fds` has been written.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Whether `p` lies in the swap region.
#[inline]
pub fn contains(p: *const u8) -> bool {
    enabled() && (BASE.load(Ordering::Relaxed)..MAX.load(Ordering::Relaxed)).contains(&(p as usize))
}

/// `swap.prezeroed`.
pub fn prezeroed() -> bool {
    STATE.lock().prezeroed
}

/// Sets `swap.prezeroed`; refused once the files are in use.
pub fn set_prezeroed(v: bool) -> Result<(), EnableError> {
    let _config = CONFIG.lock();
    if enabled() {
        return Err(EnableError::AlreadyEnabled);
    }
    STATE.lock().prezeroed = v;
    Ok(())
}

/// `swap.nfds` and the descriptors in use (`swap.fds`).
pub fn fds() -> &'static [i32] {
    let st = STATE.lock();
    if st.fds.is_null() {
        return &[];
    }
    // SAFETY: written once, before ENABLED, in base memory that is never freed or changed.
    unsafe { core::slice::from_raw_parts(st.fds, st.nfds) }
}

/// `swap.avail`: bytes of the region not in any chunk handed out.
pub fn avail() -> usize {
    let st = STATE.lock();
    st.max - st.top + st.free.total()
}

/// The size of the file behind `fd`, or why it cannot serve.
fn file_size(fd: i32) -> Result<usize, EnableError> {
    // SAFETY: stat is plain data; fstat writes at most its size.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        // SAFETY: __errno_location is the calling thread's errno.
        return Err(EnableError::BadDescriptor { fd, errno: unsafe { *libc::__errno_location() } });
    }
    // SAFETY: F_GETFL reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || flags & libc::O_ACCMODE != libc::O_RDWR {
        return Err(EnableError::Unusable { fd });
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Ok(st.st_size as usize),
        libc::S_IFBLK => {
            // SAFETY: seeking a block device to its end tells its size; nothing is read.
            let end = unsafe { libc::lseek(fd, 0, libc::SEEK_END) };
            if end < 0 {
                Err(EnableError::Unusable { fd })
            } else {
                Ok(end as usize)
            }
        }
        _ => Err(EnableError::Unusable { fd }),
    }
}

/// Maps the files behind `fds` as the swap region (`swap.fds`). Nothing changes on failure.
pub fn enable(fds: &[i32]) -> Result<(), EnableError> {
    let _config = CONFIG.lock();
    if enabled() {
        return Err(EnableError::AlreadyEnabled);
    }
    if fds.is_empty() {
        return Err(EnableError::NoFiles);
    }
    let chunk = g().sc.chunk_size;
    let mut total = 0usize;
    for &fd in fds {
        let size = file_size(fd)? & !(PAGE - 1);
        total = total.checked_add(size).ok_or(EnableError::TooLarge)?;
    }
    let total = total & !(chunk - 1);
    if total == 0 {
        return Err(EnableError::TooSmall);
    }
    let region = mmap::map_aligned(total, chunk);
    if region.is_null() {
        return Err(EnableError::NoMemory);
    }
    let mut off = 0;
    for &fd in fds {
        if off == total {
            break;
        }
        let len = match file_size(fd) {
            Ok(size) => (size & !(PAGE - 1)).min(total - off),
            Err(e) => {
                mmap::unmap(region, total);
                return Err(e);
            }
        };
        if len == 0 {
            continue;
        }
        let at = region.wrapping_add(off);
        // SAFETY: MAP_FIXED over part of the reservation made above, which nothing else uses.
        let p = unsafe {
            libc::mmap(at.cast(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_FIXED, fd, 0)
        };
        if p == libc::MAP_FAILED {
            // SAFETY: __errno_location is the calling thread's errno.
            let errno = unsafe { *libc::__errno_location() };
            mmap::unmap(region, total);
            return Err(EnableError::MapFailed { fd, errno });
        }
        // The pages are used in no order, and dirty ones need not reach the disk early.
        // SAFETY: advice on our own mapping.
        unsafe { libc::madvise(at.cast(), len, libc::MADV_RANDOM) };
        off += len;
    }
    if off != total {
        // A file shrank while it was being mapped.
        mmap::unmap(region, total);
        return Err(EnableError::TooSmall);
    }
    let copy = crate::base::alloc(core::mem::size_of_val(fds)).cast::<i32>();
    if copy.is_null() {
        mmap::unmap(region, total);
        return Err(EnableError::NoMemory);
    }
    // SAFETY: copy has room for fds.len() descriptors and does not overlap the caller's slice.
    unsafe { ptr::copy_nonoverlapping(fds.as_ptr(), copy, fds.len()) };
    let mut st = STATE.lock();
    st.base = region as usize;
    st.top = st.base;
    st.max = st.base + total;
    st.fds = copy;
    st.nfds = fds.len();
    BASE.store(st.base, Ordering::Relaxed);
    MAX.store(st.max, Ordering::Relaxed);
    ENABLED.store(true, Ordering::Release);
    Ok(())
}

/// Makes `[addr, addr + size)`, a range of the region that holds no live object, read as
/// zero, giving its disk blocks back where the file system can. Like the [`pages`] wrappers,
/// callers pass only ranges of their own.
pub(crate) fn zero(addr: usize, size: usize) {
    let p = addr as *mut u8;
    if !pages::remove(p, size) {
        // SAFETY: the caller passes a range of the region (mapped read-write) nobody uses.
        unsafe { ptr::write_bytes(p, 0, size) };
    }
}

/// `size` bytes aligned to `align` from the region, reading as zero; null when it is full.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    // Only an alignment above the chunk size can split a free extent in three or leave a
    // gap below the top.
    let mut spare = if align > g().sc.chunk_size { Spare::take() } else { Spare::none() };
    let (p, fresh) = {
        let mut st = STATE.lock();
        if let Some(p) = st.free.take(size, align, &mut spare) {
            (p, false)
        } else {
            let start = (st.top + align - 1) & !(align - 1);
            if start < st.top || start > st.max || st.max - start < size {
                return ptr::null_mut();
            }
            if start != st.top {
                let gap = st.top;
                if !st.free.insert(gap, start - gap, &mut spare) {
                    return ptr::null_mut();
                }
            }
            st.top = start + size;
            (start, !st.prezeroed)
        }
    };
    if fresh {
        zero(p, size);
    }
    p as *mut u8
}

/// Extends `[p, p + old)`, a range of the region, to `new` bytes where it lies: into the free
/// range right after it, or into the never-used top when it ends there. The new part reads as
/// zero.
pub fn grow_in_place(p: *mut u8, old: usize, new: usize) -> bool {
    let (end, more) = (p as usize + old, new - old);
    let fresh = {
        let mut st = STATE.lock();
        if st.free.take_at(end, more) {
            false
        } else if end == st.top && st.max - st.top >= more {
            st.top += more;
            !st.prezeroed
        } else {
            return false;
        }
    };
    if fresh {
        zero(end, more);
    }
    true
}

/// Takes back `[p, p + size)` if it lies in the region; false if it is not the region's.
pub fn dealloc(p: *mut u8, size: usize) -> bool {
    if !contains(p) {
        return false;
    }
    zero(p as usize, size);
    let mut spare = Spare::take();
    let mut st = STATE.lock();
    // Without a node for the range (no base memory left) the range stays out of use.
    if st.free.insert(p as usize, size, &mut spare) {
        let top = st.top;
        if let Some(start) = st.free.pop_ending_at(top) {
            st.top = start;
        }
    }
    true
}

/// The region's free ranges and its never-used top, lowest first (for tests and reports).
pub fn for_each_free(mut f: impl FnMut(usize, usize)) {
    let st = STATE.lock();
    st.free.for_each(&mut f);
    if st.top != st.max {
        f(st.top, st.max - st.top);
    }
}

/// The region `[base, max)`, or `None` before `swap.fds` is written.
pub fn region() -> Option<(usize, usize)> {
    enabled().then(|| (BASE.load(Ordering::Relaxed), MAX.load(Ordering::Relaxed)))
}

/// Calls `f` with this source's locks, in acquisition order.
pub(crate) fn for_each_lock(f: &mut dyn FnMut(&RawMutex)) {
    f(CONFIG.raw());
    f(STATE.raw());
}
