//! Penalties: λ Σⱼ vⱼ [α|βⱼ|^q + (1−α)/2 βⱼ²] — glmnet's elastic net for q = 1, the bridge
//! λ Σⱼ vⱼ |βⱼ|^q for α = 1 and q ∈ (0, 2) — their value, subgradient and the EM parameter
//! weights of the M-step.

use crate::data::{check_finite, check_len, check_nonnegative};
use crate::error::{Error, Input, Result};
use crate::solver::SolverOptions;
use crate::solver::conjugate::CompensatedSum;

/// The penalty λ[α Σ|βⱼ|^q + (1−α)/2 ‖β‖²] with per-feature factors applied by [`crate::Glm`].
///
/// q = 1 (every constructor but [`Penalty::bridge`]) is glmnet's elastic net. The intercept is
/// never penalized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalty {
    /// Overall strength λ ≥ 0.
    pub lambda: f64,
    /// Mixing α ∈ [0, 1]: 0 is ridge, 1 is lasso (or bridge).
    pub alpha: f64,
    /// Exponent q ∈ (0, 2) of the α part: 1 for the lasso.
    pub exponent: f64,
}

impl Penalty {
    /// No penalty (λ = 0): maximum likelihood.
    pub fn none() -> Self {
        Self { lambda: 0.0, alpha: 0.0, exponent: 1.0 }
    }

    /// Ridge: λ/2 ‖β‖². scikit-learn's `C` with `penalty="l2"` is λ = 1/(C·n).
    pub fn ridge(lambda: f64) -> Self {
        Self { lambda, alpha: 0.0, exponent: 1.0 }
    }

    /// Lasso: λ‖β‖₁. scikit-learn's `C` with `penalty="l1"` is λ = 1/(C·n).
    pub fn lasso(lambda: f64) -> Self {
        Self { lambda, alpha: 1.0, exponent: 1.0 }
    }

    /// Elastic net: λ[α‖β‖₁ + (1−α)/2 ‖β‖²].
    pub fn elastic_net(lambda: f64, alpha: f64) -> Self {
        Self { lambda, alpha, exponent: 1.0 }
    }

    /// Bridge: λ Σⱼ |βⱼ|^q for q ∈ (0, 2). q = 1 is the lasso; q ∈ (1, 2) shrinks like a
    /// softened lasso without exact zeros; q < 1 is not convex: SM-EM then finds a local mode
    /// (started, like the lasso, from the ridge fit), with zeros as sparse as or sparser than
    /// the lasso's. Its EM weight is dⱼ = λ vⱼ q |βⱼ|^(q−2).
    pub fn bridge(lambda: f64, q: f64) -> Self {
        Self { lambda, alpha: 1.0, exponent: q }
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
        if !(self.exponent > 0.0 && self.exponent < 2.0) {
            return Err(Error::InvalidOption {
                name: "bridge exponent q",
                value: self.exponent.to_string(),
                reason: "must be in (0, 2)",
            });
        }
        check_finite(Input::PenaltyFactors, factors)?;
        check_nonnegative(Input::PenaltyFactors, factors)?;
        let mut ridge = vec![0.0; dim];
        let mut lasso = vec![0.0; dim];
        for (j, &v) in factors.iter().enumerate() {
            ridge[j] = self.lambda * (1.0 - self.alpha) * v;
            lasso[j] = self.lambda * self.alpha * v;
        }
        Ok(PenaltyTerms { ridge, lasso, exponent: self.exponent })
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

/// The penalty expanded per coordinate: Σⱼ ridgeⱼ/2 θⱼ² + lassoⱼ |θⱼ|^q.
#[derive(Debug, Clone, PartialEq)]
pub struct PenaltyTerms {
    /// λ(1−α)vⱼ, 0 for the intercept.
    pub ridge: Vec<f64>,
    /// λαvⱼ, 0 for the intercept: the coefficient of |θⱼ|^q.
    pub lasso: Vec<f64>,
    /// The exponent q ∈ (0, 2) (1 for the lasso).
    pub exponent: f64,
}

impl PenaltyTerms {
    /// The ridge an ℓ₁ fit under a scheme without the exact ℓ₁ M-step starts from: every ℓ₁
    /// weight moved to the ridge at the same λ (ℓ₁ weights make zero absorbing in EM's M-step,
    /// so a start with coefficients at zero would keep them there).
    pub(crate) fn warm_start_ridge(&self) -> PenaltyTerms {
        PenaltyTerms {
            ridge: self.ridge.iter().zip(&self.lasso).map(|(r, l)| r + l).collect(),
            lasso: vec![0.0; self.lasso.len()],
            exponent: 1.0,
        }
    }

    /// The loose budget of that warm start: it only needs to get near the ridge optimum.
    pub(crate) fn warm_start_options(options: SolverOptions) -> SolverOptions {
        SolverOptions { tol: 1e-8, kkt_tol: 1e-6, max_iter: 200, ..options }
    }

    /// The penalty's value at θ.
    pub fn value(&self, theta: &[f64]) -> f64 {
        // Summed compensated: over hundreds of thousands of coefficients a plain sum's rounding
        // reaches ten of F's own roundings, and a step that lowers F could read as a rise.
        let mut sum = CompensatedSum::default();
        for (&t, (&r, &l)) in theta.iter().zip(self.ridge.iter().zip(&self.lasso)) {
            sum.add(0.5 * r * t * t + l * self.power(t));
        }
        sum.value()
    }

    /// |t|^q (exactly |t| for the lasso).
    fn power(&self, t: f64) -> f64 {
        if self.exponent == 1.0 { t.abs() } else { t.abs().powf(self.exponent) }
    }

    /// d/dt of lassoⱼ |t|^q at t ≠ 0 (0 at t = 0, where only a subgradient exists for q ≤ 1).
    pub fn power_gradient(&self, j: usize, t: f64) -> f64 {
        if t == 0.0 || self.lasso[j] == 0.0 {
            return 0.0;
        }
        let q = self.exponent;
        let magnitude = if q == 1.0 { 1.0 } else { q * t.abs().powf(q - 1.0) };
        self.lasso[j] * magnitude * t.signum()
    }

    /// The M-step's rescaling sⱼ = 1/√dⱼ with the EM weight dⱼ = lassoⱼ q |t|^(q−2) (0 at
    /// t = 0: zero is absorbing in EM for q < 2), or 1 on coordinates without a power term.
    pub fn power_scale(&self, j: usize, t: f64) -> f64 {
        let lasso = self.lasso[j];
        if lasso == 0.0 {
            return 1.0;
        }
        let q = self.exponent;
        if q == 1.0 {
            (t.abs() / lasso).sqrt()
        } else {
            (t.abs().powf(2.0 - q) / (lasso * q)).sqrt()
        }
    }

    /// Whether an exact zero can be optimal for coordinate j (q ≤ 1: the penalty has a kink
    /// there); for q > 1 the penalty is smooth at 0 and only a zero gradient makes 0 optimal.
    pub fn zero_is_a_kink(&self, j: usize) -> bool {
        self.lasso[j] > 0.0 && self.exponent <= 1.0
    }

    /// Whether any coordinate has an ℓ₁ part (then zeros are absorbing in EM and the M-step is
    /// solved in rescaled form).
    pub fn has_lasso(&self) -> bool {
        self.lasso.iter().any(|&l| l > 0.0)
    }

    /// Whether the ℓ₁ part is the lasso's |βⱼ| (not a bridge |βⱼ|^q): what the exact ℓ₁ M-step
    /// and the strong rules apply to.
    pub fn is_lasso_like(&self) -> bool {
        self.has_lasso() && self.exponent == 1.0
    }

    /// Whether the penalty vanishes at θ, and therefore on the whole ray tθ, t > 0 (λ = 0, or
    /// every nonzero coordinate has penalty factor 0).
    pub fn is_zero_at(&self, theta: &[f64]) -> bool {
        self.value(theta) == 0.0
    }

    /// The violation of the optimality (KKT) conditions at θ given the loss gradient g, per
    /// coordinate, maximised:
    /// - θⱼ ≠ 0: |gⱼ + ridgeⱼ θⱼ + lassoⱼ sign θⱼ|;
    /// - θⱼ = 0: max(0, |gⱼ| − lassoⱼ) (zero lies in the subdifferential) for the lasso; see
    ///   [`PenaltyTerms::kkt_violation_at`] for the bridge.
    pub fn kkt_violation(&self, theta: &[f64], gradient: &[f64]) -> f64 {
        (0..theta.len())
            .map(|j| self.kkt_violation_at(j, theta[j], gradient[j]))
            .fold(0.0, f64::max)
    }

    /// The KKT violation of one coordinate (see [`PenaltyTerms::kkt_violation`]). At θⱼ = 0:
    /// max(0, |gⱼ| − lassoⱼ) for the lasso, 0 for a bridge with q < 1 (its subdifferential at 0
    /// is the whole line: every zero is a local mode), |gⱼ| for q > 1.
    pub fn kkt_violation_at(&self, j: usize, theta: f64, gradient: f64) -> f64 {
        let smooth = gradient + self.ridge[j] * theta;
        if theta != 0.0 {
            return (smooth + self.power_gradient(j, theta)).abs();
        }
        let lasso = self.lasso[j];
        match self.exponent {
            q if q == 1.0 || lasso == 0.0 => (smooth.abs() - lasso).max(0.0),
            q if q < 1.0 => 0.0,
            _ => smooth.abs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The penalty of many coefficients keeps the bits a plain sum drops: one coefficient's
    /// term of 1 and 100 000 terms of 2⁻⁵⁴ (each below half an ulp of 1, so a plain sum from
    /// the first term never moves) sum to 1 + 100 000·2⁻⁵⁴, rounded once.
    #[test]
    fn the_penalty_of_many_coefficients_is_summed_without_losing_their_share() {
        let dim = 100_001;
        let terms = PenaltyTerms { ridge: vec![2.0; dim], lasso: vec![0.0; dim], exponent: 1.0 };
        let small = 2f64.powi(-27); // ½·2·small² = 2⁻⁵⁴, exactly
        let theta: Vec<f64> =
            std::iter::once(1.0).chain(std::iter::repeat_n(small, dim - 1)).collect();
        let exact = 1.0 + (dim - 1) as f64 * 2f64.powi(-54);
        assert!(exact > 1.0);
        assert_eq!(terms.value(&theta), exact);
    }
}
