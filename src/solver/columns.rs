//! The exact ℓ₁ M-step on a sparse design's columns (glmnet's scheme): proximal Newton, or
//! proximal EM for Student-t, whose quadratic model is minimized by coordinate descent on X's
//! stored columns instead of a k × k matrix (docs/sm-em.md §9).
//!
//! The model at θₖ is the one of `coordinate.rs`,
//!
//! ```text
//! Q(θ) = gᵀ(θ − θₖ) + ½ (θ − θₖ)ᵀ (XᵀCX/W) (θ − θₖ) + Σⱼ [ridgeⱼ/2 θⱼ² + lassoⱼ |θⱼ|],
//! ```
//!
//! with cᵢ = wᵢ ℓ''ᵢ (Newton) or wᵢ ω̂ᵢ (EM). Coordinate descent keeps z = X(θ − θₖ) up to date,
//! so coordinate j's gradient is gⱼ + Σᵢ xᵢⱼ cᵢ zᵢ / W and its update costs O(nnzⱼ), the stored
//! entries of column j: a sweep costs the stored entries of the columns it visits, where the
//! k × k model costs k² and its matrix Σᵢ nnzᵢ² to form. For text-like data (a few dozen
//! entries a row, thousands of active columns) that is the difference between seconds and tens
//! of milliseconds.
//!
//! Sweeps run over all coordinates, then over the nonzero ones until they settle, to a
//! tolerance that shrinks with the KKT violation (as the k × k solver's); the Newton step is
//! then checked by a backtracking line search on F (Armijo with the proximal-Newton decrease
//! gᵀd + P(θ + d) − P(θ)), the EM step by F not rising. The fit ends on the f64 KKT
//! conditions, as every fit.

use std::time::Instant;

use super::conjugate::{ARMIJO, MatrixFree, NoiseGuard, Pass, f64_solution, uses_hessian};
use super::coordinate::soft_threshold;
use crate::data::{Compressed, Problem};
use crate::penalty::PenaltyTerms;
use crate::solver::{Solution, SolverOptions, Termination};

/// The most sweeps over all coordinates one model minimization may take.
const MAX_SWEEPS: usize = 500;
/// The inner tolerance: this fraction of the current KKT violation (looser than the k × k
/// solver's 1e-3: a sweep here costs the active columns' stored entries, and an inexact model
/// minimizer is still a descent step; 2.8 s against 3.3 s on a 20 000 × 50 000 fit)…
const INNER_FRACTION: f64 = 1e-1;
/// …floored at this fraction of the target.
const INNER_TARGET_FRACTION: f64 = 1e-2;

/// A sparse design's columns: for column j, rows `rows[ptr[j]..ptr[j + 1]]` and their values.
struct Columns {
    ptr: Vec<usize>,
    rows: Vec<usize>,
    values: Vec<f64>,
}

/// One ℓ₁ (or elastic-net) problem on a sparse design, solved by coordinate descent on its
/// columns.
pub(crate) struct ColumnDescent<'a, 'p> {
    rows: MatrixFree<'a, 'p>,
    problem: &'a Problem<'p>,
    intercept: bool,
    terms: &'a PenaltyTerms,
    options: SolverOptions,
    hessian: bool,
    columns: Columns,
}

impl<'a, 'p> ColumnDescent<'a, 'p> {
    /// Whether a sparse design of `family` with penalty `terms` is solved here (the exponent
    /// is 1 and the loss has a smooth quadratic model).
    pub(crate) fn supports(family: crate::family::Family, terms: &PenaltyTerms) -> bool {
        terms.exponent == 1.0 && uses_hessian(family).is_some()
    }

    /// Whether the active-set solves of `problem` with penalty `terms` run here, on a CSR copy
    /// of the active columns: a sparse design, or a dense one wider than tall (p > n, glmnet's
    /// "naive" regime) whose k × k step would form a Gram of rank at most n at n·k² per
    /// iteration where a sweep here costs n·k; for what [`ColumnDescent::supports`].
    pub(crate) fn runs(problem: &Problem<'_>, terms: &PenaltyTerms) -> bool {
        (problem.x.is_sparse() || problem.ncols() > problem.nrows())
            && Self::supports(problem.family, terms)
    }

    /// The solver for `problem` (a CSR design) with penalty `terms` (exponent 1), or `None` for a
    /// dense design, a bridge penalty or a family without a smooth quadratic model (hinge and
    /// quantile keep the k × k solver and its f64 finish).
    pub(crate) fn new(
        problem: &'a Problem<'p>,
        intercept: bool,
        terms: &'a PenaltyTerms,
        options: SolverOptions,
    ) -> Option<Self> {
        if !Self::supports(problem.family, terms) {
            return None;
        }
        let hessian = uses_hessian(problem.family)?;
        let compressed: Compressed<'_> = problem.x.csr_arrays()?;
        let arrays = compressed.transposed(problem.nrows(), problem.ncols());
        let columns = Columns { ptr: arrays.indptr, rows: arrays.indices, values: arrays.values };
        let rows = MatrixFree::new(problem, intercept, terms, options)?;
        Some(Self { rows, problem, intercept, terms, options, hessian, columns })
    }

    /// Solves from `theta0`.
    pub(crate) fn solve(&self, theta0: Vec<f64>) -> Solution {
        let start = Instant::now();
        let mut theta = theta0;
        let mut pass = self.rows.pass(&theta);
        let kkt_scale = pass.loss_gradient.iter().fold(1.0_f64, |a, g| a.max(g.abs()));
        let kkt_target = self.options.kkt_tol * kkt_scale;
        let mut trace = vec![pass.objective];
        let mut trace_marks = vec![(0, start)];
        let (mut iterations, mut sweeps_total) = (0, 0);
        let mut guard = NoiseGuard::new();
        let mut termination = Termination::MaxIterations;
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
            let tolerance = (INNER_FRACTION * kkt).max(INNER_TARGET_FRACTION * kkt_target);
            let (next, sweeps) = self.minimize_model(&theta, &pass, tolerance);
            sweeps_total += sweeps;
            let direction: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
            let decrease = self.predicted_decrease(&theta, &next, &direction, &pass);
            // Newton's step must decrease F sufficiently (Armijo); the EM model majorizes F, so
            // its full step is taken wherever F does not rise.
            let sufficient = if self.hessian { ARMIJO } else { 0.0 };
            match self.rows.line_search(&theta, &direction, pass.objective, decrease, sufficient) {
                Some(accepted) => (theta, pass) = accepted,
                None => {
                    // F cannot resolve the step: take it where F moves by no more than its
                    // rounding, until the KKT violation stops reaching new lows.
                    let candidate_pass = self.rows.pass(&next);
                    let after = self.terms.kkt_violation(&next, &candidate_pass.loss_gradient);
                    if !guard.accepts(after, pass.objective, candidate_pass.objective) {
                        termination = Termination::Stalled;
                        break;
                    }
                    theta = next;
                    pass = candidate_pass;
                }
            }
            trace.push(pass.objective);
            trace_marks.push((iterations, Instant::now()));
        }
        log::debug!("column descent: {iterations} iterations, {sweeps_total} sweeps");
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

    /// The model's minimizer from θₖ = `theta` by coordinate descent on the columns, and the
    /// sweeps it took.
    fn minimize_model(&self, theta: &[f64], pass: &Pass, tolerance: f64) -> (Vec<f64>, usize) {
        let (n, p) = (self.problem.nrows(), self.problem.ncols());
        let dim = theta.len();
        let inv_w = 1.0 / self.problem.weight_sum;
        let c = &pass.weights;
        let columns = &self.columns;
        // Aⱼⱼ = Σᵢ cᵢ xᵢⱼ² / W and Σᵢ cᵢ xᵢⱼ per column (the intercept's Σᵢ cᵢ).
        let mut diagonal = vec![0.0; dim];
        let mut weighted_sums = vec![0.0; p];
        for j in 0..p {
            let (mut square, mut sum) = (0.0, 0.0);
            for k in columns.ptr[j]..columns.ptr[j + 1] {
                let cx = c[columns.rows[k]] * columns.values[k];
                square += cx * columns.values[k];
                sum += cx;
            }
            diagonal[j] = square * inv_w;
            weighted_sums[j] = sum;
        }
        let weight_total: f64 = c.iter().sum();
        if self.intercept {
            diagonal[p] = weight_total * inv_w;
        }
        let mut next = theta.to_vec();
        // z = X(θ − θₖ) kept as `z` (the columns' moves) plus `shift` (the intercept's, the
        // same in every row), with Σᵢ cᵢzᵢ alongside: an intercept visit costs O(1), not O(n).
        let mut z = vec![0.0; n];
        let (mut shift, mut weighted_z) = (0.0, 0.0);
        let mut sweep = |coordinates: &mut dyn Iterator<Item = usize>, next: &mut [f64]| {
            let mut moved = false;
            for j in coordinates {
                let a = diagonal[j];
                let denominator = a + self.terms.ridge[j];
                if denominator <= 0.0 || !denominator.is_finite() {
                    continue;
                }
                // The model's smooth gradient at coordinate j: gⱼ + (XᵀC(z + shift))ⱼ / W.
                let curvature_term = if j < p {
                    let range = columns.ptr[j]..columns.ptr[j + 1];
                    let stored: f64 = range
                        .map(|k| {
                            let i = columns.rows[k];
                            columns.values[k] * c[i] * z[i]
                        })
                        .sum();
                    stored + shift * weighted_sums[j]
                } else {
                    weighted_z + shift * weight_total
                };
                let gradient = pass.loss_gradient[j] + curvature_term * inv_w;
                let old = next[j];
                let new = soft_threshold(a * old - gradient, self.terms.lasso[j]) / denominator;
                let delta = new - old;
                if delta == 0.0 {
                    continue;
                }
                next[j] = new;
                if j < p {
                    for k in columns.ptr[j]..columns.ptr[j + 1] {
                        z[columns.rows[k]] += columns.values[k] * delta;
                    }
                    weighted_z += weighted_sums[j] * delta;
                } else {
                    shift += delta;
                }
                if denominator * delta.abs() > tolerance {
                    moved = true;
                }
            }
            moved
        };
        let mut sweeps = 0;
        while sweeps < MAX_SWEEPS {
            sweeps += 1;
            if !sweep(&mut (0..dim), &mut next) {
                break;
            }
            let active: Vec<usize> =
                (0..dim).filter(|&j| next[j] != 0.0 || self.terms.lasso[j] == 0.0).collect();
            while sweeps < MAX_SWEEPS {
                sweeps += 1;
                if !sweep(&mut active.iter().copied(), &mut next) {
                    break;
                }
            }
        }
        (next, sweeps)
    }

    /// The proximal-Newton decrease gᵀd + P(θ + d) − P(θ) (negative for a descent step).
    fn predicted_decrease(
        &self,
        theta: &[f64],
        next: &[f64],
        direction: &[f64],
        pass: &Pass,
    ) -> f64 {
        let linear: f64 = pass.loss_gradient.iter().zip(direction).map(|(g, d)| g * d).sum();
        linear + self.terms.value(next) - self.terms.value(theta)
    }
}
