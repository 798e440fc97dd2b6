//! The M-step: one weighted least-squares solve, shared by every backend.
//!
//! In gradient form (docs/sm-em.md §2) the EM update from θ is
//!
//! ```text
//! θ⁺ = θ + δ,   (S + D) δ = r,   r = −(∇L + ridge ⊙ θ + lasso ⊙ sign θ)
//! ```
//!
//! with D = diag(ridgeⱼ + lassoⱼ / |θⱼ|) (for the bridge |θⱼ|^q: lassoⱼ q |θⱼ|^(q−2), with
//! ∂|θⱼ|^q in r). These weights blow up as θⱼ → 0, so the system is solved in rescaled form:
//! with sⱼ = 1/√dⱼ (√(|θⱼ| / lassoⱼ) for the lasso) on those coordinates (1 elsewhere) and
//! Σ = diag(s), δ = Σu where
//!
//! ```text
//! (Σ S Σ + diag(ridgeⱼ sⱼ²) + diag(1 on ℓ₁ coordinates)) u = Σ r,
//! ```
//!
//! a matrix that stays bounded and positive definite as θⱼ → 0. A coordinate at exactly zero has
//! sⱼ = 0 and does not move (zero is absorbing in EM). The system is factored by Cholesky in f64.
//!
//! Any positive-definite matrix in place of S + D leaves the fixed point unchanged (it depends on
//! r alone), and a larger one still majorizes F, so a singular S (an all-zero or duplicated
//! column with λ = 0) is handled by adding a small multiple of the diagonal and retrying.

use nalgebra::{Cholesky, DMatrix, DVector};

use crate::penalty::PenaltyTerms;

/// Relative diagonal loading tried first when the Cholesky factorization fails.
const FIRST_JITTER: f64 = 1e-12;
/// Largest relative loading tried before giving up.
const LAST_JITTER: f64 = 1e-2;

/// Reusable buffers for the M-step.
pub(crate) struct MStep {
    matrix: DMatrix<f64>,
    rhs: DVector<f64>,
    scale: DVector<f64>,
}

impl MStep {
    /// Buffers for `dim` coordinates; the d × d matrix is allocated at the first update (a run
    /// whose M-step works from the row weights never makes one).
    pub(crate) fn new(dim: usize) -> Self {
        Self { matrix: DMatrix::zeros(0, 0), rhs: DVector::zeros(dim), scale: DVector::zeros(dim) }
    }

    /// Computes the EM update θ⁺ from θ, given ∇L(θ) and S(θ), into `next`.
    ///
    /// Returns `false` when no diagonal loading up to [`LAST_JITTER`] made the system positive
    /// definite (only possible with non-finite statistics).
    pub(crate) fn update(
        &mut self,
        theta: &[f64],
        gradient: &DVector<f64>,
        gram: &DMatrix<f64>,
        penalty: &PenaltyTerms,
        next: &mut [f64],
    ) -> bool {
        let dim = theta.len();
        if self.matrix.nrows() != dim {
            self.matrix = DMatrix::zeros(dim, dim);
        }
        for j in 0..dim {
            let t = theta[j];
            self.scale[j] = penalty.power_scale(j, t);
            let r = -(gradient[j] + penalty.ridge[j] * t + penalty.power_gradient(j, t));
            self.rhs[j] = self.scale[j] * r;
        }
        let max_diag =
            (0..dim).map(|j| gram[(j, j)].abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let mut jitter = 0.0;
        let factor = loop {
            self.fill_matrix(gram, penalty, jitter, max_diag);
            let matrix = std::mem::replace(&mut self.matrix, DMatrix::zeros(0, 0));
            match Cholesky::new(matrix) {
                Some(chol) => break chol,
                None => {
                    self.matrix = DMatrix::zeros(dim, dim);
                    jitter = if jitter == 0.0 { FIRST_JITTER } else { jitter * 100.0 };
                    if jitter > LAST_JITTER {
                        return false;
                    }
                    log::debug!(
                        "M-step matrix not positive definite; loading its diagonal by {jitter:e}"
                    );
                }
            }
        };
        factor.solve_mut(&mut self.rhs);
        self.matrix = factor.unpack();
        for j in 0..dim {
            next[j] = theta[j] + self.scale[j] * self.rhs[j];
        }
        true
    }

    /// Σ S Σ + diag(ridge s²) + diag(1 on ℓ₁ coordinates), plus `jitter` times each diagonal
    /// entry (floored at `1e-12 · max_diag` so an all-zero column gets a pivot).
    fn fill_matrix(
        &mut self,
        gram: &DMatrix<f64>,
        penalty: &PenaltyTerms,
        jitter: f64,
        max_diag: f64,
    ) {
        let dim = gram.nrows();
        for k in 0..dim {
            for j in 0..dim {
                self.matrix[(j, k)] = self.scale[j] * gram[(j, k)] * self.scale[k];
            }
        }
        for j in 0..dim {
            let s2 = self.scale[j] * self.scale[j];
            let mut d = self.matrix[(j, j)] + penalty.ridge[j] * s2;
            if penalty.lasso[j] > 0.0 {
                d += 1.0;
            }
            if jitter > 0.0 {
                d += jitter * d.max(1e-12 * max_diag);
            }
            self.matrix[(j, j)] = d;
        }
    }
}
