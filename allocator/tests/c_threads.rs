//! Threads against `libjemalloc_rs.so`: blocks handed between threads, thousands of
//! short-lived threads, and many more threads than cores (`c/threads.c`).

mod common;

use common::{compile_c, run_c_test, Link};
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
