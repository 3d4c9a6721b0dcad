//! The regression gate: a fixed, short suite of workloads run on a candidate allocator and
//! compared, figure by figure, with a committed baseline.
//!
//! - [`suite`]: which workloads, threads and operation counts, and which figures each gives.
//! - [`time`] and [`instructions`]: the two ways of measuring. Time compares the candidate with
//!   the C library's malloc in the same run (interleaved repetitions, the median of the paired
//!   ratios) and reads memory figures from the same runs; instructions counts the candidate's
//!   instructions per call under callgrind, which does not depend on the machine's load.
//! - [`baseline`]: the baseline file, read with errors that say how to regenerate it.
//! - [`compare`]: each figure against its baseline value and tolerance, and the verdicts.
//! - [`export`]: the comparison as a terminal table, markdown and JSON.

pub mod baseline;
pub mod compare;
pub mod export;
pub mod instructions;
pub mod suite;
pub mod time;

use serde::{Deserialize, Serialize};

/// How figures are measured; the baseline keeps one section per mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Time,
    Instructions,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Time => "time",
            Mode::Instructions => "instructions",
        }
    }
}

/// What a figure measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// The candidate's calls per second over the C library's in the same repetition; the
    /// median over repetitions.
    SpeedVsSystem,
    /// Peak RSS above the RSS before the workload started, in bytes.
    PeakRss,
    /// Peak RSS growth over the peak of requested live bytes.
    Fragmentation,
    /// Instructions per allocator call, the workload's own included.
    Instructions,
    /// The same for the C library's malloc: it moves only when the workload (or the C library)
    /// changes, which makes the candidate's figures of that workload incomparable.
    SystemInstructions,
}

/// How far a figure may move the wrong way before it counts as a regression: `pct` percent of
/// the baseline value plus `slack` in the figure's own unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    pub pct: f64,
    pub slack: f64,
}

impl Metric {
    pub fn mode(self) -> Mode {
        match self {
            Metric::Instructions | Metric::SystemInstructions => Mode::Instructions,
            _ => Mode::Time,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::SpeedVsSystem => "speed vs system",
            Metric::PeakRss => "peak RSS",
            Metric::Fragmentation => "fragmentation",
            Metric::Instructions => "instructions/call",
            Metric::SystemInstructions => "system instructions/call",
        }
    }

    pub fn higher_is_better(self) -> bool {
        self == Metric::SpeedVsSystem
    }

    /// Chosen so that repeated runs of an unchanged build on a busy 2-CPU machine stay inside
    /// them, while a few dozen nanoseconds more per call do not.
    pub fn default_tolerance(self) -> Tolerance {
        match self {
            Metric::SpeedVsSystem => Tolerance { pct: 15.0, slack: 0.0 },
            Metric::PeakRss => Tolerance { pct: 10.0, slack: 512.0 * 1024.0 },
            Metric::Fragmentation => Tolerance { pct: 10.0, slack: 0.05 },
            // Counts repeat to about 0.1%; this leaves room for compiler and C library versions.
            Metric::Instructions => Tolerance { pct: 3.0, slack: 0.0 },
            // Beyond this either way, the workload has changed. The C library's own count varies
            // by up to 1% on two threads.
            Metric::SystemInstructions => Tolerance { pct: 3.0, slack: 0.0 },
        }
    }

    pub fn format(self, v: f64) -> String {
        match self {
            Metric::SpeedVsSystem => format!("{v:.2}x"),
            Metric::PeakRss => crate::units::bytes(v.max(0.0).round() as u64),
            Metric::Fragmentation => format!("{v:.2}"),
            Metric::Instructions | Metric::SystemInstructions => format!("{v:.1}"),
        }
    }
}

/// One measured figure of one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub workload: String,
    pub threads: usize,
    pub metric: Metric,
    /// Allocator calls per thread of each run: a figure is only compared with a baseline
    /// taken with the same count.
    pub ops: u64,
    pub value: f64,
    /// The lowest and highest repetition, where there were several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64)>,
    /// Each repetition's value, as measured (not kept in the baseline).
    #[serde(skip)]
    pub samples: Vec<f64>,
}

impl Figure {
    /// The median of `samples`, with their range.
    pub fn from_samples(workload: &str, threads: usize, metric: Metric, ops: u64, samples: Vec<f64>) -> Figure {
        Figure {
            workload: workload.to_string(),
            threads,
            metric,
            ops,
            value: median(samples.clone()),
            range: range(&samples),
            samples,
        }
    }

    /// Adds the repetitions of another measurement of the same figure.
    pub fn absorb(&mut self, other: &Figure) {
        self.samples.extend_from_slice(&other.samples);
        self.value = median(self.samples.clone());
        self.range = range(&self.samples);
    }

    pub fn same_measure(&self, other: &Figure) -> bool {
        self.workload == other.workload && self.threads == other.threads && self.metric == other.metric
    }

    /// The figure of `figures` that measures the same as this one over the same call count.
    pub fn counterpart_in<'a>(&self, figures: &'a [Figure]) -> Option<&'a Figure> {
        figures.iter().find(|o| o.same_measure(self) && o.ops == self.ops)
    }
}

/// The median, or 0 for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The lowest and highest value, for two or more.
pub fn range(v: &[f64]) -> Option<(f64, f64)> {
    (v.len() > 1)
        .then(|| (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max)))
}
