//! The allocation API's contract, checked by a C program (`c/contract.c`) running with
//! `libjemalloc_rs.so` preloaded: one test per section of the program with the default
//! options, then the whole program under other options.

mod common;

use common::{compile_c, run_c_test, run_c_test_with_conf, Link};
use std::time::Duration;

fn section(name: &str) {
    let exe = compile_c("contract.c", Link::Library);
    run_c_test(&exe, &[name], Duration::from_secs(120), &[&format!("ok {name}")]);
}

#[test]
fn sizes_alignment_usable_size_and_contents() {
    section("sizes");
}

#[test]
fn calloc_zeroes_reused_dirty_memory() {
    section("calloc");
}

#[test]
fn realloc_keeps_contents_across_size_kinds() {
    section("realloc");
}

#[test]
fn failures_return_null_and_set_errno() {
    section("errors");
}

#[test]
fn aligned_entry_points_at_every_alignment() {
    section("aligned");
}

#[test]
fn experimental_allocm_api() {
    section("allocm");
}

/// Every section again under options that change fill, caching, purging and the size kinds.
/// `abort:true` turns a rejected option into a failure instead of a warning.
#[test]
fn contract_holds_under_other_options() {
    let exe = compile_c("contract.c", Link::Library);
    let sections = ["ok sizes", "ok calloc", "ok realloc", "ok errors", "ok aligned", "ok allocm"];
    for conf in [
        "junk:true",
        "zero:true",
        "tcache:false",
        "narenas:1",
        "lg_dirty_mult:-1",
        "lg_dirty_mult:0",
        "lg_chunk:14",
        "lg_chunk:16",
        "lg_chunk:24",
        "lg_qspace_max:4,lg_cspace_max:6",
        "lg_tcache_max:20,lg_tcache_gc_sweep:-1",
    ] {
        let conf = format!("abort:true,{conf}");
        run_c_test_with_conf(&exe, &[], Some(&conf), Duration::from_secs(120), &sections);
    }
}
