//! Per-thread state: the thread's arena, its thread cache, its allocation counters, and the
//! work done when a thread exits.
//!
//! Mirrors jemalloc 2.2.1's `arenas_tsd`, `thread_allocated_tsd` and `tcache_tsd`. The state is
//! a `const`-initialised thread-local without a destructor (so touching it never allocates or
//! registers anything); thread exit is observed through a pthread key whose destructor gives
//! the thread's cache back and unbinds it from its arena. Only the owning thread touches its
//! state, so no lock guards it.

use crate::arena::{self, Arena};
use crate::tcache::{self, Tcache};
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

#[repr(C)]
pub struct ThreadState {
    /// The thread cache as the malloc/free fast paths see it: the cache, or `Fast::NONE` (on
    /// which they miss) until the first slow path makes one, when caching is off, when the
    /// thread is exiting, and when `opt.junk`/`opt.zero` route every call through the filling
    /// slow paths. First, so the fast path reads offset 0.
    pub fast_tcache: tcache::Fast,
    /// The thread cache as the free fast paths see it: as `fast_tcache`, except under the heap
    /// profiler when sampled small objects are promoted to pages, where small frees need no
    /// profiling and keep their fast path while allocations take the sampling slow path.
    pub fast_free: tcache::Fast,
    /// The thread cache itself (same nulls, except the fill options).
    pub tcache: *mut Tcache,
    pub arena: *mut Arena,
    /// `thread.allocated` / `thread.deallocated`.
    pub allocated: u64,
    pub deallocated: u64,
    /// The heap profiler's per-thread state (sampling countdown, backtrace cache); null until
    /// the thread's first profiled allocation, and again once the thread is exiting.
    pub prof: *mut crate::prof::Tdata,
    /// Whether the exit destructor is armed for this thread.
    armed: bool,
    /// The exit destructor has run: serve this thread without a cache from now on.
    exiting: bool,
    /// The profiler is at work on this thread (a backtrace, a dump): allocations it causes are
    /// not sampled, so the unwinder and the dump writer never re-enter it.
    pub prof_busy: bool,
}

/// Bytes reserved for the thread state in the static TLS block.
const TLS_BYTES: usize = 64;
const _: () = assert!(core::mem::size_of::<ThreadState>() <= TLS_BYTES);

// The thread state lives in this library's static TLS block. It starts as the empty state:
// both fast-path caches are `Fast::NONE` (the address of tcache::EMPTY, put there by the
// dynamic linker's relocation of the TLS image before any thread copies it), everything else
// zero. It is reached with the initial-exec model, which costs one load and an add from %fs
// in an executable and in an LD_PRELOADed or linked shared library, where Rust's own
// thread-locals would call __tls_get_addr. `core` has no thread-locals, so the block is
// declared here.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .tdata,\"awT\",@progbits",
    ".p2align 6",
    ".globl __jemalloc_rs_tls",
    ".hidden __jemalloc_rs_tls",
    ".type __jemalloc_rs_tls,@object",
    ".size __jemalloc_rs_tls, 64",
    "__jemalloc_rs_tls:",
    ".quad {empty}",
    ".quad {empty}",
    ".skip 48",
    ".popsection",
    empty = sym tcache::EMPTY,
);

// The image above puts the two caches first.
const _: () = assert!(core::mem::offset_of!(ThreadState, fast_tcache) == 0);
const _: () = assert!(core::mem::offset_of!(ThreadState, fast_free) == 8);

#[cfg(not(target_arch = "x86_64"))]
compile_error!("jemalloc-rs reaches its thread state with x86-64 initial-exec TLS; other targets are not supported yet");

/// The calling thread's state.
#[inline(always)]
pub fn state() -> *mut ThreadState {
    let p: *mut ThreadState;
    // SAFETY: computes the address of this thread's copy of __jemalloc_rs_tls (initial-exec:
    // the GOT holds its offset from the thread pointer); reads only the GOT and %fs:0.
    unsafe {
        core::arch::asm!(
            "mov {0}, qword ptr [rip + __jemalloc_rs_tls@GOTTPOFF]",
            "add {0}, qword ptr fs:[0]",
            out(reg) p,
            options(nostack, preserves_flags, readonly, pure),
        );
    }
    p
}

const NO_KEY: u32 = u32::MAX;
static KEY: AtomicU32 = AtomicU32::new(NO_KEY);
static POOL_LOCK: crate::mutex::RawMutex = crate::mutex::RawMutex::new();

pub(crate) fn pool_lock() -> &'static crate::mutex::RawMutex {
    &POOL_LOCK
}

/// Creates the key whose destructor runs at thread exit. Called once at start-up.
pub fn init_key() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: key is a valid out-pointer; the destructor is an extern "C" fn.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
        KEY.store(key, Ordering::Release);
    }
}

/// Makes sure `thread_exit` runs for this thread.
fn arm(s: &mut ThreadState) {
    if s.armed {
        return;
    }
    let key = KEY.load(Ordering::Acquire);
    if key != NO_KEY {
        // SAFETY: the key exists; any non-null value arms the destructor.
        unsafe { libc::pthread_setspecific(key, core::ptr::dangling::<libc::c_void>()) };
    }
    s.armed = true;
}

extern "C" fn thread_exit(_value: *mut libc::c_void) {
    let s = state();
    // SAFETY: only this (exiting) thread touches its state; its cache is unreachable once
    // taken out of the state.
    unsafe {
        (*s).exiting = true;
        (*s).fast_tcache = tcache::Fast::NONE;
        (*s).fast_free = tcache::Fast::NONE;
        let tdata = core::mem::replace(&mut (*s).prof, ptr::null_mut());
        if !tdata.is_null() {
            // Taken out of the state above; not used again.
            crate::prof::thread_exit(tdata);
        }
        let t = core::mem::replace(&mut (*s).tcache, ptr::null_mut());
        if !t.is_null() {
            tcache::destroy(t);
        }
        let a = core::mem::replace(&mut (*s).arena, ptr::null_mut());
        if !a.is_null() && (*a).nthreads.fetch_sub(1, Ordering::Relaxed) == 1 {
            (*a).went_idle();
        }
        crate::chunk_cache::thread_exited();
        (*s).armed = false;
    }
}

/// Whether the calling thread's exit destructor has run.
#[inline]
pub fn exiting() -> bool {
    // SAFETY: the thread's own state.
    unsafe { (*state()).exiting }
}

/// The calling thread's arena, binding the thread to one on first use.
#[inline(always)]
pub fn arena() -> &'static Arena {
    // SAFETY: state() is this thread's; a bound arena lives forever in base memory.
    unsafe {
        let a = (*state()).arena;
        if !a.is_null() {
            return &*a;
        }
    }
    choose_arena()
}

/// Binds the thread to the least loaded arena, creating a new arena rather than sharing one
/// while the arena count allows.
///
/// The choice and the count it rests on change under the arenas lock, as in 2.2.1: threads
/// that start together would otherwise all see the same arena unused and share it, while the
/// next arena stayed unmade.
#[cold]
#[inline(never)]
fn choose_arena() -> &'static Arena {
    let chosen = {
        let _guard = crate::global::ARENAS_LOCK.lock();
        let n = crate::global::g().narenas();
        let mut best: Option<(usize, usize)> = None;
        let mut first_uncreated = None;
        for i in 0..n {
            match arena::get(i) {
                Some(a) => {
                    let t = a.nthreads.load(Ordering::Relaxed);
                    if best.is_none_or(|(_, bt)| t < bt) {
                        best = Some((i, t));
                    }
                }
                None => {
                    if first_uncreated.is_none() {
                        first_uncreated = Some(i);
                    }
                }
            }
        }
        let ind = match (best, first_uncreated) {
            (Some((i, 0)), _) => i,
            (_, Some(i)) => i,
            (Some((i, _)), None) => i,
            (None, None) => 0,
        };
        // Arena 0 exists from start-up: it serves when a new arena cannot be made.
        let a = arena::get_or_create_locked(ind)
            .or_else(|| arena::get(0))
            .unwrap_or_else(|| crate::message::fatal("no arena"));
        a.nthreads.fetch_add(1, Ordering::Relaxed);
        a
    };
    // The count was taken under the lock above; the thread's own state needs no lock.
    install(chosen);
    chosen
}

/// Binds the calling thread to arena `a` (`thread.arena` writes).
pub fn bind(a: &'static Arena) {
    a.nthreads.fetch_add(1, Ordering::Relaxed);
    install(a);
}

/// Makes `a`, whose thread count already includes this thread, the calling thread's arena,
/// and releases the count of the arena it leaves.
fn install(a: &'static Arena) {
    let s = state();
    let a_ptr = a as *const Arena as *mut Arena;
    // SAFETY: only this thread touches its state; arenas live forever.
    unsafe {
        let old = core::mem::replace(&mut (*s).arena, a_ptr);
        if !old.is_null() {
            (*old).nthreads.fetch_sub(1, Ordering::Relaxed);
        }
        if !(*s).tcache.is_null() {
            (*(*s).tcache).arena = a_ptr;
        }
        arm(&mut *s);
    }
}

/// The calling thread's cache (null if it has none).
#[inline(always)]
pub fn tcache() -> *mut Tcache {
    // SAFETY: the thread's own state.
    unsafe { (*state()).tcache }
}

/// The calling thread's cache, made on first use; null when caching is off, the thread is
/// exiting, or memory ran out.
#[inline]
pub fn tcache_or_create() -> *mut Tcache {
    let t = tcache();
    if !t.is_null() {
        return t;
    }
    make_tcache()
}

#[cold]
#[inline(never)]
fn make_tcache() -> *mut Tcache {
    let s = state();
    // SAFETY: the thread's own state.
    unsafe {
        if !crate::global::g().opts.tcache || (*s).exiting {
            return ptr::null_mut();
        }
        let a = arena() as *const Arena as *mut Arena;
        let t = tcache::create(a);
        (*s).tcache = t;
        if crate::api::fast_paths_allowed() {
            (*s).fast_tcache = Tcache::fast(t);
        }
        if crate::api::fast_free_allowed() {
            (*s).fast_free = Tcache::fast(t);
        }
        arm(&mut *s);
        t
    }
}
