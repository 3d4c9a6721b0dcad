//! The mallctl names with side effects or unusual shapes: `epoch`, `tcache.flush`,
//! `thread.arena`, `thread.*allocated*`, `prof.active`, `prof.dump`, `arenas.initialized`,
//! `arenas.purge`, the thread-cache bounds `arenas.tcache_max` / `arenas.nhbins`, and
//! `swap.fds` / `swap.prezeroed`.
//!
//! Mirrors the hand-written `*_ctl()` functions of jemalloc 2.2.1 `ctl.c`, with its error rules:
//! EPERM for the wrong direction, EINVAL for a wrong length, EFAULT when a side effect fails
//! (an arena index beyond `arenas.narenas`), EAGAIN when an arena cannot be made. Each function
//! takes the locks its target needs; none is held on return.

use super::{snapshot, Error, Req, Result};
use crate::arena;
use crate::global::g;

/// `epoch` (uint64_t, rw): writing any value refreshes the statistics snapshot, after folding
/// the calling thread's cached request counts into its arena.
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires.
pub unsafe fn epoch(_mib: &[usize], req: &Req) -> Result<()> {
    // SAFETY: forwarded contract.
    let new = unsafe { req.write::<u64>()? };
    if new.is_some() {
        crate::tcache::merge_current_thread_requests();
    }
    let e = snapshot::epoch(new.is_some())?;
    // SAFETY: forwarded contract.
    unsafe { req.read(e) }
}

/// `tcache.flush` (void, --).
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires.
pub unsafe fn tcache_flush(_mib: &[usize], req: &Req) -> Result<()> {
    req.readonly()?;
    req.writeonly()?;
    crate::tcache::flush_current_thread();
    Ok(())
}

/// `prof.active` (bool, rw): whether sampling is on; settable whether or not `opt.prof` is.
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires.
#[cfg(feature = "prof")]
pub unsafe fn prof_active(_mib: &[usize], req: &Req) -> Result<()> {
    let old = crate::prof::active();
    // SAFETY: forwarded contract.
    let new = unsafe { req.write::<bool>()? };
    // SAFETY: forwarded contract.
    unsafe { req.read(old)? };
    if let Some(v) = new {
        crate::prof::set_active(v);
    }
    Ok(())
}

/// `prof.dump` (const char *, -w): dumps a profile to the name written, or to the next
/// `<prefix>.<pid>.<seq>.m<mseq>.heap` when the name is NULL or none is written. EFAULT when
/// profiling is off or the file cannot be written.
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires; a name written is NUL-terminated.
#[cfg(feature = "prof")]
pub unsafe fn prof_dump(_mib: &[usize], req: &Req) -> Result<()> {
    req.writeonly()?;
    // SAFETY: forwarded contract.
    let path = unsafe { req.write::<*const core::ffi::c_char>()? }.unwrap_or(core::ptr::null());
    // SAFETY: path is null or the caller's NUL-terminated name.
    unsafe { crate::prof::dump_now(path) }.map_err(|_| Error::Fault)
}

/// `thread.arena` (unsigned, rw): the calling thread's arena; writing binds it to another,
/// creating that arena if needed.
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires.
pub unsafe fn thread_arena(_mib: &[usize], req: &Req) -> Result<()> {
    let old = crate::thread::arena().ind as u32;
    // SAFETY: forwarded contract.
    let new = unsafe { req.write::<u32>()? };
    // SAFETY: forwarded contract.
    unsafe { req.read(old)? };
    if let Some(new) = new.filter(|&n| n != old) {
        if new as usize >= g().narenas() {
            return Err(Error::Fault);
        }
        let Some(a) = arena::get_or_create(new as usize) else { return Err(Error::Again) };
        crate::thread::bind(a);
    }
    Ok(())
}

/// The calling thread's `thread.allocated` and `thread.deallocated`.
pub fn thread_counters() -> (u64, u64) {
    let s = crate::thread::state();
    // SAFETY: the calling thread's own state, touched by no other thread.
    unsafe { ((*s).allocated, (*s).deallocated) }
}

/// Where the calling thread's counters live (`thread.allocatedp`, `thread.deallocatedp`).
pub fn thread_counter_ptrs() -> (*const u64, *const u64) {
    let s = crate::thread::state();
    // SAFETY: taking field addresses of the calling thread's state reads nothing.
    unsafe { (&raw const (*s).allocated, &raw const (*s).deallocated) }
}

/// `arenas.initialized` (bool *, r-): `arenas.narenas` flags as of the last refresh.
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires.
pub unsafe fn arenas_initialized(_mib: &[usize], req: &Req) -> Result<()> {
    req.readonly()?;
    if !req.wants_old() {
        return Ok(());
    }
    let n = g().narenas();
    // SAFETY: oldlenp is readable (wants_old).
    let len = unsafe { *req.oldlenp };
    let nread = len.min(n);
    // SAFETY: oldp holds `len >= nread` writable bytes, one bool each.
    let out = unsafe { core::slice::from_raw_parts_mut(req.oldp.cast::<bool>(), nread) };
    snapshot::initialized(out)?;
    if len != n {
        return Err(Error::Inval);
    }
    Ok(())
}

/// `arenas.purge` (unsigned, -w): purges one arena's dirty pages, or every arena's when no
/// index is written, and then unmaps what the chunk cache keeps (freed huge objects and the
/// emptied arena chunks, whichever arena they came from).
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires.
pub unsafe fn arenas_purge(_mib: &[usize], req: &Req) -> Result<()> {
    req.writeonly()?;
    // SAFETY: forwarded contract.
    match unsafe { req.write::<u32>()? } {
        Some(i) if i as usize >= g().narenas() => Err(Error::Fault),
        Some(i) => {
            if let Some(a) = arena::get(i as usize) {
                a.purge_all();
            }
            // The arena's emptied chunks went to the shared chunk cache: unmap them.
            crate::chunk_cache::flush();
            Ok(())
        }
        None => {
            for i in 0..g().narenas() {
                if let Some(a) = arena::get(i) {
                    a.purge_all();
                }
            }
            crate::chunk_cache::flush();
            Ok(())
        }
    }
}

/// `arenas.tcache_max`: the largest cached class; 0 with caching off, as jemalloc 2.2.1's
/// `tcache_boot()` leaves it.
pub fn tcache_maxclass() -> usize {
    if g().opts.tcache {
        crate::tcache::max_class()
    } else {
        0
    }
}

/// `arenas.nhbins`: the small bins plus one per cached large class; 0 with caching off.
pub fn nhbins() -> usize {
    if g().opts.tcache {
        crate::tcache::nhbins()
    } else {
        0
    }
}

/// `swap.prezeroed` (bool, rw): whether the swap files hold only zeros; read-only (EPERM)
/// once `swap.fds` is written.
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires.
#[cfg(feature = "swap")]
pub unsafe fn swap_prezeroed(_mib: &[usize], req: &Req) -> Result<()> {
    use crate::chunk::swap;
    if swap::enabled() {
        req.readonly()?;
    }
    let old = swap::prezeroed();
    // SAFETY: forwarded contract.
    if let Some(v) = unsafe { req.write::<bool>()? } {
        swap::set_prezeroed(v).map_err(|_| Error::Perm)?;
    }
    // SAFETY: forwarded contract.
    unsafe { req.read(old) }
}

/// `swap.fds` (int *): reading copies the descriptors in use (EINVAL unless `*oldlenp` is
/// exactly their size); writing an array of descriptors maps their files as the swap region,
/// once: a second write is EPERM, a length that is not a whole number of descriptors EINVAL,
/// files that cannot serve (closed, not open for reading and writing, less than a chunk in
/// all) EFAULT with a `<jemalloc>: ` message saying why, no memory EAGAIN.
///
/// # Safety
/// The request's pointers are valid as `mallctl` requires.
#[cfg(feature = "swap")]
pub unsafe fn swap_fds(_mib: &[usize], req: &Req) -> Result<()> {
    use crate::chunk::swap::{self, EnableError};
    use core::ffi::c_int;
    if !req.newp.is_null() {
        if swap::enabled() {
            return Err(Error::Perm);
        }
        let n = req.newlen / core::mem::size_of::<c_int>();
        if n == 0 || !req.newlen.is_multiple_of(core::mem::size_of::<c_int>()) || !req.newp.cast::<c_int>().is_aligned() {
            return Err(Error::Inval);
        }
        // SAFETY: newp holds newlen readable bytes (the contract), aligned for c_int (checked).
        let fds = unsafe { core::slice::from_raw_parts(req.newp.cast::<c_int>(), n) };
        swap::enable(fds).map_err(|e| match e {
            EnableError::AlreadyEnabled => Error::Perm,
            EnableError::NoMemory => Error::Again,
            _ => {
                crate::say!("swap.fds: {e}");
                Error::Fault
            }
        })?;
    }
    let fds = swap::fds();
    // SAFETY: a slice of c_int is plain bytes.
    let bytes = unsafe { core::slice::from_raw_parts(fds.as_ptr().cast::<u8>(), core::mem::size_of_val(fds)) };
    // SAFETY: forwarded contract.
    unsafe { req.read_bytes(bytes) }
}
