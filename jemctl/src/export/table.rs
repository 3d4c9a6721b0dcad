//! The terminal table.

use super::{notes, row, HEADER};
use crate::bench::BenchReport;
use comfy_table::{presets::UTF8_FULL_CONDENSED, CellAlignment, ContentArrangement, Table};

pub fn render(report: &BenchReport) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(HEADER);
    for r in &report.runs {
        t.add_row(row(r, report.settings.clock_resolution_ns));
    }
    for i in 1..HEADER.len() {
        if i != 2 {
            if let Some(c) = t.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    let m = &report.machine;
    let mut out =
        format!("{}, {} CPUs, load average {:.1} at the start, {}\n{t}\n", m.cpu, m.logical_cpus, m.load_average[0], m.date);
    for n in notes(report) {
        out.push_str(&format!("- {n}\n"));
    }
    out
}
