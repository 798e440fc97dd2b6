//! The exact ℓ₁ M-step's inner solver (docs/sm-em.md §7): cyclic coordinate descent on the
//! p × p quadratic model
//!
//! ```text
//! Q(θ) = gᵀ(θ − θₖ) + ½ (θ − θₖ)ᵀ A (θ − θₖ) + Σⱼ [ridgeⱼ/2 θⱼ² + lassoⱼ |θⱼ|]
//! ```
//!
//! with A the curvature the E-step returned (the EM matrix S or the Hessian H). The residual
//! r = g + A(θ − θₖ), the gradient of Q's smooth part, is kept up to date, so a coordinate update
//! costs one column of A and a sweep O(d · |active|) with no pass over the data:
//!
//! ```text
//! u = Aⱼⱼ θⱼ − rⱼ,   θⱼ⁺ = soft(u, lassoⱼ) / (Aⱼⱼ + ridgeⱼ),   r ← r + A₍:,ⱼ₎ (θⱼ⁺ − θⱼ).
//! ```
//!
//! Sweeps cycle over the nonzero (and unpenalized) coordinates until they settle, then one sweep
//! over all coordinates checks whether a zero must enter; it ends when a whole sweep moves no
//! coordinate's gradient by more than the tolerance, Aⱼⱼ |Δθⱼ| ≤ τ (glmnet's scheme). Where
//! the sweeps run out of budget on an ill-conditioned A, a direct solve on the nonzero
//! coordinates with their signs fixed finishes the job when it keeps the signs and the zeros'
//! KKT conditions.

use nalgebra::{DMatrix, DVector};

use crate::penalty::PenaltyTerms;

/// The most coordinate updates of one solve, in sweeps over all coordinates: beyond it the solve
/// ends at its current point, which still lowers Q (each update does). A badly conditioned A
/// (hinge and quantile EM weights near the kinks) makes coordinate descent crawl; the outer
/// iteration, with a fresh A, does better than more sweeps on a stale one.
const MAX_WORK: usize = 500;

/// Reusable buffers of the inner solve.
pub(crate) struct CoordinateDescent {
    residual: Vec<f64>,
    active: Vec<usize>,
}

/// What one inner solve did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sweeps {
    /// Coordinate updates done, in units of d (one full sweep = 1).
    pub work: usize,
    /// Whether the last full sweep met the tolerance.
    pub settled: bool,
}

impl CoordinateDescent {
    /// Buffers for `dim` coordinates.
    pub(crate) fn new(dim: usize) -> Self {
        Self { residual: vec![0.0; dim], active: Vec::with_capacity(dim) }
    }

    /// Minimizes Q (with curvature `a`, gradient `g` at `base`, penalty `penalty` with exponent 1)
    /// over θ by coordinate descent from the θ in `theta` (usually `base` itself, or a previous
    /// solution), until no coordinate moves its gradient by more than `tolerance`.
    ///
    /// A coordinate with Aⱼⱼ + ridgeⱼ ≤ 0 (an all-zero, unpenalized column) is left where it is.
    pub(crate) fn minimize(
        &mut self,
        a: &DMatrix<f64>,
        g: &DVector<f64>,
        base: &[f64],
        penalty: &PenaltyTerms,
        theta: &mut [f64],
        tolerance: f64,
    ) -> Sweeps {
        let dim = theta.len();
        debug_assert_eq!(penalty.exponent, 1.0, "coordinate descent solves the ℓ₁ model only");
        // r = g + A (θ − θₖ), from the nonzero differences only.
        self.residual.copy_from_slice(g.as_slice());
        for j in 0..dim {
            let d = theta[j] - base[j];
            if d != 0.0 {
                for (r, &ajk) in self.residual.iter_mut().zip(a.column(j).iter()) {
                    *r += ajk * d;
                }
            }
        }
        let budget = MAX_WORK * dim;
        let mut work_units = 0usize; // coordinate updates
        let mut settled = false;
        while work_units < budget {
            let moved = self.sweep(a, penalty, theta, 0..dim, tolerance);
            work_units += dim;
            if !moved {
                settled = true;
                break;
            }
            self.active.clear();
            self.active.extend((0..dim).filter(|&j| theta[j] != 0.0 || penalty.lasso[j] == 0.0));
            let active = std::mem::take(&mut self.active);
            while work_units < budget {
                work_units += active.len().max(1);
                if !self.sweep(a, penalty, theta, active.iter().copied(), tolerance) {
                    break;
                }
            }
            self.active = active;
        }
        if !settled {
            settled = self.active_set_solve(a, penalty, theta, tolerance);
        }
        Sweeps { work: work_units.div_ceil(dim.max(1)), settled }
    }

    /// Where the sweeps ran out of budget (an ill-conditioned A, on which coordinate descent
    /// crawls once the signs have settled), one direct solve on the nonzero coordinates: with
    /// their signs fixed, Q is a quadratic there, minimized by one Cholesky solve of
    /// (A + diag ridge) restricted to them. The result is kept only if no sign flips and every
    /// zero still satisfies its KKT condition, so it is then Q's exact minimizer. Returns
    /// whether it was kept.
    fn active_set_solve(
        &mut self,
        a: &DMatrix<f64>,
        penalty: &PenaltyTerms,
        theta: &mut [f64],
        tolerance: f64,
    ) -> bool {
        let dim = theta.len();
        let set: Vec<usize> = (0..dim)
            .filter(|&j| theta[j] != 0.0 || (penalty.lasso[j] == 0.0 && a[(j, j)] > 0.0))
            .collect();
        if set.is_empty() {
            return false;
        }
        let k = set.len();
        let block = DMatrix::from_fn(k, k, |r, c| {
            a[(set[r], set[c])] + if r == c { penalty.ridge[set[r]] } else { 0.0 }
        });
        // −∇ of Q's smooth part plus the penalty's at θ, on the set.
        let rhs = DVector::from_fn(k, |r, _| {
            let j = set[r];
            -(self.residual[j] + penalty.ridge[j] * theta[j] + penalty.lasso[j] * theta[j].signum())
        });
        let Some(cholesky) = block.cholesky() else { return false };
        let step = cholesky.solve(&rhs);
        let keeps_signs = set.iter().zip(step.iter()).all(|(&j, &d)| {
            penalty.lasso[j] == 0.0 || (theta[j] + d).signum() == theta[j].signum()
        });
        if !keeps_signs || step.iter().any(|d| !d.is_finite()) {
            return false;
        }
        let mut residual = self.residual.clone();
        for (&j, &d) in set.iter().zip(step.iter()) {
            for (r, &akj) in residual.iter_mut().zip(a.column(j).iter()) {
                *r += akj * d;
            }
        }
        let zeros_hold = (0..dim)
            .filter(|j| !set.contains(j))
            .all(|j| residual[j].abs() <= penalty.lasso[j] + tolerance);
        if !zeros_hold {
            return false;
        }
        for (&j, &d) in set.iter().zip(step.iter()) {
            theta[j] += d;
        }
        self.residual = residual;
        true
    }

    /// One sweep over `coordinates`; returns whether any moved its gradient by more than
    /// `tolerance`.
    fn sweep(
        &mut self,
        a: &DMatrix<f64>,
        penalty: &PenaltyTerms,
        theta: &mut [f64],
        coordinates: impl Iterator<Item = usize>,
        tolerance: f64,
    ) -> bool {
        let mut moved = false;
        for j in coordinates {
            let ajj = a[(j, j)];
            let denominator = ajj + penalty.ridge[j];
            if denominator <= 0.0 || !denominator.is_finite() {
                continue;
            }
            let old = theta[j];
            let u = ajj * old - self.residual[j];
            let new = soft_threshold(u, penalty.lasso[j]) / denominator;
            let delta = new - old;
            if delta == 0.0 {
                continue;
            }
            theta[j] = new;
            for (r, &akj) in self.residual.iter_mut().zip(a.column(j).iter()) {
                *r += akj * delta;
            }
            if denominator * delta.abs() > tolerance {
                moved = true;
            }
        }
        moved
    }
}

/// Relative excess of |u| over the threshold, in units of the f64 roundoff, below which a
/// coordinate stays at zero: at λ_max (and wherever |∇ⱼL| ties λαvⱼ) the two sides are equal in
/// exact arithmetic, and the last bits of a gradient summed in another order must not move a
/// coefficient off zero to 1e-17.
const TIE_ROUNDINGS: f64 = 8.0;

/// sign(u) · max(|u| − t, 0), with |u| within a few roundings of t counted as a tie (zero).
pub(crate) fn soft_threshold(u: f64, t: f64) -> f64 {
    if u.abs() - t <= TIE_ROUNDINGS * f64::EPSILON * t {
        0.0
    } else if u > 0.0 {
        u - t
    } else {
        u + t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// The subgradient KKT violation of Q at θ, from its definition: ∇Q's smooth part
    /// g + A(θ − θₖ) + ridge ⊙ θ, then |·| − lasso at zeros and |· + lasso sign θ| elsewhere.
    fn kkt_of_q(
        a: &DMatrix<f64>,
        g: &DVector<f64>,
        base: &[f64],
        penalty: &PenaltyTerms,
        theta: &[f64],
    ) -> f64 {
        let d = theta.len();
        (0..d)
            .map(|j| {
                let smooth = g[j]
                    + (0..d).map(|k| a[(j, k)] * (theta[k] - base[k])).sum::<f64>()
                    + penalty.ridge[j] * theta[j];
                if theta[j] == 0.0 {
                    (smooth.abs() - penalty.lasso[j]).max(0.0)
                } else {
                    (smooth + penalty.lasso[j] * theta[j].signum()).abs()
                }
            })
            .fold(0.0, f64::max)
    }

    /// Random positive-definite A = BᵀB/m + small ridge, correlated columns.
    fn instance(rng: &mut StdRng, d: usize) -> (DMatrix<f64>, DVector<f64>, Vec<f64>) {
        let m = 3 * d;
        let b = DMatrix::from_fn(m, d, |_, _| rng.random_range(-1.0..1.0));
        let mut b2 = b.clone();
        for j in 1..d {
            for i in 0..m {
                b2[(i, j)] = 0.8 * b2[(i, j - 1)] + b[(i, j)];
            }
        }
        let a = b2.transpose() * &b2 / m as f64;
        let g = DVector::from_fn(d, |_, _| rng.random_range(-1.0..1.0));
        let base: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        (a, g, base)
    }

    #[test]
    fn solves_the_quadratic_model_to_its_kkt_conditions() {
        let mut rng = StdRng::seed_from_u64(11);
        for trial in 0..40 {
            let d = 2 + trial % 12;
            let (a, g, base) = instance(&mut rng, d);
            let lambda = 10f64.powf(rng.random_range(-3.0..0.0));
            let alpha = [1.0, 0.5, 0.9][trial % 3];
            let mut penalty = PenaltyTerms {
                ridge: vec![lambda * (1.0 - alpha); d],
                lasso: vec![lambda * alpha; d],
                exponent: 1.0,
            };
            // The last coordinate is an unpenalized intercept.
            penalty.ridge[d - 1] = 0.0;
            penalty.lasso[d - 1] = 0.0;
            let mut theta = base.clone();
            let mut cd = CoordinateDescent::new(d);
            let sweeps = cd.minimize(&a, &g, &base, &penalty, &mut theta, 1e-13);
            assert!(sweeps.settled, "trial {trial}: did not settle in {} sweeps", sweeps.work);
            let kkt = kkt_of_q(&a, &g, &base, &penalty, &theta);
            assert!(kkt <= 1e-12, "trial {trial}: KKT violation of Q {kkt:e}");
        }
    }

    #[test]
    fn a_large_penalty_gives_exact_zeros_and_a_warm_start_agrees() {
        let mut rng = StdRng::seed_from_u64(5);
        let (a, g, base) = instance(&mut rng, 6);
        // λα beyond |g − A θₖ| at 0 for every coordinate: θ = 0 exactly.
        let zero_gradient = &g - &a * DVector::from_column_slice(&base);
        let big = zero_gradient.amax() * 1.01;
        let penalty = PenaltyTerms { ridge: vec![0.0; 6], lasso: vec![big; 6], exponent: 1.0 };
        let mut theta = base.clone();
        CoordinateDescent::new(6).minimize(&a, &g, &base, &penalty, &mut theta, 1e-15);
        assert!(theta.iter().all(|&t| t == 0.0), "{theta:?}");
        // A moderate penalty from two different starts: the same minimizer.
        let penalty =
            PenaltyTerms { ridge: vec![0.0; 6], lasso: vec![big / 4.0; 6], exponent: 1.0 };
        let mut from_base = base.clone();
        let mut from_zero = vec![0.0; 6];
        let mut cd = CoordinateDescent::new(6);
        cd.minimize(&a, &g, &base, &penalty, &mut from_base, 1e-15);
        cd.minimize(&a, &g, &base, &penalty, &mut from_zero, 1e-15);
        for (x, y) in from_base.iter().zip(&from_zero) {
            assert!((x - y).abs() <= 1e-10 && (*x == 0.0) == (*y == 0.0), "{x} vs {y}");
        }
    }
}
