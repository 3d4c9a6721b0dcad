//! The program-side hooks of the header (`c/options.c`): a `malloc_conf` the program defines
//! (the manual's `xmalloc:true` example), `MALLOC_CONF` applied after it, and output through
//! a `malloc_message` the program sets. Built both as a position-independent executable and
//! as a fixed-address one, whose references to the library's variables use copy relocations.

mod common;

use common::{compile_c_with, preload, run, run_c_test, run_c_test_with_conf, Link};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn executables() -> [PathBuf; 2] {
    [
        compile_c_with("options.c", Link::Library, &["-fPIE", "-pie"]),
        compile_c_with("options.c", Link::Library, &["-fno-pie", "-no-pie"]),
    ]
}

#[test]
fn program_malloc_conf_is_applied() {
    for exe in executables() {
        run_c_test(&exe, &["conf", "20"], LIMIT, &["ok conf"]);
    }
}

#[test]
fn malloc_conf_environment_variable_is_read_after_the_programs() {
    for exe in executables() {
        run_c_test_with_conf(&exe, &["conf", "21"], Some("lg_chunk:21"), LIMIT, &["ok conf"]);
    }
}

#[test]
fn malloc_message_set_by_the_program_receives_output() {
    for exe in executables() {
        run_c_test(&exe, &["message"], LIMIT, &["ok message"]);
    }
}

#[test]
fn xmalloc_from_malloc_conf_aborts_on_failure() {
    for exe in executables() {
        let out = run(preload(Command::new(&exe).arg("xmalloc")), LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "expected SIGABRT, got {}; stderr:\n{stderr}", out.status);
        assert!(stderr.contains("<jemalloc>: Error in malloc(): out of memory"), "stderr:\n{stderr}");
    }
}
