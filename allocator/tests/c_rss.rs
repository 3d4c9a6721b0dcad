//! Freed memory is given back to the operating system (`c/rss.c`): after allocating,
//! touching and freeing 1 GiB the resident set returns to within 64 MiB of its start (8 MiB
//! for huge objects).

mod common;

use common::{compile_c, run_c_test, Link};
use std::time::Duration;

#[test]
fn freed_gigabyte_leaves_the_resident_set() {
    let exe = compile_c("rss.c", Link::PreloadOnly);
    let out = run_c_test(&exe, &[], Duration::from_secs(180), &["ok 8388608", "ok 1048576", "ok 65536", "ok 2048"]);
    print!("{}", String::from_utf8_lossy(&out.stdout));
}
