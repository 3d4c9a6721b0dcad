//! A typed Rust API over `mallctl*()`, in the manner of tikv-jemalloc-ctl.
//!
//! Read or write any name with [`read`], [`write()`] and [`update`], or resolve it once to a [`Mib`]
//! and use that from any thread. Each name of the namespace without an index has a module:
//! `epoch::advance()`, `stats::allocated::read()`, `opt::narenas::read()`,
//! `thread::arena::write(2)`, `stats::allocated::mib()?.read()`; indexed names take their
//! indices: `arenas::bin::size(0)`, `stats::arenas::pactive(4)`. Values are the manual's C types
//! as Rust types (`bool`, `usize`, `isize`, `u32`, `u64`, pointers). Nothing here allocates.

use super::{Error, Req, Result, MAX_DEPTH};
use core::ffi::{c_char, c_void, CStr};
use core::mem::{size_of, MaybeUninit};
use core::ptr;

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that is one of the manual's C value types.
pub trait CtlValue: Copy + sealed::Sealed {}

macro_rules! ctl_value {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl CtlValue for $t {}
    )*};
}
ctl_value!(bool, usize, isize, u32, u64, *const c_char, *const usize, *const u64);

/// Reads `name`.
pub fn read<T: CtlValue>(name: &CStr) -> Result<T> {
    let mut v = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>();
    let req = Req { oldp: v.as_mut_ptr().cast(), oldlenp: &mut len, newp: ptr::null(), newlen: 0 };
    // SAFETY: the buffer is a T of len bytes; no new value.
    unsafe { super::by_name(name.to_bytes(), &req)? };
    // SAFETY: zeroed is a valid T (plain numbers, bool false, null pointers); on success the
    // leaf wrote exactly size_of::<T>() bytes of a T.
    Ok(unsafe { v.assume_init() })
}

/// Writes `value` to `name`.
pub fn write<T: CtlValue>(name: &CStr, value: T) -> Result<()> {
    let req = Req {
        oldp: ptr::null_mut(),
        oldlenp: ptr::null_mut(),
        newp: (&value as *const T).cast(),
        newlen: size_of::<T>(),
    };
    // SAFETY: newp is a live T of newlen bytes; no old value wanted.
    unsafe { super::by_name(name.to_bytes(), &req) }
}

/// Writes `value` to `name` and returns the value it had.
pub fn update<T: CtlValue>(name: &CStr, value: T) -> Result<T> {
    let mut old = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>();
    let req = Req {
        oldp: old.as_mut_ptr().cast(),
        oldlenp: &mut len,
        newp: (&value as *const T).cast(),
        newlen: size_of::<T>(),
    };
    // SAFETY: as in `read` and `write`.
    unsafe { super::by_name(name.to_bytes(), &req)? };
    // SAFETY: as in `read`.
    Ok(unsafe { old.assume_init() })
}

/// Calls a `void` name such as `tcache.flush`.
pub fn call(name: &CStr) -> Result<()> {
    let req = Req { oldp: ptr::null_mut(), oldlenp: ptr::null_mut(), newp: ptr::null(), newlen: 0 };
    // SAFETY: no buffers at all.
    unsafe { super::by_name(name.to_bytes(), &req) }
}

/// A name resolved to its Management Information Base: a path usable from any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mib {
    mib: [usize; MAX_DEPTH],
    len: usize,
}

impl Mib {
    /// Resolves `name` (complete, or as much of it as `depth` components).
    pub fn new(name: &CStr) -> Result<Mib> {
        Self::with_depth(name, MAX_DEPTH)
    }

    /// The first `depth` components of `name`, as `mallctlnametomib()` with `*miblenp = depth`.
    pub fn with_depth(name: &CStr, depth: usize) -> Result<Mib> {
        let mut mib = [0; MAX_DEPTH];
        let len = super::name_to_mib(name.to_bytes(), &mut mib[..depth.min(MAX_DEPTH)])?;
        Ok(Mib { mib, len })
    }

    pub fn as_slice(&self) -> &[usize] {
        &self.mib[..self.len]
    }

    /// The same path with component `pos` (an index component) replaced by `index`.
    pub fn index(mut self, pos: usize, index: usize) -> Mib {
        if pos < self.len {
            self.mib[pos] = index;
        }
        self
    }

    pub fn read<T: CtlValue>(&self) -> Result<T> {
        let mut v = MaybeUninit::<T>::zeroed();
        let mut len = size_of::<T>();
        let req = Req { oldp: v.as_mut_ptr().cast(), oldlenp: &mut len, newp: ptr::null(), newlen: 0 };
        // SAFETY: as in the free function `read`.
        unsafe { super::by_mib(self.as_slice(), &req)? };
        // SAFETY: as in the free function `read`.
        Ok(unsafe { v.assume_init() })
    }

    pub fn write<T: CtlValue>(&self, value: T) -> Result<()> {
        let req = Req {
            oldp: ptr::null_mut(),
            oldlenp: ptr::null_mut(),
            newp: (&value as *const T).cast(),
            newlen: size_of::<T>(),
        };
        // SAFETY: as in the free function `write`.
        unsafe { super::by_mib(self.as_slice(), &req) }
    }

    /// Reads raw bytes into `out` (for arrays such as `arenas.initialized`).
    pub fn read_bytes(&self, out: &mut [u8]) -> Result<()> {
        let mut len = out.len();
        let req = Req { oldp: out.as_mut_ptr().cast::<c_void>(), oldlenp: &mut len, newp: ptr::null(), newlen: 0 };
        // SAFETY: out has len writable bytes.
        unsafe { super::by_mib(self.as_slice(), &req) }
    }
}

/// Reads an indexed name: `template` with its index components (positions of `indices`)
/// replaced.
fn read_indexed<T: CtlValue>(template: &CStr, indices: &[(usize, usize)]) -> Result<T> {
    let mut mib = [0; MAX_DEPTH];
    let len = super::name_to_mib(template.to_bytes(), &mut mib)?;
    for &(pos, i) in indices {
        mib[pos] = i;
    }
    Mib { mib, len }.read()
}

/// `arenas.initialized`: one flag per arena, written into `out` (at most `out.len()` arenas).
/// Returns how many arenas there are.
pub fn arenas_initialized(out: &mut [bool]) -> Result<usize> {
    let n = arenas::narenas::read()? as usize;
    let take = out.len().min(n);
    let mut len = n;
    let mut buf = [false; 64];
    let mib = Mib::new(c"arenas.initialized")?;
    // Read through a buffer of the exact size when it fits, else as much as `out` holds.
    if n <= buf.len() {
        let req = Req { oldp: buf.as_mut_ptr().cast(), oldlenp: &mut len, newp: ptr::null(), newlen: 0 };
        // SAFETY: buf has n writable bools.
        unsafe { super::by_mib(mib.as_slice(), &req)? };
        out[..take].copy_from_slice(&buf[..take]);
    } else {
        len = take;
        let req = Req { oldp: out.as_mut_ptr().cast(), oldlenp: &mut len, newp: ptr::null(), newlen: 0 };
        // SAFETY: out has `take` writable bools.
        match unsafe { super::by_mib(mib.as_slice(), &req) } {
            Ok(()) | Err(Error::Inval) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Modules for names without indices: `read()`, `write(v)`, `mib()`.
macro_rules! names {
    ($($m:ident: $name:literal, $t:ty, $($op:ident)+;)*) => {$(
        #[allow(non_snake_case)]
        pub mod $m {
            #[allow(unused_imports)]
            use super::*;
            /// The name this module reads.
            pub const NAME: &core::ffi::CStr = $name;
            /// Resolves the name once.
            pub fn mib() -> $crate::ctl::Result<$crate::ctl::typed::Mib> {
                $crate::ctl::typed::Mib::new(NAME)
            }
            $(names!(@op $op, $t);)+
        }
    )*};
    (@op r, $t:ty) => {
        pub fn read() -> $crate::ctl::Result<$t> {
            $crate::ctl::typed::read(NAME)
        }
    };
    (@op w, $t:ty) => {
        pub fn write(value: $t) -> $crate::ctl::Result<()> {
            $crate::ctl::typed::write(NAME, value)
        }
    };
}

/// `version`.
pub fn version() -> Result<&'static str> {
    let p: *const c_char = read(c"version")?;
    // SAFETY: `version` is a static NUL-terminated ASCII string.
    Ok(unsafe { CStr::from_ptr(p) }.to_str().unwrap_or(""))
}

pub mod epoch {
    use super::*;

    /// Refreshes the statistics snapshot; returns the new epoch.
    pub fn advance() -> Result<u64> {
        update(c"epoch", 1u64)
    }

    /// The current epoch, without refreshing.
    pub fn read() -> Result<u64> {
        super::read(c"epoch")
    }

    pub fn mib() -> Result<Mib> {
        Mib::new(c"epoch")
    }
}

pub mod tcache {
    /// `tcache.flush`.
    pub fn flush() -> crate::ctl::Result<()> {
        super::call(c"tcache.flush")
    }
}

pub mod config {
    names! {
        debug: c"config.debug", bool, r;
        dss: c"config.dss", bool, r;
        dynamic_page_shift: c"config.dynamic_page_shift", bool, r;
        fill: c"config.fill", bool, r;
        lazy_lock: c"config.lazy_lock", bool, r;
        prof: c"config.prof", bool, r;
        prof_libgcc: c"config.prof_libgcc", bool, r;
        prof_libunwind: c"config.prof_libunwind", bool, r;
        stats: c"config.stats", bool, r;
        swap: c"config.swap", bool, r;
        sysv: c"config.sysv", bool, r;
        tcache: c"config.tcache", bool, r;
        tiny: c"config.tiny", bool, r;
        tls: c"config.tls", bool, r;
        xmalloc: c"config.xmalloc", bool, r;
    }
}

pub mod opt {
    names! {
        abort: c"opt.abort", bool, r;
        lg_qspace_max: c"opt.lg_qspace_max", usize, r;
        lg_cspace_max: c"opt.lg_cspace_max", usize, r;
        lg_chunk: c"opt.lg_chunk", usize, r;
        narenas: c"opt.narenas", usize, r;
        lg_dirty_mult: c"opt.lg_dirty_mult", isize, r;
        stats_print: c"opt.stats_print", bool, r;
        junk: c"opt.junk", bool, r;
        zero: c"opt.zero", bool, r;
        sysv: c"opt.sysv", bool, r;
        xmalloc: c"opt.xmalloc", bool, r;
        tcache: c"opt.tcache", bool, r;
        lg_tcache_gc_sweep: c"opt.lg_tcache_gc_sweep", isize, r;
        lg_tcache_max: c"opt.lg_tcache_max", usize, r;
        overcommit: c"opt.overcommit", bool, r;
        thp: c"opt.thp", bool, r;
        prof: c"opt.prof", bool, r;
        prof_prefix: c"opt.prof_prefix", *const core::ffi::c_char, r;
        lg_prof_bt_max: c"opt.lg_prof_bt_max", usize, r;
        prof_active: c"opt.prof_active", bool, r;
        lg_prof_sample: c"opt.lg_prof_sample", isize, r;
        prof_accum: c"opt.prof_accum", bool, r;
        lg_prof_tcmax: c"opt.lg_prof_tcmax", isize, r;
        lg_prof_interval: c"opt.lg_prof_interval", isize, r;
        prof_gdump: c"opt.prof_gdump", bool, r;
        prof_leak: c"opt.prof_leak", bool, r;
    }
}

/// The heap profiler (`prof.*`; the names exist when the `prof` feature builds it).
///
/// ```no_run
/// // Run with MALLOC_CONF=prof:true (or prof_leak:true).
/// use jemalloc_rs::ctl::typed::prof;
/// prof::dump(Some(c"app.heap")).expect("profiling is on and the file is writable");
/// prof::dump(None).expect("written to <prefix>.<pid>.<seq>.m<mseq>.heap");
/// prof::active::write(false).unwrap(); // stop sampling for a while
/// ```
pub mod prof {
    use super::*;

    names! {
        active: c"prof.active", bool, r w;
        interval: c"prof.interval", u64, r;
    }

    /// `prof.dump`: writes a heap profile to `path`, or with `None` to the next file named
    /// `<prefix>.<pid>.<seq>.m<mseq>.heap`. `Error::Fault` when profiling is off (`opt.prof`)
    /// or the file cannot be written; `Error::NoEnt` when the profiler is not built.
    pub fn dump(path: Option<&CStr>) -> Result<()> {
        write(c"prof.dump", path.map_or(ptr::null(), CStr::as_ptr))
    }
}

pub mod swap {
    use super::*;
    names! {
        avail: c"swap.avail", usize, r;
        prezeroed: c"swap.prezeroed", bool, r w;
        nfds: c"swap.nfds", usize, r;
    }

    /// Writes `swap.fds`: maps the files behind `fds` as the swap region.
    pub fn set_fds(fds: &[i32]) -> Result<()> {
        let req = Req { oldp: ptr::null_mut(), oldlenp: ptr::null_mut(), newp: fds.as_ptr().cast(), newlen: core::mem::size_of_val(fds) };
        // SAFETY: newp holds newlen readable, aligned bytes; no old value wanted.
        unsafe { super::super::by_name(b"swap.fds", &req) }
    }

    /// Reads `swap.fds` into `out`, which must hold exactly `swap.nfds` descriptors.
    pub fn fds(out: &mut [i32]) -> Result<()> {
        let mut len = core::mem::size_of_val(out);
        let req = Req { oldp: out.as_mut_ptr().cast(), oldlenp: &mut len, newp: ptr::null(), newlen: 0 };
        // SAFETY: out has len writable bytes.
        unsafe { super::super::by_name(b"swap.fds", &req) }
    }
}

pub mod thread {
    names! {
        arena: c"thread.arena", u32, r w;
        allocated: c"thread.allocated", u64, r;
        allocatedp: c"thread.allocatedp", *const u64, r;
        deallocated: c"thread.deallocated", u64, r;
        deallocatedp: c"thread.deallocatedp", *const u64, r;
    }
}

pub mod arenas {
    use super::*;
    names! {
        narenas: c"arenas.narenas", u32, r;
        quantum: c"arenas.quantum", usize, r;
        cacheline: c"arenas.cacheline", usize, r;
        subpage: c"arenas.subpage", usize, r;
        pagesize: c"arenas.pagesize", usize, r;
        chunksize: c"arenas.chunksize", usize, r;
        tspace_min: c"arenas.tspace_min", usize, r;
        tspace_max: c"arenas.tspace_max", usize, r;
        qspace_min: c"arenas.qspace_min", usize, r;
        qspace_max: c"arenas.qspace_max", usize, r;
        cspace_min: c"arenas.cspace_min", usize, r;
        cspace_max: c"arenas.cspace_max", usize, r;
        sspace_min: c"arenas.sspace_min", usize, r;
        sspace_max: c"arenas.sspace_max", usize, r;
        tcache_max: c"arenas.tcache_max", usize, r;
        ntbins: c"arenas.ntbins", u32, r;
        nqbins: c"arenas.nqbins", u32, r;
        ncbins: c"arenas.ncbins", u32, r;
        nsbins: c"arenas.nsbins", u32, r;
        nbins: c"arenas.nbins", u32, r;
        nhbins: c"arenas.nhbins", u32, r;
        nlruns: c"arenas.nlruns", usize, r;
    }

    /// `arenas.purge`: one arena, or all of them with `None`.
    pub fn purge(arena: Option<u32>) -> Result<()> {
        match arena {
            Some(i) => write(c"arenas.purge", i),
            None => call(c"arenas.purge"),
        }
    }

    pub mod bin {
        use super::super::*;
        /// `arenas.bin.<i>.size`.
        pub fn size(i: usize) -> Result<usize> {
            read_indexed(c"arenas.bin.0.size", &[(2, i)])
        }
        /// `arenas.bin.<i>.nregs`.
        pub fn nregs(i: usize) -> Result<u32> {
            read_indexed(c"arenas.bin.0.nregs", &[(2, i)])
        }
        /// `arenas.bin.<i>.run_size`.
        pub fn run_size(i: usize) -> Result<usize> {
            read_indexed(c"arenas.bin.0.run_size", &[(2, i)])
        }
    }

    pub mod lrun {
        use super::super::*;
        /// `arenas.lrun.<i>.size`.
        pub fn size(i: usize) -> Result<usize> {
            read_indexed(c"arenas.lrun.0.size", &[(2, i)])
        }
    }
}

pub mod stats {
    names! {
        cactive: c"stats.cactive", *const usize, r;
        allocated: c"stats.allocated", usize, r;
        active: c"stats.active", usize, r;
        mapped: c"stats.mapped", usize, r;
    }

    pub mod chunks {
        names! {
            current: c"stats.chunks.current", usize, r;
            total: c"stats.chunks.total", u64, r;
            high: c"stats.chunks.high", usize, r;
        }
    }

    pub mod huge {
        names! {
            allocated: c"stats.huge.allocated", usize, r;
            nmalloc: c"stats.huge.nmalloc", u64, r;
            ndalloc: c"stats.huge.ndalloc", u64, r;
        }
    }

    /// `stats.arenas.<i>.*`; `i == arenas.narenas` reads the sum over all arenas.
    pub mod arenas {
        use super::super::*;

        macro_rules! per_arena {
            ($($f:ident: $name:literal, $t:ty;)*) => {$(
                #[doc = concat!("`", stringify!($f), "` of arena `i`.")]
                pub fn $f(i: usize) -> Result<$t> {
                    read_indexed($name, &[(2, i)])
                }
            )*};
        }
        per_arena! {
            nthreads: c"stats.arenas.0.nthreads", u32;
            pactive: c"stats.arenas.0.pactive", usize;
            pdirty: c"stats.arenas.0.pdirty", usize;
            mapped: c"stats.arenas.0.mapped", usize;
            npurge: c"stats.arenas.0.npurge", u64;
            nmadvise: c"stats.arenas.0.nmadvise", u64;
            npurged: c"stats.arenas.0.npurged", u64;
            small_allocated: c"stats.arenas.0.small.allocated", usize;
            small_nmalloc: c"stats.arenas.0.small.nmalloc", u64;
            small_ndalloc: c"stats.arenas.0.small.ndalloc", u64;
            small_nrequests: c"stats.arenas.0.small.nrequests", u64;
            large_allocated: c"stats.arenas.0.large.allocated", usize;
            large_nmalloc: c"stats.arenas.0.large.nmalloc", u64;
            large_ndalloc: c"stats.arenas.0.large.ndalloc", u64;
            large_nrequests: c"stats.arenas.0.large.nrequests", u64;
        }

        macro_rules! per_class {
            ($($f:ident: $name:literal, $t:ty;)*) => {$(
                #[doc = concat!("`", stringify!($f), "` of class `j` in arena `i`.")]
                pub fn $f(i: usize, j: usize) -> Result<$t> {
                    read_indexed($name, &[(2, i), (4, j)])
                }
            )*};
        }

        pub mod bins {
            use super::*;
            per_class! {
                allocated: c"stats.arenas.0.bins.0.allocated", usize;
                nmalloc: c"stats.arenas.0.bins.0.nmalloc", u64;
                ndalloc: c"stats.arenas.0.bins.0.ndalloc", u64;
                nrequests: c"stats.arenas.0.bins.0.nrequests", u64;
                nfills: c"stats.arenas.0.bins.0.nfills", u64;
                nflushes: c"stats.arenas.0.bins.0.nflushes", u64;
                nruns: c"stats.arenas.0.bins.0.nruns", u64;
                nreruns: c"stats.arenas.0.bins.0.nreruns", u64;
                highruns: c"stats.arenas.0.bins.0.highruns", usize;
                curruns: c"stats.arenas.0.bins.0.curruns", usize;
            }
        }

        pub mod lruns {
            use super::*;
            per_class! {
                nmalloc: c"stats.arenas.0.lruns.0.nmalloc", u64;
                ndalloc: c"stats.arenas.0.lruns.0.ndalloc", u64;
                nrequests: c"stats.arenas.0.lruns.0.nrequests", u64;
                highruns: c"stats.arenas.0.lruns.0.highruns", usize;
                curruns: c"stats.arenas.0.lruns.0.curruns", usize;
            }
        }
    }
}
