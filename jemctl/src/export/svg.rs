//! SVG charts, written by hand so that they read at a glance and inline into the HTML report:
//!
//! - [`overview`]: one row per workload, speed beside memory. With one thread count, bars per
//!   allocator: speed relative to the C library's malloc on a log scale around 1x (right of
//!   the line is faster), and peak RSS; with a sweep of thread counts, lines over threads of
//!   calls per second and of peak RSS.
//! - [`latency`]: the latency CDF of each workload at its largest thread count, percentiles in
//!   nines against a log scale of time.
//!
//! Every allocator keeps one colour in every panel; the legend sits above the panels, never
//! on the data; a scale is logarithmic where its values span more than a decade.

use crate::bench::{BenchReport, RunResult};
use crate::units;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::Path;

/// Colour-blind-safe (Okabe-Ito), then greys.
const COLOURS: [&str; 10] =
    ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442", "#777777", "#AAAAAA"];
const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";

fn ordered<'a>(runs: &'a [RunResult], key: impl Fn(&'a RunResult) -> &'a str) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for r in runs {
        let k = key(r);
        if !seen.contains(&k) {
            seen.push(k);
        }
    }
    seen
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A linear or logarithmic mapping of values onto pixels.
#[derive(Clone, Copy, Debug)]
struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    px0: f64,
    px1: f64,
}

impl Scale {
    /// A scale that holds `values` (and `always`, such as 1x), logarithmic when they span
    /// more than a decade (or when `log` forces it).
    fn fit(values: &[f64], always: Option<f64>, force_log: bool, from_zero: bool, px0: f64, px1: f64) -> Scale {
        let all: Vec<f64> = values.iter().copied().chain(always).filter(|v| v.is_finite() && *v > 0.0).collect();
        let (mut lo, mut hi) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        if all.is_empty() {
            (lo, hi) = (1.0, 10.0);
        }
        let log = force_log || (hi / lo > 10.0 && lo > 0.0);
        if log {
            Scale { lo: lo / 1.25, hi: hi * 1.35, log, px0, px1 }
        } else {
            let lo = if from_zero { 0.0 } else { lo * 0.9 };
            Scale { lo, hi: (hi * 1.12).max(lo + 1e-9), log, px0, px1 }
        }
    }

    fn map(&self, v: f64) -> f64 {
        let t = if self.log {
            (v.max(self.lo).ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        self.px0 + t.clamp(0.0, 1.0) * (self.px1 - self.px0)
    }

    /// Tick values: 1-2-5 steps on a linear scale, powers of ten (with 2 and 5 when the
    /// range is short) on a log scale.
    fn ticks(&self) -> Vec<f64> {
        let mut out = Vec::new();
        if self.log {
            let decades = (self.hi / self.lo).log10();
            let mults: &[f64] = if decades < 2.5 { &[1.0, 2.0, 5.0] } else { &[1.0] };
            // Past five decades, every other power of ten keeps the labels apart.
            let step = if decades > 5.0 { 100.0 } else { 10.0 };
            let first = if step > 10.0 { self.lo.log10().ceil() } else { self.lo.log10().floor() };
            let mut p = 10f64.powf(first);
            while p <= self.hi {
                for m in mults {
                    let v = p * m;
                    if v >= self.lo && v <= self.hi {
                        out.push(v);
                    }
                }
                p *= step;
            }
        } else {
            let raw = (self.hi - self.lo) / 5.0;
            let mag = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(mag * 10.0);
            let mut v = (self.lo / step).ceil() * step;
            while v <= self.hi + 1e-9 {
                out.push(v);
                v += step;
            }
        }
        out
    }
}

struct Svg {
    out: String,
}

impl Svg {
    fn new(w: f64, h: f64) -> Svg {
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="12"><rect width="100%" height="100%" fill="white"/>"#
        );
        Svg { out }
    }
    fn text(&mut self, x: f64, y: f64, anchor: &str, extra: &str, s: &str) {
        let _ = write!(self.out, r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" {extra}>{}</text>"#, esc(s));
    }
    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let _ = write!(self.out, r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {style}/>"#);
    }
    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str) {
        let _ = write!(self.out, r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#, w.max(0.5), h);
    }
    fn polyline(&mut self, pts: &[(f64, f64)], colour: &str) {
        let p: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(self.out, r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#, p.join(" "));
        for (x, y) in pts {
            let _ = write!(self.out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"/>"#);
        }
    }
    fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }

    /// The allocators' colours, in a row above the panels.
    fn legend(&mut self, x: f64, y: f64, allocators: &[&str]) {
        let mut cx = x;
        for (i, a) in allocators.iter().enumerate() {
            self.rect(cx, y - 9.0, 14.0, 10.0, COLOURS[i % COLOURS.len()]);
            self.text(cx + 18.0, y, "start", "", a);
            cx += 30.0 + 7.0 * a.chars().count() as f64;
        }
    }

    /// A horizontal value axis along `y` with ticks and grid lines up to `top`.
    fn x_axis(&mut self, s: &Scale, y: f64, top: f64, fmt: &dyn Fn(f64) -> String, title: &str) {
        for t in s.ticks() {
            let x = s.map(t);
            self.line(x, top, x, y, r##"stroke="#e5e5e5""##);
            self.text(x, y + 14.0, "middle", r##"fill="#444""##, &fmt(t));
        }
        self.line(s.px0, y, s.px1, y, r##"stroke="#888""##);
        self.text((s.px0 + s.px1) / 2.0, y + 30.0, "middle", r##"fill="#222""##, title);
    }

    /// A vertical value axis along `x` with ticks and grid lines across to `right`.
    fn y_axis(&mut self, s: &Scale, x: f64, right: f64, fmt: &dyn Fn(f64) -> String, title: &str) {
        for t in s.ticks() {
            let y = s.map(t);
            self.line(x, y, right, y, r##"stroke="#e5e5e5""##);
            self.text(x - 5.0, y + 4.0, "end", r##"fill="#444""##, &fmt(t));
        }
        self.line(x, s.px0, x, s.px1, r##"stroke="#888""##);
        let mid = (s.px0 + s.px1) / 2.0;
        self.text(x - 48.0, mid, "middle", &format!(r##"fill="#222" transform="rotate(-90 {:.1} {mid:.1})""##, x - 48.0), title);
    }
}

fn ratio_label(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}x")
    } else if v >= 1.0 {
        format!("{v:.1}x")
    } else {
        format!("{v:.2}x")
    }
}

/// A round duration, compactly: 10ns, 1µs, 100ms.
fn short_nanos(ns: f64) -> String {
    let (v, unit) = match ns {
        n if n >= 1e9 => (n / 1e9, "s"),
        n if n >= 1e6 => (n / 1e6, "ms"),
        n if n >= 1e3 => (n / 1e3, "µs"),
        n => (n, "ns"),
    };
    format!("{}{unit}", (v * 10.0).round() / 10.0)
}

fn mib(v: f64) -> String {
    format!("{} MiB", (v * 10.0).round() / 10.0)
}

fn short_rate(v: f64) -> String {
    units::rate(v).replace(".00 ", " ").replace(".0 ", " ")
}

const MIB: f64 = 1048576.0;
const PANEL_W: f64 = 330.0;
/// The narrowest column of allocator names; a wider one fits the longest name, at about 7 px
/// a character of the 12 px font.
const LABEL_W: f64 = 120.0;
const CHAR_W: f64 = 7.0;
const GAP_W: f64 = 40.0;
const TOP: f64 = 58.0;

/// Speed beside memory, one row per workload.
pub fn overview_svg(report: &BenchReport) -> String {
    let workloads = ordered(&report.runs, |r| &r.workload);
    let allocators = ordered(&report.runs, |r| &r.allocator);
    let threads: Vec<usize> = {
        let mut t: Vec<usize> = report.runs.iter().map(|r| r.threads).collect();
        t.sort_unstable();
        t.dedup();
        t
    };
    let sweep = threads.len() > 1;
    let row_h = if sweep { 230.0 } else { 26.0 + 18.0 * allocators.len() as f64 + 44.0 };
    let label_w = allocators.iter().map(|a| 16.0 + CHAR_W * a.chars().count() as f64).fold(LABEL_W, f64::max);
    let width = label_w + 2.0 * PANEL_W + GAP_W + 30.0;
    let height = TOP + row_h * workloads.len() as f64 + 10.0;
    let mut svg = Svg::new(width, height);
    let title = if sweep {
        "Calls per second and peak RSS over threads (higher speed, lower memory is better)".to_string()
    } else {
        format!("Speed relative to system, and peak RSS, at {} threads", threads.first().copied().unwrap_or(1))
    };
    svg.text(10.0, 20.0, "start", r#"font-size="15" font-weight="bold""#, &title);
    svg.legend(10.0, 42.0, &allocators);
    let colour = |a: &str| COLOURS[allocators.iter().position(|x| *x == a).unwrap_or(0) % COLOURS.len()];
    for (w, workload) in workloads.iter().enumerate() {
        let y0 = TOP + row_h * w as f64;
        let runs: Vec<&RunResult> = report.runs.iter().filter(|r| r.workload == *workload).collect();
        svg.line(10.0, y0 + 4.0, width - 10.0, y0 + 4.0, r##"stroke="#ccc""##);
        svg.text(10.0, y0 + 22.0, "start", r#"font-size="14" font-weight="bold""#, workload);
        let (sx0, mx0) = (label_w, label_w + PANEL_W + GAP_W);
        if sweep {
            let (top, bottom) = (y0 + 34.0, y0 + row_h - 40.0);
            let xs = Scale::fit(&threads.iter().map(|&t| t as f64).collect::<Vec<_>>(), None, true, false, 0.0, 0.0);
            let xs_at = |x0: f64| Scale { px0: x0 + 10.0, px1: x0 + PANEL_W - 10.0, ..xs };
            let thread_fmt = |v: f64| if threads.iter().any(|&t| (t as f64 - v).abs() < 1e-6) { format!("{v}") } else { String::new() };
            for (x0, value, fmt, name) in [
                (sx0, (|r: &RunResult| r.ops_per_sec) as fn(&RunResult) -> f64, &short_rate as &dyn Fn(f64) -> String, "calls/s"),
                (mx0, |r: &RunResult| r.peak_rss_bytes as f64 / MIB, &mib, "peak RSS"),
            ] {
                let values: Vec<f64> = runs.iter().map(|r| value(r)).collect();
                let ys = Scale::fit(&values, None, false, true, bottom, top);
                let xsc = Scale { lo: threads[0] as f64 / 1.2, hi: *threads.last().unwrap() as f64 * 1.2, ..xs_at(x0) };
                // Thread ticks: the measured counts only.
                for &t in &threads {
                    let x = xsc.map(t as f64);
                    svg.line(x, top, x, bottom, r##"stroke="#e5e5e5""##);
                    svg.text(x, bottom + 14.0, "middle", r##"fill="#444""##, &thread_fmt(t as f64));
                }
                svg.line(xsc.px0, bottom, xsc.px1, bottom, r##"stroke="#888""##);
                svg.text((xsc.px0 + xsc.px1) / 2.0, bottom + 30.0, "middle", r##"fill="#222""##, "threads");
                svg.y_axis(&ys, x0 + 10.0, x0 + PANEL_W - 10.0, fmt, name);
                for a in &allocators {
                    let mut pts: Vec<(f64, f64)> =
                        runs.iter().filter(|r| r.allocator == *a).map(|r| (xsc.map(r.threads as f64), ys.map(value(r)))).collect();
                    pts.sort_by(|p, q| p.0.total_cmp(&q.0));
                    if !pts.is_empty() {
                        svg.polyline(&pts, colour(a));
                    }
                }
            }
        } else {
            let bar_h = 13.0;
            let top = y0 + 32.0;
            let bottom = top + 18.0 * allocators.len() as f64;
            // Speed: bars from 1x (system) on a log scale.
            let ratios: Vec<f64> = runs.iter().filter_map(|r| r.relative_to_system).collect();
            let has_ratio = !ratios.is_empty();
            let values: Vec<f64> = if has_ratio { ratios } else { runs.iter().map(|r| r.ops_per_sec).collect() };
            let xs = Scale::fit(&values, has_ratio.then_some(1.0), has_ratio, !has_ratio, sx0 + 10.0, sx0 + PANEL_W - 40.0);
            let fmt: &dyn Fn(f64) -> String = if has_ratio { &ratio_label } else { &short_rate };
            svg.x_axis(&xs, bottom + 4.0, top - 4.0, fmt, if has_ratio { "speed vs system (log; right is faster)" } else { "calls/s" });
            let origin = if has_ratio { xs.map(1.0) } else { xs.px0 };
            let rss: Vec<f64> = runs.iter().map(|r| r.peak_rss_bytes as f64 / MIB).collect();
            let ms = Scale::fit(&rss, None, false, true, mx0 + 10.0, mx0 + PANEL_W - 60.0);
            svg.x_axis(&ms, bottom + 4.0, top - 4.0, &mib, "peak RSS (lower is better)");
            for (i, a) in allocators.iter().enumerate() {
                let y = top + 18.0 * i as f64;
                svg.text(sx0 - 6.0, y + 11.0, "end", "", a);
                let Some(r) = runs.iter().find(|r| r.allocator == *a) else { continue };
                let v = if has_ratio { r.relative_to_system.unwrap_or(0.0) } else { r.ops_per_sec };
                if v > 0.0 {
                    let x = xs.map(v);
                    svg.rect(origin.min(x), y, (x - origin).abs(), bar_h, colour(a));
                    svg.text(origin.max(x) + 4.0, y + 11.0, "start", r##"fill="#222""##, &fmt(v));
                }
                let m = ms.map(r.peak_rss_bytes as f64 / MIB);
                svg.rect(ms.px0, y, m - ms.px0, bar_h, colour(a));
                svg.text(m + 4.0, y + 11.0, "start", r##"fill="#222""##, &units::bytes(r.peak_rss_bytes));
            }
            if has_ratio {
                svg.line(origin, top - 4.0, origin, bottom + 4.0, r##"stroke="#222" stroke-dasharray="3,2""##);
            }
        }
    }
    svg.finish()
}

/// Latency CDFs, one panel per workload, three to a row.
pub fn latency_svg(report: &BenchReport) -> String {
    let workloads = ordered(&report.runs, |r| &r.workload);
    let allocators = ordered(&report.runs, |r| &r.allocator);
    let (pw, ph, cols) = (330.0, 250.0, 3usize);
    let rows = workloads.len().div_ceil(cols).max(1);
    let width = pw * cols as f64 + 20.0;
    let height = TOP + ph * rows as f64;
    let mut svg = Svg::new(width, height);
    svg.text(10.0, 20.0, "start", r#"font-size="15" font-weight="bold""#, "Latency CDF per workload (left and low is better)");
    svg.legend(10.0, 42.0, &allocators);
    let nines = |q: f64| (-(1.0 - q).max(1e-5).log10()).min(5.0);
    for (k, workload) in workloads.iter().enumerate() {
        let (x0, y0) = (10.0 + pw * (k % cols) as f64, TOP + ph * (k / cols) as f64);
        let threads = report.runs.iter().filter(|r| r.workload == *workload).map(|r| r.threads).max().unwrap_or(1);
        let runs: Vec<&RunResult> = report.runs.iter().filter(|r| r.workload == *workload && r.threads == threads).collect();
        svg.text(x0 + pw / 2.0, y0 + 16.0, "middle", r#"font-size="13" font-weight="bold""#, &format!("{workload} ({threads} threads)"));
        let (left, right, top, bottom) = (x0 + 62.0, x0 + pw - 16.0, y0 + 26.0, y0 + ph - 42.0);
        let all: Vec<f64> = runs.iter().flat_map(|r| r.latency_cdf.iter().map(|p| p.1.max(1) as f64)).collect();
        let xs = Scale::fit(&all, None, true, false, left, right);
        let ys = Scale { lo: 0.0, hi: 5.0, log: false, px0: bottom, px1: top };
        svg.x_axis(&xs, bottom, top, &short_nanos, "latency (log)");
        for n in 0..=5 {
            let y = ys.map(n as f64);
            svg.line(left, y, right, y, r##"stroke="#e5e5e5""##);
            let label = if n == 0 { "0".to_string() } else { format!("p{}", 100.0 - 100.0 / 10f64.powi(n)) };
            svg.text(left - 5.0, y + 4.0, "end", r##"fill="#444""##, &label);
        }
        svg.line(left, top, left, bottom, r##"stroke="#888""##);
        for (i, a) in allocators.iter().enumerate() {
            let Some(r) = runs.iter().find(|r| r.allocator == *a) else { continue };
            let pts: Vec<(f64, f64)> = r.latency_cdf.iter().map(|&(q, ns)| (xs.map(ns.max(1) as f64), ys.map(nines(q)))).collect();
            if !pts.is_empty() {
                let p: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = write!(
                    svg.out,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                    p.join(" "),
                    COLOURS[i % COLOURS.len()]
                );
            }
        }
    }
    svg.finish()
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub fn overview(report: &BenchReport, path: &Path) -> Result<()> {
    write(path, &overview_svg(report))
}

pub fn latency(report: &BenchReport, path: &Path) -> Result<()> {
    write(path, &latency_svg(report))
}

#[cfg(test)]
mod tests {
    use super::Scale;

    /// Every allocator's name fits left of the bars, however long it is.
    #[test]
    fn long_allocator_names_fit_in_the_overview() {
        let text = include_str!("../../tests/fixtures/bench-five-workloads.json");
        let mut report: crate::bench::BenchReport = serde_json::from_str(text).unwrap();
        let long = "libjemalloc_rs_before_the_change.so";
        for r in report.runs.iter_mut().filter(|r| r.allocator == "system") {
            r.allocator = long.into();
        }
        let svg = super::overview_svg(&report);
        let label = svg
            .split("<text ")
            .find(|t| t.contains(&format!(">{long}<")) && t.contains(r#"text-anchor="end""#))
            .expect("the long name labels its bars");
        let x: f64 = label.split('"').nth(1).unwrap().parse().unwrap();
        assert!(x >= super::CHAR_W * long.len() as f64, "a label ending at x = {x} is cut off");
    }

    #[test]
    fn scales_go_logarithmic_past_a_decade_and_tick_sensibly() {
        let s = Scale::fit(&[0.5, 4.0], Some(1.0), false, true, 0.0, 100.0);
        assert!(!s.log && s.lo == 0.0);
        assert_eq!(s.ticks(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        let s = Scale::fit(&[1e3, 2e6], None, false, true, 0.0, 100.0);
        assert!(s.log);
        assert_eq!(s.ticks(), vec![1e3, 1e4, 1e5, 1e6]);
        assert!(s.map(1e3) < s.map(1e4) && s.map(2e6) <= 100.0);
        let r = Scale::fit(&[0.8, 3.6], Some(1.0), true, false, 0.0, 100.0);
        assert_eq!(r.ticks(), vec![1.0, 2.0]);
        let l = Scale::fit(&[1.0, 1e7], None, true, false, 0.0, 100.0);
        assert_eq!(l.ticks(), vec![1.0, 100.0, 1e4, 1e6], "every other decade past five");
        assert_eq!(super::short_nanos(1e4), "10µs");
    }
}
