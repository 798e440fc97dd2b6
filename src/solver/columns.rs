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
//! Each model minimization visits a working set (skglm's): the nonzero and unpenalized
//! coordinates and as many of the zero ones whose KKT conditions fail most (at least ten); the
//! outer KKT check over every coordinate brings in the rest as they fail. Sweeps run over the
//! working set, then over its nonzero coordinates until they settle, Anderson-extrapolated every
//! five sweeps where that lowers the model, to a tolerance that shrinks with the KKT violation
//! (as the k × k solver's). A dense design wider than tall is solved here too, on a column-major
//! copy of its active columns (glmnet's "naive" updates, O(n) per coordinate, over contiguous
//! columns); a row-major copy (a tall design's) keeps the k × k step. The Newton step is then
//! checked by a backtracking line search on F (Armijo with the proximal-Newton decrease
//! gᵀd + P(θ + d) − P(θ)), the EM step by F not rising. The fit ends on the f64 KKT
//! conditions, as every fit.

use std::time::Instant;

use super::conjugate::{ARMIJO, MatrixFree, NoiseGuard, Pass, f64_solution, uses_hessian};
use super::coordinate::soft_threshold;
use crate::data::Problem;
use crate::penalty::PenaltyTerms;
use crate::solver::{Solution, SolverOptions, Termination};

/// The most sweeps over all coordinates one model minimization may take.
const MAX_SWEEPS: usize = 500;
/// The inner tolerance: this fraction of the current KKT violation (looser than the k × k
/// solver's 1e-3: a sweep here costs the active columns' stored entries, and an inexact model
/// minimizer is still a descent step; 2.8 s against 3.3 s on a 20 000 × 50 000 fit). A forcing
/// sequence (the fraction shrinking as √(KKT / first KKT)) took fewer outer iterations but no
/// less time on the benchmarks, and solving a gaussian model to the target at once took more…
const INNER_FRACTION: f64 = 1e-1;
/// …floored at this fraction of the target.
const INNER_TARGET_FRACTION: f64 = 1e-2;

/// The design's columns as coordinate descent reads them.
enum Columns<'a> {
    /// Compressed (a sparse design): column j's rows `rows[ptr[j]..ptr[j + 1]]` and values.
    Sparse { ptr: Vec<usize>, rows: Vec<usize>, values: Vec<f64> },
    /// Dense, column-major (the copy of a wide dense design's active columns): column j is
    /// `values[j * n..(j + 1) * n]`, read in place. Its loops run over contiguous slices,
    /// without the row indices a compressed copy would gather by.
    Dense { values: &'a [f64], n: usize },
}

impl Columns<'_> {
    /// Σᵢ xᵢⱼ cᵢ zᵢ over column j.
    #[inline]
    fn weighted_dot(&self, j: usize, c: &[f64], z: &[f64]) -> f64 {
        match self {
            Columns::Sparse { ptr, rows, values } => (ptr[j]..ptr[j + 1])
                .map(|k| {
                    let i = rows[k];
                    values[k] * c[i] * z[i]
                })
                .sum(),
            Columns::Dense { values, n } => {
                let column = &values[j * n..(j + 1) * n];
                // Four partial sums: independent chains the compiler can vectorize.
                let mut partial = [0.0; 4];
                let (x4, c4, z4) = (column.chunks_exact(4), c.chunks_exact(4), z.chunks_exact(4));
                let tail: f64 = (x4.remainder().iter().zip(c4.remainder()))
                    .zip(z4.remainder())
                    .map(|((x, c), z)| x * c * z)
                    .sum();
                for ((x, c), z) in x4.zip(c4).zip(z4) {
                    for l in 0..4 {
                        partial[l] += x[l] * c[l] * z[l];
                    }
                }
                (partial[0] + partial[1]) + (partial[2] + partial[3]) + tail
            }
        }
    }

    /// z += δ · column j.
    #[inline]
    fn add_scaled(&self, j: usize, delta: f64, z: &mut [f64]) {
        match self {
            Columns::Sparse { ptr, rows, values } => {
                for k in ptr[j]..ptr[j + 1] {
                    z[rows[k]] += values[k] * delta;
                }
            }
            Columns::Dense { values, n } => {
                let column = &values[j * n..(j + 1) * n];
                z.iter_mut().zip(column).for_each(|(zi, x)| *zi += x * delta);
            }
        }
    }

    /// (Σᵢ cᵢ xᵢⱼ², Σᵢ cᵢ xᵢⱼ) over column j.
    fn square_and_sum(&self, j: usize, c: &[f64]) -> (f64, f64) {
        let (mut square, mut sum) = (0.0, 0.0);
        let mut add = |ci: f64, x: f64| {
            square += ci * x * x;
            sum += ci * x;
        };
        match self {
            Columns::Sparse { ptr, rows, values } => {
                (ptr[j]..ptr[j + 1]).for_each(|k| add(c[rows[k]], values[k]));
            }
            Columns::Dense { values, n } => {
                c.iter().zip(&values[j * n..(j + 1) * n]).for_each(|(&ci, &x)| add(ci, x));
            }
        }
        (square, sum)
    }
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
    columns: Columns<'a>,
}

impl<'a, 'p> ColumnDescent<'a, 'p> {
    /// Whether a sparse design of `family` with penalty `terms` is solved here (the exponent
    /// is 1 and the loss has a smooth quadratic model).
    pub(crate) fn supports(family: crate::family::Family, terms: &PenaltyTerms) -> bool {
        terms.exponent == 1.0 && uses_hessian(family).is_some()
    }

    /// Whether the active-set solves of `problem` with penalty `terms` run here, on a copy of
    /// the active columns (CSR, or column-major for a dense design): a sparse design, or a dense one wider than tall (p > n, glmnet's
    /// "naive" regime) whose k × k step would form a Gram of rank at most n at n·k² per
    /// iteration where a sweep here costs n·k; for what [`ColumnDescent::supports`].
    pub(crate) fn runs(problem: &Problem<'_>, terms: &PenaltyTerms) -> bool {
        (problem.x.is_sparse() || problem.ncols() > problem.nrows())
            && Self::supports(problem.family, terms)
    }

    /// The solver for `problem` (a CSR design, or the column-major copy of a wide dense
    /// design's active columns) with penalty `terms` (exponent 1), or `None` for a row-major
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
        let (n, p) = (problem.nrows(), problem.ncols());
        let columns = match (problem.x.csr_arrays(), problem.x.column_major_values()) {
            (Some(compressed), _) => {
                let arrays = compressed.transposed(n, p);
                Columns::Sparse { ptr: arrays.indptr, rows: arrays.indices, values: arrays.values }
            }
            // The column-major copy of a wide dense design's active columns, read in place.
            (None, Some(values)) => Columns::Dense { values, n },
            // A row-major dense copy is the k × k step's (a tall design): not solved here.
            (None, None) => return None,
        };
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
            let working = self.working_set(&theta, &pass.loss_gradient);
            let (next, sweeps) = self.minimize_model(&theta, &pass, tolerance, &working);
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
        let kkt_violation = self.terms.kkt_violation(&theta, &pass.loss_gradient);
        log::debug!(
            "column descent: {iterations} iterations, {sweeps_total} sweeps, {termination:?} \
             (KKT {kkt_violation:e}, target {kkt_target:e})"
        );
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

    /// The coordinates one model minimization visits (skglm's working set): every nonzero or
    /// unpenalized one, and the zero ones whose KKT conditions fail most — as many as there are
    /// of the former, at least [`WORKING_SET_MIN`]. The others stay at zero for this step; the
    /// KKT check over every coordinate after it brings in those that then fail, so a step
    /// costs the stored entries of a few times the support's columns, not of every column.
    fn working_set(&self, theta: &[f64], gradient: &[f64]) -> Vec<usize> {
        let mut working = Vec::new();
        let mut violators: Vec<(f64, usize)> = Vec::new();
        for (j, (&t, &g)) in theta.iter().zip(gradient).enumerate() {
            if t != 0.0 || self.terms.lasso[j] == 0.0 {
                working.push(j);
            } else {
                let violation = g.abs() - self.terms.lasso[j];
                if violation > 0.0 {
                    violators.push((violation, j));
                }
            }
        }
        let room = working.len().max(WORKING_SET_MIN);
        if violators.len() > room {
            violators.select_nth_unstable_by(room - 1, |a, b| b.0.total_cmp(&a.0));
            violators.truncate(room);
        }
        working.extend(violators.iter().map(|v| v.1));
        working.sort_unstable();
        working
    }

    /// The model's minimizer from θₖ = `theta` by coordinate descent on the columns of
    /// `working` (the others held at θₖ), and the sweeps it took.
    fn minimize_model(
        &self,
        theta: &[f64],
        pass: &Pass,
        tolerance: f64,
        working: &[usize],
    ) -> (Vec<f64>, usize) {
        let (n, p) = (self.problem.nrows(), self.problem.ncols());
        let dim = theta.len();
        let inv_w = 1.0 / self.problem.weight_sum;
        let c = &pass.weights;
        let columns = &self.columns;
        // Aⱼⱼ = Σᵢ cᵢ xᵢⱼ² / W and Σᵢ cᵢ xᵢⱼ per column (the intercept's Σᵢ cᵢ).
        let mut diagonal = vec![0.0; dim];
        let mut weighted_sums = vec![0.0; p];
        for j in 0..p {
            let (square, sum) = columns.square_and_sum(j, c);
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
        let mut state = Residual { z: vec![0.0; n], shift: 0.0, weighted_z: 0.0 };
        let sweep = |coordinates: &mut dyn Iterator<Item = usize>,
                     next: &mut [f64],
                     state: &mut Residual| {
            let mut moved = false;
            for j in coordinates {
                let a = diagonal[j];
                let denominator = a + self.terms.ridge[j];
                if denominator <= 0.0 || !denominator.is_finite() {
                    continue;
                }
                // The model's smooth gradient at coordinate j: gⱼ + (XᵀC(z + shift))ⱼ / W.
                let curvature_term = if j < p {
                    columns.weighted_dot(j, c, &state.z) + state.shift * weighted_sums[j]
                } else {
                    state.weighted_z + state.shift * weight_total
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
                    columns.add_scaled(j, delta, &mut state.z);
                    state.weighted_z += weighted_sums[j] * delta;
                } else {
                    state.shift += delta;
                }
                if denominator * delta.abs() > tolerance {
                    moved = true;
                }
            }
            moved
        };
        // The model's value at `next` (up to a constant): gᵀ(θ − θₖ) + ½ Σᵢ cᵢ(zᵢ + shift)²/W
        // plus the penalty, O(n + d): what an extrapolated point must lower to be taken.
        let model = |next: &[f64], state: &Residual| {
            let linear: f64 = pass
                .loss_gradient
                .iter()
                .zip(next.iter().zip(theta))
                .map(|(g, (a, b))| g * (a - b))
                .sum();
            let quadratic: f64 =
                c.iter().zip(&state.z).map(|(ci, zi)| ci * (zi + state.shift).powi(2)).sum();
            linear + 0.5 * quadratic * inv_w + self.terms.value(next)
        };
        let mut sweeps = 0;
        while sweeps < MAX_SWEEPS {
            sweeps += 1;
            if !sweep(&mut working.iter().copied(), &mut next, &mut state) {
                break;
            }
            let active: Vec<usize> = working
                .iter()
                .copied()
                .filter(|&j| next[j] != 0.0 || self.terms.lasso[j] == 0.0)
                .collect();
            let mut anderson = Anderson::new();
            while sweeps < MAX_SWEEPS {
                sweeps += 1;
                if !sweep(&mut active.iter().copied(), &mut next, &mut state) {
                    break;
                }
                anderson.push(&active, &next, &state);
                if let Some((values, extrapolated)) = anderson.extrapolate() {
                    let mut candidate = next.clone();
                    for (&j, &v) in active.iter().zip(&values) {
                        candidate[j] = v;
                    }
                    if model(&candidate, &extrapolated) < model(&next, &state) {
                        next = candidate;
                        state = extrapolated;
                    }
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

/// The model's residual z = X(θ − θₖ) of a model minimization: the columns' share, the
/// intercept's (one shift for every row), and Σᵢ cᵢzᵢ.
#[derive(Clone)]
struct Residual {
    z: Vec<f64>,
    shift: f64,
    weighted_z: f64,
}

/// The fewest zero coordinates a working set admits (see `ColumnDescent::working_set`).
const WORKING_SET_MIN: usize = 10;

/// Sweeps between two Anderson extrapolations.
const ANDERSON_DEPTH: usize = 5;

/// Anderson acceleration of coordinate descent (Bertrand & Massias, 2021; skglm's inner solver):
/// every [`ANDERSON_DEPTH`] sweeps over the active coordinates, the affine combination of the
/// last iterates whose successive differences combine to the least norm. The residual is linear
/// in θ, so the same combination of the iterates' residuals is the extrapolated point's. The
/// caller takes the point only where it lowers the model, so descent is kept.
struct Anderson {
    /// The active coordinates' values after each sweep since the last extrapolation, with their
    /// residuals.
    iterates: Vec<Iterate>,
}

/// The active coordinates' values after a sweep, and the residual there.
type Iterate = (Vec<f64>, Residual);

impl Anderson {
    fn new() -> Self {
        Self { iterates: Vec::with_capacity(ANDERSON_DEPTH + 1) }
    }

    /// Records the iterate after a sweep.
    fn push(&mut self, active: &[usize], next: &[f64], state: &Residual) {
        let values = active.iter().map(|&j| next[j]).collect();
        self.iterates.push((values, state.clone()));
    }

    /// The extrapolated iterate once [`ANDERSON_DEPTH`] + 1 are recorded (and the record
    /// restarted), `None` before or where the differences are degenerate.
    fn extrapolate(&mut self) -> Option<(Vec<f64>, Residual)> {
        if self.iterates.len() <= ANDERSON_DEPTH {
            return None;
        }
        let iterates = std::mem::take(&mut self.iterates);
        let m = ANDERSON_DEPTH;
        // Differences of successive iterates, over the coordinates.
        let differences: Vec<Vec<f64>> = (0..m)
            .map(|k| iterates[k + 1].0.iter().zip(&iterates[k].0).map(|(a, b)| a - b).collect())
            .collect();
        let gram = nalgebra::DMatrix::from_fn(m, m, |a, b| {
            differences[a].iter().zip(&differences[b]).map(|(u, v)| u * v).sum::<f64>()
        });
        let scale = gram.diagonal().amax();
        if !(scale > 0.0 && scale.is_finite()) {
            return None;
        }
        // (UᵀU + δI) w = 1, then the weights normalized to sum to one.
        let regularized = &gram + nalgebra::DMatrix::identity(m, m) * (1e-10 * scale);
        let solution = regularized.cholesky()?.solve(&nalgebra::DVector::from_element(m, 1.0));
        let total = solution.sum();
        if !(total.abs() > 0.0 && total.is_finite()) {
            return None;
        }
        let weights: Vec<f64> = solution.iter().map(|w| w / total).collect();
        // Σₖ wₖ x_{k+1} over the later iterates, and the same for the residuals.
        let combine = |pick: &dyn Fn(&Iterate) -> &[f64]| -> Vec<f64> {
            let mut out = vec![0.0; pick(&iterates[1]).len()];
            for (w, iterate) in weights.iter().zip(&iterates[1..]) {
                out.iter_mut().zip(pick(iterate)).for_each(|(o, v)| *o += w * v);
            }
            out
        };
        let values = combine(&|it| &it.0);
        let z = combine(&|it| &it.1.z);
        let shift = weights.iter().zip(&iterates[1..]).map(|(w, it)| w * it.1.shift).sum();
        let weighted_z =
            weights.iter().zip(&iterates[1..]).map(|(w, it)| w * it.1.weighted_z).sum();
        Some((values, Residual { z, shift, weighted_z }))
    }
}
