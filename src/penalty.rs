//! Penalties: λ Σⱼ vⱼ [α|βⱼ| + (1−α)/2 βⱼ²] (glmnet's elastic net), their value, subgradient and
//! the EM parameter weights of the M-step.

use crate::data::{check_finite, check_len, check_nonnegative};
use crate::error::{Error, Input, Result};

/// The penalty λ[α‖β‖₁ + (1−α)/2 ‖β‖²] with per-feature factors applied by [`crate::Glm`].
///
/// The intercept is never penalized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalty {
    /// Overall strength λ ≥ 0.
    pub lambda: f64,
    /// Mixing α ∈ [0, 1]: 0 is ridge, 1 is lasso.
    pub alpha: f64,
}

impl Penalty {
    /// No penalty (λ = 0): maximum likelihood.
    pub fn none() -> Self {
        Self { lambda: 0.0, alpha: 0.0 }
    }

    /// Ridge: λ/2 ‖β‖². scikit-learn's `C` with `penalty="l2"` is λ = 1/(C·n).
    pub fn ridge(lambda: f64) -> Self {
        Self { lambda, alpha: 0.0 }
    }

    /// Lasso: λ‖β‖₁. scikit-learn's `C` with `penalty="l1"` is λ = 1/(C·n).
    pub fn lasso(lambda: f64) -> Self {
        Self { lambda, alpha: 1.0 }
    }

    /// Elastic net: λ[α‖β‖₁ + (1−α)/2 ‖β‖²].
    pub fn elastic_net(lambda: f64, alpha: f64) -> Self {
        Self { lambda, alpha }
    }

    /// Checks λ and α, then expands the penalty into per-coordinate terms for `dim`
    /// coordinates, the first `factors.len()` of which are features; any further coordinate (the
    /// intercept) is unpenalized.
    pub(crate) fn terms(&self, factors: &[f64], dim: usize) -> Result<PenaltyTerms> {
        if !self.lambda.is_finite() || self.lambda < 0.0 {
            return Err(Error::InvalidLambda(self.lambda));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::InvalidAlpha(self.alpha));
        }
        check_finite(Input::PenaltyFactors, factors)?;
        check_nonnegative(Input::PenaltyFactors, factors)?;
        let mut ridge = vec![0.0; dim];
        let mut lasso = vec![0.0; dim];
        for (j, &v) in factors.iter().enumerate() {
            ridge[j] = self.lambda * (1.0 - self.alpha) * v;
            lasso[j] = self.lambda * self.alpha * v;
        }
        Ok(PenaltyTerms { ridge, lasso })
    }
}

impl Default for Penalty {
    fn default() -> Self {
        Self::none()
    }
}

/// Checks that penalty factors match the number of features.
pub(crate) fn check_factors(factors: &[f64], ncols: usize) -> Result<()> {
    check_len(Input::PenaltyFactors, ncols, factors.len())
}

/// The penalty expanded per coordinate: Σⱼ ridgeⱼ/2 θⱼ² + lassoⱼ |θⱼ|.
#[derive(Debug, Clone, PartialEq)]
pub struct PenaltyTerms {
    /// λ(1−α)vⱼ, 0 for the intercept.
    pub ridge: Vec<f64>,
    /// λαvⱼ, 0 for the intercept.
    pub lasso: Vec<f64>,
}

impl PenaltyTerms {
    /// The penalty's value at θ.
    pub fn value(&self, theta: &[f64]) -> f64 {
        theta
            .iter()
            .zip(self.ridge.iter().zip(&self.lasso))
            .map(|(&t, (&r, &l))| 0.5 * r * t * t + l * t.abs())
            .sum()
    }

    /// Whether any coordinate has an ℓ₁ part (then zeros are absorbing in EM and the M-step is
    /// solved in rescaled form).
    pub fn has_lasso(&self) -> bool {
        self.lasso.iter().any(|&l| l > 0.0)
    }

    /// Whether the penalty vanishes at θ, and therefore on the whole ray tθ, t > 0 (λ = 0, or
    /// every nonzero coordinate has penalty factor 0).
    pub fn is_zero_at(&self, theta: &[f64]) -> bool {
        self.value(theta) == 0.0
    }

    /// The violation of the optimality (KKT) conditions at θ given the loss gradient g, per
    /// coordinate, maximised:
    /// - θⱼ ≠ 0: |gⱼ + ridgeⱼ θⱼ + lassoⱼ sign θⱼ|;
    /// - θⱼ = 0: max(0, |gⱼ| − lassoⱼ) (zero lies in the subdifferential).
    pub fn kkt_violation(&self, theta: &[f64], gradient: &[f64]) -> f64 {
        (0..theta.len())
            .map(|j| self.kkt_violation_at(j, theta[j], gradient[j]))
            .fold(0.0, f64::max)
    }

    /// The KKT violation of one coordinate (see [`PenaltyTerms::kkt_violation`]).
    pub fn kkt_violation_at(&self, j: usize, theta: f64, gradient: f64) -> f64 {
        let smooth = gradient + self.ridge[j] * theta;
        if theta != 0.0 {
            (smooth + self.lasso[j] * theta.signum()).abs()
        } else {
            (smooth.abs() - self.lasso[j]).max(0.0)
        }
    }
}
