//! `jemctl report FILE.json`: a saved benchmark as a terminal table, a markdown file and SVG
//! charts (throughput by threads, latency CDF), written beside the JSON or in `--out-dir`.

use crate::cli::ReportArgs;
use crate::export;
use anyhow::{Context, Result};

pub fn run(args: ReportArgs) -> Result<()> {
    let report = export::json::read(&args.file)?;
    let choice = super::table_choice(&args.table, &export::table::table(&report))?;
    print!("{}", export::table::render(&report, &choice, crate::layout::width()));
    let dir = args.out_dir.clone().unwrap_or_else(|| args.file.parent().map(|p| p.to_path_buf()).unwrap_or_default());
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let stem = args.file.file_stem().map_or_else(|| "bench".into(), |s| s.to_string_lossy().into_owned());
    let throughput = format!("{stem}-throughput.svg");
    let latency = format!("{stem}-latency.svg");
    export::svg::throughput(&report, &dir.join(&throughput))?;
    export::svg::latency(&report, &dir.join(&latency))?;
    let markdown = dir.join(format!("{stem}.md"));
    std::fs::write(&markdown, export::markdown::render(&report, &[throughput, latency]))
        .with_context(|| format!("cannot write {}", markdown.display()))?;
    eprintln!("wrote {} and its charts", markdown.display());
    Ok(())
}
