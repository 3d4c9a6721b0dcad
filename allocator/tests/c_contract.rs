//! The allocation API's contract, checked by a C program (`c/contract.c`) running with
//! `libjemalloc_rs.so` preloaded: one test per section of the program.

mod common;

use common::{compile_c, run_c_test, Link};
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
