//! The gate's comparison as a self-contained HTML page: the outcome first, then how to run it
//! again, the verdicts (regressions in red) and the legend.

use super::{legend, row, summary, GateReport, HEADER};
use crate::export::html::{esc, machine_line, notes_list, page};

pub fn render(report: &GateReport) -> String {
    let passed = report.passed;
    let mut body = format!(
        "<h1>jemctl gate: {}</h1>\n<p class=\"outcome {}\" id=\"outcome\">{}</p>\n",
        esc(&report.candidate),
        if passed { "pass" } else { "fail" },
        esc(&summary(report))
    );
    body.push_str(&format!("<p>Against <code>{}</code>.</p>\n{}", esc(&report.baseline), machine_line(&report.machine)));
    if !report.command.is_empty() {
        body.push_str(&format!("<h2>Run it again</h2>\n<pre id=\"command\">{}</pre>\n", esc(&report.command)));
    }
    body.push_str("<h2>Verdicts</h2>\n<table id=\"verdicts\">\n<thead><tr>");
    for (i, h) in HEADER.iter().enumerate() {
        let class = if matches!(i, 0 | 2 | 8) { "" } else { " class=\"num\"" };
        body.push_str(&format!("<th{class}>{}</th>", esc(h)));
    }
    body.push_str("</tr></thead>\n<tbody>\n");
    let mut last = None;
    for r in &report.rows {
        let key = (r.workload.clone(), r.threads);
        body.push_str(if last.as_ref() != Some(&key) { "<tr class=\"group\">" } else { "<tr>" });
        last = Some(key);
        for (i, cell) in row(r).iter().enumerate() {
            let class = match i {
                8 => format!(" class=\"verdict-{}\"", cell.to_ascii_lowercase()),
                0 | 2 => String::new(),
                _ => " class=\"num\"".to_string(),
            };
            body.push_str(&format!("<td{class}>{}</td>", esc(cell)));
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</tbody>\n</table>\n");
    let notes: Vec<String> = legend(report).into_iter().chain(report.notes.iter().cloned()).collect();
    body.push_str(&notes_list(&notes));
    page(&format!("jemctl gate: {}", summary(report)), &body)
}
