//! The SVG chart of a trace: live bytes over its calls (plotters), written beside the JSON.

use super::analysis::Summary;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

pub fn live_bytes(summary: &Summary, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (900, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let x_hi = summary.timeline.last().map_or(1, |t| t.0 + 1) as f64;
    let y_hi = summary.peak_live_bytes as f64 / 1048576.0 * 1.1 + 1e-3;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: live bytes requested, peak {:.1} MiB",
                summary.program,
                summary.peak_live_bytes as f64 / 1048576.0
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_hi, 0f64..y_hi)
        .map_err(|e| anyhow!("{e:?}"))?;
    chart.configure_mesh().x_desc("call").y_desc("MiB live").draw().map_err(|e| anyhow!("{e:?}"))?;
    chart
        .draw_series(LineSeries::new(
            summary.timeline.iter().map(|&(call, _, live)| (call as f64, live as f64 / 1048576.0)),
            &BLUE,
        ))
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .draw_series(std::iter::once(Circle::new(
            (summary.peak_at_call as f64, summary.peak_live_bytes as f64 / 1048576.0),
            4,
            RED.filled(),
        )))
        .map_err(|e| anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}
