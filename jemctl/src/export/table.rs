//! The terminal table: grouped by workload and thread count, the best figure of each group
//! marked, the columns that fit the width (see [`crate::layout`]), then the notes.

use super::{columns, groups, marked_cells, notes, summary};
use crate::bench::BenchReport;
use crate::layout::{self, Choice, Table};

pub fn table(report: &BenchReport) -> Table {
    let mut t = Table::new(columns());
    let mut last: Option<&str> = None;
    for g in groups(&report.runs) {
        if last != Some(g[0].workload.as_str()) {
            t.group_break();
        }
        last = Some(&g[0].workload);
        for row in marked_cells(&g, report.settings.clock_resolution_ns) {
            t.row(row);
        }
    }
    t
}

pub fn render(report: &BenchReport, choice: &Choice, width: usize) -> String {
    let rendered = table(report).render(choice, width);
    let m = &report.machine;
    let head = format!("{}, {} CPUs, load average {:.1} at the start, {}", m.cpu, m.logical_cpus, m.load_average[0], m.date);
    let mut out = layout::wrap(&head, width, "  ").join("\n");
    out.push_str("\n\n");
    out.push_str(&rendered.text);
    out.push('\n');
    let comparisons = summary::compare(&report.runs);
    if !comparisons.is_empty() {
        out.push('\n');
        out.push_str(&layout::wrap(&summary::heading(&comparisons), width, "  ").join("\n"));
        out.push_str("\n\n");
        out.push_str(&summary::table(&comparisons).render(&Choice::default(), width).text);
        out.push('\n');
    }
    let mut notes = notes(report);
    if !rendered.left_out.is_empty() {
        notes.insert(
            0,
            format!(
                "Left out to fit {width} columns: {} (--wide shows every column, --columns picks).",
                rendered.left_out.join(", ")
            ),
        );
    }
    out.push_str(&layout::notes(&notes, width.min(layout::DEFAULT_WIDTH)));
    out
}
