//! Fits, paths and cross-validation on a row source, and streamed predictions.

use std::sync::Arc;
use std::time::Instant;

use super::backend::{Device, StreamedBackend, exact_mean_loss};
use super::reader::{Prepare, Reader};
use super::scan::{RowStats, Summary, scan};
use super::{Folds, StreamOptions};
use crate::backend::{Backend, BackendChoice, Needs, Stats};
use crate::check::Model;
use crate::cv::{CvResult, Metric};
use crate::error::{Error, Result};
use crate::glm::{Fit, Glm};
use crate::path::{DEVIANCE_CHANGE, DEVIANCE_MAX, Path, PathOptions, PathPoint, at_infinity};
use crate::penalty::PenaltyTerms;
use crate::precondition::Preconditioner;
use crate::predict::LinearModel;
use crate::solver::{Run, Seed, Solution, SolverOptions};
use crate::source::{Block, RowSource};

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
    /// use scalemix::{Glm, Penalty, source::{ParquetSource, Roles}};
    ///
    /// // Features: every column but the response `clicked`; the file is never loaded whole.
    /// let mut data = ParquetSource::open("events.parquet".as_ref(), &Roles::target(Some("clicked")))?;
    /// let fit = Glm::logistic().penalty(Penalty::lasso(1e-3)).fit_source(&mut data)?;
    /// println!("{} iterations, F = {}", fit.iterations(), fit.objective());
    /// # Ok::<(), scalemix::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Glm::fit`]; [`Error::Source`] for data the source cannot deliver or the family
    /// cannot take; [`Error::Unsupported`] for a Student-t σ to estimate (give σ).
    pub fn fit_source(&self, source: &mut dyn RowSource) -> Result<Fit> {
        let start = Instant::now();
        let (model, mut reader) = self.open_source(source, "fit_source")?;
        let summary = scan(&mut reader, model.family(), None)?;
        check_memory(&model, &reader, summary.rows)?;
        let fit = Streamed::new(&model, &summary.all, &summary)?;
        fit.fit(&mut reader, &self.stream, start)
    }

    /// [`Glm::path`] on the rows of `source` (see [`Glm::fit_source`]): warm-started fits from
    /// λ_max down, each point's objective from the losses' definitions. Runs on the CPU.
    ///
    /// # Errors
    /// As [`Glm::fit_source`] and [`Glm::path`].
    pub fn path_source(&self, source: &mut dyn RowSource, options: &PathOptions) -> Result<Path> {
        let (model, mut reader) = self.open_source(source, "path_source")?;
        let summary = scan(&mut reader, model.family(), None)?;
        check_memory(&model, &reader, summary.rows)?;
        let streamed = Streamed::new(&model, &summary.all, &summary)?;
        streamed.path(&mut reader, &self.stream, options, None, None)
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
        check_memory(&model, &reader, summary.rows)?;
        if (summary.rows as usize) < folds.k {
            return Err(Error::InvalidOption {
                name: "folds",
                value: folds.k.to_string(),
                reason: "must be at most the number of rows",
            });
        }
        let streamed = Streamed::new(&model, &summary.all, &summary)?;
        let path = streamed.path(&mut reader, &self.stream, options, None, None)?;
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
                &self.stream,
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
        let device = device_for(&model, summary.rows, dim)?;
        let mut backend = StreamedBackend::new(
            &mut reader,
            prepare,
            model.intercept(),
            summary.all.weight_sum,
            &self.stream,
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
        if self.estimate_sigma {
            return Err(Error::Unsupported { operation, family: "Student-t with σ to estimate" });
        }
        let model = self.model_for(source.ncols())?;
        Ok((model, Reader::new(source, self.stream.block_rows.max(1))))
    }
}

/// Where a streamed fit of `model` on `n` rows and `dim` coordinates computes its blocks (see
/// [`Streamed::device`]).
fn device_for(model: &Model, n: u64, dim: usize) -> Result<Device> {
    let (choice, context) = model.backend();
    let default = crate::backend::default_gpu;
    Ok(match choice {
        BackendChoice::Cpu => Device::Cpu,
        BackendChoice::Gpu => Device::Gpu(match context {
            Some(context) => context.clone(),
            None => default()?,
        }),
        BackendChoice::Auto => {
            let work = n as f64 * (dim * dim) as f64;
            match context.cloned().map(Ok).unwrap_or_else(default) {
                Ok(c) if work >= crate::backend::AUTO_GPU_MIN_WORK && !c.is_software() => {
                    Device::Gpu(c)
                }
                _ => Device::Cpu,
            }
        }
    })
}

/// Refuses a streamed fit whose blocks (three in flight, of at most the source's rows) and
/// d × d matrices would not fit in the memory limit.
fn check_memory(model: &Model, reader: &Reader<'_>, rows: u64) -> Result<()> {
    let block_rows = (reader.block_rows as u64).min(rows) as usize;
    let p = reader.source.ncols();
    // Three blocks of X, y, weights and trials.
    let buffers = (3 * block_rows as u64) * (p as u64 + 3) * 8;
    model.check_memory_for(block_rows, p, buffers)
}

/// One streamed fit's setup: the model in the coordinates it runs in, the block preparation,
/// and the per-coordinate inputs of the solver.
pub(super) struct Streamed<'m> {
    model: &'m Model,
    /// The model in the fitted coordinates (preconditioned, or `model` itself).
    inner: Model,
    pre: Option<Arc<Preconditioner>>,
    rows: RowStats,
    /// Rows in the source.
    n: u64,
    dim: usize,
    zero_threshold: Vec<f64>,
}

impl<'m> Streamed<'m> {
    /// The setup for `model` on rows with statistics `rows` (all rows, or a fold's training
    /// rows) of the source `summary` describes; the preconditioner is always the whole
    /// source's, as in memory.
    pub(super) fn new(model: &'m Model, rows: &RowStats, summary: &Summary) -> Result<Self> {
        Self::with_preconditioning(model, rows, summary, true)
    }

    /// [`Streamed::new`], preconditioning (where the model asks or the design needs it) only if
    /// `precondition`: a backend that computes its statistics elsewhere sees the design as given.
    pub(super) fn with_preconditioning(
        model: &'m Model,
        rows: &RowStats,
        summary: &Summary,
        precondition: bool,
    ) -> Result<Self> {
        let p = summary.columns.len();
        let intercept = model.intercept();
        let dim = p + usize::from(intercept);
        let mean: Vec<f64> = summary.columns.iter().map(|m| m.mean).collect();
        let squares: Vec<f64> = summary.columns.iter().map(|m| m.m2).collect();
        let total = summary.columns.first().map_or(0.0, |m| m.weight);
        let standardizing = Preconditioner::from_moments(&mean, &squares, total, intercept);
        let pre = match precondition {
            false => None,
            true if model.standardizes() => Some(standardizing),
            true => standardizing.if_needed(),
        };
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
        let response_scale = rows.response_scale(model.family());
        let mut zero_threshold = vec![0.0; dim];
        for (t, scale) in zero_threshold.iter_mut().zip(scales) {
            *t = if scale > 0.0 {
                model.options().zero_tol * response_scale / scale
            } else {
                f64::INFINITY
            };
        }
        Ok(Self {
            model,
            inner,
            pre: pre.map(Arc::new),
            rows: *rows,
            n: summary.rows,
            dim,
            zero_threshold,
        })
    }

    /// How blocks are made ready for the fitted coordinates (rows of `held_out`'s fold
    /// weighted 0).
    fn prepare(&self, held_out: Option<(Folds, usize)>) -> Prepare {
        Prepare { family: self.model.family(), pre: self.pre.clone(), held_out, needs_target: true }
    }

    /// How blocks are made ready in the user's coordinates.
    fn prepare_raw(&self, held_out: Option<(Folds, usize)>) -> Prepare {
        Prepare { pre: None, ..self.prepare(held_out) }
    }

    /// The null model's θ (fitted coordinates): β = 0, the intercept at the link of the mean.
    pub(super) fn null_start(&self) -> Vec<f64> {
        let mut theta = vec![0.0; self.dim];
        if self.model.intercept() {
            // β = 0 in both coordinate systems, so b̃₀ = b₀.
            theta[self.dim - 1] = self.rows.null_intercept(self.model.family());
        }
        theta
    }

    /// The model in the fitted coordinates.
    pub(super) fn inner(&self) -> &Model {
        &self.inner
    }

    /// The run for `terms` with `options`.
    fn run<'a>(
        &'a self,
        terms: &'a PenaltyTerms,
        options: SolverOptions,
        kkt_scale: Option<f64>,
    ) -> Run<'a> {
        let family = self.model.family();
        Run {
            penalty: terms,
            scheme: options.acceleration.scheme(family, terms),
            options,
            kkt_scale,
            zero_threshold: &self.zero_threshold,
            separation_bound: family
                .separation_bound(self.rows.min_positive_weight, self.rows.weight_sum),
        }
    }

    /// Solves at `terms` from `theta0`, from the ridge fit at the same λ first where EM's ℓ₁
    /// step needs it (as in memory).
    pub(super) fn solve(
        &self,
        backend: &mut impl ShowsPenalty,
        terms: &PenaltyTerms,
        theta0: Vec<f64>,
        kkt_scale: Option<f64>,
        seed: Option<Seed>,
    ) -> Result<Solution> {
        let options = self.inner.options();
        let exact_l1 = options.acceleration.scheme(self.model.family(), terms).is_exact_l1();
        let (mut theta0, mut kkt_scale, mut seed) = (theta0, kkt_scale, seed);
        if terms.has_lasso() && !exact_l1 {
            let ridge = PenaltyTerms {
                ridge: terms.ridge.iter().zip(&terms.lasso).map(|(r, l)| r + l).collect(),
                lasso: vec![0.0; self.dim],
                exponent: 1.0,
            };
            let loose = SolverOptions { tol: 1e-8, kkt_tol: 1e-6, max_iter: 200, ..options };
            backend.show_penalty(Some(ridge.clone()));
            let warm =
                self.run(&ridge, loose, kkt_scale).solve_seeded(backend, theta0, seed.take())?;
            kkt_scale = kkt_scale.or(Some(warm.kkt_scale));
            theta0 = warm.theta;
        }
        backend.show_penalty(Some(terms.clone()));
        self.run(terms, options, kkt_scale).solve_seeded(backend, theta0, seed)
    }

    /// One fit at the model's λ.
    fn fit(&self, reader: &mut Reader<'_>, stream: &StreamOptions, start: Instant) -> Result<Fit> {
        let terms = self.inner.terms(self.dim)?;
        let weight_sum = self.rows.weight_sum;
        let mut backend = StreamedBackend::new(
            reader,
            self.prepare(None),
            self.model.intercept(),
            weight_sum,
            stream,
        )
        .on(self.device()?);
        let mut solution = self.solve(&mut backend, &terms, self.null_start(), None, None)?;
        let mut info = backend.info();
        let exact = backend.exact();
        drop(backend);
        if !exact {
            solution = self.finish_in_f64(reader, stream, &terms, solution)?;
            if solution.polished {
                info.device.push_str(" + f64 streamed CPU passes for the final iterations");
            }
        }
        let lambda = self.model.penalty().lambda;
        let (theta, objective, kkt) = self.report(reader, stream, &solution, lambda, &terms)?;
        let solution = Solution { theta, objective, kkt_violation: kkt, ..solution };
        Ok(self.model.fit_of(self.model.family(), solution, start, info))
    }

    /// Where a single streamed fit computes its blocks: as [`crate::BackendChoice`] says, with
    /// `auto` sending only problems of n · d² ≥ [`crate::backend::AUTO_GPU_MIN_WORK`] to a
    /// hardware GPU (never a software adapter), as in memory.
    fn device(&self) -> Result<Device> {
        device_for(self.model, self.n, self.dim)
    }

    /// The f64 check of a fit that iterated on the GPU, on a streamed f64 CPU backend (see
    /// [`Streamed::finish_on`]).
    fn finish_in_f64(
        &self,
        reader: &mut Reader<'_>,
        stream: &StreamOptions,
        terms: &PenaltyTerms,
        first: Solution,
    ) -> Result<Solution> {
        let mut cpu = StreamedBackend::new(
            reader,
            self.prepare(None),
            self.model.intercept(),
            self.rows.weight_sum,
            stream,
        );
        self.finish_on(&mut cpu, terms, first)
    }

    /// The f64 check of a fit that iterated in f32: ∇L in one f64 pass of `exact`; where the
    /// KKT conditions do not hold there (or for hinge and quantile, whose ℓ' jumps where f32
    /// rounding moves η), the fit continues on `exact` from the f32 result with the same KKT
    /// scale. `Converged` is only said where the f64 check agrees.
    pub(super) fn finish_on(
        &self,
        exact: &mut impl ShowsPenalty,
        terms: &PenaltyTerms,
        first: Solution,
    ) -> Result<Solution> {
        let mut stats = Stats::new(self.dim);
        exact.evaluate(&first.theta, Needs::Gradient, &mut stats)?;
        let kkt = terms.kkt_violation(&first.theta, stats.gradient.as_slice());
        let target = self.inner.options().kkt_tol * first.kkt_scale;
        let converged = first.termination == crate::Termination::Converged;
        // Only a converged fit is finished: one that is not keeps its record, with the f64 KKT.
        let checked = kkt <= target && !self.model.family().has_unbounded_weight();
        if !converged || checked {
            return Ok(Solution { kkt_violation: kkt, ..first });
        }
        exact.show_penalty(Some(terms.clone()));
        let run = self.run(terms, self.inner.options(), Some(first.kkt_scale));
        let finish = run.solve(exact, first.theta.clone())?;
        Ok(first.continued_by(finish))
    }

    /// The user's θ, F from the losses' definitions and the KKT violation of `solution`: in
    /// the user's coordinates from one or two passes over the raw rows where the fit ran
    /// preconditioned (with [`crate::Glm::standardize`] the standardized problem's own).
    fn report(
        &self,
        reader: &mut Reader<'_>,
        stream: &StreamOptions,
        solution: &Solution,
        lambda: f64,
        terms: &PenaltyTerms,
    ) -> Result<(Vec<f64>, f64, f64)> {
        let intercept = self.model.intercept();
        let weight_sum = self.rows.weight_sum;
        match &self.pre {
            Some(pre) if !self.model.standardizes() => {
                let theta = pre.to_user(&solution.theta);
                let user_terms = self.model.terms_at(lambda, self.dim)?;
                let raw = self.prepare_raw(None);
                let mut backend = StreamedBackend::new(reader, raw, intercept, weight_sum, stream);
                let mut stats = Stats::new(self.dim);
                backend.evaluate(&theta, Needs::Gradient, &mut stats)?;
                drop(backend);
                let loss = exact_mean_loss(
                    reader,
                    &self.prepare_raw(None),
                    &theta,
                    intercept,
                    weight_sum,
                )?;
                let objective = loss + user_terms.value(&theta);
                let kkt = user_terms.kkt_violation(&theta, stats.gradient.as_slice());
                Ok((theta, objective, kkt))
            }
            _ => {
                let loss = exact_mean_loss(
                    reader,
                    &self.prepare(None),
                    &solution.theta,
                    intercept,
                    weight_sum,
                )?;
                let objective = loss + terms.value(&solution.theta);
                Ok((solution.theta.clone(), objective, solution.kkt_violation))
            }
        }
    }

    /// The path over `options`' λ sequence (or `all`'s λs, for a fold), on the rows outside
    /// `held_out`'s fold.
    fn path(
        &self,
        reader: &mut Reader<'_>,
        stream: &StreamOptions,
        options: &PathOptions,
        held_out: Option<(Folds, usize)>,
        all: Option<&Path>,
    ) -> Result<Path> {
        let start = Instant::now();
        let (dim, intercept, p) =
            (self.dim, self.model.intercept(), self.dim - usize::from(self.model.intercept()));
        let unit = self.inner.terms_at(1.0, dim)?;
        let weight_sum = self.rows.weight_sum;
        let mut backend =
            StreamedBackend::new(reader, self.prepare(held_out), intercept, weight_sum, stream);
        // The null model: only the unpenalized coordinates move.
        let infinite = at_infinity(&unit);
        let null = self
            .run(&infinite, self.inner.options(), None)
            .solve(&mut backend, self.null_start())?;
        let mut stats = Stats::new(dim);
        backend.evaluate(&null.theta, Needs::Gradient, &mut stats)?;
        let gradient_scale = stats.gradient.amax().max(1.0);
        let lambda_max = self.inner.lambda_max_of(stats.gradient.as_slice());
        let lambdas = match all {
            Some(path) => path.lambdas(),
            None => self.model.lambda_sequence_for(self.n, p, options, lambda_max)?,
        };
        // Losses from their definitions, in the coordinates points are reported in: the user's
        // where the fit runs preconditioned (unless it standardizes), else the fitted ones.
        let user = self.pre.as_ref().filter(|_| !self.model.standardizes()).cloned();
        let report_prepare =
            if user.is_some() { self.prepare_raw(held_out) } else { self.prepare(held_out) };
        let to_report = |theta: &[f64]| match &user {
            Some(pre) => pre.to_user(theta),
            None => theta.to_vec(),
        };
        let null_loss = backend.exact_loss(&report_prepare, &to_report(&null.theta))?;
        let saturated = self.rows.saturated_mean_loss();
        let early_stop = options.early_stop && options.lambdas.is_none() && all.is_none();
        let mut theta = null.theta.clone();
        let mut seed = null.final_stats.clone();
        let mut points: Vec<PathPoint> = Vec::with_capacity(lambdas.len());
        let mut stopped_early = false;
        for &lambda in &lambdas {
            let point_start = Instant::now();
            let terms = scaled(&unit, lambda);
            let solution =
                self.solve(&mut backend, &terms, theta.clone(), Some(gradient_scale), seed.take())?;
            seed = solution.final_stats.clone();
            theta = solution.theta.clone();
            let reported = to_report(&theta);
            let loss = backend.exact_loss(&report_prepare, &reported)?;
            let objective = loss
                + match &user {
                    Some(_) => self.model.terms_at(lambda, dim)?.value(&reported),
                    None => terms.value(&theta),
                };
            let denominator = null_loss - saturated;
            let deviance_ratio = if denominator > 0.0 {
                (1.0 - (loss - saturated) / denominator).max(0.0)
            } else {
                0.0
            };
            let (coefficients, b0) = self.model.split_theta(reported);
            points.push(PathPoint {
                lambda,
                nonzeros: coefficients.iter().filter(|&&b| b != 0.0).count(),
                coefficients,
                intercept: b0,
                objective,
                deviance_ratio,
                iterations: solution.iterations,
                termination: solution.termination,
                kkt_refits: 0,
                elapsed: point_start.elapsed(),
            });
            if early_stop && points.len() >= 2 {
                let last = points[points.len() - 2].deviance_ratio;
                let change = (deviance_ratio - last).abs();
                if deviance_ratio > DEVIANCE_MAX || change < DEVIANCE_CHANGE * deviance_ratio.abs()
                {
                    stopped_early = true;
                    break;
                }
            }
        }
        let info = backend.info();
        Ok(Path { points, lambda_max, stopped_early, backend: info, elapsed: start.elapsed() })
    }
}

/// A backend a streamed solve runs on, told which penalty is being solved (for the progress
/// report's objective).
pub(crate) trait ShowsPenalty: Backend {
    /// The penalty of the solve about to run.
    fn show_penalty(&mut self, terms: Option<PenaltyTerms>);
}

impl ShowsPenalty for StreamedBackend<'_, '_> {
    fn show_penalty(&mut self, terms: Option<PenaltyTerms>) {
        StreamedBackend::show_penalty(self, terms);
    }
}

/// The unit penalty at λ.
fn scaled(unit: &PenaltyTerms, lambda: f64) -> PenaltyTerms {
    PenaltyTerms {
        ridge: unit.ridge.iter().map(|r| r * lambda).collect(),
        lasso: unit.lasso.iter().map(|l| l * lambda).collect(),
        exponent: unit.exponent,
    }
}

/// Per λ the metric on `fold`'s held-out rows, and their total weight: one pass.
fn held_out_scores(
    reader: &mut Reader<'_>,
    model: &Model,
    folds: Folds,
    fold: usize,
    path: &Path,
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
            linear_predictor(b, &point.coefficients, point.intercept, &mut eta);
            for &i in &rows {
                scorer.add(b.y[i], eta[i], buf.weights[i]);
            }
        }
        Ok(())
    })?;
    let size = scorers.first().map_or(0.0, |s| s.weight());
    Ok((scorers.into_iter().map(|s| s.finish()).collect(), size))
}

/// η = Xβ + b₀ for a column-major block.
fn linear_predictor(block: &Block, beta: &[f64], b0: f64, eta: &mut Vec<f64>) {
    eta.clear();
    eta.resize(block.rows, b0);
    for (j, &b) in beta.iter().enumerate() {
        if b != 0.0 {
            for (e, x) in eta.iter_mut().zip(block.column(j)) {
                *e += b * x;
            }
        }
    }
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
            for (j, column) in names.iter().enumerate() {
                if let Some(i) = b.column(j).iter().position(|v| !v.is_finite()) {
                    return Err(Error::Source {
                        source_name: name.clone(),
                        row: Some(b.first_row + i as u64),
                        column: Some(column.clone()),
                        reason: format!("{} is not finite", b.column(j)[i]),
                    });
                }
            }
            linear_predictor(b, self.coefficients(), self.intercept(), &mut eta);
            sink(b.first_row, &eta)
        })
    }
}
