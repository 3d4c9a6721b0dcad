//! A markdown table, for a CI job's summary page (`$GITHUB_STEP_SUMMARY`).

use super::{legend, row, summary, GateReport, HEADER};

pub fn render(report: &GateReport) -> String {
    let mut out = format!("## jemctl gate: {}\n\n**{}**\n\n", report.candidate, summary(report));
    out.push_str(&format!("Against `{}`, on {} ({}).\n\n", report.baseline, report.machine.cpu, report.machine.date));
    out.push_str(&format!("| {} |\n", HEADER.join(" | ")));
    let align: Vec<&str> = (0..HEADER.len()).map(|i| if matches!(i, 0 | 2 | 8) { "---" } else { "--:" }).collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for r in &report.rows {
        let mut cells = row(r);
        if r.verdict == crate::gate::compare::Verdict::Regressed {
            cells[8] = format!("**{}**", cells[8]);
        }
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
    for n in legend(report).iter().chain(&report.notes) {
        out.push_str(&format!("- {n}\n"));
    }
    out
}
