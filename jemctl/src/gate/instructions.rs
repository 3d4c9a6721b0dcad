//! The instructions suite: each case runs on the candidate under valgrind's callgrind, which
//! counts the instructions the workload's threads execute (collection is on only inside the
//! workload's thread function, so start-up, clock calibration and the runner's RSS sampling
//! are left out). A second run of the same case with zero operations counts what the threads
//! do besides the measured part (their set-up and tear-down); the difference over the number
//! of calls is the figure. The C library's malloc is counted the same way: its figure moves
//! only when the workload does, and tells a changed workload from a slower candidate.
//!
//! Counts do not depend on the machine's load, so one run each is enough. Valgrind runs one
//! thread at a time, so a two-thread case counts repeatably too; counts vary only by the few
//! instructions a thread spends waiting for the others at the start and end.

use super::suite::Case;
use super::{Figure, Metric};
use crate::allocator::AllocatorSpec;
use crate::bench::child::{self, ChildRun, Launch};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Callgrind collects while this function runs: every workload's `Shared::thread`.
const COLLECT_IN: &str = "<workloads::catalog::*as workloads::catalog::Shared>::thread";

/// Runs `cases` under callgrind; `progress` hears (done, total, label) before each step.
/// Returns the figures and the runner's notes.
pub fn measure(
    candidate: &AllocatorSpec,
    cases: &[&Case],
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<(Vec<Figure>, Vec<String>)> {
    check_valgrind()?;
    let (launch, note) = child::probe(candidate)?;
    let dir = Scratch::new()?;
    let cases: Vec<&Case> = cases.iter().copied().filter(|c| c.instruction_ops.is_some()).collect();
    let mut figures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        progress(i, cases.len(), &format!("{} under callgrind", case.workload));
        let ops = case.instruction_ops.unwrap_or(0);
        for (spec, launch, metric) in [
            (candidate, &launch, Metric::Instructions),
            (&AllocatorSpec::System, &Launch::Plain, Metric::SystemInstructions),
        ] {
            let per_call = per_call(spec, launch, case, ops, &dir.0)?;
            figures.push(Figure::from_samples(case.workload, case.threads, metric, ops, vec![per_call]));
        }
    }
    progress(cases.len(), cases.len(), "");
    Ok((figures, note.into_iter().collect()))
}

/// Instructions per call of `spec` on `case`: a run of `ops` calls less a run of none.
fn per_call(spec: &AllocatorSpec, launch: &Launch, case: &Case, ops: u64, dir: &Path) -> Result<f64> {
    let count = |ops: u64| -> Result<(u64, u64)> {
        let out = dir.join(format!("{}-{ops}.callgrind", case.workload));
        let wrapper = [
            "valgrind".to_string(),
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", out.display()),
            "--collect-atstart=no".into(),
            format!("--toggle-collect={COLLECT_IN}"),
        ];
        let sample = child::run(&ChildRun {
            spec,
            launch,
            workload: case.workload,
            threads: case.threads,
            duration: None,
            ops_per_thread: Some(ops),
            seed: 1,
            sample_every: 0,
            wrapper: &wrapper,
        })?;
        Ok((sample.ops, total_instructions(&out)?))
    };
    let (_, idle) = count(0)?;
    let (calls, busy) = count(ops)?;
    if idle == 0 || calls == 0 {
        bail!(
            "callgrind counted nothing in the workload's thread ({COLLECT_IN}) on {}: is jemctl built with its symbols?",
            case.workload
        );
    }
    Ok(busy.saturating_sub(idle) as f64 / calls as f64)
}

fn check_valgrind() -> Result<()> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(anyhow!(
            "valgrind not found: --mode instructions counts instructions with valgrind's callgrind; \
             install valgrind (`apt-get install valgrind`) or gate with --mode time"
        )),
    }
}

/// The `totals:` (or, failing that, `summary:`) line of a callgrind output file: the
/// instructions executed while collection was on.
fn total_instructions(path: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("callgrind wrote no {}", path.display()))?;
    parse_totals(&text).ok_or_else(|| anyhow!("{} has no totals line", path.display()))
}

fn parse_totals(text: &str) -> Option<u64> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    field("totals:").or_else(|| field("summary:"))
}

/// A directory for callgrind's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("jemctl-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn totals_are_read_from_callgrind_output() {
        let text = "version: 1\ncmd: jemctl\nevents: Ir\nsummary: 900\nfn=(1) main\n5 10\ntotals: 8416020\n";
        assert_eq!(super::parse_totals(text), Some(8_416_020));
        assert_eq!(super::parse_totals("events: Ir\nsummary: 77\n"), Some(77));
        assert_eq!(super::parse_totals("events: Ir\n"), None);
    }
}
