//! The user-facing API: the [`Glm`] builder and the [`Fit`] it returns.

use std::time::{Duration, Instant};

use std::sync::OnceLock;

use crate::backend::{
    AUTO_GPU_MIN_WORK, Backend, BackendChoice, BackendInfo, CpuBackend, GpuBackend, GpuContext,
    GpuOptions, Needs, PolishBackend, Stats,
};
use crate::data::{AsTarget, Design, Problem};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::penalty::{Penalty, PenaltyTerms, check_factors};
use crate::solver::{Acceleration, Run, Seed, Solution, SolverOptions, Termination};

/// A penalized GLM to fit: family, penalty, intercept and solver settings.
///
/// Settings are only stored by the builder methods; [`Glm::fit`] checks them all, together with
/// the data, before any work starts.
///
/// ```
/// use scalemix::{Glm, Penalty};
/// let x = nalgebra::DMatrix::from_row_slice(4, 1, &[-2.0, -1.0, 1.0, 2.0]);
/// let y = [false, true, false, true];
/// let fit = Glm::logistic().penalty(Penalty::ridge(0.1)).fit(&x, &y[..])?;
/// assert!(fit.converged());
/// # Ok::<(), scalemix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Glm {
    family: Family,
    penalty: Penalty,
    penalty_factors: Option<Vec<f64>>,
    fit_intercept: bool,
    options: SolverOptions,
    /// `None`: read `SCALEMIX_BACKEND` at fit time.
    backend: Option<BackendChoice>,
    gpu: Option<GpuContext>,
    /// Student-t only: estimate σ (see [`Glm::student_t`]).
    estimate_sigma: bool,
}

impl Glm {
    /// A model of the given family with no penalty, an intercept and default solver settings.
    pub fn new(family: Family) -> Self {
        Self {
            family,
            penalty: Penalty::none(),
            penalty_factors: None,
            fit_intercept: true,
            options: SolverOptions::default(),
            backend: None,
            gpu: None,
            estimate_sigma: false,
        }
    }

    /// Logistic regression (labels 0/1 or booleans).
    pub fn logistic() -> Self {
        Self::new(Family::Logistic)
    }

    /// Least-squares (gaussian) regression.
    pub fn gaussian() -> Self {
        Self::new(Family::Gaussian)
    }

    /// Binomial regression on success counts out of a number of trials per row; fit it with
    /// [`Glm::fit_binomial`].
    pub fn binomial() -> Self {
        Self::new(Family::Binomial)
    }

    /// Linear SVM (hinge loss); labels −1/+1, or 0/1 and booleans read as −1/+1.
    pub fn hinge() -> Self {
        Self::new(Family::Hinge)
    }

    /// Quantile regression at level q ∈ (0, 1) (q = 0.5: median regression).
    pub fn quantile(q: f64) -> Self {
        Self::new(Family::Quantile { q })
    }

    /// Student-t robust regression with ν degrees of freedom and scale σ: `Some(σ)` keeps σ
    /// fixed; `None` estimates it jointly with the coefficients by maximum likelihood (EM on
    /// σ² alternating with the coefficient fit until σ changes by less than 1e-10 relative),
    /// starting from 1.4826 × the median absolute deviation of y. [`Fit::family`] reports the
    /// σ used.
    pub fn student_t(nu: f64, sigma: Option<f64>) -> Self {
        let mut glm = Self::new(Family::StudentT { nu, sigma: sigma.unwrap_or(1.0) });
        glm.estimate_sigma = sigma.is_none();
        glm
    }

    /// The penalty (default: none).
    pub fn penalty(mut self, penalty: Penalty) -> Self {
        self.penalty = penalty;
        self
    }

    /// Per-feature penalty factors vⱼ ≥ 0 (default all 1; 0 leaves a feature unpenalized).
    pub fn penalty_factors(mut self, factors: Vec<f64>) -> Self {
        self.penalty_factors = Some(factors);
        self
    }

    /// Whether to fit an unpenalized intercept (default true).
    pub fn fit_intercept(mut self, yes: bool) -> Self {
        self.fit_intercept = yes;
        self
    }

    /// The acceleration scheme (default [`Acceleration::Auto`]: chosen per family and penalty).
    pub fn acceleration(mut self, acceleration: Acceleration) -> Self {
        self.options.acceleration = acceleration;
        self
    }

    /// Iteration budget (default 1000). Reaching it is reported by [`Fit::termination`].
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.options.max_iter = max_iter;
        self
    }

    /// Relative objective-change tolerance (default 1e-12); see [`SolverOptions::tol`].
    pub fn tol(mut self, tol: f64) -> Self {
        self.options.tol = tol;
        self
    }

    /// KKT tolerance (default 1e-11); see [`SolverOptions::kkt_tol`].
    pub fn kkt_tol(mut self, kkt_tol: f64) -> Self {
        self.options.kkt_tol = kkt_tol;
        self
    }

    /// Threshold below which ℓ₁-penalized coefficients become exact zeros (default 1e-9); see
    /// [`SolverOptions::zero_tol`].
    pub fn zero_tol(mut self, zero_tol: f64) -> Self {
        self.options.zero_tol = zero_tol;
        self
    }

    /// Every solver setting at once.
    pub fn solver_options(mut self, options: SolverOptions) -> Self {
        self.options = options;
        self
    }

    /// The backend to run on. Default: `SCALEMIX_BACKEND` (`auto`, `cpu` or `gpu`) when set,
    /// else [`BackendChoice::Auto`].
    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Runs on this GPU context (a device the application opened, or one built with
    /// particular [`GpuOptions`]); implies [`BackendChoice::Gpu`].
    pub fn gpu_context(mut self, context: GpuContext) -> Self {
        self.backend = Some(BackendChoice::Gpu);
        self.gpu = Some(context);
        self
    }

    /// Fits the model with unit sample weights.
    ///
    /// `x` is an nalgebra `&DMatrix<f64>` or a [`Design`] (e.g. `Design::row_major(&v, n, p)?`);
    /// `y` is `&[f64]`, `&[bool]`, `&Vec<_>` or `&DVector<f64>`.
    ///
    /// # Errors
    /// A specific [`Error`] for every bad input or setting (see its variants), or a numerical
    /// breakdown. Reaching `max_iter` is not an error.
    pub fn fit<'a, X, Y>(&self, x: X, y: &'a Y) -> Result<Fit>
    where
        X: Into<Design<'a>>,
        Y: AsTarget + ?Sized,
    {
        self.fit_impl(x.into(), y, None)
    }

    /// Fits the model with sample weights wᵢ ≥ 0 (not all zero).
    ///
    /// # Errors
    /// As [`Glm::fit`], plus weight errors.
    pub fn fit_weighted<'a, X, Y>(&self, x: X, y: &'a Y, weights: &'a [f64]) -> Result<Fit>
    where
        X: Into<Design<'a>>,
        Y: AsTarget + ?Sized,
    {
        self.fit_impl(x.into(), y, Some(weights))
    }

    /// Fits a binomial model ([`Glm::binomial`]): `successes[i]` out of `trials[i]` ≥ 0 in row i.
    ///
    /// # Errors
    /// As [`Glm::fit`]; [`Error::InvalidLabel`] for a count outside [0, trials],
    /// [`Error::NegativeValue`] for negative trials, [`Error::Unsupported`] when the model is
    /// not binomial.
    pub fn fit_binomial<'a, X>(&self, x: X, successes: &'a [f64], trials: &'a [f64]) -> Result<Fit>
    where
        X: Into<Design<'a>>,
    {
        self.fit_binomial_weighted(x, successes, trials, None)
    }

    /// [`Glm::fit_binomial`] with sample weights (`None`: all ones).
    ///
    /// # Errors
    /// As [`Glm::fit_binomial`], plus weight errors.
    pub fn fit_binomial_weighted<'a, X>(
        &self,
        x: X,
        successes: &'a [f64],
        trials: &'a [f64],
        weights: Option<&'a [f64]>,
    ) -> Result<Fit>
    where
        X: Into<Design<'a>>,
    {
        let start = Instant::now();
        self.check_options()?;
        let problem =
            self.binomial_problem("fit_binomial", x.into(), successes, trials, weights)?;
        self.fit_problem(problem, start)
    }

    /// The checked problem of a binomial entry point (`operation`, named in the error when the
    /// model is not binomial).
    pub(crate) fn binomial_problem<'a>(
        &self,
        operation: &'static str,
        x: Design<'a>,
        successes: &'a [f64],
        trials: &'a [f64],
        weights: Option<&'a [f64]>,
    ) -> Result<Problem<'a>> {
        if self.family != Family::Binomial {
            return Err(Error::Unsupported { operation, family: self.family.name() });
        }
        Problem::binomial(x, successes, trials, weights)
    }

    fn check_options(&self) -> Result<()> {
        let o = &self.options;
        let positive = |name, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(Error::InvalidOption {
                    name,
                    value: value.to_string(),
                    reason: "must be finite and > 0",
                })
            }
        };
        positive("tol", o.tol)?;
        positive("kkt_tol", o.kkt_tol)?;
        if !o.zero_tol.is_finite() || o.zero_tol < 0.0 {
            return Err(Error::InvalidOption {
                name: "zero_tol",
                value: o.zero_tol.to_string(),
                reason: "must be finite and ≥ 0",
            });
        }
        if o.max_iter == 0 {
            return Err(Error::InvalidOption {
                name: "max_iter",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        Ok(())
    }

    /// The model's family (the builder's, before any per-fit estimate).
    pub(crate) fn family(&self) -> Family {
        self.family
    }

    /// The starting point of a fit: β = 0, the intercept at the link of the weighted mean.
    pub(crate) fn null_start(&self, problem: &Problem<'_>) -> Vec<f64> {
        let p = problem.ncols();
        let mut theta = vec![0.0; p + usize::from(self.fit_intercept)];
        if self.fit_intercept {
            // Σ w (not W): binomial problems carry weights w·m.
            let total = problem.weights.iter().sum();
            theta[p] = problem.family.link(weighted_mean(&problem.y, &problem.weights, total));
        }
        theta
    }

    /// The penalty as set on the builder.
    pub(crate) fn penalty_value(&self) -> Penalty {
        self.penalty
    }

    /// Whether a Student-t σ is estimated along with β.
    pub(crate) fn estimates_sigma(&self) -> bool {
        self.estimate_sigma
    }

    /// Whether an intercept is fitted.
    pub(crate) fn intercept(&self) -> bool {
        self.fit_intercept
    }

    /// The solver settings.
    pub(crate) fn options(&self) -> SolverOptions {
        self.options
    }

    /// The solver settings with [`Acceleration::Auto`] resolved for this family and penalty.
    pub(crate) fn options_for(&self, family: Family, terms: &PenaltyTerms) -> SolverOptions {
        SolverOptions {
            acceleration: self.options.acceleration.resolve(family, terms),
            ..self.options
        }
    }

    /// The penalty expanded for `dim` coordinates of which the first `p` are features, after
    /// checking λ, α, the exponent and the penalty factors.
    pub(crate) fn checked_terms(&self, p: usize, dim: usize) -> Result<PenaltyTerms> {
        match &self.penalty_factors {
            Some(f) => {
                check_factors(f, p)?;
                self.penalty.terms(f, dim)
            }
            None => self.penalty.terms(&vec![1.0; p], dim),
        }
    }

    /// Solves one penalized problem from `theta0` on `backend`, finishing hinge and quantile
    /// GPU fits in f64 ([`PolishBackend`]), then recomputes the reported objective from each
    /// loss's definition and, for device fits, the KKT violation, in f64 on the CPU. Returns
    /// the backend for the next solve (a GPU one may have become its polished form).
    pub(crate) fn solve_point<'p>(
        &self,
        point: &Point<'_, 'p>,
        backend: Engine<'p>,
        theta0: Vec<f64>,
        seed: Option<Seed>,
    ) -> Result<(Solution, Engine<'p>)> {
        let problem = point.problem;
        let run = Run {
            penalty: point.terms,
            options: self.options_for(problem.family, point.terms),
            kkt_scale: point.kkt_scale,
            zero_threshold: point.zero_threshold,
            separation_bound: point.separation_bound,
        };
        let mut backend = backend;
        let mut solution = run.solve_seeded(backend.as_backend(), theta0, seed)?;
        let backend = match backend {
            // Hinge and quantile: ℓ' jumps at r = 0, so f32 rounding of η leaves the optimum's
            // support rows at residuals ~1e-7 (relative gaps ~1e-6). Finish with the gradient
            // and the weights in f64 on the CPU (O(n·p)) and S still on the device (O(n·p²)).
            Engine::Gpu(gpu) if problem.family.has_unbounded_weight() => {
                let mut polish = PolishBackend::new(problem, self.fit_intercept, gpu);
                let run = Run { kkt_scale: Some(solution.kkt_scale), ..run };
                let first = solution;
                solution = run.solve(&mut polish, first.theta)?;
                solution.iterations += first.iterations;
                solution.restarts += first.restarts;
                solution.trace = [first.trace, solution.trace[1..].to_vec()].concat();
                let offset = first.iterations;
                let polished = solution.trace_marks[1..].iter().map(|&(k, t)| (k + offset, t));
                solution.trace_marks = first.trace_marks.into_iter().chain(polished).collect();
                Engine::Polish(polish)
            }
            other => other,
        };
        if !matches!(backend, Engine::Cpu(_)) {
            // The reported KKT violation comes from one f64 pass on the CPU, whatever precision
            // the device iterated in.
            let mut stats = Stats::new(solution.theta.len());
            CpuBackend::new(problem, self.fit_intercept).evaluate(
                &solution.theta,
                Needs::Gradient,
                &mut stats,
            )?;
            solution.kkt_violation =
                point.terms.kkt_violation(&solution.theta, stats.gradient.as_slice());
        }
        // The reported objective uses each loss's definition, in f64, whatever the backend's
        // precision and whatever smoothing the iterations used (hinge and quantile).
        solution.objective = exact_mean_loss(problem, &solution.theta, self.fit_intercept)
            + point.terms.value(&solution.theta);
        Ok((solution, backend))
    }

    /// The backend this fit runs on (see [`BackendChoice`]).
    pub(crate) fn backend_for<'p>(&self, problem: &'p Problem<'p>) -> Result<Engine<'p>> {
        let choice = match self.backend {
            Some(choice) => choice,
            None => BackendChoice::from_env()?,
        };
        let dim = problem.ncols() + usize::from(self.fit_intercept);
        let cpu = || Engine::Cpu(CpuBackend::new(problem, self.fit_intercept));
        let gpu = |context: &GpuContext| -> Result<Engine<'p>> {
            log::info!("fitting on {}", context.describe());
            Ok(Engine::Gpu(GpuBackend::new(context, problem, self.fit_intercept)?))
        };
        match choice {
            BackendChoice::Cpu => Ok(cpu()),
            BackendChoice::Gpu => match &self.gpu {
                Some(context) => gpu(context),
                None => gpu(&default_gpu()?),
            },
            BackendChoice::Auto => {
                let work = problem.nrows() as f64 * (dim * dim) as f64;
                if work < AUTO_GPU_MIN_WORK {
                    return Ok(cpu());
                }
                match default_gpu() {
                    Ok(context) if !context.is_software() => gpu(&context),
                    Ok(context) => {
                        log::info!(
                            "auto: {} is a software adapter; using the CPU",
                            context.describe()
                        );
                        Ok(cpu())
                    }
                    Err(e) => {
                        log::info!("auto: no GPU ({e}); using the CPU");
                        Ok(cpu())
                    }
                }
            }
        }
    }

    fn fit_impl<'a, Y: AsTarget + ?Sized>(
        &self,
        x: Design<'a>,
        y: &'a Y,
        weights: Option<&'a [f64]>,
    ) -> Result<Fit> {
        let start = Instant::now();
        self.check_options()?;
        if self.family == Family::Binomial {
            return Err(Error::Unsupported {
                operation: "fit (use fit_binomial)",
                family: "binomial",
            });
        }
        let mut problem = Problem::new(x, y.as_target(), weights, self.family)?;
        if self.estimate_sigma {
            if let Family::StudentT { nu, .. } = self.family {
                problem.family = Family::StudentT { nu, sigma: initial_sigma(&problem) };
            }
        }
        let mut fit = self.fit_problem(problem.clone(), start)?;
        if let (true, Family::StudentT { nu, .. }) = (self.estimate_sigma, self.family) {
            // Block coordinate descent on the joint negative log-likelihood: σ at fixed β
            // (its own EM to convergence), then β at fixed σ from the previous β.
            for _ in 0..MAX_SIGMA_ROUNDS {
                let Family::StudentT { sigma, .. } = fit.family else { break };
                let next = student_t_sigma(&problem, &fit, nu, sigma);
                if (next - sigma).abs() <= SIGMA_TOL * sigma {
                    break;
                }
                problem.family = Family::StudentT { nu, sigma: next };
                let mut start_theta = fit.coefficients.clone();
                if self.fit_intercept {
                    start_theta.push(fit.intercept);
                }
                let iterations = fit.iterations;
                fit = self.fit_from(problem.clone(), start, Some(start_theta))?;
                fit.iterations += iterations;
            }
        }
        Ok(fit)
    }

    fn fit_problem(&self, problem: Problem<'_>, start: Instant) -> Result<Fit> {
        self.fit_from(problem, start, None)
    }

    /// Fits a checked problem, from `theta0` or from the null model.
    fn fit_from(
        &self,
        problem: Problem<'_>,
        start: Instant,
        theta0: Option<Vec<f64>>,
    ) -> Result<Fit> {
        problem.family.check()?;
        let p = problem.ncols();
        let dim = p + usize::from(self.fit_intercept);
        let terms = self.checked_terms(p, dim)?;

        let mut backend = self.backend_for(&problem)?;

        let family = problem.family;
        let mut theta0 = theta0.unwrap_or_else(|| self.null_start(&problem));
        let zero_threshold = zero_thresholds(&problem, self.options.zero_tol, dim);
        let separation_bound =
            family.separation_bound(problem.min_positive_weight, problem.weight_sum);

        // ℓ₁ weights make zero absorbing: start the lasso from the ridge fit at the same λ. Both
        // runs measure KKT against the gradient scale at the null model, where the first starts.
        let mut kkt_scale = None;
        if terms.has_lasso() {
            let ridge = PenaltyTerms {
                ridge: terms.ridge.iter().zip(&terms.lasso).map(|(r, l)| r + l).collect(),
                lasso: vec![0.0; dim],
                exponent: 1.0,
            };
            let warm = Run {
                penalty: &ridge,
                options: SolverOptions {
                    tol: 1e-8,
                    kkt_tol: 1e-6,
                    max_iter: 200,
                    ..self.options_for(family, &ridge)
                },
                kkt_scale,
                zero_threshold: &zero_threshold,
                separation_bound: None,
            };
            let warm = warm.solve(backend.as_backend(), theta0)?;
            kkt_scale = Some(warm.kkt_scale);
            theta0 = warm.theta;
        }

        let point = Point {
            problem: &problem,
            terms: &terms,
            zero_threshold: &zero_threshold,
            separation_bound,
            kkt_scale,
        };
        let (solution, backend) = self.solve_point(&point, backend, theta0, None)?;
        let info = backend.as_backend_ref().info();
        drop(backend);
        let mut theta = solution.theta;
        let intercept = if self.fit_intercept { theta.pop().unwrap_or(0.0) } else { 0.0 };
        Ok(Fit {
            family,
            penalty: self.penalty,
            coefficients: theta,
            intercept,
            objective: solution.objective,
            iterations: solution.iterations,
            termination: solution.termination,
            trace: solution.trace,
            trace_iterations: solution.trace_marks.iter().map(|m| m.0).collect(),
            trace_seconds: solution
                .trace_marks
                .iter()
                .map(|m| m.1.saturating_duration_since(start).as_secs_f64())
                .collect(),
            kkt_violation: solution.kkt_violation,
            restarts: solution.restarts,
            elapsed: start.elapsed(),
            backend: info,
        })
    }
}

/// (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ) with ℓ by its definition ([`Family::loss`]), in f64.
pub(crate) fn exact_mean_loss(problem: &Problem<'_>, theta: &[f64], intercept: bool) -> f64 {
    let p = problem.ncols();
    let b0 = if intercept { theta[p] } else { 0.0 };
    let total: f64 = (0..problem.nrows())
        .map(|i| {
            let eta = b0
                + problem.offset_at(i)
                + (0..p).map(|j| problem.x.get(i, j) * theta[j]).sum::<f64>();
            problem.weights[i] * problem.family.loss(problem.y[i], eta)
        })
        .sum();
    total / problem.weight_sum
}

/// Most σ updates of a Student-t fit with estimated scale.
const MAX_SIGMA_ROUNDS: usize = 200;
/// Relative change of σ below which its estimate is final.
const SIGMA_TOL: f64 = 1e-10;

/// 1.4826 × the weighted median absolute deviation of y from its median: a robust start for σ
/// (σ of a normal sample), floored so constant data still give a positive scale.
fn initial_sigma(problem: &Problem<'_>) -> f64 {
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) }
    };
    let mut y: Vec<f64> = problem.y.to_vec();
    let m = median(&mut y);
    let mut dev: Vec<f64> = problem.y.iter().map(|v| (v - m).abs()).collect();
    let mad = median(&mut dev);
    let scale = problem.y.iter().fold(0.0_f64, |a, v| a.max(v.abs())).max(1.0);
    (1.4826 * mad).max(1e-6 * scale)
}

/// σ minimizing the Student-t negative log-likelihood at the fit's residuals, by EM on σ²:
/// σ² ← (1/W) Σ wᵢ τᵢ rᵢ², τᵢ = (ν+1)/(ν + rᵢ²/σ²), from the current σ to a fixed point.
fn student_t_sigma(problem: &Problem<'_>, fit: &Fit, nu: f64, sigma: f64) -> f64 {
    let (n, p) = (problem.nrows(), problem.ncols());
    let r2: Vec<f64> = (0..n)
        .map(|i| {
            let eta: f64 = fit.intercept
                + (0..p).map(|j| problem.x.get(i, j) * fit.coefficients[j]).sum::<f64>();
            (problem.y[i] - eta).powi(2)
        })
        .collect();
    let mut s2 = sigma * sigma;
    for _ in 0..1000 {
        let next = r2
            .iter()
            .zip(problem.weights.iter())
            .map(|(&r2, &w)| w * (nu + 1.0) / (nu + r2 / s2) * r2)
            .sum::<f64>()
            / problem.weight_sum;
        let done = (next - s2).abs() <= 1e-14 * s2;
        s2 = next.max(f64::MIN_POSITIVE);
        if done {
            break;
        }
    }
    s2.sqrt()
}

/// One penalized problem to solve: the data, the expanded penalty and the solver's fixed inputs.
pub(crate) struct Point<'a, 'p> {
    pub problem: &'p Problem<'p>,
    pub terms: &'a PenaltyTerms,
    pub zero_threshold: &'a [f64],
    pub separation_bound: Option<f64>,
    pub kkt_scale: Option<f64>,
}

/// The backend a fit runs on.
pub(crate) enum Engine<'p> {
    Cpu(CpuBackend<'p>),
    Gpu(GpuBackend),
    Polish(PolishBackend<'p>),
}

impl<'p> Engine<'p> {
    pub(crate) fn as_backend_ref(&self) -> &(dyn Backend + 'p) {
        match self {
            Engine::Cpu(b) => b,
            Engine::Gpu(b) => b,
            Engine::Polish(b) => b,
        }
    }

    pub(crate) fn as_backend(&mut self) -> &mut (dyn Backend + 'p) {
        match self {
            Engine::Cpu(b) => b,
            Engine::Gpu(b) => b,
            Engine::Polish(b) => b,
        }
    }
}

/// The process-wide GPU context with default options, opened on first use and shared by every
/// fit (opening a device and compiling the kernels takes up to seconds).
fn default_gpu() -> Result<GpuContext> {
    static CONTEXT: OnceLock<std::result::Result<GpuContext, Error>> = OnceLock::new();
    CONTEXT.get_or_init(|| GpuContext::new(GpuOptions::default())).clone()
}

/// Per-coordinate |θⱼ| below which an ℓ₁ coordinate is an exact zero: `zero_tol` in units of
/// the response scale (1 on the logit scale; the weighted standard deviation of y for gaussian),
/// divided by the column's RMS, so the threshold bounds the coordinate's contribution to η.
pub(crate) fn zero_thresholds(problem: &Problem<'_>, zero_tol: f64, dim: usize) -> Vec<f64> {
    let response_scale = match problem.family {
        Family::Logistic | Family::Binomial | Family::Hinge => 1.0,
        Family::Gaussian | Family::Quantile { .. } | Family::StudentT { .. } => {
            let mean = weighted_mean(&problem.y, &problem.weights, problem.weight_sum);
            let var = problem
                .y
                .iter()
                .zip(problem.weights.iter())
                .map(|(&y, &w)| w * (y - mean) * (y - mean))
                .sum::<f64>()
                / problem.weight_sum;
            if var > 0.0 { var.sqrt() } else { 1.0 }
        }
    };
    let mut thresholds = vec![0.0; dim];
    for (t, scale) in thresholds.iter_mut().zip(problem.column_scales()) {
        // An all-zero column never changes η: any value of its coefficient is a zero.
        *t = if scale > 0.0 { zero_tol * response_scale / scale } else { f64::INFINITY };
    }
    thresholds
}

pub(crate) fn weighted_mean(y: &[f64], w: &[f64], weight_sum: f64) -> f64 {
    y.iter().zip(w).map(|(y, w)| y * w).sum::<f64>() / weight_sum
}

/// A fitted model and the record of how it was fitted.
#[derive(Debug, Clone)]
pub struct Fit {
    family: Family,
    penalty: Penalty,
    coefficients: Vec<f64>,
    intercept: f64,
    objective: f64,
    iterations: usize,
    termination: Termination,
    trace: Vec<f64>,
    trace_iterations: Vec<usize>,
    trace_seconds: Vec<f64>,
    kkt_violation: f64,
    restarts: usize,
    elapsed: Duration,
    backend: BackendInfo,
}

impl Fit {
    /// The coefficients β, one per column of X (exact zeros where the ℓ₁ penalty set them).
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// The intercept b₀ (0 when none was fitted).
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// The objective F at the returned coefficients.
    pub fn objective(&self) -> f64 {
        self.objective
    }

    /// Whether the fit stopped on its convergence criteria.
    pub fn converged(&self) -> bool {
        self.termination == Termination::Converged
    }

    /// Why the fit stopped.
    pub fn termination(&self) -> Termination {
        self.termination
    }

    /// Number of EM iterations run.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// F at the start and after each iteration.
    pub fn objective_trace(&self) -> &[f64] {
        &self.trace
    }

    /// Per entry of [`Fit::objective_trace`], the iterations done when it was reached (an
    /// accelerated step may count more than one: a SQUAREM cycle is three M-steps).
    pub fn trace_iterations(&self) -> &[usize] {
        &self.trace_iterations
    }

    /// Per entry of [`Fit::objective_trace`], the seconds since the fit started (including
    /// checking the input and any warm start before the first entry).
    pub fn trace_seconds(&self) -> &[f64] {
        &self.trace_seconds
    }

    /// The KKT violation (∞-norm of the minimum-norm subgradient of F) at the result.
    pub fn kkt_violation(&self) -> f64 {
        self.kkt_violation
    }

    /// How many steps were discarded for the plain EM step because they raised F (function-value
    /// restart, or the Newton safeguard).
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// Wall time of the fit, checks included.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The backend and device that ran.
    pub fn backend(&self) -> &BackendInfo {
        &self.backend
    }

    /// The family fitted.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The penalty fitted.
    pub fn penalty(&self) -> Penalty {
        self.penalty
    }

    /// The linear predictor η = Xβ + b₀ for new rows.
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`] when X has the wrong number of columns, or
    /// [`Error::NonFiniteDesign`] for a NaN or infinite entry.
    pub fn decision_function<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        let x = x.into();
        if x.ncols() != self.coefficients.len() {
            return Err(Error::FeatureMismatch {
                expected: self.coefficients.len(),
                found: x.ncols(),
            });
        }
        let mut eta = Vec::with_capacity(x.nrows());
        for row in 0..x.nrows() {
            let mut s = self.intercept;
            for (col, b) in self.coefficients.iter().enumerate() {
                let value = x.get(row, col);
                if !value.is_finite() {
                    return Err(Error::NonFiniteDesign { row, col, value });
                }
                s += value * b;
            }
            eta.push(s);
        }
        Ok(eta)
    }

    /// P(y = 1 | x) for a logistic model.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for families without probabilities, else as
    /// [`Fit::decision_function`].
    pub fn predict_proba<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        if !matches!(self.family, Family::Logistic | Family::Binomial) {
            return Err(Error::Unsupported {
                operation: "predict_proba",
                family: self.family.name(),
            });
        }
        let eta = self.decision_function(x)?;
        Ok(eta.into_iter().map(|e| self.family.inverse_link(e)).collect())
    }

    /// Predictions on the response scale: class labels 0/1 for logistic (probability ≥ ½),
    /// the mean for gaussian.
    ///
    /// # Errors
    /// As [`Fit::decision_function`].
    pub fn predict<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        let eta = self.decision_function(x)?;
        Ok(match self.family {
            Family::Logistic | Family::Binomial => {
                eta.into_iter().map(|e| f64::from(e >= 0.0)).collect()
            }
            Family::Hinge => eta.into_iter().map(|e| if e >= 0.0 { 1.0 } else { -1.0 }).collect(),
            Family::Gaussian | Family::Quantile { .. } | Family::StudentT { .. } => eta,
        })
    }
}
