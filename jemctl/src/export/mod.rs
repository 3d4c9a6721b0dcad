//! Exporters: one module per output format of a [`BenchReport`] (terminal table, markdown,
//! JSON, SVG charts, HTML report), and the columns and notes they share.

pub mod html;
pub mod json;
pub mod markdown;
pub mod summary;
pub mod svg;
pub mod table;

use crate::bench::{BenchReport, RunResult, FRAGMENTATION_MIN_LIVE};
use crate::layout::{Align, Column};
use crate::units;

/// Every column a run can show, in order; the default ones fit 100 terminal columns, and give
/// way (frag, then p99, then peak RSS) when the width is shorter.
pub fn columns() -> Vec<Column> {
    vec![
        Column::new("workload", "workload", Align::Left).group(),
        Column::new("threads", "threads", Align::Right).group(),
        Column::new("allocator", "allocator", Align::Left),
        Column::new("speed", "ops/s", Align::Right),
        Column::new("ratio", "vs system", Align::Right),
        Column::new("cpu-speed", "ops/CPU s", Align::Right).optional(),
        Column::new("p50", "p50", Align::Right).optional(),
        Column::new("p90", "p90", Align::Right).optional(),
        Column::new("p99", "p99", Align::Right).yields(2),
        Column::new("p99.9", "p99.9", Align::Right).optional(),
        Column::new("max", "max", Align::Right).optional(),
        Column::new("peak-rss", "peak RSS", Align::Right).yields(3),
        Column::new("end-rss", "end RSS", Align::Right).optional(),
        Column::new("frag", "frag", Align::Right).yields(1),
    ]
}

/// For each column of [`columns`], the figure that "best" compares and whether higher is
/// better; `None` for columns that are not compared.
pub fn figure(r: &RunResult, column: usize) -> Option<(Option<f64>, bool)> {
    let l = &r.latency_ns;
    let lower = |v: f64| Some((Some(v), false));
    match column {
        3 => Some((Some(r.ops_per_sec), true)),
        5 => Some((Some(r.ops_per_cpu_sec), true)),
        6 => lower(l.p50 as f64),
        7 => lower(l.p90 as f64),
        8 => lower(l.p99 as f64),
        9 => lower(l.p999 as f64),
        10 => lower(l.max as f64),
        11 => lower(r.peak_rss_bytes as f64),
        12 => lower(r.end_rss_bytes as f64),
        13 => Some((shown_fragmentation(r), false)),
        _ => None,
    }
}

fn shown_fragmentation(r: &RunResult) -> Option<f64> {
    r.fragmentation.filter(|_| r.peak_live_bytes >= FRAGMENTATION_MIN_LIVE)
}

/// One run's cells, one per column of [`columns`]; latencies below the clock's step
/// `resolution_ns` read "<step".
pub fn cells(r: &RunResult, resolution_ns: u64) -> Vec<String> {
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
    vec![
        r.workload.clone(),
        r.threads.to_string(),
        r.allocator.clone(),
        format!("{}{spread}", units::rate(r.ops_per_sec)),
        r.relative_to_system.map_or_else(|| "-".into(), |x| format!("{x:.2}x")),
        units::rate(r.ops_per_cpu_sec),
        latency(r.latency_ns.p50),
        latency(r.latency_ns.p90),
        latency(r.latency_ns.p99),
        latency(r.latency_ns.p999),
        latency(r.latency_ns.max),
        units::bytes(r.peak_rss_bytes),
        units::bytes(r.end_rss_bytes),
        shown_fragmentation(r).map_or_else(|| "-".into(), |f| format!("{f:.2}")),
    ]
}

/// The runs grouped by workload and then thread count, in the order they were measured.
pub fn groups(runs: &[RunResult]) -> Vec<Vec<&RunResult>> {
    let mut groups: Vec<Vec<&RunResult>> = Vec::new();
    for r in runs {
        match groups.iter_mut().find(|g| g[0].workload == r.workload && g[0].threads == r.threads) {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    // Stable: the thread counts of one workload stay together.
    let order: Vec<&str> = {
        let mut seen: Vec<&str> = Vec::new();
        for r in runs {
            if !seen.contains(&r.workload.as_str()) {
                seen.push(&r.workload);
            }
        }
        seen
    };
    groups.sort_by_key(|g| order.iter().position(|w| *w == g[0].workload));
    groups
}

/// Each group's cells, with the best figure of each compared column marked `*`.
pub fn marked_cells(group: &[&RunResult], resolution_ns: u64) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = group.iter().map(|r| cells(r, resolution_ns)).collect();
    for c in 0..columns().len() {
        let Some((_, higher)) = figure(group[0], c) else { continue };
        let values: Vec<Option<f64>> = group.iter().map(|r| figure(r, c).and_then(|f| f.0)).collect();
        let mut column: Vec<&mut String> = rows.iter_mut().map(|row| &mut row[c]).collect();
        crate::layout::mark_best(&mut column, &values, higher);
    }
    rows
}

/// What a reader needs to know to read the figures, in short lines, then the run's own notes.
pub fn notes(report: &BenchReport) -> Vec<String> {
    let s = &report.settings;
    let mut notes = vec![
        "* marks the best figure of a workload and thread count.".to_string(),
        format!(
            "ops/s: allocator calls per second, all threads; vs system: ops/s over the C library malloc's{}.",
            if s.repeat > 1 { "; ± half the range over the repetitions" } else { "" }
        ),
        format!("p50..max: latency of about 1 call in {}, timed with {}, its cost subtracted.", s.sample_every, s.clock),
        "peak RSS: the child process's; frag: (peak RSS - RSS before) / peak live bytes, where 1 MiB or more is live."
            .to_string(),
        format!(
            "Each run in a fresh child process; allocators interleaved; medians of {} repetition(s); every allocator \
             called through the same C function pointers.",
            s.repeat
        ),
    ];
    notes.extend(report.notes.iter().cloned());
    notes.extend(report.failed.iter().map(|f| format!("FAILED: {f}")));
    notes
}
