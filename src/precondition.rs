//! Internal preconditioning of a fit whose design is badly scaled, the objective unchanged
//! (docs/sm-em.md §8).
//!
//! With an intercept, each column is centered and scaled, x̃ⱼ = (xⱼ − μⱼ)/sⱼ (weighted mean and
//! standard deviation); without one, only scaled (sⱼ its weighted root mean square). This is an
//! exact reparametrization, β̃ⱼ = sⱼβⱼ and b̃₀ = b₀ + Σⱼ μⱼβⱼ, with the penalty carried along per
//! coordinate (ridgeⱼ/sⱼ², lassoⱼ/sⱼ^q), so the minimized objective is exactly the user's, and
//! the coefficients are mapped back at the end. It is done in f64 on the host, before any
//! conversion to f32: a column 1e6 + N(0, 1) keeps only one significant digit of its variation
//! in f32, and its uncentered Gram entry (1e12 next to an O(1) Schur complement) leaves EM
//! crawling even in f64.
//!
//! It applies only to designs that need it (a column whose offset exceeds its spread
//! [`OFFSET_RATIO`]-fold, or whose spread lies outside [`SCALE_RANGE`]): a well-scaled design is
//! fitted as given, bit for bit, and costs no copy of X.

use crate::data::{Design, Problem, ScaledCopy};

/// A column is recentred when |μⱼ| exceeds this many times its standard deviation.
const OFFSET_RATIO: f64 = 10.0;
/// A column is rescaled when its spread lies outside this range.
const SCALE_RANGE: (f64, f64) = (1e-3, 1e3);

/// The centering and scaling of one problem's columns.
pub(crate) struct Preconditioner {
    /// μⱼ (0 without an intercept).
    mean: Vec<f64>,
    /// sⱼ (1 for a constant or all-zero column).
    scale: Vec<f64>,
    intercept: bool,
}

impl Preconditioner {
    /// The weighted means and standard deviations of `problem`'s columns (with `intercept`), or
    /// their root mean squares (without); `None` when the design is well scaled as it is.
    pub(crate) fn for_problem(problem: &Problem<'_>, intercept: bool) -> Option<Self> {
        Self::standardizing(problem, intercept).if_needed()
    }

    /// `self` where the design needs it (see the module docs), else `None`.
    pub(crate) fn if_needed(self) -> Option<Self> {
        let needed =
            self.mean.iter().zip(&self.scale).any(|(&m, &s)| {
                m.abs() > OFFSET_RATIO * s || s < SCALE_RANGE.0 || s > SCALE_RANGE.1
            });
        needed.then_some(self)
    }

    /// The standardization of `problem`'s columns whatever their scales (glmnet's
    /// `standardize`, [`crate::Glm::standardize`]): centered with an intercept, scaled to unit
    /// weighted standard deviation (root mean square without one).
    pub(crate) fn standardizing(problem: &Problem<'_>, intercept: bool) -> Self {
        let (n, p) = (problem.nrows(), problem.ncols());
        let total: f64 = problem.weights.iter().sum();
        let mut mean = vec![0.0; p];
        if intercept {
            for i in 0..n {
                let w = problem.weights[i];
                problem.x.for_row(i, |j, v| mean[j] += w * v);
            }
            mean.iter_mut().for_each(|m| *m /= total);
        }
        // Σᵢ wᵢ (xᵢⱼ − μⱼ)² over the entries a row stores, plus μⱼ² for the weight of the rows
        // where column j is an unstored zero (none for a dense design).
        let mut square = vec![0.0; p];
        let mut stored_weight = vec![0.0; p];
        for i in 0..n {
            let w = problem.weights[i];
            problem.x.for_row(i, |j, v| {
                let d = v - mean[j];
                square[j] += w * d * d;
                stored_weight[j] += w;
            });
        }
        for j in 0..p {
            square[j] += mean[j] * mean[j] * (total - stored_weight[j]).max(0.0);
        }
        if problem.x.is_sparse() {
            // Centering would store every zero. With an intercept it is not needed for the
            // same optimum (b₀ absorbs Σ μⱼβⱼ, the penalty sees only sⱼβⱼ), so a sparse column
            // is scaled by its standard deviation and left uncentered.
            mean.fill(0.0);
        }
        Self::from_sums(mean, &square, total, intercept)
    }

    /// The standardization from column statistics gathered elsewhere (a streamed first pass):
    /// per column the weighted mean, Σ wᵢ (xᵢⱼ − mean)² and Σ wᵢ. With `sparse` columns the
    /// scale is the same and μ is 0, as in memory ([`Preconditioner::standardizing`]).
    pub(crate) fn from_moments(
        mean: &[f64],
        centered_squares: &[f64],
        total: f64,
        intercept: bool,
        sparse: bool,
    ) -> Self {
        if intercept {
            let mut pre = Self::from_sums(mean.to_vec(), centered_squares, total, true);
            if sparse {
                pre.mean.fill(0.0);
            }
            return pre;
        }
        // Without an intercept the scale is the root mean square about zero.
        let square: Vec<f64> =
            mean.iter().zip(centered_squares).map(|(m, c)| c + total * m * m).collect();
        Self::from_sums(vec![0.0; mean.len()], &square, total, false)
    }

    /// μ as given, sⱼ = √(squareⱼ / total) (1 for a constant or all-zero column).
    fn from_sums(mean: Vec<f64>, square: &[f64], total: f64, intercept: bool) -> Self {
        let scale: Vec<f64> = square
            .iter()
            .map(|s| {
                let s = (s / total).sqrt();
                if s > 0.0 && s.is_finite() { s } else { 1.0 }
            })
            .collect();
        Self { mean, scale, intercept }
    }

    /// X̃ = (X − μ)/s in place, for a column-major block of `rows` rows (a streamed block).
    pub(crate) fn apply_column_major(&self, x: &mut [f64], rows: usize) {
        if rows == 0 {
            return;
        }
        for (column, (&m, &s)) in x.chunks_exact_mut(rows).zip(self.mean.iter().zip(&self.scale)) {
            column.iter_mut().for_each(|v| *v = (*v - m) / s);
        }
    }

    /// X̃ = X/s in place for the stored values of sparse rows (`indices` their columns): a
    /// sparse design's preconditioner never centres (μ = 0, see [`Preconditioner::from_moments`]).
    pub(crate) fn apply_sparse(&self, indices: &[usize], values: &mut [f64]) {
        debug_assert!(self.mean.iter().all(|&m| m == 0.0), "sparse columns are not centred");
        for (v, &j) in values.iter_mut().zip(indices) {
            *v /= self.scale[j];
        }
    }

    /// μⱼ per feature (0 without an intercept).
    pub(crate) fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// sⱼ per feature.
    pub(crate) fn scale(&self) -> &[f64] {
        &self.scale
    }

    /// X̃ = (X − μ)/s: row-major for a dense design, CSR for a sparse one (μ = 0 there).
    pub(crate) fn design(&self, x: Design<'_>) -> ScaledCopy {
        let factor: Vec<f64> = self.scale.iter().map(|s| 1.0 / s).collect();
        x.scaled_copy(&self.mean, &factor)
    }

    /// θ̃ from the user's θ: β̃ⱼ = sⱼβⱼ, b̃₀ = b₀ + Σ μⱼβⱼ.
    pub(crate) fn to_internal(&self, theta: &[f64]) -> Vec<f64> {
        let p = self.scale.len();
        let mut out: Vec<f64> = (0..p).map(|j| theta[j] * self.scale[j]).collect();
        if self.intercept {
            out.push(theta[p] + (0..p).map(|j| self.mean[j] * theta[j]).sum::<f64>());
        }
        out
    }

    /// The user's θ from θ̃: βⱼ = β̃ⱼ/sⱼ (exact zeros stay exact), b₀ = b̃₀ − Σ μⱼβⱼ.
    pub(crate) fn to_user(&self, theta: &[f64]) -> Vec<f64> {
        let p = self.scale.len();
        let beta: Vec<f64> = (0..p).map(|j| theta[j] / self.scale[j]).collect();
        let mut out = beta.clone();
        if self.intercept {
            out.push(theta[p] - (0..p).map(|j| self.mean[j] * beta[j]).sum::<f64>());
        }
        out
    }
}
