//! The matrix-free M-step: truncated Newton (Newton-CG, as liblinear's TRON) and EM with
//! conjugate gradients, for smooth penalties on designs too wide for a d × d matrix
//! (docs/sm-em.md §9).
//!
//! Each outer iteration makes one pass over the rows at θ for the loss, ∇L and the row weights
//! cᵢ — wᵢ ℓ''ᵢ (the Hessian) for the losses whose curvature is bounded and non-negative
//! (logistic, binomial, gaussian), wᵢ ω̂ᵢ (SM-EM's majorizing weights) for Student-t — then
//! solves the quadratic model
//!
//! ```text
//! (XᵀCX/W + diag(ridge)) δ = −(∇L + ridge ⊙ θ)
//! ```
//!
//! by preconditioned conjugate gradients (diagonal preconditioner), each product two passes
//! over the stored entries of X: O(nnz) time, O(n + d) memory, never d × d. CG is started at
//! δ = 0, so every iterate lowers the quadratic model; truncated at a relative residual that
//! shrinks with the gradient (a forcing sequence: superlinear convergence near the optimum).
//!
//! With the EM weights the model majorizes F, so any CG iterate is a generalized EM step and F
//! cannot rise; with the Hessian, the step is checked by a backtracking (Armijo) line search on
//! F computed in f64. Either way the objective never rises. The fit ends when the KKT
//! violation from an f64 gradient meets `kkt_tol` × the scale at the start, as every fit.

use std::time::Instant;

use crate::data::Problem;
use crate::family::Family;
use crate::penalty::PenaltyTerms;
use crate::solver::{Solution, SolverOptions, Termination};

/// CG iterations per outer iteration at most (the quadratic model's dimension caps them too).
const MAX_CG_ITERATIONS: usize = 500;
/// Armijo's sufficient-decrease fraction (also the column solver's).
pub(crate) const ARMIJO: f64 = 1e-4;
/// Steps F cannot judge that may pass without a new lowest KKT violation before the fit is
/// called stalled (rounding has the last word there).
const MAX_STALE_STEPS: usize = 10;
/// Halvings of a step before the line search gives up.
const MAX_HALVINGS: usize = 40;
/// The relative CG residual of a step taken where F's rounding hides its decrease.
const NOISE_FORCING: f64 = 1e-13;

/// Which weights build the quadratic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curvature {
    /// wᵢ ℓ''ᵢ: Newton, checked by the line search.
    Hessian,
    /// wᵢ ω̂ᵢ: the EM majorizer, monotone by construction.
    Em,
}

/// Whether `family` has a matrix-free M-step (smooth losses: not hinge or quantile, whose
/// smoothed iterations need the f64 finish on the d × d system).
pub(crate) fn supports(family: Family) -> bool {
    curvature(family).is_some()
}

fn curvature(family: Family) -> Option<Curvature> {
    match family {
        Family::Logistic | Family::Binomial | Family::Gaussian => Some(Curvature::Hessian),
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
}

/// The quantities of one pass over the rows at θ.
pub(crate) struct Pass {
    /// F(θ) = L(θ) + penalty.
    pub(crate) objective: f64,
    /// ∇L(θ), d entries.
    pub(crate) loss_gradient: Vec<f64>,
    /// cᵢ = wᵢ × curvature, n entries.
    pub(crate) weights: Vec<f64>,
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
        let curvature = curvature(problem.family)?;
        Some(Self { problem, intercept, terms, options, curvature })
    }

    fn dim(&self) -> usize {
        self.problem.ncols() + usize::from(self.intercept)
    }

    /// ηᵢ = xᵢᵀβ + b₀ + offsetᵢ for every row.
    fn linear_predictor(&self, theta: &[f64]) -> Vec<f64> {
        let p = self.problem.ncols();
        let b0 = if self.intercept { theta[p] } else { 0.0 };
        let mut eta = self.problem.x.times(b0, &theta[..p]);
        if let Some(offset) = self.problem.offset() {
            eta.iter_mut().zip(offset).for_each(|(e, o)| *e += o);
        }
        eta
    }

    /// out = Xᵀu (the intercept's entry Σ uᵢ last), over the stored entries.
    fn transpose_times(&self, u: &[f64], out: &mut [f64]) {
        let p = self.problem.ncols();
        out.fill(0.0);
        for (i, &ui) in u.iter().enumerate() {
            if ui != 0.0 {
                self.problem.x.for_row(i, |j, v| out[j] += v * ui);
            }
        }
        if self.intercept {
            out[p] = u.iter().sum();
        }
    }

    /// F(θ) alone.
    pub(crate) fn objective(&self, theta: &[f64]) -> f64 {
        let problem = self.problem;
        let eta = self.linear_predictor(theta);
        let loss: f64 = eta
            .iter()
            .enumerate()
            .map(|(i, &e)| problem.weights[i] * problem.family.fitted_loss(problem.y[i], e))
            .sum();
        loss / problem.weight_sum + self.terms.value(theta)
    }

    /// F, ∇L and the row weights at θ.
    pub(crate) fn pass(&self, theta: &[f64]) -> Pass {
        let problem = self.problem;
        let eta = self.linear_predictor(theta);
        let (mut loss, mut derivative) = (0.0, vec![0.0; eta.len()]);
        let mut weights = vec![0.0; eta.len()];
        for (i, &e) in eta.iter().enumerate() {
            let w = problem.weights[i];
            let moments = problem.family.estep(problem.y[i], e);
            loss += w * moments.loss;
            derivative[i] = w * moments.derivative / problem.weight_sum;
            weights[i] = w * match self.curvature {
                Curvature::Hessian => moments.curvature,
                Curvature::Em => moments.weight,
            };
        }
        let mut loss_gradient = vec![0.0; self.dim()];
        self.transpose_times(&derivative, &mut loss_gradient);
        Pass {
            objective: loss / problem.weight_sum + self.terms.value(theta),
            loss_gradient,
            weights,
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
            let forcing = (self.gradient_norm(&theta, &pass) / first_norm).sqrt().min(0.1);
            let (delta, cg) = self.conjugate_gradients(&pass.weights, &rhs, forcing);
            cg_total += cg;
            let slope: f64 = gradient.iter().zip(&delta).map(|(g, d)| g * d).sum();
            log::trace!(
                "matrix-free iteration {iterations}: F {:e}, KKT {kkt:e} (target {kkt_target:e}), {cg} CG, slope {slope:e}",
                pass.objective
            );
            let search = self.line_search(&theta, &delta, pass.objective, slope, ARMIJO);
            let Some((next, next_pass)) = search else {
                // The predicted decrease is below the objective's rounding, so F cannot judge
                // the step: take the step solved to full accuracy (a Newton step converges
                // quadratically; an EM step still majorizes) where F moves by no more than its
                // rounding, until the KKT violation stops reaching new lows.
                if slope >= 0.0 {
                    termination = Termination::Stalled;
                    break;
                }
                let (delta, cg) = self.conjugate_gradients(&pass.weights, &rhs, NOISE_FORCING);
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

/// The rounding of an objective value F: changes below it are noise (a sum of n terms in f64).
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
    }
}
