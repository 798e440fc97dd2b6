//! The checked model: a [`Glm`]'s settings once [`Glm::check`] has passed them, what every
//! fit, path, cross-validation, multiclass fit and baseline runs. Its methods live beside it in
//! this module, one file per concern: the fit driver (`mod.rs`), paths (`path.rs`),
//! cross-validation (`cv.rs`).

use crate::backend::{BackendChoice, GpuContext, available_memory, device_for};
use crate::data::Problem;
use crate::error::{Error, Result};
use crate::execution::{Execution, LinearSolver};
use crate::family::Family;
use crate::glm::Glm;
use crate::penalty::{Penalty, PenaltyTerms};
use crate::solver::SolverOptions;
use crate::solver::columns::ColumnDescent;

/// Below this many coordinates a fit that fits in memory always takes the d × d M-step (its
/// Newton steps converge in fewer passes than truncated ones).
pub(crate) const MATRIX_FREE_MIN_DIM: usize = 4096;
/// From this many coordinates an ℓ₁ fit runs on active sets whatever the memory.
pub(crate) const ACTIVE_SET_MIN_DIM: usize = 2048;
/// Products with X the cost model assumes one conjugate-gradient M-step takes.
pub(crate) const CG_PRODUCTS_PER_STEP: f64 = 50.0;
/// Outer iterations over which the cost model spreads a one-time setup (the dual's n × n
/// kernel) against per-step costs. Newton fits take about ten, but a step of conjugate
/// gradients often needs far fewer products than [`CG_PRODUCTS_PER_STEP`]; three separates
/// what `examples/wide_ridge.rs` measures (logistic ridge, one core: the dual 1.3× faster than
/// CG at 200 × 20 000, 1.55× slower at 1 000 × 20 000).
pub(crate) const ASSUMED_ITERATIONS: f64 = 3.0;

/// The cost model's multiply-adds per M-step of each way to solve a ridge fit's quadratic model
/// (docs/sm-em.md §9).
struct StepCosts {
    /// Forming XᵀCX and factoring it.
    full: f64,
    /// Conjugate gradients on products with X.
    conjugate: f64,
    /// The n × n dual: its kernel's setup spread over the assumed iterations, one n × n
    /// Cholesky and a few passes per step; `None` where it does not apply (n ≥ d, a feature
    /// without a ridge, or its two n × n matrices do not fit).
    dual: Option<f64>,
}

/// A model whose settings passed `Glm::check`: what the driver, paths, cross-validation,
/// multiclass fits and the baselines run.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    family: Family,
    penalty: Penalty,
    /// vⱼ per feature (checked: finite, ≥ 0, one per column).
    factors: Vec<f64>,
    intercept: bool,
    options: SolverOptions,
    /// Where the fit runs, its backend resolved (`SCALEMIX_BACKEND` read once, here).
    execution: Execution,
    estimate_parameter: bool,
    /// Multinomial: every class penalized, none the reference (`Glm::symmetric_multinomial`).
    symmetric: bool,
    /// glmnet's `standardize` (`Glm::standardize`).
    standardize: bool,
    /// A lasso or elastic-net fit, path or cross-validation, whose sequential strong rules can
    /// solve each point on its active features: its square matrices are those of an active set
    /// (at most about n + 1 columns, as the lasso selects at most n), not of every feature,
    /// where those would not fit. Set by [`Model::on_active_sets`].
    active_sets: bool,
    /// A ridge fit of a smooth loss, which can solve its M-step by conjugate gradients on
    /// products with X instead of a d × d system ([`crate::solver::conjugate`]): its memory is
    /// O(n + d). Set by [`Model::on_matrix_free`]; used where the d × d matrices do not fit or
    /// the cost model prefers it ([`Model::prefers_matrix_free`]).
    matrix_free: bool,
    /// Per feature, the scale sⱼ by which a preconditioned design's column was divided: the
    /// penalty is carried to the new coordinates (ridgeⱼ/sⱼ², lassoⱼ/sⱼ^q) so the objective is
    /// the user's. `None` on the design as given (and with `standardize`, whose penalty applies
    /// in the standardized coordinates by definition).
    penalty_scale: Option<Vec<f64>>,
}

impl Model {
    /// The model `glm` describes, with its penalty factors checked for its features and its
    /// execution's backend resolved.
    pub(crate) fn checked(glm: &Glm, factors: Vec<f64>, execution: Execution) -> Self {
        Model {
            family: glm.family,
            penalty: glm.penalty,
            factors,
            intercept: glm.fit_intercept,
            options: glm.options,
            execution,
            estimate_parameter: glm.estimate_parameter,
            symmetric: glm.symmetric,
            standardize: glm.standardize,
            active_sets: false,
            matrix_free: false,
            penalty_scale: None,
        }
    }
}

impl Model {
    /// The family as set on the builder (a Student-t σ to estimate holds its start value only
    /// once the driver has computed it).
    pub(crate) fn family(&self) -> Family {
        self.family
    }

    /// The penalty as set (its λ is replaced along a path).
    pub(crate) fn penalty(&self) -> Penalty {
        self.penalty
    }

    /// Whether an intercept is fitted.
    pub(crate) fn intercept(&self) -> bool {
        self.intercept
    }

    /// The solver settings.
    pub(crate) fn options(&self) -> SolverOptions {
        self.options
    }

    /// The same model with the solver settings `options`.
    pub(crate) fn with_options(&self, options: SolverOptions) -> Model {
        Model { options, ..self.clone() }
    }

    /// The first class a multinomial fit moves: 0 in the symmetric parameterization, 1 with the
    /// first class as the reference.
    pub(crate) fn first_free_class(&self) -> usize {
        usize::from(!self.symmetric)
    }

    /// Whether the family's own parameter (Student-t σ, negative binomial θ) is estimated along
    /// with β.
    pub(crate) fn estimates_parameter(&self) -> bool {
        self.estimate_parameter
    }

    /// Refuses a fit whose p × p matrices and row buffers would not fit in the memory limit
    /// (or, without one, in the memory the system reports available).
    ///
    /// The count of d × d matrices a fit holds at once: the solver's statistics at θ and at the
    /// candidate, the M-step's matrix, SQUAREM's three more, a path's or the f64 report's
    /// statistics, and the CPU backend's partial Gram matrices (one per row chunk, at most 32
    /// and at most 256 MiB).
    ///
    /// `extra` bytes are added to the estimate (a preconditioned copy of X).
    /// On active sets whose solves run on the columns (a sparse or a wider-than-tall design,
    /// [`crate::solver::columns::ColumnDescent::runs`]), no k × k matrix is formed: the estimate is the compact
    /// copies (three times the stored values) and the vectors.
    pub(crate) fn check_memory(&self, problem: &Problem<'_>, extra: u64) -> Result<()> {
        let (n, p) = (problem.nrows(), problem.ncols());
        let on_columns = self.active_sets
            && self
                .terms_at(1.0, p + usize::from(self.intercept))
                .is_ok_and(|unit| crate::solver::columns::ColumnDescent::runs(problem, &unit));
        if on_columns {
            // The compact copies hold at most the stored values; a dense design's, n·k for
            // the active set's k columns, estimated as k ≤ n + 1 as for the k × k matrices
            // (each solve checks its own k again).
            let stored =
                if problem.x.is_sparse() { problem.x.stored_values() } else { n * p.min(n + 1) };
            let copies = 48 * stored as u64 + 64 * (n + p) as u64;
            return self.with_full_matrices().check_memory_for(n, 0, copies.saturating_add(extra));
        }
        self.check_memory_for(n, p, extra)
    }

    /// The same model for a fit, path or cross-validation that may run on active sets: with a
    /// lasso or elastic-net penalty, where the d × d matrices over every feature do not fit
    /// ([`Model::solves_on_active_sets`]).
    pub(crate) fn on_active_sets(mut self, p: usize) -> Self {
        let dim = p + usize::from(self.intercept);
        self.active_sets = self.terms_at(1.0, dim).is_ok_and(|unit| unit.is_lasso_like());
        self
    }

    /// The same model for a fit that may solve matrix-free: a ridge penalty with λ > 0 (no ℓ₁
    /// part: that runs on active sets) on a loss with a matrix-free M-step, or hinge and
    /// quantile (SM-EM's run with each EM update solved from the row weights).
    pub(crate) fn on_matrix_free(mut self, p: usize) -> Self {
        let dim = p + usize::from(self.intercept);
        let ridge_only =
            self.terms_at(1.0, dim).is_ok_and(|unit| unit.lasso.iter().all(|&l| l == 0.0));
        // Hinge and quantile keep SM-EM's run with the EM update solved from the row weights.
        let family = self.family;
        self.matrix_free = ridge_only
            && self.penalty.lambda > 0.0
            && (crate::solver::conjugate::supports(family) || family.has_unbounded_weight());
        self
    }

    /// Whether `problem` is better solved matrix-free: where the d × d matrices do not fit, or
    /// where d exceeds [`MATRIX_FREE_MIN_DIM`] and the cost model of docs/sm-em.md §9 says one
    /// M-step by conjugate gradients (2 · (nnz + n) multiply-adds per product, about
    /// [`CG_PRODUCTS_PER_STEP`] products) is cheaper than forming XᵀCX (n·d²/2 dense,
    /// Σᵢ nnzᵢ²/2 sparse) and factoring it (d³/3).
    ///
    /// The exact dual step (Woodbury, n × n; [`crate::solver::conjugate::Dual`]) counts as
    /// matrix-free too, at any d: for n ≪ d its n × n Cholesky is far cheaper than the d × d one.
    pub(crate) fn prefers_matrix_free(&self, problem: &Problem<'_>) -> bool {
        if !self.matrix_free {
            return false;
        }
        // A preconditioned copy of X may come on top of the d × d matrices.
        if self.with_full_matrices().check_memory(problem, problem.x.scaled_copy_bytes()).is_err() {
            return true;
        }
        match self.execution.linear_solver {
            LinearSolver::Cholesky => return false,
            LinearSolver::ConjugateGradient | LinearSolver::Dual => return true,
            _ => {}
        }
        let costs = self.step_costs(problem);
        let dim = problem.ncols() + usize::from(self.intercept);
        let conjugate = costs.conjugate < costs.full && dim >= MATRIX_FREE_MIN_DIM;
        conjugate || costs.dual.is_some_and(|dual| dual < costs.full)
    }

    /// Refuses a [`LinearSolver`] the fit cannot take: conjugate gradients and the dual solve
    /// single (`single_fit`: one model, binary or multinomial) ridge fits of the families with a
    /// matrix-free M-step, and the dual
    /// needs a ridge on every feature.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the solver and what it needs.
    pub(crate) fn check_linear_solver(&self, single_fit: bool) -> Result<()> {
        let solver = self.execution.linear_solver;
        if !matches!(solver, LinearSolver::ConjugateGradient | LinearSolver::Dual) {
            return Ok(());
        }
        let refuse = |reason| {
            Err(Error::InvalidOption { name: "linear solver", value: solver.to_string(), reason })
        };
        if !single_fit || !self.matrix_free {
            return refuse(
                "conjugate gradients and the dual solve single ridge fits (λ > 0, no ℓ1 part) of \
                 logistic (binary or multinomial), binomial, gaussian, Student-t, the count \
                 families, hinge and quantile; use auto or cholesky",
            );
        }
        let p = self.factors.len();
        let every_feature = self
            .terms_at(1.0, p + usize::from(self.intercept))
            .is_ok_and(|unit| unit.ridge[..p].iter().all(|&r| r > 0.0));
        if solver == LinearSolver::Dual && !every_feature {
            return refuse("the dual needs a ridge on every feature (no zero penalty factor)");
        }
        Ok(())
    }

    /// Whether a matrix-free fit of `problem` should take its steps through the n × n dual
    /// rather than conjugate gradients: where the dual applies and the cost model says it is
    /// the cheaper of the two.
    pub(crate) fn prefers_dual(&self, problem: &Problem<'_>) -> bool {
        match self.execution.linear_solver {
            LinearSolver::Dual => return true,
            LinearSolver::ConjugateGradient | LinearSolver::Cholesky => return false,
            _ => {}
        }
        let costs = self.step_costs(problem);
        self.matrix_free && costs.dual.is_some_and(|dual| dual <= costs.conjugate)
    }

    /// The cost model's figures for `problem` (docs/sm-em.md §9).
    fn step_costs(&self, problem: &Problem<'_>) -> StepCosts {
        let (rows, p) = (problem.nrows(), problem.ncols());
        let (n, dim) = (rows as f64, (p + usize::from(self.intercept)) as f64);
        let stored = problem.x.stored_values() as f64;
        let gram =
            if problem.x.is_sparse() { stored * stored / n / 2.0 } else { n * dim * dim / 2.0 };
        let full = gram + dim * dim * dim / 3.0;
        let conjugate = 2.0 * (stored + n) * CG_PRODUCTS_PER_STEP;
        let every_feature_has_a_ridge = self
            .terms_at(1.0, p + usize::from(self.intercept))
            .is_ok_and(|unit| unit.ridge[..p].iter().all(|&r| r > 0.0));
        let kernel_bytes = 16 * (rows as u64).saturating_mul(rows as u64);
        let dual = (rows < p
            && every_feature_has_a_ridge
            && self.check_memory_for(rows, p, kernel_bytes).is_ok())
        .then(|| {
            let setup = if problem.x.is_sparse() {
                // Pairs of rows within each column.
                let mut counts = vec![0f64; p];
                for i in 0..rows {
                    problem.x.for_row(i, |j, _| counts[j] += 1.0);
                }
                counts.iter().map(|c| c * c / 2.0).sum::<f64>()
            } else {
                n * n * dim / 2.0
            };
            setup / ASSUMED_ITERATIONS + n * n * n / 3.0 + n * n + 8.0 * (stored + n)
        });
        StepCosts { full, conjugate, dual }
    }

    /// Whether an ℓ₁ fit of `problem` is better solved on active sets even where its d × d
    /// matrices fit: from d = [`ACTIVE_SET_MIN_DIM`] up, each exact-ℓ₁ M-step's coordinate
    /// sweeps over d × d cost more than the path down to λ on k × k blocks of the active
    /// columns (docs/sm-em.md §9).
    pub(crate) fn prefers_active_sets(&self, problem: &Problem<'_>) -> bool {
        self.active_sets && problem.ncols() + usize::from(self.intercept) >= ACTIVE_SET_MIN_DIM
    }

    /// Whether a multinomial fit of `problem` steps its classes without a d × d matrix, where a
    /// binary fit at this penalty would and the design is large (from [`ACTIVE_SET_MIN_DIM`]
    /// coordinates, or matrices that do not fit; docs/sm-em.md §9): a ridge matrix-free, an ℓ₁
    /// or elastic-net penalty by coordinate descent on the columns of a sparse or wide design.
    /// `Some(dual)`, `dual` saying whether ridge steps go through the n × n dual.
    pub(crate) fn multinomial_without_gram(&self, problem: &Problem<'_>) -> Option<bool> {
        let dim = problem.ncols() + usize::from(self.intercept);
        let terms = self.terms(dim).ok()?;
        if self.penalty.lambda <= 0.0 || !ColumnDescent::supports(problem.family, &terms) {
            return None;
        }
        // Below ACTIVE_SET_MIN_DIM coordinates the d × d sweeps are cheap (and end with a
        // smaller KKT violation than one Newton step a class per sweep): the cost model's
        // choice applies from there, or where the matrices do not fit or a solver was asked for.
        let large = dim >= ACTIVE_SET_MIN_DIM || !self.full_matrices_fit(problem);
        let asked = matches!(
            self.execution.linear_solver,
            LinearSolver::ConjugateGradient | LinearSolver::Dual
        );
        let without_gram = if terms.has_lasso() {
            self.active_sets
                && ColumnDescent::runs(problem, &terms)
                && (!self.full_matrices_fit(problem) || self.prefers_active_sets(problem))
        } else {
            self.prefers_matrix_free(problem) && (large || asked)
        };
        without_gram.then(|| !terms.has_lasso() && self.prefers_dual(problem))
    }

    /// Whether a fit of `problem` takes the exact finish of hinge and quantile
    /// ([`Model::fit_kinked`]): those families with a ridge on every feature (λ > 0, no ℓ₁
    /// part), on an exact (f64) backend — a device that rounds keeps its f64 finish.
    pub(crate) fn solves_kinks_exactly(&self, problem: &Problem<'_>) -> bool {
        let p = problem.ncols();
        let ridge_everywhere = || {
            self.terms_at(1.0, p + usize::from(self.intercept))
                .is_ok_and(|unit| !unit.has_lasso() && unit.ridge[..p].iter().all(|&r| r > 0.0))
        };
        // The f64 CPU backend, where `open` would put the fit (a device's f64 finish continues
        // the smoothed run instead).
        let on_the_host = || {
            let (choice, context) = self.backend();
            matches!(device_for(choice, context, problem, self.intercept), Ok(None))
        };
        self.family.has_unbounded_weight()
            && self.penalty.lambda > 0.0
            && ridge_everywhere()
            && on_the_host()
    }

    /// Whether this model may solve matrix-free (see [`Model::on_matrix_free`]).
    pub(crate) fn may_solve_matrix_free(&self) -> bool {
        self.matrix_free
    }

    /// Whether this model may solve on active sets (see [`Model::on_active_sets`]).
    pub(crate) fn solves_on_active_sets(&self) -> bool {
        self.active_sets
    }

    /// The same model checking its memory as a fit over every feature with its d × d matrices
    /// does (neither on active sets nor matrix-free).
    pub(crate) fn with_full_matrices(&self) -> Model {
        Model { active_sets: false, matrix_free: false, ..self.clone() }
    }

    /// Whether the d × d matrices of a fit over every feature of `problem` fit in memory
    /// ([`Model::check_memory`] as for a single fit, whatever the entry point).
    pub(crate) fn full_matrices_fit(&self, problem: &Problem<'_>) -> bool {
        self.with_full_matrices().check_memory(problem, 0).is_ok()
    }

    /// [`Model::check_memory`] for `n` rows held at once (a streamed fit's block buffers) of `p`
    /// features (for a path on active sets, of the largest active set the lasso selects,
    /// n + 1 columns: each compact solve is checked again for its own).
    pub(crate) fn check_memory_for(&self, n: usize, p: usize, extra: u64) -> Result<()> {
        let p = if self.active_sets { p.min(n.saturating_add(1)) } else { p };
        let dim = p + usize::from(self.intercept);
        let Some(available) = self.execution.max_memory.or_else(available_memory) else {
            return Ok(());
        };
        if self.matrix_free {
            // Per row: η, the weights, a direction's product; per coordinate: θ, ∇L, the
            // conjugate-gradient vectors and the diagonal (a dozen f64 in all).
            let needed =
                (n as u64).saturating_mul(64).saturating_add((dim as u64).saturating_mul(96));
            let needed = needed.saturating_add(extra);
            if needed > available {
                return Err(Error::OutOfMemory {
                    rows: n,
                    cols: p,
                    dim,
                    matrices: 0,
                    needed_mib: needed >> 20,
                    available_mib: available >> 20,
                });
            }
            return Ok(());
        }
        let matrices = 8;
        let square = (dim as u64).saturating_mul(dim as u64).saturating_mul(8);
        let partial_grams = (n.div_ceil(2048).clamp(1, 32) as u64)
            .saturating_mul((p as u64).saturating_mul(p as u64).saturating_mul(8))
            .min(256 << 20);
        // Per-row buffers: η, weights, derivatives, a copy of y and the weights (a few f64 per
        // row). X itself is the caller's and is not counted.
        let rows = (n as u64).saturating_mul(64);
        let needed = square
            .saturating_mul(matrices)
            .saturating_add(partial_grams)
            .saturating_add(rows)
            .saturating_add(extra);
        if needed > available {
            return Err(Error::OutOfMemory {
                rows: n,
                cols: p,
                dim,
                matrices: matrices as usize,
                needed_mib: needed >> 20,
                available_mib: available >> 20,
            });
        }
        Ok(())
    }

    /// The backend to open, and the GPU context the application gave (if any).
    pub(crate) fn backend(&self) -> (BackendChoice, Option<&GpuContext>) {
        (self.execution.backend.unwrap_or(BackendChoice::Auto), self.execution.gpu.as_ref())
    }

    /// The penalty at λ for `dim` coordinates (the features, then the intercept).
    pub(crate) fn terms_at(&self, lambda: f64, dim: usize) -> Result<PenaltyTerms> {
        let mut terms = Penalty { lambda, ..self.penalty }.terms(&self.factors, dim)?;
        if let Some(scale) = &self.penalty_scale {
            for (j, &s) in scale.iter().enumerate() {
                terms.ridge[j] /= s * s;
                terms.lasso[j] /= carried(s, terms.exponent);
            }
        }
        Ok(terms)
    }

    /// vⱼ per feature in the coordinates the model fits in (vⱼ/sⱼ^q where the design is
    /// preconditioned, as the ℓ₁ term is carried): the KKT bound at zero is |gⱼ| ≤ λαvⱼ.
    pub(crate) fn kkt_factors(&self) -> Vec<f64> {
        let mut factors = self.factors.clone();
        if let Some(scale) = &self.penalty_scale {
            for (v, &s) in factors.iter_mut().zip(scale) {
                *v /= carried(s, self.penalty.exponent);
            }
        }
        factors
    }

    /// Whether the penalty applies to the standardized coefficients ([`Glm::standardize`]).
    pub(crate) fn standardizes(&self) -> bool {
        self.standardize
    }

    /// The same model for the preconditioned coordinates whose column scales are `scale`: the
    /// penalty carried along unless the model standardizes (then it applies there as set).
    pub(crate) fn in_preconditioned_coordinates(&self, scale: &[f64]) -> Model {
        let penalty_scale = (!self.standardize).then(|| scale.to_vec());
        Model { penalty_scale, standardize: false, ..self.clone() }
    }

    /// The penalty as set, for `dim` coordinates.
    pub(crate) fn terms(&self, dim: usize) -> Result<PenaltyTerms> {
        self.terms_at(self.penalty.lambda, dim)
    }

    /// The same model with another penalty (the baselines' λ sequence).
    pub(crate) fn with_penalty(&self, penalty: Penalty) -> Result<Model> {
        penalty.terms(&self.factors, self.factors.len())?;
        Ok(Model { penalty, ..self.clone() })
    }
}

/// sⱼ^q, the factor an ℓ₁ (or bridge) term λvⱼ|βⱼ|^q is divided by when βⱼ = β̃ⱼ/sⱼ (exactly sⱼ
/// for the lasso).
fn carried(s: f64, q: f64) -> f64 {
    if q == 1.0 { s } else { s.powf(q) }
}
