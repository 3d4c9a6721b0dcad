//! The time suite: each case runs on the candidate and on the C library's malloc through the
//! bench runner, one repetition after another, the two adjacent within a repetition and their
//! order swapped each time. A figure is the median over repetitions of the candidate's speed
//! (calls per CPU second of the workload threads) over the C library's in the same
//! repetition, so that a machine that slows down for a while slows both sides of the ratio
//! alike, and time the workload spent waiting for a CPU is not counted.

use super::suite::Case;
use super::{Figure, Metric, Mode};
use crate::allocator::AllocatorSpec;
use crate::bench::{self, BenchConfig, RunResult};
use anyhow::Result;

/// What the candidate's runs of one case measured, one entry per repetition.
#[derive(Default)]
struct Runs {
    speed: Vec<f64>,
    peak_rss: Vec<f64>,
    fragmentation: Vec<f64>,
}

/// Runs `cases` `repeat` times; `progress` hears (done, total, label) before each step.
/// Returns the figures and the runner's notes.
pub fn measure(
    candidate: &AllocatorSpec,
    cases: &[&Case],
    repeat: u32,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<(Vec<Figure>, Vec<String>)> {
    let cases: Vec<&Case> = cases.iter().copied().filter(|c| c.time_ops.is_some()).collect();
    let mut runs: Vec<Runs> = cases.iter().map(|_| Runs::default()).collect();
    let mut notes: Vec<String> = Vec::new();
    let total = cases.len() * repeat as usize;
    for rep in 0..repeat as usize {
        for (i, case) in cases.iter().enumerate() {
            progress(
                rep * cases.len() + i,
                total,
                &format!("{} x{} (repetition {})", case.workload, case.threads, rep + 1),
            );
            let candidate_first = rep % 2 == 0;
            let allocators = if candidate_first {
                vec![candidate.clone(), AllocatorSpec::System]
            } else {
                vec![AllocatorSpec::System, candidate.clone()]
            };
            let config = BenchConfig {
                allocators,
                workloads: vec![case.workload.to_string()],
                threads: vec![case.threads],
                duration: None,
                ops_per_thread: case.time_ops,
                repeat: 1,
                seed: 1,
                sample_every: 0,
            };
            let report = bench::run(&config, &mut |_| {})?;
            for n in report.notes {
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
            // One workload and one thread count: the runs follow the allocators' order.
            let (cand, system) =
                if candidate_first { (&report.runs[0], &report.runs[1]) } else { (&report.runs[1], &report.runs[0]) };
            record(&mut runs[i], cand, system);
        }
    }
    progress(total, total, "");
    let figures = cases.iter().zip(runs).flat_map(|(case, r)| figures(case, r)).collect();
    Ok((figures, notes))
}

/// Calls per second of the workload threads' CPU time: unlike calls per second of wall time,
/// it does not count the time other processes held the CPU.
fn calls_per_cpu_second(r: &RunResult) -> f64 {
    r.ops as f64 / r.cpu_seconds.max(1e-9)
}

fn record(runs: &mut Runs, candidate: &RunResult, system: &RunResult) {
    runs.speed.push(calls_per_cpu_second(candidate) / calls_per_cpu_second(system));
    runs.peak_rss.push(candidate.peak_rss_bytes.saturating_sub(candidate.baseline_rss_bytes) as f64);
    if let Some(f) = candidate.fragmentation {
        runs.fragmentation.push(f);
    }
}

fn figures(case: &Case, runs: Runs) -> Vec<Figure> {
    let ops = case.time_ops.unwrap_or(0);
    case.metrics(Mode::Time)
        .into_iter()
        .filter_map(|metric| {
            let values = match metric {
                Metric::SpeedVsSystem => &runs.speed,
                Metric::PeakRss => &runs.peak_rss,
                Metric::Fragmentation => &runs.fragmentation,
                Metric::Instructions | Metric::SystemInstructions => return None,
            };
            (!values.is_empty()).then(|| Figure::from_samples(case.workload, case.threads, metric, ops, values.clone()))
        })
        .collect()
}

/// Adds to `figures` the repetitions of the same figures measured `again`.
pub fn absorb(figures: &mut [Figure], again: &[Figure]) {
    for f in figures.iter_mut() {
        if let Some(a) = f.counterpart_in(again) {
            f.absorb(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_measurement_joins_the_first_in_one_median() {
        let mut first = vec![Figure::from_samples("larson", 2, Metric::SpeedVsSystem, 9, vec![1.0, 1.1, 0.2])];
        assert_eq!(first[0].value, 1.0);
        let again = [Figure::from_samples("larson", 2, Metric::SpeedVsSystem, 9, vec![1.2, 1.3, 1.25])];
        absorb(&mut first, &again);
        assert_eq!(first[0].samples.len(), 6);
        assert_eq!(first[0].value, 1.15);
        assert_eq!(first[0].range, Some((0.2, 1.3)));
    }
}
