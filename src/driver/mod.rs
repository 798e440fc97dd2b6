//! The driver: what happens between a checked [`Model`] and a result, in one place, for rows
//! in memory, read from a source at every pass, or held by a cluster's workers (all seen
//! through [`Rows`]).
//!
//! Fits, paths, cross-validation, multiclass fits, streamed and distributed fits all come here
//! for:
//! - **the backend**: [`Model::open`] (the choice itself is [`crate::backend::open`]);
//! - **the start**: [`RowFacts::null_start`], and for ℓ₁ penalties under a step scheme without
//!   the exact ℓ₁ M-step the ridge fit at the same λ ([`Model::solve`]);
//! - **the ℓ₁ zero thresholds**: [`RowFacts::zero_thresholds`];
//! - **the step scheme**: [`Model::run`] takes the scheme [`crate::Acceleration::scheme`]
//!   resolves;
//! - **the f64 check and finish**: [`Model::finish`] checks the KKT conditions of a fit whose
//!   device rounds with one f64 pass ([`Rows::reference`]), continues it there where they fail
//!   (always for hinge and quantile), and says `Converged` only where f64 agrees;
//! - **the report**: [`Model::fit_rows`] reports the objective from each loss's definition, in
//!   the user's coordinates where the fit ran preconditioned;
//! - **seeding**: the statistics a solve ended with start the next one on the same problem.

mod cv;
mod model;
mod path;
mod rows;

pub(crate) use model::Model;

pub(crate) use rows::{MemoryRows, RowFacts, Rows, exact_mean_loss, null_intercept, response_mean};

use std::time::Instant;

use crate::backend::{self, Backend, BackendInfo, CpuBackend, Needs, Stats};
use crate::data::{Problem, ScaledCopy};
use crate::error::Result;
use crate::family::Family;
use crate::glm::{Fit, Phases};
use crate::penalty::PenaltyTerms;
use crate::precondition::Preconditioner;
use crate::solver::conjugate::{Dual, MatrixFree, resolution};
use crate::solver::kinks;
use crate::solver::{
    Acceleration, RowWeightedStep, Run, Seed, Solution, SolverOptions, Termination,
};

/// What the driver appends to the device's description when the last iterations ran on the
/// f64 passes ([`Rows::reference`]).
pub(crate) const FINISHED_IN_F64: &str = " + f64 passes on the CPU for the final iterations";

/// One penalized problem to solve: the expanded penalty and the solver's fixed inputs.
pub(crate) struct Point<'a> {
    pub terms: &'a PenaltyTerms,
    pub zero_threshold: &'a [f64],
    pub separation_bound: Option<f64>,
    pub kkt_scale: Option<f64>,
    /// Start an ℓ₁ fit from the ridge fit at the same λ where the scheme needs it (a fit from
    /// the null model); a path's points start from the previous point instead.
    pub ridge_start: bool,
    /// The M-step from the row weights where S is not formed ([`Run::row_step`]).
    pub row_step: Option<&'a dyn RowWeightedStep>,
}

/// The rows one problem's solves run on, and whether the f64 finish has taken over (after the
/// first hinge or quantile solve on a device that rounds, every later solve of the same
/// problem — the rest of a path — runs on the f64 passes from the start).
pub(crate) struct Engine<'r> {
    rows: &'r mut dyn Rows,
    polished: bool,
}

impl<'r> Engine<'r> {
    /// Solves on `rows`' device, nothing finished in f64 yet.
    pub(crate) fn new(rows: &'r mut dyn Rows) -> Self {
        Self { rows, polished: false }
    }

    /// The rows.
    pub(crate) fn rows(&mut self) -> &mut dyn Rows {
        &mut *self.rows
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
        let dim = problem.ncols() + usize::from(self.intercept());
        let mut theta = vec![0.0; dim];
        if self.intercept() {
            theta[dim - 1] = problem.family.link(rows::response_mean(problem).0);
        }
        theta
    }

    /// The run for `point` with `options` (budget and tolerances), its acceleration resolved
    /// for the model's family and the point's penalty.
    pub(crate) fn run<'a>(&self, point: &Point<'a>, options: SolverOptions) -> Run<'a> {
        let run = Run::new(
            self.family(),
            point.terms,
            options,
            point.kkt_scale,
            point.zero_threshold,
            point.separation_bound,
        );
        Run { row_step: point.row_step, ..run }
    }

    /// Solves one penalized problem from `theta0` on `engine`'s rows: for an ℓ₁ penalty under a
    /// scheme without the exact ℓ₁ M-step, from the ridge fit at the same λ first (ℓ₁ weights
    /// make zero absorbing in EM's M-step); on a device that rounds, checked and finished in
    /// f64 ([`Model::finish`]). The objective reported is each loss's definition in f64.
    pub(crate) fn solve(
        &self,
        point: &Point<'_>,
        engine: &mut Engine<'_>,
        theta0: Vec<f64>,
        seed: Option<Seed>,
    ) -> Result<Solution> {
        let family = self.family();
        let options = self.options();
        let run = self.run(point, options);
        let terms = point.terms;
        let (mut theta0, mut kkt_scale, mut seed) = (theta0, point.kkt_scale, seed);
        if point.ridge_start && terms.has_lasso() && !run.scheme.is_exact_l1() {
            // Both runs measure KKT against the gradient scale where the first starts.
            let ridge = terms.warm_start_ridge();
            let ridge_point = Point { terms: &ridge, separation_bound: None, ..*point };
            let loose = PenaltyTerms::warm_start_options(options);
            engine.rows.show_penalty(&ridge);
            let warm_run = self.run(&ridge_point, loose);
            let warm = on_iteration_backend(engine, |backend| {
                warm_run.solve_seeded(backend, theta0, seed.take())
            })?;
            kkt_scale = kkt_scale.or(Some(warm.kkt_scale));
            theta0 = warm.theta;
        }
        let run = Run { kkt_scale, ..run };
        engine.rows.show_penalty(terms);
        let mut solution =
            on_iteration_backend(engine, |backend| run.solve_seeded(backend, theta0, seed))?;
        let exact = engine.rows.device().exact();
        if !exact {
            solution = self.finish(engine, &run, solution)?;
        }
        // The solver's F is already the loss by its definition where its last passes ran in
        // f64 on a loss that is not smoothed (hinge and quantile iterate on smoothed losses).
        if !((exact || solution.polished) && !family.has_unbounded_weight()) {
            solution.objective =
                engine.rows.exact_loss(&solution.theta)? + terms.value(&solution.theta);
        }
        Ok(solution)
    }

    /// The f64 check of a solution whose device rounds. Hinge and quantile (ℓ' jumps at r = 0,
    /// so rounding η to f32 leaves the optimum's support rows at residuals ~1e-7) always
    /// continue on the f64 passes, and so does every later solve of the problem; other
    /// families continue there only where one f64 pass finds the KKT conditions violated.
    /// `Converged` is only said where f64 agrees: a fit that cannot meet the tolerance even
    /// there says it stalled.
    pub(crate) fn finish(
        &self,
        engine: &mut Engine<'_>,
        run: &Run<'_>,
        mut solution: Solution,
    ) -> Result<Solution> {
        if !engine.polished && self.family().has_unbounded_weight() {
            solution = self.continue_in_f64(engine, run, solution)?;
            engine.polished = true;
        }
        let (mut kkt, mut target) = self.f64_kkt(engine, run.penalty, &solution)?;
        // A device run that stopped at its rounding floor (converged there, or stalled) goes on
        // in f64 where the f64 check fails.
        let at_floor =
            matches!(solution.termination, Termination::Converged | Termination::Stalled);
        if at_floor && kkt > target && !solution.polished {
            solution = self.continue_in_f64(engine, run, solution)?;
            (kkt, target) = self.f64_kkt(engine, run.penalty, &solution)?;
        }
        solution.kkt_violation = kkt;
        if solution.termination == Termination::Converged && kkt > target {
            solution.termination = Termination::Stalled;
        }
        Ok(solution)
    }

    /// Continues `first` on the f64 passes with the same KKT scale, and joins the two runs'
    /// records.
    fn continue_in_f64(
        &self,
        engine: &mut Engine<'_>,
        run: &Run<'_>,
        first: Solution,
    ) -> Result<Solution> {
        let mut exact = engine.rows.reference()?;
        let run = Run { kkt_scale: Some(first.kkt_scale), ..*run };
        let finish = run.solve(exact.as_mut(), first.theta.clone())?;
        Ok(first.continued_by(finish))
    }

    /// The KKT violation at `solution` with ∇L from one f64 pass, and the tolerance it must
    /// meet: `kkt_tol` × the run's KKT scale, floored at the f64 gradient's own rounding error
    /// (non-zero only for hinge and quantile, whose ℓ' jumps).
    fn f64_kkt(
        &self,
        engine: &mut Engine<'_>,
        terms: &PenaltyTerms,
        solution: &Solution,
    ) -> Result<(f64, f64)> {
        let mut stats = Stats::gradient_only(solution.theta.len());
        engine.rows.reference()?.evaluate(&solution.theta, Needs::Gradient, &mut stats)?;
        let kkt = terms.kkt_violation(&solution.theta, stats.gradient.as_slice());
        let target = (self.options().kkt_tol * solution.kkt_scale).max(stats.gradient_error.amax());
        Ok((kkt, target))
    }

    /// Fits `self` (the user's model) on `rows`, which hold the design in the coordinates
    /// `inner` fits (preconditioned by `pre`, or as given with `inner` = `self`), from `theta0`
    /// (the user's coordinates) or the null model. A preconditioned fit is mapped back and, unless
    /// the model standardizes (whose objective is the standardized problem's own), its objective
    /// and KKT violation recomputed from the definitions in the user's coordinates.
    /// `row_step` is the M-step where S is not formed ([`Point::row_step`]).
    pub(crate) fn fit_rows(
        &self,
        inner: &Model,
        pre: Option<&Preconditioner>,
        rows: &mut dyn Rows,
        theta0: Option<Vec<f64>>,
        start: Instant,
        row_step: Option<&dyn RowWeightedStep>,
    ) -> Result<Fit> {
        let facts = rows.facts();
        let dim = facts.column_scales.len() + usize::from(self.intercept());
        let terms = inner.terms(dim)?;
        let theta0 = match theta0 {
            Some(theta) => pre.map_or(theta.clone(), |pre| pre.to_internal(&theta)),
            None => facts.null_start(dim, self.intercept()),
        };
        let zero_threshold = facts.zero_thresholds(self.options().zero_tol, dim);
        let point = Point {
            terms: &terms,
            zero_threshold: &zero_threshold,
            separation_bound: facts.separation_bound(),
            kkt_scale: None,
            ridge_start: true,
            row_step,
        };
        let mut engine = Engine::new(rows);
        let mut solution = inner.solve(&point, &mut engine, theta0, None)?;
        let mut info = engine.rows().device().info();
        if solution.polished {
            info.device.push_str(FINISHED_IN_F64);
        }
        // The objective the user reads: in the user's coordinates, unless the model
        // standardizes (its objective is the standardized problem's own).
        let user_terms = self.terms(dim)?;
        let in_user_coordinates = pre.is_some() && !self.standardizes();
        let user_objective = |rows: &mut dyn Rows, theta: &[f64]| -> Result<f64> {
            Ok(rows.user_exact_loss(theta)? + user_terms.value(theta))
        };
        let handoff = solution.handoff.take();
        if let Some(pre) = pre {
            solution.theta = pre.to_user(&solution.theta);
            if in_user_coordinates {
                let rows = engine.rows();
                let stats = rows.user_gradient(&solution.theta)?;
                solution.objective = user_objective(rows, &solution.theta)?;
                solution.kkt_violation =
                    user_terms.kkt_violation(&solution.theta, stats.gradient.as_slice());
            }
        }
        let phases = match handoff {
            Some(handoff) => {
                let objective = match pre {
                    Some(pre) if in_user_coordinates => {
                        user_objective(engine.rows(), &pre.to_user(&handoff.theta))?
                    }
                    _ => engine.rows().exact_loss(&handoff.theta)? + terms.value(&handoff.theta),
                };
                Phases {
                    backend_iterations: handoff.iterations,
                    finish_iterations: solution.iterations - handoff.iterations,
                    backend_objective: objective,
                    backend_termination: handoff.termination,
                }
            }
            None => {
                Phases::backend_only(solution.iterations, solution.objective, solution.termination)
            }
        };
        Ok(self.fit_of(facts.family, solution, start, info, phases))
    }

    /// Fits a checked problem: from the null model, and for a Student-t model with σ to
    /// estimate, alternating with σ's own EM until σ settles.
    pub(crate) fn fit(&self, mut problem: Problem<'_>, start: Instant) -> Result<Fit> {
        if !self.estimates_parameter() {
            return self.fit_from(&problem, start, None);
        }
        let nu = match self.family() {
            Family::StudentT { nu, .. } => nu,
            Family::NegativeBinomial { .. } => return self.fit_negative_binomial(problem, start),
            _ => return self.fit_from(&problem, start, None),
        };
        problem.family = Family::StudentT { nu, sigma: initial_sigma(&problem) };
        let mut fit = self.fit_from(&problem, start, None)?;
        // Block coordinate descent on the joint negative log-likelihood: σ at fixed β (its own
        // EM to convergence), then β at fixed σ from the previous β.
        for _ in 0..MAX_PARAMETER_ROUNDS {
            let Family::StudentT { sigma, .. } = fit.family else { break };
            let next = student_t_sigma(&problem, &fit, nu, sigma);
            if (next - sigma).abs() <= PARAMETER_TOL * sigma {
                break;
            }
            problem.family = Family::StudentT { nu, sigma: next };
            fit = self.refit(&problem, start, &fit)?;
        }
        Ok(fit)
    }

    /// A fit of `problem` (its family's parameter just moved) from `previous`'s coefficients,
    /// its iterations counted on top of `previous`'s: one round of the alternations that
    /// estimate a family's parameter along with β.
    fn refit(&self, problem: &Problem<'_>, start: Instant, previous: &Fit) -> Result<Fit> {
        let start_theta = self.theta_of(&previous.coefficients, previous.intercept);
        let mut fit = self.fit_from(problem, start, Some(start_theta))?;
        fit.count_after(previous);
        Ok(fit)
    }

    /// A negative binomial fit with θ estimated (R's `MASS::glm.nb`): θ from the moments of the
    /// counts around their mean, then fits at fixed θ (each from the last coefficients)
    /// alternating with θ's maximum likelihood at the fitted means
    /// ([`crate::counts::theta_ml`]) until θ changes by less than [`PARAMETER_TOL`] relative: block
    /// coordinate ascent of the joint likelihood (the penalty on β only).
    fn fit_negative_binomial(&self, mut problem: Problem<'_>, start: Instant) -> Result<Fit> {
        let (y, w) = (problem.y.to_vec(), problem.weights.to_vec());
        let (mean, total) = rows::response_mean(&problem);
        let m2 = y.iter().zip(&w).map(|(y, w)| w * (y - mean) * (y - mean)).sum();
        let mut theta = crate::counts::theta_start(total, mean, m2);
        problem.family = Family::NegativeBinomial { theta };
        let mut fit = self.fit_from(&problem, start, None)?;
        for _ in 0..MAX_PARAMETER_ROUNDS {
            let mu = fitted_means(&problem, &fit);
            let (next, _) = crate::counts::theta_ml(&y, &mu, &w, theta);
            if (next - theta).abs() <= PARAMETER_TOL * theta {
                break;
            }
            theta = next;
            problem.family = Family::NegativeBinomial { theta };
            fit = self.refit(&problem, start, &fit)?;
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
        self.check_memory(problem, problem.x.scaled_copy_bytes())?;
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
    /// objective is the same) and the result mapped back ([`Model::fit_rows`]).
    fn fit_from(
        &self,
        problem: &Problem<'_>,
        start: Instant,
        theta0: Option<Vec<f64>>,
    ) -> Result<Fit> {
        if self.prefers_matrix_free(problem) {
            return self.fit_matrix_free(problem, start, theta0, &mut None);
        }
        if self.may_solve_matrix_free() {
            // A ridge fit that could have gone matrix-free takes the d × d step (the cost model
            // or the caller chose it): the check a fit over every feature makes.
            self.with_full_matrices().check_memory(problem, 0)?;
        }
        if self.solves_on_active_sets()
            && (!self.full_matrices_fit(problem) || self.prefers_active_sets(problem))
        {
            if !self.standardizes() && self.penalty().lambda > 0.0 {
                return self.fit_on_active_sets(problem, start);
            }
            // Only the ℓ₁ path makes the active sets; this fit needs every feature's matrices:
            // the check a fit over every feature makes, with its estimate.
            self.with_full_matrices().check_memory(problem, 0)?;
        }
        if self.solves_kinks_exactly(problem) {
            let preconditioned = self.preconditioned(problem)?;
            let (internal, inner, pre) = match &preconditioned {
                Some(p) => (p.problem(problem)?, &p.model, Some(&p.pre)),
                None => (problem.clone(), self, None),
            };
            let stages = Stages { problem, internal: &internal, inner, pre, solver: None };
            return self.fit_kinked(&stages, theta0, start);
        }
        let Some(preconditioned) = self.preconditioned(problem)? else {
            let mut backend = self.open(problem)?;
            let mut rows = MemoryRows::new(problem, self.intercept(), &mut *backend);
            return self.fit_rows(self, None, &mut rows, theta0, start, None);
        };
        let internal = preconditioned.problem(problem)?;
        let inner = &preconditioned.model;
        let mut backend = inner.open(&internal)?;
        let mut rows = MemoryRows::new(&internal, self.intercept(), &mut *backend)
            .in_user_coordinates(problem);
        self.fit_rows(inner, Some(&preconditioned.pre), &mut rows, theta0, start, None)
    }

    /// Fits a ridge problem matrix-free ([`MatrixFree`]): in its preconditioned coordinates
    /// where the design needs them (a sparse design scaled, never centred), from `theta0` (the
    /// user's coordinates) or the null model; the objective and KKT violation reported from
    /// the definitions in the user's coordinates.
    ///
    /// `kept_dual` carries the n × n dual's kernel from one fit of the same design to the next
    /// (a ridge path's points, whose ridges are proportional): each takes it rescaled instead
    /// of a pass over X.
    fn fit_matrix_free(
        &self,
        problem: &Problem<'_>,
        start: Instant,
        theta0: Option<Vec<f64>>,
        kept_dual: &mut Option<Dual>,
    ) -> Result<Fit> {
        let dim = problem.ncols() + usize::from(self.intercept());
        let preconditioned = self.preconditioned(problem)?;
        let (internal, inner, pre) = match &preconditioned {
            Some(p) => (p.problem(problem)?, &p.model, Some(&p.pre)),
            None => (problem.clone(), self, None),
        };
        let terms = inner.terms(dim)?;
        if self.family().has_unbounded_weight() {
            let solver = MatrixFree::em_model(&internal, self.intercept(), &terms, self.options());
            let solver =
                if self.prefers_dual(problem) { solver.with_dual_kept(kept_dual) } else { solver };
            let stages = Stages { problem, internal: &internal, inner, pre, solver: Some(&solver) };
            return self.fit_kinked(&stages, theta0, start);
        }
        let theta0 = match theta0 {
            Some(theta) => pre.map_or(theta.clone(), |pre| pre.to_internal(&theta)),
            None => self.null_start(&internal),
        };
        let solver = MatrixFree::new(&internal, self.intercept(), &terms, self.options()).ok_or(
            crate::Error::Unsupported {
                operation: "a matrix-free fit",
                family: self.family().name(),
                reason: "its M-step needs the d × d system",
            },
        )?;
        let solver =
            if self.prefers_dual(problem) { solver.with_dual_kept(kept_dual) } else { solver };
        let step =
            if solver.uses_dual() { "dual n × n M-step" } else { "conjugate-gradient M-step" };
        let mut solution = solver.solve(theta0);
        if let Some(pre) = pre {
            solution.theta = pre.to_user(&solution.theta);
            if !self.standardizes() {
                let user_terms = self.terms(dim)?;
                let mut stats = Stats::gradient_only(dim);
                CpuBackend::new(problem, self.intercept()).evaluate(
                    &solution.theta,
                    Needs::Gradient,
                    &mut stats,
                )?;
                solution.objective =
                    rows::exact_mean_loss(problem, &solution.theta, self.intercept())
                        + user_terms.value(&solution.theta);
                solution.kkt_violation =
                    user_terms.kkt_violation(&solution.theta, stats.gradient.as_slice());
            }
        }
        let info = BackendInfo { kind: "cpu", device: format!("cpu f64, matrix-free ({step})") };
        let phases =
            Phases::backend_only(solution.iterations, solution.objective, solution.termination);
        Ok(self.fit_of(problem.family, solution, start, info, phases))
    }

    /// Fits a hinge or quantile ridge (docs/sm-em.md §9): SM-EM's run on the smoothed loss —
    /// on the d × d step, or without S where `stages.solver` solves each EM update from the row
    /// weights — in stages of tightening KKT tolerance ([`KINK_STAGES`], then the model's),
    /// each followed by the exact finish on the rows at the kink ([`kinks::exact_optimum`], in
    /// the coordinates the run used): the first that settles ends the fit at the exact loss's
    /// optimum, to rounding. Where none does, the last stage's fit stands.
    fn fit_kinked(
        &self,
        stages: &Stages<'_, '_>,
        mut theta0: Option<Vec<f64>>,
        start: Instant,
    ) -> Result<Fit> {
        let Stages { problem, internal, inner, pre, solver } = *stages;
        let intercept = self.intercept();
        let last = self.options();
        // Without S, a fit starts where coordinate descent on the dual leaves it (the EM steps
        // approach the kink rows only slowly), and ends there where the exact finish settles
        // from it; else the stages run from it, also where a start was given (a path's previous
        // point: on a 10-point text SVM path 1.8 s in all, 3.3 s from the lower-F start of the
        // two, 4.6 s from the previous point alone). A scheme the caller named runs SM-EM from
        // the start.
        if solver.is_some() && last.acceleration == Acceleration::Auto {
            let kernel = solver.and_then(MatrixFree::kernel);
            if let Some((mut fit, u)) = self.dual_coordinate_fit(stages, start)? {
                if self.finish_on_kinks(stages, &mut fit, kernel, Some(&u), start)? {
                    return Ok(fit);
                }
                theta0 = Some(self.theta_of(&fit.coefficients, fit.intercept));
            }
        }
        // Without S the kink rows are many (up to n) and the run alone slow to reach them: the
        // loosest first guess pays. On the d × d step (at most d kink rows) a guess from the
        // 1e-1 and 1e-2 stages misses more often than it saves.
        let loose = if solver.is_some() { KINK_STAGES.as_slice() } else { &KINK_STAGES[2..] };
        let tolerances: Vec<f64> =
            loose.iter().copied().filter(|&t| t > last.kkt_tol).chain([last.kkt_tol]).collect();
        let kernel = solver.and_then(MatrixFree::kernel);
        // Without S the passes run on the host; the d × d step on the model's backend.
        let mut backend: Box<dyn Backend + '_> = match solver {
            Some(_) => Box::new(CpuBackend::new(internal, intercept)),
            None => inner.open(internal)?,
        };
        let row_step = solver.map(|solver| solver as &dyn RowWeightedStep);
        let mut previous: Option<Fit> = None;
        for kkt_tol in tolerances {
            let spent = previous.as_ref().map_or(0, |fit| fit.iterations);
            // A stage also stops on F's relative change: as loose as its KKT tolerance squared
            // (F's error at a KKT violation ε is O(ε²)), never tighter than the model's.
            let options = SolverOptions {
                kkt_tol,
                tol: last.tol.max(kkt_tol * kkt_tol),
                max_iter: last.max_iter.saturating_sub(spent).max(1),
                ..last
            };
            let mut rows = MemoryRows::new(internal, intercept, &mut *backend);
            if pre.is_some() {
                rows = rows.in_user_coordinates(problem);
            }
            let (outer, inner) = (self.with_options(options), inner.with_options(options));
            let mut fit = outer.fit_rows(&inner, pre, &mut rows, theta0, start, row_step)?;
            if let Some(solver) = solver {
                let step = if solver.uses_dual() { "dual n × n" } else { "conjugate-gradient" };
                fit.backend.device = format!("cpu f64, EM with the {step} M-step");
            }
            if let Some(previous) = &previous {
                fit.continue_trace(previous);
            }
            if self.finish_on_kinks(stages, &mut fit, kernel, None, start)? {
                return Ok(fit);
            }
            let theta = self.theta_of(&fit.coefficients, fit.intercept);
            theta0 = Some(theta);
            previous = Some(fit);
        }
        Ok(previous.expect("at least the model's own tolerance is a stage"))
    }

    /// The point where coordinate descent on the dual of a hinge or quantile ridge stops
    /// ([`kinks::dual_coordinate_start`], in the coordinates the run uses), as a fit record
    /// that has not converged (its KKT violation unmeasured, 0 EM iterations), with the rows'
    /// dual values there; `None` where the descent does not apply.
    fn dual_coordinate_fit(
        &self,
        stages: &Stages<'_, '_>,
        start: Instant,
    ) -> Result<Option<(Fit, Vec<f64>)>> {
        let Stages { problem, internal, inner, pre, .. } = *stages;
        let intercept = self.intercept();
        let terms = inner.terms(problem.ncols() + usize::from(intercept))?;
        let Some(dual) = kinks::dual_coordinate_start(internal, intercept, &terms) else {
            return Ok(None);
        };
        // F in the run's coordinates: the finish compares its own with it there.
        let objective =
            rows::exact_mean_loss(internal, &dual.theta, intercept) + terms.value(&dual.theta);
        let theta = pre.map_or(dual.theta.clone(), |pre| pre.to_user(&dual.theta));
        let termination = Termination::MaxIterations;
        let solution = Solution {
            theta,
            objective,
            iterations: 0,
            termination,
            trace: vec![objective],
            trace_marks: vec![(0, Instant::now())],
            kkt_violation: f64::INFINITY,
            restarts: 0,
            kkt_scale: 1.0,
            gradient_error: 0.0,
            final_stats: None,
            polished: false,
            handoff: None,
        };
        let device = format!("cpu f64, dual coordinate descent ({} epochs)", dual.epochs);
        let info = BackendInfo { kind: "cpu", device };
        let phases = Phases::backend_only(0, objective, termination);
        let fit = self.fit_of(problem.family, solution, start, info, phases);
        Ok(Some((fit, dual.row_subgradients)))
    }

    /// The exact finish of a hinge or quantile stage's `fit` ([`Model::fit_kinked`]): the kink
    /// rows' active-set solve from its coefficients, in the coordinates the run used (K from
    /// `kernel` where the dual built it; the rows' `subgradients` uᵢ, where known, as the
    /// first guess of the kink rows' values). Where it settles at an objective no higher than the
    /// run's, `fit` becomes that optimum — the objective and the stationarity residual in the
    /// user's coordinates (the standardized problem's where the model standardizes; the rows'
    /// subgradients are the same in both), `Converged` where the residual is within
    /// `kkt_tol` — and the answer is `true`.
    fn finish_on_kinks(
        &self,
        stages: &Stages<'_, '_>,
        fit: &mut Fit,
        kernel: Option<&nalgebra::DMatrix<f64>>,
        subgradients: Option<&[f64]>,
        start: Instant,
    ) -> Result<bool> {
        let Stages { problem, internal, inner, pre, .. } = *stages;
        let intercept = self.intercept();
        let dim = problem.ncols() + usize::from(intercept);
        let (user_terms, inner_terms) = (self.terms(dim)?, inner.terms(dim)?);
        let theta = self.theta_of(&fit.coefficients, fit.intercept);
        let at = pre.map_or(theta.clone(), |pre| pre.to_internal(&theta));
        let Some(exact) =
            kinks::exact_optimum(internal, intercept, &inner_terms, &at, kernel, subgradients)
        else {
            return Ok(false);
        };
        let (theta, objective, (violation, scale)) = match pre {
            Some(pre) if !self.standardizes() => {
                let user = pre.to_user(&exact.theta);
                let (beta, b0) = (&user[..problem.ncols()], user.get(problem.ncols()));
                let objective =
                    rows::exact_mean_loss(problem, &user, intercept) + user_terms.value(&user);
                let u = &exact.row_subgradients;
                let b0 = b0.copied().unwrap_or(0.0);
                let kkt = kinks::stationarity(problem, &user_terms, beta, b0, intercept, u);
                (user, objective, kkt)
            }
            _ => {
                let objective = rows::exact_mean_loss(internal, &exact.theta, intercept)
                    + inner_terms.value(&exact.theta);
                let theta = pre.map_or(exact.theta.clone(), |pre| pre.to_user(&exact.theta));
                (theta, objective, (exact.violation, exact.scale))
            }
        };
        if objective > fit.objective + resolution(fit.objective) {
            return Ok(false);
        }
        (fit.coefficients, fit.intercept) = self.split_theta(theta);
        fit.objective = objective;
        fit.kkt_violation = violation;
        fit.termination = if violation <= self.options().kkt_tol * scale {
            Termination::Converged
        } else {
            Termination::Stalled
        };
        fit.trace.push(objective);
        fit.trace_iterations.push(fit.iterations);
        fit.trace_seconds.push(start.elapsed().as_secs_f64());
        fit.phases = Phases::backend_only(fit.iterations, objective, fit.termination);
        let how = if exact.iterative { " (conjugate gradients)" } else { "" };
        fit.backend.device.push_str(&format!(
            " + the exact solve of its {} rows at the kink{how}",
            exact.kink_rows
        ));
        fit.elapsed = start.elapsed();
        Ok(true)
    }

    /// The fit record of `solution` (θ in the user's coordinates, with the objective and KKT
    /// violation to report), its trace timed from `start`.
    pub(crate) fn fit_of(
        &self,
        family: Family,
        solution: Solution,
        start: Instant,
        backend: BackendInfo,
        phases: Phases,
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
            phases,
        }
    }
}

/// The KKT tolerances of a hinge or quantile fit's stages before the model's own
/// ([`Model::fit_kinked`]): a loose run names the rows at the kink long before SM-EM's
/// iterations reach them (after 2 to 42 iterations, where the run alone took up to 2 287, on
/// the wide problems of docs/sm-em.md §9). On the d × d step the last two only (20 000 × 50
/// hinge and quantile ridges: 131 to 253 iterations, against 175 to 455 with no loose stage
/// and 157 to 262 with all four).
const KINK_STAGES: [f64; 4] = [1e-1, 1e-2, 1e-3, 1e-6];

/// What every stage of [`Model::fit_kinked`] shares: the user's problem, the one it runs on
/// (preconditioned, or the same), the model for that one, the mapping between them and the
/// M-step's solver where the run goes without S (`None`: the d × d step).
#[derive(Clone, Copy)]
struct Stages<'s, 'p> {
    problem: &'s Problem<'p>,
    internal: &'s Problem<'p>,
    inner: &'s Model,
    pre: Option<&'s Preconditioner>,
    solver: Option<&'s MatrixFree<'s, 'p>>,
}

/// A problem's preconditioned form ([`Model::preconditioned`]): the mapping, the model for the
/// new coordinates and the preconditioned copy of X (row-major, or CSR for a sparse X).
pub(crate) struct Preconditioned {
    pub pre: Preconditioner,
    pub model: Model,
    data: ScaledCopy,
}

impl Preconditioned {
    /// `given` with its X replaced by the preconditioned copy.
    ///
    /// # Errors
    /// None in practice (the copy has `given`'s shape).
    pub(crate) fn problem<'a>(&'a self, given: &Problem<'a>) -> Result<Problem<'a>> {
        let x = self.data.design(given.x, given.ncols())?;
        Ok(Problem { x, ..given.clone() })
    }
}

/// Most rounds of a family parameter's estimate (Student-t σ, negative binomial θ).
pub(crate) const MAX_PARAMETER_ROUNDS: usize = 200;
/// The relative change of the parameter below which its estimate is final.
pub(crate) const PARAMETER_TOL: f64 = 1e-10;

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

/// μᵢ = e^ηᵢ at the fit, ηᵢ = oᵢ + xᵢᵀβ + b₀ (the count families' means).
pub(crate) fn fitted_means(problem: &Problem<'_>, fit: &Fit) -> Vec<f64> {
    let eta = problem.linear_predictor(&fit.coefficients, fit.intercept);
    eta.iter().map(|e| e.exp()).collect()
}

/// σ minimizing the Student-t negative log-likelihood at the fit's residuals, by EM on σ²:
/// σ² ← (1/W) Σ wᵢ τᵢ rᵢ², τᵢ = (ν+1)/(ν + rᵢ²/σ²), from the current σ to a fixed point.
fn student_t_sigma(problem: &Problem<'_>, fit: &Fit, nu: f64, sigma: f64) -> f64 {
    let (n, p) = (problem.nrows(), problem.ncols());
    let r2: Vec<f64> = (0..n)
        .map(|i| {
            let eta =
                fit.intercept + problem.offset_at(i) + problem.x.row_dot(i, &fit.coefficients[..p]);
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

/// `f` on the backend the next iterations run on: the device, or the f64 passes once they
/// have taken over (a solution found there is marked polished).
fn on_iteration_backend(
    engine: &mut Engine<'_>,
    f: impl FnOnce(&mut dyn Backend) -> Result<Solution>,
) -> Result<Solution> {
    if engine.polished {
        let mut solution = f(engine.rows.reference()?.as_mut())?;
        solution.polished = true;
        Ok(solution)
    } else {
        f(engine.rows.device())
    }
}
