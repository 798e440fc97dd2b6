//! Loss families written as scale mixtures of normals: the loss ℓ(y, η), its derivative ℓ'(η)
//! and the EM latent precision ω̂ (docs/sm-em.md §2), in f64.
//!
//! Adding a family means one arm in each `match` here, its labels check, and its E-step kernel on
//! the GPU.

use crate::error::{Error, Result};

/// The loss ℓ(y, η) of a generalized linear model, `η = xᵀβ + b₀`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Family {
    /// Logistic regression: ℓ = log(1 + e^η) − yη, labels y ∈ {0, 1}.
    /// Its EM weight is the Pólya–Gamma mean ω̂ = tanh(η/2) / (2η).
    Logistic,
    /// Least squares: ℓ = ½ (y − η)², any real y. Its EM weight is 1, so the M-step is an exact
    /// Newton step.
    Gaussian,
}

/// One observation's E-step: the loss, its derivative in η and the latent precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estep {
    /// ℓ(y, η).
    pub loss: f64,
    /// ℓ'(η), the observation's gradient term.
    pub derivative: f64,
    /// ω̂, the observation's weight in S = Xᵀ diag(w ω̂) X / W.
    pub weight: f64,
    /// ℓ''(η), the exact curvature (≤ ω̂: the EM weight majorizes it), used by the Newton step.
    pub curvature: f64,
}

impl Family {
    /// The family's name as used in messages and output files.
    pub fn name(self) -> &'static str {
        match self {
            Family::Logistic => "logistic",
            Family::Gaussian => "gaussian",
        }
    }

    /// Checks one label.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] when the family does not accept `value`.
    pub fn check_label(self, row: usize, value: f64) -> Result<()> {
        match self {
            Family::Logistic if value != 0.0 && value != 1.0 => Err(Error::InvalidLabel {
                row,
                value,
                family: self.name(),
                expected: "labels 0 or 1 (or booleans)",
            }),
            _ => Ok(()),
        }
    }

    /// Loss, derivative and EM weight at one observation, all in f64.
    #[inline]
    pub fn estep(self, y: f64, eta: f64) -> Estep {
        match self {
            Family::Logistic => Estep {
                loss: logistic_loss(y, eta),
                derivative: (1.0 - y) * sigmoid(eta) - y * sigmoid(-eta),
                weight: polya_gamma_mean(eta),
                curvature: logistic_curvature(eta),
            },
            Family::Gaussian => {
                let r = eta - y;
                Estep { loss: 0.5 * r * r, derivative: r, weight: 1.0, curvature: 1.0 }
            }
        }
    }

    /// The loss alone (cheaper than [`Family::estep`] for objective evaluations).
    #[inline]
    pub fn loss(self, y: f64, eta: f64) -> f64 {
        match self {
            Family::Logistic => logistic_loss(y, eta),
            Family::Gaussian => 0.5 * (eta - y) * (eta - y),
        }
    }

    /// The mean of y as an η: the optimal intercept when every coefficient is zero.
    pub fn link(self, mean: f64) -> f64 {
        match self {
            Family::Logistic => {
                // Clamp so an all-0 or all-1 response starts from a finite point.
                let m = mean.clamp(1e-10, 1.0 - 1e-10);
                (m / (1.0 - m)).ln()
            }
            Family::Gaussian => mean,
        }
    }

    /// The inverse link: η to the response scale (a probability for logistic).
    #[inline]
    pub fn inverse_link(self, eta: f64) -> f64 {
        match self {
            Family::Logistic => sigmoid(eta),
            Family::Gaussian => eta,
        }
    }

    /// A weighted mean loss below which no finite minimizer can exist for an unpenalized fit,
    /// given the smallest positive sample weight and the weight sum.
    ///
    /// For logistic: if `(1/W) Σ wᵢ ℓᵢ < ln 2 · w_min / W`, every ℓᵢ < ln 2, i.e. every point is
    /// strictly on its side of the hyperplane. Scaling (β, b₀) by t → ∞ then drives the loss to
    /// 0, which no finite point attains: the optimum is at infinity. `None` for families whose
    /// loss is bounded below by a value some finite point reaches.
    pub fn separation_bound(self, min_positive_weight: f64, weight_sum: f64) -> Option<f64> {
        match self {
            Family::Logistic => Some(std::f64::consts::LN_2 * min_positive_weight / weight_sum),
            Family::Gaussian => None,
        }
    }
}

/// σ(η) = 1 / (1 + e^{−η}), without overflow for either sign.
#[inline]
pub fn sigmoid(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^η), without overflow for large η and without cancellation for very negative η.
#[inline]
pub fn log1p_exp(eta: f64) -> f64 {
    if eta > 0.0 { eta + (-eta).exp().ln_1p() } else { eta.exp().ln_1p() }
}

/// log(1 + e^η) − yη written as (1 − y)·log(1 + e^η) + y·log(1 + e^{−η}) (equal for every y,
/// since the two softplus terms differ by η): for y ∈ {0, 1} one term vanishes and no
/// cancellation occurs, where the first form loses all relative accuracy once yη is large, e.g.
/// near separation. The derivative σ(η) − y is likewise taken as (1 − y)σ(η) − yσ(−η).
#[inline]
fn logistic_loss(y: f64, eta: f64) -> f64 {
    (1.0 - y) * log1p_exp(eta) + y * log1p_exp(-eta)
}

/// σ(η)(1 − σ(η)) = e^{−|η|} / (1 + e^{−|η|})², without cancellation in 1 − σ for large |η|.
#[inline]
pub fn logistic_curvature(eta: f64) -> f64 {
    let e = (-eta.abs()).exp();
    e / ((1.0 + e) * (1.0 + e))
}

/// The Pólya–Gamma mean tanh(η/2)/(2η), even in η, → ¼ at η = 0.
///
/// In f64, tanh is accurate to relative round-off for small arguments, so the closed form is used
/// down to |η| = 1e-4; below it the two-term series ¼ − η²/48 is exact to f64 precision (the next
/// term, η⁴/480, is below 1e-18).
#[inline]
pub fn polya_gamma_mean(eta: f64) -> f64 {
    let a = eta.abs();
    if a < 1e-4 { 0.25 - a * a / 48.0 } else { (0.5 * a).tanh() / (2.0 * a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polya_gamma_mean_is_continuous_at_series_switch() {
        let below = polya_gamma_mean(1e-4 * (1.0 - 1e-12));
        let above = polya_gamma_mean(1e-4 * (1.0 + 1e-12));
        assert!((below - above).abs() < 1e-15, "{below} vs {above}");
        assert_eq!(polya_gamma_mean(0.0), 0.25);
    }

    #[test]
    fn logistic_loss_keeps_relative_accuracy_for_confident_predictions() {
        // ℓ(1, 40) = log(1 + e^{−40}) = e^{−40} to double precision; log1p_exp(40) − 40 is 0.
        let e = Family::Logistic.estep(1.0, 40.0);
        assert!((e.loss - (-40.0f64).exp()).abs() <= 1e-15 * (-40.0f64).exp());
        assert!((e.derivative + (-40.0f64).exp()).abs() <= 1e-15 * (-40.0f64).exp());
    }

    #[test]
    fn em_weight_majorizes_the_curvature() {
        for eta in [-40.0, -3.0, -0.2, 0.0, 1e-5, 0.7, 5.0, 300.0] {
            let e = Family::Logistic.estep(0.0, eta);
            assert!(e.curvature <= e.weight, "η = {eta}: {} > {}", e.curvature, e.weight);
            let s = sigmoid(eta);
            assert!((e.curvature - s * (1.0 - s)).abs() <= 1e-15, "η = {eta}");
        }
    }

    #[test]
    fn logistic_loss_is_stable_at_extremes() {
        let big = Family::Logistic.estep(1.0, 800.0);
        assert!(big.loss.abs() < 1e-300 && big.loss >= 0.0);
        let small = Family::Logistic.estep(1.0, -800.0);
        assert!((small.loss - 800.0).abs() < 1e-9);
        assert!(small.weight > 0.0 && small.weight.is_finite());
    }
}
