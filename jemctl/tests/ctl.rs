//! `jemctl ctl` and `jemctl stats`, run as the real binary.

use assert_cmd::Command;
use predicates::prelude::*;

fn jemctl() -> Command {
    let mut c = Command::cargo_bin("jemctl").expect("the jemctl binary");
    c.env_remove("MALLOC_CONF");
    c
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = jemctl().args(args).output().expect("run jemctl");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

#[test]
fn reads_typed_values_and_pointers() {
    let v =
        json(&["ctl", "--json", "version", "arenas.nbins", "opt.lg_dirty_mult", "stats.cactive", "arenas.initialized"]);
    assert_eq!(v[0]["value"], "2.2.1-0-jemalloc-rs");
    assert_eq!(v[0]["type"], "const char *");
    assert_eq!(v[1]["value"], 28);
    assert_eq!(v[1]["type"], "unsigned");
    assert_eq!(v[2]["value"], 5);
    assert_eq!(v[2]["type"], "ssize_t");
    assert_eq!(v[3]["type"], "size_t *");
    assert!(v[3]["value"]["address"].as_str().unwrap().starts_with("0x"));
    assert!(v[3]["value"]["value"].as_u64().unwrap() > 0, "cactive is 0 in a running process");
    assert_eq!(v[4]["value"][0], true);
    jemctl()
        .args(["ctl", "thread.allocatedp"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"^thread\.allocatedp: 0x[0-9a-f]+ -> [1-9][0-9]*\n$").unwrap());
}

#[test]
fn a_workload_first_makes_statistics_move() {
    // Arena 4 where there are enough arenas (4 per CPU), else the last one.
    let narenas = json(&["ctl", "--json", "arenas.narenas"])[0]["value"].as_u64().unwrap();
    let arena = 4.min(narenas - 1);
    let names: Vec<String> = ["pactive", "small.nmalloc"].iter().map(|n| format!("stats.arenas.{arena}.{n}")).collect();
    let v = json(&["ctl", "--json", "--threads", "16", &names[0], &names[1], "stats.allocated"]);
    assert!(v[1]["value"].as_u64().unwrap() > 1000, "arena {arena} served small requests: {v}");
    assert!(v[2]["value"].as_u64().unwrap() > 0);
    if arena > 0 {
        // Without a workload the arena was never used: its statistics do not exist.
        jemctl().args(["ctl", &names[0]]).assert().failure().stderr(predicate::str::contains("ENOENT"));
    }
}

#[test]
fn writes_and_refuses_with_the_manuals_errors() {
    let v = json(&["ctl", "--json", "thread.arena=2", "thread.arena", "arenas.purge=0", "epoch=1"]);
    assert_eq!(v[0]["value"]["new"], 2);
    assert_eq!(v[1]["value"], 2);
    assert!(v[3]["value"].as_u64().unwrap() >= 2);
    jemctl().args(["ctl", "opt.narenas=3"]).assert().code(1).stderr(predicate::str::contains(
        "EPERM: attempt to read or write void value, or attempt to write read-only value",
    ));
    jemctl().args(["ctl", "thread.arena=1000000"]).assert().code(1).stderr(predicate::str::contains("EFAULT"));
    jemctl()
        .args(["ctl", "no.such.name"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ENOENT: name or mib specifies an unknown/invalid value"));
    jemctl().args(["ctl", "arenas.bin.28.size"]).assert().code(2).stderr(predicate::str::contains("ENOENT"));
    jemctl().args(["ctl", "thread.arena=x"]).assert().code(2).stderr(predicate::str::contains("not a unsigned value"));
}

#[test]
fn lists_the_tree_with_types_and_access() {
    jemctl()
        .args(["ctl", "--list"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^epoch +uint64_t +rw$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^arenas\.purge +unsigned +-w$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^tcache\.flush +void +--$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^stats\.arenas\.<i>\.lruns\.<j>\.curruns +size_t +r-$").unwrap());
    let v = json(&["ctl", "--list", "stats.arenas.3.bins", "--json"]);
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 10);
    assert!(names.iter().all(|n| n.starts_with("stats.arenas.<i>.bins.<j>.")));
    jemctl().args(["ctl", "--list", "nothing"]).assert().code(2);
}

#[test]
fn stats_prints_the_report_honouring_opts() {
    jemctl()
        .args(["stats", "--threads", "2"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("___ Begin jemalloc statistics ___\n"))
        .stdout(predicate::str::ends_with("--- End jemalloc statistics ---\n"))
        .stdout(predicate::str::contains("Run-time option settings:"))
        .stdout(predicate::str::contains("bins:     bin    size regs pgs"))
        .stdout(predicate::str::contains("large:   size pages"));
    jemctl()
        .args(["stats", "--opts", "gbl"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Run-time option settings:").not())
        .stdout(predicate::str::contains("bins:").not())
        .stdout(predicate::str::contains("arenas[0]:"));
    jemctl().args(["stats", "--opts", "z"]).assert().code(2);
}

/// The report counts the requests thread caches served (`nrequests`), not only the regions
/// they took from the arenas (`nmalloc`): a workload reuses its objects, so requests outnumber
/// regions.
#[test]
fn stats_report_counts_cached_requests() {
    let out = jemctl().args(["stats", "--threads", "1", "--opts", "a"]).output().expect("run jemctl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("the report is text");
    let merged = text.split("Merged arenas stats:").nth(1).expect("a merged-arenas section");
    let small = merged.lines().find(|l| l.starts_with("small:")).expect("a small: row");
    let cols: Vec<u64> = small.split_whitespace().skip(1).map(|c| c.parse().expect("a number")).collect();
    let (nmalloc, nrequests) = (cols[1], cols[3]);
    assert!(nmalloc > 0 && nrequests >= nmalloc, "small: nmalloc {nmalloc}, nrequests {nrequests}:\n{small}");
}

#[test]
fn an_unused_arena_is_explained_with_a_command_that_works() {
    let narenas = json(&["ctl", "--json", "arenas.narenas"])[0]["value"].as_u64().unwrap();
    let out = jemctl().args(["ctl", &format!("stats.arenas.{}.pactive", narenas + 3)]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains(&format!("this process has {narenas} arenas")) && err.contains("narenas:N"), "{err}");
    if narenas < 2 {
        return;
    }
    let arena = (narenas - 1).min(4);
    let name = format!("stats.arenas.{arena}.pactive");
    let out = jemctl().args(["ctl", &name]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains(&format!("arena {arena} has not been used in this process")), "{err}");
    assert!(err.contains("-- PROGRAM ARGS"), "{err}");
    // The command the message suggests prints the value.
    let suggested = err.split('`').nth(1).expect("a suggested command");
    let args: Vec<&str> = suggested.split_whitespace().skip(1).collect();
    assert_eq!(args[..2], ["ctl", "--threads"], "{suggested}");
    jemctl().args(&args).assert().success().stdout(predicate::str::is_match(format!("^{name}: [0-9]+\n$")).unwrap());
}
