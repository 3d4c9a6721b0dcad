//! Pages from the operating system: the bottom layer.
//!
//! Thin, documented wrappers over `mmap`, `munmap`, `madvise` and `mremap`. Nothing here takes
//! a lock or allocates. Mirrors jemalloc 2.2.1 `chunk_mmap.c` (`pages_map`, `pages_unmap`).

use core::ptr;

/// Maps `size` bytes of fresh, zeroed, read-write memory, near `hint` if it is free.
/// Returns null when the system refuses.
pub fn map(hint: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping without MAP_FIXED cannot clobber existing mappings.
    let p = unsafe {
        libc::mmap(
            hint.cast(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Maps `size` bytes exactly at `addr` if and only if that range is free.
pub fn map_exactly_at(addr: *mut u8, size: usize) -> bool {
    // SAFETY: MAP_FIXED_NOREPLACE fails instead of replacing an existing mapping.
    let p = unsafe {
        libc::mmap(
            addr.cast(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    if p.cast::<u8>() != addr {
        // Kernels before 4.17 treat the flag as a hint: give back what landed elsewhere.
        unmap(p.cast(), size);
        return false;
    }
    true
}

/// Asks the kernel to back `[addr, addr + size)` with transparent huge pages
/// (`MADV_HUGEPAGE`), or (`on` false) never to (`MADV_NOHUGEPAGE`). Only advice: a kernel
/// without them, or with them off, ignores it, and so does the allocator.
pub fn advise_huge_pages(addr: *mut u8, size: usize, on: bool) {
    let advice = if on { libc::MADV_HUGEPAGE } else { libc::MADV_NOHUGEPAGE };
    // SAFETY: advice on a range of ours; it changes no contents.
    unsafe { libc::madvise(addr.cast(), size, advice) };
}

/// Unmaps pages this allocator mapped.
pub fn unmap(addr: *mut u8, size: usize) {
    // SAFETY: callers pass ranges they mapped and no longer reference.
    let r = unsafe { libc::munmap(addr.cast(), size) };
    if r != 0 {
        crate::message::fatal("munmap failed");
    }
}

/// Gives the physical pages behind `[addr, addr + size)` back; they read as zero afterwards.
pub fn purge(addr: *mut u8, size: usize) {
    // SAFETY: the range lies in a private anonymous mapping of ours that holds no live object.
    unsafe {
        libc::madvise(addr.cast(), size, libc::MADV_DONTNEED);
    }
}

/// Frees the backing store of `[addr, addr + size)` in a shared file mapping (punches a hole
/// in the file), after which the range reads as zero. Returns false when the file system
/// cannot punch holes.
pub fn remove(addr: *mut u8, size: usize) -> bool {
    // SAFETY: the range lies in a shared file mapping of ours that holds no live object.
    unsafe { libc::madvise(addr.cast(), size, libc::MADV_REMOVE) == 0 }
}

/// Moves the pages of `[old, old + old_size)` to `new`, which must be a range of ours of at
/// least `new_size` bytes, without copying. Returns false if the kernel refused.
pub fn remap_to(old: *mut u8, old_size: usize, new: *mut u8, new_size: usize) -> bool {
    // SAFETY: both ranges are ours; MREMAP_FIXED replaces the reserved mapping at `new`.
    let p = unsafe {
        libc::mremap(old.cast(), old_size, new_size, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, new.cast::<libc::c_void>())
    };
    p != libc::MAP_FAILED
}

/// Sets the calling thread's `errno`.
#[inline]
pub fn set_errno(e: i32) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// Number of CPUs this process may run on.
pub fn ncpus() -> usize {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        if libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let n = libc::CPU_COUNT(&set);
            if n > 0 {
                return n as usize;
            }
        }
        let n = libc::sysconf(libc::_SC_NPROCESSORS_ONLN);
        if n > 0 {
            n as usize
        } else {
            1
        }
    }
}
