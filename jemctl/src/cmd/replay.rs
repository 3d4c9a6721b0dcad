//! `jemctl replay FILE`: replays a recorded trace on each allocator in a fresh child process
//! (`jemctl __replay-one`), interleaved within each repetition, and shows the bench table and
//! JSON with `workload` = `replay:<name>`.

use crate::allocator::{self, AllocatorSpec};
use crate::bench::{self, child, BenchReport, Settings};
use crate::cli::ReplayArgs;
use crate::export;
use crate::machine::Machine;
use crate::trace;
use crate::units;
use anyhow::{bail, Context, Result};

pub fn run(args: ReplayArgs) -> Result<()> {
    super::table_choice(&args.table, &crate::layout::Table::new(export::columns()))?;
    let (specs, mut notes) = if args.allocators.is_empty() {
        allocator::defaults()
    } else {
        (allocator::parse_all(&args.allocators)?, Vec::new())
    };
    let loaded = trace::load(&args.file, args.allow_truncated)?;
    let plan = trace::plan::build(&loaded.trace, &loaded.objects);
    let name = format!("replay:{}", trace::name(&args.file));
    let threads = plan.threads.len();
    if plan.calls() == 0 {
        bail!("{} has no calls to replay", args.file.display());
    }
    eprintln!(
        "{name}: {} calls on {threads} thread(s), {} objects, peak {} live{}",
        plan.calls(),
        plan.sizes.len(),
        units::bytes(plan.peak_live_bytes),
        if plan.skipped > 0 {
            format!("; {} calls of the trace are not replayed (failed, NULL or unknown frees)", plan.skipped)
        } else {
            String::new()
        }
    );
    drop(plan);
    drop(loaded);

    let mut launches = Vec::new();
    for spec in &specs {
        let (launch, note) = child::probe(spec)?;
        notes.extend(note);
        launches.push(launch);
    }
    let mut samples = vec![Vec::new(); specs.len()];
    let mut failed = Vec::new();
    for rep in 0..args.repeat {
        for (i, spec) in specs.iter().enumerate() {
            eprintln!(
                "[{}/{}] {name} on {}",
                rep as usize * specs.len() + i + 1,
                args.repeat as usize * specs.len(),
                spec.label()
            );
            match child::replay(spec, &launches[i], &args.file, args.sample_every, args.allow_truncated) {
                Ok(s) => samples[i].push(s),
                Err(e) => failed.push(format!("{e:#}")),
            }
        }
    }
    let mut runs: Vec<bench::RunResult> = specs
        .iter()
        .zip(&launches)
        .zip(&samples)
        .filter(|(_, s)| !s.is_empty())
        .map(|((spec, launch), s)| {
            let loaded = match spec {
                AllocatorSpec::Library { .. } => launch.describe(),
                _ => "in-process".to_string(),
            };
            bench::aggregate(spec.label(), &name, threads, &loaded, s)
        })
        .collect();
    bench::fill_relative(&mut runs);

    let peaks: Vec<u64> = samples.iter().flatten().map(|s| s.peak_live_bytes).collect();
    if peaks.windows(2).any(|w| w[0] != w[1]) {
        bail!("the replays disagree on the peak of live bytes ({peaks:?}): the trace was not replayed alike");
    }
    if let Some(&peak) = peaks.first() {
        notes.push(format!(
            "Replayed {} calls of {} on {threads} thread(s), keeping the trace's cross-thread order; peak live bytes {} ({peak} B), \
             identical on every allocator: a property of the trace, not of the allocator.",
            runs.first().map_or(0, |r| r.ops),
            args.file.display(),
            units::bytes(peak)
        ));
    }
    if let Some(r) = runs.first() {
        notes.push(format!(
            "peak RSS includes the replay's own copy of the trace, about {} (the RSS before the run); frag leaves it out.",
            units::bytes(r.baseline_rss_bytes)
        ));
    }
    let per_call: Vec<String> = runs
        .iter()
        .map(|r| format!("{} {:.1} ns", r.allocator, if r.ops_per_sec > 0.0 { 1e9 / r.ops_per_sec } else { 0.0 }))
        .collect();
    notes.push(format!("Time per call (wall time of the replay threads over their calls): {}.", per_call.join(", ")));
    let first = samples.iter().flatten().next();
    let report = BenchReport {
        machine: Machine::detect(),
        settings: Settings {
            command: format!("jemctl {}", std::env::args().skip(1).collect::<Vec<_>>().join(" ")),
            duration_seconds: None,
            ops_per_thread: None,
            repeat: args.repeat,
            seed: 0,
            sample_every: args.sample_every,
            clock: first.map(|s| s.clock.clone()).unwrap_or_default(),
            clock_overhead_ns: first.map_or(0, |s| s.clock_overhead_ns),
            clock_resolution_ns: first.map_or(0, |s| s.clock_resolution_ns),
        },
        notes,
        runs,
        failed,
    };
    let choice = super::table_choice(&args.table, &export::table::table(&report))?;
    print!("{}", export::table::render(&report, &choice, crate::layout::width()));
    if let Some(path) = &args.json {
        export::json::write(&report, path)?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, export::markdown::render(&report, &[]))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !report.failed.is_empty() {
        bail!("{} replay(s) failed; see FAILED above", report.failed.len());
    }
    Ok(())
}
