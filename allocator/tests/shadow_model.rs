//! A randomized shadow model of the C-semantics API.
//!
//! Each case runs a seeded random sequence of `malloc`, `calloc`, `realloc`, `free`,
//! `posix_memalign`, `allocm`, `rallocm` and `dallocm` from `jemalloc_rs::api` and keeps a
//! model of what must be live: each block's address, requested and usable size, alignment and
//! contents (a byte pattern unique to the block, written over its whole usable size). Every
//! step checks the block it touched against the model and the size-class tables, no two live
//! blocks may overlap, the thread's `allocated - deallocated` balance must equal the model's
//! live usable bytes, and every few hundred steps the whole live set is re-read.
//!
//! A failure names the seed, the step and the last operations; `SHADOW_SEED=<n>` replays one
//! seed in every case. The test binary runs on the system allocator, so the model's own
//! collections never touch the allocator under test.

use jemalloc_rs::api::{self, ALLOCM_ERR_NOT_MOVED, ALLOCM_NO_MOVE, ALLOCM_SUCCESS, ALLOCM_ZERO};
use jemalloc_rs::size_classes::SizeClasses;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// xorshift64*: small, fast and reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d);
        if r.0 == 0 {
            r.0 = 1;
        }
        for _ in 0..4 {
            r.next();
        }
        r
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    /// Log-uniform in `lo..=hi`: every power-of-two band is as likely as any other.
    fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        let (lg_lo, lg_hi) = (usize::BITS - 1 - lo.leading_zeros(), usize::BITS - 1 - hi.leading_zeros());
        let lg = self.range(lg_lo as usize, lg_hi as usize);
        let band_lo = (1usize << lg).max(lo);
        let band_hi = ((1usize << lg) * 2 - 1).min(hi);
        self.range(band_lo, band_hi)
    }
}

/// Word `k` (bytes `8k..8k + 8`) of the pattern of the block tagged `tag`.
#[inline(always)]
fn pattern_word(tag: u64, k: usize) -> u64 {
    let mut w = tag ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    w ^= w >> 29;
    w = w.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    w ^ (w >> 32)
}

/// Byte `i` of the pattern of the block tagged `tag`.
fn pattern(tag: u64, i: usize) -> u8 {
    pattern_word(tag, i / 8).to_le_bytes()[i % 8]
}

/// Writes the pattern over bytes `from..to` of the block at `p` (8-aligned).
fn fill(p: *mut u8, from: usize, to: usize, tag: u64) {
    let mut i = from;
    while i < to && !i.is_multiple_of(8) {
        // SAFETY: callers pass a live block whose usable size is at least `to`.
        unsafe { *p.add(i) = pattern(tag, i) };
        i += 1;
    }
    while i + 8 <= to {
        // SAFETY: as above; p + i is 8-aligned because p is.
        unsafe { *p.add(i).cast::<u64>() = pattern_word(tag, i / 8).to_le() };
        i += 8;
    }
    while i < to {
        // SAFETY: as above.
        unsafe { *p.add(i) = pattern(tag, i) };
        i += 1;
    }
}

/// The first byte of `from..to` of the block at `p` (8-aligned) that is not the pattern's.
fn pattern_mismatch(p: *const u8, from: usize, to: usize, tag: u64) -> Option<usize> {
    let byte_mismatch = |from: usize, to: usize| {
        // SAFETY: callers pass a live block whose usable size is at least `to`.
        (from..to).find(|&i| unsafe { *p.add(i) } != pattern(tag, i))
    };
    let words_from = from.next_multiple_of(8).min(to);
    let words_to = words_from + (to - words_from) / 8 * 8;
    if let Some(i) = byte_mismatch(from, words_from) {
        return Some(i);
    }
    // SAFETY: as above; the words are 8-aligned because p is.
    let words = unsafe { std::slice::from_raw_parts(p.add(words_from).cast::<u64>(), (words_to - words_from) / 8) };
    let k0 = words_from / 8;
    if let Some(j) = words.iter().enumerate().position(|(j, &w)| u64::from_le(w) != pattern_word(tag, k0 + j)) {
        return byte_mismatch(words_from + 8 * j, words_from + 8 * j + 8);
    }
    byte_mismatch(words_to, to)
}

fn nonzero_at(p: *const u8, from: usize, to: usize) -> Option<usize> {
    // SAFETY: callers pass a live block whose usable size is at least `to`.
    let s = unsafe { std::slice::from_raw_parts(p.add(from), to - from) };
    s.iter().position(|&b| b != 0).map(|j| from + j)
}

fn usable_size(p: *mut u8) -> usize {
    // SAFETY: callers pass live blocks only.
    unsafe { api::malloc_usable_size(p as *const c_void) }
}

/// The calling thread's `thread.allocated - thread.deallocated`.
fn thread_balance() -> i128 {
    // SAFETY: the calling thread's own state, read on that thread.
    unsafe {
        let s = jemalloc_rs::thread::state();
        (*s).allocated as i128 - (*s).deallocated as i128
    }
}

/// The size classes the allocator runs with (after its start-up).
fn classes() -> &'static SizeClasses {
    // SAFETY: malloc(1) initialises the allocator; the block is freed at once.
    unsafe { api::free(api::malloc(1)) };
    &jemalloc_rs::global::g().sc
}

#[derive(Clone, Copy, Debug)]
struct Block {
    ptr: *mut u8,
    /// What the last request asked for.
    size: usize,
    usable: usize,
    /// The alignment the last request asked for (1 if none).
    align: usize,
    tag: u64,
}

// SAFETY: a Block is an owned allocation; whoever holds it is the only one touching it.
unsafe impl Send for Block {}

/// Start -> (end, tag) of every live block, shared by the threads of one case.
type Ranges = Arc<Mutex<BTreeMap<usize, (usize, u64)>>>;

#[derive(Clone, Copy)]
struct Profile {
    ops: usize,
    max_blocks: usize,
    max_bytes: usize,
    /// Per-mille of sizes that are large (above the small classes).
    large_permille: usize,
    /// Per-mille of sizes that are huge (above the largest large class).
    huge_permille: usize,
    /// Weights of malloc, calloc, posix_memalign, allocm, realloc, rallocm, free.
    weights: [usize; 7],
    /// Largest lg alignment asked for.
    max_lg_align: usize,
}

const SMALL_ONLY: Profile = Profile {
    ops: 40_000,
    max_blocks: 2_000,
    max_bytes: 16 * MIB,
    large_permille: 0,
    huge_permille: 0,
    weights: [30, 8, 6, 6, 20, 10, 30],
    max_lg_align: 12,
};

const MIXED: Profile = Profile {
    ops: 4_000,
    max_blocks: 300,
    max_bytes: 48 * MIB,
    large_permille: 300,
    huge_permille: 8,
    weights: [20, 8, 8, 8, 20, 12, 24],
    max_lg_align: 21,
};

const ALIGNED: Profile = Profile {
    ops: 4_000,
    max_blocks: 300,
    max_bytes: 48 * MIB,
    large_permille: 250,
    huge_permille: 5,
    weights: [5, 2, 25, 20, 10, 20, 25],
    max_lg_align: 23,
};

const THREADED: Profile = Profile {
    ops: 3_000,
    max_blocks: 200,
    max_bytes: 24 * MIB,
    large_permille: 200,
    huge_permille: 4,
    weights: [20, 8, 8, 8, 20, 12, 24],
    max_lg_align: 21,
};

struct Shadow {
    name: &'static str,
    seed: u64,
    step: usize,
    rng: Rng,
    profile: Profile,
    sc: &'static SizeClasses,
    blocks: Vec<Block>,
    ranges: Ranges,
    live_bytes: usize,
    next_tag: u64,
    /// Whether the thread balance must match the model (false when blocks change threads).
    check_balance: bool,
    balance_base: i128,
    log: VecDeque<String>,
    boundaries: Vec<usize>,
}

impl Shadow {
    fn new(name: &'static str, seed: u64, profile: Profile, ranges: Ranges, check_balance: bool) -> Shadow {
        let sc = classes();
        let mut boundaries: Vec<usize> = sc.bins().iter().map(|b| b.reg_size as usize).collect();
        boundaries.extend([sc.sspace_max, 4 * KIB, 8 * KIB, sc.arena_maxclass, sc.chunk_size, 2 * sc.chunk_size]);
        Shadow {
            name,
            seed,
            step: 0,
            rng: Rng::new(seed),
            profile,
            sc,
            blocks: Vec::new(),
            ranges,
            live_bytes: 0,
            next_tag: seed << 32,
            check_balance,
            balance_base: thread_balance(),
            log: VecDeque::new(),
            boundaries,
        }
    }

    fn note(&mut self, what: String) {
        if self.log.len() == 24 {
            self.log.pop_front();
        }
        self.log.push_back(what);
    }

    #[track_caller]
    fn fail(&self, what: String) -> ! {
        let log: Vec<&str> = self.log.iter().map(String::as_str).collect();
        panic!(
            "{} seed {} step {}: {}\nlast operations, oldest first:\n  {}\nreplay with SHADOW_SEED={}",
            self.name,
            self.seed,
            self.step,
            what,
            log.join("\n  "),
            self.seed
        );
    }

    /// The largest request the profile makes.
    fn max_size(&self) -> usize {
        if self.profile.huge_permille > 0 {
            3 * self.sc.chunk_size
        } else if self.profile.large_permille > 0 {
            self.sc.arena_maxclass
        } else {
            self.sc.sspace_max
        }
    }

    fn size(&mut self) -> usize {
        let r = self.rng.below(1000);
        let p = self.profile;
        if r < p.huge_permille {
            return self.rng.range(self.sc.arena_maxclass + 1, 3 * self.sc.chunk_size);
        }
        if r < p.huge_permille + 60 {
            // One below, at or one above a class boundary.
            let b = self.boundaries[self.rng.below(self.boundaries.len())];
            let s = b + self.rng.range(0, 2) - 1;
            if s <= self.max_size() {
                return s;
            }
        }
        if r >= 1000 - p.large_permille {
            return self.rng.log_uniform(self.sc.sspace_max + 1, 4 * MIB).min(self.max_size());
        }
        if self.rng.below(64) == 0 {
            return 0;
        }
        self.rng.log_uniform(1, self.sc.sspace_max)
    }

    fn lg_align(&mut self) -> usize {
        if self.rng.percent(60) {
            return self.rng.range(3, 6);
        }
        self.rng.range(3, self.profile.max_lg_align)
    }

    fn full(&self) -> bool {
        self.blocks.len() >= self.profile.max_blocks || self.live_bytes >= self.profile.max_bytes
    }

    fn run(&mut self) {
        for step in 0..self.profile.ops {
            self.step = step;
            let w = self.profile.weights;
            let total: usize = w.iter().sum();
            let mut r = self.rng.below(total);
            let mut op = 0;
            while r >= w[op] {
                r -= w[op];
                op += 1;
            }
            if self.blocks.is_empty() && op >= 4 {
                op = 0;
            }
            if self.full() && op < 4 {
                op = 6;
            }
            match op {
                0 => self.op_malloc(),
                1 => self.op_calloc(),
                2 => self.op_posix_memalign(),
                3 => self.op_allocm(),
                4 => self.op_realloc(),
                5 => self.op_rallocm(),
                _ => self.op_free(),
            }
            self.check_balance();
            if step % 512 == 511 {
                self.check_all();
            }
        }
    }

    /// Frees everything still live, checking each block first.
    fn drain(&mut self) {
        self.step = self.profile.ops;
        while !self.blocks.is_empty() {
            let i = self.blocks.len() - 1;
            let b = self.take(i);
            self.note(format!("free({:p}) at the end", b.ptr));
            // SAFETY: a live block of ours, forgotten by the model above.
            unsafe { api::free(b.ptr.cast()) };
        }
        self.check_balance();
    }

    fn check_balance(&self) {
        if !self.check_balance || !jemalloc_rs::stats::STATS {
            return;
        }
        let balance = thread_balance() - self.balance_base;
        if balance != self.live_bytes as i128 {
            self.fail(format!(
                "thread.allocated - thread.deallocated moved by {balance} but the live blocks hold {} usable bytes",
                self.live_bytes
            ));
        }
    }

    fn check_all(&self) {
        for b in &self.blocks {
            self.check_block(b, "periodic check");
        }
    }

    /// The block's usable size and contents are as the model says.
    fn check_block(&self, b: &Block, when: &str) {
        let usable = usable_size(b.ptr);
        if usable != b.usable {
            self.fail(format!("{when}: malloc_usable_size({:p}) is {usable}, was {}", b.ptr, b.usable));
        }
        let mut s = 0;
        // SAFETY: a live block; rsize is a valid out-pointer.
        let rc = unsafe { api::sallocm(b.ptr as *const c_void, &mut s, 0) };
        if rc != ALLOCM_SUCCESS || s != usable {
            self.fail(format!("{when}: sallocm({:p}) gave {rc} and {s}, malloc_usable_size {usable}", b.ptr));
        }
        if let Some(off) = pattern_mismatch(b.ptr, 0, b.usable, b.tag) {
            self.fail(format!(
                "{when}: block {:p} (size {}, usable {}) changed at offset {off}: {:#04x}, expected {:#04x}",
                b.ptr,
                b.size,
                b.usable,
                // SAFETY: off < usable.
                unsafe { *b.ptr.add(off) },
                pattern(b.tag, off)
            ));
        }
    }

    /// Checks a block the allocator just returned and adds it to the model.
    ///
    /// `zeroed` says whether zeroing was asked for and how many bytes from the start must then
    /// read as zero; `expected_usable`, when known, is what the size-class tables say the
    /// request gets. Fills the block with its pattern.
    fn adopt(
        &mut self,
        p: *mut u8,
        size: usize,
        align: usize,
        zeroed: Option<usize>,
        expected_usable: Option<usize>,
        what: &str,
    ) {
        if p.is_null() {
            self.fail(format!("{what} returned NULL"));
        }
        let usable = usable_size(p);
        let b = Block { ptr: p, size, usable, align, tag: self.next_tag };
        self.next_tag += 1;
        self.check_shape(&b, expected_usable, what);
        let opts = &jemalloc_rs::global::g().opts;
        // opt.zero zeroes, and opt.junk fills with 0xa5, every byte not zeroed on request.
        let must_be_zero = if opts.zero { usable } else { zeroed.unwrap_or(0) };
        if let Some(off) = nonzero_at(p, 0, must_be_zero.min(usable)) {
            self.fail(format!("{what} = {p:p}: byte {off} of {must_be_zero} that must be zero is not"));
        }
        if opts.junk && zeroed.is_none() {
            // SAFETY: a live block of `usable` bytes.
            let s = unsafe { std::slice::from_raw_parts(p, usable) };
            if let Some(off) = s.iter().position(|&b| b != 0xa5) {
                self.fail(format!("{what} = {p:p} (usable {usable}) under opt.junk: byte {off} is {:#04x}", s[off]));
            }
        }
        self.insert_range(&b, what);
        fill(p, 0, usable, b.tag);
        self.live_bytes += usable;
        self.blocks.push(b);
    }

    /// Alignment and size of a block fresh from the allocator.
    fn check_shape(&self, b: &Block, expected_usable: Option<usize>, what: &str) {
        let p = b.ptr as usize;
        if !p.is_multiple_of(b.align) {
            self.fail(format!("{what} = {:p} is not aligned to {}", b.ptr, b.align));
        }
        // Any block suits any object that fits it: 8-byte objects in the tiny class, 16-byte
        // (quantum) alignment above.
        let natural = if b.usable >= 16 { 16 } else { 8 };
        if !p.is_multiple_of(natural) {
            self.fail(format!("{what} = {:p} (usable {}) is not {natural}-aligned", b.ptr, b.usable));
        }
        if b.usable < b.size.max(1) {
            self.fail(format!("{what} = {:p}: usable size {} is below the {} requested", b.ptr, b.usable, b.size));
        }
        if let Some(e) = expected_usable {
            if b.usable != e {
                self.fail(format!(
                    "{what} = {:p}: usable size {}, the size classes say {e} for {} bytes",
                    b.ptr, b.usable, b.size
                ));
            }
        }
    }

    fn insert_range(&self, b: &Block, what: &str) {
        let (start, end) = (b.ptr as usize, b.ptr as usize + b.usable);
        let mut ranges = self.ranges.lock().unwrap();
        if let Some((&s, &(e, tag))) = ranges.range(..end).next_back() {
            if e > start {
                drop(ranges);
                self.fail(format!(
                    "{what} = [{start:#x}, {end:#x}) overlaps the live block [{s:#x}, {e:#x}) (tag {tag:#x})"
                ));
            }
        }
        ranges.insert(start, (end, b.tag));
    }

    fn remove_range(&self, b: &Block) {
        let removed = self.ranges.lock().unwrap().remove(&(b.ptr as usize));
        if removed != Some((b.ptr as usize + b.usable, b.tag)) {
            self.fail(format!("the range map lost block {:p}", b.ptr));
        }
    }

    /// Checks block `i`, then drops it from the model (before the allocator may reuse it).
    fn take(&mut self, i: usize) -> Block {
        let b = self.blocks.swap_remove(i);
        self.check_block(&b, "before releasing it");
        self.remove_range(&b);
        self.live_bytes -= b.usable;
        b
    }

    fn pick(&mut self) -> usize {
        self.rng.below(self.blocks.len())
    }

    fn op_malloc(&mut self) {
        let size = self.size();
        // SAFETY: plain allocation.
        let p = unsafe { api::malloc(size) }.cast::<u8>();
        self.note(format!("malloc({size}) = {p:p}"));
        let e = self.sc.usable_size(size);
        self.adopt(p, size, 1, None, e, "malloc");
    }

    fn op_calloc(&mut self) {
        let size = self.size();
        let (num, each) = match self.rng.below(3) {
            0 => (1, size),
            1 if size >= 2 => (size / 2, 2),
            _ if size >= 24 => (size / 24, 24),
            _ => (size, 1),
        };
        let total = num * each;
        // SAFETY: plain allocation.
        let p = unsafe { api::calloc(num, each) }.cast::<u8>();
        self.note(format!("calloc({num}, {each}) = {p:p}"));
        let e = self.sc.usable_size(total);
        self.adopt(p, total, 1, Some(total), e, "calloc");
    }

    fn op_posix_memalign(&mut self) {
        let size = self.size();
        let align = 1usize << self.lg_align();
        let mut p = ptr::null_mut();
        // SAFETY: p is a valid out-pointer.
        let rc = unsafe { api::posix_memalign(&mut p, align, size) };
        self.note(format!("posix_memalign({align}, {size}) = {rc}, {p:p}"));
        if rc != 0 {
            self.fail(format!("posix_memalign({align}, {size}) failed with {rc}"));
        }
        let e = self.sc.aligned_usable_size(size, align);
        self.adopt(p.cast(), size, align, None, e, "posix_memalign");
    }

    fn op_allocm(&mut self) {
        let size = self.size();
        let lg = if self.rng.percent(50) { 0 } else { self.lg_align() };
        let zero = self.rng.percent(40);
        let flags = lg as i32 | if zero { ALLOCM_ZERO } else { 0 };
        let mut p = ptr::null_mut();
        let mut rsize = 0;
        // SAFETY: valid out-pointers.
        let rc = unsafe { api::allocm(&mut p, &mut rsize, size, flags) };
        self.note(format!("allocm({size}, lg_align {lg}, zero {zero}) = {rc}, {p:p}, rsize {rsize}"));
        if rc != ALLOCM_SUCCESS {
            self.fail(format!("allocm({size}, {flags:#x}) failed with {rc}"));
        }
        if rsize != usable_size(p.cast()) {
            self.fail(format!("allocm set rsize {rsize}, malloc_usable_size says {}", usable_size(p.cast())));
        }
        let e = self.sc.aligned_usable_size(size, 1 << lg);
        // ALLOCM_ZERO zeroes the whole real size: all of it is newly allocated memory.
        self.adopt(p.cast(), size, 1 << lg, zero.then_some(rsize), e, "allocm");
    }

    fn new_size(&mut self, old: &Block) -> usize {
        match self.rng.below(8) {
            0 => old.size.saturating_sub(self.rng.range(0, 64)),
            1 => (old.size + self.rng.range(0, 64)).min(self.max_size()),
            2 => old.size / 2,
            3 => old.size.saturating_mul(2).min(self.max_size()),
            4 => old.usable,
            _ => self.size(),
        }
    }

    fn op_realloc(&mut self) {
        let i = self.pick();
        let old = self.blocks[i];
        let size = self.new_size(&old);
        let old = self.take(i);
        // SAFETY: a live block, forgotten by the model; realloc frees it if it moves.
        let q = unsafe { api::realloc(old.ptr.cast(), size) }.cast::<u8>();
        self.note(format!("realloc({:p} usable {}, {size}) = {q:p}", old.ptr, old.usable));
        if q.is_null() {
            self.fail(format!("realloc({:p}, {size}) returned NULL", old.ptr));
        }
        let e = self.sc.usable_size(size);
        // Bytes up to the lesser of the old usable size and the new request survive; past the
        // request they are the object's too (malloc_usable_size), so an in-place resize keeps
        // them as well.
        // A zero-byte request is served as a one-byte one, and that byte is copied.
        let keep = if q == old.ptr { old.usable } else { old.usable.min(size.max(1)) };
        self.readopt(old, q, size, 1, keep, None, e, "realloc");
    }

    /// Adds a resized block: its first `keep` bytes (up to its new usable size) still hold the
    /// old pattern, and `zero` bytes, if given, read as zero.
    #[allow(clippy::too_many_arguments)]
    fn readopt(
        &mut self,
        old: Block,
        q: *mut u8,
        size: usize,
        align: usize,
        keep: usize,
        zero: Option<(usize, usize)>,
        expected_usable: Option<usize>,
        what: &str,
    ) {
        let usable = usable_size(q);
        let b = Block { ptr: q, size, usable, align, tag: old.tag };
        self.check_shape(&b, expected_usable, what);
        let keep = keep.min(usable);
        if let Some(off) = pattern_mismatch(q, 0, keep, old.tag) {
            self.fail(format!(
                "{what}: {:p} (usable {}) -> {q:p} (usable {usable}): byte {off} of the {keep} kept changed",
                old.ptr, old.usable
            ));
        }
        // Under opt.zero the bytes a resize adds are new memory, so they read as zero too.
        let zero = match zero {
            None if jemalloc_rs::global::g().opts.zero && usable > keep => Some((keep, usable)),
            z => z,
        };
        if let Some((from, to)) = zero {
            if let Some(off) = nonzero_at(q, from, to.min(usable)) {
                self.fail(format!(
                    "{what}: {:p} (usable {}) -> {q:p} (usable {usable}): byte {off} of [{from}, {to}) is not zero",
                    old.ptr, old.usable
                ));
            }
        }
        self.insert_range(&b, what);
        fill(q, keep, usable, b.tag);
        self.live_bytes += usable;
        self.blocks.push(b);
    }

    fn op_rallocm(&mut self) {
        let i = self.pick();
        let old = self.blocks[i];
        let size = self.new_size(&old);
        let extra = match self.rng.below(4) {
            0 => self.rng.range(0, size.min(MIB)),
            _ => 0,
        };
        let lg = if self.rng.percent(70) { 0 } else { self.lg_align() };
        let zero = self.rng.percent(35);
        let no_move = self.rng.percent(35);
        let flags = lg as i32 | if zero { ALLOCM_ZERO } else { 0 } | if no_move { ALLOCM_NO_MOVE } else { 0 };
        let align = 1usize << lg;
        let old = self.take(i);
        let mut p = old.ptr.cast::<c_void>();
        let mut rsize = usize::MAX;
        // SAFETY: p is a live block forgotten by the model; valid out-pointers.
        let rc = unsafe { api::rallocm(&mut p, &mut rsize, size, extra, flags) };
        let q = p.cast::<u8>();
        self.note(format!(
            "rallocm({:p} usable {}, {size}, extra {extra}, lg_align {lg}, zero {zero}, no_move {no_move}) = {rc}, {q:p}, rsize {rsize}",
            old.ptr, old.usable
        ));
        if rc == ALLOCM_ERR_NOT_MOVED && no_move {
            if q != old.ptr {
                self.fail("rallocm failed with ALLOCM_ERR_NOT_MOVED but changed *ptr".into());
            }
            let same_class = self.sc.usable_size(size) == Some(old.usable);
            if (old.ptr as usize).is_multiple_of(align) && same_class {
                self.fail(format!(
                    "rallocm(ALLOCM_NO_MOVE) refused to resize {:p} (usable {}) to {size}, which is its own size class",
                    old.ptr, old.usable
                ));
            }
            // The block is as it was.
            self.readopt(old, q, old.size, old.align, old.usable, None, Some(old.usable), "rallocm (not moved)");
            return;
        }
        if rc != ALLOCM_SUCCESS {
            self.fail(format!("rallocm failed with {rc}"));
        }
        if no_move && q != old.ptr {
            self.fail("rallocm(ALLOCM_NO_MOVE) moved the object".into());
        }
        if rsize != usable_size(q) {
            self.fail(format!("rallocm set rsize {rsize}, malloc_usable_size says {}", usable_size(q)));
        }
        let lo = self.sc.usable_size(size).unwrap();
        let hi = self.sc.aligned_usable_size(size + extra, align).unwrap();
        if rsize < lo || rsize > hi {
            self.fail(format!("rallocm({size}, extra {extra}) gave real size {rsize}, outside [{lo}, {hi}]"));
        }
        let keep = if q == old.ptr { old.usable } else { old.usable.min(size.max(1) + extra) };
        // The real size before the call is the boundary between kept and zeroed bytes.
        let zeroed = (zero && rsize > old.usable).then_some((old.usable, rsize));
        self.readopt(old, q, size, align, keep, zeroed, None, "rallocm");
    }

    fn op_free(&mut self) {
        let i = self.pick();
        let b = self.take(i);
        if self.rng.percent(25) {
            // SAFETY: a live block, forgotten by the model.
            let rc = unsafe { api::dallocm(b.ptr.cast(), 0) };
            self.note(format!("dallocm({:p}) = {rc}", b.ptr));
            if rc != ALLOCM_SUCCESS {
                self.fail(format!("dallocm failed with {rc}"));
            }
        } else {
            self.note(format!("free({:p})", b.ptr));
            // SAFETY: as above.
            unsafe { api::free(b.ptr.cast()) };
        }
    }
}

/// The seeds a case runs: `count` of them, or the one `SHADOW_SEED` names.
fn seeds(first: u64, count: u64) -> Vec<u64> {
    match std::env::var("SHADOW_SEED") {
        Ok(s) => vec![s.parse().expect("SHADOW_SEED is a number")],
        Err(_) => (first..first + count).collect(),
    }
}

fn run_single(name: &'static str, first: u64, count: u64, profile: Profile) {
    for seed in seeds(first, count) {
        let mut s = Shadow::new(name, seed, profile, Ranges::default(), true);
        s.run();
        s.drain();
    }
}

#[test]
fn small_objects() {
    run_single("small_objects", 1, 24, SMALL_ONLY);
}

#[test]
fn mixed_sizes() {
    run_single("mixed_sizes", 1_000, 10, MIXED);
}

#[test]
fn aligned_and_experimental_api() {
    run_single("aligned_and_experimental_api", 2_000, 10, ALIGNED);
}

/// Four threads run their own sequences at once and hand blocks to each other, so that blocks
/// are resized and freed by threads (and arenas) other than the one that allocated them. One
/// range map spans all threads, so overlaps between threads are caught too.
#[test]
fn threads_exchanging_blocks() {
    run_threads("threads_exchanging_blocks", 3_000, 4, THREADED);
}

fn run_threads(name: &'static str, first: u64, count: u64, profile: Profile) {
    const THREADS: usize = 4;
    for seed in seeds(first, count) {
        let ranges = Ranges::default();
        let inboxes: Arc<Vec<Mutex<Vec<Block>>>> = Arc::new((0..THREADS).map(|_| Mutex::new(Vec::new())).collect());
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (ranges, inboxes, barrier) = (ranges.clone(), inboxes.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let seed = seed * 16 + t as u64;
                    let mut s = Shadow::new(name, seed, profile, ranges, false);
                    let next = (t + 1) % THREADS;
                    s.profile.ops = profile.ops / 10;
                    for _ in 0..10 {
                        s.run();
                        // Hand a third of the live blocks to the next thread.
                        let mut out = Vec::new();
                        for i in (0..s.blocks.len()).rev() {
                            if i % 3 == 0 {
                                let b = s.blocks.swap_remove(i);
                                s.check_block(&b, "before handing it over");
                                s.live_bytes -= b.usable;
                                out.push(b);
                            }
                        }
                        inboxes[next].lock().unwrap().extend(out);
                        let inbox = std::mem::take(&mut *inboxes[t].lock().unwrap());
                        for b in inbox {
                            s.check_block(&b, "after it was handed over");
                            s.live_bytes += b.usable;
                            s.blocks.push(b);
                        }
                    }
                    barrier.wait();
                    let inbox = std::mem::take(&mut *inboxes[t].lock().unwrap());
                    for b in inbox {
                        s.check_block(&b, "after it was handed over");
                        s.live_bytes += b.usable;
                        s.blocks.push(b);
                    }
                    s.drain();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(ranges.lock().unwrap().is_empty(), "seed {seed}: blocks left in the range map");
    }
}

/// Set in the child processes of `other_options`.
const CHILD_ENV: &str = "JEMALLOC_RS_SHADOW_CHILD";

/// Options strings the model also runs under, one child process each (options are read once
/// per process): fill options, no thread cache, one arena with eager purging, the smallest
/// chunks (runs of at most three pages, huge objects common) without purging, other size-class
/// boundaries with a thread cache that holds large objects, and a thread cache that collects
/// garbage often.
const OTHER_OPTIONS: &[&str] = &[
    "junk:true",
    "zero:true",
    "tcache:false",
    "narenas:1,lg_dirty_mult:0",
    "lg_chunk:14,lg_dirty_mult:-1",
    "lg_qspace_max:8,lg_cspace_max:10,lg_tcache_max:20",
    "lg_tcache_gc_sweep:1,lg_chunk:20",
];

/// Runs the model in a child process per [`OTHER_OPTIONS`] entry, set through `MALLOC_CONF`.
#[test]
fn other_options() {
    if let Ok(conf) = std::env::var(CHILD_ENV) {
        // The child: the options must have taken effect, then the model must hold.
        let mut expected = jemalloc_rs::conf::Opts::DEFAULT;
        jemalloc_rs::conf::parse(&mut expected, conf.as_bytes(), "test");
        let opts = classes_and_opts();
        assert_eq!(
            (
                opts.junk,
                opts.zero,
                opts.tcache,
                opts.lg_dirty_mult,
                opts.lg_chunk,
                opts.lg_qspace_max,
                opts.lg_cspace_max
            ),
            (
                expected.junk,
                expected.zero,
                expected.tcache,
                expected.lg_dirty_mult,
                expected.lg_chunk,
                expected.lg_qspace_max,
                expected.lg_cspace_max
            ),
            "MALLOC_CONF={conf} was not applied"
        );
        if expected.narenas != 0 {
            assert_eq!(opts.narenas, expected.narenas);
        }
        run_single("other_options/small", 4_000, 2, Profile { ops: 20_000, ..SMALL_ONLY });
        run_single("other_options/mixed", 4_100, 2, Profile { ops: 2_000, ..MIXED });
        run_single("other_options/aligned", 4_200, 1, Profile { ops: 2_000, ..ALIGNED });
        run_threads("other_options/threads", 4_300, 1, Profile { ops: 1_000, ..THREADED });
        return;
    }
    for conf in OTHER_OPTIONS {
        let (status, text) = run_child(conf, Duration::from_secs(120));
        let Some(status) = status else {
            panic!("MALLOC_CONF={conf}: the model did not finish in time (a hang?):\n{text}");
        };
        assert!(status.success(), "MALLOC_CONF={conf}: the model failed ({status}):\n{text}");
        assert!(text.contains("1 passed"), "MALLOC_CONF={conf}: the child ran no test:\n{text}");
    }
}

/// Runs `other_options` in a child process under `MALLOC_CONF=conf`, killing it after `limit`.
/// Returns its exit status (None if it was killed) and everything it printed. The child's
/// address space is capped, so that an allocator that maps without end fails instead of
/// taking the machine's memory.
fn run_child(conf: &str, limit: Duration) -> (Option<std::process::ExitStatus>, String) {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    const ADDRESS_SPACE: libc::rlim_t = 64 << 30;
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = std::process::Command::new(exe);
    command
        .args(["--exact", "other_options", "--nocapture", "--test-threads=1"])
        .env("MALLOC_CONF", conf)
        .env(CHILD_ENV, conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: the closure only makes the setrlimit system call, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let cap = libc::rlimit { rlim_cur: ADDRESS_SPACE, rlim_max: ADDRESS_SPACE };
            if libc::setrlimit(libc::RLIMIT_AS, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("running the test binary");
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = r.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = read_all(Box::new(child.stdout.take().unwrap()));
    let err = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, out.join().unwrap() + &err.join().unwrap())
}

fn classes_and_opts() -> jemalloc_rs::conf::Opts {
    classes();
    jemalloc_rs::global::g().opts
}

/// Edge cases of the C API that the random sequences do not reach.
#[test]
fn edge_cases_follow_the_manual() {
    // SAFETY: every pointer passed back to the API is live and ours.
    unsafe {
        // Zero-byte requests give distinct minimal objects (opt.sysv is off by default).
        let a = api::malloc(0);
        let b = api::malloc(0);
        assert!(!a.is_null() && !b.is_null() && a != b);
        assert!(api::malloc_usable_size(a) >= 1);
        api::free(a);
        api::free(b);
        api::free(ptr::null_mut());
        assert_eq!(api::malloc_usable_size(ptr::null()), 0);

        // realloc(NULL, n) is malloc(n).
        let p = api::realloc(ptr::null_mut(), 100);
        assert!(!p.is_null());
        assert_eq!(api::malloc_usable_size(p), 112);
        api::free(p);

        // Requests no size class holds fail with ENOMEM.
        for size in [usize::MAX, usize::MAX / 2 + 1, isize::MAX as usize] {
            *libc::__errno_location() = 0;
            assert!(api::malloc(size).is_null(), "malloc({size})");
            assert_eq!(*libc::__errno_location(), libc::ENOMEM, "malloc({size})");
        }
        *libc::__errno_location() = 0;
        assert!(api::calloc(usize::MAX / 2, 3).is_null(), "calloc overflow");
        assert_eq!(*libc::__errno_location(), libc::ENOMEM);

        // realloc failure leaves the block intact.
        let p = api::malloc(64).cast::<u8>();
        fill(p, 0, 64, 7);
        assert!(api::realloc(p.cast(), usize::MAX - 4096).is_null());
        assert_eq!(pattern_mismatch(p, 0, 64, 7), None);
        api::free(p.cast());

        // posix_memalign rejects alignments that are not a power of two at least a pointer wide,
        // and leaves *ptr alone.
        for align in [0, 1, 2, 4, 12, 24, 48, 4097, usize::MAX] {
            let mut out = 0x1234 as *mut c_void;
            assert_eq!(api::posix_memalign(&mut out, align, 8), libc::EINVAL, "alignment {align}");
            assert_eq!(out as usize, 0x1234);
        }
        let mut out = ptr::null_mut();
        assert_eq!(api::posix_memalign(&mut out, 8, usize::MAX), libc::ENOMEM);

        // allocm reports out of memory for requests no class holds, and rallocm leaves *ptr.
        let mut out = ptr::null_mut();
        let mut rsize = 0;
        assert_ne!(api::allocm(&mut out, &mut rsize, usize::MAX, 0), ALLOCM_SUCCESS);
        let mut p = api::malloc(100);
        let before = p;
        assert_ne!(api::rallocm(&mut p, &mut rsize, usize::MAX, 0, 0), ALLOCM_SUCCESS);
        assert_eq!(p, before);

        // ALLOCM_NO_MOVE: growing a small object past its class cannot happen in place.
        let mut rsize = 0;
        assert_eq!(api::rallocm(&mut p, &mut rsize, 4000, 0, ALLOCM_NO_MOVE), ALLOCM_ERR_NOT_MOVED);
        assert_eq!(p, before);
        assert_eq!(api::malloc_usable_size(p), 112);
        // ... and within its class it always can.
        assert_eq!(api::rallocm(&mut p, &mut rsize, 97, 0, ALLOCM_NO_MOVE), ALLOCM_SUCCESS);
        assert_eq!((p, rsize), (before, 112));
        assert_eq!(api::dallocm(p, 0), ALLOCM_SUCCESS);

        // A large object shrinks in place and, with the pages after it free, grows back in place.
        let mut p = api::malloc(64 * KIB);
        let start = p;
        fill(p.cast(), 0, 64 * KIB, 9);
        assert_eq!(api::rallocm(&mut p, &mut rsize, 16 * KIB, 0, ALLOCM_NO_MOVE), ALLOCM_SUCCESS);
        assert_eq!((p, rsize), (start, 16 * KIB));
        assert_eq!(pattern_mismatch(p.cast(), 0, 16 * KIB, 9), None);
        assert_eq!(api::rallocm(&mut p, &mut rsize, 32 * KIB, 0, ALLOCM_NO_MOVE | ALLOCM_ZERO), ALLOCM_SUCCESS);
        assert_eq!((p, rsize), (start, 32 * KIB));
        assert_eq!(pattern_mismatch(p.cast(), 0, 16 * KIB, 9), None);
        assert_eq!(nonzero_at(p.cast(), 16 * KIB, 32 * KIB), None, "ALLOCM_ZERO growth in place");
        api::free(p);

        // Huge objects shrink in place, and a huge realloc keeps the contents.
        let chunk = jemalloc_rs::global::g().sc.chunk_size;
        let p = api::malloc(3 * chunk).cast::<u8>();
        assert_eq!(p as usize % chunk, 0);
        assert_eq!(api::malloc_usable_size(p.cast()), 3 * chunk);
        fill(p, 0, 3 * chunk, 11);
        let q = api::realloc(p.cast(), 2 * chunk).cast::<u8>();
        assert_eq!(q, p);
        assert_eq!(api::malloc_usable_size(q.cast()), 2 * chunk);
        let r = api::realloc(q.cast(), 5 * chunk).cast::<u8>();
        assert_eq!(api::malloc_usable_size(r.cast()), 5 * chunk);
        assert_eq!(pattern_mismatch(r, 0, 2 * chunk, 11), None);
        let s = api::realloc(r.cast(), 100).cast::<u8>();
        assert_eq!(api::malloc_usable_size(s.cast()), 112);
        assert_eq!(pattern_mismatch(s, 0, 100, 11), None);
        api::free(s.cast());
    }
}
