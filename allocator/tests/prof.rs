//! The heap profiler through `libjemalloc_rs.so` (`c/prof.c`, built at -O2 without frame
//! pointers, not position-independent so that `nm` addresses are the run-time ones): exact
//! counts per allocation site without sampling, unsampled estimates within tolerance at
//! `lg_prof_sample:16`, threads that exit and objects freed by other threads, fork, allocations
//! before `main` and in exiting threads, the leak report, automatic dump names, `prof.active`,
//! and google-pprof reading the dumps (skipped with a message where it is not installed).

mod common;

use common::{compile_c_with, run_c_test_with_conf, scratch_dir, Link};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

fn program() -> PathBuf {
    compile_c_with("prof.c", Link::PreloadOnly, &["-fomit-frame-pointer", "-no-pie"])
}

/// One dump, parsed.
#[derive(Debug)]
struct Dump {
    /// (curobjs, curbytes, accumobjs, accumbytes) of the header.
    total: [i64; 4],
    /// The sampling rate of a `heap_v2/<rate>` header; None for `heapprofile`.
    rate: Option<u64>,
    lines: Vec<([i64; 4], Vec<u64>)>,
    maps: String,
}

fn counts(s: &str) -> [i64; 4] {
    // "<a>: <b> [<c>: <d>]"
    let s = s.trim();
    let (a, rest) = s.split_once(": ").unwrap_or_else(|| panic!("bad counts {s:?}"));
    let (b, rest) = rest.split_once(" [").unwrap_or_else(|| panic!("bad counts {s:?}"));
    let (c, d) = rest.trim_end_matches(']').split_once(": ").unwrap_or_else(|| panic!("bad counts {s:?}"));
    [a, b, c, d].map(|x| x.trim().parse().unwrap_or_else(|_| panic!("bad number {x:?} in {s:?}")))
}

fn parse(path: &Path) -> Dump {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (profile, maps) = text.split_once("\nMAPPED_LIBRARIES:\n").unwrap_or_else(|| panic!("{}: no MAPPED_LIBRARIES", path.display()));
    let mut lines = profile.lines();
    let header = lines.next().expect("a header line");
    let rest = header.strip_prefix("heap profile: ").unwrap_or_else(|| panic!("bad header {header:?}"));
    let (c, kind) = rest.split_once("] @ ").unwrap_or_else(|| panic!("bad header {header:?}"));
    let rate = match kind {
        "heapprofile" => None,
        k => Some(k.strip_prefix("heap_v2/").unwrap_or_else(|| panic!("bad header {header:?}")).parse().expect("a rate")),
    };
    let mut parsed = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let (c, frames) = l.split_once("] @").unwrap_or_else(|| panic!("bad line {l:?}"));
        let frames = frames
            .split_whitespace()
            .map(|f| u64::from_str_radix(f.strip_prefix("0x").unwrap_or_else(|| panic!("bad frame {f:?}")), 16).expect("hex"))
            .collect();
        parsed.push((counts(&format!("{c}]")), frames));
    }
    Dump { total: counts(&format!("{c}]")), rate, lines: parsed, maps: maps.to_owned() }
}

/// The program's functions: (start, size, name), from `nm`.
fn symbols(exe: &Path) -> Vec<(u64, u64, String)> {
    let out = Command::new("nm").args(["-S", "--defined-only"]).arg(exe).output().expect("nm runs");
    assert!(out.status.success(), "nm failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && "tTwW".contains(f[2])).then(|| (u64::from_str_radix(f[0], 16).unwrap(), u64::from_str_radix(f[1], 16).unwrap(), f[3].to_owned()))
        })
        .collect()
}

fn name_of(syms: &[(u64, u64, String)], ip: u64) -> Option<&str> {
    syms.iter().find(|(s, n, _)| *s < ip && ip <= s + n).map(|(_, _, name)| name.as_str())
}

/// Counts summed by the function of each line's first frame (the allocation's caller).
fn by_site(d: &Dump, syms: &[(u64, u64, String)]) -> BTreeMap<String, [i64; 4]> {
    let mut m = BTreeMap::new();
    for (c, frames) in &d.lines {
        let site = frames.first().and_then(|&ip| name_of(syms, ip)).unwrap_or("?").to_owned();
        let e = m.entry(site).or_insert([0; 4]);
        for i in 0..4 {
            e[i] += c[i];
        }
    }
    m
}

fn site(m: &BTreeMap<String, [i64; 4]>, name: &str) -> [i64; 4] {
    *m.get(name).unwrap_or_else(|| panic!("no site {name} in {m:?}"))
}

fn check_totals(d: &Dump, what: &str) {
    let mut sum = [0i64; 4];
    for (c, _) in &d.lines {
        for i in 0..4 {
            sum[i] += c[i];
        }
    }
    assert_eq!(d.total, sum, "{what}: the header's totals are the sum of the lines");
    assert!(d.maps.lines().next().is_some_and(|l| l.contains('-') && l.contains('p')), "{what}: maps follow: {:?}", &d.maps[..d.maps.len().min(200)]);
}

fn run(mode: &str, conf: &str, dir: &Path) -> std::process::Output {
    let exe = program();
    run_c_test_with_conf(&exe, &[mode, dir.to_str().unwrap()], Some(conf), LIMIT, &[&format!("ok {mode}")])
}

#[test]
fn counts_are_exact_per_site_without_sampling() {
    let dir = scratch_dir("sites");
    let prefix = dir.join("p");
    run("sites", &format!("prof:true,prof_prefix:{}", prefix.display()), &dir);
    let syms = symbols(&program());
    let d = parse(&dir.join("sites.heap"));
    assert_eq!(d.rate, None, "every allocation sampled: a heapprofile header");
    check_totals(&d, "sites.heap");
    let m = by_site(&d, &syms);
    assert_eq!(site(&m, "site_small"), [600, 600 * 112, 1020, 1000 * 112 + 20 * 64]);
    assert_eq!(site(&m, "site_large"), [10, 10 * 20480, 50, 50 * 20480]);
    assert_eq!(site(&m, "site_calloc"), [0, 0, 30, 30 * 3072]);
    assert_eq!(site(&m, "site_aligned"), [7, 7 * 512, 7, 7 * 512]);
    assert_eq!(site(&m, "site_huge"), [2, 2 << 23, 3, 3 << 23]);
    assert_eq!(site(&m, "site_realloc"), [20, 20 * 1024, 20, 20 * 1024]);
    assert_eq!(site(&m, "site_ctor"), [5, 5 * 48, 5, 5 * 48], "allocations before main are profiled");
    assert!(!m.contains_key("?") || m["?"][2] < 5, "frames of the allocator itself leak into backtraces: {m:?}");
    assert!(d.maps.contains(program().file_name().unwrap().to_str().unwrap()), "the executable is in the maps");
    // The final dump at exit: <prefix>.<pid>.<seq>.f.heap.
    let finals: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.ends_with(".f.heap")).collect();
    assert_eq!(finals.len(), 1, "{finals:?}");
    let parts: Vec<&str> = finals[0].split('.').collect();
    assert_eq!(parts.len(), 5, "{finals:?}");
    assert_eq!(parts[0], "p");
    assert!(parts[1].parse::<u32>().is_ok() && parts[2] == "0", "pid and seq 0 (a named prof.dump takes no number): {finals:?}");
    check_totals(&parse(&dir.join(&finals[0])), "the final dump");
}

#[test]
fn threads_exiting_threads_and_cross_thread_frees() {
    let dir = scratch_dir("threads");
    run("threads", "prof:true,prof_prefix:", &dir);
    let d = parse(&dir.join("threads.heap"));
    check_totals(&d, "threads.heap");
    let m = by_site(&d, &symbols(&program()));
    assert_eq!(site(&m, "site_thread"), [700, 700 * 256, 1000, 1000 * 256], "freed by another thread after its allocator exited");
    assert_eq!(site(&m, "site_worker"), [408, 400 * 48 + 8 * 8, 40008, 40000 * 48 + 8 * 8]);
    assert_eq!(site(&m, "site_exiting"), [32, 32 * 4096, 32, 32 * 4096], "allocations by exiting threads' key destructors");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "an empty prof_prefix writes no automatic dump: {files:?}");
}

#[test]
fn fork_child_and_parent_each_dump_their_own_heap() {
    let dir = scratch_dir("fork");
    run("fork", "prof:true,prof_prefix:", &dir);
    let syms = symbols(&program());
    let child = by_site(&parse(&dir.join("child.heap")), &syms);
    let parent = by_site(&parse(&dir.join("parent.heap")), &syms);
    assert_eq!(site(&child, "site_parent"), [80, 80 * 512, 100, 100 * 512]);
    assert_eq!(site(&child, "site_child"), [50, 50 * 768, 50, 50 * 768]);
    assert_eq!(site(&parent, "site_parent"), [100, 100 * 512, 100, 100 * 512]);
    assert!(!parent.contains_key("site_child"), "{parent:?}");
}

#[test]
fn without_prof_accum_only_objects_in_use_are_dumped() {
    let dir = scratch_dir("noaccum");
    run("sites", "prof:true,prof_accum:false,prof_prefix:", &dir);
    let d = parse(&dir.join("sites.heap"));
    check_totals(&d, "sites.heap without prof_accum");
    assert!(d.lines.iter().all(|(c, _)| c[0] != 0 && c[2] == 0 && c[3] == 0), "{:?}", d.lines);
    let m = by_site(&d, &symbols(&program()));
    assert_eq!(site(&m, "site_small"), [600, 600 * 112, 0, 0]);
    assert!(!m.contains_key("site_calloc"), "nothing of site_calloc is in use: {m:?}");
}

#[test]
fn prof_active_false_stops_sampling() {
    let dir = scratch_dir("inactive");
    run("inactive", "prof:true,prof_prefix:", &dir);
    let m = by_site(&parse(&dir.join("inactive.heap")), &symbols(&program()));
    assert!(!m.contains_key("site_unsampled"), "{m:?}");
    assert_eq!(site(&m, "site_small"), [10, 10 * 64, 10, 10 * 64]);
}

/// pprof's estimate of the true count from a `heap_v2/<rate>` line, as it unsamples.
fn unsample(objs: i64, bytes: i64, rate: u64) -> f64 {
    if objs == 0 {
        return 0.0;
    }
    let avg = bytes as f64 / objs as f64;
    bytes as f64 / (1.0 - (-avg / rate as f64).exp())
}

#[test]
fn sampled_estimates_fall_within_tolerance() {
    let dir = scratch_dir("sampled");
    run("sampled", "prof:true,lg_prof_sample:16,prof_prefix:", &dir);
    let d = parse(&dir.join("sampled.heap"));
    assert_eq!(d.rate, Some(1 << 16), "a heap_v2/65536 header");
    check_totals(&d, "sampled.heap");
    let syms = symbols(&program());
    let mut est: BTreeMap<String, [f64; 2]> = BTreeMap::new();
    for (c, frames) in &d.lines {
        let site = frames.first().and_then(|&ip| name_of(&syms, ip)).unwrap_or("?").to_owned();
        let e = est.entry(site).or_default();
        e[0] += unsample(c[0], c[1], 1 << 16);
        e[1] += unsample(c[2], c[3], 1 << 16);
    }
    let n = (96u64 << 20) / 1024;
    for (name, want_inuse, want_alloc, tolerance) in
        [("site_heavy", 3 * n / 4 * 1024, 3 * n * 1024, [0.12, 0.06]), ("site_light", 0, n * 1024, [0.0, 0.10])]
    {
        let got = est.get(name).unwrap_or_else(|| panic!("no {name} in {est:?}"));
        let err_alloc = (got[1] - want_alloc as f64).abs() / want_alloc as f64;
        println!("{name}: allocated {:.0} (true {want_alloc}, {:.1}% off), in use {:.0} (true {want_inuse})", got[1], err_alloc * 100.0, got[0]);
        assert!(err_alloc <= tolerance[1], "{name}: allocated estimate {:.0} vs {want_alloc}", got[1]);
        if want_inuse > 0 {
            let err = (got[0] - want_inuse as f64).abs() / want_inuse as f64;
            assert!(err <= tolerance[0], "{name}: in-use estimate {:.0} vs {want_inuse}", got[0]);
        } else {
            assert_eq!(got[0], 0.0, "{name}: nothing in use");
        }
    }
}

#[test]
fn the_leak_report_names_the_final_dump_and_the_leaking_function() {
    let dir = scratch_dir("leak");
    let prefix = dir.join("leak");
    let out = run("leak", &format!("prof_leak:true,prof_prefix:{}", prefix.display()), &dir);
    let err = String::from_utf8_lossy(&out.stderr);
    let summary = err.lines().find_map(|l| l.strip_prefix("<jemalloc>: Leak summary: ")).unwrap_or_else(|| panic!("no leak summary: {err}"));
    // "<B> bytes, <N> objects, <C> contexts" (singular where 1).
    let words: Vec<&str> = summary.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    assert_eq!(words.len(), 6, "{summary}");
    let (bytes, objs, ctxs): (i64, i64, usize) = (words[0].parse().unwrap(), words[2].parse().unwrap(), words[4].parse().unwrap());
    assert!(words[1].starts_with("byte") && words[3].starts_with("object") && words[5].starts_with("context"), "{summary}");
    let file = err
        .lines()
        .find_map(|l| l.strip_prefix("<jemalloc>: Run pprof on \"").and_then(|r| r.strip_suffix("\" for leak detail")))
        .unwrap_or_else(|| panic!("no pprof line: {err}"));
    assert!(file.starts_with(prefix.to_str().unwrap()) && file.ends_with(".0.f.heap"), "{file}");
    let d = parse(Path::new(file));
    assert_eq!([d.total[0], d.total[1]], [objs, bytes], "the summary is the final dump's in-use total");
    assert_eq!(d.lines.iter().filter(|(c, _)| c[0] != 0).count(), ctxs);
    let m = by_site(&d, &symbols(&program()));
    assert_eq!(site(&m, "leaky_function"), [10, 10 * 1024, 10, 10 * 1024]);
    // An empty prefix turns off the final dump and with it the report.
    let quiet = run("leak", "prof_leak:true,prof_prefix:", &dir);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("Leak summary"));
}

#[test]
fn automatic_dumps_are_named_as_the_manual_says() {
    let dir = scratch_dir("auto");
    let prefix = dir.join("a");
    run("auto", &format!("prof:true,lg_prof_interval:20,prof_gdump:true,prof_prefix:{}", prefix.display()), &dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort_by_key(|n| n.split('.').nth(2).and_then(|s| s.parse::<u64>().ok()));
    let mut kinds = String::new();
    let mut seqs = BTreeMap::<char, Vec<u64>>::new();
    for (i, n) in names.iter().enumerate() {
        let p: Vec<&str> = n.split('.').collect();
        assert_eq!((p.len(), p[0], p[4]), (5, "a", "heap"), "{n}");
        assert_eq!(p[2], i.to_string(), "seq counts every dump: {names:?}");
        let kind = p[3].chars().next().unwrap();
        kinds.push(kind);
        if kind != 'f' {
            seqs.entry(kind).or_default().push(p[3][1..].parse().unwrap());
        } else {
            assert_eq!(p[3], "f");
        }
        check_totals(&parse(&dir.join(n)), n);
    }
    assert!(kinds.ends_with('f'), "the final dump is the last: {names:?}");
    assert_eq!(seqs.get(&'m').map(Vec::as_slice), Some(&[0, 1][..]), "{names:?}");
    let i = seqs.get(&'i').map_or(0, Vec::len);
    assert!((6..=12).contains(&i), "8 MiB at one dump per MiB: {names:?}");
    for (k, v) in &seqs {
        assert!(v.iter().enumerate().all(|(j, &s)| s == j as u64), "{k} sequence: {names:?}");
    }
    assert!(seqs.contains_key(&'u'), "a new chunk mapped: a gdump: {names:?}");
}

#[test]
fn google_pprof_reads_the_dumps() {
    if Command::new("google-pprof").arg("--version").output().is_err() {
        println!("google-pprof not installed (Debian google-perftools): skipping");
        return;
    }
    let dir = scratch_dir("pprof");
    run("sites", "prof:true,prof_prefix:", &dir);
    let heap = dir.join("sites.heap");
    let exe = program();
    let pprof = |args: &[&str]| {
        let out = Command::new("google-pprof").args(args).arg(&exe).arg(&heap).output().expect("google-pprof runs");
        assert!(out.status.success(), "google-pprof {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // "<flat> <flat%> <sum%> <cum> <cum%> <function>" rows.
    let flat = |text: &str, f: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() >= 6 && w[5] == f).then(|| w[0].parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {f} in pprof's output:\n{text}"))
    };
    let objects = pprof(&["--text", "--inuse_objects"]);
    assert!(objects.contains("Total: 644 objects"), "{objects}");
    for (f, n) in [("site_small", 600.0), ("site_realloc", 20.0), ("site_large", 10.0), ("site_aligned", 7.0), ("site_ctor", 5.0), ("site_huge", 2.0)] {
        assert_eq!(flat(&objects, f), n, "{f} in use:\n{objects}");
    }
    let allocated = pprof(&["--text", "--alloc_objects"]);
    for (f, n) in [("site_small", 1020.0), ("site_large", 50.0), ("site_calloc", 30.0)] {
        assert_eq!(flat(&allocated, f), n, "{f} allocated:\n{allocated}");
    }
    let space = pprof(&["--text"]);
    let d = parse(&heap);
    assert!(space.contains(&format!("Total: {:.1} MB", d.total[1] as f64 / (1 << 20) as f64)), "{space}");
    let alloc_space = pprof(&["--text", "--alloc_space"]);
    assert!(alloc_space.contains(&format!("Total: {:.1} MB", d.total[3] as f64 / (1 << 20) as f64)), "{alloc_space}");
    assert_eq!(flat(&alloc_space, "site_huge"), 24.0, "{alloc_space}");
}
