//! Exporters of the gate's comparison: one module per output format of a [`GateReport`].

pub mod html;
pub mod json;
pub mod markdown;
pub mod table;

use super::compare::{Row, Verdict};
use super::Metric;
use crate::machine::Machine;
use serde::{Deserialize, Serialize};

/// What the gate found, as every exporter sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GateReport {
    /// The command line that ran the gate.
    #[serde(default)]
    pub command: String,
    pub candidate: String,
    pub baseline: String,
    pub machine: Machine,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub passed: bool,
    /// The figures were written as the new baseline (--update).
    pub recorded: bool,
}

pub const HEADER: [&str; 9] =
    ["workload", "threads", "metric", "baseline", "now", "runs", "change", "allowed", "verdict"];

pub fn row(r: &Row) -> [String; 9] {
    let m = r.metric;
    [
        r.workload.clone(),
        r.threads.to_string(),
        m.label().to_string(),
        r.baseline.map_or_else(|| "-".into(), |b| m.format(b)),
        m.format(r.now),
        r.range.map_or_else(|| "-".into(), |(lo, hi)| format!("{}..{}", m.format(lo), m.format(hi))),
        r.change(),
        r.allowed(),
        r.verdict.label().to_string(),
    ]
}

/// The one-line outcome.
pub fn summary(report: &GateReport) -> String {
    let count = |v: Verdict| report.rows.iter().filter(|r| r.verdict == v).count();
    let (regressed, improved, new) = (count(Verdict::Regressed), count(Verdict::Improved), count(Verdict::New));
    let stale = count(Verdict::Stale);
    if report.recorded {
        return format!(
            "recorded {} figures as the new baseline; verdicts compare them with the old one",
            report.rows.len()
        );
    }
    let mut s = if regressed > 0 {
        format!("FAILED: {regressed} of {} figures regressed", report.rows.len())
    } else if stale > 0 {
        format!("STALE BASELINE: {stale} figures of changed workloads cannot be compared")
    } else {
        format!("passed: {} figures within tolerance", report.rows.len() - improved - new - stale)
    };
    if improved > 0 {
        s.push_str(&format!(", {improved} improved"));
    }
    if new > 0 {
        s.push_str(&format!(", {new} without a baseline"));
    }
    s
}

/// How to read the figures of the metrics the report has.
pub fn legend(report: &GateReport) -> Vec<String> {
    let has = |metrics: &[Metric]| report.rows.iter().any(|r| metrics.contains(&r.metric));
    let mut lines = Vec::new();
    if has(&[Metric::SpeedVsSystem]) {
        lines.push(
            "speed vs system: calls per CPU second over the C library malloc's, run side by side; the median ratio \
             (runs: lowest..highest). Higher is better."
                .to_string(),
        );
    }
    if has(&[Metric::PeakRss, Metric::Fragmentation]) {
        lines.push(
            "peak RSS: above the RSS before the workload; fragmentation: that over the peak live bytes. Lower is better."
                .to_string(),
        );
    }
    if has(&[Metric::Instructions, Metric::SystemInstructions]) {
        lines.push(
            "instr/call: instructions per allocator call under callgrind, the workload's own included. Lower is \
             better; repeats to about 0.1%."
                .to_string(),
        );
        lines.push(
            "system instr/call: the same for the C library's malloc; beyond 3% the workload changed, its figures are \
             STALE and need recording again."
                .to_string(),
        );
    }
    lines
}
