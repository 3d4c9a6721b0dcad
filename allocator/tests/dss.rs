//! The dss chunk source (`--features dss`): chunks from sbrk first, mmap when sbrk fails,
//! freed chunks reused and purged, huge objects too; and the same from C through
//! `libjemalloc_rs.so` built with the feature (`c/dss.c`).
//!
//! One test does the in-process checks in order, then the C ones, so that no other test of
//! this binary moves the break in between (this binary's own allocations use the C library's
//! malloc, which also uses sbrk).
#![cfg(feature = "dss")]

mod common;

use common::{compile_c, run_c_test, Link};
use jemalloc_rs::api;
use jemalloc_rs::chunk::dss;
use jemalloc_rs::ctl::typed;
use std::ffi::c_void;
use std::time::Duration;

fn malloc(size: usize) -> *mut u8 {
    // SAFETY: malloc has no preconditions.
    unsafe { api::malloc(size) }.cast()
}

fn calloc(size: usize) -> *mut u8 {
    // SAFETY: calloc has no preconditions.
    unsafe { api::calloc(1, size) }.cast()
}

fn free(p: *mut u8) {
    // SAFETY: callers pass live blocks from malloc or calloc.
    unsafe { api::free(p.cast::<c_void>()) }
}

fn brk() -> usize {
    // SAFETY: sbrk(0) only reads the break.
    unsafe { libc::sbrk(0) as usize }
}

fn in_dss(p: *mut u8, len: usize) -> bool {
    let (base, max) = dss::bounds();
    (p as usize) >= base && (p as usize) + len <= max
}

#[test]
fn chunks_come_from_sbrk_first_and_are_reused_in_process_and_from_c() {
    assert_eq!(typed::config::dss::read(), Ok(true));
    let chunk = typed::arenas::chunksize::read().unwrap();
    let before = brk();

    // Small objects live in an arena chunk from the dss; a huge object too.
    let small = malloc(48);
    assert!(in_dss(small, 48), "{small:?} is not in the dss {:?}", dss::bounds());
    let huge = malloc(3 * chunk);
    assert!(in_dss(huge, 3 * chunk), "{huge:?} is not in the dss {:?}", dss::bounds());
    assert!(huge as usize >= before && (huge as usize) + 3 * chunk <= brk());
    assert_eq!(huge as usize % chunk, 0);
    // SAFETY: huge is a live block of 3 chunks.
    unsafe { std::ptr::write_bytes(huge, 0xa5, 3 * chunk) };

    // Freed, the chunks are reused, purged: calloc reads zeros.
    free(huge);
    let again = calloc(2 * chunk);
    assert!(in_dss(again, 2 * chunk));
    // SAFETY: again is a live block of 2 chunks.
    assert!(unsafe { std::slice::from_raw_parts(again, 2 * chunk) }.iter().all(|&b| b == 0));
    let third = malloc(chunk);
    assert!(in_dss(third, chunk));
    // A huge object grows in place, into the free range after it or by growing the break.
    let room = malloc(5 * chunk);
    free(room);
    let top = malloc(chunk);
    assert_eq!(top, room, "the lowest free dss range is not reused first");
    // SAFETY: top is a live block; realloc keeps or moves it.
    let grown = unsafe { api::realloc(top.cast(), 5 * chunk) }.cast::<u8>();
    assert_eq!(grown, top, "a dss object with free space after it did not grow in place");
    free(grown);
    // A huge object shrinks in place; its tail goes back to the dss.
    // SAFETY: again is a live block; shrinking keeps it.
    let shrunk = unsafe { api::realloc(again.cast(), chunk) }.cast::<u8>();
    assert_eq!(shrunk, again);
    free(third);
    free(shrunk);

    // When sbrk fails (here: a mapping right above the break), mmap serves.
    let page = 4096;
    let wall_at = (brk() + page - 1) & !(page - 1);
    let wall_len = 1 << 30;
    // SAFETY: MAP_FIXED_NOREPLACE maps only where nothing is; PROT_NONE, touched by nobody.
    let wall = unsafe {
        libc::mmap(
            wall_at as *mut c_void,
            wall_len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_eq!(wall as usize, wall_at, "cannot place a mapping above the break");
    let held: Vec<*mut u8> = (0..64).map(|_| malloc(chunk)).collect();
    assert!(held.iter().all(|p| !p.is_null()), "allocation failed when sbrk could not grow");
    assert!(held.iter().any(|&p| !in_dss(p, chunk)), "no chunk from mmap when sbrk failed");
    // SAFETY: the wall is our own mapping, used by nobody.
    unsafe { libc::munmap(wall, wall_len) };
    for p in held {
        free(p);
    }
    let after = malloc(4 * chunk);
    assert!(in_dss(after, 4 * chunk), "sbrk serves again once it can");
    free(after);
    free(small);

    // The library built with the feature, from C.
    let exe = compile_c("dss.c", Link::Library);
    run_c_test(&exe, &[], Duration::from_secs(60), &["ok dss"]);
}
