//! The mallctl name tree: every name of the manual's MALLCTL NAMESPACE as const arrays of nodes.
//!
//! Mirrors the node tables of jemalloc 2.2.1 `ctl.c`. A node has named children, one indexed
//! child (`<i>`) whose bound is a function of the MIB so far, or is a leaf with its C type, its
//! access (`rw`, `r-`, `-w`, `--`) and a handler: a pure value, a value from the statistics
//! snapshot (read under the ctl lock), or a custom function for names with side effects. Names
//! the build leaves out (features off) are absent, so they answer ENOENT as jemalloc 2.2.1 built
//! without them does; `prof.*` only with the `prof` feature, `swap.*` and `opt.overcommit`
//! only with the `swap` feature. No lock of its own: all read-only.

use super::leaves;
use super::snapshot::Snapshot;
use super::{Req, Result};
use crate::global::g;
use crate::size_classes::{CACHELINE, LG_PAGE, PAGE, QUANTUM, SUBPAGE};
use core::ffi::c_char;

/// The manual's value types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CType {
    Bool,
    Size,
    Ssize,
    Unsigned,
    U32,
    U64,
    Str,
    SizePtr,
    U64Ptr,
    BoolArray,
    /// `int *`: an array of descriptors (`swap.fds`).
    IntArray,
    Void,
}

impl CType {
    /// The C spelling, as the manual writes it.
    pub fn c_name(self) -> &'static str {
        match self {
            CType::Bool => "bool",
            CType::Size => "size_t",
            CType::Ssize => "ssize_t",
            CType::Unsigned => "unsigned",
            CType::U32 => "uint32_t",
            CType::U64 => "uint64_t",
            CType::Str => "const char *",
            CType::SizePtr => "size_t *",
            CType::U64Ptr => "uint64_t *",
            CType::BoolArray => "bool *",
            CType::IntArray => "int *",
            CType::Void => "void",
        }
    }

    /// Bytes of one value (of one element, for `bool *` and `int *` arrays); 0 for `void`.
    pub fn size(self) -> usize {
        use core::mem::size_of;
        match self {
            CType::Bool | CType::BoolArray => size_of::<bool>(),
            CType::Size | CType::Ssize | CType::Str | CType::SizePtr | CType::U64Ptr => size_of::<usize>(),
            CType::Unsigned | CType::U32 => size_of::<u32>(),
            CType::IntArray => size_of::<core::ffi::c_int>(),
            CType::U64 => size_of::<u64>(),
            CType::Void => 0,
        }
    }
}

/// The manual's readable/writable status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
    WriteOnly,
    /// `--`: neither read nor written, only called (`tcache.flush`).
    None,
}

impl Access {
    pub fn code(self) -> &'static str {
        match self {
            Access::ReadWrite => "rw",
            Access::ReadOnly => "r-",
            Access::WriteOnly => "-w",
            Access::None => "--",
        }
    }
}

/// A value as a handler produces it; the variant is the C type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Size(usize),
    Ssize(isize),
    Unsigned(u32),
    U32(u32),
    U64(u64),
    Str(*const c_char),
    SizePtr(*const usize),
    U64Ptr(*const u64),
}

pub enum Handler {
    /// A read-only value that needs no lock.
    Value(fn(&[usize]) -> Value),
    /// A read-only value from the statistics snapshot (called under the ctl lock).
    Stat(fn(&Snapshot, &[usize]) -> Value),
    /// Anything else: does its own access checks.
    ///
    /// # Safety
    /// The request's pointers are valid as `mallctl` requires.
    Custom(unsafe fn(&[usize], &Req) -> Result<()>),
}

pub struct Leaf {
    pub ty: CType,
    pub access: Access,
    pub handler: Handler,
}

pub struct Indexed {
    /// How listings write the component: `<i>` or `<j>`.
    pub label: &'static str,
    /// Whether `i` is in range, given the MIB components before it.
    pub valid: fn(&[usize], usize) -> bool,
    pub children: &'static [Node],
}

pub enum Kind {
    Named(&'static [Node]),
    Indexed(&'static Indexed),
    Leaf(Leaf),
}

pub struct Node {
    pub name: &'static str,
    pub kind: Kind,
}

const fn named(name: &'static str, children: &'static [Node]) -> Node {
    Node { name, kind: Kind::Named(children) }
}

const fn indexed(name: &'static str, ix: &'static Indexed) -> Node {
    Node { name, kind: Kind::Indexed(ix) }
}

const fn custom(name: &'static str, ty: CType, access: Access, f: unsafe fn(&[usize], &Req) -> Result<()>) -> Node {
    Node { name, kind: Kind::Leaf(Leaf { ty, access, handler: Handler::Custom(f) }) }
}

/// A read-only leaf whose value needs no lock: `ro!("name", Type, |mib| expr)`.
macro_rules! ro {
    ($name:literal, $ty:ident, |$mib:pat_param| $e:expr) => {
        Node {
            name: $name,
            kind: Kind::Leaf(Leaf {
                ty: CType::$ty,
                access: Access::ReadOnly,
                handler: Handler::Value(|$mib: &[usize]| Value::$ty($e)),
            }),
        }
    };
}

/// A read-only leaf from the snapshot: `stat!("name", Type, |snapshot, mib| expr)`.
macro_rules! stat {
    ($name:literal, $ty:ident, |$s:ident, $mib:pat_param| $e:expr) => {
        Node {
            name: $name,
            kind: Kind::Leaf(Leaf {
                ty: CType::$ty,
                access: Access::ReadOnly,
                handler: Handler::Stat(|$s: &Snapshot, $mib: &[usize]| Value::$ty($e)),
            }),
        }
    };
}

/// The version string (`JEMALLOC_VERSION` of `jemalloc/jemalloc.h`), NUL-terminated for C.
pub const VERSION: &core::ffi::CStr = c"2.2.1-0-jemalloc-rs";

const CONFIG: &[Node] = &[
    ro!("debug", Bool, |_| cfg!(feature = "debug")),
    ro!("dss", Bool, |_| cfg!(feature = "dss")),
    ro!("dynamic_page_shift", Bool, |_| false),
    ro!("fill", Bool, |_| cfg!(feature = "fill")),
    ro!("lazy_lock", Bool, |_| false),
    ro!("prof", Bool, |_| cfg!(feature = "prof")),
    // Backtraces come from libgcc's unwinder (see `prof::backtrace`).
    ro!("prof_libgcc", Bool, |_| cfg!(feature = "prof")),
    ro!("prof_libunwind", Bool, |_| false),
    ro!("stats", Bool, |_| cfg!(feature = "stats")),
    ro!("swap", Bool, |_| cfg!(feature = "swap")),
    ro!("sysv", Bool, |_| cfg!(feature = "sysv")),
    ro!("tcache", Bool, |_| cfg!(feature = "tcache")),
    ro!("tiny", Bool, |_| cfg!(feature = "tiny")),
    // The thread state lives in static TLS (see `thread`).
    ro!("tls", Bool, |_| true),
    ro!("xmalloc", Bool, |_| cfg!(feature = "xmalloc")),
];

const OPT: &[Node] = &[
    ro!("abort", Bool, |_| g().opts.abort),
    ro!("lg_qspace_max", Size, |_| g().opts.lg_qspace_max),
    ro!("lg_cspace_max", Size, |_| g().opts.lg_cspace_max),
    ro!("lg_chunk", Size, |_| g().opts.lg_chunk),
    ro!("narenas", Size, |_| g().opts.narenas),
    ro!("lg_dirty_mult", Ssize, |_| g().opts.lg_dirty_mult),
    ro!("stats_print", Bool, |_| g().opts.stats_print),
    #[cfg(feature = "fill")]
    ro!("junk", Bool, |_| g().opts.junk),
    #[cfg(feature = "fill")]
    ro!("zero", Bool, |_| g().opts.zero),
    #[cfg(feature = "sysv")]
    ro!("sysv", Bool, |_| g().opts.sysv),
    #[cfg(feature = "xmalloc")]
    ro!("xmalloc", Bool, |_| g().opts.xmalloc),
    #[cfg(feature = "tcache")]
    ro!("tcache", Bool, |_| g().opts.tcache),
    #[cfg(feature = "tcache")]
    ro!("lg_tcache_gc_sweep", Ssize, |_| g().opts.lg_tcache_gc_sweep),
    #[cfg(feature = "tcache")]
    ro!("lg_tcache_max", Size, |_| g().opts.lg_tcache_max),
    #[cfg(feature = "swap")]
    ro!("overcommit", Bool, |_| g().opts.overcommit),
    ro!("thp", Bool, |_| g().opts.thp),
    #[cfg(feature = "prof")]
    ro!("prof", Bool, |_| g().opts.prof),
    #[cfg(feature = "prof")]
    ro!("prof_prefix", Str, |_| g().opts.prof_prefix.as_ptr().cast()),
    #[cfg(feature = "prof")]
    ro!("lg_prof_bt_max", Size, |_| g().opts.lg_prof_bt_max),
    #[cfg(feature = "prof")]
    ro!("prof_active", Bool, |_| g().opts.prof_active),
    #[cfg(feature = "prof")]
    ro!("lg_prof_sample", Ssize, |_| g().opts.lg_prof_sample as isize),
    #[cfg(feature = "prof")]
    ro!("prof_accum", Bool, |_| g().opts.prof_accum),
    #[cfg(feature = "prof")]
    ro!("lg_prof_tcmax", Ssize, |_| g().opts.lg_prof_tcmax),
    #[cfg(feature = "prof")]
    ro!("lg_prof_interval", Ssize, |_| g().opts.lg_prof_interval),
    #[cfg(feature = "prof")]
    ro!("prof_gdump", Bool, |_| g().opts.prof_gdump),
    #[cfg(feature = "prof")]
    ro!("prof_leak", Bool, |_| g().opts.prof_leak),
];

#[cfg(feature = "prof")]
const PROF: &[Node] = &[
    custom("active", CType::Bool, Access::ReadWrite, leaves::prof_active),
    custom("dump", CType::Str, Access::WriteOnly, leaves::prof_dump),
    ro!("interval", U64, |_| crate::prof::interval()),
];

#[cfg(feature = "tcache")]
const TCACHE: &[Node] = &[custom("flush", CType::Void, Access::None, leaves::tcache_flush)];

const THREAD: &[Node] = &[
    custom("arena", CType::Unsigned, Access::ReadWrite, leaves::thread_arena),
    #[cfg(feature = "stats")]
    ro!("allocated", U64, |_| leaves::thread_counters().0),
    #[cfg(feature = "stats")]
    ro!("allocatedp", U64Ptr, |_| leaves::thread_counter_ptrs().0),
    #[cfg(feature = "stats")]
    ro!("deallocated", U64, |_| leaves::thread_counters().1),
    #[cfg(feature = "stats")]
    ro!("deallocatedp", U64Ptr, |_| leaves::thread_counter_ptrs().1),
];

const ARENAS_BIN_I: Indexed = Indexed {
    label: "<i>",
    valid: |_, i| i < g().sc.nbins,
    children: &[
        ro!("size", Size, |mib| g().sc.bins[mib[2]].reg_size as usize),
        ro!("nregs", U32, |mib| g().sc.bins[mib[2]].nregs),
        ro!("run_size", Size, |mib| g().sc.bins[mib[2]].run_size()),
    ],
};

const ARENAS_LRUN_I: Indexed = Indexed {
    label: "<i>",
    valid: |_, i| i < g().sc.nlclasses,
    children: &[ro!("size", Size, |mib| (mib[2] + 1) << LG_PAGE)],
};

const ARENAS: &[Node] = &[
    ro!("narenas", Unsigned, |_| g().narenas() as u32),
    custom("initialized", CType::BoolArray, Access::ReadOnly, leaves::arenas_initialized),
    ro!("quantum", Size, |_| QUANTUM),
    ro!("cacheline", Size, |_| CACHELINE),
    ro!("subpage", Size, |_| SUBPAGE),
    ro!("pagesize", Size, |_| PAGE),
    ro!("chunksize", Size, |_| g().sc.chunk_size),
    #[cfg(feature = "tiny")]
    ro!("tspace_min", Size, |_| g().sc.tspace_min),
    #[cfg(feature = "tiny")]
    ro!("tspace_max", Size, |_| g().sc.tspace_max),
    ro!("qspace_min", Size, |_| g().sc.qspace_min),
    ro!("qspace_max", Size, |_| g().sc.qspace_max),
    ro!("cspace_min", Size, |_| g().sc.cspace_min),
    ro!("cspace_max", Size, |_| g().sc.cspace_max),
    ro!("sspace_min", Size, |_| g().sc.sspace_min),
    ro!("sspace_max", Size, |_| g().sc.sspace_max),
    #[cfg(feature = "tcache")]
    ro!("tcache_max", Size, |_| leaves::tcache_maxclass()),
    ro!("ntbins", Unsigned, |_| g().sc.ntbins as u32),
    ro!("nqbins", Unsigned, |_| g().sc.nqbins as u32),
    ro!("ncbins", Unsigned, |_| g().sc.ncbins as u32),
    ro!("nsbins", Unsigned, |_| g().sc.nsbins as u32),
    ro!("nbins", Unsigned, |_| g().sc.nbins as u32),
    #[cfg(feature = "tcache")]
    ro!("nhbins", Unsigned, |_| leaves::nhbins() as u32),
    indexed("bin", &ARENAS_BIN_I),
    ro!("nlruns", Size, |_| g().sc.nlclasses),
    indexed("lrun", &ARENAS_LRUN_I),
    custom("purge", CType::Unsigned, Access::WriteOnly, leaves::arenas_purge),
];

#[cfg(feature = "stats")]
const STATS_ARENAS_I_BINS_J: Indexed = Indexed {
    label: "<j>",
    valid: |_, j| j < g().sc.nbins,
    children: &[
        stat!("allocated", Size, |s, mib| s.bin(mib[2], mib[4]).allocated),
        stat!("nmalloc", U64, |s, mib| s.bin(mib[2], mib[4]).nmalloc),
        stat!("ndalloc", U64, |s, mib| s.bin(mib[2], mib[4]).ndalloc),
        stat!("nrequests", U64, |s, mib| s.bin(mib[2], mib[4]).nrequests),
        #[cfg(feature = "tcache")]
        stat!("nfills", U64, |s, mib| s.bin(mib[2], mib[4]).nfills),
        #[cfg(feature = "tcache")]
        stat!("nflushes", U64, |s, mib| s.bin(mib[2], mib[4]).nflushes),
        stat!("nruns", U64, |s, mib| s.bin(mib[2], mib[4]).nruns),
        stat!("nreruns", U64, |s, mib| s.bin(mib[2], mib[4]).nreruns),
        stat!("highruns", Size, |s, mib| s.bin(mib[2], mib[4]).highruns),
        stat!("curruns", Size, |s, mib| s.bin(mib[2], mib[4]).curruns),
    ],
};

#[cfg(feature = "stats")]
const STATS_ARENAS_I_LRUNS_J: Indexed = Indexed {
    label: "<j>",
    valid: |_, j| j < g().sc.nlclasses,
    children: &[
        stat!("nmalloc", U64, |s, mib| s.lrun(mib[2], mib[4]).nmalloc),
        stat!("ndalloc", U64, |s, mib| s.lrun(mib[2], mib[4]).ndalloc),
        stat!("nrequests", U64, |s, mib| s.lrun(mib[2], mib[4]).nrequests),
        stat!("highruns", Size, |s, mib| s.lrun(mib[2], mib[4]).highruns),
        stat!("curruns", Size, |s, mib| s.lrun(mib[2], mib[4]).curruns),
    ],
};

const STATS_ARENAS_I: Indexed = Indexed {
    label: "<i>",
    valid: |_, i| super::snapshot::arena_initialized(i),
    children: &[
        stat!("nthreads", Unsigned, |s, mib| s.arena(mib[2]).nthreads),
        stat!("pactive", Size, |s, mib| s.arena(mib[2]).pactive),
        stat!("pdirty", Size, |s, mib| s.arena(mib[2]).pdirty),
        #[cfg(feature = "stats")]
        stat!("mapped", Size, |s, mib| s.arena(mib[2]).astats.mapped),
        #[cfg(feature = "stats")]
        stat!("npurge", U64, |s, mib| s.arena(mib[2]).astats.npurge),
        #[cfg(feature = "stats")]
        stat!("nmadvise", U64, |s, mib| s.arena(mib[2]).astats.nmadvise),
        #[cfg(feature = "stats")]
        stat!("npurged", U64, |s, mib| s.arena(mib[2]).astats.purged),
        // jemalloc 2.2.1's own spelling of npurged, which its malloc_stats_print() reads.
        #[cfg(feature = "stats")]
        stat!("purged", U64, |s, mib| s.arena(mib[2]).astats.purged),
        #[cfg(feature = "stats")]
        named(
            "small",
            &[
                stat!("allocated", Size, |s, mib| s.arena(mib[2]).small.allocated),
                stat!("nmalloc", U64, |s, mib| s.arena(mib[2]).small.nmalloc),
                stat!("ndalloc", U64, |s, mib| s.arena(mib[2]).small.ndalloc),
                stat!("nrequests", U64, |s, mib| s.arena(mib[2]).small.nrequests),
            ],
        ),
        #[cfg(feature = "stats")]
        named(
            "large",
            &[
                stat!("allocated", Size, |s, mib| s.arena(mib[2]).astats.allocated_large),
                stat!("nmalloc", U64, |s, mib| s.arena(mib[2]).astats.nmalloc_large),
                stat!("ndalloc", U64, |s, mib| s.arena(mib[2]).astats.ndalloc_large),
                stat!("nrequests", U64, |s, mib| s.arena(mib[2]).astats.nrequests_large),
            ],
        ),
        #[cfg(feature = "stats")]
        indexed("bins", &STATS_ARENAS_I_BINS_J),
        #[cfg(feature = "stats")]
        indexed("lruns", &STATS_ARENAS_I_LRUNS_J),
    ],
};

const STATS: &[Node] = &[
    #[cfg(feature = "stats")]
    ro!("cactive", SizePtr, |_| crate::stats::CACTIVE.as_ptr()),
    #[cfg(feature = "stats")]
    stat!("allocated", Size, |s, _| s.allocated),
    #[cfg(feature = "stats")]
    stat!("active", Size, |s, _| s.active),
    #[cfg(feature = "stats")]
    stat!("mapped", Size, |s, _| s.mapped),
    #[cfg(feature = "stats")]
    named(
        "chunks",
        &[
            stat!("current", Size, |s, _| s.chunks_current),
            stat!("total", U64, |s, _| s.chunks_total),
            stat!("high", Size, |s, _| s.chunks_high),
        ],
    ),
    #[cfg(feature = "stats")]
    named(
        "huge",
        &[
            stat!("allocated", Size, |s, _| s.huge.allocated),
            stat!("nmalloc", U64, |s, _| s.huge.nmalloc),
            stat!("ndalloc", U64, |s, _| s.huge.ndalloc),
        ],
    ),
    indexed("arenas", &STATS_ARENAS_I),
];

#[cfg(feature = "swap")]
const SWAP: &[Node] = &[
    #[cfg(feature = "stats")]
    stat!("avail", Size, |s, _| s.swap_avail),
    custom("prezeroed", CType::Bool, Access::ReadWrite, leaves::swap_prezeroed),
    ro!("nfds", Size, |_| crate::chunk::swap::fds().len()),
    // The manual marks it r-, yet writing it is how a program hands its files over.
    custom("fds", CType::IntArray, Access::ReadWrite, leaves::swap_fds),
];

/// The root of the tree.
pub const ROOT: &[Node] = &[
    ro!("version", Str, |_| VERSION.as_ptr()),
    custom("epoch", CType::U64, Access::ReadWrite, leaves::epoch),
    #[cfg(feature = "tcache")]
    named("tcache", TCACHE),
    named("thread", THREAD),
    named("config", CONFIG),
    named("opt", OPT),
    named("arenas", ARENAS),
    #[cfg(feature = "prof")]
    named("prof", PROF),
    named("stats", STATS),
    #[cfg(feature = "swap")]
    named("swap", SWAP),
];
