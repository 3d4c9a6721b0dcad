#!/usr/bin/env python3
"""The heap profiler's cost on real programs: CPU seconds (user + system) of each program run
with libjemalloc_rs.so profiling off, on at lg_prof_sample:0 and at lg_prof_sample:19, beside
Debian's jemalloc 5.3 (libjemalloc2, built with --enable-prof) the same three ways and glibc.
Runs are interleaved, each configuration once per repetition; medians are reported with each
one's ratio to the same allocator with profiling off.

    cargo build --release -p jemalloc_rs_cdylib
    python3 results/prof_overhead.py [--repeat 7] [--so target/release/libjemalloc_rs.so]
    python3 results/prof_overhead.py --scale 10 --sampled-only   # longer runs, sampled only
"""
import argparse, os, resource, statistics, subprocess, sys

PERL = r'''
my %h; my @keep;
for my $i (1..300_000) {
    my $k = "key" . ($i * 7919 % 1_000_003);
    $h{$k} = join(",", ($i) x (1 + $i % 9));
    push @keep, [$i, "x" x ($i % 200)] if $i % 3 == 0;
    delete $h{"key" . (($i - 5000) * 7919 % 1_000_003)} if $i > 5000;
    @keep = () if @keep > 50_000;
}
my @s = sort { $h{$a} cmp $h{$b} } keys %h;
print scalar(@s), "\n";
'''

PYTHON = r'''
import json
docs = []
for i in range(8_000):
    d = {"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 13), "u%d" % (i % 7)], "v": [x * 0.5 for x in range(i % 40)]}
    docs.append(json.dumps(d))
    if len(docs) > 2_000:
        docs = [json.loads(s) for s in docs[-1000:]]
        docs = [json.dumps(d) for d in docs]
print(len(docs))
'''

def cpu_seconds(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--so", default="target/release/libjemalloc_rs.so")
    ap.add_argument("--je", default="/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    ap.add_argument("--scale", type=int, default=1,
                    help="run each program N times longer, so that start-up costs weigh less")
    ap.add_argument("--sampled-only", action="store_true",
                    help="leave out lg_prof_sample:0, which is 15-50x slower")
    a = ap.parse_args()
    so = os.path.abspath(a.so)
    programs = {
        "perl (hashes, strings, sort)": ["perl", "-e", PERL.replace("300_000", str(300_000 * a.scale))],
        "python3 PYTHONMALLOC=malloc (json)": [sys.executable, "-c", PYTHON.replace("8_000", str(8_000 * a.scale))],
    }
    configs = [
        ("glibc", None, None),
        ("jemalloc-rs", so, ""),
        ("jemalloc-rs prof lg_sample:19", so, "prof:true,lg_prof_sample:19,prof_prefix:"),
        ("jemalloc-rs prof lg_sample:0", so, "prof:true,lg_prof_sample:0,prof_prefix:"),
    ]
    if os.path.exists(a.je):
        configs += [
            ("jemalloc 5.3", a.je, ""),
            ("jemalloc 5.3 prof lg_sample:19", a.je, "prof:true,lg_prof_sample:19"),
            ("jemalloc 5.3 prof lg_sample:0", a.je, "prof:true,lg_prof_sample:0"),
        ]
    else:
        print(f"{a.je} not found: jemalloc 5.3 left out")
    if a.sampled_only:
        configs = [c for c in configs if not c[0].endswith("lg_sample:0")]
    for pname, cmd in programs.items():
        times = {c[0]: [] for c in configs}
        for r in range(a.repeat):
            order = configs if r % 2 == 0 else list(reversed(configs))
            for name, lib, conf in order:
                env = dict(os.environ, PYTHONMALLOC="malloc")
                env.pop("LD_PRELOAD", None)
                env.pop("MALLOC_CONF", None)
                if lib:
                    env["LD_PRELOAD"] = lib
                if conf:
                    env["MALLOC_CONF"] = conf
                times[name].append(cpu_seconds(cmd, env))
        print(f"\n{pname}: median CPU seconds of {a.repeat} interleaved runs")
        print(f"{'allocator':34} {'median':>8} {'min':>8} {'max':>8}  vs profiling off")
        for name, _, _ in configs:
            t = times[name]
            base = "jemalloc-rs" if name.startswith("jemalloc-rs") else "jemalloc 5.3" if name.startswith("jemalloc 5.3") else "glibc"
            ratio = statistics.median(t) / statistics.median(times[base])
            print(f"{name:34} {statistics.median(t):8.3f} {min(t):8.3f} {max(t):8.3f}  {ratio:6.3f}x")

main()
