//! Exporters: one module per output format of a [`BenchReport`].

pub mod json;
pub mod markdown;
pub mod svg;
pub mod table;

use crate::bench::{BenchReport, RunResult, FRAGMENTATION_MIN_LIVE};
use crate::units;

/// The columns every tabular format shows, as text.
pub const HEADER: [&str; 13] = [
    "workload",
    "threads",
    "allocator",
    "ops/s",
    "vs system",
    "ops/CPU s",
    "p50",
    "p99",
    "p99.9",
    "max",
    "peak RSS",
    "end RSS",
    "frag",
];

/// One run's cells; latencies below the clock's step `resolution_ns` read "<step".
pub fn row(r: &RunResult, resolution_ns: u64) -> [String; 13] {
    let latency = |ns: u64| {
        if ns < resolution_ns {
            format!("<{}", units::nanos(resolution_ns))
        } else {
            units::nanos(ns)
        }
    };
    let spread = if r.repeats > 1 && r.ops_per_sec > 0.0 {
        format!(" ±{:.0}%", 50.0 * (r.ops_per_sec_max - r.ops_per_sec_min) / r.ops_per_sec)
    } else {
        String::new()
    };
    let frag = match r.fragmentation {
        Some(f) if r.peak_live_bytes >= FRAGMENTATION_MIN_LIVE => format!("{f:.2}"),
        _ => "-".into(),
    };
    [
        r.workload.clone(),
        r.threads.to_string(),
        r.allocator.clone(),
        format!("{}{spread}", units::rate(r.ops_per_sec)),
        r.relative_to_system.map_or_else(|| "-".into(), |x| format!("{x:.2}x")),
        units::rate(r.ops_per_cpu_sec),
        latency(r.latency_ns.p50),
        latency(r.latency_ns.p99),
        latency(r.latency_ns.p999),
        latency(r.latency_ns.max),
        units::bytes(r.peak_rss_bytes),
        units::bytes(r.end_rss_bytes),
        frag,
    ]
}

/// What a reader needs to know to read the figures, then the run's own notes.
pub fn notes(report: &BenchReport) -> Vec<String> {
    let s = &report.settings;
    let mut notes = vec![
        "Every allocator, in-process jemalloc-rs included, is called through C function pointers from the same \
         workload code, so none is inlined into the benchmark."
            .to_string(),
        format!(
            "Each measurement ran in a fresh child process; allocators interleaved within each of {} repetition(s), \
             medians shown{}.",
            s.repeat,
            if s.repeat > 1 { ", ± is half the range of ops/s" } else { "" }
        ),
        format!(
            "ops/s counts allocator calls (malloc, free, realloc, ...) of all threads per second of wall time; ops/CPU s \
             per second of the workload threads' CPU time (user + system), steadier on a busy machine. Latency: about \
             1 call in {} timed with {}; that cost is subtracted from each sample, and a latency under one step shows \
             as <step.",
            s.sample_every, s.clock
        ),
        "peak RSS is the process's; end RSS is what it kept after the workload freed everything; frag = (peak RSS - \
         RSS before the run) / peak requested live bytes, shown where at least 1 MiB is live."
            .to_string(),
    ];
    notes.extend(report.notes.iter().cloned());
    notes.extend(report.failed.iter().map(|f| format!("FAILED: {f}")));
    notes
}
