//! Terminal tables at 80, 100 and 120 columns: every line fits, no cell is cut, and the
//! default columns are the ones a reader needs first.

use assert_cmd::Command;
use predicates::prelude::*;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bench-five-workloads.json");
const ALLOCATORS: [&str; 7] =
    ["jemalloc-rs", "jemalloc-rs-so", "system", "jemalloc", "mimalloc", "libslow_malloc.so", "tcmalloc"];

fn jemctl() -> Command {
    let mut c = Command::cargo_bin("jemctl").unwrap();
    c.env_remove("COLUMNS");
    c
}

fn report(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = jemctl().arg("report").args(args).arg(FIXTURE).arg("--out-dir").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn width(line: &str) -> usize {
    line.chars().count()
}

/// The table's rows: the lines between the header rule and the summary (or the notes).
fn table_rows(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| !l.starts_with('─'))
        .skip(1)
        .take_while(|l| !l.starts_with("- ") && !l.starts_with("Summary:"))
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_bench_table_fits_80_100_and_120_columns() {
    for w in [80, 100, 120] {
        let text = report(&["--width", &w.to_string()]);
        for line in text.lines() {
            assert!(width(line) <= w, "a line of {} columns at --width {w}:\n{line}\n\n{text}", width(line));
        }
        let rows = table_rows(&text);
        assert_eq!(rows.len(), 30, "{text}");
        for row in &rows {
            // Each row names its allocator whole and its speed as a number with its unit.
            let cells: Vec<&str> = row.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
            assert!(cells.iter().any(|c| ALLOCATORS.contains(c)), "no whole allocator name in '{row}'");
            assert!(
                cells.iter().any(|c| c.contains(" M") || c.contains(" k")),
                "no whole speed in '{row}'"
            );
            assert!(cells.iter().any(|c| c.trim_end_matches('*').ends_with('x')), "no ratio in '{row}'");
        }
        // The summary sets the first allocator against each of the other six, whole names.
        let summary: Vec<&str> = text.lines().filter(|l| l.starts_with("jemalloc-rs / ")).collect();
        assert_eq!(summary.len(), 6, "{text}");
        assert!(summary.iter().any(|l| l.starts_with("jemalloc-rs / mimalloc ")), "{text}");
        let header = text.lines().find(|l| l.starts_with("workload")).unwrap();
        for h in ["threads", "allocator", "ops/s", "vs system"] {
            assert!(header.contains(h), "{h} missing at {w}: {header}");
        }
        if w >= 100 {
            for h in ["p99", "peak RSS", "frag"] {
                assert!(header.contains(h), "{h} missing at {w}: {header}");
            }
            assert!(!text.contains("Left out"));
        } else {
            assert!(text.contains("- Left out to fit 80 columns: frag, p99"), "{text}");
            assert!(header.contains("peak RSS"));
        }
        // One group per workload: its name printed once.
        assert_eq!(text.lines().filter(|l| l.starts_with("larson ")).count(), 1, "{text}");
        // The best speed of each workload is marked.
        assert_eq!(rows.iter().filter(|r| r.contains("%*") || r.contains(" M* ")).count(), 5, "{text}");
    }
}

#[test]
fn columns_and_wide_choose_what_is_shown() {
    let text = report(&["--width", "80", "--columns", "allocator,p50,max"]);
    let header = text.lines().find(|l| l.starts_with("allocator")).unwrap();
    assert_eq!(header.split_whitespace().collect::<Vec<_>>(), ["allocator", "p50", "max"]);
    let wide = report(&["--width", "80", "--wide"]);
    let header = wide.lines().find(|l| l.starts_with("workload")).unwrap();
    for h in ["ops/CPU s", "p50", "p90", "p99.9", "max", "end RSS", "frag"] {
        assert!(header.contains(h), "--wide lacks {h}: {header}");
    }
    jemctl()
        .args(["report", FIXTURE, "--columns", "speed,nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown column 'nope'; the columns are: workload, threads"));
}

#[test]
fn columns_follows_the_environment_when_no_width_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = jemctl().env("COLUMNS", "80").arg("report").arg(FIXTURE).arg("--out-dir").arg(dir.path()).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| width(l) <= 80), "{text}");
    assert!(text.contains("Left out to fit 80 columns"));
}

#[test]
fn sizeclasses_fit_80_100_and_120_columns_breaking_lists_between_sizes() {
    for w in [80, 100, 120] {
        let out = jemctl().args(["--width", &w.to_string(), "sizeclasses"]).assert().success().get_output().stdout.clone();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().all(|l| width(l) <= w), "{text}");
        // Every size of the subpage list is whole, and the list is complete once joined.
        let joined: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            joined.contains("[768, 1024, 1280, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3328, 3584, 3840]"),
            "{text}"
        );
        assert!(joined.contains("[4 KiB, 8 KiB, 12 KiB, ..., 4072 KiB]"), "{text}");
    }
}
