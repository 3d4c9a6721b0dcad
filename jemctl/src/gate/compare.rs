//! Each figure measured now against the baseline's figure of the same workload, threads and
//! metric, within a tolerance; the verdicts and the outcome.

use super::{Figure, Metric, Tolerance};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within tolerance.
    Ok,
    /// Better than the baseline by more than the tolerance: passes; worth a new baseline.
    Improved,
    /// Worse than the baseline by more than the tolerance.
    Regressed,
    /// No baseline figure with the same operation count: nothing to compare with.
    New,
    /// The workload itself changed since the baseline: its figures cannot be compared.
    Stale,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Improved => "improved",
            Verdict::Regressed => "REGRESSED",
            Verdict::New => "new",
            Verdict::Stale => "STALE",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub workload: String,
    pub threads: usize,
    pub metric: Metric,
    pub baseline: Option<f64>,
    pub now: f64,
    /// Relative change, in percent of the baseline.
    pub change_pct: Option<f64>,
    /// The lowest and highest repetition now.
    pub range: Option<(f64, f64)>,
    pub tolerance: Tolerance,
    pub verdict: Verdict,
}

impl Row {
    /// What the tolerance allows, as text: "-15%" for a figure where higher is better,
    /// "+10% +512.0 KiB" for one where lower is, "±3%" for the C library's counts.
    pub fn allowed(&self) -> String {
        let sign = match self.metric {
            Metric::SystemInstructions => '±',
            m if m.higher_is_better() => '-',
            _ => '+',
        };
        let mut s = format!("{sign}{}%", self.tolerance.pct);
        if self.tolerance.slack > 0.0 {
            s.push_str(&format!(" {sign}{}", self.metric.format(self.tolerance.slack)));
        }
        s
    }

    pub fn change(&self) -> String {
        self.change_pct.map_or_else(|| "-".into(), |c| format!("{c:+.1}%"))
    }
}

/// The verdict on one figure.
pub fn verdict(metric: Metric, baseline: f64, now: f64, tolerance: Tolerance) -> Verdict {
    let allowed = baseline.abs() * tolerance.pct / 100.0 + tolerance.slack;
    let worse_by = if metric.higher_is_better() { baseline - now } else { now - baseline };
    if worse_by > allowed {
        Verdict::Regressed
    } else if -worse_by > allowed {
        Verdict::Improved
    } else {
        Verdict::Ok
    }
}

/// Compares every figure measured now with the baseline's, each within its `tolerance`.
pub fn compare(baseline: &[Figure], now: &[Figure], tolerance: &dyn Fn(&Figure) -> Tolerance) -> Vec<Row> {
    now.iter()
        .map(|f| {
            let tolerance = tolerance(f);
            let base = f.counterpart_in(baseline).map(|b| b.value);
            let verdict = base.map_or(Verdict::New, |b| verdict(f.metric, b, f.value, tolerance));
            Row {
                workload: f.workload.clone(),
                threads: f.threads,
                metric: f.metric,
                baseline: base,
                now: f.value,
                change_pct: base.filter(|&b| b != 0.0).map(|b| 100.0 * (f.value - b) / b),
                range: f.range,
                tolerance,
                verdict,
            }
        })
        .collect()
}

/// Marks every figure of a workload whose C-library instruction count moved beyond its
/// tolerance, either way, as [`Verdict::Stale`]; returns those workloads as `name xTHREADS`.
pub fn mark_stale(rows: &mut [Row]) -> Vec<String> {
    let changed: Vec<(String, usize)> = rows
        .iter()
        .filter(|r| {
            r.metric == Metric::SystemInstructions && matches!(r.verdict, Verdict::Regressed | Verdict::Improved)
        })
        .map(|r| (r.workload.clone(), r.threads))
        .collect();
    for r in rows.iter_mut() {
        if changed.iter().any(|(w, t)| *w == r.workload && *t == r.threads) {
            r.verdict = Verdict::Stale;
        }
    }
    changed.into_iter().map(|(w, t)| format!("{w} x{t}")).collect()
}

/// One line per regressed figure: where, how much, and what was allowed.
pub fn regressions(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.verdict == Verdict::Regressed)
        .map(|r| {
            format!(
                "{} x{} {}: {} -> {} ({}, allowed {})",
                r.workload,
                r.threads,
                r.metric.label(),
                r.baseline.map_or_else(|| "-".into(), |b| r.metric.format(b)),
                r.metric.format(r.now),
                r.change(),
                r.allowed()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(metric: Metric, value: f64) -> Figure {
        Figure { workload: "small-loop".into(), threads: 1, metric, ops: 100, value, range: None, samples: Vec::new() }
    }

    #[test]
    fn a_slower_candidate_beyond_tolerance_regresses_and_noise_within_it_passes() {
        let t = Tolerance { pct: 15.0, slack: 0.0 };
        assert_eq!(verdict(Metric::SpeedVsSystem, 1.00, 0.80, t), Verdict::Regressed);
        assert_eq!(verdict(Metric::SpeedVsSystem, 1.00, 0.86, t), Verdict::Ok);
        assert_eq!(verdict(Metric::SpeedVsSystem, 1.00, 1.14, t), Verdict::Ok);
        assert_eq!(verdict(Metric::SpeedVsSystem, 1.00, 1.20, t), Verdict::Improved);
    }

    #[test]
    fn lower_is_better_for_memory_and_instructions_and_slack_absorbs_small_figures() {
        let t = Tolerance { pct: 10.0, slack: 1000.0 };
        assert_eq!(verdict(Metric::PeakRss, 10_000.0, 11_900.0, t), Verdict::Ok);
        assert_eq!(verdict(Metric::PeakRss, 10_000.0, 12_100.0, t), Verdict::Regressed);
        assert_eq!(verdict(Metric::PeakRss, 10_000.0, 7_900.0, t), Verdict::Improved);
        let exact = Tolerance { pct: 3.0, slack: 0.0 };
        assert_eq!(verdict(Metric::Instructions, 50.0, 51.4, exact), Verdict::Ok);
        assert_eq!(verdict(Metric::Instructions, 50.0, 51.6, exact), Verdict::Regressed);
    }

    #[test]
    fn figures_pair_by_workload_metric_and_operation_count() {
        let base = vec![fig(Metric::SpeedVsSystem, 1.0), fig(Metric::Instructions, 50.0)];
        let mut other_count = fig(Metric::Instructions, 500.0);
        other_count.ops = 200;
        let now = vec![fig(Metric::SpeedVsSystem, 0.5), other_count, fig(Metric::PeakRss, 1.0)];
        let rows = compare(&base, &now, &|f| f.metric.default_tolerance());
        assert_eq!(
            rows.iter().map(|r| r.verdict).collect::<Vec<_>>(),
            [Verdict::Regressed, Verdict::New, Verdict::New]
        );
        assert_eq!(rows[0].change_pct, Some(-50.0));
        let lines = regressions(&rows);
        assert_eq!(lines, ["small-loop x1 speed vs system: 1.00x -> 0.50x (-50.0%, allowed -15%)"]);
    }

    #[test]
    fn a_workload_whose_c_library_count_moved_is_stale_not_regressed() {
        let realloc = |metric, value| {
            let mut f = fig(metric, value);
            f.workload = "realloc".into();
            f
        };
        let base = [
            fig(Metric::Instructions, 50.0),
            fig(Metric::SystemInstructions, 80.0),
            realloc(Metric::Instructions, 100.0),
            realloc(Metric::SystemInstructions, 200.0),
        ];
        let now = [
            fig(Metric::Instructions, 50.5),
            fig(Metric::SystemInstructions, 80.4),
            realloc(Metric::Instructions, 120.0),
            realloc(Metric::SystemInstructions, 230.0),
        ];
        let mut rows = compare(&base, &now, &|f| f.metric.default_tolerance());
        assert_eq!(rows[2].verdict, Verdict::Regressed);
        assert_eq!(mark_stale(&mut rows), ["realloc x1"]);
        let verdicts: Vec<Verdict> = rows.iter().map(|r| r.verdict).collect();
        assert_eq!(verdicts, [Verdict::Ok, Verdict::Ok, Verdict::Stale, Verdict::Stale]);
        assert!(regressions(&rows).is_empty());
    }

    #[test]
    fn the_tolerance_option_replaces_the_percentage() {
        let (base, now) = ([fig(Metric::SpeedVsSystem, 1.0)], [fig(Metric::SpeedVsSystem, 0.5)]);
        let rows = compare(&base, &now, &|f| crate::gate::suite::tolerance(f, Some(60.0)));
        assert_eq!(rows[0].verdict, Verdict::Ok);
        assert_eq!(rows[0].allowed(), "-60%");
        let rows = compare(&base, &now, &|f| crate::gate::suite::tolerance(f, None));
        assert_eq!((rows[0].verdict, rows[0].allowed().as_str()), (Verdict::Regressed, "-15%"));
    }
}
