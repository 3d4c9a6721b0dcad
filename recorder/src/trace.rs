//! The trace file: its header, the chunks the threads reserve in it, and the encoding of each
//! event (the format is documented in `docs/trace-format.md`, version [`VERSION`]).
//!
//! Each thread writes its events into a chunk of the file mapped `MAP_SHARED`, and after each
//! event stores the chunk's count of committed bytes. Nothing is buffered in the process: what
//! a thread has stored is in the kernel's page cache, so a program that crashes or is killed
//! leaves a trace that is complete up to its last committed event, and there is nothing to
//! flush at thread exit. Chunks are reserved at increasing offsets under one spin lock, which
//! also grows the file (never shrinks it while a chunk could be mapped past its end).
//!
//! Events carry an order number from one global counter: a `free` takes it before the real
//! call, an allocation after, so that a block's allocation is always ordered before its free
//! and before the next allocation that reuses its address (`realloc` takes it after, and may
//! in a rare race be ordered after an allocation that reused its old block; readers tolerate
//! that).
//!
//! Fork: the child gets a fresh trace of its own (`FILE.<pid>`), reset in a `pthread_atfork`
//! child handler; an `exec`ed program (with the same environment) opens `FILE.<pid>` too, as
//! `FILE` exists. Locks: [`RESERVE`] guards `NEXT_OFFSET` and `FILE_SIZE`.

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

/// The format's version; readers refuse others.
pub const VERSION: u32 = 1;
pub const FILE_MAGIC: [u8; 8] = *b"JEMTRACE";
pub const CHUNK_MAGIC: u32 = u32::from_le_bytes(*b"CHNK");
/// The file header occupies the first page; chunks start here, page-aligned.
pub const FIRST_CHUNK: u64 = 4096;
pub const CHUNK_HEADER: usize = 40;
const FIRST_CHUNK_BYTES: usize = 4096;
const MAX_CHUNK_BYTES: usize = 64 * 1024;
/// The file grows in steps of this many bytes.
const GROW_STEP: u64 = 64 * 1024;
/// The longest event: a tag and six varints (order number and five fields) of at most 10 bytes.
const MAX_EVENT: usize = 61;

/// Event kinds: the low four bits of the tag byte.
pub mod op {
    pub const MALLOC: u8 = 1;
    pub const CALLOC: u8 = 2;
    pub const REALLOC: u8 = 3;
    pub const FREE: u8 = 4;
    pub const POSIX_MEMALIGN: u8 = 5;
    pub const ALIGNED_ALLOC: u8 = 6;
    pub const MEMALIGN: u8 = 7;
    pub const VALLOC: u8 = 8;
    pub const PVALLOC: u8 = 9;
    pub const ALLOCM: u8 = 10;
    pub const RALLOCM: u8 = 11;
    pub const DALLOCM: u8 = 12;
}
/// Tag bit: the order number is the thread's previous one plus one (no varint follows).
const NEXT_SEQ: u8 = 0x10;

static ENABLED: AtomicBool = AtomicBool::new(false);
static FD: AtomicI32 = AtomicI32::new(-1);
/// The trace file's device and inode: a program that closes every descriptor and opens files
/// of its own may be given the trace's descriptor number, and the file it names is checked
/// before the recorder grows it.
static FILE_ID: AtomicU64 = AtomicU64::new(0);
/// The lowest descriptor number the trace takes, out of the way of the program's own.
const HIGH_FD: i32 = 900;
static SEQ: AtomicU64 = AtomicU64::new(0);
static THREADS: AtomicU32 = AtomicU32::new(0);
/// Bumped by each fork child, so that a thread notices its chunk belongs to the parent.
static GENERATION: AtomicU32 = AtomicU32::new(0);
static RESERVE: AtomicBool = AtomicBool::new(false);
static NEXT_OFFSET: AtomicU64 = AtomicU64::new(FIRST_CHUNK);
static FILE_SIZE: AtomicU64 = AtomicU64::new(0);
static START_NS: AtomicU64 = AtomicU64::new(0);
/// The trace path given in the environment, kept for fork children (at most 4095 bytes).
static mut BASE_PATH: [u8; 4096] = [0; 4096];

/// One thread's writing state. Plain cells: only the owning thread touches them.
struct ThreadState {
    /// The mapped chunk, or null.
    chunk: Cell<*mut u8>,
    size: Cell<usize>,
    pos: Cell<usize>,
    prev_seq: Cell<u64>,
    prev_ptr: Cell<u64>,
    thread: Cell<u32>,
    generation: Cell<u32>,
    /// Set while the recorder itself runs on this thread: calls made meanwhile are not recorded.
    busy: Cell<bool>,
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            chunk: Cell::new(core::ptr::null_mut()),
            size: Cell::new(0),
            pos: Cell::new(0),
            prev_seq: Cell::new(0),
            prev_ptr: Cell::new(0),
            thread: Cell::new(u32::MAX),
            generation: Cell::new(0),
            busy: Cell::new(false),
        }
    };
}

/// The next order number: call it at the point of the call that orders it (see the module
/// header). Zero-cost when not recording.
#[inline]
pub fn next_seq() -> u64 {
    if !ENABLED.load(Ordering::Relaxed) {
        return 0;
    }
    SEQ.fetch_add(1, Ordering::AcqRel)
}

/// One event's fields, in the order they are encoded after the tag.
pub struct Event {
    pub op: u8,
    pub seq: u64,
    /// Its arguments and result, in the format's order; pointers are encoded as deltas from the
    /// thread's previous pointer.
    pub fields: [Field; 5],
}

#[derive(Clone, Copy)]
pub enum Field {
    None,
    Ptr(u64),
    Num(u64),
}

/// Appends `ev` to this thread's chunk, unless recording is off or the recorder is running.
#[inline]
pub fn record(ev: &Event) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let _ = STATE.try_with(|s| {
        if s.busy.get() {
            return;
        }
        s.busy.set(true);
        append(s, ev);
        s.busy.set(false);
    });
}

fn append(s: &ThreadState, ev: &Event) {
    let generation = GENERATION.load(Ordering::Relaxed);
    if s.generation.get() != generation {
        s.chunk.set(core::ptr::null_mut());
        s.thread.set(u32::MAX);
        s.size.set(0);
        s.generation.set(generation);
    }
    if (s.chunk.get().is_null() || s.pos.get() + MAX_EVENT > s.size.get() || ev.seq < s.prev_seq.get())
        && !new_chunk(s, ev.seq) {
            return;
        }
    let chunk = s.chunk.get();
    let start = s.pos.get();
    let mut w = Writer { p: chunk, pos: start };
    let delta = ev.seq - s.prev_seq.get();
    if delta == 1 {
        w.byte(ev.op | NEXT_SEQ);
    } else {
        w.byte(ev.op);
        w.varint(delta);
    }
    let mut prev = s.prev_ptr.get();
    for f in ev.fields {
        match f {
            Field::None => {}
            Field::Num(n) => w.varint(n),
            Field::Ptr(0) => w.varint(0),
            Field::Ptr(p) => {
                w.varint(encode_ptr(prev, p));
                prev = p;
            }
        }
    }
    s.prev_ptr.set(prev);
    s.prev_seq.set(ev.seq);
    s.pos.set(w.pos);
    let used = (w.pos - CHUNK_HEADER) as u32;
    // SAFETY: the chunk is mapped and at least CHUNK_HEADER bytes; the count is stored after
    // the event's bytes, so a reader never sees a count that covers bytes not yet written.
    unsafe { core::ptr::write_volatile(chunk.add(4).cast::<u32>(), used) };
}

/// A non-null pointer relative to the previous one: the zigzag delta, in units of 16 bytes when
/// it is a multiple of 16 (low bit 0) or of bytes (low bit 1), plus one (0 is null).
#[inline]
fn encode_ptr(prev: u64, p: u64) -> u64 {
    let d = p.wrapping_sub(prev) as i64;
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    let u = if d & 15 == 0 { zigzag(d >> 4) << 1 } else { (zigzag(d) << 1) | 1 };
    u.wrapping_add(1)
}

struct Writer {
    p: *mut u8,
    pos: usize,
}

impl Writer {
    #[inline]
    fn byte(&mut self, b: u8) {
        // SAFETY: append checked that MAX_EVENT bytes are free at pos.
        unsafe { self.p.add(self.pos).write(b) };
        self.pos += 1;
    }

    #[inline]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn lock() {
    while RESERVE.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
}

fn unlock() {
    RESERVE.store(false, Ordering::Release);
}

/// Maps a new chunk for this thread, its first event numbered `seq`. False (and recording
/// stops for good) if the file cannot grow or be mapped.
fn new_chunk(s: &ThreadState, seq: u64) -> bool {
    let fd = FD.load(Ordering::Relaxed);
    let size = (s.size.get() * 2).clamp(FIRST_CHUNK_BYTES, MAX_CHUNK_BYTES);
    if file_id(fd) != FILE_ID.load(Ordering::Relaxed) {
        return stop();
    }
    lock();
    let offset = NEXT_OFFSET.fetch_add(size as u64, Ordering::Relaxed);
    let end = offset + size as u64;
    let mut ok = true;
    if end > FILE_SIZE.load(Ordering::Relaxed) {
        let grown = end.next_multiple_of(GROW_STEP);
        // SAFETY: fd is the trace file; growing it only adds zeros.
        ok = unsafe { libc::ftruncate(fd, grown as libc::off_t) } == 0;
        if ok {
            FILE_SIZE.store(grown, Ordering::Relaxed);
        }
    }
    unlock();
    if !ok {
        return stop();
    }
    // SAFETY: a fresh shared mapping of [offset, offset + size) of the file, which is that long.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return stop();
    }
    let old = s.chunk.replace(p.cast());
    if !old.is_null() {
        // SAFETY: the previous chunk of this thread, mapped with its size; nothing refers to it.
        unsafe { libc::munmap(old.cast(), s.size.get()) };
    }
    if s.thread.get() == u32::MAX {
        s.thread.set(THREADS.fetch_add(1, Ordering::Relaxed));
    }
    s.size.set(size);
    s.pos.set(CHUNK_HEADER);
    s.prev_ptr.set(0);
    let base = seq.saturating_sub(1);
    s.prev_seq.set(base);
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    let time = monotonic_ns().saturating_sub(START_NS.load(Ordering::Relaxed));
    let mut h = [0u8; CHUNK_HEADER];
    h[0..4].copy_from_slice(&CHUNK_MAGIC.to_le_bytes());
    h[8..12].copy_from_slice(&(size as u32).to_le_bytes());
    h[12..16].copy_from_slice(&s.thread.get().to_le_bytes());
    h[16..20].copy_from_slice(&tid.to_le_bytes());
    h[24..32].copy_from_slice(&base.to_le_bytes());
    h[32..40].copy_from_slice(&time.to_le_bytes());
    // SAFETY: the chunk is at least CHUNK_HEADER bytes.
    unsafe { core::ptr::copy_nonoverlapping(h.as_ptr(), p.cast::<u8>(), CHUNK_HEADER) };
    true
}

#[cold]
fn stop() -> bool {
    ENABLED.store(false, Ordering::Relaxed);
    let msg = b"<jemctl-recorder>: cannot grow or map the trace file; recording stopped\n";
    // SAFETY: writing a valid buffer to fd 2.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    false
}

/// Starts recording if `JEMCTL_TRACE` names a trace file: opens it (or `FILE.<pid>` if it
/// exists) and writes the header. Called once, from the library's constructor.
pub fn start() {
    // SAFETY: getenv with a NUL-terminated name; the result is read before anything can change
    // the environment (the constructor runs before main).
    let path = unsafe { libc::getenv(c"JEMCTL_TRACE".as_ptr()) };
    if path.is_null() {
        return;
    }
    // SAFETY: getenv returned a NUL-terminated string.
    let path = unsafe { core::ffi::CStr::from_ptr(path) }.to_bytes();
    if path.is_empty() || path.len() >= 4000 {
        return;
    }
    // SAFETY: only the constructor writes BASE_PATH, before any thread exists.
    unsafe {
        let base = &mut *core::ptr::addr_of_mut!(BASE_PATH);
        base[..path.len()].copy_from_slice(path);
        base[path.len()] = 0;
    }
    // SAFETY: constructors run single-threaded.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    open_trace(false);
}

extern "C" fn after_fork_in_child() {
    if FD.load(Ordering::Relaxed) < 0 {
        return;
    }
    ENABLED.store(false, Ordering::Relaxed);
    let inherited = FD.load(Ordering::Relaxed);
    if file_id(inherited) == FILE_ID.load(Ordering::Relaxed) {
        // SAFETY: the parent's trace descriptor, inherited; the child writes its own file.
        unsafe { libc::close(inherited) };
    }
    FD.store(-1, Ordering::Relaxed);
    RESERVE.store(false, Ordering::Relaxed);
    SEQ.store(0, Ordering::Relaxed);
    THREADS.store(0, Ordering::Relaxed);
    NEXT_OFFSET.store(FIRST_CHUNK, Ordering::Relaxed);
    FILE_SIZE.store(0, Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::Relaxed);
    let _ = STATE.try_with(|s| {
        // The parent's chunk stays mapped in the child but is never written again.
        s.chunk.set(core::ptr::null_mut());
        s.size.set(0);
        s.thread.set(u32::MAX);
        s.busy.set(false);
    });
    open_trace(true);
}

/// Opens the trace file (`BASE_PATH`, else `BASE_PATH.<pid>`, `BASE_PATH.<pid>.<n>`), writes
/// its header and enables recording.
fn open_trace(forked: bool) {
    // SAFETY: getpid/getppid have no preconditions.
    let (pid, ppid) = unsafe { (libc::getpid() as u32, libc::getppid() as u32) };
    let mut name = [0u8; 4200];
    // SAFETY: BASE_PATH is written only by the constructor, before.
    let base = unsafe { &*core::ptr::addr_of!(BASE_PATH) };
    let len = base.iter().position(|&b| b == 0).unwrap_or(0);
    name[..len].copy_from_slice(&base[..len]);
    let mut fd = -1;
    for attempt in 0..100u32 {
        let mut n = len;
        if forked || attempt > 0 {
            n = push(&mut name, n, b".");
            n = push_decimal(&mut name, n, pid as u64);
            if attempt > 1 || (forked && attempt > 0) {
                n = push(&mut name, n, b".");
                n = push_decimal(&mut name, n, attempt as u64);
            }
        }
        name[n] = 0;
        // SAFETY: name is NUL-terminated.
        fd = unsafe {
            libc::open(name.as_ptr().cast(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o644)
        };
        // SAFETY: reading errno.
        if fd >= 0 || unsafe { *libc::__errno_location() } != libc::EEXIST {
            break;
        }
    }
    if fd < 0 {
        let msg = b"<jemctl-recorder>: cannot create the trace file; not recording\n";
        // SAFETY: writing a valid buffer to fd 2.
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
        return;
    }
    let start = monotonic_ns();
    START_NS.store(start, Ordering::Relaxed);
    let mut real = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: real is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut real) };
    let mut h = [0u8; 64];
    h[0..8].copy_from_slice(&FILE_MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(FIRST_CHUNK as u32).to_le_bytes());
    h[16..20].copy_from_slice(&pid.to_le_bytes());
    h[20..24].copy_from_slice(&ppid.to_le_bytes());
    h[24..32].copy_from_slice(&(real.tv_sec as u64 * 1_000_000_000 + real.tv_nsec as u64).to_le_bytes());
    h[32..40].copy_from_slice(&start.to_le_bytes());
    h[40..44].copy_from_slice(&(forked as u32).to_le_bytes());
    read_comm(&mut h[48..64]);
    // SAFETY: fd is the new file; h is 64 readable bytes.
    let written = unsafe { libc::pwrite(fd, h.as_ptr().cast(), h.len(), 0) };
    // SAFETY: as above.
    if written != h.len() as isize || unsafe { libc::ftruncate(fd, FIRST_CHUNK as libc::off_t) } != 0 {
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(fd) };
        return;
    }
    // SAFETY: duplicating our own descriptor.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD) };
    let fd = if high >= 0 {
        // SAFETY: closing our own descriptor, now duplicated.
        unsafe { libc::close(fd) };
        high
    } else {
        fd
    };
    FILE_ID.store(file_id(fd), Ordering::Relaxed);
    FILE_SIZE.store(FIRST_CHUNK, Ordering::Relaxed);
    FD.store(fd, Ordering::Relaxed);
    ENABLED.store(true, Ordering::Release);
}

/// The device and inode of the file `fd` names (a hash of both), or 0.
fn file_id(fd: i32) -> u64 {
    // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: st is writable.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return 0;
    }
    (st.st_dev as u64).rotate_left(32) ^ st.st_ino as u64 | 1
}

/// The program's name, from `/proc/self/comm`.
fn read_comm(out: &mut [u8]) {
    // SAFETY: a NUL-terminated path; the buffer is writable for its length.
    unsafe {
        let fd = libc::open(c"/proc/self/comm".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return;
        }
        let n = libc::read(fd, out.as_mut_ptr().cast(), out.len());
        libc::close(fd);
        if n > 0 {
            for b in out[..n as usize].iter_mut() {
                if *b == b'\n' {
                    *b = 0;
                }
            }
        }
    }
}

/// At exit: cuts the file back to the chunks reserved so far (a chunk reserved later grows it
/// again).
pub fn finish() {
    let fd = FD.load(Ordering::Relaxed);
    if fd < 0 || file_id(fd) != FILE_ID.load(Ordering::Relaxed) {
        return;
    }
    lock();
    let end = NEXT_OFFSET.load(Ordering::Relaxed);
    // SAFETY: fd is the trace file; no chunk lies past `end`.
    if unsafe { libc::ftruncate(fd, end as libc::off_t) } == 0 {
        FILE_SIZE.store(end, Ordering::Relaxed);
    }
    unlock();
}

fn push(buf: &mut [u8], at: usize, s: &[u8]) -> usize {
    let end = (at + s.len()).min(buf.len() - 1);
    buf[at..end].copy_from_slice(&s[..end - at]);
    end
}

fn push_decimal(buf: &mut [u8], at: usize, mut v: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    push(buf, at, &digits[i..])
}
