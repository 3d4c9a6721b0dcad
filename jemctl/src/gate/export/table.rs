//! The terminal table.

use super::{legend, row, summary, GateReport, HEADER};
use comfy_table::{presets::UTF8_FULL_CONDENSED, CellAlignment, ContentArrangement, Table};

pub fn render(report: &GateReport) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(HEADER);
    for r in &report.rows {
        t.add_row(row(r));
    }
    for i in [1, 3, 4, 5, 6, 7] {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!(
        "gate: {} against {} ({}, {})\n{t}\n",
        report.candidate, report.baseline, report.machine.cpu, report.machine.date
    );
    for n in legend(report).iter().chain(&report.notes) {
        out.push_str(&format!("- {n}\n"));
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}
