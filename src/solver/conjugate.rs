//! The matrix-free M-step: truncated Newton (Newton-CG, as liblinear's TRON) and EM with
//! conjugate gradients, for smooth penalties on designs too wide for a d × d matrix
//! (docs/sm-em.md §9).
//!
//! Each outer iteration makes one pass over the rows at θ for the loss, ∇L and the row weights
//! cᵢ = wᵢ ℓ''ᵢ (the Hessian: logistic, binomial, gaussian, and Student-t, whose ℓ'' is
//! negative in the tails, with SM-EM's majorizing weights wᵢ ω̂ᵢ standing by where its Newton
//! step gives no descent) — then solves the quadratic model
//!
//! ```text
//! (XᵀCX/W + diag(ridge)) δ = −(∇L + ridge ⊙ θ)
//! ```
//!
//! by preconditioned conjugate gradients (diagonal preconditioner), each product two passes
//! over the stored entries of X: O(nnz) time, O(n + d) memory, never d × d. CG is started at
//! δ = 0, so every iterate lowers the quadratic model; truncated at a relative residual that
//! shrinks with the gradient (a forcing sequence: superlinear convergence near the optimum),
//! and never below what the KKT target needs (the last step's new gradient is about its CG
//! residual).
//!
//! With the EM weights the model majorizes F, so any CG iterate is a generalized EM step and F
//! cannot rise; with the Hessian, the step is checked by a backtracking (Armijo) line search on
//! F computed in f64. Either way the objective never rises. The fit ends when the KKT
//! violation from an f64 gradient meets `kkt_tol` × the scale at the start, as every fit.
//!
//! For p ≫ n the same model is solved exactly in its dual form instead ([`Dual`], chosen by the
//! driver's cost model): by Woodbury's identity an n × n system replaces the d × d one, and
//! K = XΛ⁻¹Xᵀ (Λ the ridge) is formed once per fit, so each step costs one n × n Cholesky and a
//! few passes over X.
//!
//! Hinge and quantile (whose ω̂ is unbounded at the kink, so the fit runs on their smoothed
//! losses under SM-EM's own schemes and stopping rules) take only the solve: a
//! [`crate::solver::Run`] asks its backend for the loss and ∇L alone and hands each EM update
//! to [`MatrixFree::em_model`] ([`RowWeightedStep`]), which computes the weights wᵢ ω̂ᵢ and
//! solves the same EM model by the dual or by conjugate gradients.

use std::time::Instant;

use nalgebra::DMatrix;

use crate::data::Problem;
use crate::family::Family;
use crate::penalty::PenaltyTerms;
use crate::solver::kinks::kernel_block;
use crate::solver::{RowWeightedStep, Solution, SolverOptions, Termination};

/// CG iterations per outer iteration at most (the quadratic model's dimension caps them too).
const MAX_CG_ITERATIONS: usize = 500;
/// Armijo's sufficient-decrease fraction (also the column solver's).
pub(crate) const ARMIJO: f64 = 1e-4;
/// Steps F cannot judge that may pass without a new lowest KKT violation before the fit is
/// called stalled (rounding has the last word there).
const MAX_STALE_STEPS: usize = 10;
/// Halvings of a step before the line search gives up.
const MAX_HALVINGS: usize = 40;
/// The relative CG residual of a step taken where F's rounding hides its decrease, at most.
const NOISE_FORCING: f64 = 1e-13;
/// The loosest relative CG residual of a Newton step, far from the optimum (the forcing
/// sequence min(0.5, √(‖∇F‖/‖∇F₀‖)), as scikit-learn's newton-cg caps its own): 0.1 made the
/// first steps solve tighter than a step that far out can use (a 13 217 × 374 505 tf-idf
/// ridge: 95 CG products in 8 Newton steps at 0.1, 64 at 0.5; 1.28 s against 0.68 s).
const FORCING_CAP: f64 = 0.5;

/// Which weights build the quadratic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curvature {
    /// wᵢ ℓ''ᵢ: Newton, checked by the line search.
    Hessian,
    /// wᵢ ω̂ᵢ: the EM majorizer, monotone by construction.
    Em,
}

/// Whether `family` has a matrix-free Newton or EM loop of its own (smooth losses: hinge and
/// quantile take SM-EM's run with the EM update from [`MatrixFree::em_model`] instead).
pub(crate) fn supports(family: Family) -> bool {
    curvature(family).is_some()
}

fn curvature(family: Family) -> Option<Curvature> {
    match family {
        Family::Logistic
        | Family::Binomial
        | Family::Gaussian
        | Family::Poisson
        | Family::NegativeBinomial { .. } => Some(Curvature::Hessian),
        Family::StudentT { .. } => Some(Curvature::Em),
        _ => None,
    }
}

/// Whether `family`'s quadratic model uses the Hessian (and so needs a line search) rather than
/// SM-EM's majorizing weights; `None` for a family with neither here.
pub(crate) fn uses_hessian(family: Family) -> Option<bool> {
    curvature(family).map(|c| c == Curvature::Hessian)
}

/// One smooth-penalty problem solved matrix-free.
pub(crate) struct MatrixFree<'a, 'p> {
    problem: &'a Problem<'p>,
    intercept: bool,
    terms: &'a PenaltyTerms,
    options: SolverOptions,
    curvature: Curvature,
    /// Whether the Hessian's model may fail to give a descent step (Student-t, whose curvature
    /// is negative in the tails), so the EM weights stand by.
    em_fallback: bool,
    /// The quadratic model's exact dual solver, where the driver chose it
    /// ([`MatrixFree::with_dual_kept`]).
    dual: Option<Dual>,
}

/// The quadratic model solved through its n × n dual (Woodbury): with A = XᵀCX/W + Λ over the
/// features (Λ = diag(ridge) > 0), D = diag(√|c|) and S = diag(sign c),
///
/// ```text
/// A⁻¹v = Λ⁻¹v − Λ⁻¹XᵀD (W·S + DKD)⁻¹ DXΛ⁻¹v,   K = XΛ⁻¹Xᵀ (n × n, formed once per fit)
/// ```
///
/// solved as (W·C⁻¹ + K)⁻¹ = D(W·S + DKD)⁻¹D over the n rows ([`Dual::factor`]), with the
/// intercept bordering that system ([`MatrixFree::dual_step`]). Each solve is refined once
/// against the model's own product, so the cancellation in Λ⁻¹(v − …) for a small ridge costs
/// no accuracy the step needs.
#[derive(Clone)]
pub(crate) struct Dual {
    /// K = XΛ⁻¹Xᵀ.
    kernel: DMatrix<f64>,
    /// 1 / ridgeⱼ over the features.
    inverse_ridge: Vec<f64>,
}

/// The n × n system of one set of row weights, factored ([`Dual::factor`]).
struct DualFactor {
    system: Factored,
    /// D's diagonal: the row scaling on both sides of the system.
    root: Vec<f64>,
}

/// The dual system factored: by Cholesky where every weight is ≥ 0 (positive definite), by LU
/// where some are negative (a Hessian with negative curvature in some rows).
enum Factored {
    Cholesky(nalgebra::Cholesky<f64, nalgebra::Dyn>),
    Lu(nalgebra::LU<f64, nalgebra::Dyn, nalgebra::Dyn>),
}

impl Dual {
    /// K for `problem`'s features with ridge `ridge` (every entry > 0): column blocks of
    /// X·Λ^(-1/2) multiplied by packed GEMM for a dense design (n²·p/2 multiply-adds), the pairs
    /// of rows within each column for a sparse one (Σⱼ nnzⱼ²/2).
    pub(crate) fn new(problem: &Problem<'_>, ridge: &[f64]) -> Self {
        let p = problem.ncols();
        let inverse_ridge: Vec<f64> = ridge[..p].iter().map(|r| 1.0 / r).collect();
        let every_row: Vec<usize> = (0..problem.nrows()).collect();
        let kernel = kernel_block(&problem.x, &inverse_ridge, &every_row);
        Self { kernel, inverse_ridge }
    }

    /// The dual of the same X for the ridge `ridge`, where it is c × the ridge this one was
    /// built for (a ridge path's points): K/c, no pass over X. `None` where it is not.
    fn rescaled(&self, ridge: &[f64]) -> Option<Dual> {
        let p = self.inverse_ridge.len();
        let c = ridge[0] * self.inverse_ridge[0];
        let proportional = ridge[..p]
            .iter()
            .zip(&self.inverse_ridge)
            .all(|(r, inverse)| (r * inverse - c).abs() <= 1e-12 * c);
        (c.is_finite() && c > 0.0 && proportional).then(|| Dual {
            kernel: &self.kernel / c,
            inverse_ridge: self.inverse_ridge.iter().map(|v| v / c).collect(),
        })
    }

    /// The n × n system of row weights `weights`, factored; `None` where a weight is not
    /// finite or the system is singular (the caller then solves by conjugate gradients).
    ///
    /// With every cᵢ ≥ 0 it is D(W·C⁻¹ + K)D with D the indicator of cᵢ > 0: K plus the
    /// diagonal W/cᵢ, whose conditioning does not degrade as weights grow (hinge and quantile
    /// weights reach 1/(2·floor) ≈ 5e9 at their optimum's support rows, where W + DKD with
    /// D = √C lost digits in every step), and rows with cᵢ = 0 (or W/cᵢ beyond f64) drop out.
    /// Some cᵢ < 0 (a Student-t Hessian): W·S + DKD with D = diag(√|c|), S = diag(sign c), by LU.
    fn factor(&self, weights: &[f64], weight_sum: f64) -> Option<DualFactor> {
        if weights.iter().any(|c| !c.is_finite()) {
            return None;
        }
        let n = weights.len();
        if weights.iter().all(|&c| c >= 0.0) {
            let inverse: Vec<f64> = weights.iter().map(|&c| weight_sum / c).collect();
            let root: Vec<f64> =
                inverse.iter().map(|v| if v.is_finite() { 1.0 } else { 0.0 }).collect();
            let mut system = DMatrix::from_fn(n, n, |i, k| root[i] * self.kernel[(i, k)] * root[k]);
            for (i, v) in inverse.iter().enumerate() {
                system[(i, i)] += if v.is_finite() { *v } else { 1.0 };
            }
            return Some(DualFactor { system: Factored::Cholesky(system.cholesky()?), root });
        }
        let root: Vec<f64> = weights.iter().map(|c| c.abs().sqrt()).collect();
        let mut system = DMatrix::from_fn(n, n, |i, k| root[i] * self.kernel[(i, k)] * root[k]);
        for (i, c) in weights.iter().enumerate() {
            system[(i, i)] += if *c < 0.0 { -weight_sum } else { weight_sum };
        }
        let lu = system.lu();
        if !lu.is_invertible() {
            return None;
        }
        Some(DualFactor { system: Factored::Lu(lu), root })
    }
}

impl DualFactor {
    /// (W·C⁻¹ + K)⁻¹y over the rows, as D·system⁻¹·D·y (rows with cᵢ = 0 give 0).
    fn apply_inverse(&self, y: &[f64]) -> Vec<f64> {
        let scaled = y.iter().zip(&self.root).map(|(t, d)| t * d).collect();
        let mut rows = nalgebra::DVector::from_vec(scaled);
        match &self.system {
            Factored::Cholesky(cholesky) => cholesky.solve_mut(&mut rows),
            Factored::Lu(lu) => {
                lu.solve_mut(&mut rows);
            }
        }
        rows.iter().zip(&self.root).map(|(t, d)| t * d).collect()
    }
}

/// The relative CG residual of an EM step solved by conjugate gradients for a [`crate::solver::Run`]'s
/// scheme: any CG iterate lowers the majorizer (a generalized EM step), and a tight solve keeps
/// the accelerated schemes' map close to EM's.
const EM_STEP_FORCING: f64 = 1e-6;

impl RowWeightedStep for MatrixFree<'_, '_> {
    fn em_update(&self, from: &[f64], gradient: &[f64], next: &mut [f64]) -> bool {
        let problem = self.problem;
        let eta = self.linear_predictor(from);
        let weights: Vec<f64> = eta
            .iter()
            .enumerate()
            .map(|(i, &e)| problem.weights[i] * problem.family.estep(problem.y[i], e).weight)
            .collect();
        if weights.iter().any(|c| !c.is_finite()) {
            return false;
        }
        let rhs: Vec<f64> =
            (0..from.len()).map(|j| -(gradient[j] + self.terms.ridge[j] * from[j])).collect();
        let (delta, cg) = self.solve_model(&weights, &rhs, EM_STEP_FORCING);
        log::trace!("EM update: {cg} CG products");
        for ((n, t), d) in next.iter_mut().zip(from).zip(&delta) {
            *n = t + d;
        }
        true
    }
}

/// The quantities of one pass over the rows at θ.
pub(crate) struct Pass {
    /// F(θ) = L(θ) + penalty.
    pub(crate) objective: f64,
    /// ∇L(θ), d entries.
    pub(crate) loss_gradient: Vec<f64>,
    /// cᵢ = wᵢ × curvature, n entries.
    pub(crate) weights: Vec<f64>,
    /// wᵢ ω̂ᵢ, the EM weights, where the model's curvature may not give a descent step.
    pub(crate) em_weights: Option<Vec<f64>>,
}

impl<'a, 'p> MatrixFree<'a, 'p> {
    /// The solver for `problem` with penalty `terms` (no ℓ₁ part), or `None` for a family
    /// without a matrix-free M-step.
    pub(crate) fn new(
        problem: &'a Problem<'p>,
        intercept: bool,
        terms: &'a PenaltyTerms,
        options: SolverOptions,
    ) -> Option<Self> {
        // Student-t takes Newton steps on its exact Hessian (negative in rows far out in the
        // tails, so the model may be indefinite), far fewer than EM's, with the EM step where
        // they give no descent.
        let em_fallback = matches!(problem.family, Family::StudentT { .. });
        let curvature = if em_fallback { Curvature::Hessian } else { curvature(problem.family)? };
        Some(Self { problem, intercept, terms, options, curvature, em_fallback, dual: None })
    }

    /// The EM model's solver for `problem`, any family whose ω̂ majorizes its loss: the M-step
    /// of a [`crate::solver::Run`] that never forms S ([`RowWeightedStep`]; hinge and
    /// quantile ridges on wide or sparse designs, whose weights are unbounded and whose
    /// smoothed iterations need the run's acceleration and f64 stopping rules).
    pub(crate) fn em_model(
        problem: &'a Problem<'p>,
        intercept: bool,
        terms: &'a PenaltyTerms,
        options: SolverOptions,
    ) -> Self {
        let curvature = Curvature::Em;
        Self { problem, intercept, terms, options, curvature, em_fallback: false, dual: None }
    }

    /// The same solver taking its steps through the n × n dual ([`Dual`]), where every feature
    /// has a ridge (Λ > 0; unchanged otherwise): K taken from `kept` (a dual of the same X
    /// built for a proportional ridge: a ridge path's earlier point) where it can, else built,
    /// and left there for the next solve.
    pub(crate) fn with_dual_kept(mut self, kept: &mut Option<Dual>) -> Self {
        let p = self.problem.ncols();
        if !self.terms.ridge[..p].iter().all(|&r| r > 0.0 && r.is_finite()) {
            return self;
        }
        let dual = kept
            .as_ref()
            .and_then(|dual| dual.rescaled(&self.terms.ridge))
            .unwrap_or_else(|| Dual::new(self.problem, &self.terms.ridge));
        *kept = Some(dual.clone());
        self.dual = Some(dual);
        self
    }

    /// The dual's K = XΛ⁻¹Xᵀ (this problem's X and ridge), where the steps go through it.
    pub(crate) fn kernel(&self) -> Option<&DMatrix<f64>> {
        self.dual.as_ref().map(|dual| &dual.kernel)
    }

    /// Whether the steps go through the dual.
    pub(crate) fn uses_dual(&self) -> bool {
        self.dual.is_some()
    }

    /// δ solving the quadratic model (XᵀCX/W + diag(ridge)) δ = rhs: exactly through the dual
    /// where there is one (refined once), else by conjugate gradients to a relative residual of
    /// `relative`. Returns δ and the CG iterations (0 for the dual).
    fn solve_model(&self, weights: &[f64], rhs: &[f64], relative: f64) -> (Vec<f64>, usize) {
        if let Some(delta) = self.dual_solve(weights, rhs) {
            return (delta, 0);
        }
        self.conjugate_gradients(weights, rhs, relative)
    }

    /// The dual solve of the quadratic model with one refinement step; `None` without a dual
    /// or where its system cannot be factored.
    fn dual_solve(&self, weights: &[f64], rhs: &[f64]) -> Option<Vec<f64>> {
        let dual = self.dual.as_ref()?;
        let factor = dual.factor(weights, self.problem.weight_sum)?;
        let mut delta = self.dual_step(dual, &factor, rhs)?;
        let mut product = vec![0.0; rhs.len()];
        let mut rows = vec![0.0; weights.len()];
        self.model_times(weights, &delta, &mut rows, &mut product);
        let residual: Vec<f64> = rhs.iter().zip(&product).map(|(r, q)| r - q).collect();
        let correction = self.dual_step(dual, &factor, &residual)?;
        delta.iter_mut().zip(&correction).for_each(|(d, c)| *d += c);
        Some(delta)
    }

    /// One dual solve of the model with u = C(Xδ_β + 1δ₀)/W as the n dual unknowns: δ_β =
    /// Λ⁻¹(r_β − Xᵀu), (K + W·C⁻¹)u = XΛ⁻¹r_β + 1·δ₀, and for the intercept 1ᵀu + ρ₀δ₀ = r₀
    /// (ρ₀ its ridge). With m = (K + W·C⁻¹)⁻¹1 and u₀ = (K + W·C⁻¹)⁻¹XΛ⁻¹r_β,
    /// δ₀ = (r₀ − 1ᵀu₀)/(1ᵀm + ρ₀): a pivot that is a sum of positive terms, where the Schur
    /// complement of the intercept's row in the d × d model (Σc/W − aᵀA⁻¹a) cancelled to
    /// nothing under the large weights of hinge and quantile. `None` where that pivot is not
    /// positive (an indefinite Student-t Hessian).
    fn dual_step(&self, dual: &Dual, factor: &DualFactor, rhs: &[f64]) -> Option<Vec<f64>> {
        let p = self.problem.ncols();
        let x = &self.problem.x;
        let scaled: Vec<f64> =
            rhs[..p].iter().zip(&dual.inverse_ridge).map(|(a, r)| a * r).collect();
        let mut u = factor.apply_inverse(&x.times(0.0, &scaled));
        let intercept_step = if self.intercept {
            let m = factor.apply_inverse(&vec![1.0; u.len()]);
            let pivot = m.iter().sum::<f64>() + self.terms.ridge[p];
            if !(pivot.is_finite() && pivot > 0.0) {
                return None;
            }
            let b0 = (rhs[p] - u.iter().sum::<f64>()) / pivot;
            u.iter_mut().zip(&m).for_each(|(t, m)| *t += b0 * m);
            Some(b0)
        } else {
            None
        };
        let mut back = vec![0.0; p];
        x.transpose_times_into(&u, &mut back);
        let mut delta: Vec<f64> = rhs[..p]
            .iter()
            .zip(&back)
            .zip(&dual.inverse_ridge)
            .map(|((r, b), inverse)| (r - b) * inverse)
            .collect();
        delta.extend(intercept_step);
        Some(delta)
    }

    fn dim(&self) -> usize {
        self.problem.ncols() + usize::from(self.intercept)
    }

    /// ηᵢ = xᵢᵀβ + b₀ + offsetᵢ for every row.
    fn linear_predictor(&self, theta: &[f64]) -> Vec<f64> {
        let p = self.problem.ncols();
        let b0 = if self.intercept { theta[p] } else { 0.0 };
        self.problem.linear_predictor(&theta[..p], b0)
    }

    /// out = Xᵀu (the intercept's entry Σ uᵢ last), over the stored entries.
    fn transpose_times(&self, u: &[f64], out: &mut [f64]) {
        let p = self.problem.ncols();
        self.problem.x.transpose_times_into(u, &mut out[..p]);
        if self.intercept {
            out[p] = u.iter().sum();
        }
    }

    /// F(θ) alone.
    pub(crate) fn objective(&self, theta: &[f64]) -> f64 {
        let problem = self.problem;
        let eta = self.linear_predictor(theta);
        let mut loss = CompensatedSum::default();
        for (i, &e) in eta.iter().enumerate() {
            loss.add(problem.weights[i] * problem.family.fitted_loss(problem.y[i], e));
        }
        loss.value() / problem.weight_sum + self.terms.value(theta)
    }

    /// F, ∇L and the row weights at θ.
    pub(crate) fn pass(&self, theta: &[f64]) -> Pass {
        let problem = self.problem;
        let eta = self.linear_predictor(theta);
        let (mut loss, mut derivative) = (CompensatedSum::default(), vec![0.0; eta.len()]);
        let mut weights = vec![0.0; eta.len()];
        let mut em_weights = self.em_fallback.then(|| vec![0.0; eta.len()]);
        for (i, &e) in eta.iter().enumerate() {
            let w = problem.weights[i];
            let moments = problem.family.estep(problem.y[i], e);
            loss.add(w * moments.loss);
            derivative[i] = w * moments.derivative / problem.weight_sum;
            weights[i] = w * match self.curvature {
                Curvature::Hessian => self.problem.family.hessian(problem.y[i], e, &moments),
                Curvature::Em => moments.weight,
            };
            if let Some(em) = em_weights.as_mut() {
                em[i] = w * moments.weight;
            }
        }
        let mut loss_gradient = vec![0.0; self.dim()];
        self.transpose_times(&derivative, &mut loss_gradient);
        Pass {
            objective: loss.value() / problem.weight_sum + self.terms.value(theta),
            loss_gradient,
            weights,
            em_weights,
        }
    }

    /// out = (XᵀCX/W + diag(ridge)) v, with `rows` (n entries) as scratch for C·Xv.
    fn model_times(&self, weights: &[f64], v: &[f64], rows: &mut [f64], out: &mut [f64]) {
        // Xv: the intercept's entry applies to every row; no offset.
        let p = self.problem.ncols();
        let b0 = if self.intercept { v[p] } else { 0.0 };
        self.problem.x.times_into(b0, &v[..p], rows);
        let inv_w = 1.0 / self.problem.weight_sum;
        rows.iter_mut().zip(weights).for_each(|(u, c)| *u *= c * inv_w);
        self.transpose_times(rows, out);
        for (j, o) in out.iter_mut().enumerate() {
            *o += self.terms.ridge[j] * v[j];
        }
    }

    /// The diagonal of the quadratic model: Σᵢ cᵢ xᵢⱼ² / W + ridgeⱼ (floored so an empty column
    /// without a ridge still has a pivot).
    fn model_diagonal(&self, weights: &[f64]) -> Vec<f64> {
        let p = self.problem.ncols();
        let mut diagonal = vec![0.0; self.dim()];
        for (i, &c) in weights.iter().enumerate() {
            self.problem.x.for_row(i, |j, v| diagonal[j] += c * v * v);
        }
        if self.intercept {
            diagonal[p] = weights.iter().sum();
        }
        let inv_w = 1.0 / self.problem.weight_sum;
        let largest = diagonal.iter().fold(0.0_f64, |a, &d| a.max(d * inv_w)).max(1e-300);
        for (j, d) in diagonal.iter_mut().enumerate() {
            *d = (*d * inv_w + self.terms.ridge[j]).max(1e-12 * largest);
        }
        diagonal
    }

    /// Preconditioned CG on (XᵀCX/W + diag(ridge)) δ = rhs from δ = 0, to a residual below
    /// `relative` × ‖rhs‖. Returns δ and the CG iterations.
    fn conjugate_gradients(
        &self,
        weights: &[f64],
        rhs: &[f64],
        relative: f64,
    ) -> (Vec<f64>, usize) {
        let dim = rhs.len();
        let diagonal = self.model_diagonal(weights);
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let target = relative * norm(rhs);
        let mut delta = vec![0.0; dim];
        let mut residual = rhs.to_vec();
        let mut z: Vec<f64> = residual.iter().zip(&diagonal).map(|(r, d)| r / d).collect();
        let mut direction = z.clone();
        let mut product = vec![0.0; dim];
        let mut rows = vec![0.0; weights.len()];
        let mut rz = dot(&residual, &z);
        let limit = MAX_CG_ITERATIONS.min(dim.max(1));
        for iteration in 1..=limit {
            self.model_times(weights, &direction, &mut rows, &mut product);
            let curvature = dot(&direction, &product);
            if curvature <= 0.0 || !curvature.is_finite() {
                // The model is flat or indefinite along this direction (rounding): stop with
                // the iterate so far, which already lowers the model.
                return (delta, iteration - 1);
            }
            let step = rz / curvature;
            for j in 0..dim {
                delta[j] += step * direction[j];
                residual[j] -= step * product[j];
            }
            if norm(&residual) <= target {
                return (delta, iteration);
            }
            for j in 0..dim {
                z[j] = residual[j] / diagonal[j];
            }
            let rz_next = dot(&residual, &z);
            let beta = rz_next / rz;
            rz = rz_next;
            for j in 0..dim {
                direction[j] = z[j] + beta * direction[j];
            }
        }
        (delta, limit)
    }

    /// Solves from `theta0` (see the module docs).
    pub(crate) fn solve(&self, theta0: Vec<f64>) -> Solution {
        let start = Instant::now();
        let dim = self.dim();
        let mut theta = theta0;
        let mut pass = self.pass(&theta);
        let kkt_scale = pass.loss_gradient.iter().fold(1.0_f64, |a, g| a.max(g.abs()));
        let kkt_target = self.options.kkt_tol * kkt_scale;
        let first_norm = self.gradient_norm(&theta, &pass).max(f64::MIN_POSITIVE);
        let mut trace = vec![pass.objective];
        let mut trace_marks = vec![(0, start)];
        let mut iterations = 0;
        let mut guard = NoiseGuard::new();
        let mut termination = Termination::MaxIterations;
        let mut cg_total = 0;
        loop {
            let kkt = self.terms.kkt_violation(&theta, &pass.loss_gradient);
            if kkt <= kkt_target {
                termination = Termination::Converged;
                break;
            }
            if iterations >= self.options.max_iter {
                break;
            }
            iterations += 1;
            let gradient: Vec<f64> =
                (0..dim).map(|j| pass.loss_gradient[j] + self.terms.ridge[j] * theta[j]).collect();
            let rhs: Vec<f64> = gradient.iter().map(|g| -g).collect();
            let gradient_norm = self.gradient_norm(&theta, &pass);
            // The step's new gradient is about the CG residual: a residual of half the KKT
            // target (‖·‖∞ ≤ ‖·‖₂) is all the last step needs.
            let enough = 0.5 * kkt_target / gradient_norm.max(f64::MIN_POSITIVE);
            let forcing =
                (gradient_norm / first_norm).sqrt().min(FORCING_CAP).max(enough.min(FORCING_CAP));
            let (delta, cg) = self.solve_model(&pass.weights, &rhs, forcing);
            cg_total += cg;
            let mut slope: f64 = gradient.iter().zip(&delta).map(|(g, d)| g * d).sum();
            log::trace!(
                "matrix-free iteration {iterations}: F {:e}, KKT {kkt:e} (target {kkt_target:e}), {cg} CG, slope {slope:e}",
                pass.objective
            );
            let mut search = self.line_search(&theta, &delta, pass.objective, slope, ARMIJO);
            let failed = slope >= 0.0 || search.is_none() && -slope > resolution(pass.objective);
            if let (true, Some(em)) = (failed, &pass.em_weights) {
                // The clipped curvature gave no descent step: the EM weights majorize F, so
                // their step descends.
                let (em_delta, cg) = self.solve_model(em, &rhs, forcing);
                cg_total += cg;
                slope = gradient.iter().zip(&em_delta).map(|(g, d)| g * d).sum();
                search = self.line_search(&theta, &em_delta, pass.objective, slope, ARMIJO);
            }
            let Some((next, next_pass)) = search else {
                // The predicted decrease is below the objective's rounding, so F cannot judge
                // the step: take the step solved to full accuracy (a Newton step converges
                // quadratically; an EM step still majorizes) where F moves by no more than its
                // rounding, until the KKT violation stops reaching new lows.
                if slope >= 0.0 {
                    termination = Termination::Stalled;
                    break;
                }
                let (delta, cg) =
                    self.solve_model(&pass.weights, &rhs, enough.clamp(NOISE_FORCING, FORCING_CAP));
                cg_total += cg;
                let candidate: Vec<f64> = theta.iter().zip(&delta).map(|(t, d)| t + d).collect();
                let candidate_pass = self.pass(&candidate);
                let after = self.terms.kkt_violation(&candidate, &candidate_pass.loss_gradient);
                if !guard.accepts(after, pass.objective, candidate_pass.objective) {
                    termination = Termination::Stalled;
                    break;
                }
                theta = candidate;
                pass = candidate_pass;
                trace.push(pass.objective);
                trace_marks.push((iterations, Instant::now()));
                continue;
            };
            (theta, pass) = (next, next_pass);
            trace.push(pass.objective);
            trace_marks.push((iterations, Instant::now()));
        }
        log::debug!(
            "matrix-free {:?}: {iterations} iterations, {cg_total} CG products",
            self.curvature
        );
        let kkt_violation = self.terms.kkt_violation(&theta, &pass.loss_gradient);
        let trace = (trace, trace_marks);
        f64_solution(
            theta,
            pass.objective,
            iterations,
            termination,
            trace,
            kkt_violation,
            kkt_scale,
        )
    }

    /// ‖∇F‖₂ at θ (the forcing sequence's measure).
    fn gradient_norm(&self, theta: &[f64], pass: &Pass) -> f64 {
        (0..theta.len())
            .map(|j| (pass.loss_gradient[j] + self.terms.ridge[j] * theta[j]).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    /// θ + t·d for the largest t in 1, ½, ¼, … with F(θ + td) ≤ F(θ) + `sufficient`·t·`slope`
    /// (`slope` < 0: the step's predicted decrease), with the pass at that point; `None` where
    /// the predicted decrease is below F's rounding (no comparison of F can decide). The full
    /// step is taken almost always, so its pass is computed whole and becomes the next
    /// iteration's (one pass over X per accepted step); shorter steps are judged on F alone.
    pub(crate) fn line_search(
        &self,
        theta: &[f64],
        direction: &[f64],
        objective: f64,
        slope: f64,
        sufficient: f64,
    ) -> Option<(Vec<f64>, Pass)> {
        let rounding = resolution(objective);
        if -slope <= rounding {
            return None;
        }
        let at =
            |t: f64| -> Vec<f64> { theta.iter().zip(direction).map(|(a, d)| a + t * d).collect() };
        let full = at(1.0);
        let pass = self.pass(&full);
        if pass.objective <= objective + sufficient * slope {
            return Some((full, pass));
        }
        let mut t = 0.5;
        for _ in 1..MAX_HALVINGS {
            if -t * slope <= rounding {
                return None;
            }
            let candidate = at(t);
            if self.objective(&candidate) <= objective + sufficient * t * slope {
                let pass = self.pass(&candidate);
                return Some((candidate, pass));
            }
            t *= 0.5;
        }
        None
    }
}

/// A sum accurate to about one rounding of its value whatever the number of terms (Neumaier's
/// compensated summation). F is judged to [`resolution`], 16ε|F|; summed plainly over half a
/// million rows its rounding was about two hundred times that (F moved by 2.6e-13 between the
/// two sums), and a 500 000 × 1 000 000 ridge fit stalled on steps whose decrease it hid.
#[derive(Default)]
pub(crate) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    /// Adds `x`, keeping the low-order bits the running sum drops.
    pub(crate) fn add(&mut self, x: f64) {
        let total = self.sum + x;
        self.compensation +=
            if self.sum.abs() >= x.abs() { (self.sum - total) + x } else { (x - total) + self.sum };
        self.sum = total;
    }

    /// The sum.
    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// The rounding of an objective value F: changes below it are noise (F's sum is compensated,
/// [`CompensatedSum`]; the terms' own roundings are relative).
pub(crate) fn resolution(objective: f64) -> f64 {
    16.0 * f64::EPSILON * objective.abs().max(f64::MIN_POSITIVE)
}

/// Steps F cannot judge (their predicted decrease is below F's rounding), as the matrix-free and
/// the column solvers take them: where F moves by no more than its rounding, until the KKT
/// violation has gone [`MAX_STALE_STEPS`] steps without a new low (then the fit has stalled).
pub(crate) struct NoiseGuard {
    best_kkt: f64,
    stale: usize,
}

impl NoiseGuard {
    pub(crate) fn new() -> Self {
        Self { best_kkt: f64::INFINITY, stale: 0 }
    }

    /// Whether a step from objective `before` to a point with objective `after` and KKT
    /// violation `kkt_after` may be taken.
    pub(crate) fn accepts(&mut self, kkt_after: f64, before: f64, after: f64) -> bool {
        if kkt_after < self.best_kkt {
            (self.best_kkt, self.stale) = (kkt_after, 0);
        } else {
            self.stale += 1;
        }
        self.stale <= MAX_STALE_STEPS && after <= before + resolution(before)
    }
}

/// The record of a solve run in f64 on the host (no device rounding, no restarts): θ, F, the
/// iterations, why it stopped, the objective trace with its marks, the KKT violation and scale.
pub(crate) fn f64_solution(
    theta: Vec<f64>,
    objective: f64,
    iterations: usize,
    termination: Termination,
    (trace, trace_marks): (Vec<f64>, Vec<(usize, Instant)>),
    kkt_violation: f64,
    kkt_scale: f64,
) -> Solution {
    Solution {
        objective,
        theta,
        iterations,
        termination,
        trace,
        trace_marks,
        kkt_violation,
        restarts: 0,
        kkt_scale,
        gradient_error: 0.0,
        final_stats: None,
        polished: false,
        handoff: None,
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::{DMatrix, DVector};

    use super::*;
    use crate::data::Design;
    use crate::penalty::Penalty;

    /// A million terms of 0.1 (not exact in binary) summed plainly drift by about 1e-11
    /// relative from the exact sum of the stored value; the compensated sum stays within one
    /// rounding of it.
    #[test]
    fn compensated_sums_keep_the_bits_a_plain_sum_drops() {
        let term = 0.1_f64;
        let exact = 1_000_000.0 * term; // one rounding from the exact value
        let mut compensated = CompensatedSum::default();
        let mut plain = 0.0;
        for _ in 0..1_000_000 {
            compensated.add(term);
            plain += term;
        }
        assert!((compensated.value() - exact).abs() <= 2.0 * f64::EPSILON * exact);
        assert!((plain - exact).abs() > 1e3 * f64::EPSILON * exact, "{plain} vs {exact}");
    }

    /// The dual step solves the same quadratic model as the d × d system, to 1e-10 relative,
    /// with and without an intercept, on a dense and a sparse design with unequal ridges and
    /// row weights: some zero, and (the LU branch: a Hessian negative in some rows) some
    /// negative.
    #[test]
    fn the_dual_step_solves_the_d_by_d_system() {
        let (n, p) = (7, 12);
        let x: Vec<f64> = (0..n * p)
            .map(|k| if k % 3 == 1 { 0.0 } else { ((k * 37 % 23) as f64 - 11.0) / 7.0 })
            .collect();
        let (mut indptr, mut indices, mut values) = (vec![0usize], Vec::new(), Vec::new());
        for i in 0..n {
            for j in 0..p {
                if x[i * p + j] != 0.0 {
                    indices.push(j);
                    values.push(x[i * p + j]);
                }
            }
            indptr.push(values.len());
        }
        let y: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 2 == 0))).collect();
        let nonnegative: Vec<f64> =
            (0..n).map(|i| if i == 3 { 0.0 } else { 0.1 + i as f64 }).collect();
        let mut signed = nonnegative.clone();
        signed[5] = -0.05;
        let factors: Vec<f64> = (0..p).map(|j| 0.5 + j as f64 / 4.0).collect();
        let dense = Design::row_major(&x, n, p).unwrap();
        let sparse = Design::csr(n, p, &indptr, &indices, &values).unwrap();
        for (design, weights) in
            [(dense, &nonnegative), (sparse, &nonnegative), (dense, &signed), (sparse, &signed)]
        {
            let problem =
                Problem::new(design, y.as_slice().into(), None, Family::Logistic).unwrap();
            for intercept in [false, true] {
                let dim = p + usize::from(intercept);
                let terms = Penalty::ridge(0.3).terms(&factors, dim).unwrap();
                let solver = MatrixFree::new(&problem, intercept, &terms, SolverOptions::default())
                    .unwrap()
                    .with_dual_kept(&mut None);
                assert!(solver.uses_dual());
                let rhs: Vec<f64> = (0..dim).map(|j| (j as f64 * 0.7).sin()).collect();
                let delta = solver.dual_solve(weights, &rhs).expect("a dual solve");
                // The d × d system from the definitions.
                let row = |i: usize| -> Vec<f64> {
                    (0..p).map(|j| x[i * p + j]).chain(intercept.then_some(1.0)).collect()
                };
                let mut a = DMatrix::from_diagonal(&DVector::from_vec(terms.ridge.clone()));
                for (i, c) in weights.iter().enumerate() {
                    let xi = DVector::from_vec(row(i));
                    a += &xi * xi.transpose() * (c / problem.weight_sum);
                }
                let expected = a.lu().solve(&DVector::from_vec(rhs.clone())).unwrap();
                let scale = expected.amax();
                for j in 0..dim {
                    assert!(
                        (delta[j] - expected[j]).abs() <= 1e-10 * scale,
                        "sparse={} signed={} intercept={intercept} δ{j}: {} vs {}",
                        problem.x.is_sparse(),
                        weights[5] < 0.0,
                        delta[j],
                        expected[j]
                    );
                }
            }
        }
    }
}
