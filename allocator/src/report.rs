//! Reports to a file descriptor: an extension of jemalloc 2.2.1 through which a tool (such as
//! `jemctl ctl NAME -- PROGRAM` and `jemctl stats -- PROGRAM`) reads a running program's
//! mallctl values or its statistics report without parsing the program's own output.
//!
//! Options (MALLOC_CONF and the other sources of [`crate::conf`]):
//! - `report_fd:N`: the descriptor to write to, open when the allocator starts (a tool leaves
//!   it open across `exec`). Nothing is reported without it.
//! - `report_names:NAME;NAME;...`: mallctl names to read (after advancing `epoch`), written as
//!   `NAME: value` lines; pointer names (`stats.cactive`) as the value they point at; a name
//!   that cannot be read as `NAME: error ENOENT: ...`, the manual's words.
//! - `report_stats:true`: the `malloc_stats_print()` report, leaving out the parts named by
//!   `report_stats_opts:CHARS` (the manual's g, m, a, b, l).
//! - `report_interval_ms:N`: also report every N milliseconds while the program runs, from a
//!   thread the allocator starts (with every signal blocked). 0, the default: only at exit.
//!
//! A report is written at `exit()` (an `atexit` handler, like `opt.stats_print`) and on each
//! interval. Every line is one `write()` of at most 1 KiB, prefixed by the process id, so that
//! the reports of forked children sharing the descriptor never interleave within a line:
//!
//! ```text
//! 4242 begin 1 exit
//! 4242 | stats.allocated: 123456
//! 4242 end 1
//! ```
//!
//! Before each report the descriptor is checked to still be the file it was at start-up
//! (device and inode): a program that closed it and reused the number is not written to.
//! Nothing here allocates; text goes through fixed buffers on the stack. Reports are
//! serialised by a spin flag; no allocator lock is held while writing.

use crate::ctl::tree::{Access, CType};
use crate::ctl::typed::{self, Mib};
use crate::ctl::Error;
use crate::message::MessageBuf;
use core::ffi::{c_char, c_void, CStr};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The option names this module reads.
pub const KEYS: [&str; 5] = ["report_fd", "report_names", "report_stats", "report_stats_opts", "report_interval_ms"];

/// Room for the names of `report_names`, `;`-separated.
pub const NAMES_CAP: usize = 1024;
/// Room for `report_stats_opts`.
const STATS_OPTS_CAP: usize = 8;

/// The options, as read by [`crate::conf`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conf {
    /// -1: no reports.
    pub fd: i32,
    names: [u8; NAMES_CAP],
    names_len: usize,
    pub stats: bool,
    stats_opts: [u8; STATS_OPTS_CAP],
    stats_opts_len: usize,
    pub interval_ms: u64,
}

impl Conf {
    pub const DEFAULT: Conf = Conf {
        fd: -1,
        names: [0; NAMES_CAP],
        names_len: 0,
        stats: false,
        stats_opts: [0; STATS_OPTS_CAP],
        stats_opts_len: 0,
        interval_ms: 0,
    };

    /// The names of `report_names`.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.names[..self.names_len].split(|&b| b == b';').filter(|n| !n.is_empty())
    }

    pub fn stats_opts(&self) -> &[u8] {
        &self.stats_opts[..self.stats_opts_len]
    }

    /// Applies one `key:value` pair if `key` is one of this module's: `None` if it is not,
    /// else whether the value was valid.
    pub fn apply(&mut self, key: &str, value: &[u8]) -> Option<bool> {
        use crate::conf::parse_int;
        let ok = match key {
            "report_fd" => match parse_int(value) {
                Some(n) if (0..=i32::MAX as i64).contains(&n) => {
                    self.fd = n as i32;
                    true
                }
                _ => false,
            },
            "report_names" => {
                let valid = value.iter().all(|&b| b == b';' || b == b'.' || b == b'_' || b.is_ascii_alphanumeric());
                if valid && value.len() <= NAMES_CAP {
                    self.names[..value.len()].copy_from_slice(value);
                    self.names_len = value.len();
                }
                valid && value.len() <= NAMES_CAP
            }
            "report_stats" => match value {
                b"true" => {
                    self.stats = true;
                    true
                }
                b"false" => {
                    self.stats = false;
                    true
                }
                _ => false,
            },
            "report_stats_opts" => {
                let valid = value.len() <= STATS_OPTS_CAP && value.iter().all(|b| b"gmabl".contains(b));
                if valid {
                    self.stats_opts[..value.len()].copy_from_slice(value);
                    self.stats_opts_len = value.len();
                }
                valid
            }
            "report_interval_ms" => match parse_int(value) {
                Some(n) if (0..=86_400_000).contains(&n) => {
                    self.interval_ms = n as u64;
                    true
                }
                _ => false,
            },
            _ => return None,
        };
        Some(ok)
    }

    fn wanted(&self) -> bool {
        self.fd >= 0 && (self.names_len > 0 || self.stats)
    }
}

impl Default for Conf {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The descriptor's identity at start-up: (device, inode).
static IDENTITY: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static WRITING: AtomicBool = AtomicBool::new(false);
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn conf() -> &'static Conf {
    &crate::global::g().opts.report
}

fn identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat writes one `stat` into the zeroed struct we pass.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above; `st` is valid and writable.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// Called once by start-up, after the allocator is usable: checks the descriptor, registers
/// the exit report and starts the interval thread.
pub fn start() {
    let c = conf();
    if !c.wanted() {
        return;
    }
    let Some((dev, ino)) = identity(c.fd) else {
        crate::say!("report_fd:{} is not an open descriptor; no reports", c.fd);
        return;
    };
    IDENTITY[0].store(dev, Ordering::Relaxed);
    IDENTITY[1].store(ino, Ordering::Relaxed);
    // SAFETY: report_at_exit is a plain extern "C" function that lives as long as the process.
    if unsafe { libc::atexit(report_at_exit) } != 0 {
        crate::say!("Error in atexit(); no report at exit");
    }
    if c.interval_ms > 0 {
        start_interval_thread();
    }
}

fn start_interval_thread() {
    // SAFETY: the sigset and thread handle are plain local values the calls fill in; the
    // thread runs a function that never returns into freed state.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        // The thread inherits a mask that blocks every signal, so it never takes one meant
        // for the program.
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut thread: libc::pthread_t = 0;
        let rc = libc::pthread_create(&mut thread, core::ptr::null(), interval_main, core::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        if rc == 0 {
            libc::pthread_detach(thread);
        } else {
            crate::say!("cannot start the report_interval_ms thread; reporting at exit only");
        }
    }
}

extern "C" fn interval_main(_: *mut c_void) -> *mut c_void {
    let ms = conf().interval_ms;
    loop {
        let ts = libc::timespec { tv_sec: (ms / 1000) as libc::time_t, tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long };
        // SAFETY: nanosleep reads `ts`; an interrupted sleep just reports early.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
        write_report("interval");
    }
}

extern "C" fn report_at_exit() {
    write_report("exit");
}

/// Writes one report now: the names, then the statistics report. Reports of several threads
/// take turns.
pub fn write_report(reason: &str) {
    let c = conf();
    let fd = c.fd;
    if !c.wanted() || identity(fd) != Some((IDENTITY[0].load(Ordering::Relaxed), IDENTITY[1].load(Ordering::Relaxed))) {
        return;
    }
    while WRITING.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        core::hint::spin_loop();
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1;
    let mut out = Lines { fd, pid, line: MessageBuf::new() };
    out.control(format_args!("begin {seq} {reason}"));
    let _ = typed::epoch::advance();
    for name in c.names() {
        write_name(&mut out, name);
    }
    if c.stats {
        let mut opts = [0u8; STATS_OPTS_CAP + 1];
        opts[..c.stats_opts().len()].copy_from_slice(c.stats_opts());
        // SAFETY: `collect` matches the callback signature and `out` outlives the call;
        // `opts` is NUL-terminated.
        unsafe {
            crate::stats_print::malloc_stats_print(
                Some(collect),
                (&mut out as *mut Lines).cast(),
                opts.as_ptr().cast::<c_char>(),
            )
        };
    }
    out.finish_line();
    out.control(format_args!("end {seq}"));
    WRITING.store(false, Ordering::Release);
}

/// Splits text into lines and writes each as `PID | text`.
struct Lines {
    fd: i32,
    pid: i32,
    line: MessageBuf<1024>,
}

impl Lines {
    fn control(&mut self, args: core::fmt::Arguments<'_>) {
        let mut buf = MessageBuf::<128>::new();
        let _ = writeln!(buf, "{} {}", self.pid, args);
        write_all(self.fd, buf.as_bytes());
    }

    fn finish_line(&mut self) {
        if self.line.as_bytes().is_empty() {
            return;
        }
        let mut buf = MessageBuf::<1100>::new();
        let _ = writeln!(buf, "{} | {}", self.pid, self.line.as_str().trim_end_matches('\n'));
        write_all(self.fd, buf.as_bytes());
        self.line.clear();
    }
}

impl Write for Lines {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for piece in s.split_inclusive('\n') {
            // A line longer than the buffer is cut, not split.
            let _ = self.line.write_str(piece);
            if piece.ends_with('\n') {
                self.finish_line();
            }
        }
        Ok(())
    }
}

/// The statistics report's callback.
unsafe extern "C" fn collect(opaque: *mut c_void, s: *const c_char) {
    // SAFETY: write_report passes its live `Lines` as opaque, and the report passes C strings.
    let (out, text) = unsafe { (&mut *opaque.cast::<Lines>(), CStr::from_ptr(s)) };
    if let Ok(text) = text.to_str() {
        let _ = out.write_str(text);
    }
}

fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is readable for its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        // SAFETY: __errno_location returns the calling thread's errno slot.
        if n < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Writes `NAME: value`, or `NAME: error ...`.
fn write_name(out: &mut Lines, name: &[u8]) {
    let mut cname = [0u8; 128];
    let Some(text) = core::str::from_utf8(name).ok().filter(|_| name.len() < cname.len()) else {
        return;
    };
    cname[..name.len()].copy_from_slice(name);
    let Ok(cstr) = CStr::from_bytes_until_nul(&cname) else { return };
    let result = read_value(out, text, cstr);
    if let Err(e) = result {
        let _ = writeln!(out, "{text}: error {}", e.describe());
    }
}

fn read_value(out: &mut Lines, text: &str, name: &CStr) -> Result<(), Error> {
    let info = crate::ctl::describe(name.to_bytes())?;
    if info.ty == CType::Void || matches!(info.access, Access::WriteOnly | Access::None) {
        return Err(Error::Perm);
    }
    let _ = match info.ty {
        CType::Bool => writeln!(out, "{text}: {}", typed::read::<bool>(name)?),
        CType::Size => writeln!(out, "{text}: {}", typed::read::<usize>(name)?),
        CType::Ssize => writeln!(out, "{text}: {}", typed::read::<isize>(name)?),
        CType::Unsigned | CType::U32 => writeln!(out, "{text}: {}", typed::read::<u32>(name)?),
        CType::U64 => writeln!(out, "{text}: {}", typed::read::<u64>(name)?),
        CType::Str => {
            let p: *const c_char = typed::read(name)?;
            // SAFETY: string names point at static NUL-terminated text.
            let s = if p.is_null() { "" } else { unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("") };
            writeln!(out, "{text}: {s}")
        }
        CType::SizePtr => {
            let p: *const usize = typed::read(name)?;
            // SAFETY: size_t * names point at live counters of the allocator, read atomically.
            let v = unsafe { (*p.cast::<core::sync::atomic::AtomicUsize>()).load(Ordering::Relaxed) };
            writeln!(out, "{text}: {v}")
        }
        CType::U64Ptr => {
            let p: *const u64 = typed::read(name)?;
            // SAFETY: uint64_t * names point at this (the reporting) thread's live counters.
            let v = unsafe { p.read_volatile() };
            writeln!(out, "{text}: {v}")
        }
        CType::BoolArray => {
            let n = (typed::arenas::narenas::read()? as usize).min(crate::arena::MAX_ARENAS);
            let mut bytes = [0u8; crate::arena::MAX_ARENAS];
            Mib::new(name)?.read_bytes(&mut bytes[..n])?;
            let _ = write!(out, "{text}: [");
            for (i, b) in bytes[..n].iter().enumerate() {
                let _ = write!(out, "{}{}", if i > 0 { ", " } else { "" }, *b != 0);
            }
            writeln!(out, "]")
        }
        CType::IntArray => {
            let mut fds = [0i32; 64];
            let n = typed::read::<usize>(c"swap.nfds")?.min(fds.len());
            typed::swap::fds(&mut fds[..n])?;
            let _ = write!(out, "{text}: [");
            for (i, fd) in fds[..n].iter().enumerate() {
                let _ = write!(out, "{}{fd}", if i > 0 { ", " } else { "" });
            }
            writeln!(out, "]")
        }
        CType::Void => Ok(()),
    };
    Ok(())
}

#[cfg(test)]
mod tests;
