//! SVG charts drawn with `plotters` (no system fonts needed: the SVG backend writes text
//! elements and leaves font rendering to the viewer).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};

const MS_PER_YEAR: f64 = 365.25 * 86_400_000.0;
const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// One named line; x in epoch ms.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: Vec<(i64, f64)>,
}

/// Fractional calendar year, for a dependency-free time axis.
fn year_fraction(time_ms: i64) -> f64 {
    1970.0 + time_ms as f64 / MS_PER_YEAR
}

/// How the y axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Base-10 logarithm (non-positive values are dropped); labels show the values.
    Log,
}

/// Draws `series` as lines (the first one also filled when `fill`) into an SVG at `path`.
pub fn line_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    fill: bool,
    scale: Scale,
) -> Result<()> {
    let transformed: Vec<Series<'_>>;
    let series = match scale {
        Scale::Linear => series,
        Scale::Log => {
            transformed = series
                .iter()
                .map(|s| Series {
                    name: s.name,
                    points: s
                        .points
                        .iter()
                        .filter(|(_, y)| *y > 0.0)
                        .map(|(t, y)| (*t, y.log10()))
                        .collect(),
                })
                .collect();
            &transformed
        }
    };
    let err = |e: &dyn std::fmt::Display| Error::output(path, e.to_string());
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (t, y) in points {
        let x = year_fraction(*t);
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x0 > x1 {
        // no points at all
        (x0, x1, y0, y1) = (2000.0, 2001.0, 0.0, 1.0);
    } else if x0 >= x1 {
        x1 = x0 + 1.0 / 365.0;
    }
    if !(y0.is_finite() && y1.is_finite()) {
        (y0, y1) = (0.0, 1.0);
    } else if y1 - y0 <= f64::EPSILON * y0.abs().max(1.0) {
        y0 -= 1.0;
        y1 += 1.0;
    }
    let pad = (y1 - y0) * 0.05;
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.1}"))
        .y_label_formatter(&|y| match scale {
            Scale::Linear => format!("{y:.2}"),
            Scale::Log => format!("{:.0}", 10f64.powf(*y)),
        })
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let data: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|(t, y)| (year_fraction(*t), *y))
            .collect();
        if fill && i == 0 {
            chart
                .draw_series(AreaSeries::new(data.clone(), 0.0, color.mix(0.25)))
                .map_err(|e| err(&e))?;
        }
        chart
            .draw_series(LineSeries::new(data, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
