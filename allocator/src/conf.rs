//! Options: the `opt.*` values, read once at start-up from the manual's three sources.
//!
//! Mirrors jemalloc 2.2.1 `malloc_conf_init()`. In order, left to right: the `malloc_conf`
//! symbol the program defines, the name the `/etc/malloc.conf` symbolic link points to, and
//! the `MALLOC_CONF` environment variable. Each is a comma-separated list of `key:value`
//! pairs; booleans are `true`/`false`, integers are decimal, octal (`0` prefix) or hex (`0x`).
//! A malformed pair or value prints a `<jemalloc>: ` warning and is skipped (with `abort:true`
//! the warning aborts). The `report_*` keys are an extension, parsed by [`crate::report::Conf`].
//! Runs once, under the init lock, before any other thread can allocate
//! through this allocator; afterwards [`Opts`] is read-only.

use crate::say;
use crate::size_classes::{self as sc};
use core::ffi::{c_char, CStr};

/// Every `opt.*` of the manual.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opts {
    pub abort: bool,
    pub lg_qspace_max: usize,
    pub lg_cspace_max: usize,
    pub lg_chunk: usize,
    /// 0 until start-up resolves the default (4 x CPUs, 1 on one CPU).
    pub narenas: usize,
    pub lg_dirty_mult: isize,
    pub stats_print: bool,
    pub junk: bool,
    pub zero: bool,
    pub sysv: bool,
    pub xmalloc: bool,
    pub tcache: bool,
    pub lg_tcache_gc_sweep: isize,
    pub lg_tcache_max: usize,
    pub overcommit: bool,
    /// `opt.thp`, an extension: huge objects ask for transparent huge pages.
    pub thp: bool,
    /// The heap profiler's options (`opt.prof*`); see [`crate::prof`].
    pub prof: bool,
    /// `opt.prof_prefix`, NUL-terminated (at most [`PROF_PREFIX_MAX`] bytes before the NUL).
    pub prof_prefix: [u8; PROF_PREFIX_MAX + 1],
    pub lg_prof_bt_max: usize,
    pub prof_active: bool,
    pub lg_prof_sample: usize,
    pub prof_accum: bool,
    pub lg_prof_tcmax: isize,
    pub lg_prof_interval: isize,
    pub prof_gdump: bool,
    pub prof_leak: bool,
    /// The `report_*` options: an extension, see [`crate::report`].
    pub report: crate::report::Conf,
}

/// Longest `opt.prof_prefix`, in bytes.
pub const PROF_PREFIX_MAX: usize = 255;
/// Largest `opt.lg_prof_bt_max`: backtraces of at most 128 frames, as in jemalloc 2.2.1.
pub const LG_PROF_BT_MAX: usize = 7;

const fn default_prof_prefix() -> [u8; PROF_PREFIX_MAX + 1] {
    let mut a = [0u8; PROF_PREFIX_MAX + 1];
    let s = b"jeprof";
    let mut i = 0;
    while i < s.len() {
        a[i] = s[i];
        i += 1;
    }
    a
}

impl Opts {
    pub const DEFAULT: Opts = Opts {
        abort: cfg!(feature = "debug"),
        lg_qspace_max: sc::DEFAULT_LG_QSPACE_MAX as usize,
        lg_cspace_max: sc::DEFAULT_LG_CSPACE_MAX as usize,
        lg_chunk: sc::DEFAULT_LG_CHUNK as usize,
        narenas: 0,
        lg_dirty_mult: 5,
        stats_print: false,
        junk: cfg!(feature = "debug"),
        zero: false,
        sysv: false,
        xmalloc: false,
        tcache: cfg!(feature = "tcache"),
        lg_tcache_gc_sweep: 13,
        lg_tcache_max: 15,
        overcommit: true,
        thp: false,
        prof: false,
        prof_prefix: default_prof_prefix(),
        lg_prof_bt_max: LG_PROF_BT_MAX,
        prof_active: true,
        lg_prof_sample: 0,
        prof_accum: true,
        lg_prof_tcmax: -1,
        lg_prof_interval: -1,
        prof_gdump: false,
        prof_leak: false,
        report: crate::report::Conf::DEFAULT,
    };

    /// `opt.prof_prefix` without its NUL.
    pub fn prof_prefix(&self) -> &[u8] {
        let n = self.prof_prefix.iter().position(|&b| b == 0).unwrap_or(PROF_PREFIX_MAX);
        &self.prof_prefix[..n]
    }
}

impl Default for Opts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The symbolic link read for options; `/etc/je_malloc.conf` in the prefixed build, as in 2.2.1.
#[cfg(not(feature = "je_prefix"))]
const LINK_NAME: &CStr = c"/etc/malloc.conf";
#[cfg(feature = "je_prefix")]
const LINK_NAME: &CStr = c"/etc/je_malloc.conf";
/// The environment variable read for options; `JE_MALLOC_CONF` in the prefixed build, as in
/// 2.2.1 (the upper-case prefix).
#[cfg(not(feature = "je_prefix"))]
const ENV_NAME: &CStr = c"MALLOC_CONF";
#[cfg(feature = "je_prefix")]
const ENV_NAME: &CStr = c"JE_MALLOC_CONF";

/// Reads the three sources into `opts`.
pub fn read_all(opts: &mut Opts) {
    // SAFETY: the pointer, when non-null, is the program's NUL-terminated malloc_conf string.
    if let Some(s) = unsafe { c_str(program_malloc_conf()) } {
        parse(opts, s, crate::c_name!("malloc_conf"));
    }
    let mut link = [0u8; 256];
    // SAFETY: readlink writes at most link.len() - 1 bytes into our buffer and takes a
    // NUL-terminated path.
    let n = unsafe { libc::readlink(LINK_NAME.as_ptr(), link.as_mut_ptr().cast(), link.len() - 1) };
    if n > 0 {
        parse(opts, &link[..n as usize], LINK_NAME.to_str().unwrap_or("/etc/malloc.conf"));
    }
    // SAFETY: getenv takes a NUL-terminated name and returns a NUL-terminated value or null.
    if let Some(s) = unsafe { c_str(libc::getenv(ENV_NAME.as_ptr())) } {
        parse(opts, s, ENV_NAME.to_str().unwrap_or("MALLOC_CONF"));
    }
}

/// # Safety
/// `p` is null or points at a NUL-terminated string that outlives the program's start-up.
unsafe fn c_str<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the contract, p is NUL-terminated.
    Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
}

/// The program's `malloc_conf` symbol, if it defines one: an undefined weak reference resolves
/// to null when no object of the process defines the name.
#[cfg(target_arch = "x86_64")]
fn program_malloc_conf() -> *const c_char {
    let slot: *const *const c_char;
    // SAFETY: loads the address of a weak symbol from the GOT; no memory is written.
    unsafe {
        core::arch::asm!(
            concat!(".weak ", crate::c_name!("malloc_conf")),
            concat!("mov {0}, qword ptr [rip + ", crate::c_name!("malloc_conf"), "@GOTPCREL]"),
            out(reg) slot,
            options(nostack, preserves_flags, readonly),
        );
    }
    if slot.is_null() {
        core::ptr::null()
    } else {
        // SAFETY: a defined malloc_conf is a `const char *` variable.
        unsafe { *slot }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn program_malloc_conf() -> *const c_char {
    core::ptr::null()
}

fn warn(opts: &Opts, source: &str, what: &str, pair: &[u8]) {
    let text = core::str::from_utf8(pair).unwrap_or("<not UTF-8>");
    say!("{}: {} \"{}\"", source, what, text);
    if opts.abort {
        // SAFETY: abort has no preconditions.
        unsafe { libc::abort() };
    }
}

/// Applies one options string.
pub fn parse(opts: &mut Opts, s: &[u8], source: &str) {
    for pair in s.split(|&b| b == b',') {
        if pair.is_empty() {
            continue;
        }
        let Some(colon) = pair.iter().position(|&b| b == b':') else {
            warn(opts, source, "Malformed conf string", pair);
            continue;
        };
        let (key, value) = (&pair[..colon], &pair[colon + 1..]);
        if !apply(opts, key, value) {
            if known_key(key) {
                warn(opts, source, "Invalid conf value", pair);
            } else {
                warn(opts, source, "Invalid conf pair", pair);
            }
        }
    }
}

/// `overcommit` exists only with swap files, as in jemalloc 2.2.1.
const BOOLS: &[&str] = &[
    "abort",
    "stats_print",
    "junk",
    "zero",
    "sysv",
    "xmalloc",
    "tcache",
    "thp",
    #[cfg(feature = "swap")]
    "overcommit",
];
const UNSIGNED: &[&str] = &["lg_qspace_max", "lg_cspace_max", "lg_chunk", "narenas", "lg_tcache_max"];
const SIGNED: &[&str] = &["lg_dirty_mult", "lg_tcache_gc_sweep"];
/// The profiler's options: known only when the `prof` feature builds the profiler, as in a
/// jemalloc 2.2.1 configured without `--enable-prof`, where they are invalid pairs.
const PROF_BOOLS: &[&str] = &["prof", "prof_active", "prof_accum", "prof_gdump", "prof_leak"];
const PROF_OTHERS: &[&str] = &["prof_prefix", "lg_prof_bt_max", "lg_prof_sample", "lg_prof_tcmax", "lg_prof_interval"];

fn prof_built() -> bool {
    cfg!(feature = "prof")
}

fn known_key(key: &[u8]) -> bool {
    BOOLS.iter().chain(UNSIGNED).chain(SIGNED).chain(&crate::report::KEYS).any(|k| k.as_bytes() == key)
        || prof_built() && PROF_BOOLS.iter().chain(PROF_OTHERS).any(|k| k.as_bytes() == key)
}

/// Sets `key` to `value`; false if the key is unknown or the value malformed or out of range.
fn apply(opts: &mut Opts, key: &[u8], value: &[u8]) -> bool {
    let key = match core::str::from_utf8(key) {
        Ok(k) => k,
        Err(_) => return false,
    };
    if let Some(ok) = opts.report.apply(key, value) {
        return ok;
    }
    if prof_built() && key == "prof_prefix" {
        if value.len() > PROF_PREFIX_MAX || value.contains(&0) {
            return false;
        }
        opts.prof_prefix = [0; PROF_PREFIX_MAX + 1];
        opts.prof_prefix[..value.len()].copy_from_slice(value);
        return true;
    }
    if prof_built() && PROF_BOOLS.contains(&key) {
        let v = match value {
            b"true" => true,
            b"false" => false,
            _ => return false,
        };
        match key {
            "prof" => opts.prof = v,
            "prof_active" => opts.prof_active = v,
            "prof_accum" => opts.prof_accum = v,
            "prof_gdump" => opts.prof_gdump = v,
            _ => opts.prof_leak = v,
        }
        return true;
    }
    if BOOLS.contains(&key) {
        let v = match value {
            b"true" => true,
            b"false" => false,
            _ => return false,
        };
        match key {
            "abort" => opts.abort = v,
            "stats_print" => opts.stats_print = v,
            "junk" => opts.junk = v,
            "zero" => opts.zero = v,
            "sysv" => opts.sysv = v,
            "xmalloc" => opts.xmalloc = v,
            "tcache" => opts.tcache = v,
            "thp" => opts.thp = v,
            _ => opts.overcommit = v,
        }
        return true;
    }
    let Some(n) = parse_int(value) else { return false };
    let in_range = |lo: i64, hi: i64| n >= lo && n <= hi;
    match key {
        "lg_chunk" if in_range(sc::MIN_LG_CHUNK as i64, sc::MAX_LG_CHUNK as i64) => opts.lg_chunk = n as usize,
        "lg_qspace_max" if in_range(sc::LG_QUANTUM as i64, sc::LG_PAGE as i64 - 2) => opts.lg_qspace_max = n as usize,
        "lg_cspace_max" if in_range(sc::LG_CACHELINE as i64, sc::LG_PAGE as i64 - 1) => opts.lg_cspace_max = n as usize,
        "narenas" if in_range(1, crate::arena::MAX_ARENAS as i64) => opts.narenas = n as usize,
        "lg_tcache_max" if in_range(0, 63) => opts.lg_tcache_max = n as usize,
        "lg_dirty_mult" if in_range(-1, 63) => opts.lg_dirty_mult = n as isize,
        "lg_tcache_gc_sweep" if in_range(-1, 63) => opts.lg_tcache_gc_sweep = n as isize,
        "lg_prof_bt_max" if prof_built() && in_range(0, LG_PROF_BT_MAX as i64) => opts.lg_prof_bt_max = n as usize,
        "lg_prof_sample" if prof_built() && in_range(0, 63) => opts.lg_prof_sample = n as usize,
        "lg_prof_tcmax" if prof_built() && in_range(-1, 63) => opts.lg_prof_tcmax = n as isize,
        "lg_prof_interval" if prof_built() && in_range(-1, 63) => opts.lg_prof_interval = n as isize,
        _ => return false,
    }
    true
}

/// An integer in base 10, 8 (leading 0) or 16 (leading 0x), optionally negative.
pub(crate) fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if s.len() > 2 && (s.starts_with(b"0x") || s.starts_with(b"0X")) {
        (16, &s[2..])
    } else if s.len() > 1 && s[0] == b'0' {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let x = (d as char).to_digit(radix)? as i64;
        v = v.checked_mul(radix as i64)?.checked_add(x)?;
    }
    Some(if neg { -v } else { v })
}

/// Settles options that depend on each other once all sources are read.
pub fn finish(opts: &mut Opts) {
    if opts.lg_cspace_max <= opts.lg_qspace_max {
        say!("lg_cspace_max must exceed lg_qspace_max; using lg_cspace_max:{}", opts.lg_qspace_max + 1);
        opts.lg_cspace_max = opts.lg_qspace_max + 1;
    }
    if opts.narenas == 0 {
        let ncpus = crate::pages::ncpus();
        opts.narenas = if ncpus > 1 { (ncpus * 4).min(crate::arena::MAX_ARENAS) } else { 1 };
    }
    if opts.prof_leak && !opts.prof {
        // As jemalloc 2.2.1: leak reporting turns the profiler on, without automatic dumps
        // other than the final one that the report names.
        opts.prof = true;
        opts.prof_gdump = false;
        opts.lg_prof_interval = -1;
    }
    if opts.sysv && opts.xmalloc {
        say!("opt.sysv and opt.xmalloc are incompatible; ignoring sysv");
        opts.sysv = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_skips_garbage() {
        let mut o = Opts::DEFAULT;
        parse(&mut o, b"narenas:3,lg_chunk:0x14,junk:true,bogus,lg_dirty_mult:-1,zero:maybe,nope:1", "test");
        assert_eq!(o.narenas, 3);
        assert_eq!(o.lg_chunk, 20);
        assert!(o.junk);
        assert_eq!(o.lg_dirty_mult, -1);
        assert!(!o.zero);
    }

    #[test]
    fn integers_in_three_bases() {
        assert_eq!(parse_int(b"017"), Some(15));
        assert_eq!(parse_int(b"0x1f"), Some(31));
        assert_eq!(parse_int(b"-1"), Some(-1));
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"12a"), None);
        assert_eq!(parse_int(b"99999999999999999999"), None);
    }

    #[test]
    fn profiler_options() {
        let mut o = Opts::DEFAULT;
        assert_eq!(o.prof_prefix(), b"jeprof");
        parse(&mut o, b"prof:true,prof_prefix:/tmp/x,lg_prof_sample:19,lg_prof_bt_max:8,lg_prof_interval:30,prof_accum:false", "test");
        if cfg!(feature = "prof") {
            assert!(o.prof && !o.prof_accum);
            assert_eq!(o.prof_prefix(), b"/tmp/x");
            assert_eq!((o.lg_prof_sample, o.lg_prof_bt_max, o.lg_prof_interval), (19, 7, 30));
            parse(&mut o, b"prof_prefix:", "test");
            assert_eq!(o.prof_prefix(), b"");
            let mut leak = Opts::DEFAULT;
            parse(&mut leak, b"prof_leak:true,prof_gdump:true", "test");
            finish(&mut leak);
            assert!(leak.prof && leak.prof_leak && !leak.prof_gdump);
        } else {
            assert!(!o.prof);
        }
    }

    #[test]
    fn out_of_range_is_rejected() {
        let mut o = Opts::DEFAULT;
        parse(&mut o, b"lg_chunk:40,lg_chunk:5,narenas:0", "test");
        assert_eq!(o, Opts::DEFAULT);
    }
}
