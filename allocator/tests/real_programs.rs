//! Real programs with `libjemalloc_rs.so` preloaded must behave exactly as they do on the C
//! library's allocator: same standard output, same exit status. Each program is run twice,
//! once each way, on the same input. Programs that are not installed are skipped with a
//! message.

mod common;

use common::{c_source, include_dir, no_preload, preload, run, run_with_stdin, scratch_dir, so_path};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(170);

/// xorshift64*, for reproducible generated inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn word(&mut self, max_len: u64) -> String {
        let len = 1 + self.below(max_len);
        (0..len).map(|_| (b'a' + self.below(26) as u8) as char).collect()
    }
}

fn installed(program: &str) -> bool {
    let found = Command::new(program).arg("--version").output().is_ok();
    if !found {
        println!("skipped: {program} is not installed");
    }
    found
}

/// Runs the command built by `make` once on the C library's allocator and once preloaded.
fn both(make: impl Fn() -> Command, input: Option<&[u8]>) -> (Output, Output) {
    let plain = run_with_stdin(no_preload(&mut make()), input.map(<[u8]>::to_vec), LIMIT);
    let preloaded = run_with_stdin(preload(&mut make()), input.map(<[u8]>::to_vec), LIMIT);
    (plain, preloaded)
}

/// Fails unless both runs exited alike and printed the same standard output.
fn assert_same(what: &str, plain: &Output, preloaded: &Output) {
    let show = |o: &Output| String::from_utf8_lossy(&o.stderr).chars().take(4000).collect::<String>();
    assert_eq!(
        plain.status.code(),
        preloaded.status.code(),
        "{what}: exit status {} on the C library's allocator, {} with libjemalloc_rs.so\n\
         --- stderr without ---\n{}\n--- stderr with ---\n{}",
        plain.status,
        preloaded.status,
        show(plain),
        show(preloaded)
    );
    if plain.stdout != preloaded.stdout {
        let a = String::from_utf8_lossy(&plain.stdout);
        let b = String::from_utf8_lossy(&preloaded.stdout);
        let line =
            a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(a.lines().count().min(b.lines().count()));
        panic!(
            "{what}: standard output differs from line {} on ({} vs {} bytes)\n\
             without: {:?}\nwith:    {:?}\n--- stderr with ---\n{}",
            line + 1,
            plain.stdout.len(),
            preloaded.stdout.len(),
            a.lines().nth(line),
            b.lines().nth(line),
            show(preloaded)
        );
    }
}

#[test]
fn preloading_maps_the_library_into_a_program() {
    let (plain, preloaded) = both(
        || {
            let mut c = Command::new("cat");
            c.arg("/proc/self/maps");
            c
        },
        None,
    );
    let name = so_path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(plain.status.success() && preloaded.status.success());
    assert!(!String::from_utf8_lossy(&plain.stdout).contains(&name), "{name} is mapped without LD_PRELOAD");
    assert!(String::from_utf8_lossy(&preloaded.stdout).contains(&name), "{name} is not mapped with LD_PRELOAD");
}

#[test]
fn sort_200k_lines() {
    let dir = scratch_dir("sort");
    let file = dir.join("input.txt");
    let mut rng = Rng(0x5eed_0001);
    let mut text = String::with_capacity(200_000 * 48);
    for i in 0..200_000 {
        let _ = writeln!(text, "{} {} {}", rng.word(40), rng.below(1_000_000), i % 977);
    }
    std::fs::write(&file, &text).unwrap();
    // Plain, numeric and keyed sorts; a big buffer sorted by threads; a tiny buffer that
    // spills to temporary files and merges them.
    for args in [
        &[][..],
        &["-n", "-k2"][..],
        &["-r", "-u", "-k3,3n", "-k1,1"][..],
        &["-S", "64M", "--parallel=4"][..],
        &["-S", "1M", "--parallel=2", "-k2n"][..],
    ] {
        let (plain, preloaded) = both(
            || {
                let mut c = Command::new("sort");
                c.args(args).arg(&file).env("LC_ALL", "C").env("TMPDIR", &dir);
                c
            },
            None,
        );
        assert!(plain.status.success(), "sort {args:?} failed without LD_PRELOAD");
        assert_same(&format!("sort {args:?}"), &plain, &preloaded);
    }
}

/// A repository's life: commits on two branches, a merge, history, garbage collection and a
/// consistency check. Returns each step's name and result.
fn git_workflow(dir: &Path, with_preload: bool) -> Vec<(String, Output)> {
    let mut rng = Rng(0x5eed_0002);
    let mut results = Vec::new();
    let mut git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "A U Thor")
            .env("GIT_AUTHOR_EMAIL", "author@example.org")
            .env("GIT_COMMITTER_NAME", "C O Mitter")
            .env("GIT_COMMITTER_EMAIL", "committer@example.org")
            .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
            .env("LC_ALL", "C");
        if with_preload {
            preload(&mut c);
        } else {
            no_preload(&mut c);
        }
        let out = run(&mut c, LIMIT);
        results.push((args.join(" "), out));
    };
    git(&["init", "-q", "-b", "main", "."]);
    for round in 0..6 {
        if round == 3 {
            git(&["checkout", "-q", "-b", "side"]);
        }
        if round == 5 {
            git(&["checkout", "-q", "main"]);
        }
        for f in 0..120 {
            if round > 0 && rng.below(3) != 0 {
                continue;
            }
            let name = format!("dir{}/file{f}.txt", f % 7);
            std::fs::create_dir_all(dir.join(format!("dir{}", f % 7))).unwrap();
            let mut body = String::new();
            for line in 0..(20 + rng.below(200)) {
                let _ = writeln!(body, "{line} {} {}", rng.word(30), rng.word(60));
            }
            std::fs::write(dir.join(name), body).unwrap();
        }
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", &format!("round {round}")]);
    }
    git(&["merge", "-q", "--no-edit", "-X", "theirs", "side"]);
    git(&["log", "--stat", "--format=%H %an %s"]);
    git(&["gc", "-q"]);
    git(&["fsck", "--full", "--strict"]);
    git(&["log", "-p", "--format=%H %P"]);
    git(&["ls-tree", "-r", "HEAD"]);
    results
}

#[test]
fn git_repository_workflow() {
    if !installed("git") {
        return;
    }
    let plain = git_workflow(&scratch_dir("git-plain"), false);
    let preloaded = git_workflow(&scratch_dir("git-preloaded"), true);
    assert_eq!(plain.len(), preloaded.len());
    for ((step, a), (_, b)) in plain.iter().zip(&preloaded) {
        assert!(a.status.success(), "git {step} failed without LD_PRELOAD: {}", String::from_utf8_lossy(&a.stderr));
        assert_same(&format!("git {step}"), a, b);
    }
}

#[test]
fn perl_hashes_and_strings() {
    if !installed("perl") {
        return;
    }
    let script = r#"
        my %h;
        for my $i (1 .. 200000) { $h{sprintf("key%07d", ($i * 7919) % 1000003)} = "v" x ($i % 37) . $i; }
        my @keys = sort { length($h{$a}) <=> length($h{$b}) || $a cmp $b } keys %h;
        my $text = join(",", map { "$_=$h{$_}" } @keys[0 .. 49999]);
        (my $t = $text) =~ s/key0*(\d+)=v*(\d+)/$2:$1/g;
        my @parts = split /,/, $t;
        my %count; $count{length $_}++ for @parts;
        delete $h{$_} for @keys[0 .. 99999];
        my $big = ""; $big .= $_ for values %h;
        print scalar(@keys), " ", scalar(keys %h), " ", length($text), " ", length($big), "\n";
        print unpack("%32C*", $text), " ", unpack("%32C*", $t), "\n";
        print join(" ", map { "$_:$count{$_}" } sort { $a <=> $b } keys %count), "\n";
    "#;
    let (plain, preloaded) = both(
        || {
            let mut c = Command::new("perl");
            c.args(["-e", script]);
            c
        },
        None,
    );
    assert!(plain.status.success() && plain.stdout.len() > 20, "perl failed without LD_PRELOAD");
    assert_same("perl", &plain, &preloaded);
}

#[test]
fn gcc_compiles_a_c_program() {
    if !installed("gcc") {
        return;
    }
    let (plain, preloaded) = both(
        || {
            let mut c = Command::new("gcc");
            c.args(["-O2", "-S", "-o", "-", "-I"]).arg(include_dir()).arg(c_source("contract.c"));
            c
        },
        None,
    );
    assert!(plain.status.success() && !plain.stdout.is_empty(), "gcc failed without LD_PRELOAD");
    assert_same("gcc -O2 -S contract.c", &plain, &preloaded);
}

#[test]
fn sqlite3_inserts_and_queries() {
    if !installed("sqlite3") {
        return;
    }
    let mut rng = Rng(0x5eed_0003);
    let mut sql =
        String::from("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, v REAL, blob BLOB);\nBEGIN;\n");
    for i in 0..5000 {
        let _ = writeln!(
            sql,
            "INSERT INTO t(name, grp, v, blob) VALUES ('{}', {}, {}.{}, zeroblob({}));",
            rng.word(50),
            rng.below(40),
            rng.below(100_000),
            rng.below(1000),
            rng.below(2000)
        );
        if i % 1000 == 999 {
            sql.push_str("COMMIT;\nBEGIN;\n");
        }
    }
    sql.push_str(
        "COMMIT;\n\
         CREATE INDEX t_name ON t(name);\n\
         UPDATE t SET name = upper(name) WHERE grp % 3 = 0;\n\
         DELETE FROM t WHERE grp = 7;\n\
         SELECT count(*), sum(length(blob)), round(sum(v), 3) FROM t;\n\
         SELECT grp, count(*), min(name), max(name), round(avg(v), 3) FROM t GROUP BY grp ORDER BY grp;\n\
         SELECT id, name FROM t WHERE name LIKE 'A%' ORDER BY name, id LIMIT 25;\n\
         SELECT length(group_concat(name, ',')) FROM (SELECT name FROM t ORDER BY name);\n",
    );
    let (plain, preloaded) = both(
        || {
            let mut c = Command::new("sqlite3");
            c.arg(":memory:");
            c
        },
        Some(sql.as_bytes()),
    );
    assert!(plain.status.success() && plain.stdout.len() > 100, "sqlite3 failed without LD_PRELOAD");
    assert_same("sqlite3", &plain, &preloaded);
}

/// The summary regrtest prints after its run, without the timings.
fn regrtest_summary(out: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().rposition(|l| l.starts_with("== Tests result")).unwrap_or(lines.len());
    lines[start..]
        .iter()
        .filter(|l| !l.starts_with("Total duration") && !l.trim().is_empty())
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn cpython_regression_tests() {
    let wanted =
        ["test_list", "test_dict", "test_set", "test_unicode", "test_json", "test_re", "test_bytes", "test_threading"];
    let probe = format!("import importlib.util as u\nfor n in {wanted:?}:\n    if u.find_spec('test.' + n): print(n)");
    let found = match Command::new("python3").args(["-c", "import test.support"]).output() {
        Ok(o) if o.status.success() => Command::new("python3").args(["-c", &probe]).output().unwrap(),
        _ => {
            println!("skipped: python3 or its test package is not installed");
            return;
        }
    };
    let tests: Vec<String> = String::from_utf8_lossy(&found.stdout).lines().map(str::to_owned).collect();
    assert!(!tests.is_empty(), "none of {wanted:?} exists in this Python's test package");
    let dir = scratch_dir("cpython");
    let (plain, preloaded) = both(
        || {
            let mut c = Command::new("python3");
            c.args(["-m", "test", "-j0"])
                .args(&tests)
                .current_dir(&dir)
                // Route every object through malloc instead of pymalloc's arenas.
                .env("PYTHONMALLOC", "malloc");
            c
        },
        None,
    );
    let (a, b) = (regrtest_summary(&plain), regrtest_summary(&preloaded));
    assert!(!a.is_empty(), "regrtest printed no summary:\n{}", String::from_utf8_lossy(&plain.stdout));
    assert_eq!(
        plain.status.code(),
        preloaded.status.code(),
        "regrtest exit status differs; summary with:\n{}",
        b.join("\n")
    );
    assert_eq!(a, b, "regrtest results differ");
}
