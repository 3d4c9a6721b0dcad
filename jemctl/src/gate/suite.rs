//! The gate's suite: a few workloads that cover the allocator's main paths (the small-object
//! fast path, bins, aligned and resized blocks, large classes, phase-shifting memory use,
//! cross-thread frees, random-size churn and the purging of large runs), each sized to run
//! about a tenth of a second so that the whole suite stays short on a 2-CPU machine.

use super::{Figure, Metric, Mode, Tolerance};
use crate::error::usage;
use anyhow::Result;

#[derive(Debug)]
pub struct Case {
    pub workload: &'static str,
    pub threads: usize,
    /// Allocator calls per thread in the time suite; `None`: not in it.
    pub time_ops: Option<u64>,
    /// Allocator calls per thread in the instructions suite; `None`: not in it.
    pub instruction_ops: Option<u64>,
    /// Memory figures gated: the workload keeps enough live (a MiB or more) for its peak RSS
    /// to say something about the allocator.
    pub memory: bool,
}

#[rustfmt::skip]
pub const SUITE: [Case; 10] = [
    Case { workload: "small-loop", threads: 1, time_ops: Some(20_000_000), instruction_ops: Some(100_000), memory: false },
    Case { workload: "small-batch", threads: 1, time_ops: Some(10_000_000), instruction_ops: Some(100_000), memory: false },
    Case { workload: "aligned", threads: 1, time_ops: Some(2_000_000), instruction_ops: Some(50_000), memory: false },
    Case { workload: "realloc", threads: 1, time_ops: Some(3_000_000), instruction_ops: Some(50_000), memory: false },
    Case { workload: "fragmentation", threads: 1, time_ops: Some(3_000_000), instruction_ops: Some(100_000), memory: true },
    // The C library spends most of this one in the kernel, so its speed ratio says little.
    Case { workload: "medium", threads: 1, time_ops: None, instruction_ops: Some(20_000), memory: false },
    // Cross-thread frees. Its speed ratio on two shared CPUs follows the machine's load (1.8x
    // at a load average of 16, 3.1x at 4), so only its instructions are gated: valgrind runs
    // one thread at a time, and the count repeats to about 0.1%.
    Case { workload: "larson", threads: 2, time_ops: None, instruction_ops: Some(100_000), memory: false },
    // glibc's benchtest: random-size churn over a fixed working set, served by the thread cache.
    Case { workload: "bench-malloc-thread", threads: 1, time_ops: Some(10_000_000), instruction_ops: Some(100_000), memory: false },
    // rpmalloc's benchmark: mixed sizes to 16 KB through calloc and memalign, batches handed on.
    // On one thread its counts repeat; on two, which thread frees a batch varies from run to run
    // and so do the counts (by 8%), so larson stands for cross-thread frees. Instructions only:
    // its speed ratio is mostly memset's.
    Case { workload: "rptest", threads: 1, time_ops: None, instruction_ops: Some(20_000), memory: false },
    // Large runs churned past the dirty-page allowance: purging policy, speed and memory.
    Case { workload: "large-churn", threads: 1, time_ops: Some(300_000), instruction_ops: None, memory: true },
];

impl Case {
    pub fn ops(&self, mode: Mode) -> Option<u64> {
        match mode {
            Mode::Time => self.time_ops,
            Mode::Instructions => self.instruction_ops,
        }
    }

    /// The figures this case gives in `mode`.
    pub fn metrics(&self, mode: Mode) -> Vec<Metric> {
        match (mode, self.ops(mode)) {
            (_, None) => Vec::new(),
            (Mode::Instructions, Some(_)) => vec![Metric::Instructions, Metric::SystemInstructions],
            (Mode::Time, Some(_)) if self.memory => vec![Metric::SpeedVsSystem, Metric::PeakRss, Metric::Fragmentation],
            (Mode::Time, Some(_)) => vec![Metric::SpeedVsSystem],
        }
    }
}

/// The tolerance of `figure`: its metric's, with `pct` as the percentage if given (except for
/// the C library's counts, whose tolerance tells a changed workload).
pub fn tolerance(figure: &Figure, pct: Option<f64>) -> Tolerance {
    let mut t = figure.metric.default_tolerance();
    if let Some(p) = pct.filter(|_| figure.metric != Metric::SystemInstructions) {
        t.pct = p;
    }
    t
}

/// The cases to run in any of `modes`, all of them or those of the named workloads.
pub fn select(workloads: &[String], modes: &[Mode]) -> Result<Vec<&'static Case>> {
    for w in workloads {
        if !SUITE.iter().any(|c| c.workload == w) {
            let names: Vec<&str> = SUITE.iter().map(|c| c.workload).collect();
            return Err(usage(format!("workload '{w}' is not in the gate's suite; it has: {}", names.join(", "))));
        }
    }
    let cases: Vec<&Case> = SUITE
        .iter()
        .filter(|c| workloads.is_empty() || workloads.iter().any(|w| w == c.workload))
        .filter(|c| modes.iter().any(|&m| c.ops(m).is_some()))
        .collect();
    if cases.is_empty() {
        let modes: Vec<&str> = modes.iter().map(|m| m.name()).collect();
        return Err(usage(format!("none of these workloads is in the {} suite", modes.join(" or "))));
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_a_workload_in_one_suite_at_least() {
        for c in &SUITE {
            assert!(workloads::find(c.workload).is_some(), "{}", c.workload);
            assert!(c.time_ops.is_some() || c.instruction_ops.is_some(), "{}", c.workload);
            assert!(!c.memory || c.time_ops.is_some(), "{}", c.workload);
        }
    }

    #[test]
    fn selecting_an_unknown_or_absent_workload_is_a_usage_error() {
        assert_eq!(select(&[], &[Mode::Time]).unwrap().len(), SUITE.iter().filter(|c| c.time_ops.is_some()).count());
        let e = select(&["threadtest".into()], &[Mode::Time]).unwrap_err();
        assert!(
            e.downcast_ref::<crate::error::UsageError>().is_some() && e.to_string().contains("not in the gate's suite")
        );
        assert!(select(&["medium".into()], &[Mode::Time]).is_err());
        assert_eq!(select(&["medium".into()], &[Mode::Instructions]).unwrap().len(), 1);
    }
}
