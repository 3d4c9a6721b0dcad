#!/usr/bin/env python3
"""Wall and CPU time of programs run as they are and under `jemctl record`, interleaved,
REPS repetitions each, medians; and the trace's bytes per call.

    results/record-overhead.py REPS JEMCTL
"""
import os, re, resource, statistics, subprocess, sys, tempfile, time

PY = r'''
import json, re, collections
words = ["w%d" % (i * 7919 % 100003) for i in range(300000)]
c = collections.Counter(words)
d = json.loads(json.dumps(c))
print(len(d), sum(len(re.findall(r"\d+", w)) for w in words[:100000]))
'''
SQL = ("CREATE TABLE t(a INTEGER, b TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c "
       "WHERE x<200000) INSERT INTO t SELECT x, hex(randomblob(20)) FROM c; CREATE INDEX i ON t(b); "
       "SELECT count(*), sum(length(b)) FROM t WHERE b > 'A'; "
       "SELECT a % 97, count(*) FROM t GROUP BY 1 ORDER BY 2 DESC LIMIT 1;")
PROGRAMS = [
    ("python3 (pymalloc)", {}, ["/usr/bin/python3", "-c", PY]),
    ("python3 (PYTHONMALLOC=malloc)", {"PYTHONMALLOC": "malloc"}, ["/usr/bin/python3", "-c", PY]),
    ("sqlite3", {}, ["sqlite3", ":memory:", SQL]),
]

def run(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stderr

def main():
    reps, jemctl = int(sys.argv[1]), sys.argv[2]
    trace = os.path.join(tempfile.mkdtemp(), "overhead.trace")
    print(f"results/record-overhead.py {reps} {jemctl}")
    print()
    print(f"Load average at the start: {os.getloadavg()[0]:.1f}. {reps} interleaved repetitions, medians.")
    print()
    print("| program | plain wall | recorded wall | wall ratio | plain CPU | recorded CPU | CPU ratio | calls | bytes/call |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, env, cmd in PROGRAMS:
        plain, rec, calls, per_call = [], [], "", ""
        for i in range(reps):
            pair = [("plain", cmd), ("rec", [jemctl, "record", "-o", trace, "--"] + cmd)]
            if i % 2:
                pair.reverse()
            for kind, c in pair:
                wall, cpu, err = run(c, env)
                (plain if kind == "plain" else rec).append((wall, cpu))
                m = re.search(r"wrote .*?, (\d+) calls on .*?, ([\d.]+) bytes/call", err)
                if m:
                    calls, per_call = m.group(1), m.group(2)
        pw, pc = statistics.median(w for w, _ in plain), statistics.median(c for _, c in plain)
        rw, rc = statistics.median(w for w, _ in rec), statistics.median(c for _, c in rec)
        print(f"| {name} | {pw:.2f} s | {rw:.2f} s | {rw / pw:.2f}x | {pc:.2f} s | {rc:.2f} s | {rc / pc:.2f}x | {calls} | {per_call} |")

main()
