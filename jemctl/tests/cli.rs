//! The jemctl binary, run as a user would.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn jemctl() -> Command {
    Command::cargo_bin("jemctl").unwrap()
}

#[test]
fn sizeclasses_at_the_defaults_is_the_manuals_table_1() {
    let out = jemctl().args(["--width", "200", "sizeclasses"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    let row = |sub: &str, sizes: &str| {
        assert!(
            out.lines().any(|l| l.contains(sub) && l.contains(sizes)),
            "no row '{sub}' with {sizes} in:\n{out}"
        )
    };
    row("tiny", "[8]");
    row("quantum-spaced", "[16, 32, 48, 64, 80, 96, 112, 128]");
    row("cacheline-spaced", "[192, 256, 320, 384, 448, 512]");
    row("subpage-spaced", "[768, 1024, 1280, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3328, 3584, 3840]");
    row("large", "[4 KiB, 8 KiB, 12 KiB, ..., 4072 KiB]");
    row("huge", "[4 MiB, 8 MiB, 12 MiB, ...]");
}

#[test]
fn sizeclasses_json_has_every_bin() {
    let out = jemctl().args(["sizeclasses", "--json"]).assert().success().get_output().stdout.clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let bins = v["bins"].as_array().unwrap();
    assert_eq!(bins.len(), 1 + 8 + 6 + 13);
    assert_eq!(bins[0]["size"], 8);
    assert_eq!(bins[27]["size"], 3840);
    assert!(bins.iter().all(|b| b["regions_per_run"].as_u64().unwrap() > 0));
    assert_eq!(v["large"]["max"], 4072 * 1024);
}

#[test]
fn sizeclasses_follows_its_options() {
    jemctl()
        .args(["--width", "200", "sizeclasses", "--lg-qspace-max", "8", "--lg-cspace-max", "10", "--lg-chunk", "20"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[16, 32, 48").and(predicate::str::contains("240, 256]")))
        .stdout(predicate::str::contains("[1 MiB, 2 MiB, 3 MiB, ...]"));
}

#[test]
fn invalid_size_class_options_are_usage_errors() {
    jemctl()
        .args(["sizeclasses", "--lg-qspace-max", "12"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("lg_qspace_max must be between"));
    jemctl().args(["sizeclasses", "--lg-cspace-max", "5"]).assert().code(2);
}

#[test]
fn workloads_lists_every_workload() {
    let assert = jemctl().arg("workloads").assert().success();
    for name in ["larson", "threadtest", "xmalloc", "cache-scratch", "cache-thrash", "shbench", "mstress", "bench-malloc-thread", "rptest", "realloc", "fragmentation", "huge", "small-loop", "small-batch", "medium"] {
        assert!(String::from_utf8_lossy(&assert.get_output().stdout).contains(name), "{name} missing");
    }
}

#[test]
fn bench_json_has_the_documented_fields_and_report_renders_it() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    jemctl()
        .args(["bench", "--quick", "-a", "system", "-a", "jemalloc-rs", "-w", "small-batch", "--threads", "1,2"])
        .args(["--ops", "20000", "--json"])
        .arg(&json)
        .assert()
        .success()
        .stdout(predicate::str::contains("small-batch").and(predicate::str::contains("* marks the best")));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v["machine"]["logical_cpus"].as_u64().unwrap() >= 1);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    for r in runs {
        for field in ["allocator", "workload", "threads", "ops_per_sec", "cpu_seconds", "latency_ns", "peak_rss_bytes", "end_rss_bytes", "peak_live_bytes", "fragmentation"] {
            assert!(r.get(field).is_some(), "run lacks {field}: {r}");
        }
        assert!(r["ops_per_sec"].as_f64().unwrap() > 0.0);
        assert!(r["ops"].as_u64().unwrap() >= 20_000 * r["threads"].as_u64().unwrap());
        let l = &r["latency_ns"];
        let (p50, p90, p99, p999, max) = (l["p50"].as_u64().unwrap(), l["p90"].as_u64().unwrap(), l["p99"].as_u64().unwrap(), l["p999"].as_u64().unwrap(), l["max"].as_u64().unwrap());
        assert!(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max, "{l}");
        if r["threads"] == 1 {
            assert!(r["peak_live_bytes"].as_u64().unwrap() > 0);
        }
        assert!(r["peak_rss_bytes"].as_u64().unwrap() > 0);
    }
    let system = runs.iter().find(|r| r["allocator"] == "system").unwrap();
    assert_eq!(system["relative_to_system"].as_f64(), Some(1.0));

    let out = dir.path().join("out");
    jemctl().arg("report").arg(&json).arg("--out-dir").arg(&out).assert().success().stdout(predicate::str::contains("jemalloc-rs"));
    let md = std::fs::read_to_string(out.join("run.md")).unwrap();
    assert!(md.contains("| small-batch | 2 | jemalloc-rs |"), "{md}");
    for svg in ["run-overview.svg", "run-latency.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(text.contains("<svg") && text.contains("small-batch"), "{svg}");
    }
}

#[test]
fn a_missing_library_fails_with_a_clear_message() {
    jemctl()
        .args(["bench", "--quick", "-w", "small-loop", "-a", "/no/such/libmalloc.so"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no such file /no/such/libmalloc.so"));
}

#[test]
fn a_library_without_malloc_fails_with_a_clear_message() {
    let Some(libm) = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        return;
    };
    jemctl()
        .args(["bench", "--quick", "-w", "small-loop", "-a", libm])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not export malloc"));
}

#[test]
fn an_unknown_workload_is_a_usage_error() {
    jemctl()
        .args(["bench", "--quick", "-w", "no-such-workload"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown workload 'no-such-workload'"));
}

#[test]
fn bad_thread_lists_are_usage_errors() {
    jemctl().args(["bench", "--threads", "0,x"]).assert().code(2);
}

#[test]
fn an_allocator_that_fails_is_reported_and_the_others_still_measured() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("null.c");
    std::fs::write(
        &src,
        "#include <stddef.h>\nvoid *malloc(size_t n){return NULL;}\nvoid free(void *p){}\n\
         void *realloc(void *p, size_t n){return NULL;}\nvoid *calloc(size_t a, size_t b){return NULL;}\n\
         int posix_memalign(void **p, size_t a, size_t n){return 12;}\n",
    )
    .unwrap();
    let lib = dir.path().join("libnull.so");
    let built = std::process::Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).status();
    if !built.is_ok_and(|s| s.success()) {
        return;
    }
    jemctl()
        .args(["bench", "--quick", "-w", "small-loop", "--threads", "1", "-a", "system", "-a"])
        .arg(&lib)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAILED: libnull.so on small-loop").and(predicate::str::contains("returned null")))
        .stdout(predicate::str::is_match(r"(?m)^small-loop +1 +system ").unwrap());
}

#[test]
fn every_workload_runs_on_jemalloc_rs() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("all.json");
    jemctl()
        .args(["bench", "-a", "jemalloc-rs", "--threads", "2", "--duration", "0.05", "--json"])
        .arg(&json)
        .assert()
        .success();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = v["runs"].as_array().unwrap().iter().map(|r| r["workload"].as_str().unwrap()).collect();
    let catalogue: Vec<&str> = workloads::all().iter().map(|w| w.name).collect();
    assert_eq!(names, catalogue, "one run per workload, in the catalogue's order");
    assert!(names.contains(&"huge") && names.contains(&"fragmentation"));
}

/// The prefixed build of the library (feature `je_prefix`, README "The prefixed build"), in its
/// own target directory; built once per run of this test binary.
fn prefixed_library() -> std::path::PathBuf {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("prefixed-so");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(workspace)
        .args(["build", "--release", "-p", "jemalloc_rs_cdylib", "--features", "je_prefix", "--target-dir"])
        .arg(&target)
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert!(out.status.success(), "building the prefixed library failed:\n{}", String::from_utf8_lossy(&out.stderr));
    target.join("release").join("libjemalloc_rs.so")
}

#[test]
fn the_prefixed_library_is_measured_through_its_prefix() {
    let lib = prefixed_library();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("je.json");
    jemctl()
        .args(["bench", "--quick", "-w", "small-loop", "--threads", "1", "--repeat", "1", "-a"])
        .arg(format!("{}:je_", lib.display()))
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let run = &v["runs"][0];
    assert!(run["allocator"].as_str().unwrap().ends_with(":je_"), "{run}");
    assert!(run["ops_per_sec"].as_f64().unwrap() > 0.0, "{run}");
    // Without the prefix there is no malloc to measure.
    jemctl()
        .args(["bench", "--quick", "-w", "small-loop", "-a"])
        .arg(&lib)
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not export malloc"));
}

/// A reader that closes the pipe early ends jemctl quietly by SIGPIPE, as it would `cat`,
/// instead of a panic about a failed print. The pipe's read end is closed before jemctl
/// starts, so that its first write meets it closed (closed after the start, the pipe could
/// take the whole listing first).
#[test]
fn a_closed_pipe_ends_jemctl_quietly() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are new and ours; each is closed or owned once.
    let write_end = unsafe {
        libc::close(fds[0]);
        OwnedFd::from_raw_fd(fds[1])
    };
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("jemctl"))
        .arg("workloads")
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?} {stderr}", out.status);
}
