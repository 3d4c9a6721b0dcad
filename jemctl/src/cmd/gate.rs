//! `jemctl gate`: run the gate's suite on a candidate allocator and compare it with the
//! baseline; exit 1 if a figure regressed beyond its tolerance, 2 if the baseline is missing
//! or unusable. With `--update`, write the figures as the new baseline instead.

use crate::allocator::AllocatorSpec;
use crate::cli::{GateArgs, GateMode};
use crate::error::usage;
use crate::gate::baseline::{self, Baseline, Section};
use crate::gate::export::{self, GateReport};
use crate::gate::{compare, instructions, suite, time, Figure, Mode};
use crate::machine::Machine;
use anyhow::{bail, Result};

pub fn run(args: GateArgs) -> Result<()> {
    let modes = match args.mode {
        GateMode::Time => vec![Mode::Time],
        GateMode::Instructions => vec![Mode::Instructions],
        GateMode::All => vec![Mode::Time, Mode::Instructions],
    };
    let candidate = AllocatorSpec::parse(&args.candidate).map_err(|e| usage(format!("--candidate: {e:#}")))?;
    let cases = suite::select(&args.workloads, &modes)?;
    let old = previous_baseline(&args, &modes)?;
    super::table_choice(&args.table, &crate::layout::Table::new(export::table::columns()))?;

    let bar = super::progress_bar();
    let mut progress = |done: usize, total: usize, label: &str| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(label.to_string());
    };
    let mut measured: Vec<(Mode, Vec<Figure>)> = Vec::new();
    let mut notes = Vec::new();
    for &mode in &modes {
        let (figures, mut n) = match mode {
            Mode::Time => time::measure(&candidate, &cases, args.repeat, &mut progress)?,
            Mode::Instructions => instructions::measure(&candidate, &cases, &mut progress)?,
        };
        notes.append(&mut n);
        measured.push((mode, figures));
    }

    let machine = Machine::detect();
    for (mode, _) in &measured {
        if let Some(s) = old.as_ref().and_then(|b| b.section(*mode, &machine)) {
            notes.extend(mismatch_notes(*mode, s, &candidate, &machine));
        }
    }
    let tolerance = |f: &Figure| suite::tolerance(f, args.tolerance);
    let compare_all = |measured: &[(Mode, Vec<Figure>)]| -> (Vec<compare::Row>, Vec<String>) {
        let mut rows: Vec<compare::Row> = measured
            .iter()
            .flat_map(|(mode, figures)| {
                let base = old.as_ref().map_or_else(Vec::new, |b| b.figures(*mode, &machine));
                compare::compare(&base, figures, &tolerance)
            })
            .collect();
        let stale = compare::mark_stale(&mut rows);
        (rows, stale)
    };
    let (mut rows, mut stale) = compare_all(&measured);

    // A burst of load on a shared machine can push a time figure past its tolerance; one that
    // regressed is measured again and judged on both measurements' repetitions together,
    // which a burst rarely spoils, and a real regression does not escape.
    let suspects: Vec<&suite::Case> = cases
        .iter()
        .copied()
        .filter(|c| {
            rows.iter().any(|r| {
                r.verdict == compare::Verdict::Regressed
                    && r.metric.mode() == Mode::Time
                    && r.workload == c.workload
                    && r.threads == c.threads
            })
        })
        .collect();
    if !suspects.is_empty() && !args.update {
        let (again, _) = time::measure(&candidate, &suspects, args.repeat, &mut progress)?;
        for (_, figures) in measured.iter_mut().filter(|(m, _)| *m == Mode::Time) {
            time::absorb(figures, &again);
        }
        let names: Vec<String> = suspects.iter().map(|c| format!("{} x{}", c.workload, c.threads)).collect();
        notes.push(format!(
            "measured again after a first regression, and judged on {} repetitions: {}",
            2 * args.repeat,
            names.join(", ")
        ));
        (rows, stale) = compare_all(&measured);
    }
    bar.finish_and_clear();
    let regressions = compare::regressions(&rows);
    if !stale.is_empty() && !args.update {
        notes.push(format!(
            "the C library's malloc runs a different number of instructions on {} than when the baseline was \
             recorded: the workload changed, so its figures are not compared",
            stale.join(", ")
        ));
    }
    if !rows.iter().all(|r| r.verdict == compare::Verdict::Ok) && !args.update {
        notes.push(format!(
            "if a change is intended, record it with `jemctl gate --update --mode {}` and commit {}",
            mode_arg(args.mode),
            args.baseline.display()
        ));
    }
    let report = GateReport {
        command: command_line(),
        candidate: candidate.label().to_string(),
        baseline: args.baseline.display().to_string(),
        machine: machine.clone(),
        rows,
        notes,
        passed: (regressions.is_empty() && stale.is_empty()) || args.update,
        recorded: args.update,
    };
    let choice = super::table_choice(&args.table, &export::table::table(&report))?;
    print!("{}", export::table::render(&report, &choice, crate::layout::width()));
    if let Some(path) = &args.json {
        export::json::write(&report, path)?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, export::markdown::render(&report))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }

    if args.update {
        let new = updated_baseline(old, measured, &args, &candidate, &machine);
        baseline::write(&new, &args.baseline)?;
        eprintln!("wrote {}; commit it to make it the baseline", args.baseline.display());
        return Ok(());
    }
    if !regressions.is_empty() {
        bail!("{} regressed:\n  {}", candidate.label(), regressions.join("\n  "));
    }
    if !stale.is_empty() {
        let workloads: Vec<String> =
            stale.iter().map(|w| format!("-w {}", w.split(' ').next().unwrap_or_default())).collect();
        return Err(usage(format!(
            "the baseline is out of date for {}, whose workload changed; record their figures again with \
             `jemctl gate --update --mode all {}` and commit {}",
            stale.join(", "),
            workloads.join(" "),
            args.baseline.display()
        )));
    }
    Ok(())
}

/// The baseline to compare with: it must exist and have every mode's figures, except with
/// --update, which replaces an unusable one.
fn previous_baseline(args: &GateArgs, modes: &[Mode]) -> Result<Option<Baseline>> {
    if args.update {
        return match baseline::read(&args.baseline) {
            Ok(b) => Ok(Some(b)),
            Err(e) if args.baseline.exists() => {
                eprintln!("note: replacing {}: {e:#}", args.baseline.display());
                Ok(None)
            }
            Err(_) => Ok(None),
        };
    }
    let b = baseline::read(&args.baseline)?;
    for &m in modes {
        baseline::require(&b, m, &args.baseline)?;
    }
    Ok(Some(b))
}

/// The old baseline with the measured modes' sections replaced; a run of some workloads
/// only keeps the other workloads' figures of the same kind of machine, and `--widen` keeps
/// the worse of each time figure's old and new value.
fn updated_baseline(
    old: Option<Baseline>,
    measured: Vec<(Mode, Vec<Figure>)>,
    args: &GateArgs,
    candidate: &AllocatorSpec,
    machine: &Machine,
) -> Baseline {
    let mut new = old.unwrap_or_default();
    for (mode, mut figures) in measured {
        if let (false, Some(s)) = (args.workloads.is_empty(), new.own_section(mode, machine)) {
            figures.extend(s.figures.iter().filter(|f| !args.workloads.contains(&f.workload)).cloned());
        }
        let mut section = Section {
            machine: machine.clone(),
            command: command_line(),
            candidate: candidate.label().to_string(),
            reference: (mode == Mode::Time).then(|| "system".to_string()),
            repeat: (mode == Mode::Time).then_some(args.repeat),
            figures,
        };
        if let (true, Mode::Time, Some(old)) = (args.widen, mode, new.own_section(mode, machine)) {
            section.widen(old);
        }
        new.set_section(mode, section);
    }
    new
}

fn mode_arg(mode: GateMode) -> &'static str {
    match mode {
        GateMode::Time => "time",
        GateMode::Instructions => "instructions",
        GateMode::All => "all",
    }
}

/// Notes when the baseline was taken of another allocator or on another machine.
fn mismatch_notes(mode: Mode, section: &Section, candidate: &AllocatorSpec, machine: &Machine) -> Vec<String> {
    let mut notes = Vec::new();
    if section.candidate != candidate.label() {
        notes.push(format!(
            "the {} baseline measured {}; this run measured {}",
            mode.name(),
            section.candidate,
            candidate.label()
        ));
    }
    if section.machine.cpu != machine.cpu || section.machine.libc != machine.libc {
        notes.push(format!(
            "the {} baseline was recorded on {} ({}), this run is on {} ({}): figures depend on the machine; \
             if they differ throughout, record a baseline on this kind of machine",
            mode.name(),
            section.machine.cpu,
            section.machine.libc,
            machine.cpu,
            machine.libc
        ));
    }
    notes
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("jemctl {}", args.join(" "))
}
