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

/// Most ranges [`purge_many`] passes to the kernel in one call (the kernel takes up to 1024).
pub const PURGE_MANY: usize = 32;

/// `process_madvise` on the calling process: `PIDFD_SELF_THREAD_GROUP` (Linux 6.15), which
/// names the caller's own memory at every call. A pidfd from `pidfd_open` would not: a forked
/// child would advise its parent's pages through it.
const PIDFD_SELF: libc::c_int = -10001;

/// Whether `process_madvise` on `PIDFD_SELF` takes `MADV_DONTNEED` here: unknown (0), yes (1),
/// no (2).
static VECTORED: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Gives the physical pages behind each range `(addr, size)` back, as [`purge`] does, in one
/// system call where the kernel offers `process_madvise` with `MADV_DONTNEED` on the caller's
/// own memory (Linux 6.15), else one `madvise` each. The one call also flushes the other CPUs'
/// TLBs once for all the ranges (Linux 6.16), where a `madvise` each interrupts every CPU the
/// process runs on once per range. Returns the system calls made. `errno` is left as it was.
pub fn purge_many(ranges: &[(*mut u8, usize)]) -> usize {
    use core::sync::atomic::Ordering;
    let saved = errno();
    let mut done = 0;
    let mut calls = 0;
    if ranges.len() > 1 && VECTORED.load(Ordering::Relaxed) != 2 {
        let mut iov = [libc::iovec { iov_base: ptr::null_mut(), iov_len: 0 }; PURGE_MANY];
        while done < ranges.len() {
            let n = (ranges.len() - done).min(PURGE_MANY);
            let mut total = 0;
            for (v, &(addr, size)) in iov.iter_mut().zip(&ranges[done..done + n]) {
                *v = libc::iovec { iov_base: addr.cast(), iov_len: size };
                total += size;
            }
            // SAFETY: the ranges lie in private anonymous mappings of ours that hold no live
            // object; the kernel reads n iovecs from the array.
            let r = unsafe {
                libc::syscall(libc::SYS_process_madvise, PIDFD_SELF, iov.as_ptr(), n, libc::MADV_DONTNEED, 0u32)
            };
            calls += 1;
            if r < 0 || r as usize != total {
                // Not offered (ENOSYS, EBADF, EINVAL, EPERM on older kernels), or stopped part
                // way: madvise does the rest, and the next purges too unless some call here
                // ever went through whole.
                if r < 0 && VECTORED.load(Ordering::Relaxed) == 0 {
                    VECTORED.store(2, Ordering::Relaxed);
                }
                break;
            }
            if VECTORED.load(Ordering::Relaxed) == 0 {
                VECTORED.store(1, Ordering::Relaxed);
            }
            done += n;
        }
    }
    for &(addr, size) in &ranges[done..] {
        purge(addr, size);
        calls += 1;
    }
    set_errno(saved);
    calls
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

/// The calling thread's `errno`.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
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

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    /// A fresh mapping of `pages` pages, page `i` filled with `i + 1`.
    fn filled(pages: usize) -> *mut u8 {
        let p = map(ptr::null_mut(), pages * PAGE);
        assert!(!p.is_null());
        for i in 0..pages {
            // SAFETY: page i of the fresh mapping.
            unsafe { ptr::write_bytes(p.add(i * PAGE), i as u8 + 1, PAGE) };
        }
        p
    }

    /// The byte each page holds at its start and end, or 0xff where they differ.
    fn pages_of(p: *mut u8, pages: usize) -> Vec<u8> {
        let page = |i: usize| {
            // SAFETY: page i of a live mapping of the test.
            let (first, last) = unsafe { (*p.add(i * PAGE), *p.add(i * PAGE + PAGE - 1)) };
            if first == last { first } else { 0xff }
        };
        (0..pages).map(page).collect()
    }

    #[test]
    fn purge_many_zeroes_the_ranges_given_and_no_others_and_keeps_errno() {
        let p = filled(8);
        set_errno(1234);
        let ranges = [(p, PAGE), (p.wrapping_add(2 * PAGE), 2 * PAGE), (p.wrapping_add(7 * PAGE), PAGE)];
        let calls = purge_many(&ranges);
        assert_eq!(errno(), 1234);
        assert!(calls == 1 || calls == ranges.len(), "{calls} calls");
        assert_eq!(pages_of(p, 8), [0, 2, 0, 0, 5, 6, 7, 0]);
        unmap(p, 8 * PAGE);
    }

    #[test]
    fn purge_many_falls_back_to_a_madvise_each() {
        use core::sync::atomic::Ordering;
        let p = filled(6);
        let was = VECTORED.swap(2, Ordering::Relaxed);
        let calls = purge_many(&[(p, PAGE), (p.wrapping_add(3 * PAGE), 2 * PAGE)]);
        VECTORED.store(was, Ordering::Relaxed);
        assert_eq!(calls, 2);
        assert_eq!(pages_of(p, 6), [0, 2, 3, 0, 0, 6]);
        unmap(p, 6 * PAGE);
    }

    #[test]
    fn purge_many_takes_more_ranges_than_one_call_holds() {
        let n = PURGE_MANY * 2 + 3;
        let p = filled(2 * n);
        let ranges: Vec<(*mut u8, usize)> = (0..n).map(|i| (p.wrapping_add(2 * i * PAGE), PAGE)).collect();
        let calls = purge_many(&ranges);
        assert!(calls == 3 || calls == n, "{calls} calls");
        let expect: Vec<u8> = (0..2 * n).map(|i| if i % 2 == 0 { 0 } else { i as u8 + 1 }).collect();
        assert_eq!(pages_of(p, 2 * n), expect);
        unmap(p, 2 * n * PAGE);
    }

    /// A forked child's purge reaches its own copy of the pages, never its parent's (as it
    /// would through a pidfd opened before the fork).
    #[test]
    fn a_forked_childs_purge_leaves_its_parents_pages_alone() {
        let p = filled(4);
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            purge_many(&[(p, PAGE), (p.wrapping_add(2 * PAGE), PAGE)]);
            // SAFETY: the child's copy of the pages.
            let ok = unsafe { *p == 0 && *p.add(2 * PAGE) == 0 && *p.add(PAGE) == 2 };
            // SAFETY: leaving the child without running the test harness's exit handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child's own pages were not purged");
        assert_eq!(pages_of(p, 4), [1, 2, 3, 4], "the parent's pages are as it left them");
        unmap(p, 4 * PAGE);
    }
}
