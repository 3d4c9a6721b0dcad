//! Programs written for jemalloc 2.2.1 compile and run unchanged: the programs of `c/compat/`,
//! written in the style of 2.2.1's own tests (`JEMALLOC_MANGLE`, `JEMALLOC_P()`, the
//! configuration macros, "Test begin" / "Test end" on stderr compared with a `.exp` file),
//! are compiled against `include/jemalloc/jemalloc.h` and run linked to `libjemalloc_rs.so`,
//! then compiled with `-DJEMALLOC_PREFIX_JE` and run against the prefixed build (feature
//! `je_prefix`), which a program can use beside the C library's malloc.

mod common;

use common::{
    assert_success, crate_dir, include_dir, no_preload, prefixed_so_path, run, scratch_dir, so_path, MANUAL_FUNCTIONS,
    MANUAL_VARIABLES,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The programs with a `.exp` file: what 2.2.1's test suite runs, rewritten here.
const PROGRAMS: &[&str] = &["allocated", "allocm", "mremap", "posix_memalign", "rallocm", "thread_arena"];

const LIMIT: Duration = Duration::from_secs(120);

fn compat_dir() -> PathBuf {
    crate_dir().join("tests").join("c").join("compat")
}

/// Compiles `c/compat/<name>.c` as a 2.2.1-era program would be (C99, warnings as errors),
/// linked to `so`, with `defines` passed to the compiler.
fn compile(name: &str, so: &Path, defines: &[&str]) -> PathBuf {
    let tag = if defines.is_empty() { "plain" } else { "prefixed" };
    let exe = scratch_dir(&format!("{name}-{tag}")).join(name);
    let mut rpath = std::ffi::OsString::from("-Wl,-rpath,");
    rpath.push(so.parent().unwrap());
    let out = run(
        Command::new("cc")
            .args(["-std=gnu99", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread"])
            .args(defines)
            .arg("-I")
            .arg(include_dir())
            .arg("-I")
            .arg(compat_dir())
            .arg("-o")
            .arg(&exe)
            .arg(compat_dir().join(format!("{name}.c")))
            .arg(so)
            .arg(rpath)
            .arg("-ldl"),
        LIMIT,
    );
    assert_success(&out, &format!("cc {name}.c {}", defines.join(" ")));
    exe
}

/// Runs `exe` on the library it links, with no preloading and no options from the caller's
/// environment.
fn run_linked(exe: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(exe);
    no_preload(&mut cmd).env_remove("JE_MALLOC_CONF");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd, LIMIT)
}

/// Runs each program and compares its stderr with its `.exp` file, as 2.2.1's `make check`.
fn run_programs(so: &Path, defines: &[&str]) {
    for name in PROGRAMS {
        let exe = compile(name, so, defines);
        let out = run_linked(&exe, &[]);
        let what = format!("{name} {}", defines.join(" "));
        assert_success(&out, &what);
        let expected = std::fs::read_to_string(compat_dir().join(format!("{name}.exp"))).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{what}: stderr differs from {name}.exp");
        assert!(out.stdout.is_empty(), "{what} printed on stdout: {}", String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn programs_written_for_2_2_1_run_unchanged() {
    run_programs(so_path(), &[]);
}

#[test]
fn prefixed_build_runs_the_same_programs() {
    run_programs(prefixed_so_path(), &["-DJEMALLOC_PREFIX_JE"]);
}

/// `config_macros.c` compares every configuration macro of `jemalloc_defs.h` with the
/// library's `config.*` answer.
#[test]
fn configuration_macros_tell_the_truth() {
    for (so, defines) in [(so_path(), &[][..]), (prefixed_so_path(), &["-DJEMALLOC_PREFIX_JE"][..])] {
        let exe = compile("config_macros", so, defines);
        let out = run_linked(&exe, &[]);
        assert_success(
            &out,
            &format!(
                "config_macros {} (a Cargo feature of the default build changed: make \
                 include/jemalloc/jemalloc_defs.h say what config.* says)",
                defines.join(" ")
            ),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.lines().any(|l| l == "JEMALLOC_STATS defined agrees"), "{text}");
        assert!(text.lines().any(|l| l == "0 differ"), "{text}");
    }
}

#[test]
fn prefixed_library_exports_only_prefixed_names() {
    let out = run(Command::new("nm").args(["-D", "--defined-only"]).arg(prefixed_so_path()), LIMIT);
    assert_success(&out, "nm -D");
    let text = String::from_utf8(out.stdout).expect("nm prints text");
    let exported: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    for name in MANUAL_FUNCTIONS.iter().chain(MANUAL_VARIABLES) {
        let prefixed = format!("je_{name}");
        assert!(exported.contains(&prefixed.as_str()), "{prefixed} is not exported: {exported:?}");
    }
    for name in &exported {
        let bare = name.strip_prefix("je_");
        assert!(
            bare.is_some_and(|b| MANUAL_FUNCTIONS.contains(&b) || MANUAL_VARIABLES.contains(&b)),
            "the prefixed library exports {name}"
        );
    }
}

/// One process, two allocators: the C library's malloc and the prefixed library's je_malloc,
/// which reads `je_malloc_conf` and `JE_MALLOC_CONF` and ignores `MALLOC_CONF`.
#[test]
fn a_program_uses_the_prefixed_library_beside_the_c_library() {
    let exe = compile("both_allocators", prefixed_so_path(), &["-DJEMALLOC_PREFIX_JE"]);
    let out = run_linked(&exe, &[("MALLOC_CONF", "lg_chunk:24"), ("JE_MALLOC_CONF", "lg_chunk:21")]);
    assert_success(&out, "both_allocators");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Test begin\nTest end\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "opt.lg_chunk 21\n", "JE_MALLOC_CONF was not the options' source");
}
