//! `jemctl ctl NAME -- PROGRAM` and `jemctl stats -- PROGRAM` on real programs (C and python3),
//! through the library's report descriptor: values at exit and while running, the program's
//! output and exit status passed through.

mod common;

use assert_cmd::Command;
use common::own_so;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn jemctl() -> Command {
    let mut c = Command::cargo_bin("jemctl").unwrap();
    c.env_remove("MALLOC_CONF").env("JEMCTL_SO", own_so());
    c
}

/// A C program: allocates N blocks of 100 bytes, with a pause between halves of PAUSE_MS,
/// prints a line, optionally closes the report descriptor, and exits with CODE.
const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
void *volatile sink[100000];
int main(int argc, char **argv) {
    int n = atoi(argv[1]), code = atoi(argv[2]), pause_ms = atoi(argv[3]);
    for (int i = 0; i < n; i++) {
        sink[i % 100000] = malloc(100);
        if (i == n / 2) usleep(pause_ms * 1000);
    }
    printf("allocated %d\n", n);
    fflush(stdout);
    if (argc > 4) close(atoi(argv[4]));
    usleep(pause_ms * 1000);
    return code;
}
"#;

fn build(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("alloc.c");
    std::fs::write(&src, PROGRAM).unwrap();
    let exe = dir.join("alloc");
    let ok = std::process::Command::new("cc").arg("-O1").arg("-o").arg(&exe).arg(&src).status().is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: no C compiler (cc) to build the test program");
        return None;
    }
    Some(exe)
}

fn value(text: &str, prefix: &str) -> Vec<u64> {
    text.lines().filter_map(|l| l.strip_prefix(prefix)).map(|v| v.trim().parse().expect("a number")).collect()
}

#[test]
fn ctl_reads_a_c_programs_names_at_exit_and_passes_its_status_through() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = build(dir.path()) else { return };
    let out = jemctl()
        .args(["ctl", "stats.allocated", "version", "arenas.initialized", "stats.arenas.7.pactive", "--"])
        .arg(&exe)
        .args(["20000", "7", "0"])
        .assert()
        .code(7);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(text.starts_with("allocated 20000\n"), "the program's output first:\n{text}");
    let allocated = value(&text, "stats.allocated: ");
    assert_eq!(allocated.len(), 1, "{text}");
    assert!(allocated[0] >= 20000 * 100, "20000 live blocks of 100 bytes: {text}");
    assert!(text.contains("version: 2.2.1-0-jemalloc-rs\narenas.initialized: [true"), "{text}");
    assert!(text.contains("stats.arenas.7.pactive: error ENOENT"), "{text}");
    assert!(err.contains("stats.arenas.7.pactive does not exist in") && err.contains("arenas.initialized -- PROGRAM"), "{err}");
}

#[test]
fn every_reads_while_the_program_runs() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = build(dir.path()) else { return };
    let out = jemctl().args(["ctl", "--every", "0.1", "stats.allocated", "--"]).arg(&exe).args(["20000", "0", "600"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let during: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| l.rsplit(' ').next().unwrap().parse().expect("a number"))
        .collect();
    assert!(during.len() >= 3, "a report every 0.1 s of 1.2 s:\n{text}");
    assert!(during.windows(2).all(|w| w[0] <= w[1]), "the program only allocates: {during:?}");
    assert!(during.last().unwrap() >= &(20000 * 100), "after the second half: {text}");
    assert!(during[0] < 20000 * 100, "the first report comes during the first pause: {text}");
    assert_eq!(value(&text, "stats.allocated: ").len(), 1, "and one at exit:\n{text}");
}

#[test]
fn a_program_that_closes_the_descriptor_is_not_written_to_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = build(dir.path()) else { return };
    // The report descriptor is the lowest free one from 200.
    jemctl()
        .args(["ctl", "stats.allocated", "--"])
        .arg(&exe)
        .args(["10", "3", "0", "200"])
        .assert()
        .code(3)
        .stdout("allocated 10\n")
        .stderr(predicate::str::contains("made no report at exit"));
}

#[test]
fn stats_prints_a_python_programs_report() {
    if std::process::Command::new("python3").arg("-c").arg("pass").status().is_err() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let out = jemctl()
        .args(["stats", "--opts", "bl", "--", "python3", "-c", "import sys; x = [bytes(1000) for _ in range(5000)]; print('hi'); sys.exit(5)"])
        .assert()
        .code(5);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.starts_with("hi\n___ Begin jemalloc statistics ___\n"), "{text}");
    assert!(text.contains("\narenas[0]:\n") && text.trim_end().ends_with("--- End jemalloc statistics ---"), "{text}");
    assert!(!text.contains("bins:"), "--opts b leaves the bins out:\n{text}");
    let names = jemctl().args(["ctl", "opt.narenas", "--", "python3", "-c", "pass"]).env("MALLOC_CONF", "narenas:3").assert().success();
    assert_eq!(String::from_utf8_lossy(&names.get_output().stdout), "opt.narenas: 3\n", "the user's MALLOC_CONF is kept");
}

#[test]
fn writing_a_programs_names_is_a_usage_error() {
    jemctl().args(["ctl", "thread.arena=1", "--", "true"]).assert().code(2).stderr(predicate::str::contains("can be read, not written"));
    jemctl().args(["stats", "--every", "1"]).assert().code(2);
}
