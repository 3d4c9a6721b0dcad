use super::tree::{Access, CType};
use super::typed::{self, Mib};
use super::*;

/// Serialises the tests that advance the epoch and expect the snapshot to hold still.
/// Every test here holds the chunk cache tests' lock: reading the tree starts the allocator,
/// and some tests allocate, bind arenas (creating them) or purge, which the cache's tests,
/// run beside them, would see as requests to the cache.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    crate::chunk_cache::tests::SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_raw(name: &str, buf: &mut [u8]) -> (Result<()>, usize) {
    let mut len = buf.len();
    let req = Req { oldp: buf.as_mut_ptr().cast(), oldlenp: &mut len, newp: core::ptr::null(), newlen: 0 };
    // SAFETY: buf has len writable bytes.
    (unsafe { by_name(name.as_bytes(), &req) }, len)
}

#[test]
fn every_leaf_reads_with_its_size_and_refuses_a_write() {
    let _serial = serial();
    let mut names = Vec::new();
    walk(&mut |name, info| names.push((name.to_string(), info)));
    assert!(names.len() > if cfg!(feature = "stats") { 100 } else { 50 });
    for (template, info) in names {
        let name = template.replace("<i>", "0").replace("<j>", "0");
        let array = matches!(info.ty, CType::BoolArray | CType::IntArray);
        if info.access == Access::WriteOnly || info.access == Access::None || array {
            continue;
        }
        let mut buf = [0u8; 16];
        let size = info.ty.size();
        let (r, _) = read_raw(&name, &mut buf[..size]);
        assert_eq!(r, Ok(()), "{name}");
        let (r, _) = read_raw(&name, &mut buf[..size + 1]);
        assert_eq!(r, Err(Error::Inval), "{name} with a long buffer");
        if info.access == Access::ReadOnly {
            let req = Req {
                oldp: core::ptr::null_mut(),
                oldlenp: core::ptr::null_mut(),
                newp: buf.as_ptr().cast(),
                newlen: size,
            };
            // SAFETY: newp has size readable bytes.
            assert_eq!(unsafe { by_name(name.as_bytes(), &req) }, Err(Error::Perm), "{name}");
        }
    }
}

#[test]
fn lookups_reject_what_the_tree_lacks() {
    let _serial = serial();
    let mut buf = [0u8; 8];
    for bad in [
        "",
        ".",
        "version.",
        "opt",
        "opt.abort.x",
        "nope",
        "arenas.bin.x.size",
        "arenas.bin.-1.size",
        "prof.nope",
        #[cfg(not(feature = "swap"))]
        "swap.fds",
        #[cfg(not(feature = "swap"))]
        "opt.overcommit",
    ] {
        assert_eq!(read_raw(bad, &mut buf).0, Err(Error::NoEnt), "{bad:?}");
    }
    let nbins = typed::arenas::nbins::read().unwrap() as usize;
    assert_eq!(typed::arenas::bin::size(nbins - 1).map(|s| s > 0), Ok(true));
    assert_eq!(typed::arenas::bin::size(nbins), Err(Error::NoEnt));
    let nlruns = typed::arenas::nlruns::read().unwrap();
    assert_eq!(typed::arenas::lrun::size(nlruns - 1), Ok(crate::global::g().sc.arena_maxclass));
    assert_eq!(typed::arenas::lrun::size(nlruns), Err(Error::NoEnt));
}

#[test]
fn short_reads_copy_what_fits() {
    let _serial = serial();
    let mut buf = [0xeeu8; 8];
    let (r, _) = read_raw("arenas.chunksize", &mut buf[..3]);
    assert_eq!(r, Err(Error::Inval));
    let chunk = crate::global::g().sc.chunk_size.to_ne_bytes();
    assert_eq!(&buf[..3], &chunk[..3]);
    assert_eq!(buf[3], 0xee);
}

#[test]
fn mibs_match_names_and_partial_mibs_stop_early() {
    let _serial = serial();
    let full = Mib::new(c"arenas.bin.3.run_size").unwrap();
    assert_eq!(full.as_slice().len(), 4);
    assert_eq!(full.as_slice()[2], 3);
    let part = Mib::with_depth(c"arenas.bin.3.run_size", 2).unwrap();
    assert_eq!(part.as_slice(), &full.as_slice()[..2]);
    assert_eq!(part.read::<usize>(), Err(Error::NoEnt));
    #[cfg(feature = "stats")]
    {
        let deep = Mib::new(c"stats.arenas.0.bins.3.nmalloc").unwrap();
        assert_eq!(deep.as_slice().len(), 6);
        assert_eq!((deep.as_slice()[2], deep.as_slice()[4]), (0, 3));
    }
    assert_eq!(Mib::new(c"arenas.bin"), Err(Error::NoEnt));
    let size = Mib::new(c"arenas.bin.0.size").unwrap();
    for i in 0..crate::global::g().sc.nbins {
        assert_eq!(size.index(2, i).read::<usize>(), typed::arenas::bin::size(i));
    }
}

#[test]
#[cfg(feature = "stats")]
fn epoch_refreshes_the_snapshot_and_statistics_move() {
    let _serial = serial();
    use crate::api;
    let before = typed::epoch::advance().unwrap();
    assert_eq!(typed::epoch::read(), Ok(before));
    let narenas = typed::arenas::narenas::read().unwrap() as usize;
    let sum_requests = || typed::stats::arenas::small_nrequests(narenas).unwrap();
    let r0 = sum_requests();
    let allocated0 = typed::thread::allocated::read().unwrap();
    // SAFETY: malloc has no preconditions.
    let ps: Vec<*mut core::ffi::c_void> = (0..100).map(|_| unsafe { api::malloc(24) }).collect();
    assert_eq!(sum_requests(), r0, "statistics move only with the epoch");
    // Requests served by the thread cache reach the bins when it is flushed.
    typed::tcache::flush().unwrap();
    assert_eq!(typed::epoch::advance(), Ok(before + 1));
    assert!(sum_requests() >= r0 + 100);
    assert!(typed::thread::allocated::read().unwrap() >= allocated0 + 100 * 32);
    let p = typed::thread::allocatedp::read().unwrap();
    // SAFETY: the pointer is this thread's live counter.
    assert_eq!(unsafe { *p }, typed::thread::allocated::read().unwrap());
    for p in ps {
        // SAFETY: each came from malloc above.
        unsafe { api::free(p) };
    }
    let cactive = typed::stats::cactive::read().unwrap();
    assert!(!cactive.is_null());
}

#[test]
fn thread_arena_rebinds_and_checks_its_bound() {
    let _serial = serial();
    let narenas = typed::arenas::narenas::read().unwrap();
    let old = typed::thread::arena::read().unwrap();
    let target = narenas - 1;
    assert_eq!(typed::update(c"thread.arena", target), Ok(old));
    assert_eq!(typed::thread::arena::read(), Ok(target));
    assert_eq!(typed::thread::arena::write(narenas), Err(Error::Fault));
    typed::epoch::advance().unwrap();
    let mut flags = [false; 1024];
    assert_eq!(typed::arenas_initialized(&mut flags), Ok(narenas as usize));
    assert!(flags[target as usize]);
    assert!(typed::stats::arenas::nthreads(target as usize).unwrap() >= 1);
}

#[test]
fn purge_and_flush_are_write_only() {
    let _serial = serial();
    assert_eq!(typed::arenas::purge(None), Ok(()));
    assert_eq!(typed::arenas::purge(Some(0)), Ok(()));
    let n = typed::arenas::narenas::read().unwrap();
    assert_eq!(typed::arenas::purge(Some(n)), Err(Error::Fault));
    assert_eq!(typed::read::<u32>(c"arenas.purge"), Err(Error::Perm));
    #[cfg(feature = "tcache")]
    {
        assert_eq!(typed::tcache::flush(), Ok(()));
        assert_eq!(typed::read::<bool>(c"tcache.flush"), Err(Error::Perm));
    }
}

#[test]
fn config_reports_the_build() {
    let _serial = serial();
    assert_eq!(typed::config::stats::read(), Ok(cfg!(feature = "stats")));
    assert_eq!(typed::config::fill::read(), Ok(cfg!(feature = "fill")));
    assert_eq!(typed::config::prof::read(), Ok(cfg!(feature = "prof")));
    assert_eq!(typed::config::swap::read(), Ok(cfg!(feature = "swap")));
    assert_eq!(typed::config::dss::read(), Ok(cfg!(feature = "dss")));
    assert_eq!(typed::version().map(|v| v.starts_with("2.2.1")), Ok(true));
}

#[test]
fn describe_and_walk_agree() {
    let _serial = serial();
    assert_eq!(describe(b"stats.arenas.0.pactive"), Ok(Info { ty: CType::Size, access: Access::ReadOnly }));
    assert_eq!(describe(b"thread.arena"), Ok(Info { ty: CType::Unsigned, access: Access::ReadWrite }));
    assert_eq!(describe(b"arenas.initialized"), Ok(Info { ty: CType::BoolArray, access: Access::ReadOnly }));
    let mut seen = Vec::new();
    walk(&mut |name, _| seen.push(name.to_string()));
    for want in ["version", "epoch", "arenas.bin.<i>.run_size", "stats.arenas.<i>.pdirty", "config.stats"] {
        assert!(seen.iter().any(|n| n == want), "{want} missing from the walk");
    }
    // Names of parts the build leaves out are absent, as in jemalloc 2.2.1.
    for (name, built) in [
        ("stats.arenas.<i>.lruns.<j>.curruns", cfg!(feature = "stats")),
        ("thread.allocatedp", cfg!(feature = "stats")),
        ("opt.junk", cfg!(feature = "fill")),
        ("opt.lg_tcache_max", cfg!(feature = "tcache")),
        ("arenas.tspace_min", cfg!(feature = "tiny")),
        ("swap.fds", cfg!(feature = "swap")),
        ("swap.avail", cfg!(all(feature = "swap", feature = "stats"))),
        ("opt.overcommit", cfg!(feature = "swap")),
    ] {
        assert_eq!(seen.iter().any(|n| n == name), built, "{name}");
    }
}

/// The swap names before any file is given; enabling is left to `tests/swap.rs`, whose every
/// case runs in a process of its own (it cannot be undone).
#[test]
#[cfg(feature = "swap")]
fn swap_names_before_any_file() {
    let _serial = serial();
    use typed::swap;
    assert_eq!(describe(b"swap.fds"), Ok(Info { ty: CType::IntArray, access: Access::ReadWrite }));
    assert_eq!(swap::nfds::read(), Ok(0));
    assert_eq!(swap::fds(&mut []), Ok(()));
    assert_eq!(swap::fds(&mut [0]), Err(Error::Inval));
    assert_eq!(typed::opt::overcommit::read(), Ok(true));
    assert_eq!(swap::set_fds(&[]), Err(Error::Inval));
    // A descriptor this process cannot have open (beyond any rlimit).
    assert_eq!(swap::set_fds(&[i32::MAX]), Err(Error::Fault));
    assert_eq!(swap::set_fds(&[-1, 0]), Err(Error::Fault));
    assert_eq!(typed::write(c"swap.prezeroed", 7u32), Err(Error::Inval));
    assert_eq!(swap::nfds::read(), Ok(0), "failed writes leave no descriptor");
    #[cfg(feature = "stats")]
    assert_eq!(swap::avail::read(), Ok(0));
}
