//! The driver: what happens between a checked [`Model`] and a result, in one place.
//!
//! Fits, paths, cross-validation, multiclass fits and the baselines all come here for:
//! - **the backend**: [`Model::open`] (the choice itself is [`crate::backend::open`]);
//! - **the start**: [`Model::null_start`], and for ℓ₁ penalties the ridge fit at the same λ;
//! - **the step scheme**: [`Model::run`] turns [`crate::Acceleration::Auto`] into a concrete
//!   scheme, the only place that happens;
//! - **the f64 finish**: [`Model::solve_point`] hands hinge and quantile fits on a backend that
//!   rounds to [`PolishBackend`] (an [`Engine`] remembers that it did), and reports the
//!   objective from each loss's definition and, for such backends, the KKT violation, in f64 on
//!   the CPU;
//! - **seeding**: the statistics a solve ended with start the next one on the same problem.

use std::time::Instant;

use crate::backend::{self, Backend, BackendInfo, CpuBackend, Needs, PolishBackend, Stats};
use crate::check::Model;
use crate::data::{Design, Problem};
use crate::error::Result;
use crate::family::Family;
use crate::glm::Fit;
use crate::penalty::PenaltyTerms;
use crate::precondition::Preconditioner;
use crate::solver::{Run, Seed, Solution, SolverOptions, Termination};

/// One penalized problem to solve: the data, the expanded penalty and the solver's fixed inputs.
pub(crate) struct Point<'a, 'p> {
    pub problem: &'a Problem<'p>,
    pub terms: &'a PenaltyTerms,
    pub zero_threshold: &'a [f64],
    pub separation_bound: Option<f64>,
    pub kkt_scale: Option<f64>,
}

/// The backend one problem's solves run on, and whether the f64 finish has taken over (after
/// the first hinge or quantile solve on a backend that rounds, every later solve of the same
/// problem — the rest of a path — runs on [`PolishBackend`] from the start).
pub(crate) struct Engine<'b, 'p> {
    backend: &'b mut (dyn Backend + 'p),
    polished: bool,
}

impl<'b, 'p> Engine<'b, 'p> {
    /// Solves on `backend`, nothing polished yet.
    pub(crate) fn new(backend: &'b mut (dyn Backend + 'p)) -> Self {
        Self { backend, polished: false }
    }

    /// The backend (the one opened, not its polished view).
    pub(crate) fn backend(&mut self) -> &mut (dyn Backend + 'p) {
        self.backend
    }
}

impl Model {
    /// The backend this model runs on for `problem` (see [`crate::BackendChoice`]).
    pub(crate) fn open<'p>(&self, problem: &Problem<'p>) -> Result<Box<dyn Backend + 'p>> {
        let (choice, context) = self.backend();
        backend::open(choice, context, problem, self.intercept())
    }

    /// The starting point of a fit: β = 0, the intercept at the link of the weighted mean.
    pub(crate) fn null_start(&self, problem: &Problem<'_>) -> Vec<f64> {
        let p = problem.ncols();
        let mut theta = vec![0.0; p + usize::from(self.intercept())];
        if self.intercept() {
            // Σ w (not W): binomial problems carry weights w·m.
            let total = problem.weights.iter().sum();
            theta[p] = problem.family.link(weighted_mean(&problem.y, &problem.weights, total));
        }
        theta
    }

    /// The run for `point` with `options` (budget and tolerances), its acceleration resolved
    /// for the point's family and penalty.
    pub(crate) fn run<'a>(&self, point: &Point<'a, '_>, options: SolverOptions) -> Run<'a> {
        Run {
            penalty: point.terms,
            scheme: options.acceleration.scheme(point.problem.family, point.terms),
            options,
            kkt_scale: point.kkt_scale,
            zero_threshold: point.zero_threshold,
            separation_bound: point.separation_bound,
        }
    }

    /// Solves one penalized problem from `theta0` on `engine`, finishing hinge and quantile fits
    /// on a backend that rounds in f64 ([`PolishBackend`]), then recomputes the reported
    /// objective from each loss's definition and, for such backends, the KKT violation, in f64
    /// on the CPU.
    pub(crate) fn solve_point(
        &self,
        point: &Point<'_, '_>,
        engine: &mut Engine<'_, '_>,
        theta0: Vec<f64>,
        seed: Option<Seed>,
    ) -> Result<Solution> {
        let problem = point.problem;
        let intercept = self.intercept();
        let run = self.run(point, self.options());
        let mut solution = if engine.polished {
            let mut polish = PolishBackend::new(problem, intercept, &mut *engine.backend);
            let mut solution = run.solve_seeded(&mut polish, theta0, seed)?;
            solution.polished = true;
            solution
        } else {
            run.solve_seeded(&mut *engine.backend, theta0, seed)?
        };
        let exact = engine.backend.exact();
        // Hinge and quantile: ℓ' jumps at r = 0, so rounding η (f32) leaves the optimum's
        // support rows at residuals ~1e-7 (relative gaps ~1e-6). Finish with the gradient and
        // the weights in f64 on the CPU (O(n·p)) and S still on the backend (O(n·p²)); every
        // later solve of the problem (the rest of a path) runs that way from the start.
        if !exact && !engine.polished && problem.family.has_unbounded_weight() {
            solution = self.polish(point, engine, &run, solution)?;
            engine.polished = true;
        }
        if !exact {
            // Converged is only said when the KKT conditions hold in f64: one f64 pass on the
            // CPU, whatever precision the backend iterated in. Where they do not, the f64
            // finish continues from the result; if even that cannot meet the tolerance, the
            // fit says it stalled.
            let (mut kkt, mut target) = self.f64_kkt(point, &solution)?;
            if solution.termination == Termination::Converged && kkt > target && !solution.polished
            {
                solution = self.polish(point, engine, &run, solution)?;
                (kkt, target) = self.f64_kkt(point, &solution)?;
            }
            solution.kkt_violation = kkt;
            if solution.termination == Termination::Converged && kkt > target {
                solution.termination = Termination::Stalled;
            }
        }
        // The reported objective uses each loss's definition, in f64, whatever the backend's
        // precision and whatever smoothing the iterations used (hinge and quantile).
        solution.objective = exact_mean_loss(problem, &solution.theta, intercept)
            + point.terms.value(&solution.theta);
        Ok(solution)
    }

    /// Continues `first` on the f64 finish ([`PolishBackend`] over the engine's backend), with
    /// the same KKT scale, and joins the two runs' records.
    fn polish(
        &self,
        point: &Point<'_, '_>,
        engine: &mut Engine<'_, '_>,
        run: &Run<'_>,
        first: Solution,
    ) -> Result<Solution> {
        let mut polish = PolishBackend::new(point.problem, self.intercept(), &mut *engine.backend);
        let run = Run { kkt_scale: Some(first.kkt_scale), ..*run };
        let finish = run.solve(&mut polish, first.theta.clone())?;
        Ok(first.continued_by(finish))
    }

    /// The loss and ∇L (with its rounding-error scale) at `theta`, from one f64 pass on the CPU.
    fn f64_gradient(&self, problem: &Problem<'_>, theta: &[f64]) -> Result<Stats> {
        let mut stats = Stats::new(theta.len());
        CpuBackend::new(problem, self.intercept()).evaluate(theta, Needs::Gradient, &mut stats)?;
        Ok(stats)
    }

    /// The KKT violation at `solution` with ∇L from one f64 pass on the CPU, and the tolerance
    /// it must meet: `kkt_tol` × the run's KKT scale, floored at the f64 gradient's own
    /// rounding error (non-zero only for hinge and quantile, whose ℓ' jumps).
    fn f64_kkt(&self, point: &Point<'_, '_>, solution: &Solution) -> Result<(f64, f64)> {
        let stats = self.f64_gradient(point.problem, &solution.theta)?;
        let kkt = point.terms.kkt_violation(&solution.theta, stats.gradient.as_slice());
        let target = (self.options().kkt_tol * solution.kkt_scale).max(stats.gradient_error.amax());
        Ok((kkt, target))
    }

    /// Fits a checked problem: from the null model, and for a Student-t model with σ to
    /// estimate, alternating with σ's own EM until σ settles.
    pub(crate) fn fit(&self, mut problem: Problem<'_>, start: Instant) -> Result<Fit> {
        let Family::StudentT { nu, .. } = self.family() else {
            return self.fit_from(&problem, start, None);
        };
        if !self.estimates_sigma() {
            return self.fit_from(&problem, start, None);
        }
        problem.family = Family::StudentT { nu, sigma: initial_sigma(&problem) };
        let mut fit = self.fit_from(&problem, start, None)?;
        // Block coordinate descent on the joint negative log-likelihood: σ at fixed β (its own
        // EM to convergence), then β at fixed σ from the previous β.
        for _ in 0..MAX_SIGMA_ROUNDS {
            let Family::StudentT { sigma, .. } = fit.family else { break };
            let next = student_t_sigma(&problem, &fit, nu, sigma);
            if (next - sigma).abs() <= SIGMA_TOL * sigma {
                break;
            }
            problem.family = Family::StudentT { nu, sigma: next };
            let start_theta = self.theta_of(&fit.coefficients, fit.intercept);
            let iterations = fit.iterations;
            fit = self.fit_from(&problem, start, Some(start_theta))?;
            fit.iterations += iterations;
        }
        Ok(fit)
    }

    /// The preconditioned form this model fits `problem` in, if any: glmnet's standardization
    /// with [`crate::Glm::standardize`], otherwise a [`Preconditioner`] only for a badly scaled
    /// design. The copy of X is counted against the memory limit first.
    ///
    /// # Errors
    /// [`crate::Error::OutOfMemory`] when the copy does not fit.
    pub(crate) fn preconditioned(&self, problem: &Problem<'_>) -> Result<Option<Preconditioned>> {
        let pre = if self.standardizes() {
            Some(Preconditioner::standardizing(problem, self.intercept()))
        } else {
            Preconditioner::for_problem(problem, self.intercept())
        };
        let Some(pre) = pre else { return Ok(None) };
        let copy = (problem.nrows() as u64).saturating_mul(problem.ncols() as u64 * 8);
        self.check_memory(problem, copy)?;
        Ok(Some(Preconditioned {
            data: pre.design(problem.x),
            model: self.in_preconditioned_coordinates(pre.scale()),
            pre,
        }))
    }

    /// θ = (β, b₀) as the solver holds it: the intercept last, only when the model fits one.
    pub(crate) fn theta_of(&self, coefficients: &[f64], intercept: f64) -> Vec<f64> {
        let mut theta = coefficients.to_vec();
        if self.intercept() {
            theta.push(intercept);
        }
        theta
    }

    /// (β, b₀) from θ (b₀ = 0 without an intercept).
    pub(crate) fn split_theta(&self, mut theta: Vec<f64>) -> (Vec<f64>, f64) {
        let intercept = if self.intercept() { theta.pop().unwrap_or(0.0) } else { 0.0 };
        (theta, intercept)
    }

    /// Fits a checked problem, from `theta0` (the user's coordinates) or from the null model.
    /// A badly scaled design is fitted in its preconditioned form ([`Preconditioner`]; the
    /// objective is the same) and the result mapped back, its objective and KKT violation then
    /// recomputed in f64 in the user's coordinates; with `standardize` the standardized
    /// problem's own objective and KKT violation are reported.
    fn fit_from(
        &self,
        problem: &Problem<'_>,
        start: Instant,
        theta0: Option<Vec<f64>>,
    ) -> Result<Fit> {
        let dim = problem.ncols() + usize::from(self.intercept());
        let Some(preconditioned) = self.preconditioned(problem)? else {
            return self.fit_as_given(problem, &self.terms(dim)?, start, theta0);
        };
        let Preconditioned { pre, model: inner, .. } = &preconditioned;
        let internal = preconditioned.problem(problem)?;
        let theta0 = theta0.map(|t| pre.to_internal(&t));
        let mut fit = inner.fit_as_given(&internal, &inner.terms(dim)?, start, theta0)?;
        let theta = pre.to_user(&self.theta_of(&fit.coefficients, fit.intercept));
        if !self.standardizes() {
            // The report, in the user's coordinates, from the definitions, in f64.
            let user_terms = self.terms(dim)?;
            fit.objective =
                exact_mean_loss(problem, &theta, self.intercept()) + user_terms.value(&theta);
            let stats = self.f64_gradient(problem, &theta)?;
            fit.kkt_violation = user_terms.kkt_violation(&theta, stats.gradient.as_slice());
        }
        (fit.coefficients, fit.intercept) = self.split_theta(theta);
        Ok(fit)
    }

    /// [`Model::fit_from`] on the design as given.
    fn fit_as_given(
        &self,
        problem: &Problem<'_>,
        terms: &PenaltyTerms,
        start: Instant,
        theta0: Option<Vec<f64>>,
    ) -> Result<Fit> {
        let p = problem.ncols();
        let dim = p + usize::from(self.intercept());

        let mut backend = self.open(problem)?;
        let mut engine = Engine::new(&mut *backend);

        let family = problem.family;
        let mut theta0 = theta0.unwrap_or_else(|| self.null_start(problem));
        let zero_threshold = zero_thresholds(problem, self.options().zero_tol, dim);
        let separation_bound =
            family.separation_bound(problem.min_positive_weight, problem.weight_sum);

        // ℓ₁ weights make zero absorbing in EM's M-step: start the lasso from the ridge fit at
        // the same λ. Both runs measure KKT against the gradient scale at the null model, where
        // the first starts. The exact ℓ₁ M-step moves zeros itself and starts from the null model.
        let mut kkt_scale = None;
        let exact_l1 = self.options().acceleration.scheme(family, terms).is_exact_l1();
        if terms.has_lasso() && !exact_l1 {
            let ridge = PenaltyTerms {
                ridge: terms.ridge.iter().zip(&terms.lasso).map(|(r, l)| r + l).collect(),
                lasso: vec![0.0; dim],
                exponent: 1.0,
            };
            let warm_point = Point {
                problem,
                terms: &ridge,
                zero_threshold: &zero_threshold,
                separation_bound: None,
                kkt_scale,
            };
            let loose = SolverOptions { tol: 1e-8, kkt_tol: 1e-6, max_iter: 200, ..self.options() };
            let warm = self.run(&warm_point, loose).solve(engine.backend(), theta0)?;
            kkt_scale = Some(warm.kkt_scale);
            theta0 = warm.theta;
        }

        let point =
            Point { problem, terms, zero_threshold: &zero_threshold, separation_bound, kkt_scale };
        let solution = self.solve_point(&point, &mut engine, theta0, None)?;
        let mut info = backend.info();
        if solution.polished {
            info.device.push_str(" + f64 gradient on the CPU for the final iterations");
        }
        drop(backend);
        Ok(self.fit_of(family, solution, start, info))
    }

    /// The fit record of `solution` (θ in the user's coordinates, with the objective and KKT
    /// violation to report), its trace timed from `start`.
    pub(crate) fn fit_of(
        &self,
        family: Family,
        solution: Solution,
        start: Instant,
        backend: BackendInfo,
    ) -> Fit {
        let (coefficients, intercept) = self.split_theta(solution.theta);
        Fit {
            family,
            penalty: self.penalty(),
            coefficients,
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
            backend,
        }
    }
}

/// A problem's preconditioned form ([`Model::preconditioned`]): the mapping, the model for the
/// new coordinates and the preconditioned copy of X (row-major).
pub(crate) struct Preconditioned {
    pub pre: Preconditioner,
    pub model: Model,
    data: Vec<f64>,
}

impl Preconditioned {
    /// `given` with its X replaced by the preconditioned copy.
    ///
    /// # Errors
    /// None in practice (the copy has `given`'s shape).
    pub(crate) fn problem<'a>(&'a self, given: &Problem<'a>) -> Result<Problem<'a>> {
        let x = Design::row_major(&self.data, given.nrows(), given.ncols())?;
        Ok(Problem { x, ..given.clone() })
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

/// Per-coordinate |θⱼ| below which an ℓ₁ coordinate is an exact zero: `zero_tol` in units of
/// the family's response scale ([`Family::response_scale`]), divided by the column's RMS, so
/// the threshold bounds the coordinate's contribution to η.
pub(crate) fn zero_thresholds(problem: &Problem<'_>, zero_tol: f64, dim: usize) -> Vec<f64> {
    let response_scale =
        problem.family.response_scale(&problem.y, &problem.weights, problem.weight_sum);
    let mut thresholds = vec![0.0; dim];
    for (t, scale) in thresholds.iter_mut().zip(problem.column_scales()) {
        // An all-zero column never changes η: any value of its coefficient is a zero.
        *t = if scale > 0.0 { zero_tol * response_scale / scale } else { f64::INFINITY };
    }
    thresholds
}

/// Σ wᵢ yᵢ / `weight_sum`.
pub(crate) fn weighted_mean(y: &[f64], w: &[f64], weight_sum: f64) -> f64 {
    y.iter().zip(w).map(|(y, w)| y * w).sum::<f64>() / weight_sum
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
