//! Threads against `libjemalloc_rs.so`: blocks handed between threads, thousands of
//! short-lived threads, many more threads than cores, and huge objects moving while other
//! threads map chunks (`c/threads.c`); a thread that ran before the library was loaded with
//! dlopen (`c/dlopen_threads.c`).

mod common;

use common::{compile_c, run_c_test, run_c_test_with_conf, Link};
use std::time::Duration;

fn mode(name: &str) {
    let exe = compile_c("threads.c", Link::PreloadOnly);
    let out = run_c_test(&exe, &[name], Duration::from_secs(180), &[&format!("ok {name}")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().filter(|l| !l.starts_with("ok ")) {
        println!("{line}");
    }
}

#[test]
fn blocks_freed_by_other_threads_keep_their_contents() {
    mode("queue");
}

#[test]
fn short_lived_threads_do_not_grow_the_resident_set() {
    mode("churn");
}

#[test]
fn sixteen_threads_on_few_cores() {
    mode("hammer");
}

/// Threads that start together take distinct arenas while unused ones remain.
#[test]
fn threads_starting_together_take_distinct_arenas() {
    mode("spread");
}

/// A huge object that realloc moves gives its old address back to the system; a chunk mapped
/// there by another thread must stay registered. Small chunks make moves frequent.
#[test]
fn huge_objects_moving_while_chunks_come_and_go() {
    let exe = compile_c("threads.c", Link::PreloadOnly);
    let limit = Duration::from_secs(180);
    run_c_test_with_conf(&exe, &["remap", "65536", "20000"], Some("lg_chunk:16"), limit, &["ok remap"]);
    run_c_test(&exe, &["remap", "4194304", "3000"], limit, &["ok remap"]);
}

/// The busiest modes again with 64 KiB chunks, where most objects of a few pages are huge and
/// chunks are mapped and unmapped all the time.
#[test]
fn busy_threads_with_small_chunks() {
    let exe = compile_c("threads.c", Link::PreloadOnly);
    for name in ["queue", "hammer"] {
        run_c_test_with_conf(
            &exe,
            &[name],
            Some("abort:true,lg_chunk:16"),
            Duration::from_secs(180),
            &[&format!("ok {name}")],
        );
    }
}

/// The library loaded with dlopen while another thread already runs (`c/dlopen_threads.c`):
/// that thread's state comes from the TLS image, which holds relocated pointers, and it must
/// allocate and free through the library like the thread that loaded it.
#[test]
fn a_thread_running_before_dlopen_allocates_through_the_library() {
    let exe = compile_c("dlopen_threads.c", Link::PreloadOnly);
    let mut cmd = std::process::Command::new(&exe);
    common::no_preload(&mut cmd).arg(common::so_path());
    // jemalloc-rs's static TLS block in a library loaded after start-up comes out of glibc's
    // surplus, which other libraries may have used up; the tunable widens it.
    cmd.env("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536");
    let out = common::run(&mut cmd, Duration::from_secs(120));
    common::assert_success(&out, "dlopen_threads");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok dlopen"), "{}", String::from_utf8_lossy(&out.stdout));
}
