//! The latency-vs-rate chart: p99 against the offered rate of case 2, one line per target,
//! one panel per placement, as SVG.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::report::Report;
use crate::targets::Target;

fn color(t: Target) -> RGBColor {
    match t {
        Target::Direct => RGBColor(120, 120, 120),
        Target::Ringlb => RGBColor(214, 39, 40),
        Target::Haproxy => RGBColor(31, 119, 180),
        Target::Nginx => RGBColor(44, 160, 44),
        Target::RinglbBaseline => RGBColor(255, 152, 150),
    }
}

/// Draws the chart into `path`.
pub fn draw(report: &Report, path: &Path) -> Result<()> {
    let panels = report.placements.len().max(1);
    let root = SVGBackend::new(path, (640 * panels as u32, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let areas = root.split_evenly((1, panels));
    for (area, p) in areas.iter().zip(&report.placements) {
        let series: Vec<(Target, Vec<(f64, f64)>)> = Target::ALL
            .iter()
            .map(|&t| {
                let mut pts: Vec<(f64, f64)> = p
                    .summary
                    .iter()
                    .filter(|s| s.target == t && s.case.starts_with("open-"))
                    .filter_map(|s| Some((s.offered_rate?, (s.latency.p99 / 1000.0).max(0.001))))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                (t, pts)
            })
            .filter(|(_, pts)| !pts.is_empty())
            .collect();
        let all = series.iter().flat_map(|(_, pts)| pts.iter());
        let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max) * 1.1;
        let y_max = all.clone().map(|p| p.1).fold(0.01, f64::max) * 2.0;
        let y_min = all
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min)
            .min(y_max / 4.0)
            / 2.0;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("p99 latency vs offered rate ({})", p.placement.name()),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("offered rate (requests/s)")
            .y_desc("p99 latency (ms, log)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (t, pts) in series {
            let c = color(t);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(t.label())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))
                .map_err(|e| anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
