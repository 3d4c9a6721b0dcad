//! Process-wide state and start-up: options, size classes, the chunk registry, fork handlers.
//!
//! Mirrors jemalloc 2.2.1 `malloc_init_hard()` and `jemalloc_prefork()`/`postfork()`.
//! [`Globals`] is written once, under [`INIT_LOCK`], by the first allocation of the process,
//! and is read-only afterwards; every path into the allocator either checks [`is_initialized`]
//! or starts from a thread cache miss that does. Before start-up it holds zeros.

use crate::arena::{self, MAX_ARENAS};
use crate::conf::{self, Opts};
use crate::mutex::{Mutex, RawMutex};
use crate::rtree::ChunkTree;
use crate::size_classes::{SizeClasses, PAGE};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Globals {
    pub opts: Opts,
    pub sc: SizeClasses,
    pub chunk_mask: usize,
    pub header_pages: usize,
    /// Pages a run may have: a chunk less its header.
    pub max_run_pages: usize,
    pub rtree: ChunkTree,
}

impl Globals {
    pub fn narenas(&self) -> usize {
        self.opts.narenas
    }
}

struct GlobalCell(UnsafeCell<Globals>);
// SAFETY: written once during start-up under INIT_LOCK, before INITIALIZED is released;
// read-only afterwards.
unsafe impl Sync for GlobalCell {}

// SAFETY: every field of Globals is valid all-zero (integers, bools, null pointers, enums
// whose first variant is 0, unlocked locks).
static GLOBALS: GlobalCell = GlobalCell(UnsafeCell::new(unsafe { core::mem::MaybeUninit::zeroed().assume_init() }));
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// What the free fast path reads to find a pointer's page map entry, apart from [`Globals`]
/// so that it has a value before start-up: there a thread's cache is `Fast::NONE` and free
/// reads the page map before it finds the cache missing, and the mask of all ones makes
/// every pointer read as a chunk's base (not small), which sends it to the slow path.
pub struct FreeGeometry {
    /// `!chunk_mask`.
    pub chunk_base_mask: AtomicUsize,
    /// `header_pages`.
    pub header_pages: AtomicUsize,
}

pub static FREE_GEOMETRY: FreeGeometry =
    FreeGeometry { chunk_base_mask: AtomicUsize::new(usize::MAX), header_pages: AtomicUsize::new(0) };
pub static INIT_LOCK: RawMutex = RawMutex::new();
/// Serialises arena creation.
pub static ARENAS_LOCK: Mutex<()> = Mutex::new(());

/// The process-wide state.
///
/// Only call after [`init`] returned true (every allocation entry point does so first).
#[inline(always)]
pub fn g() -> &'static Globals {
    // SAFETY: GLOBALS is written once, before INITIALIZED is released, and never again;
    // callers run after init (Acquire in `is_initialized`, or a thread cache that was made
    // after it). Before init it reads as zeros, which no caller reaches.
    unsafe { &*GLOBALS.0.get() }
}

#[inline(always)]
pub fn is_initialized() -> bool {
    INITIALIZED.load(Ordering::Acquire)
}

/// Initialises the allocator if needed. False if it cannot (out of memory at start-up, or a
/// recursive call from inside start-up).
#[inline]
pub fn init() -> bool {
    is_initialized() || init_slow()
}

#[cold]
#[inline(never)]
fn init_slow() -> bool {
    let me = thread_token();
    if INITIALIZING_THREAD.load(Ordering::Relaxed) == me {
        // Start-up itself called back into the allocator: refuse rather than deadlock.
        return false;
    }
    INIT_LOCK.lock();
    if is_initialized() {
        INIT_LOCK.unlock();
        return true;
    }
    INITIALIZING_THREAD.store(me, Ordering::Relaxed);
    let ok = init_locked();
    INITIALIZING_THREAD.store(0, Ordering::Relaxed);
    INIT_LOCK.unlock();
    ok
}

static INITIALIZING_THREAD: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

fn thread_token() -> usize {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as usize }
}

fn init_locked() -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page as usize != PAGE {
        crate::message::fatal("this build supports 4 KiB pages only");
    }
    let mut opts = Opts::DEFAULT;
    conf::read_all(&mut opts);
    conf::finish(&mut opts);
    let sc = match SizeClasses::new(opts.lg_chunk as u32, opts.lg_qspace_max as u32, opts.lg_cspace_max as u32) {
        Ok(sc) => sc,
        Err(e) => {
            crate::say!("{}; using the defaults", e.message());
            opts.lg_chunk = crate::size_classes::DEFAULT_LG_CHUNK as usize;
            opts.lg_qspace_max = crate::size_classes::DEFAULT_LG_QSPACE_MAX as usize;
            opts.lg_cspace_max = crate::size_classes::DEFAULT_LG_CSPACE_MAX as usize;
            SizeClasses::default_classes()
        }
    };
    let mut rtree = ChunkTree::new();
    if !rtree.init(sc.lg_chunk) {
        return false;
    }
    let globals = Globals {
        opts,
        chunk_mask: sc.chunk_size - 1,
        header_pages: sc.chunk_header_pages,
        max_run_pages: sc.chunk_pages - sc.chunk_header_pages,
        sc,
        rtree,
    };
    // SAFETY: INIT_LOCK is held and INITIALIZED is false, so no reader exists yet.
    unsafe { *GLOBALS.0.get() = globals };
    if arena::get_or_create(0).is_none() {
        return false;
    }
    // SAFETY: the handlers are plain functions that take and release this allocator's locks.
    unsafe { libc::pthread_atfork(Some(prefork), Some(postfork_parent), Some(postfork_child)) };
    crate::tcache::boot();
    crate::thread::init_key();
    crate::prof::boot();
    // Where no thread may cache small frees (tcache:false, the fill options, the profiler
    // sampling small objects in place), the mask stays all ones: every free takes the slow
    // path, which checks the pointer against the chunk registry.
    let g = g();
    if g.opts.tcache && crate::api::fast_free_allowed() {
        FREE_GEOMETRY.header_pages.store(g.header_pages, Ordering::Relaxed);
        FREE_GEOMETRY.chunk_base_mask.store(!g.chunk_mask, Ordering::Relaxed);
    }
    INITIALIZED.store(true, Ordering::Release);
    // After INITIALIZED: atexit may allocate, and that allocation must not re-enter start-up.
    crate::stats_print::register_at_exit();
    crate::prof::register_at_exit();
    crate::report::start();
    true
}

/// Every lock, in acquisition order.
fn for_each_lock(mut f: impl FnMut(&RawMutex)) {
    f(crate::ctl::lock());
    crate::prof::for_each_lock(&mut f);
    f(&INIT_LOCK);
    f(ARENAS_LOCK.raw());
    if is_initialized() {
        for i in 0..MAX_ARENAS {
            if let Some(a) = arena::get(i) {
                for b in 0..g().sc.nbins {
                    f(&a.bin(b).lock);
                }
                f(&a.lock);
            }
        }
        f(g().rtree.raw_lock());
    }
    crate::chunk::for_each_lock(&mut f);
    f(crate::huge::STATS.raw());
    f(crate::huge::NODES.lock());
    f(crate::chunk_cache::CACHE.raw());
    f(crate::thread::pool_lock());
    f(crate::base::lock());
}

extern "C" fn prefork() {
    for_each_lock(|l| l.lock());
}

extern "C" fn postfork_parent() {
    for_each_lock(|l| l.unlock());
}

extern "C" fn postfork_child() {
    for_each_lock(|l| l.reset_after_fork());
}
