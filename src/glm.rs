//! The user-facing API: the [`Glm`] builder and the [`Fit`] it returns.

use std::time::{Duration, Instant};

use crate::backend::{BackendChoice, BackendInfo, GpuContext};
use crate::check::Entry;
use crate::data::{AsTarget, Data, Design};
use crate::error::Result;
use crate::execution::Execution;
use crate::family::Family;
use crate::penalty::Penalty;
use crate::predict::{self, LinearModel};
use crate::solver::{Acceleration, SolverOptions, Termination};
use crate::stream::StreamOptions;

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
    pub(crate) family: Family,
    pub(crate) penalty: Penalty,
    pub(crate) penalty_factors: Option<Vec<f64>>,
    pub(crate) fit_intercept: bool,
    pub(crate) options: SolverOptions,
    /// Estimate the family's own parameter along with β: Student-t's σ ([`Glm::student_t`]) or
    /// the negative binomial's θ ([`Glm::negative_binomial`]).
    pub(crate) estimate_parameter: bool,
    /// Penalize the coefficients of the standardized columns (glmnet's `standardize`).
    pub(crate) standardize: bool,
    /// Multinomial fits penalize every class's coefficients, none fixed at zero
    /// ([`Glm::symmetric_multinomial`]).
    pub(crate) symmetric: bool,
    /// Where and how fits run (nothing here changes the optimum).
    pub(crate) execution: Execution,
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
            estimate_parameter: false,
            standardize: false,
            symmetric: false,
            execution: Execution::default(),
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
    /// [`Glm::fit_data`] on [`crate::Data::binomial`].
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
    /// σ used. Paths and cross-validation need σ given (every point fits the same model).
    pub fn student_t(nu: f64, sigma: Option<f64>) -> Self {
        let mut glm = Self::new(Family::StudentT { nu, sigma: sigma.unwrap_or(1.0) });
        glm.estimate_parameter = sigma.is_none();
        glm
    }

    /// Negative binomial counts (NB2, log link) with dispersion θ: `Some(θ)` keeps θ fixed;
    /// `None` estimates it by maximum likelihood as R's `MASS::glm.nb` does: a Poisson-like
    /// start, then fits at fixed θ alternating with θ's own maximum likelihood at fixed μ
    /// (Newton on log θ) until θ changes by less than 1e-10 relative. [`Fit::family`] reports
    /// the θ used; [`Glm::inference`] its standard error. Counts without overdispersion drive
    /// the likelihood towards the Poisson limit θ → ∞: θ then stops at 1e10 (the fit is
    /// Poisson's to 1e-10) and its standard error is infinite. Paths and cross-validation need
    /// θ given (every point fits the same model).
    pub fn negative_binomial(theta: Option<f64>) -> Self {
        let mut glm = Self::new(Family::NegativeBinomial { theta: theta.unwrap_or(1.0) });
        glm.estimate_parameter = theta.is_none();
        glm
    }

    /// Poisson counts with the log link (see [`Family::Poisson`]).
    pub fn poisson() -> Self {
        Self::new(Family::Poisson)
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

    /// How a single ridge fit, or each class of a multinomial ridge fit, solves its M-step's
    /// linear system (default [`crate::LinearSolver::Auto`], the cost model's choice). Asking for
    /// conjugate gradients or the dual where they do not apply (ℓ₁ penalties, hinge and
    /// quantile, paths) is an error.
    pub fn linear_solver(mut self, solver: crate::LinearSolver) -> Self {
        self.execution.linear_solver = solver;
        self
    }

    /// The backend to run on. Default: `SCALEMIX_BACKEND` (`auto`, `cpu` or `gpu`) when set,
    /// else [`BackendChoice::Auto`].
    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.execution.backend = Some(backend);
        self
    }

    /// Where and how fits run: the backend, a GPU context, the memory limit and how row
    /// sources are read, all at once ([`Execution`]; the four methods that set one part each
    /// change the same value).
    pub fn execution(mut self, execution: Execution) -> Self {
        self.execution = execution;
        self
    }

    /// The most memory, in bytes, a fit may plan to use (default: the memory the system reports
    /// available, where it reports it). A fit whose estimate (its p × p matrices and row
    /// buffers) exceeds it ends with [`Error::OutOfMemory`](crate::Error::OutOfMemory) before
    /// allocating them.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.execution.max_memory = Some(bytes);
        self
    }

    /// Penalizes the coefficients of the standardized columns, as glmnet's `standardize = TRUE`
    /// does (default `false`: the penalty applies to the coefficients as given).
    ///
    /// Each column is centered (with an intercept) and scaled to unit weighted standard
    /// deviation (without one: unit weighted root mean square), the model is fitted there and
    /// the coefficients are mapped back to the original columns. This changes the problem: λ
    /// then weighs βⱼ·sⱼ instead of βⱼ, so features on different scales are penalized alike; the
    /// reported objective and KKT violation are those of that problem. Constant columns keep
    /// scale 1. With `false`, badly scaled designs are still preconditioned internally, but the
    /// penalty is carried along so the optimum is exactly the one of the data as given.
    ///
    /// Cross-validation standardizes once, with the whole data's means and deviations, and every
    /// fold is fitted in those coordinates (the folds share one copy of X); glmnet's `cv.glmnet`
    /// standardizes each training fold on its own, so fold fits there penalize slightly
    /// different columns.
    pub fn standardize(mut self, on: bool) -> Self {
        self.standardize = on;
        self
    }

    /// Multinomial fits ([`Glm::fit_multiclass`]) in the symmetric parameterization of
    /// scikit-learn and glmnet: every class has its own coefficients and all K are penalized
    /// (off by default: the first class is the reference, its coefficients fixed at zero). With
    /// a penalty the two are different models; without one they give the same probabilities.
    pub fn symmetric_multinomial(mut self, on: bool) -> Self {
        self.symmetric = on;
        self
    }

    /// How [`Glm::fit_source`], [`Glm::path_source`] and [`Glm::cv_source`] read their source:
    /// the block size and a progress callback called after every pass.
    pub fn stream_options(mut self, options: StreamOptions) -> Self {
        self.execution.stream = options;
        self
    }

    /// Runs on this GPU context (a device the application opened, or one built with
    /// particular [`GpuOptions`](crate::backend::GpuOptions)); implies [`BackendChoice::Gpu`].
    pub fn gpu_context(mut self, context: GpuContext) -> Self {
        self.execution.backend = Some(BackendChoice::Gpu);
        self.execution.gpu = Some(context);
        self
    }

    /// Fits the model with unit sample weights (see [`Glm::fit_data`] for weights and
    /// binomial counts).
    ///
    /// `x` is an nalgebra `&DMatrix<f64>` or a [`Design`] (e.g. `Design::row_major(&v, n, p)?`);
    /// `y` is `&[f64]`, `&[bool]`, `&Vec<_>` or `&DVector<f64>`.
    ///
    /// # Errors
    /// A specific [`Error`](crate::Error) for every bad input or setting (see its variants), or a numerical
    /// breakdown. Reaching `max_iter` is not an error.
    pub fn fit<'a, X, Y>(&self, x: X, y: &'a Y) -> Result<Fit>
    where
        X: Into<Design<'a>>,
        Y: AsTarget + ?Sized,
    {
        self.fit_data(&Data::new(x, y))
    }

    /// Fits the model to `data`: labels or values, or binomial successes out of trials
    /// ([`Data::binomial`], for [`Glm::binomial`]), with optional sample weights.
    ///
    /// # Errors
    /// As [`Glm::fit`], plus weight errors; for counts
    /// [`Error::InvalidLabel`](crate::Error::InvalidLabel) for a count outside [0, trials],
    /// [`Error::NegativeValue`](crate::Error::NegativeValue) for negative trials, and
    /// [`Error::Unsupported`](crate::Error::Unsupported) for counts to a family other than
    /// binomial (or values to binomial).
    pub fn fit_data(&self, data: &Data<'_>) -> Result<Fit> {
        let start = Instant::now();
        data.on_rows(|data| {
            let (model, problem) = self.check(Entry::Fit, data)?;
            model.fit(problem, start)
        })
    }

    /// The model's family (the builder's, before any per-fit estimate).
    pub(crate) fn family(&self) -> Family {
        self.family
    }
}

/// A fitted model and the record of how it was fitted.
#[derive(Debug, Clone)]
pub struct Fit {
    pub(crate) family: Family,
    pub(crate) penalty: Penalty,
    pub(crate) coefficients: Vec<f64>,
    pub(crate) intercept: f64,
    pub(crate) objective: f64,
    pub(crate) iterations: usize,
    pub(crate) termination: Termination,
    pub(crate) trace: Vec<f64>,
    pub(crate) trace_iterations: Vec<usize>,
    pub(crate) trace_seconds: Vec<f64>,
    pub(crate) kkt_violation: f64,
    pub(crate) restarts: usize,
    pub(crate) elapsed: Duration,
    pub(crate) backend: BackendInfo,
    pub(crate) phases: Phases,
}

/// Where a fit's iterations ran: on its backend's own passes (the f32 kernels of a GPU), then,
/// where those stopped short of the f64 KKT check, on f64 passes on the CPU (the f64 finish,
/// docs/sm-em.md §2). On the CPU every iteration is the backend's and none is the finish's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Iterations on the backend's own passes.
    pub backend_iterations: usize,
    /// Iterations of the f64 finish after them (0 where the backend's result passed the f64
    /// check, and always on the CPU backend).
    pub finish_iterations: usize,
    /// F by its f64 definition, in the caller's coordinates, where the backend's iterations
    /// ended: what the backend reached alone (the fit's objective when no finish followed).
    pub backend_objective: f64,
    /// Why the backend's iterations stopped (the fit's termination when no finish followed).
    pub backend_termination: Termination,
}

impl Phases {
    /// A fit whose every iteration ran on its backend.
    pub(crate) fn backend_only(
        iterations: usize,
        objective: f64,
        termination: Termination,
    ) -> Self {
        Self {
            backend_iterations: iterations,
            finish_iterations: 0,
            backend_objective: objective,
            backend_termination: termination,
        }
    }
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

    /// The KKT violation (∞-norm of the minimum-norm subgradient of F) at the result, in the
    /// caller's coordinates, computed in f64 on the CPU for fits on a rounding backend or on a
    /// preconditioned design. For a design whose columns were recentred, it includes the
    /// rounding of mapping the coefficients back (about ε·|μⱼβⱼ| in the intercept for a column
    /// offset by μⱼ); convergence itself is judged in the preconditioned coordinates.
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

    /// How the iterations split between the backend and the f64 finish, and the objective the
    /// backend reached alone.
    pub fn phases(&self) -> &Phases {
        &self.phases
    }

    /// The family fitted.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The penalty fitted.
    pub fn penalty(&self) -> Penalty {
        self.penalty
    }

    /// The fitted parameters as a [`LinearModel`] (to keep or save without the fit's record).
    pub fn to_model(&self) -> LinearModel {
        LinearModel::from_fit(self.family, self.coefficients.clone(), self.intercept)
    }

    /// This fit continuing `previous` (a later stage of the same fit, from its coefficients):
    /// its iterations counted on top of `previous`'s and its objective trace after
    /// `previous`'s (the traces' times already count from the same start).
    pub(crate) fn continue_trace(&mut self, previous: &Fit) {
        let offset = previous.iterations;
        let later = self.trace_iterations[1..].iter().map(|k| k + offset);
        self.trace_iterations = previous.trace_iterations.iter().copied().chain(later).collect();
        self.trace = [previous.trace.clone(), self.trace[1..].to_vec()].concat();
        self.trace_seconds =
            [previous.trace_seconds.clone(), self.trace_seconds[1..].to_vec()].concat();
        self.count_after(previous);
    }

    /// Counts `previous`'s iterations (and their phases) into this fit's: the rounds of an
    /// alternation that estimates a family's parameter report their work in all.
    pub(crate) fn count_after(&mut self, previous: &Fit) {
        self.iterations += previous.iterations;
        self.phases.backend_iterations += previous.phases.backend_iterations;
        self.phases.finish_iterations += previous.phases.finish_iterations;
    }

    /// The linear predictor η = Xβ + b₀ for new rows.
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`](crate::Error::FeatureMismatch) when X has the wrong number of columns, or
    /// [`Error::NonFiniteDesign`](crate::Error::NonFiniteDesign) for a NaN or infinite entry.
    pub fn decision_function<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        predict::linear_predictor(&self.coefficients, self.intercept, x.into())
    }

    /// P(y = 1 | x) for a logistic model.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) for families without probabilities ([`Family::probability`]),
    /// else as [`Fit::decision_function`].
    pub fn predict_proba<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        predict::probabilities(self.family, &self.coefficients, self.intercept, x.into())
    }

    /// Predictions on the response scale ([`Family::predict`]): class labels 0/1 for logistic
    /// (probability ≥ ½), ±1 for hinge, η itself for the regression families.
    ///
    /// # Errors
    /// As [`Fit::decision_function`].
    pub fn predict<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        predict::predictions(self.family, &self.coefficients, self.intercept, x.into())
    }
}
