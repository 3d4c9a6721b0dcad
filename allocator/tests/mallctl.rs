//! The mallctl namespace, the options and the diagnostics, checked from C against
//! `libjemalloc_rs.so`: builds the library (release, in its own target directory so that this
//! nested cargo does not wait on the outer one), compiles the programs of `tests/c/mallctl_*.c`
//! against `include/jemalloc/jemalloc.h`, and runs them under various `MALLOC_CONF`s.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>` of the running test binary (`<target>/<profile>/deps/mallctl-*`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("target directory").to_path_buf()
}

/// The configure switches of the library without statistics.
const NO_STATS: &str = "fill,tcache,tiny,sysv,xmalloc,swap";

/// Builds the library (with `features`, or the default ones) into `<target>/<dir>`.
fn build_library(dir: &str, features: Option<&str>) -> PathBuf {
    let target = target_dir().join(dir);
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--release", "-p", "jemalloc_rs_cdylib", "--target-dir"]).arg(&target);
    if let Some(f) = features {
        cmd.args(["--no-default-features", "--features", f]);
    }
    let status = cmd.current_dir(manifest_dir()).status().expect("run cargo");
    assert!(status.success(), "building libjemalloc_rs.so ({features:?}) failed");
    target.join("release")
}

/// Builds the library once; returns the directory holding `libjemalloc_rs.so`.
fn library() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_library("ctl-so", None))
}

/// The library without statistics, built once.
fn library_without_stats() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_library("ctl-so-nostats", Some(NO_STATS)))
}

/// Compiles `tests/c/<name>.c` against the library, once; returns the program's path.
fn program(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let p = compile(name, library());
    built.push((name.to_string(), p.clone()));
    p
}

/// Compiles `tests/c/<name>.c` against the library in `lib`.
fn compile(name: &str, lib: &Path) -> PathBuf {
    let out = lib.join(format!("c-{name}"));
    let src = manifest_dir().join("tests/c").join(format!("{name}.c"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(cc)
        .args(["-O1", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wno-unused-but-set-variable"])
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg(&src)
        .arg("-L")
        .arg(lib)
        .arg("-ljemalloc_rs")
        // DT_RPATH, not DT_RUNPATH: the library beside the program wins over LD_LIBRARY_PATH.
        .arg("-Wl,--disable-new-dtags")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run cc");
    assert!(status.success(), "compiling {} failed", src.display());
    out
}

fn run(prog: &Path, conf: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(prog);
    // cargo's LD_LIBRARY_PATH may hold another build's libjemalloc_rs.so.
    cmd.args(args).env_remove("MALLOC_CONF").env_remove("LD_PRELOAD").env_remove("LD_LIBRARY_PATH");
    if let Some(c) = conf {
        cmd.env("MALLOC_CONF", c);
    }
    cmd.output().expect("run test program")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: {:?}\nstdout: {}\nstderr: {}", o.status, text(&o.stdout), text(&o.stderr));
}

/// The run was ended by SIGABRT after saying `message` with the `<jemalloc>: ` prefix.
/// The run was ended by SIGABRT after a `<jemalloc>: ` line saying one of `messages`.
fn assert_aborted_saying(o: &Output, messages: &[&str]) {
    use std::os::unix::process::ExitStatusExt;
    const SIGABRT: i32 = 6;
    let err = text(&o.stderr);
    assert_eq!(o.status.signal(), Some(SIGABRT), "not aborted: {:?}\nstderr: {err}", o.status);
    assert!(
        err.lines().any(|l| l.contains("<jemalloc>: ") && messages.iter().any(|m| l.contains(m))),
        "no <jemalloc>: line saying {messages:?}: {err}"
    );
}

#[test]
fn every_name_matches_jemalloc_2_2_1_for_each_option_set() {
    let prog = program("mallctl_names");
    for (conf, args) in [
        (None, ["22", "7", "9"]),
        (Some("lg_chunk:20"), ["20", "7", "9"]),
        (Some("lg_chunk:24"), ["24", "7", "9"]),
        (Some("lg_qspace_max:8,lg_cspace_max:10"), ["22", "8", "10"]),
    ] {
        let o = run(&prog, conf, &args);
        assert_ok(&o, &format!("mallctl_names under {conf:?}"));
        assert_eq!(text(&o.stdout).trim(), "ok");
    }
}

#[test]
fn the_programs_malloc_conf_is_read_first() {
    let prog = program("mallctl_conf");
    let o = run(&prog, None, &[]);
    assert_ok(&o, "malloc_conf alone");
    assert_eq!(text(&o.stdout).trim(), "narenas:1 lg_dirty_mult:7");
    let o = run(&prog, Some("narenas:3"), &[]);
    assert_ok(&o, "malloc_conf then MALLOC_CONF");
    assert_eq!(text(&o.stdout).trim(), "narenas:3 lg_dirty_mult:7");
}

#[test]
fn garbage_in_malloc_conf_warns_and_is_skipped() {
    let prog = program("mallctl_behaviour");
    let o = run(&prog, Some("narenas:abc,bogus,lg_chunk:99,nokey:1,junk:true,zero:maybe,lg_chunk:21"), &["opts"]);
    assert_ok(&o, "garbage options");
    assert_eq!(text(&o.stdout).trim(), "junk:1 zero:0 lg_chunk:21 narenas:".to_string() + &default_narenas(&prog));
    let err = text(&o.stderr);
    for bad in ["narenas:abc", "bogus", "lg_chunk:99", "nokey:1", "zero:maybe"] {
        assert!(err.lines().any(|l| l.starts_with("<jemalloc>: ") && l.contains(bad)), "no warning for {bad}: {err}");
    }
    // With abort:true the first warning is fatal.
    let o = run(&prog, Some("abort:true,bogus"), &["opts"]);
    assert_aborted_saying(&o, &["bogus"]);
}

fn default_narenas(prog: &Path) -> String {
    let o = run(prog, None, &["opts"]);
    assert_ok(&o, "default options");
    text(&o.stdout).trim().rsplit(':').next().unwrap().to_string()
}

#[test]
fn junk_zero_and_sysv_change_what_allocation_returns() {
    let prog = program("mallctl_behaviour");
    for (conf, mode) in [
        ("junk:true", "junk"),
        ("junk:true,tcache:false", "junk"),
        ("zero:true", "zero"),
        ("zero:true,tcache:false", "zero"),
        ("sysv:true", "sysv"),
        ("sysv:false", "nosysv"),
        ("", "oom"),
    ] {
        let o = run(&prog, Some(conf), &[mode]);
        assert_ok(&o, &format!("{mode} under {conf}"));
        assert_eq!(text(&o.stdout).trim(), "ok");
    }
}

#[test]
fn lg_dirty_mult_governs_purging_and_arenas_purge_empties() {
    let prog = program("mallctl_behaviour");
    let field = |out: &str, key: &str| -> u64 {
        let v = out.split_whitespace().find_map(|kv| kv.strip_prefix(key)).expect(key);
        v.parse().expect("a number")
    };
    // Never purging keeps all 4096 freed pages dirty until arenas.purge.
    let o = run(&prog, Some("lg_dirty_mult:-1"), &["dirty"]);
    assert_ok(&o, "lg_dirty_mult:-1");
    let out = text(&o.stdout);
    assert_eq!(field(&out, "npurge:"), 0, "{out}");
    assert!(field(&out, "pdirty:") >= 4096, "{out}");
    assert_eq!(field(&out, "after:"), 0, "{out}");
    // The default 32:1 purges as the frees go.
    let o = run(&prog, None, &["dirty"]);
    assert_ok(&o, "default lg_dirty_mult");
    let out = text(&o.stdout);
    assert!(field(&out, "npurge:") >= 1, "{out}");
    assert!(field(&out, "pdirty:") < 4096, "{out}");
}

#[test]
fn thp_asks_for_huge_pages_on_huge_objects_when_set() {
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
        eprintln!("skipped: this kernel has no transparent huge pages");
        return;
    }
    let prog = program("mallctl_behaviour");
    let o = run(&prog, None, &["thp"]);
    assert_ok(&o, "default thp");
    assert_eq!(text(&o.stdout).trim(), "thp:0 hg:0");
    let o = run(&prog, Some("thp:true"), &["thp"]);
    assert_ok(&o, "thp:true");
    assert_eq!(text(&o.stdout).trim(), "thp:1 hg:1");
}

#[test]
fn frees_past_the_dirty_limit_purge_and_the_counters_say_so() {
    let prog = program("mallctl_behaviour");
    let field = |out: &str, key: &str| -> u64 {
        let v = out.split_whitespace().find_map(|kv| kv.strip_prefix(key)).expect(key);
        v.parse().expect("a number")
    };
    for conf in [None, Some("lg_dirty_mult:3"), Some("lg_dirty_mult:-1")] {
        let o = run(&prog, conf, &["purge"]);
        assert_ok(&o, &format!("purge under {conf:?}"));
        let out = text(&o.stdout);
        let (pdirty, pactive) = (field(&out, "pdirty:"), field(&out, "pactive:"));
        let (npurge, nmadvise, purged) = (field(&out, "npurge:"), field(&out, "nmadvise:"), field(&out, "purged:"));
        // 128 holes of 16 pages each were freed; none of their chunks emptied.
        if conf == Some("lg_dirty_mult:-1") {
            assert_eq!((pdirty, npurge, nmadvise, purged), (2048, 0, 0, 0), "{out}");
        } else {
            // The manual's limit: active >> lg_dirty_mult, or one chunk of pages if greater.
            let lg_dirty_mult = if conf.is_some() { 3 } else { 5 };
            assert_eq!(field(&out, "lg_dirty_mult:"), lg_dirty_mult, "{out}");
            let limit = (pactive >> lg_dirty_mult).max(1 << (field(&out, "lg_chunk:") - 12));
            assert!(pdirty <= limit, "dirty {pdirty} above the limit {limit}: {out}");
            assert!(npurge >= 1 && nmadvise >= npurge, "{out}");
            assert_eq!(purged + pdirty, 2048, "every freed page is dirty or purged: {out}");
        }
        // arenas.purge: one more sweep, nothing dirty left, each page it purged counted once.
        assert_eq!(field(&out, "after:"), 0, "{out}");
        assert_eq!(field(&out, "npurge2:"), npurge + 1, "{out}");
        assert_eq!(field(&out, "purged2:"), purged + pdirty, "{out}");
        assert!(field(&out, "nmadvise2:") > nmadvise, "{out}");
        // calloc on the purged holes reads zeros, not the 0xa5 written before the frees.
        assert_eq!(field(&out, "nonzero:"), 0, "{out}");
    }
}

#[test]
fn an_arena_whose_last_thread_exits_keeps_half_the_dirty_limit() {
    let prog = program("mallctl_behaviour");
    let o = run(&prog, None, &["idle"]);
    assert_ok(&o, "idle");
    let out = text(&o.stdout);
    let field = |key: &str| -> u64 {
        let v = out.split_whitespace().find_map(|kv| kv.strip_prefix(key)).expect(key);
        v.parse().expect("a number")
    };
    // 128 runs of 16 pages stay allocated; half the manual's limit is half a chunk (512
    // pages of 4 KiB under the default lg_chunk 22), as 2048 >> 5 is less.
    assert_eq!(field("pactive:"), 2048, "{out}");
    assert!(field("pdirty:") <= 512, "{out}");
}

#[test]
fn xmalloc_turns_failure_into_an_abort() {
    let prog = program("mallctl_behaviour");
    let o = run(&prog, Some("xmalloc:true"), &["oom"]);
    assert_aborted_saying(&o, &["out of memory"]);
}

#[test]
fn bad_frees_are_reported_and_abort() {
    let prog = program("mallctl_behaviour");
    // A second free of a run's only region finds the run already gone: "already freed".
    let twice: &[&str] = &["double free", "already freed"];
    for (conf, mode, says) in [
        ("", "badfree", &["invalid pointer"][..]),
        ("tcache:false", "badfree", &["invalid pointer"]),
        ("", "foreignfree", &["invalid pointer"]),
        ("", "doublefree", twice),
        ("tcache:false", "doublefree", twice),
        ("", "doublefree-apart", &["double free"]),
        ("tcache:false", "doublefree-apart", twice),
        ("", "badfree-apart", &["invalid pointer"]),
        ("tcache:false", "badfree-apart", &["invalid pointer"]),
    ] {
        let o = run(&prog, Some(conf), &[mode]);
        assert_aborted_saying(&o, says);
    }
}

#[test]
fn diagnostics_go_through_the_programs_malloc_message() {
    let prog = program("mallctl_behaviour");
    let o = run(&prog, None, &["hook"]);
    assert_aborted_saying(&o, &["invalid pointer"]);
    assert!(text(&o.stderr).contains("HOOK:<jemalloc>: "), "the message bypassed malloc_message: {}", text(&o.stderr));
}

#[test]
fn stats_print_writes_the_report_at_exit() {
    let prog = program("mallctl_behaviour");
    let o = run(&prog, Some("stats_print:true"), &["exit"]);
    assert_ok(&o, "stats_print at exit");
    let err = text(&o.stderr);
    let begin = err.find("___ Begin jemalloc statistics ___").expect("no report begin");
    let end = err.find("--- End jemalloc statistics ---").expect("no report end");
    assert!(begin < end);
    assert!(err.contains("  opt.stats_print: true"), "{err}");
    assert!(err.contains("arenas[0]:"), "{err}");
    let o = run(&prog, None, &["exit"]);
    assert!(!text(&o.stderr).contains("Begin jemalloc statistics"));
}

fn config_lines(lib: &Path) -> String {
    let o = run(&compile("mallctl_config", lib), None, &[]);
    assert_ok(&o, "mallctl_config");
    text(&o.stdout)
}

#[test]
fn config_reports_what_the_build_contains() {
    let with = config_lines(library());
    for line in
        ["config.stats=true", "config.fill=true", "config.tcache=true", "config.prof=true", "config.swap=true"]
    {
        assert!(with.lines().any(|l| l == line), "{line} missing from:\n{with}");
    }
    for name in ["stats.allocated", "stats.arenas.0.small.nmalloc", "thread.allocated", "stats.arenas.0.pactive"] {
        assert!(with.lines().any(|l| l == format!("{name}=present")), "{name} absent:\n{with}");
    }
    let without = config_lines(library_without_stats());
    assert!(without.lines().any(|l| l == "config.stats=false"), "{without}");
    assert!(without.lines().any(|l| l == "config.fill=true"), "{without}");
    // As jemalloc 2.2.1 built without --enable-stats: the counters' names are gone, the page
    // counts of stats.arenas.<i> stay.
    for name in ["stats.allocated", "stats.arenas.0.small.nmalloc", "thread.allocated"] {
        assert!(without.lines().any(|l| l == format!("{name}=ENOENT")), "{name} present:\n{without}");
    }
    assert!(without.lines().any(|l| l == "stats.arenas.0.pactive=present"), "{without}");
}

/// The cost of statistics: malloc/free throughput of the library with and without them, runs
/// interleaved, medians reported. A measurement, not a check; run it with
/// `cargo test --release -p jemalloc_rs --test mallctl -- --ignored --nocapture stats_cost`.
#[test]
#[ignore]
fn stats_cost() {
    const REPS: usize = 15;
    let with = compile("mallctl_stats_cost", library());
    let without = compile("mallctl_stats_cost", library_without_stats());
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    for mode in ["pairs", "batch"] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..REPS {
            for (prog, out) in [(&with, &mut a), (&without, &mut b)] {
                let o = run(prog, None, &[mode]);
                assert_ok(&o, mode);
                out.push(text(&o.stdout).trim().parse::<f64>().expect("a rate"));
            }
        }
        let (s, n) = (median(&mut a), median(&mut b));
        println!("{mode}: {s:.1} M calls/s with stats, {n:.1} without: statistics cost {:.1}%", (n - s) / n * 100.0);
    }
}
