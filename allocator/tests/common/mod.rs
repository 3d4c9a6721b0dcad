//! Shared by the integration tests that drive `libjemalloc_rs.so` the way its users do: build
//! the library, compile C programs against `include/jemalloc/jemalloc.h`, and run programs
//! with and without `LD_PRELOAD`, each under a time limit so that a hang fails the test
//! instead of stalling the run.
//!
//! The library is built by a nested `cargo build` into its own target directory
//! (`<target>/preload-so`): the outer `cargo test` holds the lock of the main one.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Every function of the manual's SYNOPSIS and its extensions, as the library exports them.
pub const MANUAL_FUNCTIONS: &[&str] = &[
    "malloc",
    "calloc",
    "posix_memalign",
    "aligned_alloc",
    "realloc",
    "free",
    "memalign",
    "valloc",
    "malloc_usable_size",
    "malloc_stats_print",
    "mallctl",
    "mallctlnametomib",
    "mallctlbymib",
    "allocm",
    "rallocm",
    "sallocm",
    "dallocm",
];

/// The manual's two variables, `malloc_message` and `malloc_conf`.
pub const MANUAL_VARIABLES: &[&str] = &["malloc_message", "malloc_conf"];

/// The crate directory, `allocator/`.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The header directory to pass as `-I`.
pub fn include_dir() -> PathBuf {
    crate_dir().join("include")
}

/// A C source under `tests/c/`.
pub fn c_source(name: &str) -> PathBuf {
    crate_dir().join("tests").join("c").join(name)
}

/// Cargo's scratch directory for integration tests (`<target>/tmp`).
fn target_tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// A fresh, empty directory for one test's files, named after the test binary and `name`;
/// the next run of the same test replaces it.
pub fn scratch_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let binary = exe.file_stem().expect("the test binary's name").to_string_lossy().into_owned();
    let dir = target_tmp().join("jemalloc-rs-tests").join(binary).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// `libjemalloc_rs.so`, built once per test binary (with `--features dss` when the tests
/// themselves are built with it).
pub fn so_path() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    // The tests built with the dss variant test the library built with it.
    SO.get_or_init(|| build_so("preload-so", if cfg!(feature = "dss") { &["--features", "dss"] } else { &[] }))
}

/// The prefixed build of `libjemalloc_rs.so` (feature `je_prefix`: `je_malloc`, ...), in its own
/// target directory, built once per test binary.
pub fn prefixed_so_path() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| build_so("prefixed-so", &["--features", "je_prefix"]))
}

/// Builds the C library with `cargo_args` into `<target>/<dir>` and returns its path.
fn build_so(dir: &str, cargo_args: &[&str]) -> PathBuf {
    let target = target_tmp().parent().expect("CARGO_TARGET_TMPDIR has a parent").join(dir);
    let workspace = crate_dir().parent().expect("the crate lives in the workspace");
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace)
        .args(["build", "--release", "-p", "jemalloc_rs_cdylib"])
        .args(cargo_args)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .output()
        .expect("cannot run cargo");
    assert!(
        out.status.success(),
        "building libjemalloc_rs.so {} failed:\n{}",
        cargo_args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let so = target.join("release").join("libjemalloc_rs.so");
    assert!(so.is_file(), "cargo built no {}", so.display());
    so
}

/// How a C program gets the allocator's own symbols (`allocm`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Link {
    /// Standard functions only; the library comes in through `LD_PRELOAD` alone.
    PreloadOnly,
    /// Linked against the library as well, for the functions the C library lacks.
    Library,
}

/// Compiles `tests/c/<source>` with warnings as errors and returns the executable; compiled
/// once per test binary.
pub fn compile_c(source: &str, link: Link) -> PathBuf {
    compile_c_with(source, link, &[])
}

/// As [`compile_c`], with extra compiler flags.
pub fn compile_c_with(source: &str, link: Link, flags: &[&str]) -> PathBuf {
    type Key = (String, Link, Vec<String>);
    static BUILT: OnceLock<Mutex<HashMap<Key, PathBuf>>> = OnceLock::new();
    let key: Key = (source.to_owned(), link, flags.iter().map(|f| f.to_string()).collect());
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(exe) = built.get(&key) {
        return exe.clone();
    }
    let stem = source.trim_end_matches(".c");
    let dir = scratch_dir(&format!("cc-{stem}-{}", built.len()));
    let exe = dir.join(stem);
    let mut cc = Command::new("cc");
    cc.args(["-O2", "-g", "-fno-builtin", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .args(flags)
        .arg("-I")
        .arg(include_dir())
        .arg("-o")
        .arg(&exe)
        .arg(c_source(source));
    if link == Link::Library {
        let so = so_path();
        let mut rpath = std::ffi::OsString::from("-Wl,-rpath,");
        rpath.push(so.parent().unwrap());
        cc.arg(so).arg(rpath);
    }
    cc.arg("-ldl");
    let out = run(&mut cc, Duration::from_secs(120));
    assert_success(&out, &format!("cc {source} {}", flags.join(" ")));
    built.insert(key, exe.clone());
    exe
}

/// Makes `cmd` run with the library preloaded, and with default options whatever the
/// caller's environment says.
pub fn preload(cmd: &mut Command) -> &mut Command {
    cmd.env("LD_PRELOAD", so_path()).env_remove("MALLOC_CONF")
}

/// Makes `cmd` run with the library preloaded and `MALLOC_CONF` set to `conf`.
pub fn preload_with_conf<'a>(cmd: &'a mut Command, conf: &str) -> &'a mut Command {
    preload(cmd).env("MALLOC_CONF", conf)
}

/// Makes `cmd` run on the C library's allocator.
pub fn no_preload(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("LD_PRELOAD").env_remove("MALLOC_CONF")
}

/// Runs `cmd` to completion with its output captured, killing it after `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    run_with_stdin(cmd, None, limit)
}

/// As [`run`], writing `input` to the command's standard input.
pub fn run_with_stdin(cmd: &mut Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let feeder = input.map(|bytes| {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            // A program may exit without reading everything; that shows in its own result.
            let _ = stdin.write_all(&bytes);
        })
    });
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "{cmd:?} did not finish within {} s; stderr so far:\n{}",
                limit.as_secs(),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

/// Fails the test, showing the program's output, unless it exited with status 0.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a compiled C test program under `LD_PRELOAD` and checks that it succeeded and printed
/// each of `expect_lines`.
pub fn run_c_test(exe: &Path, args: &[&str], limit: Duration, expect_lines: &[&str]) -> Output {
    run_c_test_with_conf(exe, args, None, limit, expect_lines)
}

/// As [`run_c_test`], with `MALLOC_CONF` set to `conf` if given.
pub fn run_c_test_with_conf(
    exe: &Path,
    args: &[&str],
    conf: Option<&str>,
    limit: Duration,
    expect_lines: &[&str],
) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    match conf {
        Some(conf) => preload_with_conf(&mut cmd, conf),
        None => preload(&mut cmd),
    };
    let out = run(&mut cmd, limit);
    let mut what = format!("{} {}", exe.file_name().unwrap().to_string_lossy(), args.join(" "));
    if let Some(conf) = conf {
        what = format!("MALLOC_CONF={conf} {what}");
    }
    assert_success(&out, &what);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in expect_lines {
        assert!(stdout.lines().any(|l| l == *line), "{what}: no line {line:?} in its output:\n{stdout}");
    }
    out
}
