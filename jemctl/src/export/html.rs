//! The HTML report: one self-contained file (inline CSS and SVG, nothing fetched) to attach to
//! a pull request. First what a reader wants to know (who was fastest, on what machine, how to
//! run it again), then the charts, the full table (best figures in bold) and the notes.

use super::{columns, groups, marked_cells, notes, svg};
use crate::bench::BenchReport;
use crate::layout::Align;
use crate::machine::Machine;

pub const STYLE: &str = "
body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1100px;
       color: #222; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.machine { color: #555; margin: 0 0 12px; }
pre { background: #f4f4f4; padding: 8px 12px; border-radius: 4px; overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e3e3; white-space: nowrap; }
th { background: #f0f0f0; text-align: left; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.group td { border-top: 2px solid #bbb; }
td.best { font-weight: bold; background: #e8f4ea; }
.verdict-regressed, .verdict-stale { color: #b00020; font-weight: bold; }
.verdict-improved { color: #1b7a2f; font-weight: bold; }
.outcome { font-size: 18px; font-weight: bold; padding: 8px 12px; border-radius: 4px; display: inline-block; }
.outcome.pass { background: #e8f4ea; color: #1b5e20; } .outcome.fail { background: #fde7ea; color: #b00020; }
.chart { margin: 12px 0; overflow-x: auto; }
ul.notes { color: #444; font-size: 13px; }
.winners li { margin: 2px 0; }
";

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

pub fn machine_line(m: &Machine) -> String {
    format!(
        "<p class=\"machine\" id=\"machine\">{}, {} logical CPUs, {}, Linux {}, {}; {}; load average {:.1} / {:.1} / \
         {:.1} at the start.</p>\n",
        esc(&m.cpu),
        m.logical_cpus,
        esc(&m.arch),
        esc(&m.kernel),
        esc(&m.libc),
        esc(&m.date),
        m.load_average[0],
        m.load_average[1],
        m.load_average[2]
    )
}

pub fn notes_list(notes: &[String]) -> String {
    let items: String = notes.iter().map(|n| format!("<li>{}</li>\n", esc(n))).collect();
    format!("<ul class=\"notes\">\n{items}</ul>\n")
}

/// The command that runs the same measurement again: the saved one, else one rebuilt from
/// the runs and settings.
pub fn reproducing_command(report: &BenchReport) -> String {
    if !report.settings.command.is_empty() {
        return report.settings.command.clone();
    }
    let uniq = |f: &dyn Fn(&crate::bench::RunResult) -> String| {
        let mut v: Vec<String> = Vec::new();
        for r in &report.runs {
            let x = f(r);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v
    };
    let s = &report.settings;
    let mut cmd = String::from("jemctl bench");
    for a in uniq(&|r| r.allocator.clone()) {
        cmd.push_str(&format!(" -a {a}"));
    }
    for w in uniq(&|r| r.workload.clone()) {
        cmd.push_str(&format!(" -w {w}"));
    }
    cmd.push_str(&format!(" --threads {}", uniq(&|r| r.threads.to_string()).join(",")));
    match (s.ops_per_thread, s.duration_seconds) {
        (Some(ops), _) => cmd.push_str(&format!(" --ops {ops}")),
        (None, Some(d)) => cmd.push_str(&format!(" --duration {d}")),
        _ => {}
    }
    cmd.push_str(&format!(" --repeat {} --seed {} --sample-every {}", s.repeat, s.seed, s.sample_every));
    cmd
}

/// Per workload and thread count, the fastest allocator and its ratio to system.
fn winners(report: &BenchReport) -> String {
    let mut out = String::from("<ul class=\"winners\" id=\"winners\">\n");
    for g in groups(&report.runs) {
        let Some(best) = g.iter().max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec)) else { continue };
        let ratio = best.relative_to_system.map_or_else(String::new, |x| format!(", {x:.2}x system"));
        let lightest = g.iter().min_by_key(|r| r.peak_rss_bytes).map_or("", |r| r.allocator.as_str());
        out.push_str(&format!(
            "<li><b>{}</b> on {} threads: fastest <b>{}</b> ({}{ratio}); least memory {}</li>\n",
            esc(&best.workload),
            best.threads,
            esc(&best.allocator),
            crate::units::rate(best.ops_per_sec),
            esc(lightest)
        ));
    }
    out.push_str("</ul>\n");
    out
}

fn table(report: &BenchReport) -> String {
    let cols = columns();
    let mut out = String::from("<table id=\"results\">\n<thead><tr>");
    for c in &cols {
        let class = if c.align == Align::Right { " class=\"num\"" } else { "" };
        out.push_str(&format!("<th{class}>{}</th>", esc(c.header)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for g in groups(&report.runs) {
        for (i, row) in marked_cells(&g, report.settings.clock_resolution_ns).into_iter().enumerate() {
            out.push_str(if i == 0 { "<tr class=\"group\">" } else { "<tr>" });
            for (c, cell) in cols.iter().zip(row) {
                let (text, best) = match cell.strip_suffix('*') {
                    Some(t) => (t.to_string(), true),
                    None => (cell.trim_end().to_string(), false),
                };
                let mut class = Vec::new();
                if c.align == Align::Right {
                    class.push("num");
                }
                if best {
                    class.push("best");
                }
                let class = if class.is_empty() { String::new() } else { format!(" class=\"{}\"", class.join(" ")) };
                out.push_str(&format!("<td{class}>{}</td>", esc(&text)));
            }
            out.push_str("</tr>\n");
        }
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

pub fn render(report: &BenchReport) -> String {
    let mut body = format!("<h1>jemctl bench</h1>\n{}", machine_line(&report.machine));
    body.push_str(&format!("<h2>Run it again</h2>\n<pre id=\"command\">{}</pre>\n", esc(&reproducing_command(report))));
    body.push_str(&format!("<h2>Who won</h2>\n{}", winners(report)));
    body.push_str("<h2>Speed and memory</h2>\n<div class=\"chart\" id=\"overview\">\n");
    body.push_str(&svg::overview_svg(report));
    body.push_str("</div>\n<h2>Latency</h2>\n<div class=\"chart\" id=\"latency\">\n");
    body.push_str(&svg::latency_svg(report));
    body.push_str("</div>\n<h2>All figures</h2>\n<p>Bold: the best figure of each workload and thread count.</p>\n");
    body.push_str(&table(report));
    let n: Vec<String> = notes(report).into_iter().filter(|n| !n.starts_with("* marks")).collect();
    body.push_str(&notes_list(&n));
    page(&format!("jemctl bench, {}", report.machine.date), &body)
}
