//! The markdown file: the command, the machine, the table (every column, the best figure of
//! each workload and thread count in bold) and the notes.

use super::{columns, groups, marked_cells, notes, summary};
use crate::bench::BenchReport;
use crate::layout::Align;

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
    let cols = columns();
    let header: Vec<&str> = cols.iter().map(|c| c.header).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    let align: Vec<&str> = cols.iter().map(|c| if c.align == Align::Left { "---" } else { "--:" }).collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for g in groups(&report.runs) {
        for row in marked_cells(&g, report.settings.clock_resolution_ns) {
            let row: Vec<String> = row
                .into_iter()
                .map(|c| match c.strip_suffix('*') {
                    Some(best) => format!("**{best}**"),
                    None => c.trim_end().to_string(),
                })
                .collect();
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
    out.push('\n');
    let comparisons = summary::compare(&report.runs);
    if !comparisons.is_empty() {
        out.push_str(&format!("{}\n\n", summary::heading(&comparisons)));
        out.push_str("| first / other | cases | ops/s | ops/CPU s | peak RSS |\n| --- | --: | --: | --: | --: |\n");
        for c in &comparisons {
            out.push_str(&format!(
                "| {} / {} | {} | {:.2}x | {:.2}x | {:.2}x |\n",
                c.first, c.other, c.cases, c.speed, c.cpu_speed, c.peak_rss
            ));
        }
        out.push('\n');
    }
    for n in notes(report) {
        out.push_str(&format!("- {}\n", n.replace("* marks", "Bold marks")));
    }
    if !charts.is_empty() {
        out.push('\n');
        for c in charts {
            out.push_str(&format!("![{c}]({c})\n"));
        }
    }
    out
}
