//! The baseline file (`results/baseline.json`, committed): one section per [`Mode`], each with
//! the machine and date it was recorded on, the candidate it measured and its figures. Speed
//! ratios depend on the kind of machine, so the time figures may be kept for several kinds:
//! `time` for one, `time_elsewhere` for the others, each section named by its machine; a run
//! is compared with its own kind's figures, and with `time`'s for those its kind lacks.
//!
//! ```json
//! { "format": "jemctl-gate-baseline/1",
//!   "time": { "machine": {...}, "command": "jemctl gate --update", "candidate": "jemalloc-rs",
//!             "reference": "system", "repeat": 7,
//!             "figures": [ { "workload": "small-loop", "threads": 1, "metric": "speed-vs-system",
//!                            "ops": 20000000, "value": 1.12, "range": [1.05, 1.19] }, ... ] },
//!   "time_elsewhere": [ { "machine": {...}, ... } ],
//!   "instructions": { ... } }
//! ```
//!
//! Reading fails with a [`crate::error::UsageError`] (exit 2) that says how to regenerate the
//! file when it is missing, is not JSON, is of another format, or lacks a needed section.

use super::{Figure, Mode};
use crate::error::usage;
use crate::machine::Machine;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT: &str = "jemctl-gate-baseline/1";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Section>,
    /// Time sections recorded on other kinds of machine than `time`'s, one per kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_elsewhere: Vec<Section>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Section>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Section {
    pub machine: Machine,
    pub command: String,
    /// The allocator measured, as tables label it.
    pub candidate: String,
    /// What speeds are relative to, if they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    pub figures: Vec<Figure>,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline { format: FORMAT.to_string(), time: None, time_elsewhere: Vec::new(), instructions: None }
    }
}

impl Section {
    /// Keeps, for each figure that `old` has too (the same measure and call count), the worse
    /// of the two values (the lower speed, the higher memory or count) and both ranges
    /// together. For a kind of machine whose hosts differ (two AMD EPYC 2-CPU hosts put the
    /// same build's fragmentation x1 at 2.9x and 2.5x of the C library), recording on each
    /// host with this gives a baseline that every one of them meets on an unchanged build.
    pub fn widen(&mut self, old: &Section) {
        for f in &mut self.figures {
            let Some(o) = f.counterpart_in(&old.figures) else { continue };
            let (lo, hi) = f.range.unwrap_or((f.value, f.value));
            let (olo, ohi) = o.range.unwrap_or((o.value, o.value));
            f.range = Some((lo.min(olo), hi.max(ohi)));
            f.value = if f.metric.higher_is_better() { f.value.min(o.value) } else { f.value.max(o.value) };
        }
    }
}

impl Baseline {
    /// The section of `mode` recorded on `machine`'s kind (any for instruction counts).
    pub fn own_section(&self, mode: Mode, machine: &Machine) -> Option<&Section> {
        match mode {
            Mode::Time => self.time.iter().chain(&self.time_elsewhere).find(|s| s.machine.name == machine.name),
            Mode::Instructions => self.instructions.as_ref(),
        }
    }

    /// The section a run of `mode` on `machine` is mostly compared with: its kind's, else
    /// the first.
    pub fn section(&self, mode: Mode, machine: &Machine) -> Option<&Section> {
        self.own_section(mode, machine).or(match mode {
            Mode::Time => self.time.as_ref(),
            Mode::Instructions => None,
        })
    }

    /// The figures a run of `mode` on `machine` is compared with: its kind's section's, and
    /// the first section's for measures that one lacks.
    pub fn figures(&self, mode: Mode, machine: &Machine) -> Vec<Figure> {
        let own = self.own_section(mode, machine).map_or(&[][..], |s| &s.figures[..]);
        let first = match mode {
            Mode::Time => self.time.as_ref().map_or(&[][..], |s| &s.figures[..]),
            Mode::Instructions => &[][..],
        };
        let missing = first.iter().filter(|f| f.counterpart_in(own).is_none());
        own.iter().chain(missing).cloned().collect()
    }

    /// Records `section`, replacing the one of its mode (for time figures, of its kind of
    /// machine; a new kind joins `time_elsewhere`).
    pub fn set_section(&mut self, mode: Mode, section: Section) {
        match mode {
            Mode::Time => match &self.time {
                Some(t) if t.machine.name != section.machine.name => {
                    match self.time_elsewhere.iter_mut().find(|s| s.machine.name == section.machine.name) {
                        Some(s) => *s = section,
                        None => self.time_elsewhere.push(section),
                    }
                }
                _ => self.time = Some(section),
            },
            Mode::Instructions => self.instructions = Some(section),
        }
    }
}

fn regenerate(path: &Path) -> String {
    format!("regenerate it with `jemctl gate --update --mode all --baseline {}` and commit it", path.display())
}

/// Reads and checks a baseline.
pub fn read(path: &Path) -> Result<Baseline> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(usage(format!(
                "no baseline at {}: record one on an unchanged build with `jemctl gate --update --mode all --baseline {}` and commit it",
                path.display(),
                path.display()
            )))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text)
        .map_err(|why| usage(format!("{} is not a usable gate baseline: {why}; {}", path.display(), regenerate(path))))
}

/// Parses a baseline, or says what is wrong with it.
pub fn parse(text: &str) -> std::result::Result<Baseline, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("its format is '{other}', this jemctl reads '{FORMAT}'")),
        None => return Err(format!("it has no \"format\": \"{FORMAT}\" field")),
    }
    let baseline: Baseline =
        serde_json::from_value(value).map_err(|e| format!("it does not have the expected fields ({e})"))?;
    for section in baseline.time.iter().chain(&baseline.time_elsewhere).chain(&baseline.instructions) {
        if let Some(f) = section.figures.iter().find(|f| !f.value.is_finite() || f.value < 0.0) {
            return Err(format!("{} {} has the value {}", f.workload, f.metric.label(), f.value));
        }
    }
    Ok(baseline)
}

/// The section for `mode`, or a usage error saying how to record it.
pub fn require(baseline: &Baseline, mode: Mode, path: &Path) -> Result<()> {
    if baseline.section(mode, &Machine::detect()).is_none() {
        return Err(usage(format!(
            "{} has no {} figures: record them with `jemctl gate --update --mode {} --baseline {}` and commit it",
            path.display(),
            mode.name(),
            mode.name(),
            path.display()
        )));
    }
    Ok(())
}

pub fn write(baseline: &Baseline, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(baseline)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Metric;

    fn figure(value: f64) -> Figure {
        Figure {
            workload: "small-loop".into(),
            threads: 1,
            metric: Metric::SpeedVsSystem,
            ops: 10,
            value,
            range: Some((0.9, 1.1)),
            samples: Vec::new(),
        }
    }

    #[test]
    fn a_written_baseline_reads_back() {
        let mut b = Baseline::default();
        let section = Section {
            machine: Machine::detect(),
            command: "jemctl gate --update".into(),
            candidate: "jemalloc-rs".into(),
            reference: Some("system".into()),
            repeat: Some(7),
            figures: vec![figure(1.0)],
        };
        b.set_section(Mode::Time, section);
        let text = serde_json::to_string_pretty(&b).unwrap();
        let back = parse(&text).unwrap();
        assert_eq!(back.time.unwrap().figures, vec![figure(1.0)]);
        assert!(back.instructions.is_none());
    }

    fn section_on(name: &str, value: f64) -> Section {
        let mut machine = Machine::detect();
        machine.name = name.into();
        Section {
            machine,
            command: "jemctl gate --update".into(),
            candidate: "jemalloc-rs".into(),
            reference: Some("system".into()),
            repeat: Some(7),
            figures: vec![figure(value)],
        }
    }

    #[test]
    fn time_figures_are_kept_and_found_per_kind_of_machine() {
        let mut b = Baseline::default();
        b.set_section(Mode::Time, section_on("intel-xeon-2cpu", 1.0));
        b.set_section(Mode::Time, section_on("amd-epyc-2cpu", 2.0));
        b.set_section(Mode::Time, section_on("amd-epyc-2cpu", 3.0));
        b.set_section(Mode::Time, section_on("intel-xeon-2cpu", 4.0));
        let back = parse(&serde_json::to_string_pretty(&b).unwrap()).unwrap();
        assert_eq!(back.time_elsewhere.len(), 1, "one section per kind");
        let on = |name: &str| {
            let mut m = Machine::detect();
            m.name = name.into();
            back.section(Mode::Time, &m).unwrap().figures[0].value
        };
        assert_eq!(on("intel-xeon-2cpu"), 4.0);
        assert_eq!(on("amd-epyc-2cpu"), 3.0);
        // A kind with no section of its own is compared with the first.
        assert_eq!(on("arm-neoverse-4cpu"), 4.0);
        // Measures a kind's section lacks are taken from the first.
        let mut b = back;
        let mut other = figure(5.0);
        other.workload = "aligned".into();
        b.time.as_mut().unwrap().figures.push(other);
        let mut amd = Machine::detect();
        amd.name = "amd-epyc-2cpu".into();
        let figures: Vec<(String, f64)> =
            b.figures(Mode::Time, &amd).into_iter().map(|f| (f.workload, f.value)).collect();
        assert_eq!(figures, [("small-loop".to_string(), 3.0), ("aligned".to_string(), 5.0)]);
    }

    #[test]
    fn widening_keeps_the_worse_figure_of_each_measure_and_both_ranges() {
        let mut old = section_on("amd-epyc-2cpu", 2.9);
        old.figures[0].range = Some((2.5, 3.3));
        let mut rss = figure(8.0);
        rss.metric = Metric::PeakRss;
        rss.range = None;
        old.figures.push(rss.clone());
        let mut new = section_on("amd-epyc-2cpu", 2.5);
        new.figures[0].range = Some((2.2, 2.8));
        rss.value = 7.0;
        new.figures.push(rss);
        let mut only_new = figure(1.5);
        only_new.workload = "aligned".into();
        new.figures.push(only_new);
        let mut other_ops = figure(9.0);
        other_ops.ops += 1;
        new.figures.push(other_ops);
        new.widen(&old);
        let got: Vec<(f64, Option<(f64, f64)>)> = new.figures.iter().map(|f| (f.value, f.range)).collect();
        assert_eq!(
            got,
            [
                (2.5, Some((2.2, 3.3))), // speed: the lower, both ranges
                (8.0, Some((7.0, 8.0))), // memory: the higher
                (1.5, Some((0.9, 1.1))), // no old figure: as measured
                (9.0, Some((0.9, 1.1))), // another call count: as measured
            ]
        );
    }

    #[test]
    fn malformed_baselines_say_what_is_wrong() {
        assert!(parse("{ not json").unwrap_err().contains("not JSON"));
        assert!(parse("{}").unwrap_err().contains("no \"format\""));
        assert!(parse(r#"{"format": "jemctl-gate-baseline/0"}"#)
            .unwrap_err()
            .contains("format is 'jemctl-gate-baseline/0'"));
        assert!(parse(r#"{"format": "jemctl-gate-baseline/1", "time": {"figures": 3}}"#)
            .unwrap_err()
            .contains("expected fields"));
        assert!(parse(r#"{"format": "jemctl-gate-baseline/1"}"#).is_ok());
    }
}
