//! The markdown file: the command, the machine, the table and the notes.

use super::{notes, row, HEADER};
use crate::bench::BenchReport;

pub fn render(report: &BenchReport, charts: &[String]) -> String {
    let m = &report.machine;
    let mut out = String::from("# jemctl bench\n\n");
    if !report.settings.command.is_empty() {
        out.push_str(&format!("```sh\n{}\n```\n\n", report.settings.command));
    }
    out.push_str(&format!(
        "{}, {} logical CPUs, {}, Linux {}, {}; {}; load average {:.1} / {:.1} / {:.1} at the start.\n\n",
        m.cpu, m.logical_cpus, m.arch, m.kernel, m.libc, m.date, m.load_average[0], m.load_average[1], m.load_average[2]
    ));
    out.push_str(&format!("| {} |\n", HEADER.join(" | ")));
    let align: Vec<&str> = (0..HEADER.len()).map(|i| if i == 0 || i == 2 { "---" } else { "--:" }).collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for r in &report.runs {
        out.push_str(&format!("| {} |\n", row(r, report.settings.clock_resolution_ns).join(" | ")));
    }
    out.push('\n');
    for n in notes(report) {
        out.push_str(&format!("- {n}\n"));
    }
    if !charts.is_empty() {
        out.push('\n');
        for c in charts {
            out.push_str(&format!("![{c}]({c})\n"));
        }
    }
    out
}
