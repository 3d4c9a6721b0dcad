//! The allocation API with C semantics: what `libjemalloc_rs.so` exports, callable from Rust.
//!
//! Mirrors jemalloc 2.2.1 `jemalloc.c`: `malloc`, `calloc`, `posix_memalign`, `aligned_alloc`,
//! `memalign`, `valloc`, `realloc`, `free`, `malloc_usable_size` and the experimental
//! `allocm`, `rallocm`, `sallocm`, `dallocm`. Every function is `extern "C"` so that a
//! function pointer to it is what the C symbol is; the `.so` re-exports them unprefixed.
//! Errors follow the manual: NULL and `errno = ENOMEM` for sizes that cannot be served,
//! `EINVAL` for bad alignments, `opt.xmalloc` turning failure into an abort, `opt.sysv`
//! making zero-byte requests return NULL.

use crate::chunk_map::{Chunk, LARGE, SMALL};
use crate::global::{g, init};
use crate::size_classes::{LG_PAGE, PAGE, PAGE_MASK};
use crate::{arena::Arena, bin, huge, large, pages, prof, tcache, thread};
use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::Ordering;

/// `allocm` flags and return codes, as the manual defines them.
pub const ALLOCM_LG_ALIGN_MASK: c_int = 0x3f;
pub const ALLOCM_ZERO: c_int = 0x40;
pub const ALLOCM_NO_MOVE: c_int = 0x80;
pub const ALLOCM_SUCCESS: c_int = 0;
pub const ALLOCM_ERR_OOM: c_int = 1;
pub const ALLOCM_ERR_NOT_MOVED: c_int = 2;

/// What a pointer handed to `free` turned out to be.
#[derive(Clone, Copy)]
enum Owner {
    Small(Chunk, usize),
    Large(Chunk, usize),
    Huge(*mut huge::HugeNode),
}

/// Classifies `p`, aborting with a message if it is not a live allocation of ours.
#[inline(always)]
fn owner(p: *const u8, what: &str) -> Owner {
    let g = g();
    let base = p as usize & !g.chunk_mask;
    let registered = g.rtree.get(base);
    if base != p as usize {
        if registered != base {
            invalid(what);
        }
        let c = Chunk(base as *mut _);
        let page = c.page_of(p);
        if page < g.header_pages {
            invalid(what);
        }
        // SAFETY: the registry says this is one of our arena chunks, and page is in its map.
        let e = unsafe { &*c.entry(page, g.header_pages) };
        if e.bits & SMALL != 0 {
            return Owner::Small(c, page);
        }
        if e.bits & LARGE != 0 && e.value() != 0 && p as usize & PAGE_MASK == 0 {
            return Owner::Large(c, page);
        }
        invalid(what)
    }
    match huge::node(p) {
        Some(n) => Owner::Huge(n),
        None => invalid(what),
    }
}

/// The bin of `p` if it is a small object, from its page map entry; None for null, huge
/// objects (chunk-aligned) and large ones. The fast paths' classifier: it trusts the page map,
/// as jemalloc does, and leaves the registry check to [`owner`] on the slow paths.
///
/// Before start-up, and where no thread may cache small frees, it answers None for every
/// pointer ([`crate::global::FREE_GEOMETRY`]).
///
/// # Safety
/// `p` is null or was handed out by this allocator.
#[inline(always)]
unsafe fn small_bin_of(p: *const u8) -> Option<usize> {
    let geometry = &crate::global::FREE_GEOMETRY;
    let base = p as usize & geometry.chunk_base_mask.load(Ordering::Relaxed);
    if base == p as usize {
        return None;
    }
    let c = Chunk(base as *mut _);
    // SAFETY: a non-chunk-aligned pointer of ours lies in an arena chunk past its header.
    let bits = unsafe { (*c.entry(c.page_of(p), geometry.header_pages.load(Ordering::Relaxed))).bits };
    (bits & SMALL != 0).then_some(bits >> 4)
}

#[cold]
fn invalid(what: &str) -> ! {
    crate::say!("{}(): invalid pointer (not allocated by this allocator, or already freed)", what);
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// Reports an allocation failure: abort under `opt.xmalloc`, else set errno.
#[cold]
fn oom(what: &str) -> *mut c_void {
    if g().opts.xmalloc {
        crate::say!("Error in {}(): out of memory", what);
        // SAFETY: abort has no preconditions.
        unsafe { libc::abort() }
    }
    pages::set_errno(libc::ENOMEM);
    ptr::null_mut()
}

/// Junk or zero fill of new memory (`opt.junk`, `opt.zero`), unless it was zeroed already.
#[inline(always)]
fn fill_new(p: *mut u8, usize_: usize, zeroed: bool) {
    if cfg!(feature = "fill") && !zeroed {
        let o = &g().opts;
        if o.junk {
            // SAFETY: p has usize_ usable bytes.
            unsafe { ptr::write_bytes(p, 0xa5, usize_) };
        } else if o.zero {
            // SAFETY: as above.
            unsafe { ptr::write_bytes(p, 0, usize_) };
        }
    }
}

#[inline(always)]
fn note_allocated(n: usize) {
    if crate::stats::STATS {
        // SAFETY: the thread's own state.
        unsafe { (*thread::state()).allocated += n as u64 };
    }
}

#[inline(always)]
fn note_deallocated(n: usize) {
    if crate::stats::STATS {
        // SAFETY: the thread's own state.
        unsafe { (*thread::state()).deallocated += n as u64 };
    }
}

/// Allocates `size` (> 0) bytes from the thread's cache, its arena, or as a huge object.
#[inline]
fn imalloc(size: usize, zero: bool) -> *mut u8 {
    if prof::on() {
        return imalloc_prof(size, zero);
    }
    imalloc_plain(size, zero)
}

/// [`imalloc`] under the heap profiler: a sampled small object is promoted to one page when
/// [`prof::promotes`], and its sample keeps the small class's size.
#[cold]
fn imalloc_prof(size: usize, zero: bool) -> *mut u8 {
    let g = g();
    let Some(usize_) = g.sc.usable_size(size) else { return imalloc_plain(size, zero) };
    let ctx = prof::prepare(usize_);
    let p = if !ctx.is_null() && usize_ <= g.sc.sspace_max && prof::promotes() { imalloc_plain(PAGE, zero) } else { imalloc_plain(size, zero) };
    // SAFETY: ctx is what prof::prepare returned.
    unsafe { prof::record(p, usize_, ctx) };
    p
}

#[inline]
fn imalloc_plain(size: usize, zero: bool) -> *mut u8 {
    let g = g();
    if size <= tcache::max_class() {
        let t = thread::tcache_or_create();
        if !t.is_null() {
            let binind = tcache::bin_of_size(size);
            // SAFETY: the thread's own cache; binind < nhbins since size <= max_class.
            let ((p, zeroed), usize_) = unsafe { (tcache::alloc(t, binind, zero), (*tcache::Tcache::bin(t, binind)).usize as usize) };
            if !p.is_null() {
                if zero && !zeroed {
                    // SAFETY: p has usize_ usable bytes.
                    unsafe { ptr::write_bytes(p, 0, usize_) };
                }
                fill_new(p, usize_, zero);
                note_allocated(usize_);
            }
            return p;
        }
    }
    let (p, usize_, zeroed) = if size <= g.sc.sspace_max {
        let binind = g.sc.small_bin(size);
        let usize_ = g.sc.bins[binind].reg_size as usize;
        let p = bin::malloc_small(thread::arena(), binind);
        if zero && !p.is_null() {
            // SAFETY: p has usize_ usable bytes.
            unsafe { ptr::write_bytes(p, 0, usize_) };
        }
        (p, usize_, zero)
    } else if size <= g.sc.arena_maxclass {
        let usize_ = (size + PAGE_MASK) & !PAGE_MASK;
        (large::malloc(thread::arena(), usize_, zero), usize_, zero)
    } else {
        let p = huge::malloc(size, g.sc.chunk_size, zero);
        let usize_ = if p.is_null() { 0 } else { crate::size_classes::chunk_ceiling(size, g.sc.chunk_size).unwrap_or(0) };
        // Zeroed if asked, but opt.junk still fills them.
        (p, usize_, zero)
    };
    if !p.is_null() {
        fill_new(p, usize_, zeroed);
        note_allocated(usize_);
    }
    p
}

/// Allocates `size` bytes aligned to `alignment` (a power of two).
fn ipalloc(size: usize, alignment: usize, zero: bool) -> *mut u8 {
    let g = g();
    let Some(usize_) = g.sc.aligned_usable_size(size, alignment) else { return ptr::null_mut() };
    if alignment <= PAGE && usize_ <= g.sc.arena_maxclass {
        return imalloc(usize_, zero);
    }
    if prof::on() {
        let ctx = prof::prepare(usize_);
        let p = ipalloc_plain(usize_, alignment, zero);
        // SAFETY: ctx is what prof::prepare returned.
        unsafe { prof::record(p, usize_, ctx) };
        return p;
    }
    ipalloc_plain(usize_, alignment, zero)
}

/// A large or huge object of `usize_` bytes (a usable size) aligned to `alignment`.
fn ipalloc_plain(usize_: usize, alignment: usize, zero: bool) -> *mut u8 {
    let g = g();
    let p = if usize_ <= g.sc.arena_maxclass {
        large::malloc_aligned(thread::arena(), usize_, alignment, zero)
    } else {
        huge::malloc(usize_, alignment, zero)
    };
    if !p.is_null() {
        fill_new(p, usize_, zero);
        note_allocated(usize_);
    }
    p
}

impl Owner {
    /// The allocation's usable size.
    fn usable(self) -> usize {
        let g = g();
        match self {
            // SAFETY: owner() checked the page map entry.
            Owner::Small(c, page) => unsafe { g.sc.bins[(*c.entry(page, g.header_pages)).value()].reg_size as usize },
            // SAFETY: as above.
            Owner::Large(c, page) => unsafe { (*c.entry(page, g.header_pages)).value() << LG_PAGE },
            // SAFETY: the node of a live huge object.
            Owner::Huge(n) => unsafe { (*n).size },
        }
    }
}

/// The usable size of the live allocation `p`.
fn isalloc(p: *const u8) -> usize {
    owner(p, "malloc_usable_size").usable()
}

fn junk_freed(p: *mut u8, usize_: usize) {
    if cfg!(feature = "fill") && g().opts.junk {
        // SAFETY: the object is being freed; its usize_ bytes are ours to scribble.
        unsafe { ptr::write_bytes(p, 0x5a, usize_) };
    }
}

/// Frees the live allocation `p` (non-null).
#[inline(always)]
fn ifree(p: *mut u8) {
    ifree_owned(p, owner(p, "free"))
}

/// Frees `p`, which `owner` describes: into the thread's cache when its class is cached,
/// else straight back to its arena, or unmapped if huge.
#[inline(always)]
fn ifree_owned(p: *mut u8, owner: Owner) {
    if prof::on() {
        prof::freed(p, matches!(owner, Owner::Small(..)));
    }
    let usize_ = owner.usable();
    junk_freed(p, usize_);
    note_deallocated(usize_);
    if !matches!(owner, Owner::Huge(_)) && usize_ <= tcache::max_class() {
        let t = thread::tcache_or_create();
        if !t.is_null() {
            // SAFETY: the thread's own cache; p is a live object of that class.
            unsafe { tcache::dalloc(t, tcache::bin_of_size(usize_), p) };
            return;
        }
    }
    match owner {
        // SAFETY: owner() found a small region of one of our chunks.
        Owner::Small(c, page) => unsafe { bin::dalloc_small(c, page, p) },
        // SAFETY: owner() found the head of a large run; its arena is in the chunk header.
        Owner::Large(c, page) => unsafe { large::dalloc(&*(*c.0).arena, c, page) },
        // SAFETY: a live huge node; the caller gives up the object.
        Owner::Huge(n) => unsafe { huge::dalloc(n) },
    }
}

/// Resizes `p` in place to a size class holding `size` (and up to `size + extra` where that
/// fits without moving). Returns the new usable size, or None if it must move.
fn iralloc_in_place(owner: Owner, size: usize, extra: usize, zero: bool) -> Option<usize> {
    let g = g();
    let old = owner.usable();
    let want = size.saturating_add(extra);
    match owner {
        Owner::Small(..) => {
            // In place when the class stays, or (rallocm's extra) when the object already
            // holds between size and size + extra bytes.
            let class = g.sc.usable_size(size)?;
            (class == old || (size <= old && old <= want)).then_some(old)
        }
        Owner::Large(c, page) => {
            if size <= g.sc.sspace_max || size > g.sc.arena_maxclass {
                return None;
            }
            // SAFETY: the chunk header's arena is set for the chunk's life.
            let arena: &Arena = unsafe { &*(*c.0).arena };
            // Pages a growth adds are new memory, which opt.zero zeroes.
            let zero = zero || cfg!(feature = "fill") && g.opts.zero;
            let p = c.page_addr(page);
            // opt.junk: a shrink's tail is junk before it goes back; a growth's pages are new.
            let resize = |target: usize| {
                if target < old {
                    junk_freed(p.wrapping_add(target), old - target);
                }
                // SAFETY: p is a live large object of that arena at that page.
                let ok = unsafe { large::ralloc_in_place(arena, c, page, old, target, zero) };
                if ok && target > old {
                    fill_new(p.wrapping_add(old), target - old, zero);
                }
                ok
            };
            let target = (want.min(g.sc.arena_maxclass) + PAGE_MASK) & !PAGE_MASK;
            if resize(target) {
                return Some(target);
            }
            let target = (size + PAGE_MASK) & !PAGE_MASK;
            if resize(target) {
                return Some(target);
            }
            None
        }
        Owner::Huge(n) => {
            if size <= g.sc.arena_maxclass {
                return None;
            }
            // SAFETY: a live huge node owned by the caller.
            unsafe {
                if huge::ralloc_in_place(n, want) || huge::ralloc_in_place(n, size) {
                    Some((*n).size)
                } else {
                    None
                }
            }
        }
    }
}

/// Resize with `realloc`'s semantics for a non-null `p` and `size > 0`.
fn irealloc(p: *mut u8, size: usize, alignment: usize, zero: bool) -> *mut u8 {
    let owner = owner(p, "realloc");
    let old = owner.usable();
    if p as usize & (alignment - 1) == 0 {
        if let Some(new) = iralloc_in_place(owner, size, 0, zero) {
            account_resize(old, new);
            prof_resized(p, owner, p, new);
            return p;
        }
        if let Owner::Huge(n) = owner {
            if size > old {
                // SAFETY: a live huge node owned by the caller; size exceeds its size.
                let q = unsafe { huge::ralloc_move(n, size, alignment) };
                if !q.is_null() {
                    // SAFETY: the node was updated by ralloc_move.
                    let new = unsafe { (*n).size };
                    account_resize(old, new);
                    prof_resized(p, owner, q, new);
                    return q;
                }
            }
        }
    }
    // imalloc aligns the tiny class to 8 bytes only, so anything stricter goes through ipalloc.
    let q = if alignment <= 1 << crate::size_classes::LG_TINY_MIN { imalloc(size, false) } else { ipalloc(size, alignment, false) };
    if q.is_null() {
        return q;
    }
    // SAFETY: both are live, distinct allocations of at least min(old, size) bytes.
    unsafe { ptr::copy_nonoverlapping(p, q, old.min(size)) };
    if zero {
        // The old real size is the boundary between kept and zeroed bytes (ALLOCM_ZERO), even
        // when the new real size exceeds the old one only through alignment.
        let new = isalloc(q);
        if new > old {
            // SAFETY: q has `new` usable bytes.
            unsafe { ptr::write_bytes(q.add(old), 0, new - old) };
        }
    }
    ifree_owned(p, owner);
    q
}

/// Under the heap profiler, an object resized without the allocation paths (in place, or a
/// huge object's pages moved) counts as freed and allocated again, as in jemalloc 2.2.1's
/// `prof_realloc`. A small object stays as it is when samples are promoted (it cannot
/// become a page in place), and is then neither sampled nor counted toward the next sample.
fn prof_resized(old_p: *mut u8, owner: Owner, new_p: *mut u8, new: usize) {
    if !prof::on() {
        return;
    }
    let small = matches!(owner, Owner::Small(..));
    prof::freed(old_p, small);
    if small && prof::promotes() {
        return;
    }
    let ctx = prof::prepare(new);
    // SAFETY: ctx is what prof::prepare returned.
    unsafe { prof::record(new_p, new, ctx) };
}

fn account_resize(old: usize, new: usize) {
    if new > old {
        note_allocated(new - old);
    } else {
        note_deallocated(old - new);
    }
}

#[inline(always)]
fn too_big(size: usize) -> bool {
    size > isize::MAX as usize
}

/// # Safety
/// None beyond C's `malloc`.
#[inline]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    match pop_small(size) {
        Some((p, _)) => p.cast(),
        // SAFETY: same contract.
        None => unsafe { malloc_slow(size) },
    }
}

/// The allocation fast path: an object of `size` bytes from the calling thread's cache, with
/// its usable size, if `size` is small (1..=SMALL_MAX) and the cache holds one of its class.
/// None otherwise, and always where the fast paths are off (the thread's cache is then
/// `Fast::NONE`, on which every pop misses): the caller takes its general path.
#[inline(always)]
fn pop_small(size: usize) -> Option<(*mut u8, usize)> {
    let s = thread::state();
    // SAFETY: the thread's own state. A size in 1..=SMALL_MAX has a size2bin entry naming a
    // bin below nbins, and every cache, Fast::NONE too, has that many bins; before start-up
    // the table reads as zeros, naming bin 0, where Fast::NONE misses. A pop that succeeds
    // came from a live cache, whose bin holds the class size.
    unsafe {
        let m = size.wrapping_sub(1);
        if m < SMALL_MAX {
            // (size + 7) >> 3, from the value just compared.
            let binind = *g().sc.size2bin.get_unchecked((m >> 3) + 1) as usize;
            let t = (*s).fast_tcache;
            if let Some(p) = tcache::try_pop(t, binind, &raw mut (*s).allocated) {
                return Some((p, t.usize(binind)));
            }
        }
        None
    }
}

/// Under the heap profiler with sampled small objects promoted to pages (the thread's
/// `fast_free` cache is set, `fast_tcache` is not): a small allocation that the sampler passes
/// over, from the thread's cache. None when it must take the general path (sampled, or the
/// cache is empty).
///
/// # Safety
/// Start-up is done, the calling thread's `fast_free` is its live cache, and
/// `1 <= size <= SMALL_MAX`.
#[cold]
#[inline(never)]
unsafe fn malloc_small_profiled(size: usize) -> Option<*mut u8> {
    // SAFETY: per the contract; a small size has a size2bin entry naming a bin below nbins.
    unsafe {
        let s = thread::state();
        let t = (*s).fast_free;
        let binind = *g().sc.size2bin.get_unchecked((size + 7) >> 3) as usize;
        let usize_ = t.usize(binind);
        if !prof::sample_skips(usize_) {
            return None;
        }
        let Some(p) = tcache::try_pop(t, binind, &raw mut (*s).allocated) else {
            prof::sample_unskip(usize_);
            return None;
        };
        Some(p)
    }
}

/// As [`malloc_small_profiled`], for `realloc` of a small object to a small size: in place
/// within the class, or a cached object of the new class and the old one freed. A sampled
/// resize, or an object that is not small, takes the general path.
///
/// # Safety
/// As [`malloc_small_profiled`]; `p` is a live allocation of this allocator.
#[cold]
#[inline(never)]
unsafe fn realloc_small_profiled(p: *mut u8, size: usize) -> Option<*mut u8> {
    // SAFETY: per the contract, as in the realloc fast path.
    unsafe {
        let old_bin = small_bin_of(p)?;
        let s = thread::state();
        let t = (*s).fast_free;
        let new_bin = *g().sc.size2bin.get_unchecked((size + 7) >> 3) as usize;
        let new_usize = t.usize(new_bin);
        if !prof::sample_skips(new_usize) {
            return None;
        }
        let old_usize = t.usize(old_bin);
        if old_bin == new_bin {
            return Some(p);
        }
        let Some(q) = tcache::try_pop(t, new_bin, &raw mut (*s).allocated) else {
            prof::sample_unskip(new_usize);
            return None;
        };
        ptr::copy_nonoverlapping(p, q, old_usize.min(new_usize));
        free(p.cast());
        Some(q)
    }
}

/// The largest small class, whatever the options: subpage classes always end there.
const SMALL_MAX: usize = PAGE - crate::size_classes::SUBPAGE;

#[cold]
#[inline(never)]
unsafe fn malloc_slow(size: usize) -> *mut c_void {
    let s = thread::state();
    // SAFETY: the thread's own state. The two caches differ only when the heap profiler stood
    // the allocation fast path aside (and then start-up is done).
    if unsafe { (*s).fast_tcache != (*s).fast_free } && size.wrapping_sub(1) < SMALL_MAX {
        // SAFETY: as above; the size is small.
        if let Some(p) = unsafe { malloc_small_profiled(size) } {
            return p.cast();
        }
    }
    if !init() {
        pages::set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    let size = if size == 0 {
        if g().opts.sysv {
            return ptr::null_mut();
        }
        1
    } else {
        size
    };
    if too_big(size) {
        return oom("malloc");
    }
    let p = imalloc(size, false);
    if p.is_null() {
        return oom("malloc");
    }
    p.cast()
}

/// # Safety
/// None beyond C's `calloc`.
pub unsafe extern "C" fn calloc(num: usize, size: usize) -> *mut c_void {
    if let Some((p, usize_)) = num.checked_mul(size).and_then(pop_small) {
        // SAFETY: a fresh object of usize_ bytes. The whole region is zeroed, as the general
        // path does, since malloc_usable_size promises it all.
        unsafe { ptr::write_bytes(p, 0, usize_) };
        return p.cast();
    }
    calloc_slow(num, size)
}

#[cold]
#[inline(never)]
fn calloc_slow(num: usize, size: usize) -> *mut c_void {
    if !init() {
        pages::set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    let Some(total) = num.checked_mul(size) else { return oom("calloc") };
    let total = if total == 0 {
        if g().opts.sysv {
            return ptr::null_mut();
        }
        1
    } else {
        total
    };
    if too_big(total) {
        return oom("calloc");
    }
    let p = imalloc(total, true);
    if p.is_null() {
        return oom("calloc");
    }
    p.cast()
}

/// Shared by the aligned entry points: 0 or an errno value.
// Never inlined: with the fast pops in front, the aligned entry points are small enough for
// the compiler to inline into their callers, and then this is the outermost allocator frame
// of the heap profiler's backtraces (an entry point, as calloc_slow is for calloc).
#[inline(never)]
fn aligned(out: &mut *mut c_void, alignment: usize, size: usize, min_align: usize, what: &str) -> c_int {
    if !init() {
        return libc::ENOMEM;
    }
    if !alignment.is_power_of_two() || alignment < min_align {
        if g().opts.xmalloc {
            crate::say!("Error in {}(): invalid alignment", what);
            // SAFETY: abort has no preconditions.
            unsafe { libc::abort() }
        }
        return libc::EINVAL;
    }
    let size = if size == 0 {
        if g().opts.sysv {
            *out = ptr::null_mut();
            return 0;
        }
        1
    } else {
        size
    };
    let p = if too_big(size) { ptr::null_mut() } else { ipalloc(size, alignment.max(8), false) };
    if p.is_null() {
        if g().opts.xmalloc {
            crate::say!("Error in {}(): out of memory", what);
            // SAFETY: abort has no preconditions.
            unsafe { libc::abort() }
        }
        return libc::ENOMEM;
    }
    *out = p.cast();
    0
}

/// # Safety
/// `memptr` is writable.
pub unsafe extern "C" fn posix_memalign(memptr: *mut *mut c_void, alignment: usize, size: usize) -> c_int {
    let min_align = core::mem::size_of::<*mut c_void>();
    if alignment >= min_align {
        if let Some(p) = pop_small_aligned(alignment, size) {
            // SAFETY: the caller passes a writable pointer.
            unsafe { *memptr = p.cast() };
            return 0;
        }
    }
    let mut p = ptr::null_mut();
    let r = aligned(&mut p, alignment, size, min_align, "posix_memalign");
    if r == 0 {
        // SAFETY: the caller passes a writable pointer.
        unsafe { *memptr = p };
    }
    r
}

/// The allocation fast path for an alignment of at most a page (a power of two; others miss):
/// the size rounded up to a multiple of the alignment (and of 8, the least any aligned request
/// gets), if still small, names a class whose regions all have that alignment, as
/// `SizeClasses::aligned_usable_size` finds on the general path.
#[inline(always)]
fn pop_small_aligned(alignment: usize, size: usize) -> Option<*mut u8> {
    if !alignment.is_power_of_two() || alignment > PAGE || size.wrapping_sub(1) >= SMALL_MAX {
        return None;
    }
    // Below SMALL_MAX + PAGE: no overflow; pop_small misses when it is no longer small.
    let mask = alignment.max(8) - 1;
    pop_small((size + mask) & !mask).map(|(p, _)| p)
}

fn aligned_or_errno(alignment: usize, size: usize, what: &str) -> *mut c_void {
    if let Some(p) = pop_small_aligned(alignment, size) {
        return p.cast();
    }
    let mut p = ptr::null_mut();
    match aligned(&mut p, alignment, size, 1, what) {
        0 => p,
        e => {
            pages::set_errno(e);
            ptr::null_mut()
        }
    }
}

/// # Safety
/// None beyond C11's `aligned_alloc`.
pub unsafe extern "C" fn aligned_alloc(alignment: usize, size: usize) -> *mut c_void {
    aligned_or_errno(alignment, size, "aligned_alloc")
}

/// # Safety
/// None beyond `memalign`.
pub unsafe extern "C" fn memalign(alignment: usize, size: usize) -> *mut c_void {
    aligned_or_errno(alignment, size, "memalign")
}

/// # Safety
/// None beyond `valloc`.
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    aligned_or_errno(PAGE, size, "valloc")
}

/// glibc's `pvalloc`: `valloc` of the size rounded up to whole pages. Not in the manual, but
/// exported so that a program calling it under `LD_PRELOAD` gets memory `free` accepts.
///
/// # Safety
/// None beyond glibc's `pvalloc`.
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    match size.max(1).checked_add(PAGE_MASK) {
        Some(s) => aligned_or_errno(PAGE, s & !PAGE_MASK, "pvalloc"),
        None => {
            pages::set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// # Safety
/// `ptr` is null or a live allocation of this allocator.
#[inline]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    let s = thread::state();
    // SAFETY: the thread's own state; a non-null fast cache implies start-up is done. As in
    // `free`, a pointer inside a chunk that this allocator handed out has a page map entry,
    // and a small one names its bin; the new size has a size2bin entry.
    unsafe {
        let t = (*s).fast_tcache;
        if !t.is_none() && size.wrapping_sub(1) < SMALL_MAX {
            if let Some(old_bin) = small_bin_of(p.cast()) {
                let new_bin = *g().sc.size2bin.get_unchecked((size + 7) >> 3) as usize;
                if old_bin == new_bin {
                    return p;
                }
                // Small to small: a cached object of the new class, then the old one freed.
                if let Some(q) = tcache::try_pop(t, new_bin, &raw mut (*s).allocated) {
                    let new_usize = t.usize(new_bin);
                    let old_usize = t.usize(old_bin);
                    ptr::copy_nonoverlapping(p.cast::<u8>(), q, old_usize.min(new_usize));
                    free(p);
                    return q.cast();
                }
            }
        }
        realloc_slow(p, size)
    }
}

#[cold]
#[inline(never)]
unsafe fn realloc_slow(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        // SAFETY: forwarding the caller's contract.
        return unsafe { malloc(size) };
    }
    let s = thread::state();
    // SAFETY: the thread's own state; as in malloc_slow.
    if unsafe { (*s).fast_tcache != (*s).fast_free } && size.wrapping_sub(1) < SMALL_MAX {
        // SAFETY: p is a live allocation of ours (the caller's contract); the size is small.
        if let Some(q) = unsafe { realloc_small_profiled(p.cast(), size) } {
            return q.cast();
        }
    }
    let size = if size == 0 {
        if g().opts.sysv {
            ifree(p.cast());
            return ptr::null_mut();
        }
        1
    } else {
        size
    };
    if too_big(size) {
        return oom("realloc");
    }
    let q = irealloc(p.cast(), size, 1, false);
    if q.is_null() {
        return oom("realloc");
    }
    q.cast()
}

/// # Safety
/// `ptr` is null or a live allocation of this allocator, not used afterwards.
#[inline]
pub unsafe extern "C" fn free(p: *mut c_void) {
    let s = thread::state();
    // SAFETY: the thread's own state. A pointer inside a chunk (not at its base, which also
    // excludes null) that this allocator handed out has a page map entry; a small one names
    // its bin, below nbins, which every cache, Fast::NONE too, has (on which the push misses).
    unsafe {
        if let Some(binind) = small_bin_of(p.cast()) {
            let t = (*s).fast_free;
            if tcache::try_push(t, binind, p.cast(), &raw mut (*s).deallocated) {
                return;
            }
        }
        free_slow(p)
    }
}

/// Frees `p`, a small object allocated by [`malloc`] (or `calloc`, `realloc`) with a request
/// of `size` bytes: the size names its class, so the fast path reads no page map. This is
/// what `Jemalloc::dealloc` uses, where Rust passes the size back.
///
/// # Safety
/// `p` is a live object of this allocator whose last request was `size` bytes, `1 <= size <=
/// PAGE - SUBPAGE`, with at most 16-byte alignment; it is not used afterwards.
#[inline]
pub unsafe fn free_small_sized(p: *mut c_void, size: usize) {
    let s = thread::state();
    // SAFETY: the thread's own state; the caller's size names the object's class, below
    // nbins, which every cache, Fast::NONE too, has (on which the push misses).
    unsafe {
        let t = (*s).fast_free;
        let binind = *g().sc.size2bin.get_unchecked((size + 7) >> 3) as usize;
        if tcache::try_push(t, binind, p.cast(), &raw mut (*s).deallocated) {
            return;
        }
        free_slow(p)
    }
}

/// The largest size [`free_small_sized`] takes.
pub const SMALL_SIZED_MAX: usize = SMALL_MAX;

#[cold]
#[inline(never)]
unsafe fn free_slow(p: *mut c_void) {
    if !p.is_null() {
        ifree(p.cast());
    }
}

/// Whether the fast paths may serve this process: not when `opt.junk` or `opt.zero` want
/// every object filled, which the slow paths do, nor under the heap profiler, which samples
/// allocations on the slow paths.
pub fn fast_paths_allowed() -> bool {
    fast_free_allowed() && !prof::on()
}

/// Whether the free fast paths may serve this process: as [`fast_paths_allowed`], except that
/// the heap profiler needs to see small frees only when small objects are sampled in place.
pub fn fast_free_allowed() -> bool {
    let o = &g().opts;
    !(cfg!(feature = "fill") && (o.junk || o.zero)) && (!prof::on() || prof::promotes())
}

/// The functions through which callers enter the allocator, for the heap profiler's
/// backtraces (which start at their callers).
pub(crate) fn entry_points() -> [usize; 15] {
    [
        malloc as *const () as usize,
        malloc_slow as *const () as usize,
        calloc as *const () as usize,
        calloc_slow as *const () as usize,
        aligned as *const () as usize,
        posix_memalign as *const () as usize,
        aligned_alloc as *const () as usize,
        memalign as *const () as usize,
        valloc as *const () as usize,
        pvalloc as *const () as usize,
        realloc as *const () as usize,
        realloc_slow as *const () as usize,
        allocm as *const () as usize,
        rallocm as *const () as usize,
        free_slow as *const () as usize,
    ]
}

/// # Safety
/// `ptr` is null or a live allocation of this allocator.
pub unsafe extern "C" fn malloc_usable_size(p: *const c_void) -> usize {
    if p.is_null() || !crate::global::is_initialized() {
        return 0;
    }
    isalloc(p.cast())
}

fn flags_alignment(flags: c_int) -> usize {
    let lg = (flags & ALLOCM_LG_ALIGN_MASK) as u32;
    if lg >= usize::BITS - 1 {
        usize::MAX
    } else {
        1usize << lg
    }
}

/// # Safety
/// `ptr` is writable; `rsize` is null or writable.
pub unsafe extern "C" fn allocm(out: *mut *mut c_void, rsize: *mut usize, size: usize, flags: c_int) -> c_int {
    if !init() {
        // SAFETY: the caller passes a writable ptr; the manual: allocm sets *ptr to NULL on failure.
        unsafe { *out = ptr::null_mut() };
        return ALLOCM_ERR_OOM;
    }
    let alignment = flags_alignment(flags);
    let zero = flags & ALLOCM_ZERO != 0;
    let size = size.max(1);
    let p = if too_big(size) || alignment == usize::MAX {
        ptr::null_mut()
    } else if alignment <= 8 {
        imalloc(size, zero)
    } else {
        ipalloc(size, alignment, zero)
    };
    if p.is_null() {
        if g().opts.xmalloc {
            crate::say!("Error in allocm(): out of memory");
            // SAFETY: abort has no preconditions.
            unsafe { libc::abort() }
        }
        // SAFETY: the caller passes a writable ptr; the manual: allocm sets *ptr to NULL on
        // failure (rallocm leaves it unchanged).
        unsafe { *out = ptr::null_mut() };
        return ALLOCM_ERR_OOM;
    }
    // SAFETY: the caller passes writable pointers (rsize may be null).
    unsafe {
        *out = p.cast();
        if !rsize.is_null() {
            *rsize = isalloc(p);
        }
    }
    ALLOCM_SUCCESS
}

/// # Safety
/// `*ptr` is a live allocation of this allocator; `rsize` is null or writable.
pub unsafe extern "C" fn rallocm(inout: *mut *mut c_void, rsize: *mut usize, size: usize, extra: usize, flags: c_int) -> c_int {
    // SAFETY: the caller passes a pointer to a live allocation.
    let p: *mut u8 = unsafe { *inout }.cast();
    let alignment = flags_alignment(flags);
    let zero = flags & ALLOCM_ZERO != 0;
    let size = size.max(1);
    if too_big(size) || alignment == usize::MAX {
        return ALLOCM_ERR_OOM;
    }
    let old = isalloc(p);
    let extra = extra.min(isize::MAX as usize - size);
    let q = if flags & ALLOCM_NO_MOVE != 0 {
        if p as usize & (alignment - 1) != 0 {
            return ALLOCM_ERR_NOT_MOVED;
        }
        let owner = owner(p, "rallocm");
        match iralloc_in_place(owner, size, extra, zero) {
            Some(new) => {
                account_resize(old, new);
                prof_resized(p, owner, p, new);
                p
            }
            None => return ALLOCM_ERR_NOT_MOVED,
        }
    } else {
        // A misaligned object must move: resizing it in place first would be wasted work and
        // would leave the resize out of the thread's counters.
        let owner = owner(p, "rallocm");
        let in_place = if p as usize & (alignment - 1) == 0 { iralloc_in_place(owner, size, extra, zero) } else { None };
        match in_place {
            Some(new) => {
                account_resize(old, new);
                prof_resized(p, owner, p, new);
                p
            }
            None => {
                let q = irealloc(p, size.saturating_add(extra).min(isize::MAX as usize), alignment.max(1), zero);
                if q.is_null() {
                    if g().opts.xmalloc {
                        crate::say!("Error in rallocm(): out of memory");
                        // SAFETY: abort has no preconditions.
                        unsafe { libc::abort() }
                    }
                    return ALLOCM_ERR_OOM;
                }
                q
            }
        }
    };
    let new = isalloc(q);
    if zero && q == p && new > old {
        // SAFETY: bytes old..new of the resized object are ours and not yet defined.
        unsafe { ptr::write_bytes(p.add(old), 0, new - old) };
    }
    // SAFETY: the caller passes writable pointers (rsize may be null).
    unsafe {
        *inout = q.cast();
        if !rsize.is_null() {
            *rsize = new;
        }
    }
    ALLOCM_SUCCESS
}

/// # Safety
/// `ptr` is a live allocation of this allocator; `rsize` is writable.
pub unsafe extern "C" fn sallocm(p: *const c_void, rsize: *mut usize, _flags: c_int) -> c_int {
    // SAFETY: the caller passes a writable rsize.
    unsafe { *rsize = isalloc(p.cast()) };
    ALLOCM_SUCCESS
}

/// # Safety
/// `ptr` is a live allocation of this allocator, not used afterwards.
pub unsafe extern "C" fn dallocm(p: *mut c_void, _flags: c_int) -> c_int {
    ifree(p.cast());
    ALLOCM_SUCCESS
}
