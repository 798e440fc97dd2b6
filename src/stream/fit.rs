//! Fits, paths and cross-validation on a row source, and streamed predictions.

use std::sync::Arc;
use std::time::Instant;

use super::backend::{Device, StreamedBackend};
use super::reader::{Prepare, Reader};
use super::scan::{RowStats, Summary, scan};
use super::{Folds, StreamOptions};
use crate::backend::{Backend, Needs, Stats};
use crate::cv::{CvResult, Metric};
use crate::driver::{Model, RowFacts, Rows};
use crate::error::{Error, Result};
use crate::glm::{Fit, Glm};
use crate::path::{PathOptions, RegularizationPath};
use crate::penalty::PenaltyTerms;
use crate::precondition::Preconditioner;
use crate::predict::LinearModel;
use crate::source::RowSource;

impl Glm {
    /// Fits the model to the rows of `source`, read again at every pass instead of held in
    /// memory: the same optimum as [`Glm::fit`] on the same data (objectives within rounding,
    /// about 1e-12 relative), in memory a few blocks ([`Glm::stream_options`]) and the d × d
    /// statistics. The first pass checks every value (the errors name the global row and the
    /// column); a source that changes between passes ends the fit with
    /// [`Error::SourceChanged`]. Runs on the backend the model names (on a GPU, X stays on the
    /// device after the first pass when it fits [`crate::StreamOptions::gpu_resident_bytes`];
    /// the result is checked, and finished where needed, by f64 passes on the CPU).
    ///
    /// ```no_run
    /// # #[cfg(feature = "files")] // the file sources
    /// # fn main() -> Result<(), scalemix::Error> {
    /// use scalemix::{Glm, Penalty, source::{ParquetSource, Roles}};
    ///
    /// // Features: every column but the response `clicked`; the file is never loaded whole.
    /// let mut data = ParquetSource::open("events.parquet".as_ref(), &Roles::target(Some("clicked")))?;
    /// let fit = Glm::logistic().penalty(Penalty::lasso(1e-3)).fit_source(&mut data)?;
    /// println!("{} iterations, F = {}", fit.iterations(), fit.objective());
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "files"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// As [`Glm::fit`]; [`Error::Source`] for data the source cannot deliver or the family
    /// cannot take; [`Error::Unsupported`] for a Student-t σ to estimate (give σ).
    pub fn fit_source(&self, source: &mut dyn RowSource) -> Result<Fit> {
        if self.estimate_parameter && matches!(self.family, crate::Family::NegativeBinomial { .. })
        {
            return self.fit_source_negative_binomial(source);
        }
        let start = Instant::now();
        let (model, mut reader) = self.open_source(source, "fit_source")?;
        let summary = scan(&mut reader, model.family(), None)?;
        check_memory(&model, &reader, &summary)?;
        let fit = Streamed::new(&model, &summary.all, &summary)?;
        fit.fit(&mut reader, &self.execution.stream, start)
    }

    /// [`Glm::fit_source`] of a negative binomial with θ to estimate, as in memory (R's
    /// `MASS::glm.nb`): streamed fits at fixed θ, each from the last coefficients, alternating
    /// with θ's maximum likelihood at the fitted means, every Newton step on log θ one pass over
    /// the source, until θ moves by less than 1e-10 relative.
    fn fit_source_negative_binomial(&self, source: &mut dyn RowSource) -> Result<Fit> {
        let start = Instant::now();
        let at = |theta: f64| Glm {
            family: crate::Family::NegativeBinomial { theta },
            estimate_parameter: false,
            ..self.clone()
        };
        let (model, mut reader) = at(1.0).open_source(source, "fit_source")?;
        let summary = scan(&mut reader, model.family(), None)?;
        check_memory(&model, &reader, &summary)?;
        let y = summary.all.y;
        let mut theta = crate::counts::theta_start(y.weight, y.mean, y.m2);
        let mut previous: Option<Fit> = None;
        for _ in 0..crate::driver::MAX_PARAMETER_ROUNDS {
            let model = at(theta).model_for(reader.source.ncols())?;
            let streamed = Streamed::new(&model, &summary.all, &summary)?;
            let start_theta =
                previous.as_ref().map(|f| model.theta_of(&f.coefficients, f.intercept));
            let mut fit =
                streamed.fit_from(&mut reader, &self.execution.stream, start, start_theta)?;
            if let Some(previous) = &previous {
                fit.count_after(previous);
            }
            let prepare =
                Prepare { family: fit.family, pre: None, held_out: None, needs_target: true };
            let (coefficients, intercept) = (fit.coefficients.clone(), fit.intercept);
            let mut eta = Vec::new();
            let terms = |t: f64| -> Result<(f64, f64, f64)> {
                let mut sums = (0.0, 0.0, 0.0);
                reader.pass(&prepare, |buf| {
                    buf.block.linear_predictor(&coefficients, intercept, &mut eta);
                    let mu: Vec<f64> = eta.iter().map(|e| e.exp()).collect();
                    let part = crate::counts::theta_terms(&buf.block.y, &mu, &buf.weights, t);
                    sums = (sums.0 + part.0, sums.1 + part.1, sums.2 + part.2);
                    Ok(())
                })?;
                Ok(sums)
            };
            let (next, _) = crate::counts::theta_ml_with(terms, theta)?;
            let settled = (next - theta).abs() <= crate::driver::PARAMETER_TOL * theta;
            previous = Some(fit);
            if settled {
                break;
            }
            theta = next;
        }
        previous.ok_or(Error::EmptyData)
    }

    /// [`Glm::path`] on the rows of `source` (see [`Glm::fit_source`]): warm-started fits from
    /// λ_max down, each point's objective from the losses' definitions. Runs on the CPU.
    ///
    /// # Errors
    /// As [`Glm::fit_source`] and [`Glm::path`].
    pub fn path_source(
        &self,
        source: &mut dyn RowSource,
        options: &PathOptions,
    ) -> Result<RegularizationPath> {
        let (model, mut reader) = self.open_source(source, "path_source")?;
        let summary = scan(&mut reader, model.family(), None)?;
        check_memory(&model, &reader, &summary)?;
        let streamed = Streamed::new(&model, &summary.all, &summary)?;
        streamed.path(&mut reader, &self.execution.stream, options, None, None)
    }

    /// k-fold cross-validation on the rows of `source` (see [`Glm::fit_source`]): the path on
    /// all rows, then on each fold's training rows (the held-out rows weighted 0), scored on
    /// the held-out rows in one pass per fold. Folds are [`Folds`] (a hash of the row index),
    /// not stratified.
    ///
    /// # Errors
    /// As [`Glm::path_source`]; [`Error::InvalidOption`] for k < 2 or a metric that does not
    /// apply to the family.
    pub fn cv_source(
        &self,
        source: &mut dyn RowSource,
        folds: Folds,
        metric: Option<Metric>,
        options: &PathOptions,
    ) -> Result<CvResult> {
        let (model, mut reader) = self.open_source(source, "cv_source")?;
        let family = model.family();
        let metric = metric.unwrap_or(family.default_metric());
        metric.check(family)?;
        if metric == Metric::Auc {
            // The AUC ranks every held-out row: it would hold them all in memory.
            return Err(Error::InvalidOption {
                name: "metric",
                value: "Auc".into(),
                reason: "needs every held-out row in memory; streamed cross-validation scores \
                         deviance, misclassification, MSE, MAE or check loss",
            });
        }
        if folds.k < 2 {
            return Err(Error::InvalidOption {
                name: "folds",
                value: folds.k.to_string(),
                reason: "must be at least 2",
            });
        }
        let summary = scan(&mut reader, family, Some(folds))?;
        check_memory(&model, &reader, &summary)?;
        if (summary.rows as usize) < folds.k {
            return Err(Error::InvalidOption {
                name: "folds",
                value: folds.k.to_string(),
                reason: "must be at most the number of rows",
            });
        }
        let streamed = Streamed::new(&model, &summary.all, &summary)?;
        let path = streamed.path(&mut reader, &self.execution.stream, options, None, None)?;
        let lambdas = path.lambdas();
        let fixed = PathOptions { lambdas: Some(lambdas.clone()), ..options.clone() };
        let (k, n_lambda) = (folds.k, lambdas.len());
        let mut scores = vec![vec![0.0; n_lambda]; k];
        let mut sizes = vec![0.0; k];
        for fold in 0..k {
            let training = summary.without(fold);
            let streamed = Streamed::new(&model, &training, &summary)?;
            let fold_path = streamed.path(
                &mut reader,
                &self.execution.stream,
                &fixed,
                Some((folds, fold)),
                Some(&path),
            )?;
            let (score, size) =
                held_out_scores(&mut reader, &model, folds, fold, &fold_path, metric)?;
            scores[fold] = score;
            sizes[fold] = size;
        }
        Ok(crate::cv::summarize(
            path,
            &scores,
            &sizes,
            metric,
            folds.to_assignment(summary.rows as usize)?,
        ))
    }

    /// The sufficient statistics at `theta` (the features, then the intercept when the model
    /// fits one) over the rows of `source`, as a fit's E-step computes them: the mean loss, ∇L
    /// and, as `needs` asks, S or the Hessian. Two passes: the checking pass, then the
    /// statistics (the second reported to the [`crate::StreamOptions::progress`] callback, with
    /// its rows per second). On the design as given (no preconditioning), on the backend the
    /// model names (a GPU's statistics are its f32 kernels', with their rounding-error scale).
    ///
    /// # Errors
    /// As [`Glm::fit_source`]; [`Error::InvalidOption`] for a θ of the wrong length.
    pub fn statistics_source(
        &self,
        source: &mut dyn RowSource,
        theta: &[f64],
        needs: Needs,
    ) -> Result<Stats> {
        let (model, mut reader) = self.open_source(source, "statistics_source")?;
        let dim = reader.source.ncols() + usize::from(model.intercept());
        if theta.len() != dim {
            return Err(Error::InvalidOption {
                name: "theta",
                value: format!("{} values", theta.len()),
                reason: "must hold one value per feature, then the intercept where fitted",
            });
        }
        let summary = scan(&mut reader, model.family(), None)?;
        let prepare =
            Prepare { family: model.family(), pre: None, held_out: None, needs_target: true };
        let device = device_for(&model, &summary, dim)?;
        let mut backend = StreamedBackend::new(
            &mut reader,
            prepare,
            model.intercept(),
            summary.all.weight_sum,
            &self.execution.stream,
        )
        .on(device);
        let mut stats = Stats::new(dim);
        backend.evaluate(theta, needs, &mut stats)?;
        Ok(stats)
    }

    /// The settings checked for `source`'s columns, and the source bound to a reader.
    fn open_source<'s>(
        &self,
        source: &'s mut dyn RowSource,
        operation: &'static str,
    ) -> Result<(Model, Reader<'s>)> {
        if self.estimate_parameter {
            return Err(Error::Unsupported {
                operation,
                family: "Student-t or negative binomial with σ or θ to estimate",
                reason: "a streamed Student-t fit, and any streamed path or cross-validation, \
                         needs σ or θ given (a streamed negative binomial fit estimates θ)",
            });
        }
        let model = self.model_for(source.ncols())?;
        Ok((model, Reader::new(source, self.execution.stream.block_rows.max(1))))
    }
}

/// Where a streamed fit of `model` on `n` rows and `dim` coordinates computes its blocks: the
/// device [`crate::backend::open`] would choose for the same work.
fn device_for(model: &Model, summary: &Summary, dim: usize) -> Result<Device> {
    let (choice, context) = model.backend();
    if summary.sparse && choice == crate::BackendChoice::Auto {
        // As in memory: the CPU's sparse Gram costs Σᵢ nnzᵢ², the GPU's tiles n·d².
        return Ok(Device::Cpu);
    }
    let work = summary.rows as f64 * (dim * dim) as f64;
    Ok(match crate::backend::gpu_for(choice, context, work)? {
        Some(context) => Device::Gpu(context),
        None => Device::Cpu,
    })
}

/// Refuses a streamed fit whose blocks (three in flight, of at most the source's rows) and
/// d × d matrices would not fit in the memory limit.
fn check_memory(model: &Model, reader: &Reader<'_>, summary: &Summary) -> Result<()> {
    let block_rows = (reader.block_rows as u64).min(summary.rows);
    let p = reader.source.ncols() as u64;
    // Per row of a block: y, weights and trials, and X's p values (dense) or the densest
    // block's stored values with their column indices and the row's offset (sparse).
    let per_row = if summary.sparse {
        let stored = summary.most_stored_per_block as u64 * 16;
        3 * 8 + 8 + stored.div_ceil(block_rows.max(1))
    } else {
        (p + 3) * 8
    };
    let buffers = 3u64.saturating_mul(block_rows).saturating_mul(per_row);
    model.check_memory_for(block_rows as usize, p as usize, buffers)
}

/// One streamed fit's setup: the model in the coordinates it runs in, the block preparation,
/// and what the driver must know of the rows.
pub(super) struct Streamed<'m> {
    model: &'m Model,
    /// The model in the fitted coordinates (preconditioned, or `model` itself).
    inner: Model,
    pre: Option<Arc<Preconditioner>>,
    rows: RowStats,
    /// What the first pass learned of the whole source.
    summary: Summary,
    dim: usize,
    facts: RowFacts,
}

impl<'m> Streamed<'m> {
    /// The setup for `model` on rows with statistics `rows` (all rows, or a fold's training
    /// rows) of the source `summary` describes; the preconditioner is always the whole
    /// source's, as in memory.
    pub(super) fn new(model: &'m Model, rows: &RowStats, summary: &Summary) -> Result<Self> {
        let p = summary.columns.len();
        let intercept = model.intercept();
        let dim = p + usize::from(intercept);
        let mean: Vec<f64> = summary.columns.iter().map(|m| m.mean).collect();
        let squares: Vec<f64> = summary.columns.iter().map(|m| m.m2).collect();
        let total = summary.columns.first().map_or(0.0, |m| m.weight);
        let standardizing =
            Preconditioner::from_moments(&mean, &squares, total, intercept, summary.sparse);
        let pre =
            if model.standardizes() { Some(standardizing) } else { standardizing.if_needed() };
        let (inner, scales) = match &pre {
            Some(pre) => {
                // Each column's root mean square in the fitted coordinates, (x − μ)/s.
                let scales = summary
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(j, m)| {
                        let shift = m.mean - pre.mean()[j];
                        let square = m.m2 + m.weight * shift * shift;
                        (square / summary.all.weight_sum).sqrt() / pre.scale()[j]
                    })
                    .collect();
                (model.in_preconditioned_coordinates(pre.scale()), scales)
            }
            None => (model.clone(), summary.column_scales()),
        };
        let facts = row_facts(model.family(), rows, scales);
        Ok(Self {
            model,
            inner,
            pre: pre.map(Arc::new),
            rows: *rows,
            summary: summary.clone(),
            dim,
            facts,
        })
    }

    /// How blocks are made ready for the fitted coordinates (rows of `held_out`'s fold
    /// weighted 0).
    fn prepare(&self, held_out: Option<(Folds, usize)>) -> Prepare {
        Prepare { family: self.model.family(), pre: self.pre.clone(), held_out, needs_target: true }
    }

    /// The rows outside `held_out`'s fold as the driver sees them, the iterations on `device`.
    fn rows<'r, 's>(
        &self,
        reader: &'r mut Reader<'s>,
        stream: &'r StreamOptions,
        held_out: Option<(Folds, usize)>,
        device: Device,
    ) -> StreamedRows<'r, 's> {
        let prepare = self.prepare(held_out);
        let (intercept, weight_sum) = (self.model.intercept(), self.rows.weight_sum);
        StreamedRows {
            device: StreamedBackend::new(reader, prepare.clone(), intercept, weight_sum, stream)
                .on(device),
            raw: Prepare { pre: None, ..prepare.clone() },
            prepare,
            intercept,
            weight_sum,
            stream,
            terms: None,
            facts: self.facts.clone(),
        }
    }

    /// One fit at the model's λ.
    fn fit(&self, reader: &mut Reader<'_>, stream: &StreamOptions, start: Instant) -> Result<Fit> {
        self.fit_from(reader, stream, start, None)
    }

    /// One fit at the model's λ from `theta0` (the user's coordinates) or the null model.
    fn fit_from(
        &self,
        reader: &mut Reader<'_>,
        stream: &StreamOptions,
        start: Instant,
        theta0: Option<Vec<f64>>,
    ) -> Result<Fit> {
        let mut rows = self.rows(reader, stream, None, self.device()?);
        self.model.fit_rows(&self.inner, self.pre.as_deref(), &mut rows, theta0, start, None)
    }

    /// Where a single streamed fit computes its blocks: as [`crate::BackendChoice`] says (the
    /// rule of [`crate::backend::open`]).
    fn device(&self) -> Result<Device> {
        device_for(self.model, &self.summary, self.dim)
    }

    /// The path over `options`' λ sequence (or `all`'s λs, for a fold), on the rows outside
    /// `held_out`'s fold.
    fn path(
        &self,
        reader: &mut Reader<'_>,
        stream: &StreamOptions,
        options: &PathOptions,
        held_out: Option<(Folds, usize)>,
        all: Option<&RegularizationPath>,
    ) -> Result<RegularizationPath> {
        let start = Instant::now();
        let p = self.dim - usize::from(self.model.intercept());
        let inner = &self.inner;
        let mut rows = self.rows(reader, stream, held_out, Device::Cpu);
        let null = inner.null_model_of(&mut rows)?;
        let lambdas = match all {
            Some(path) => path.lambdas(),
            None => {
                self.model.lambda_sequence_for(self.summary.rows, p, options, null.lambda_max)?
            }
        };
        let early_stop = options.early_stop && options.lambdas.is_none() && all.is_none();
        // No strong rules: every pass reads every column whatever the active set, so their
        // extra f64 KKT pass per point would only add passes (measured: 29 s against 23 s for a
        // 20-point lasso path over 1 000 000 × 50 Parquet rows).
        let mut path = inner.path_over(&mut rows, &lambdas, early_stop, false, null, None)?;
        path.elapsed = start.elapsed();
        if let Some(pre) = &self.pre {
            self.model
                .points_to_user(pre, &mut path.points, |theta| rows.user_exact_loss(theta))?;
        }
        Ok(path)
    }
}

/// What the driver must know of rows with statistics `rows` whose columns' RMS in the fitted
/// coordinates are `column_scales`.
fn row_facts(family: crate::Family, rows: &RowStats, column_scales: Vec<f64>) -> RowFacts {
    RowFacts {
        family,
        weight_sum: rows.weight_sum,
        min_positive_weight: rows.min_positive_weight,
        null_intercept: rows.null_intercept(family),
        response_variance: rows.response_variance(),
        column_scales,
        saturated_mean_loss: rows.saturated_mean_loss(),
    }
}

/// Streamed rows as the driver sees them: the iterations on a streamed backend (CPU or GPU), the
/// f64 passes on a streamed CPU backend over the same reader.
pub(super) struct StreamedRows<'r, 's> {
    device: StreamedBackend<'r, 's>,
    /// Blocks in the fitted coordinates, and in the user's.
    prepare: Prepare,
    raw: Prepare,
    intercept: bool,
    weight_sum: f64,
    stream: &'r StreamOptions,
    /// The penalty being solved (the progress report's objective).
    terms: Option<PenaltyTerms>,
    facts: RowFacts,
}

impl<'s> StreamedRows<'_, 's> {
    /// A streamed f64 CPU backend over the same reader, blocks made ready by `prepare`.
    fn cpu(&mut self, prepare: Prepare) -> StreamedBackend<'_, 's> {
        let (intercept, weight_sum) = (self.intercept, self.weight_sum);
        let mut backend =
            StreamedBackend::new(self.device.reader(), prepare, intercept, weight_sum, self.stream);
        backend.show_penalty(self.terms.clone());
        backend
    }
}

impl Rows for StreamedRows<'_, '_> {
    fn facts(&self) -> RowFacts {
        self.facts.clone()
    }

    fn device(&mut self) -> &mut dyn Backend {
        &mut self.device
    }

    fn reference(&mut self) -> Result<Box<dyn Backend + '_>> {
        let prepare = self.prepare.clone();
        Ok(Box::new(self.cpu(prepare)))
    }

    fn exact_loss(&mut self, theta: &[f64]) -> Result<f64> {
        let prepare = self.prepare.clone();
        self.device.exact_loss(&prepare, theta)
    }

    fn user_exact_loss(&mut self, theta: &[f64]) -> Result<f64> {
        let raw = self.raw.clone();
        self.device.exact_loss(&raw, theta)
    }

    fn user_gradient(&mut self, theta: &[f64]) -> Result<Stats> {
        let raw = self.raw.clone();
        let mut stats = Stats::new(theta.len());
        self.cpu(raw).evaluate(theta, Needs::Gradient, &mut stats)?;
        Ok(stats)
    }

    fn show_penalty(&mut self, terms: &PenaltyTerms) {
        self.terms = Some(terms.clone());
        self.device.show_penalty(Some(terms.clone()));
    }
}

/// Per λ the metric on `fold`'s held-out rows, and their total weight: one pass.
fn held_out_scores(
    reader: &mut Reader<'_>,
    model: &Model,
    folds: Folds,
    fold: usize,
    path: &RegularizationPath,
    metric: Metric,
) -> Result<(Vec<f64>, f64)> {
    let family = model.family();
    let prepare = Prepare { family, pre: None, held_out: None, needs_target: true };
    let mut scorers: Vec<crate::cv::Scorer> =
        path.points.iter().map(|_| crate::cv::Scorer::new(metric, family)).collect();
    let mut eta = Vec::new();
    reader.pass(&prepare, |buf| {
        let b = &buf.block;
        let rows: Vec<usize> =
            (0..b.rows).filter(|&i| folds.fold_of(b.first_row + i as u64) == fold).collect();
        if rows.is_empty() {
            return Ok(());
        }
        for (point, scorer) in path.points.iter().zip(&mut scorers) {
            b.linear_predictor(&point.coefficients, point.intercept, &mut eta);
            for &i in &rows {
                scorer.add(b.y[i], eta[i], buf.weights[i]);
            }
        }
        Ok(())
    })?;
    let size = scorers.first().map_or(0.0, |s| s.weight());
    Ok((scorers.into_iter().map(|s| s.finish()).collect(), size))
}

impl LinearModel {
    /// The model's linear predictor η = xᵀβ + b₀ for every row of `source`, block by block, each
    /// block's values handed to `sink` in order (nothing held but one block). `source` must
    /// have the model's features.
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`] for another number of features, the source's errors, and
    /// `sink`'s.
    pub fn decision_function_source(
        &self,
        source: &mut dyn RowSource,
        block_rows: usize,
        mut sink: impl FnMut(u64, &[f64]) -> Result<()>,
    ) -> Result<u64> {
        if source.ncols() != self.coefficients().len() {
            return Err(Error::FeatureMismatch {
                expected: self.coefficients().len(),
                found: source.ncols(),
            });
        }
        let mut reader = Reader::new(source, block_rows);
        let prepare =
            Prepare { family: self.family(), pre: None, held_out: None, needs_target: false };
        let mut eta = Vec::new();
        let name = reader.source.name().to_owned();
        let names = reader.source.feature_names().to_vec();
        reader.pass(&prepare, |buf| {
            let b = &buf.block;
            if let Some((i, j, value)) = b.first_non_finite(names.len()) {
                return Err(Error::Source {
                    source_name: name.clone(),
                    row: Some(b.first_row + i as u64),
                    column: Some(names[j].clone()),
                    reason: format!("{value} is not finite"),
                });
            }
            b.linear_predictor(self.coefficients(), self.intercept(), &mut eta);
            sink(b.first_row, &eta)
        })
    }
}
