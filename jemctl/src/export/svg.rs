//! SVG charts (plotters): throughput by thread count, and the latency CDF at the largest thread
//! count, one panel per workload, one line per allocator.

use crate::bench::{BenchReport, RunResult};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

const PANEL: (u32, u32) = (420, 300);
const COLUMNS: usize = 3;

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

fn canvas(panels: usize) -> (u32, u32, usize) {
    let rows = panels.div_ceil(COLUMNS).max(1);
    (PANEL.0 * COLUMNS as u32, PANEL.1 * rows as u32, rows)
}

/// Throughput (millions of calls per second) against threads.
pub fn throughput(report: &BenchReport, path: &Path) -> Result<()> {
    let workloads = ordered(&report.runs, |r| &r.workload);
    let allocators = ordered(&report.runs, |r| &r.allocator);
    let (w, h, rows) = canvas(workloads.len());
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let max_threads = report.runs.iter().map(|r| r.threads).max().unwrap_or(1) as f64;
    let x_hi = max_threads.log2().max(1.0) + 0.25;
    for (area, workload) in root.split_evenly((rows, COLUMNS)).iter().zip(&workloads) {
        let runs: Vec<&RunResult> = report.runs.iter().filter(|r| r.workload == *workload).collect();
        let y_hi = runs.iter().map(|r| r.ops_per_sec / 1e6).fold(0.0, f64::max) * 1.15 + 1e-3;
        let mut chart = ChartBuilder::on(area)
            .caption(*workload, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(-0.25f64..x_hi, 0f64..y_hi)
            .map_err(|e| anyhow!("{e:?}"))?;
        chart
            .configure_mesh()
            .x_desc("threads")
            .y_desc("M calls/s")
            .x_labels(x_hi.ceil() as usize + 1)
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-6 && *x >= 0.0 {
                    format!("{}", 2f64.powf(x.round()))
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| anyhow!("{e:?}"))?;
        for (i, alloc) in allocators.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let mut pts: Vec<(f64, f64)> = runs
                .iter()
                .filter(|r| r.allocator == *alloc)
                .map(|r| ((r.threads as f64).log2(), r.ops_per_sec / 1e6))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow!("{e:?}"))?
                .label(*alloc)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| anyhow!("{e:?}"))?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 11))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    root.present().map_err(|e| anyhow!("{e:?}"))
}

/// Latency CDF: x the latency (log scale), y the percentile in nines (1 = 90%, 2 = 99%, ...).
pub fn latency(report: &BenchReport, path: &Path) -> Result<()> {
    let workloads = ordered(&report.runs, |r| &r.workload);
    let allocators = ordered(&report.runs, |r| &r.allocator);
    let (w, h, rows) = canvas(workloads.len());
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let nines = |q: f64| (-(1.0 - q).max(1e-5).log10()).min(5.0);
    for (area, workload) in root.split_evenly((rows, COLUMNS)).iter().zip(&workloads) {
        let threads = report.runs.iter().filter(|r| r.workload == *workload).map(|r| r.threads).max().unwrap_or(1);
        let runs: Vec<&RunResult> =
            report.runs.iter().filter(|r| r.workload == *workload && r.threads == threads).collect();
        let lo = runs.iter().flat_map(|r| r.latency_cdf.iter().map(|p| p.1)).min().unwrap_or(1).max(1) as f64;
        let hi = runs.iter().flat_map(|r| r.latency_cdf.iter().map(|p| p.1)).max().unwrap_or(10).max(10) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{workload} ({threads} threads)"), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d((lo * 0.8..hi * 1.25).log_scale(), 0f64..5.2)
            .map_err(|e| anyhow!("{e:?}"))?;
        chart
            .configure_mesh()
            .x_desc("latency")
            .x_label_formatter(&|x| crate::units::nanos(x.round() as u64))
            .y_desc("percentile")
            .y_labels(6)
            .y_label_formatter(&|y| match y.round() as i32 {
                0 => "0".into(),
                n => format!("{}", 100.0 - 100.0 / 10f64.powi(n)),
            })
            .draw()
            .map_err(|e| anyhow!("{e:?}"))?;
        for (i, alloc) in allocators.iter().enumerate() {
            let Some(r) = runs.iter().find(|r| r.allocator == *alloc) else { continue };
            let color = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = r.latency_cdf.iter().map(|&(q, ns)| ((ns.max(1)) as f64, nines(q))).collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|e| anyhow!("{e:?}"))?
                .label(*alloc)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 11))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    root.present().map_err(|e| anyhow!("{e:?}"))
}
