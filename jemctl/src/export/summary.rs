//! The summary under a benchmark's table: the first allocator of the run set against each of
//! the others by the geometric mean, over the workload and thread-count cases both ran, of
//! the first's figure over the other's (throughput, throughput per CPU second, peak RSS).
//! The geometric mean is the one average of ratios that does not depend on which side is
//! the numerator: the other's summary against the first is the reciprocal.

use crate::bench::RunResult;
use crate::layout::{Align, Column, Table};

/// One comparison: `first` over `other`, over `cases` cases.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub first: String,
    pub other: String,
    pub cases: usize,
    pub speed: f64,
    pub cpu_speed: f64,
    pub peak_rss: f64,
}

/// The first allocator (in run order) against each other allocator; empty when the run has
/// only one.
pub fn compare(runs: &[RunResult]) -> Vec<Comparison> {
    let mut allocators: Vec<&str> = Vec::new();
    for r in runs {
        if !allocators.contains(&r.allocator.as_str()) {
            allocators.push(&r.allocator);
        }
    }
    let Some((&first, others)) = allocators.split_first() else { return Vec::new() };
    others
        .iter()
        .filter_map(|&other| {
            let pairs: Vec<(&RunResult, &RunResult)> = runs
                .iter()
                .filter(|a| a.allocator == first)
                .filter_map(|a| {
                    runs.iter()
                        .find(|b| b.allocator == other && b.workload == a.workload && b.threads == a.threads)
                        .map(|b| (a, b))
                })
                .collect();
            let mean = |f: &dyn Fn(&RunResult) -> f64| geometric_mean(pairs.iter().map(|(a, b)| f(a) / f(b)));
            Some(Comparison {
                first: first.to_string(),
                other: other.to_string(),
                cases: pairs.len(),
                speed: mean(&|r| r.ops_per_sec)?,
                cpu_speed: mean(&|r| r.ops_per_cpu_sec)?,
                peak_rss: mean(&|r| r.peak_rss_bytes as f64)?,
            })
        })
        .collect()
}

/// The geometric mean of the finite, positive ratios; None if there are none.
fn geometric_mean(ratios: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = ratios.filter(|x| x.is_finite() && *x > 0.0).fold((0.0, 0usize), |(s, n), x| (s + x.ln(), n + 1));
    (n > 0).then(|| (sum / n as f64).exp())
}

/// The comparisons as a table: one row per other allocator.
pub fn table(comparisons: &[Comparison]) -> Table {
    let mut t = Table::new(vec![
        Column::new("versus", "first / other", Align::Left),
        Column::new("cases", "cases", Align::Right),
        Column::new("speed", "ops/s", Align::Right),
        Column::new("cpu-speed", "ops/CPU s", Align::Right),
        Column::new("peak-rss", "peak RSS", Align::Right),
    ]);
    for c in comparisons {
        t.row(vec![
            format!("{} / {}", c.first, c.other),
            c.cases.to_string(),
            format!("{:.2}x", c.speed),
            format!("{:.2}x", c.cpu_speed),
            format!("{:.2}x", c.peak_rss),
        ]);
    }
    t
}

/// The heading above the table.
pub fn heading(comparisons: &[Comparison]) -> String {
    let first = comparisons.first().map_or("", |c| c.first.as_str());
    format!(
        "Summary: {first} over each other allocator, the geometric mean of the ratios over the cases both ran \
         (above 1x: {first} is faster, or uses more memory)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(allocator: &str, workload: &str, threads: usize, ops: f64, cpu: f64, rss: u64) -> RunResult {
        RunResult {
            allocator: allocator.into(),
            workload: workload.into(),
            threads,
            ops_per_sec: ops,
            ops_per_cpu_sec: cpu,
            peak_rss_bytes: rss,
            ..Default::default()
        }
    }

    #[test]
    fn first_allocator_over_each_other_by_geometric_mean() {
        let runs = vec![
            run("a", "w1", 1, 200.0, 100.0, 10),
            run("b", "w1", 1, 100.0, 100.0, 20),
            run("c", "w1", 1, 400.0, 50.0, 10),
            run("a", "w2", 2, 50.0, 100.0, 10),
            run("b", "w2", 2, 100.0, 25.0, 10),
            // c did not run w2 x2; a did not run w3.
            run("b", "w3", 1, 1.0, 1.0, 1),
        ];
        let c = compare(&runs);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].other.as_str(), c[0].cases), ("b", 2));
        // sqrt(2 * 0.5) = 1; sqrt(1 * 4) = 2; sqrt(0.5 * 1).
        assert!((c[0].speed - 1.0).abs() < 1e-12);
        assert!((c[0].cpu_speed - 2.0).abs() < 1e-12);
        assert!((c[0].peak_rss - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!((c[1].other.as_str(), c[1].cases), ("c", 1));
        assert!((c[1].speed - 0.5).abs() < 1e-12 && (c[1].cpu_speed - 2.0).abs() < 1e-12);
    }

    #[test]
    fn one_allocator_or_no_common_case_gives_no_row() {
        assert!(compare(&[run("a", "w", 1, 1.0, 1.0, 1)]).is_empty());
        let c = compare(&[run("a", "w", 1, 1.0, 1.0, 1), run("b", "v", 1, 1.0, 1.0, 1)]);
        assert!(c.is_empty(), "{c:?}");
        assert_eq!(geometric_mean([0.0, f64::NAN].into_iter()), None);
    }
}
