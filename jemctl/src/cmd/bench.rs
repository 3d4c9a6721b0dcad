//! `jemctl bench`: measure allocators on workloads and show them side by side.

use crate::allocator;
use crate::bench::{self, BenchConfig, BenchReport};
use crate::cli::BenchArgs;
use crate::export;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Duration;

pub fn run(args: BenchArgs) -> Result<()> {
    super::table_choice(&args.table, &crate::layout::Table::new(export::columns()))?;
    let (allocators, mut notes) = if args.allocators.is_empty() {
        allocator::defaults()
    } else {
        (allocator::parse_all(&args.allocators)?, Vec::new())
    };
    let workloads =
        if args.workloads.is_empty() { workloads::all().iter().map(|w| w.name.to_string()).collect() } else { args.workloads.clone() };
    let threads = args.threads.clone().map_or_else(|| vec![std::thread::available_parallelism().map_or(1, |n| n.get())], |t| t.0);
    let duration = match (args.ops, args.duration) {
        (Some(_), _) => None,
        (None, Some(s)) => Some(Duration::from_secs_f64(s)),
        (None, None) => Some(Duration::from_millis(if args.quick { 100 } else { 1000 })),
    };
    let config = BenchConfig {
        allocators,
        workloads,
        threads,
        duration,
        ops_per_thread: args.ops,
        repeat: args.repeat,
        seed: args.seed,
        sample_every: args.sample_every,
    };

    let bar = super::progress_bar();
    let result = bench::run(&config, &mut |step| {
        bar.set_length(step.total as u64);
        bar.set_position(step.done as u64);
        bar.set_message(step.label.to_string());
    });
    bar.finish_and_clear();
    let mut report = result?;
    notes.append(&mut report.notes);
    report.notes = notes;
    report.settings.command = command_line();

    let choice = super::table_choice(&args.table, &export::table::table(&report))?;
    print!("{}", export::table::render(&report, &choice, crate::layout::width()));
    if let Some(path) = &args.json {
        export::json::write(&report, path)?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, export::markdown::render(&report, &[]))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.save {
        let path = saved_path(&args, &report);
        export::json::write(&report, &path)?;
        eprintln!("saved {}; render it with `jemctl report {}`", path.display(), path.display());
    }
    if !report.failed.is_empty() {
        anyhow::bail!("{} measurement(s) failed; see FAILED above", report.failed.len());
    }
    Ok(())
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("jemctl {}", args.join(" "))
}

/// `results/bench[-quick]-YYYY-MM-DD-HHMM-<machine>.json`.
fn saved_path(args: &BenchArgs, report: &BenchReport) -> PathBuf {
    let d = &report.machine.date;
    let stamp = format!("{}-{}{}", &d[..10], &d[11..13], &d[14..16]);
    let kind = if args.quick { "bench-quick" } else { "bench" };
    args.results_dir.join(format!("{kind}-{stamp}-{}.json", report.machine.name))
}
