//! The terminal table: one group of rows per workload, the columns that fit the width (see
//! [`crate::layout`]; `runs` is shown by `--wide` or `--columns`), then the legend, the notes
//! and the outcome.

use super::{legend, row, summary, GateReport};
use crate::gate::Metric;
use crate::layout::{self, Align, Choice, Column, Table};

pub fn columns() -> Vec<Column> {
    vec![
        Column::new("workload", "workload", Align::Left).group(),
        Column::new("metric", "metric", Align::Left),
        Column::new("baseline", "baseline", Align::Right),
        Column::new("now", "now", Align::Right),
        Column::new("runs", "runs", Align::Right).optional(),
        Column::new("change", "change", Align::Right),
        Column::new("allowed", "allowed", Align::Right).yields(1),
        Column::new("verdict", "verdict", Align::Left),
    ]
}

/// The table's name for a metric: short enough for 80 columns.
fn short_label(m: Metric) -> &'static str {
    match m {
        Metric::Instructions => "instr/call",
        Metric::SystemInstructions => "system instr/call",
        other => other.label(),
    }
}

pub fn table(report: &GateReport) -> Table {
    let mut t = Table::new(columns());
    let mut last = None;
    for r in &report.rows {
        let workload = format!("{} x{}", r.workload, r.threads);
        if last.as_ref() != Some(&workload) {
            t.group_break();
        }
        let [_, _, _, baseline, now, runs, change, allowed, verdict] = row(r);
        t.row(vec![workload.clone(), short_label(r.metric).to_string(), baseline, now, runs, change, allowed, verdict]);
        last = Some(workload);
    }
    t
}

pub fn render(report: &GateReport, choice: &Choice, width: usize) -> String {
    let rendered = table(report).render(choice, width);
    let head = format!(
        "gate: {} against {} ({}, {})",
        report.candidate, report.baseline, report.machine.cpu, report.machine.date
    );
    let mut out = layout::wrap(&head, width, "  ").join("\n");
    out.push_str("\n\n");
    out.push_str(&rendered.text);
    out.push('\n');
    let mut notes: Vec<String> = legend(report).into_iter().chain(report.notes.iter().cloned()).collect();
    if !rendered.left_out.is_empty() {
        notes.insert(
            0,
            format!("Left out to fit {width} columns: {} (--wide shows every column).", rendered.left_out.join(", ")),
        );
    }
    out.push_str(&layout::notes(&notes, width.min(layout::DEFAULT_WIDTH)));
    out.push_str(&summary(report));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::compare::{Row, Verdict};
    use crate::gate::Tolerance;

    fn row(workload: &str, metric: Metric, baseline: f64, now: f64, tolerance: Tolerance, verdict: Verdict) -> Row {
        Row {
            workload: workload.into(),
            threads: if workload == "larson" { 2 } else { 1 },
            metric,
            baseline: Some(baseline),
            now,
            change_pct: Some(100.0 * (now - baseline) / baseline),
            range: Some((now * 0.9, now * 1.1)),
            tolerance,
            verdict,
        }
    }

    #[test]
    fn the_gate_table_fits_80_100_and_120_columns() {
        let pct = |pct| Tolerance { pct, slack: 0.0 };
        let rows = vec![
            row("fragmentation", Metric::SpeedVsSystem, 1.31, 0.32, pct(15.0), Verdict::Regressed),
            row("fragmentation", Metric::PeakRss, 9.0e6, 9.1e6, Tolerance { pct: 10.0, slack: 524288.0 }, Verdict::Ok),
            row("fragmentation", Metric::Fragmentation, 1.21, 1.22, Tolerance { pct: 10.0, slack: 0.05 }, Verdict::Ok),
            row("fragmentation", Metric::Instructions, 157.5, 181.5, pct(3.0), Verdict::Regressed),
            row("fragmentation", Metric::SystemInstructions, 1157.5, 1157.6, pct(3.0), Verdict::Ok),
            row("larson", Metric::Instructions, 82.6, 205.3, pct(3.0), Verdict::Regressed),
        ];
        let report = GateReport {
            command: String::new(),
            candidate: "libslow_malloc.so".into(),
            baseline: "results/baseline.json".into(),
            machine: Default::default(),
            rows,
            notes: vec![],
            passed: false,
            recorded: false,
        };
        for w in [80, 100, 120] {
            let text = render(&report, &Choice::Default, w);
            assert!(text.lines().all(|l| l.chars().count() <= w), "at {w}:\n{text}");
            assert_eq!(text.lines().filter(|l| l.starts_with("fragmentation x1 ")).count(), 1, "{text}");
            assert!(text.contains("larson x2"));
            assert_eq!(text.matches("REGRESSED").count(), 3);
            assert!(text.contains("system instr/call"));
            let header = text.lines().find(|l| l.starts_with("workload")).unwrap();
            assert_eq!(header.contains("allowed"), w >= 100, "{text}");
            assert_eq!(text.contains("+10% +512.0 KiB"), w >= 100, "{text}");
        }
        assert!(render(&report, &Choice::Wide, 80).contains("0.29x..0.35x"));
    }
}
