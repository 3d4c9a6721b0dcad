//! Swap files (`swap.*`, `opt.overcommit`) through the mallctl interface and the C API of the
//! engine: errors for bad input, chunks served from the files (their addresses fall in the
//! files' mapping and their bytes reach the files), reuse of freed chunks, zeros for calloc,
//! statistics, and `opt.overcommit` both ways.
//!
//! Giving swap files cannot be undone, so each case runs in a child process of its own: the
//! `case_*` functions are ignored tests that the visible tests run by re-executing this binary
//! with `--ignored --exact` and a `MALLOC_CONF` of 1 MiB chunks.
#![cfg(feature = "swap")]

use jemalloc_rs::api;
use jemalloc_rs::chunk::swap as source;
use jemalloc_rs::ctl::typed::{self, swap};
use jemalloc_rs::ctl::Error;
use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::Command;

const LG_CHUNK: u32 = 20;
const CHUNK: usize = 1 << LG_CHUNK;

/// Runs `case` in a fresh process with `conf`, failing with its output if it fails.
fn in_child(case: &str, conf: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([case, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("MALLOC_CONF", conf)
        .env("SWAP_TEST_DIR", scratch(case))
        .output()
        .expect("run the test binary");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{case} under {conf:?} failed:\n{text}");
    assert!(text.contains("1 passed"), "{case} did not run:\n{text}");
}

fn scratch(case: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("swap-tests").join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// A file of `len` bytes (sparse, reading as zero unless `fill` is given) opened read-write.
fn swap_file(name: &str, len: u64, fill: Option<u8>) -> File {
    let dir = PathBuf::from(std::env::var("SWAP_TEST_DIR").expect("run through in_child"));
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(dir.join(name)).unwrap();
    f.set_len(len).unwrap();
    if let Some(b) = fill {
        f.write_all_at(&vec![b; len as usize], 0).unwrap();
    }
    f
}

fn malloc(size: usize) -> *mut u8 {
    // SAFETY: malloc has no preconditions.
    unsafe { api::malloc(size) }.cast()
}

fn calloc(size: usize) -> *mut u8 {
    // SAFETY: calloc has no preconditions.
    unsafe { api::calloc(1, size) }.cast()
}

fn free(p: *mut u8) {
    // SAFETY: every caller passes a live block from malloc or calloc.
    unsafe { api::free(p.cast::<c_void>()) }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn in_region(p: *mut u8, len: usize) -> bool {
    let (base, max) = source::region().expect("swap files in use");
    (p as usize) >= base && (p as usize) + len <= max
}

fn avail() -> usize {
    typed::epoch::advance().unwrap();
    swap::avail::read().unwrap()
}

/// The mapping that holds `p`, as /proc/self/maps names it.
fn mapping_of(p: *mut u8) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let range = line.split_whitespace().next().unwrap();
        let (lo, hi) = range.split_once('-').unwrap();
        let (lo, hi) = (usize::from_str_radix(lo, 16).unwrap(), usize::from_str_radix(hi, 16).unwrap());
        if (lo..hi).contains(&(p as usize)) {
            return line.to_string();
        }
    }
    String::new()
}

/// Proves a small allocation still works and comes back.
fn still_allocates() {
    let p = malloc(100);
    assert!(!p.is_null());
    free(p);
}

#[test]
fn bad_input_is_refused_and_files_then_serve_chunks() {
    in_child("case_errors_then_files", &format!("lg_chunk:{LG_CHUNK}"));
}

#[ignore = "run in a child process by bad_input_is_refused_and_files_then_serve_chunks"]
#[test]
fn case_errors_then_files() {
    still_allocates();
    assert_eq!(swap::nfds::read(), Ok(0));
    assert_eq!(swap::prezeroed::read(), Ok(false));
    // Before the files: prezeroed is writable.
    swap::prezeroed::write(true).unwrap();
    assert_eq!(swap::prezeroed::read(), Ok(true));
    swap::prezeroed::write(false).unwrap();

    // Bad input: each refused with the manual's codes, and allocation goes on. A descriptor
    // just closed (before any other is opened, so that its number stays free):
    let closed = swap_file("closed", 4 * CHUNK as u64, None).as_raw_fd();
    assert_eq!(swap::set_fds(&[closed]), Err(Error::Fault), "a closed descriptor");
    assert_eq!(swap::nfds::read(), Ok(0));
    let empty = swap_file("empty", 0, None);
    let small = swap_file("small", CHUNK as u64 / 2, None);
    let read_only = {
        swap_file("ro", 4 * CHUNK as u64, None);
        File::open(PathBuf::from(std::env::var("SWAP_TEST_DIR").unwrap()).join("ro")).unwrap()
    };
    let (pipe_r, _pipe_w) = std::io::pipe().unwrap();
    for (what, fds, want) in [
        ("no descriptors", vec![], Error::Inval),
        ("a descriptor beyond any limit", vec![1 << 24], Error::Fault),
        ("a zero-length file", vec![empty.as_raw_fd()], Error::Fault),
        ("less than a chunk in all", vec![small.as_raw_fd(), empty.as_raw_fd()], Error::Fault),
        ("a file open read-only", vec![read_only.as_raw_fd()], Error::Fault),
        ("a pipe", vec![pipe_r.as_raw_fd()], Error::Fault),
    ] {
        assert_eq!(swap::set_fds(&fds), Err(want), "{what}");
        assert_eq!(swap::nfds::read(), Ok(0), "{what}");
        assert_eq!(avail(), 0, "{what}");
        still_allocates();
    }
    // A length that is not a whole number of descriptors.
    let three = [0u8; 3];
    let req = jemalloc_rs::ctl::Req {
        oldp: std::ptr::null_mut(),
        oldlenp: std::ptr::null_mut(),
        newp: three.as_ptr().cast(),
        newlen: 3,
    };
    // SAFETY: newp holds newlen readable bytes.
    assert_eq!(unsafe { jemalloc_rs::ctl::by_name(b"swap.fds", &req) }, Err(Error::Inval));

    // Two files: 3 chunks and 100 bytes (truncated to a page multiple, then the whole to a
    // chunk multiple), and 2 chunks: 5 chunks of swap.
    let a = swap_file("a", 3 * CHUNK as u64 + 100, None);
    let b = swap_file("b", 2 * CHUNK as u64, None);
    let fds = [a.as_raw_fd(), b.as_raw_fd()];
    typed::epoch::advance().unwrap();
    let chunks_before = typed::stats::chunks::current::read().unwrap();
    assert_eq!(swap::set_fds(&fds), Ok(()));
    assert_eq!(swap::nfds::read(), Ok(2));
    let mut got = [0i32; 2];
    assert_eq!(swap::fds(&mut got), Ok(()));
    assert_eq!(got, fds);
    let mut one = [0i32; 1];
    assert_eq!(swap::fds(&mut one), Err(Error::Inval), "oldlen must be exactly nfds ints");
    assert_eq!(one[0], fds[0], "a short read copies what fits");
    let mut three = [0i32; 3];
    assert_eq!(swap::fds(&mut three), Err(Error::Inval));
    assert_eq!(avail(), 5 * CHUNK);
    // Read-only from now on.
    assert_eq!(swap::set_fds(&fds), Err(Error::Perm), "a second write");
    assert_eq!(swap::prezeroed::write(true), Err(Error::Perm));
    assert_eq!(swap::prezeroed::read(), Ok(false));
    let (base, max) = source::region().unwrap();
    assert_eq!(max - base, 5 * CHUNK);
    assert_eq!(base % CHUNK, 0);

    // A huge object comes from the files: its address is in their mapping and its bytes reach
    // the file.
    let p = malloc(2 * CHUNK);
    assert!(in_region(p, 2 * CHUNK), "{p:?} outside the swap region");
    assert!(mapping_of(p).contains("/swap-tests/case_errors_then_files/a"), "{}", mapping_of(p));
    // SAFETY: p is a live block of 2 chunks.
    unsafe { std::ptr::write_bytes(p, 0x5a, 2 * CHUNK) };
    let off = (p as usize - base) as u64;
    let mut byte = [0u8; 1];
    a.read_exact_at(&mut byte, off + 12345).unwrap();
    assert_eq!(byte[0], 0x5a, "the object's bytes are the file's");
    assert_eq!(avail(), 3 * CHUNK);
    assert_eq!(typed::stats::chunks::current::read().unwrap(), chunks_before + 2);
    assert_eq!(typed::stats::mapped::read().unwrap(), (chunks_before + 2) * CHUNK);

    // Freed, it goes back to the files, and calloc gets it again, zeroed.
    free(p);
    assert_eq!(avail(), 5 * CHUNK);
    assert_eq!(typed::stats::chunks::current::read().unwrap(), chunks_before);
    let q = calloc(2 * CHUNK);
    assert_eq!(q, p, "the freed chunks are reused");
    // SAFETY: q is a live block of 2 chunks.
    let bytes = unsafe { std::slice::from_raw_parts(q, 2 * CHUNK) };
    assert!(bytes.iter().all(|&b| b == 0), "calloc of a recycled swap chunk is not zero");
    // A huge object grows in place into the free chunks after it, and shrinks in place.
    // SAFETY: q is a live block; realloc keeps or moves it.
    let grown = unsafe { api::realloc(q.cast(), 4 * CHUNK) }.cast::<u8>();
    assert_eq!(grown, q, "growth into free swap chunks moved the object");
    // SAFETY: grown is a live block of 4 chunks.
    assert!(unsafe { std::slice::from_raw_parts(grown, 4 * CHUNK) }.iter().all(|&b| b == 0));
    assert_eq!(avail(), CHUNK);
    // SAFETY: as above.
    let shrunk = unsafe { api::realloc(grown.cast(), CHUNK) }.cast::<u8>();
    assert_eq!(shrunk, q);
    assert_eq!(avail(), 4 * CHUNK);
    free(shrunk);

    // Arena chunks come from the files too: large objects fill new chunks.
    let larges: Vec<*mut u8> = (0..8).map(|_| malloc(CHUNK / 4)).collect();
    assert!(larges.iter().any(|&l| in_region(l, CHUNK / 4)), "no large object in the swap region");
    for &l in &larges {
        // SAFETY: each is a live block of a quarter chunk.
        unsafe { std::ptr::write_bytes(l, 0xc3, CHUNK / 4) };
    }
    // Every other one freed, so that no chunk empties (an empty chunk goes back whole), then
    // purged: the freed pages of arena chunks in the files must read as zero again.
    let (kept, freed): (Vec<_>, Vec<_>) = larges.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let freed_in_region = freed.iter().filter(|(_, &l)| in_region(l, CHUNK / 4)).count();
    assert!(freed_in_region > 0, "no freed large object in the swap region");
    for (_, &l) in &freed {
        free(l);
    }
    typed::arenas::purge(None).unwrap();
    let zs: Vec<*mut u8> = (0..freed.len()).map(|_| calloc(CHUNK / 4)).collect();
    assert!(zs.iter().filter(|&&z| in_region(z, CHUNK / 4)).count() >= freed_in_region);
    for &z in &zs {
        // SAFETY: each is a live block of a quarter chunk.
        let bytes = unsafe { std::slice::from_raw_parts(z, CHUNK / 4) };
        assert!(bytes.iter().all(|&b| b == 0), "calloc of purged swap pages is not zero");
    }
    for z in zs.into_iter().chain(kept.into_iter().map(|(_, &l)| l)) {
        free(z);
    }

    // opt.overcommit is true: once the files are full, anonymous memory serves.
    let fill: Vec<*mut u8> = (0..8).map(|_| malloc(CHUNK)).collect();
    assert!(fill.iter().all(|f| !f.is_null()));
    assert!(fill.iter().any(|&f| in_region(f, CHUNK)));
    assert!(fill.iter().any(|&f| !in_region(f, CHUNK)), "more chunks than the files hold, all in the files");
    assert_eq!(avail(), 0);
    for f in fill {
        free(f);
    }
    still_allocates();
}

#[test]
fn without_overcommit_allocation_stops_when_the_files_are_full() {
    in_child("case_no_overcommit", &format!("lg_chunk:{LG_CHUNK},overcommit:false"));
}

#[ignore = "run in a child process by without_overcommit_allocation_stops_when_the_files_are_full"]
#[test]
fn case_no_overcommit() {
    assert_eq!(typed::opt::overcommit::read(), Ok(false));
    // Until files are given, anonymous memory serves as usual (and the arena gets its first
    // chunk, for the small objects below).
    still_allocates();
    let before = malloc(3 * CHUNK);
    assert!(!before.is_null());
    free(before);
    let f = swap_file("only", 4 * CHUNK as u64, None);
    swap::set_fds(&[f.as_raw_fd()]).unwrap();
    let mut held = Vec::new();
    loop {
        let p = malloc(CHUNK);
        if p.is_null() {
            assert_eq!(errno(), libc::ENOMEM);
            break;
        }
        assert!(in_region(p, CHUNK), "{p:?} is not from the files");
        held.push(p);
        assert!(held.len() <= 4, "more chunks than the files hold");
    }
    assert!(!held.is_empty());
    assert_eq!(avail(), 0);
    // Small objects in the chunk the arena already has still work.
    still_allocates();
    // A freed chunk serves the next request, zeroed.
    let last = held.pop().unwrap();
    // SAFETY: last is a live block of one chunk.
    unsafe { std::ptr::write_bytes(last, 0x77, CHUNK) };
    free(last);
    let again = calloc(CHUNK);
    assert_eq!(again, last);
    // SAFETY: again is a live block of one chunk.
    assert!(unsafe { std::slice::from_raw_parts(again, CHUNK) }.iter().all(|&b| b == 0));
    assert!(malloc(CHUNK).is_null(), "the files are full again");
    free(again);
    for p in held {
        free(p);
    }
}

#[test]
fn calloc_reads_zeros_whatever_prezeroed_says() {
    in_child("case_prezeroed", &format!("lg_chunk:{LG_CHUNK}"));
    in_child("case_not_prezeroed", &format!("lg_chunk:{LG_CHUNK}"));
}

#[ignore = "run in a child process by calloc_reads_zeros_whatever_prezeroed_says"]
#[test]
fn case_prezeroed() {
    // Files that are all zeros, said so; a recycled chunk must still be zeroed, unlike 2.2.1.
    swap::prezeroed::write(true).unwrap();
    let f = swap_file("zeros", 2 * CHUNK as u64, None);
    swap::set_fds(&[f.as_raw_fd()]).unwrap();
    assert_eq!(swap::prezeroed::read(), Ok(true));
    let p = calloc(2 * CHUNK);
    assert!(in_region(p, 2 * CHUNK));
    // SAFETY: p is a live block of 2 chunks.
    let bytes = unsafe { std::slice::from_raw_parts_mut(p, 2 * CHUNK) };
    assert!(bytes.iter().all(|&b| b == 0));
    bytes.fill(0xab);
    free(p);
    let q = calloc(2 * CHUNK);
    assert_eq!(q, p);
    // SAFETY: q is a live block of 2 chunks.
    assert!(unsafe { std::slice::from_raw_parts(q, 2 * CHUNK) }.iter().all(|&b| b == 0));
    free(q);
}

#[ignore = "run in a child process by calloc_reads_zeros_whatever_prezeroed_says"]
#[test]
fn case_not_prezeroed() {
    // Files full of non-zero bytes, not said to be zero: chunks read as zero on first use.
    let f = swap_file("dirty", 2 * CHUNK as u64, Some(0xee));
    swap::set_fds(&[f.as_raw_fd()]).unwrap();
    let p = calloc(2 * CHUNK);
    assert!(in_region(p, 2 * CHUNK));
    // SAFETY: p is a live block of 2 chunks.
    assert!(unsafe { std::slice::from_raw_parts(p, 2 * CHUNK) }.iter().all(|&b| b == 0));
    free(p);
}
