//! `fork()` while other threads allocate, against `libjemalloc_rs.so` (`c/fork.c`): every
//! child must be able to allocate and exit; a deadlocked child fails the test.

mod common;

use common::{compile_c, run_c_test, Link};
use std::time::Duration;

#[test]
fn children_forked_during_allocation_can_allocate() {
    let exe = compile_c("fork.c", Link::PreloadOnly);
    run_c_test(&exe, &[], Duration::from_secs(300), &["ok fork"]);
}
