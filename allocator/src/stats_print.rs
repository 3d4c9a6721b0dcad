//! `malloc_stats_print()`: the human-readable statistics report, and `opt.stats_print` at exit.
//!
//! Mirrors jemalloc 2.2.1 `stats.c`: it reads everything through the mallctl namespace (after
//! advancing `epoch`), so the report shows exactly what `mallctl()` would. General information,
//! merged and per-arena statistics, bins and large runs, each omitted by one of the opts
//! characters `g`, `m`, `a`, `b`, `l`. Text is formatted into a fixed buffer on the stack and
//! handed to the callback (or `malloc_message`) one line at a time; no lock is held while the
//! callback runs, so it may allocate.

use crate::ctl::typed::{self, Mib};
use crate::ctl::{self, Error};
use crate::message::{self, MessageBuf, MessageFn};
use core::ffi::{c_char, c_void, CStr};
use core::fmt::{self, Write};

/// Which parts the opts string leaves in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Parts {
    general: bool,
    merged: bool,
    unmerged: bool,
    bins: bool,
    large: bool,
}

impl Parts {
    fn from_opts(opts: &[u8]) -> Parts {
        Parts {
            general: !opts.contains(&b'g'),
            merged: !opts.contains(&b'm'),
            unmerged: !opts.contains(&b'a'),
            bins: !opts.contains(&b'b'),
            large: !opts.contains(&b'l'),
        }
    }
}

/// Buffers text and hands it to the callback a line at a time.
struct Out {
    cb: MessageFn,
    opaque: *mut c_void,
    buf: MessageBuf<512>,
}

impl Out {
    fn flush(&mut self) {
        if !self.buf.as_bytes().is_empty() {
            // SAFETY: as_c_str is NUL-terminated and lives across the call; the callback has
            // the malloc_message signature.
            unsafe { (self.cb)(self.opaque, self.buf.as_c_str()) };
            self.buf.clear();
        }
    }
}

impl Write for Out {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while !s.is_empty() {
            let room = 511 - self.buf.as_bytes().len();
            let line_end = s.find('\n').map(|i| i + 1);
            let take = line_end.unwrap_or(s.len()).min(room.max(1));
            let mut cut = take.min(s.len());
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.buf.write_str(&s[..cut])?;
            if self.buf.as_bytes().ends_with(b"\n") || self.buf.as_bytes().len() >= 511 {
                self.flush();
            }
            s = &s[cut..];
        }
        Ok(())
    }
}

fn rd<T: typed::CtlValue + Default>(name: &CStr) -> T {
    typed::read(name).unwrap_or_default()
}

/// Reads a name by MIB with index components `i` (position 2) and `j` (position 4).
fn rd_ij<T: typed::CtlValue + Default>(mib: &Option<Mib>, i: usize, j: usize) -> T {
    match mib {
        Some(m) => m.index(2, i).index(4, j).read().unwrap_or_default(),
        None => T::default(),
    }
}

fn mib(name: &CStr) -> Option<Mib> {
    Mib::new(name).ok()
}

fn general(out: &mut Out) -> fmt::Result {
    let _ = typed::version().map(|v| writeln!(out, "Version: {v}"));
    let debug: bool = rd(c"config.debug");
    writeln!(out, "Assertions {}", if debug { "enabled" } else { "disabled" })?;
    writeln!(out, "Run-time option settings:")?;
    for cname in [
        c"opt.abort",
        c"opt.lg_qspace_max",
        c"opt.lg_cspace_max",
        c"opt.lg_chunk",
        c"opt.narenas",
        c"opt.lg_dirty_mult",
        c"opt.stats_print",
        c"opt.junk",
        c"opt.zero",
        c"opt.sysv",
        c"opt.xmalloc",
        c"opt.tcache",
        c"opt.lg_tcache_gc_sweep",
        c"opt.lg_tcache_max",
        c"opt.overcommit",
        c"opt.thp",
    ] {
        // Options the build leaves out have no name, and no line.
        let Ok(info) = ctl::describe(cname.to_bytes()) else { continue };
        let name = cname.to_str().unwrap_or("");
        match info.ty {
            ctl::tree::CType::Bool => writeln!(out, "  {name}: {}", rd::<bool>(cname))?,
            ctl::tree::CType::Ssize => writeln!(out, "  {name}: {}", rd::<isize>(cname))?,
            _ => writeln!(out, "  {name}: {}", rd::<usize>(cname))?,
        }
    }
    writeln!(out, "CPUs: {}", crate::pages::ncpus())?;
    writeln!(out, "Max arenas: {}", rd::<u32>(c"arenas.narenas"))?;
    writeln!(out, "Pointer size: {}", core::mem::size_of::<*const u8>())?;
    writeln!(out, "Quantum size: {}", rd::<usize>(c"arenas.quantum"))?;
    writeln!(out, "Cacheline size (assumed): {}", rd::<usize>(c"arenas.cacheline"))?;
    writeln!(out, "Subpage spacing: {}", rd::<usize>(c"arenas.subpage"))?;
    if let Ok(min) = typed::read::<usize>(c"arenas.tspace_min") {
        writeln!(out, "Tiny 2^n-spaced sizes: [{}..{}]", min, rd::<usize>(c"arenas.tspace_max"))?;
    }
    writeln!(
        out,
        "Quantum-spaced sizes: [{}..{}]",
        rd::<usize>(c"arenas.qspace_min"),
        rd::<usize>(c"arenas.qspace_max")
    )?;
    writeln!(
        out,
        "Cacheline-spaced sizes: [{}..{}]",
        rd::<usize>(c"arenas.cspace_min"),
        rd::<usize>(c"arenas.cspace_max")
    )?;
    writeln!(
        out,
        "Subpage-spaced sizes: [{}..{}]",
        rd::<usize>(c"arenas.sspace_min"),
        rd::<usize>(c"arenas.sspace_max")
    )?;
    let lg_dirty_mult: isize = rd(c"opt.lg_dirty_mult");
    if lg_dirty_mult >= 0 {
        writeln!(out, "Min active:dirty page ratio per arena: {}:1", 1u64 << lg_dirty_mult)?;
    } else {
        writeln!(out, "Min active:dirty page ratio per arena: N/A")?;
    }
    if let Ok(max) = typed::read::<usize>(c"arenas.tcache_max") {
        writeln!(out, "Maximum thread-cached size class: {max}")?;
    }
    if let Ok(sweep) = typed::read::<isize>(c"opt.lg_tcache_gc_sweep") {
        let enabled: bool = rd(c"opt.tcache");
        if enabled && sweep >= 0 {
            writeln!(out, "Thread cache GC sweep interval: {}", 1u64 << sweep)?;
        } else {
            writeln!(out, "Thread cache GC sweep interval: N/A")?;
        }
    }
    writeln!(out, "Chunk size: {} (2^{})", rd::<usize>(c"arenas.chunksize"), rd::<usize>(c"opt.lg_chunk"))
}

fn totals(out: &mut Out) -> fmt::Result {
    let cactive: *const usize = rd(c"stats.cactive");
    let ceiling = if cactive.is_null() {
        0
    } else {
        // SAFETY: stats.cactive points at the live atomic counter, read atomically.
        unsafe { (*cactive.cast::<core::sync::atomic::AtomicUsize>()).load(core::sync::atomic::Ordering::Relaxed) }
    };
    writeln!(
        out,
        "Allocated: {}, active: {}, mapped: {}",
        rd::<usize>(c"stats.allocated"),
        rd::<usize>(c"stats.active"),
        rd::<usize>(c"stats.mapped")
    )?;
    writeln!(out, "Current active ceiling: {ceiling}")?;
    let (total, high, current) =
        (rd::<u64>(c"stats.chunks.total"), rd::<usize>(c"stats.chunks.high"), rd::<usize>(c"stats.chunks.current"));
    // As jemalloc 2.2.1, a swap_avail column where swap.avail exists; in bytes, which 2.2.1
    // shifted by lg_chunk once more.
    if let Ok(swap_avail) = typed::read::<usize>(c"swap.avail") {
        writeln!(out, "chunks: nchunks   highchunks    curchunks   swap_avail")?;
        writeln!(out, "  {total:>13}{high:>13}{current:>13}{swap_avail:>13}")?;
    } else {
        writeln!(out, "chunks: nchunks   highchunks    curchunks")?;
        writeln!(out, "  {total:>13}{high:>13}{current:>13}")?;
    }
    writeln!(out, "huge: nmalloc      ndalloc    allocated")?;
    writeln!(
        out,
        " {:>12} {:>12} {:>12}",
        rd::<u64>(c"stats.huge.nmalloc"),
        rd::<u64>(c"stats.huge.ndalloc"),
        rd::<usize>(c"stats.huge.allocated")
    )
}

fn arena_bins(out: &mut Out, i: usize) -> fmt::Result {
    let tcache: bool = rd(c"config.tcache");
    if tcache {
        writeln!(
            out,
            "bins:     bin    size regs pgs    allocated      nmalloc      ndalloc    nrequests       nfills     \
             nflushes      newruns       reruns      maxruns      curruns"
        )?;
    } else {
        writeln!(
            out,
            "bins:     bin    size regs pgs    allocated      nmalloc      ndalloc      newruns       reruns      \
             maxruns      curruns"
        )?;
    }
    let nbins = rd::<u32>(c"arenas.nbins") as usize;
    let (ntbins, nqbins, ncbins) = (
        rd::<u32>(c"arenas.ntbins") as usize,
        rd::<u32>(c"arenas.nqbins") as usize,
        rd::<u32>(c"arenas.ncbins") as usize,
    );
    let m = |name: &CStr| mib(name);
    let (size, nregs, run_size) = (m(c"arenas.bin.0.size"), m(c"arenas.bin.0.nregs"), m(c"arenas.bin.0.run_size"));
    let allocated = m(c"stats.arenas.0.bins.0.allocated");
    let nmalloc = m(c"stats.arenas.0.bins.0.nmalloc");
    let ndalloc = m(c"stats.arenas.0.bins.0.ndalloc");
    let nrequests = m(c"stats.arenas.0.bins.0.nrequests");
    let nfills = m(c"stats.arenas.0.bins.0.nfills");
    let nflushes = m(c"stats.arenas.0.bins.0.nflushes");
    let nruns = m(c"stats.arenas.0.bins.0.nruns");
    let nreruns = m(c"stats.arenas.0.bins.0.nreruns");
    let highruns = m(c"stats.arenas.0.bins.0.highruns");
    let curruns = m(c"stats.arenas.0.bins.0.curruns");
    let page = crate::size_classes::PAGE;
    let mut gap_start = None;
    let gap = |out: &mut Out, start: usize, end: usize| {
        if end > start + 1 {
            writeln!(out, "[{}..{}]", start, end - 1)
        } else {
            writeln!(out, "[{start}]")
        }
    };
    for j in 0..nbins {
        let runs: u64 = rd_ij(&nruns, i, j);
        if runs == 0 {
            gap_start.get_or_insert(j);
            continue;
        }
        if let Some(start) = gap_start.take() {
            gap(out, start, j)?;
        }
        let kind = if j < ntbins {
            "T"
        } else if j < ntbins + nqbins {
            "Q"
        } else if j < ntbins + nqbins + ncbins {
            "C"
        } else {
            "S"
        };
        write!(
            out,
            "{:>13} {:>1} {:>5} {:>4} {:>3} {:>12} {:>12} {:>12}",
            j,
            kind,
            rd_ij::<usize>(&size, j, 0),
            rd_ij::<u32>(&nregs, j, 0),
            rd_ij::<usize>(&run_size, j, 0) / page,
            rd_ij::<usize>(&allocated, i, j),
            rd_ij::<u64>(&nmalloc, i, j),
            rd_ij::<u64>(&ndalloc, i, j),
        )?;
        if tcache {
            write!(
                out,
                " {:>12} {:>12} {:>12}",
                rd_ij::<u64>(&nrequests, i, j),
                rd_ij::<u64>(&nfills, i, j),
                rd_ij::<u64>(&nflushes, i, j)
            )?;
        }
        writeln!(
            out,
            " {:>12} {:>12} {:>12} {:>12}",
            runs,
            rd_ij::<u64>(&nreruns, i, j),
            rd_ij::<usize>(&highruns, i, j),
            rd_ij::<usize>(&curruns, i, j)
        )?;
    }
    if let Some(start) = gap_start {
        gap(out, start, nbins)?;
    }
    Ok(())
}

fn arena_lruns(out: &mut Out, i: usize) -> fmt::Result {
    writeln!(out, "large:   size pages      nmalloc      ndalloc    nrequests      maxruns      curruns")?;
    let nlruns: usize = rd(c"arenas.nlruns");
    let size = mib(c"arenas.lrun.0.size");
    let nmalloc = mib(c"stats.arenas.0.lruns.0.nmalloc");
    let ndalloc = mib(c"stats.arenas.0.lruns.0.ndalloc");
    let nrequests = mib(c"stats.arenas.0.lruns.0.nrequests");
    let highruns = mib(c"stats.arenas.0.lruns.0.highruns");
    let curruns = mib(c"stats.arenas.0.lruns.0.curruns");
    let page = crate::size_classes::PAGE;
    let mut gap_start = None;
    for j in 0..nlruns {
        let requests: u64 = rd_ij(&nrequests, i, j);
        if requests == 0 {
            gap_start.get_or_insert(j);
            continue;
        }
        if let Some(start) = gap_start.take() {
            writeln!(out, "[{}]", j - start)?;
        }
        let run_size: usize = rd_ij(&size, j, 0);
        writeln!(
            out,
            "{:>13} {:>5} {:>12} {:>12} {:>12} {:>12} {:>12}",
            run_size,
            run_size / page,
            rd_ij::<u64>(&nmalloc, i, j),
            rd_ij::<u64>(&ndalloc, i, j),
            requests,
            rd_ij::<usize>(&highruns, i, j),
            rd_ij::<usize>(&curruns, i, j)
        )?;
    }
    if let Some(start) = gap_start {
        writeln!(out, "[{}]", nlruns - start)?;
    }
    Ok(())
}

fn arena(out: &mut Out, i: usize, parts: Parts) -> fmt::Result {
    use typed::stats::arenas as a;
    let page = crate::size_classes::PAGE;
    writeln!(out, "assigned threads: {}", a::nthreads(i).unwrap_or(0))?;
    let (pactive, pdirty) = (a::pactive(i).unwrap_or(0), a::pdirty(i).unwrap_or(0));
    let (npurge, nmadvise) = (a::npurge(i).unwrap_or(0), a::nmadvise(i).unwrap_or(0));
    writeln!(
        out,
        "dirty pages: {}:{} active:dirty, {} sweep{}, {} madvise{}, {} purged",
        pactive,
        pdirty,
        npurge,
        if npurge == 1 { "" } else { "s" },
        nmadvise,
        if nmadvise == 1 { "" } else { "s" },
        a::npurged(i).unwrap_or(0)
    )?;
    writeln!(out, "            allocated      nmalloc      ndalloc    nrequests")?;
    let small = (
        a::small_allocated(i).unwrap_or(0),
        a::small_nmalloc(i).unwrap_or(0),
        a::small_ndalloc(i).unwrap_or(0),
        a::small_nrequests(i).unwrap_or(0),
    );
    let large = (
        a::large_allocated(i).unwrap_or(0),
        a::large_nmalloc(i).unwrap_or(0),
        a::large_ndalloc(i).unwrap_or(0),
        a::large_nrequests(i).unwrap_or(0),
    );
    writeln!(out, "small:   {:>12} {:>12} {:>12} {:>12}", small.0, small.1, small.2, small.3)?;
    writeln!(out, "large:   {:>12} {:>12} {:>12} {:>12}", large.0, large.1, large.2, large.3)?;
    writeln!(
        out,
        "total:   {:>12} {:>12} {:>12} {:>12}",
        small.0 + large.0,
        small.1 + large.1,
        small.2 + large.2,
        small.3 + large.3
    )?;
    writeln!(out, "active:  {:>12}", pactive * page)?;
    writeln!(out, "mapped:  {:>12}", a::mapped(i).unwrap_or(0))?;
    if parts.bins {
        arena_bins(out, i)?;
    }
    if parts.large {
        arena_lruns(out, i)?;
    }
    Ok(())
}

fn arenas(out: &mut Out, parts: Parts) -> fmt::Result {
    let mut flags = [false; crate::arena::MAX_ARENAS];
    let narenas = typed::arenas_initialized(&mut flags).unwrap_or(0).min(flags.len());
    let flags = &flags[..narenas];
    if parts.merged && flags.iter().filter(|&&f| f).count() > 1 {
        writeln!(out, "\nMerged arenas stats:")?;
        arena(out, narenas, parts)?;
    }
    if parts.unmerged {
        for (i, _) in flags.iter().enumerate().filter(|(_, &f)| f) {
            writeln!(out, "\narenas[{i}]:")?;
            arena(out, i, parts)?;
        }
    }
    Ok(())
}

fn report(out: &mut Out, parts: Parts) -> fmt::Result {
    writeln!(out, "___ Begin jemalloc statistics ___")?;
    if parts.general {
        general(out)?;
    }
    if crate::stats::STATS {
        totals(out)?;
        arenas(out, parts)?;
    }
    writeln!(out, "--- End jemalloc statistics ---")
}

/// The manual's `malloc_stats_print()`: writes the report through `write_cb(cbopaque, text)`,
/// or through `malloc_message` when `write_cb` is null. `opts` may be null.
///
/// # Safety
/// `opts` is null or a NUL-terminated string; `write_cb`, when given, may be called with
/// `cbopaque` and NUL-terminated text.
pub unsafe extern "C" fn malloc_stats_print(write_cb: Option<MessageFn>, cbopaque: *mut c_void, opts: *const c_char) {
    let opts = if opts.is_null() {
        &[][..]
    } else {
        // SAFETY: per the contract, a NUL-terminated string.
        unsafe { CStr::from_ptr(opts) }.to_bytes()
    };
    match typed::epoch::advance() {
        Ok(_) => {}
        Err(Error::Again) => {
            crate::say!("Memory allocation failure in mallctl(\"epoch\", ...)");
            return;
        }
        Err(_) => message::fatal("Failure in mallctl(\"epoch\", ...)"),
    }
    let (cb, opaque) = match write_cb {
        Some(cb) => (cb, cbopaque),
        None => (message::hook(), core::ptr::null_mut()),
    };
    let mut out = Out { cb, opaque, buf: MessageBuf::new() };
    let _ = report(&mut out, Parts::from_opts(opts));
    out.flush();
}

extern "C" fn print_at_exit() {
    // SAFETY: no callback, no opts.
    unsafe { malloc_stats_print(None, core::ptr::null_mut(), core::ptr::null()) };
}

/// Arranges for the report to be printed at exit when `opt.stats_print` is set. Called once by
/// start-up, after the allocator is usable (atexit may allocate).
pub fn register_at_exit() {
    if !crate::global::g().opts.stats_print {
        return;
    }
    // SAFETY: print_at_exit is a plain extern "C" function that lives as long as the process.
    if unsafe { libc::atexit(print_at_exit) } != 0 {
        crate::say!("Error in atexit()");
        if crate::global::g().opts.abort {
            // SAFETY: abort has no preconditions.
            unsafe { libc::abort() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Parts;

    #[test]
    fn opts_characters_turn_parts_off() {
        let all = Parts { general: true, merged: true, unmerged: true, bins: true, large: true };
        assert_eq!(Parts::from_opts(b""), all);
        assert_eq!(Parts::from_opts(b"xyz"), all);
        let p = Parts::from_opts(b"gmabl");
        assert!(!p.general && !p.merged && !p.unmerged && !p.bins && !p.large);
        assert_eq!(Parts::from_opts(b"b"), Parts { bins: false, ..all });
    }
}
