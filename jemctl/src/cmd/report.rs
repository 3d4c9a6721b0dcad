//! `jemctl report FILE.json`: a saved benchmark as a terminal table, a markdown file and SVG
//! charts (speed beside memory per workload, latency CDF), written beside the JSON or in
//! `--out-dir`; with `--html`, also one self-contained HTML page. A gate's JSON
//! (`jemctl gate --json`) gives its table, markdown and, with `--html`, a page of verdicts.

use crate::bench::BenchReport;
use crate::cli::ReportArgs;
use crate::export;
use crate::gate::export::{self as gate_export, GateReport};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub fn run(args: ReportArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.file.display()))?;
    let dir = args.out_dir.clone().unwrap_or_else(|| args.file.parent().map(|p| p.to_path_buf()).unwrap_or_default());
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let stem = args.file.file_stem().map_or_else(|| "bench".into(), |s| s.to_string_lossy().into_owned());
    if value.get("rows").is_some() && value.get("candidate").is_some() {
        let report: GateReport = serde_json::from_value(value)
            .with_context(|| format!("{} is not a jemctl gate comparison", args.file.display()))?;
        return gate(&args, &report, &dir, &stem);
    }
    let report: BenchReport = serde_json::from_value(value)
        .with_context(|| format!("{} is not a jemctl bench result or gate comparison", args.file.display()))?;
    bench(&args, &report, &dir, &stem)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn html_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.html"))
}

fn bench(args: &ReportArgs, report: &BenchReport, dir: &Path, stem: &str) -> Result<()> {
    let choice = super::table_choice(&args.table, &export::table::table(report))?;
    print!("{}", export::table::render(report, &choice, crate::layout::width()));
    let overview = format!("{stem}-overview.svg");
    let latency = format!("{stem}-latency.svg");
    export::svg::overview(report, &dir.join(&overview))?;
    export::svg::latency(report, &dir.join(&latency))?;
    let markdown = dir.join(format!("{stem}.md"));
    write(&markdown, &export::markdown::render(report, &[overview, latency]))?;
    if args.html {
        let html = html_path(dir, stem);
        write(&html, &export::html::render(report))?;
        eprintln!("wrote {}, its charts, and {}", markdown.display(), html.display());
    } else {
        eprintln!("wrote {} and its charts", markdown.display());
    }
    Ok(())
}

fn gate(args: &ReportArgs, report: &GateReport, dir: &Path, stem: &str) -> Result<()> {
    let choice = super::table_choice(&args.table, &gate_export::table::table(report))?;
    print!("{}", gate_export::table::render(report, &choice, crate::layout::width()));
    let markdown = dir.join(format!("{stem}.md"));
    write(&markdown, &gate_export::markdown::render(report))?;
    if args.html {
        let html = html_path(dir, stem);
        write(&html, &gate_export::html::render(report))?;
        eprintln!("wrote {} and {}", markdown.display(), html.display());
    } else {
        eprintln!("wrote {}", markdown.display());
    }
    Ok(())
}
