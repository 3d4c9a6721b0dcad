//! Heap profile dumps, in jemalloc 2.2.1's format, and the leak report.
//!
//! Mirrors 2.2.1's `prof_dump()`, `prof_dump_filename()` and `prof_{f,i,m,g}dump()`. A dump is
//!
//! ```text
//! heap profile: <curobjs>: <curbytes> [<accumobjs>: <accumbytes>] @ heapprofile
//! <curobjs>: <curbytes> [<accumobjs>: <accumbytes>] @ 0x<ip> 0x<ip> ...
//! ...
//!
//! MAPPED_LIBRARIES:
//! <the contents of /proc/<pid>/maps>
//! ```
//!
//! with `@ heap_v2/<2^lg_prof_sample>` ending the first line when sampling, so that pprof scales
//! the counts back up. One line per context (contexts without objects in use are left out when
//! `opt.prof_accum` is off). Files are named `<prefix>.<pid>.<seq>.<v><vseq>.heap` (`f` for the
//! final dump, without a `vseq`). The dump lock serialises dumps and guards the one write
//! buffer; no allocator lock is held while writing, and nothing here allocates.

use super::ctx;
use crate::message::MessageBuf;
use crate::mutex::Mutex;
use crate::pages::errno;
use core::ffi::{c_char, CStr};
use core::fmt::{self, Write};
use core::sync::atomic::Ordering;

/// A profile that could not be written (what went wrong has been said, unless quiet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

const BUF_SIZE: usize = 1 << 16;

struct DumpBuf {
    buf: [u8; BUF_SIZE],
}

static DUMP: Mutex<DumpBuf> = Mutex::new(DumpBuf { buf: [0; BUF_SIZE] });

/// `seq`, then the interval, high-water and manual dumps' own sequences.
static SEQ: Mutex<[u64; 4]> = Mutex::new([0; 4]);

pub(crate) fn for_each_lock(f: &mut dyn FnMut(&crate::mutex::RawMutex)) {
    f(SEQ.raw());
    f(DUMP.raw());
}

/// Which automatic or requested dump a file name is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `f`: the final dump at exit.
    Final,
    /// `i<iseq>`: every `2^opt.lg_prof_interval` bytes allocated.
    Interval,
    /// `u<useq>`: a new high-water mark of mapped memory (`opt.prof_gdump`).
    Gdump,
    /// `m<mseq>`: `prof.dump` without a file name.
    Manual,
}

/// A file name buffer: prefix, numbers and suffix fit with room to spare.
pub type Name = MessageBuf<{ crate::conf::PROF_PREFIX_MAX + 96 }>;

/// Writes the next file name of `kind` for process `pid` into `out`.
pub fn filename(out: &mut Name, prefix: &[u8], pid: i32, kind: Kind) {
    let (seq, v, vseq) = {
        let mut s = SEQ.lock();
        let seq = s[0];
        s[0] += 1;
        let (v, i) = match kind {
            Kind::Final => ('f', None),
            Kind::Interval => ('i', Some(1)),
            Kind::Gdump => ('u', Some(2)),
            Kind::Manual => ('m', Some(3)),
        };
        let vseq = i.map(|i| {
            let n = s[i];
            s[i] += 1;
            n
        });
        (seq, v, vseq)
    };
    format_name(out, prefix, pid, seq, v, vseq);
}

/// `<prefix>.<pid>.<seq>.<v>[<vseq>].heap`.
pub fn format_name(out: &mut Name, prefix: &[u8], pid: i32, seq: u64, v: char, vseq: Option<u64>) {
    out.clear();
    let _ = out.write_str(core::str::from_utf8(prefix).unwrap_or("jeprof"));
    let _ = write!(out, ".{}.{}.{}", pid, seq, v);
    if let Some(n) = vseq {
        let _ = write!(out, "{}", n);
    }
    let _ = out.write_str(".heap");
}

/// Buffered writes to a file descriptor.
struct Out<'a> {
    fd: i32,
    buf: &'a mut [u8; BUF_SIZE],
    len: usize,
    failed: bool,
}

impl Out<'_> {
    fn flush(&mut self) {
        let mut done = 0;
        while done < self.len && !self.failed {
            // SAFETY: buf[done..len] is initialised and readable.
            let n = unsafe { libc::write(self.fd, self.buf[done..].as_ptr().cast(), self.len - done) };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                self.failed = true;
            } else {
                done += n as usize;
            }
        }
        self.len = 0;
    }

    fn put(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.len == BUF_SIZE {
                self.flush();
            }
            let n = bytes.len().min(BUF_SIZE - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
    }

    /// Appends the contents of the file at `path` (the process's maps).
    fn copy_file(&mut self, path: &CStr) -> bool {
        // SAFETY: path is NUL-terminated.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return false;
        }
        loop {
            if self.len == BUF_SIZE {
                self.flush();
            }
            // SAFETY: buf[len..] is writable.
            let n = unsafe { libc::read(fd, self.buf[self.len..].as_mut_ptr().cast(), BUF_SIZE - self.len) };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                break;
            }
            self.len += n as usize;
        }
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        true
    }
}

impl Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes());
        Ok(())
    }
}

/// Totals of one dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub curobjs: i64,
    pub curbytes: i64,
    pub accumobjs: u64,
    pub accumbytes: u64,
    /// Contexts with objects in use.
    pub leak_contexts: usize,
}

/// Reads every context's counts once, into its `dumped` copy, and sums them.
fn snapshot() -> Totals {
    let mut t = Totals::default();
    ctx::for_each(|c| {
        let d = [
            c.curobjs.load(Ordering::Relaxed) as u64,
            c.curbytes.load(Ordering::Relaxed) as u64,
            c.accumobjs.load(Ordering::Relaxed),
            c.accumbytes.load(Ordering::Relaxed),
        ];
        for (slot, v) in c.dumped.iter().zip(d) {
            slot.store(v, Ordering::Relaxed);
        }
        t.curobjs += d[0] as i64;
        t.curbytes += d[1] as i64;
        t.accumobjs += d[2];
        t.accumbytes += d[3];
        if d[0] != 0 {
            t.leak_contexts += 1;
        }
    });
    t
}

/// Writes a profile to `path`. Errors are said (`<jemalloc>: ...`) unless `quiet`; the leak
/// summary follows when `leakcheck` and objects remain. Err when the file could not be
/// written.
pub fn dump(path: &CStr, leakcheck: bool, quiet: bool) -> Result<Totals, Failed> {
    let opts = &crate::global::g().opts;
    let mut guard = DUMP.lock();
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o644 as libc::c_uint) };
    if fd < 0 {
        if !quiet {
            crate::say!("creat(\"{}\"), 0644) failed", path.to_str().unwrap_or("?"));
            abort_if_asked();
        }
        return Err(Failed);
    }
    let totals = snapshot();
    let mut out = Out { fd, buf: &mut guard.buf, len: 0, failed: false };
    let _ = write!(out, "heap profile: {}: {} [{}: {}] @ ", totals.curobjs, totals.curbytes, totals.accumobjs, totals.accumbytes);
    if opts.lg_prof_sample == 0 {
        out.put(b"heapprofile\n");
    } else {
        let _ = writeln!(out, "heap_v2/{}", 1u64 << opts.lg_prof_sample);
    }
    ctx::for_each(|c| {
        let d = [0, 1, 2, 3].map(|i| c.dumped[i].load(Ordering::Relaxed));
        if !opts.prof_accum && d[0] == 0 {
            return;
        }
        let _ = write!(out, "{}: {} [{}: {}] @", d[0] as i64, d[1] as i64, d[2], d[3]);
        for &ip in c.frames() {
            let _ = write!(out, " {:#x}", ip);
        }
        out.put(b"\n");
    });
    let mut maps = MessageBuf::<64>::new();
    // SAFETY: getpid has no preconditions.
    let _ = write!(maps, "/proc/{}/maps", unsafe { libc::getpid() });
    // SAFETY: as_c_str is NUL-terminated and lives as long as `maps`.
    let maps_path = unsafe { CStr::from_ptr(maps.as_c_str()) };
    out.put(b"\nMAPPED_LIBRARIES:\n");
    let maps_ok = out.copy_file(maps_path);
    out.flush();
    let failed = out.failed || !maps_ok;
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    drop(guard);
    if failed {
        if !quiet {
            crate::say!("write() failed during heap profile flush");
            abort_if_asked();
        }
        return Err(Failed);
    }
    if leakcheck && totals.curbytes != 0 {
        let s = |n: i64| if n != 1 { "s" } else { "" };
        crate::say!(
            "Leak summary: {} byte{}, {} object{}, {} context{}",
            totals.curbytes,
            s(totals.curbytes),
            totals.curobjs,
            s(totals.curobjs),
            totals.leak_contexts,
            s(totals.leak_contexts as i64)
        );
        crate::say!("Run pprof on \"{}\" for leak detail", path.to_str().unwrap_or("?"));
    }
    Ok(totals)
}

fn abort_if_asked() {
    if crate::global::g().opts.abort {
        // SAFETY: abort has no preconditions.
        unsafe { libc::abort() };
    }
}

/// Dumps to the next automatic file name of `kind`; nothing when `opt.prof_prefix` is empty.
pub fn auto(kind: Kind, leakcheck: bool) {
    let prefix = crate::global::g().opts.prof_prefix();
    if prefix.is_empty() {
        return;
    }
    let mut name = Name::new();
    // SAFETY: getpid has no preconditions.
    filename(&mut name, prefix, unsafe { libc::getpid() }, kind);
    // SAFETY: as_c_str is NUL-terminated and lives as long as `name`.
    let path = unsafe { CStr::from_ptr(name.as_c_str()) };
    let _ = dump(path, leakcheck, false);
}

/// `prof.dump`: to `path`, or to the next `m` file name when null (Err when `opt.prof_prefix`
/// is empty, as in 2.2.1). Err on failure.
///
/// # Safety
/// `path` is null or a NUL-terminated string.
pub unsafe fn manual(path: *const c_char) -> Result<(), Failed> {
    if path.is_null() {
        let prefix = crate::global::g().opts.prof_prefix();
        if prefix.is_empty() {
            return Err(Failed);
        }
        let mut name = Name::new();
        // SAFETY: getpid has no preconditions.
        filename(&mut name, prefix, unsafe { libc::getpid() }, Kind::Manual);
        // SAFETY: as_c_str is NUL-terminated and lives as long as `name`.
        let p = unsafe { CStr::from_ptr(name.as_c_str()) };
        return dump(p, false, true).map(|_| ());
    }
    // SAFETY: per the contract.
    dump(unsafe { CStr::from_ptr(path) }, false, true).map(|_| ())
}
