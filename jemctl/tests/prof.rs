//! `jemctl prof` and `jemctl prof show`, run as a user would, on C programs whose allocations
//! are known (`tests/fixtures/prof_*.c`, compiled here with `cc -g`).
//!
//! Runs under `libjemalloc_rs.so` need its heap profiler (`config.prof`); runs under real
//! jemalloc need Debian's `libjemalloc2`. Each test that lacks what it needs says so and skips.

mod common;

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn jemctl() -> Command {
    let mut c = Command::cargo_bin("jemctl").unwrap();
    // Wide enough for every column, whatever the terminal.
    c.args(["--width", "400"]);
    c
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("jemctl-prof-tests").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// `tests/fixtures/<name>.c` built with debug information; None (with a message) without a C
/// compiler.
fn compile(name: &str, extra: &[&str]) -> Option<PathBuf> {
    // Each call its own directory: tests run in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = scratch(&format!("bin-{name}-{call}")).join(name);
    let status = std::process::Command::new("cc")
        .args(["-g", "-O1", "-fno-omit-frame-pointer"])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(fixture(&format!("{name}.c")))
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("cc failed on {name}.c: {s}"),
        Err(e) => {
            println!("skipped: no C compiler ({e})");
            None
        }
    }
}

/// The line of `fixture` that holds `marker`.
fn line_of(fixture_name: &str, marker: &str) -> usize {
    let text = std::fs::read_to_string(fixture(fixture_name)).unwrap();
    text.lines().position(|l| l.contains(marker)).expect("marker") + 1
}

/// The row of the table under `heading` whose function column is `function`, as its cells.
fn row<'a>(report: &'a str, heading: &str, function: &str) -> Option<Vec<&'a str>> {
    let table = report.split(heading).nth(1)?;
    let table = table.split("\n\n").next()?;
    table
        .lines()
        .map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>())
        .find(|cells| cells.get(3) == Some(&function))
}

/// The share column of a site's row, in percent.
fn share(report: &str, heading: &str, function: &str) -> f64 {
    let cells = row(report, heading, function).unwrap_or_else(|| panic!("no {function} under '{heading}' in:\n{report}"));
    cells[1].trim_end_matches('%').parse().unwrap()
}

fn assert_share(report: &str, heading: &str, function: &str, expected: f64, tolerance: f64) {
    let got = share(report, heading, function);
    assert!((got - expected).abs() <= tolerance, "{function} under '{heading}': {got}%, expected {expected}% in:\n{report}");
}

const INUSE: &str = "by bytes in use";
const ALLOC: &str = "by bytes allocated";

/// The sites' shares and lines, which every run of `prof_sites` must show.
fn assert_sites(report: &str, tolerance: f64) {
    assert_share(report, INUSE, "site_a", 75.0, tolerance);
    assert_share(report, INUSE, "site_b", 25.0, tolerance);
    assert!(row(report, INUSE, "site_c").is_none(), "site_c freed all it allocated:\n{report}");
    assert_share(report, ALLOC, "site_a", 50.0, tolerance);
    assert_share(report, ALLOC, "site_b", 100.0 / 6.0, tolerance);
    assert_share(report, ALLOC, "site_c", 100.0 / 3.0, tolerance);
    for (site, marker) in [("site_a", "SITE_A"), ("site_b", "SITE_B")] {
        let location = row(report, INUSE, site).unwrap()[4].to_string();
        assert!(location.ends_with(&format!("prof_sites.c:{}", line_of("prof_sites.c", marker))), "{site} at {location}");
    }
}

/// Debian's jemalloc 5, or None (with a message).
fn jemalloc5() -> Option<PathBuf> {
    let found = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]
        .iter()
        .map(|d| Path::new(d).join("libjemalloc.so.2"))
        .find(|p| p.is_file());
    if found.is_none() {
        println!("skipped: libjemalloc.so.2 is not installed (apt-get install libjemalloc2)");
    }
    found
}

/// `libjemalloc_rs.so` built by a nested cargo into its own target directory (the outer
/// `cargo test` holds the main one's lock), or None (with a message) when the library has no
/// heap profiler.
fn own_so() -> Option<&'static Path> {
    static SO: OnceLock<Option<&'static Path>> = OnceLock::new();
    *SO.get_or_init(|| {
        let config = jemctl().args(["ctl", "config.prof"]).output().unwrap();
        let config = String::from_utf8_lossy(&config.stdout).into_owned();
        if !config.contains("true") {
            println!("skipped: this build of the allocator has no heap profiler ({})", config.trim());
            return None;
        }
        Some(common::own_so())
    })
}

#[test]
fn prof_runs_a_program_on_jemalloc_rs_and_names_its_sites() {
    let (Some(so), Some(prog)) = (own_so(), compile("prof_sites", &[])) else { return };
    let out = scratch("run-rs");
    let assert = jemctl()
        .env("JEMCTL_SO", so)
        .env_remove("MALLOC_CONF")
        .arg("prof")
        .arg("--out")
        .arg(&out)
        .arg("--")
        .arg(&prog)
        .write_stdin("hello\n")
        .assert()
        .code(7)
        .stdout("echo: hello\n");
    let report = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(report.contains("jemalloc 2 format, every allocation recorded"), "{report}");
    assert_sites(&report, 0.2);
    let names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n.ends_with(".f.heap")), "{names:?}");
    let svg = names.iter().find(|n| n.ends_with(".inuse.svg")).unwrap_or_else(|| panic!("no flame graph in {names:?}"));
    let svg = std::fs::read_to_string(out.join(svg)).unwrap();
    assert!(svg.contains("site_a") && svg.contains("site_b") && svg.contains("main"));
}

/// Sampling one allocation per 4 KiB on average (`--sample 12`): the dump is `heap_v2/4096`
/// and the report's unsampled totals and shares land near the truth.
#[test]
fn prof_sampled_run_on_jemalloc_rs_is_unsampled_to_near_the_truth() {
    let (Some(so), Some(prog)) = (own_so(), compile("prof_sites", &[])) else { return };
    let out = scratch("run-rs-sampled");
    let assert = jemctl()
        .env("JEMCTL_SO", so)
        .env_remove("MALLOC_CONF")
        .args(["prof", "--sample", "12", "--out"])
        .arg(&out)
        .args(["--", prog.to_str().unwrap(), "4096", "10"])
        .assert()
        .code(7);
    let report = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(report.contains("one sample every 4096 bytes on average (heap_v2/4096)"), "{report}");
    let in_use = total(&report, "In use: ");
    let allocated = total(&report, "Allocated since the start: ");
    // About 2,500 and 3,800 samples: one standard deviation is 1.2% and 1%.
    assert!((in_use / (4000.0 * 4096.0) - 1.0).abs() < 0.06, "in use {in_use}:\n{report}");
    assert!((allocated / (6000.0 * 4096.0) - 1.0).abs() < 0.06, "allocated {allocated}:\n{report}");
    assert_share(&report, INUSE, "site_a", 75.0, 4.0);
    assert_share(&report, ALLOC, "site_c", 100.0 / 3.0, 4.0);
}

/// The exact byte count a report's line gives after `label`: "In use: 16.0 MiB (16777216 bytes)".
fn total(report: &str, label: &str) -> f64 {
    let rest = report.split(label).nth(1).unwrap_or_else(|| panic!("no '{label}' in:\n{report}"));
    rest.split('(').nth(1).and_then(|r| r.split(' ').next()).and_then(|b| b.parse().ok()).unwrap_or_else(|| panic!("{rest}"))
}

#[test]
fn prof_runs_a_program_on_jemalloc_5_and_passes_its_streams_and_status_through() {
    let (Some(_), Some(prog)) = (jemalloc5(), compile("prof_sites", &[])) else { return };
    let out = scratch("run-je5");
    let assert = jemctl()
        .env_remove("MALLOC_CONF")
        .args(["prof", "--allocator", "jemalloc", "--out"])
        .arg(&out)
        .arg(&prog)
        .write_stdin("hello\n")
        .assert()
        .code(7)
        .stdout("echo: hello\n");
    let report = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(report.contains("jemalloc 5 format, every allocation recorded (heap_v2/1)"), "{report}");
    // libstdc++, which Debian's jemalloc links, keeps about 80 KiB of its own: 0.3% here.
    assert_sites(&report, 0.5);
    let names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    for suffix in [".f.heap", ".f.inuse.svg", ".f.alloc.svg", ".f.txt"] {
        assert!(names.iter().any(|n| n.ends_with(suffix)), "no {suffix} in {names:?}");
    }
}

#[test]
fn prof_leaks_pins_the_leak_to_the_leaking_function() {
    let prog = compile("prof_leak", &[]);
    let mut runs = Vec::new();
    if let (Some(so), Some(prog)) = (own_so(), &prog) {
        runs.push(("jemalloc-rs", prog.clone(), Some(so.to_path_buf())));
    }
    if let (Some(_), Some(prog)) = (jemalloc5(), &prog) {
        runs.push(("jemalloc", prog.clone(), None));
    }
    for (allocator, prog, so) in runs {
        let out = scratch(&format!("leak-{allocator}"));
        let mut cmd = jemctl();
        if let Some(so) = so {
            cmd.env("JEMCTL_SO", so);
        }
        let assert = cmd
            .env_remove("MALLOC_CONF")
            .args(["prof", "--leaks", "--allocator", allocator, "--out"])
            .arg(&out)
            .arg("--")
            .arg(&prog)
            .assert()
            .success();
        let report = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        // jemctl's own summary starts a line; the library's `<jemalloc>: Leak summary: ...` (2.2.1's
        // report, passed through from the program's stderr) does not.
        let summary = report.split("\nLeak summary: ").nth(1).unwrap_or_else(|| panic!("{allocator}: no leak summary in:\n{report}"));
        // The largest leak comes first, and its innermost frame is the function that leaked.
        let first = summary.lines().nth(2).unwrap_or_default().trim();
        let line = line_of("prof_leak.c", "LEAK");
        assert!(first.starts_with("leaky_function") && first.ends_with(&format!("prof_leak.c:{line}")), "{allocator}: {first}\n{report}");
        assert!(summary.lines().nth(1).unwrap().contains("640.0 KiB"), "{allocator}:\n{report}");
        assert!(!summary.contains("tidy_function"), "{allocator}: tidy_function freed all it allocated:\n{report}");
    }
}

/// A dump in 2.2.1's format, written here: `prof_sites` built position-independent, mapped
/// at an address of the dump's choosing, its file named elsewhere and found with `--binary`.
#[test]
fn prof_show_reads_a_2_2_1_dump_of_a_position_independent_program() {
    let Some(prog) = compile("prof_sites", &["-fPIE", "-pie"]) else { return };
    let nm = match std::process::Command::new("nm").arg(&prog).output() {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap(),
        _ => return println!("skipped: nm (binutils) is not installed"),
    };
    let symbol = |name: &str| -> u64 {
        let line = nm.lines().find(|l| l.ends_with(&format!(" {name}"))).unwrap_or_else(|| panic!("{name} not in nm output"));
        u64::from_str_radix(line.split(' ').next().unwrap(), 16).unwrap()
    };
    // GNU ld places a PIE's text at the same offset in the file as in its address space.
    let base = 0x5555_5555_4000u64;
    let at = |name: &str| format!("{:#x}", base + symbol(name) + 4);
    let dump = format!(
        "heap profile: 400: 26214400 [600: 39321600] @ heapprofile\n\
         300: 19660800 [300: 19660800] @ 0x7f0000001234 {} {}\n\
         100: 6553600 [100: 6553600] @ 0x7f0000001234 {} {}\n\
         0: 0 [200: 13107200] @ 0x7f0000001234 {} {}\n\
         \n\
         MAPPED_LIBRARIES:\n\
         {:x}-{:x} r-xp 00000000 fe:00 42                         /build/gone/prof_sites\n\
         7f0000000000-7f0000100000 r-xp 00000000 fe:00 43                         /build/gone/libjemalloc_rs.so\n",
        at("site_a"),
        at("main"),
        at("site_b"),
        at("main"),
        at("site_c"),
        at("main"),
        base,
        base + 0x10_0000,
    );
    let dir = scratch("show-221");
    let file = dir.join("jeprof.1.0.f.heap");
    std::fs::write(&file, dump).unwrap();
    let flames = dir.join("flames");
    let assert = jemctl().args(["prof", "show"]).arg(&file).arg("--binary").arg(&prog).arg("--out").arg(&flames).assert().success();
    let report = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(report.contains("jemalloc 2 format, every allocation recorded: the counts are exact"), "{report}");
    assert!(report.contains("In use: 25.0 MiB (26214400 bytes) in 400 objects"), "{report}");
    for site in ["site_a", "site_b"] {
        assert!(row(&report, INUSE, site).unwrap()[4].contains("prof_sites.c:"), "{report}");
    }
    assert_share(&report, INUSE, "site_a", 75.0, 0.05);
    assert_share(&report, ALLOC, "site_c", 33.3, 0.05);
    assert!(std::fs::read_to_string(flames.join("jeprof.1.0.f.inuse.svg")).unwrap().contains("site_a"));
    assert!(std::fs::read_to_string(flames.join("jeprof.1.0.f.alloc.svg")).unwrap().contains("site_c"));

    // Without --binary the program's file is not found: the report still comes, with a note.
    let assert = jemctl().args(["prof", "show"]).arg(&file).arg("--out").arg(&flames).assert().success();
    let report = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(report.contains("note: cannot read /build/gone/prof_sites"), "{report}");
    assert!(report.contains("prof_sites@0x"), "{report}");
}

/// A dump written by real jemalloc 5, sampling one allocation per 4 KiB on average: the
/// report unsamples it to within a few percent of the truth.
#[test]
fn prof_show_reads_and_unsamples_a_jemalloc_5_dump() {
    let (Some(je), Some(prog)) = (jemalloc5(), compile("prof_sites", &[])) else { return };
    let dir = scratch("show-je5");
    let status = std::process::Command::new(&prog)
        .args(["4096", "10"])
        .env("LD_PRELOAD", &je)
        .env("MALLOC_CONF", format!("prof:true,prof_final:true,prof_accum:true,lg_prof_sample:12,prof_prefix:{}/je", dir.display()))
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    let dump = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "heap"));
    let Some(dump) = dump else {
        return println!("skipped: this jemalloc wrote no profile (built without --enable-prof)");
    };
    let assert = jemctl().args(["prof", "show"]).arg(&dump).assert().success();
    let report = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(report.contains("one sample every 4096 bytes on average (heap_v2/4096)") && report.contains("unsampled as pprof does"), "{report}");
    let in_use = total(&report, "In use: ");
    let truth = 4000.0 * 4096.0;
    // About 2,500 samples: one standard deviation is 1.2%.
    assert!((in_use / truth - 1.0).abs() < 0.06, "in use {in_use}, truth {truth}:\n{report}");
    assert_share(&report, INUSE, "site_a", 75.0, 4.0);
    assert_share(&report, ALLOC, "site_c", 100.0 / 3.0, 4.0);
}

#[test]
fn malformed_dumps_are_errors_not_panics() {
    let dir = scratch("malformed");
    let cases = [
        ("garbage.heap", "this is not a profile\n", "not a heap profile"),
        ("badline.heap", "heap profile: 1: 2 [3: 4] @ heapprofile\n1: 2 [3: 4] @ 0x10 0xzz\n", "line 2: '0xzz' is not a hexadecimal"),
        ("empty.heap", "", "empty"),
    ];
    for (name, text, message) in cases {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let assert = jemctl().args(["prof", "show"]).arg(&file).assert().code(1);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains(name) && stderr.contains(message) && !stderr.contains("panicked"), "{name}: {stderr}");
    }
    jemctl().args(["prof", "show"]).arg(dir.join("missing.heap")).assert().code(1);
}

#[test]
fn prof_without_a_program_is_a_usage_error() {
    jemctl().arg("prof").assert().code(2);
    jemctl().args(["prof", "--sample", "99", "true"]).assert().code(2);
}
