//! `jemctl record`, `trace` and `replay` on a C program with a known sequence of calls
//! (`tests/fixtures/known_calls.c`): what is recorded, what the analysis says, that the replay
//! makes the same calls with the same peak of live bytes on every allocator, threads, fork,
//! a killed program, exit statuses, and traces cut short or corrupted.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("jemctl-record-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `libjemctl_recorder.so`, built by a nested cargo into its own target directory (the outer
/// `cargo test` holds the main one's lock).
fn recorder() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("preload-recorder");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let out = std::process::Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args(["build", "--release", "-p", "jemctl_recorder", "--target-dir"])
            .arg(&target)
            .output()
            .expect("cannot run cargo");
        assert!(out.status.success(), "building the recorder failed:\n{}", String::from_utf8_lossy(&out.stderr));
        target.join("release").join("libjemctl_recorder.so")
    })
}

fn program() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let out = scratch("fixture").join("known_calls");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/known_calls.c");
        let status = std::process::Command::new("cc")
            .args(["-O1", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&out)
            .arg(&source)
            .arg("-lpthread")
            .status()
            .expect("cannot run cc");
        assert!(status.success(), "compiling {} failed", source.display());
        out
    })
}

fn jemctl() -> Command {
    let mut c = Command::cargo_bin("jemctl").unwrap();
    c.env("JEMCTL_RECORDER", recorder());
    c
}

fn record(dir: &Path, args: &[&str]) -> (PathBuf, std::process::Output) {
    let trace = dir.join("prog.trace");
    let out = jemctl().arg("record").arg("-o").arg(&trace).arg("--").arg(program()).args(args).output().unwrap();
    (trace, out)
}

fn analyse(trace: &Path) -> Value {
    let out = jemctl().arg("trace").arg(trace).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn calls(summary: &Value, kind: &str) -> u64 {
    summary["calls_by_kind"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == kind)
        .map_or(0, |k| k["calls"].as_u64().unwrap())
}

fn replay(trace: &Path, allocators: &[&str]) -> Value {
    let json = trace.with_extension("replay.json");
    let mut cmd = jemctl();
    cmd.arg("replay").arg(trace).arg("--json").arg(&json);
    for a in allocators {
        cmd.args(["-a", a]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("replay:prog"), "{table}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let notes = report["notes"].to_string();
    assert!(notes.contains("identical on every allocator"), "{notes}");
    report
}

#[test]
fn a_known_sequence_is_recorded_and_replayed_exactly() {
    let dir = scratch("sequence");
    let (trace, out) = record(&dir, &["sequence"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sequence done\n", "the program's output passes through");
    let s = analyse(&trace);
    for (kind, n) in [
        ("malloc", 1),
        ("calloc", 1),
        ("realloc", 1),
        ("posix_memalign", 1),
        ("aligned_alloc", 1),
        ("memalign", 1),
        ("valloc", 1),
        ("free", 7),
    ] {
        assert_eq!(calls(&s, kind), n, "{kind}: {s}");
    }
    assert_eq!(s["calls"], 14);
    // 100 + 200, then 1000 instead of 100, then 300 + 256 + 50 + 10.
    assert_eq!(s["peak_live_bytes"], 1816);
    assert_eq!(s["null_frees"], 1);
    assert_eq!(s["live_bytes_at_end"], 0);
    assert_eq!(s["threads"].as_array().unwrap().len(), 1);
    assert!(s["bytes_per_call"].as_f64().unwrap() > 0.0);

    let r = replay(&trace, &["system", "jemalloc-rs"]);
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        assert_eq!(run["workload"], "replay:prog");
        assert_eq!(run["threads"], 1);
        // Every call but free(NULL).
        assert_eq!(run["ops"], 13, "{run}");
        assert_eq!(run["peak_live_bytes"], 1816);
    }
}

#[test]
fn threads_and_cross_thread_frees_replay_in_order() {
    let dir = scratch("threads");
    let (trace, out) = record(&dir, &["threads"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = analyse(&trace);
    assert_eq!(calls(&s, "malloc"), 4000, "{s}");
    // Each worker frees 500 of its own blocks and 500 of the next thread's.
    assert!(s["cross_thread_frees"].as_u64().unwrap() >= 2000, "{s}");
    assert!(s["threads"].as_array().unwrap().len() >= 4);
    let peak = s["peak_live_bytes"].as_u64().unwrap();
    assert!(peak >= 4000 * 48 / 2, "{peak}");
    let r = replay(&trace, &["system", "jemalloc-rs"]);
    for run in r["runs"].as_array().unwrap() {
        assert_eq!(run["peak_live_bytes"].as_u64(), Some(peak));
        assert!(run["threads"].as_u64().unwrap() >= 4);
        assert!(run["ops"].as_u64().unwrap() >= 8000);
    }
}

#[test]
fn a_fork_child_gets_a_trace_of_its_own_and_the_exit_status_passes_through() {
    let dir = scratch("fork");
    let (trace, out) = record(&dir, &["fork"]);
    assert_eq!(out.status.code(), Some(3), "the program's exit status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 child trace"), "{stderr}");
    let parent = analyse(&trace);
    assert_eq!(parent["peak_live_bytes"], 555);
    assert_eq!(parent["forked_child"], false);
    let child = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e.to_string_lossy().chars().all(|c| c.is_ascii_digit())))
        .expect("a child trace prog.trace.<pid>");
    let c = analyse(&child);
    assert_eq!(c["forked_child"], true);
    assert_eq!((calls(&c, "malloc"), calls(&c, "free")), (8, 8), "{c}");
    assert_eq!(c["peak_live_bytes"], 777);
}

#[test]
fn a_killed_program_leaves_a_readable_trace() {
    let dir = scratch("kill");
    let (trace, out) = record(&dir, &["kill"]);
    assert_eq!(out.status.code(), Some(128 + 9));
    assert!(String::from_utf8_lossy(&out.stderr).contains("killed by signal 9"));
    let s = analyse(&trace);
    assert_eq!(calls(&s, "malloc"), 100);
    assert_eq!(s["peak_live_bytes"], 6400);
}

#[test]
fn exit_status_and_output_pass_through() {
    let dir = scratch("exit");
    let (_, out) = record(&dir, &["exit", "7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
}

#[test]
fn truncated_and_corrupted_traces_are_clear_errors() {
    let dir = scratch("broken");
    let (trace, _) = record(&dir, &["threads"]);
    let data = std::fs::read(&trace).unwrap();

    let cut = dir.join("cut.trace");
    std::fs::write(&cut, &data[..4096 + 100]).unwrap();
    for sub in ["trace", "replay"] {
        jemctl()
            .arg(sub)
            .arg(&cut)
            .args(if sub == "replay" { &["-a", "system"][..] } else { &[][..] })
            .assert()
            .code(1)
            .stderr(predicate::str::contains("truncated").and(predicate::str::contains("--allow-truncated")));
    }
    jemctl()
        .arg("trace")
        .arg(&cut)
        .arg("--allow-truncated")
        .assert()
        .success()
        .stdout(predicate::str::contains("TRUNCATED"));

    let mut bad = data.clone();
    bad[4096 + 40] = 0xee;
    let corrupt = dir.join("corrupt.trace");
    std::fs::write(&corrupt, &bad).unwrap();
    jemctl()
        .arg("replay")
        .arg(&corrupt)
        .args(["-a", "system"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("corrupt").and(predicate::str::contains("offset 4096")));

    let not_a_trace = dir.join("text.trace");
    std::fs::write(&not_a_trace, "hello\n").unwrap();
    jemctl().arg("trace").arg(&not_a_trace).assert().code(1).stderr(predicate::str::contains("JEMTRACE"));
}

#[test]
fn record_refuses_to_overwrite_what_is_not_a_trace() {
    let dir = scratch("overwrite");
    let precious = dir.join("notes.txt");
    std::fs::write(&precious, "keep me").unwrap();
    jemctl()
        .arg("record")
        .arg("-o")
        .arg(&precious)
        .arg("--")
        .arg(program())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a trace"));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
}
