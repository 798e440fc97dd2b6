//! SVG plots: convergence of a fit, coefficient paths, the cross-validation curve.

use std::path::Path as FilePath;

use plotters::prelude::*;
use scalemix::{CvResult, RegularizationPath};

const SIZE: (u32, u32) = (900, 560);
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn failed(path: &FilePath, e: impl std::fmt::Display) -> String {
    format!("cannot draw {}: {e}", path.display())
}

/// The objective gap F − F_best (log scale) by iteration, one line per named trace.
pub fn convergence(path: &FilePath, traces: &[(&str, Vec<f64>)], best: f64) -> Result<(), String> {
    let best = traces.iter().flat_map(|(_, t)| t.iter().copied()).fold(best, f64::min);
    // Gaps at or below round-off are drawn at the floor rather than dropped.
    let floor = 1e-16 * best.abs().max(1e-300);
    let gaps: Vec<(&str, Vec<(f64, f64)>)> = traces
        .iter()
        .map(|(name, t)| {
            (*name, t.iter().enumerate().map(|(k, f)| (k as f64, (f - best).max(floor))).collect())
        })
        .collect();
    let max_iter = gaps.iter().map(|(_, g)| g.len()).max().unwrap_or(1).max(2) as f64;
    let max_gap = gaps.iter().flat_map(|(_, g)| g.iter().map(|p| p.1)).fold(floor * 10.0, f64::max);
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("objective gap F − F_best by iteration", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_iter, (floor..max_gap * 2.0).log_scale())
        .map_err(|e| failed(path, e))?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc("F − F_best")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(|e| failed(path, e))?;
    for (i, (name, points)) in gaps.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| failed(path, e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(path, e))?;
    root.present().map_err(|e| failed(path, e))?;
    drop(chart);
    drop(root);
    crate::output::write_atomic(path, svg.as_bytes())
}

/// Each coefficient against log10(λ), strongest penalty on the left.
pub fn coefficient_paths(
    path: &FilePath,
    fitted: &RegularizationPath,
    names: &[String],
) -> Result<(), String> {
    let points = &fitted.points;
    if points.is_empty() {
        return Err("the path has no points to plot".into());
    }
    let xs: Vec<f64> = points.iter().map(|q| -q.lambda.max(1e-300).log10()).collect();
    let (lo, hi) = (xs[0], xs[xs.len() - 1].max(xs[0] + 1e-9));
    let bound =
        points.iter().flat_map(|q| q.coefficients.iter()).fold(1e-12_f64, |m, b| m.max(b.abs()));
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("coefficient paths", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, -bound * 1.05..bound * 1.05)
        .map_err(|e| failed(path, e))?;
    chart
        .configure_mesh()
        .x_desc("−log10 λ")
        .y_desc("coefficient")
        .draw()
        .map_err(|e| failed(path, e))?;
    for (j, name) in names.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let series = xs.iter().zip(points).map(|(&x, q)| (x, q.coefficients[j]));
        let drawn = chart
            .draw_series(LineSeries::new(series, color.stroke_width(2)))
            .map_err(|e| failed(path, e))?;
        // A legend only when it stays readable.
        if names.len() <= 12 {
            drawn.label(name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
    }
    if names.len() <= 12 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| failed(path, e))?;
    }
    root.present().map_err(|e| failed(path, e))?;
    drop(chart);
    drop(root);
    crate::output::write_atomic(path, svg.as_bytes())
}

/// Mean held-out score ± one standard error against −log10(λ), with λ_min and λ_1se marked.
pub fn cv_curve(path: &FilePath, cv: &CvResult) -> Result<(), String> {
    let lambdas = cv.path.lambdas();
    let xs: Vec<f64> = lambdas.iter().map(|l| -l.max(1e-300).log10()).collect();
    let (lo, hi) = (xs[0], xs[xs.len() - 1].max(xs[0] + 1e-9));
    let top = cv.mean.iter().zip(&cv.standard_error).map(|(m, s)| m + s).fold(f64::MIN, f64::max);
    let bottom =
        cv.mean.iter().zip(&cv.standard_error).map(|(m, s)| m - s).fold(f64::MAX, f64::min);
    let pad = ((top - bottom) * 0.08).max(1e-9);
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}-fold cross-validation ({:?})", cv.folds.k(), cv.metric),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, bottom - pad..top + pad)
        .map_err(|e| failed(path, e))?;
    chart
        .configure_mesh()
        .x_desc("−log10 λ")
        .y_desc(format!("{:?}", cv.metric))
        .draw()
        .map_err(|e| failed(path, e))?;
    let red = PALETTE[3];
    chart
        .draw_series(xs.iter().zip(cv.mean.iter().zip(&cv.standard_error)).map(|(&x, (&m, &s))| {
            ErrorBar::new_vertical(x, m - s, m, m + s, RGBColor(127, 127, 127).stroke_width(1), 6)
        }))
        .map_err(|e| failed(path, e))?;
    chart
        .draw_series(xs.iter().zip(&cv.mean).map(|(&x, &m)| Circle::new((x, m), 4, red.filled())))
        .map_err(|e| failed(path, e))?;
    for (lambda, label, color) in
        [(cv.lambda_min, "λ_min", PALETTE[0]), (cv.lambda_1se, "λ_1se", PALETTE[2])]
    {
        let x = -lambda.log10();
        chart
            .draw_series(LineSeries::new(
                vec![(x, bottom - pad), (x, top + pad)],
                color.stroke_width(1),
            ))
            .map_err(|e| failed(path, e))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperMiddle)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(path, e))?;
    root.present().map_err(|e| failed(path, e))?;
    drop(chart);
    drop(root);
    crate::output::write_atomic(path, svg.as_bytes())
}
