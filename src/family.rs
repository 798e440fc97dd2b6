//! Loss families written as scale mixtures of normals: the loss ℓ(y, η), its derivative ℓ'(η)
//! and the EM latent precision ω̂ (docs/sm-em.md §2), in f64.
//!
//! A family carries everything that varies with it: loss, ℓ', ω̂ and ℓ'' ([`Family::estep`]),
//! labels check, link and prediction, default cross-validation metric, the response scale of
//! the ℓ₁ zero threshold, and its code in the GPU E-step kernel. Adding one means an arm in each
//! `match` here, its case in `shaders/moments.wgsl`, and its tests (docs/extending.md).

use crate::cv::Metric;
use crate::error::{Error, Result};

/// The family codes of the GPU E-step kernels (`shaders/moments.wgsl` reads them from the prelude
/// that `src/backend/gpu/layout.rs` generates from these constants).
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
pub(crate) const FAMILY_LOGISTIC: u32 = 0;
/// See [`FAMILY_LOGISTIC`].
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
pub(crate) const FAMILY_GAUSSIAN: u32 = 1;
/// See [`FAMILY_LOGISTIC`].
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
pub(crate) const FAMILY_HINGE: u32 = 2;
/// See [`FAMILY_LOGISTIC`].
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
pub(crate) const FAMILY_QUANTILE: u32 = 3;
/// See [`FAMILY_LOGISTIC`].
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
pub(crate) const FAMILY_STUDENT_T: u32 = 4;
/// See [`FAMILY_LOGISTIC`].
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
pub(crate) const FAMILY_POISSON: u32 = 5;
/// See [`FAMILY_LOGISTIC`].
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
pub(crate) const FAMILY_NEGATIVE_BINOMIAL: u32 = 6;
/// Every family code with its WGSL name, for the kernels' prelude.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
pub(crate) const GPU_FAMILY_CODES: [(&str, u32); 7] = [
    ("FAMILY_LOGISTIC", FAMILY_LOGISTIC),
    ("FAMILY_GAUSSIAN", FAMILY_GAUSSIAN),
    ("FAMILY_HINGE", FAMILY_HINGE),
    ("FAMILY_QUANTILE", FAMILY_QUANTILE),
    ("FAMILY_STUDENT_T", FAMILY_STUDENT_T),
    ("FAMILY_POISSON", FAMILY_POISSON),
    ("FAMILY_NEGATIVE_BINOMIAL", FAMILY_NEGATIVE_BINOMIAL),
];

/// Residual floor of the non-smooth losses (hinge, quantile), relative to the residual's scale
/// (1 for the hinge margin, max(1, |y|) for quantile).
///
/// Their EM weight 1/(2|r|) is infinite at r = 0, where the optimum puts its support vectors
/// (hinge) or its interpolated points (quantile). With |r| floored at ε, SM-EM is exactly the MM
/// algorithm of the loss with |r| replaced by its Huber version (r²/(2ε) + ε/2 for |r| < ε):
/// each row's loss moves by at most ε/4, so the mean loss, and the optimum's objective, by at
/// most ε/4 in these units. Reported objectives always use the exact loss.
pub const RESIDUAL_FLOOR: f64 = 1e-10;

/// The loss ℓ(y, η) of a generalized linear model, `η = xᵀβ + b₀`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Family {
    /// Logistic regression: ℓ = log(1 + e^η) − yη, labels y ∈ {0, 1} (−1 is read as 0, so the
    /// −1/+1 labels of LIBSVM files work too; one column may not hold both −1 and 0).
    /// Its EM weight is the Pólya–Gamma mean ω̂ = tanh(η/2) / (2η).
    Logistic,
    /// Least squares: ℓ = ½ (y − η)², any real y. Its EM weight is 1, so the M-step is an exact
    /// Newton step.
    Gaussian,
    /// Binomial counts: ℓ = m log(1 + e^η) − yη for y successes out of m trials, m given per row
    /// ([`crate::Data::binomial`]). ω̂ = m tanh(η/2)/(2η). Fitted as logistic regression with
    /// success fractions y/m and weights w·m, which is the same objective.
    Binomial,
    /// Hinge loss (linear SVM): ℓ = max(0, 1 − yη), labels y ∈ {−1, +1} (0 is read as −1, so
    /// 0/1 and boolean labels work too). ω̂ = 1/(2|1 − yη|), floored at [`RESIDUAL_FLOOR`].
    Hinge,
    /// Quantile (pinball) loss at level `q` ∈ (0, 1): ℓ = (y − η)(q − 𝟙(y < η)), any real y;
    /// q = ½ is least absolute deviations (half of |y − η|). ω̂ = 1/(2|y − η|), floored at
    /// [`RESIDUAL_FLOOR`] · max(1, |y|).
    Quantile {
        /// The quantile level q ∈ (0, 1).
        q: f64,
    },
    /// Student-t robust regression: ℓ = (ν+1)/2 · log(1 + (y − η)²/(νσ²)), any real y.
    /// ω̂ = (ν+1)/(νσ² + r²), bounded: outliers get small weights. The loss is not convex; EM
    /// finds a local mode (from the least-squares-like start, the one a robust fit wants).
    StudentT {
        /// Degrees of freedom ν > 0 (small: heavy tails; ν → ∞: least squares).
        nu: f64,
        /// Scale σ > 0 ([`crate::Glm::student_t`] can estimate it).
        sigma: f64,
    },
    /// Poisson counts with the log link: ℓ = e^η − yη (the negative log-likelihood less
    /// log y!), y ≥ 0 (non-integer y allowed: rates, quasi-Poisson). No scale mixture of normals
    /// gives e^η (its curvature is unbounded), so its steps are Newton's, each checked on F and
    /// backtracked where F would rise (docs/sm-em.md §10).
    Poisson,
    /// Negative binomial counts (NB2: Var y = μ + μ²/θ) with the log link and dispersion θ:
    /// ℓ = (y + θ) log(1 + e^ψ) − yψ with ψ = η − log θ (the negative log-likelihood less the
    /// terms without η), y ≥ 0. A Pólya–Gamma scale mixture like logistic's (Polson, Scott &
    /// Windle 2013): ω̂ = (y + θ) tanh(ψ/2)/(2ψ), exact EM. [`crate::Glm::negative_binomial`]
    /// can estimate θ by maximum likelihood as R's `MASS::glm.nb` does.
    NegativeBinomial {
        /// The dispersion θ > 0 (θ → ∞: Poisson).
        theta: f64,
    },
}

/// One observation's E-step: the loss, its derivative in η and the latent precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estep {
    /// ℓ(y, η) as SM-EM minimizes it (for hinge and quantile, with the [`RESIDUAL_FLOOR`]
    /// smoothing).
    pub loss: f64,
    /// ℓ'(η), the observation's gradient term.
    pub derivative: f64,
    /// ω̂, the observation's weight in S = Xᵀ diag(w ω̂) X / W.
    pub weight: f64,
    /// The curvature used by the Newton step: ℓ''(η) for logistic, gaussian and binomial
    /// (≤ ω̂: the EM weight majorizes it); max(ℓ'', 0) for Student-t, whose loss is not convex;
    /// ω̂ itself for hinge and quantile, whose ℓ'' is 0 almost everywhere (Newton is EM there).
    pub curvature: f64,
}

impl Family {
    /// Every family name [`Family`] parses, in the order the command line lists them (the
    /// Python package spells Student-t `student_t`, which parses too).
    pub const NAMES: [&'static str; 8] = [
        "logistic",
        "gaussian",
        "binomial",
        "hinge",
        "quantile",
        "student-t",
        "poisson",
        "negative-binomial",
    ];

    /// This family with the parameters given replaced: `q` for quantile, `nu` and `sigma` for
    /// Student-t (the others have none and ignore them; the negative binomial's θ is set by
    /// [`crate::Glm::negative_binomial`]).
    #[must_use]
    pub fn with_parameters(self, q: Option<f64>, nu: Option<f64>, sigma: Option<f64>) -> Self {
        match self {
            Family::Quantile { q: given } => Family::Quantile { q: q.unwrap_or(given) },
            Family::StudentT { nu: n, sigma: s } => {
                Family::StudentT { nu: nu.unwrap_or(n), sigma: sigma.unwrap_or(s) }
            }
            other => other,
        }
    }

    /// A label as the family fits it: hinge reads 0 as −1 (so 0/1 and boolean labels work),
    /// logistic reads −1 as 0 (so −1/+1 labels work); every other value, and every other
    /// family's, is kept.
    #[inline]
    pub fn label_as_fitted(self, y: f64) -> f64 {
        match self {
            Family::Hinge if y == 0.0 => -1.0,
            Family::Logistic if y == -1.0 => 0.0,
            _ => y,
        }
    }

    /// The family's name as used in messages and output files.
    pub fn name(self) -> &'static str {
        match self {
            Family::Logistic => "logistic",
            Family::Gaussian => "gaussian",
            Family::Binomial => "binomial",
            Family::Hinge => "hinge",
            Family::Quantile { .. } => "quantile",
            Family::StudentT { .. } => "student-t",
            Family::Poisson => "poisson",
            Family::NegativeBinomial { .. } => "negative-binomial",
        }
    }

    /// Checks the family's own parameters.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `q`, `nu` or `sigma`.
    pub fn check(self) -> Result<()> {
        let bad = |name, value: f64, reason| {
            Err(Error::InvalidOption { name, value: value.to_string(), reason })
        };
        match self {
            Family::Quantile { q } if !(q > 0.0 && q < 1.0) => bad("q", q, "must be in (0, 1)"),
            Family::StudentT { nu, .. } if !(nu > 0.0 && nu.is_finite()) => {
                bad("nu", nu, "must be finite and > 0")
            }
            Family::StudentT { sigma, .. } if !(sigma > 0.0 && sigma.is_finite()) => {
                bad("sigma", sigma, "must be finite and > 0")
            }
            Family::NegativeBinomial { theta } if !(theta > 0.0 && theta.is_finite()) => {
                bad("theta", theta, "must be finite and > 0")
            }
            _ => Ok(()),
        }
    }

    /// Checks one label.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] when the family does not accept `value`.
    pub fn check_label(self, row: usize, value: f64) -> Result<()> {
        let expected = match self {
            Family::Logistic if value != 0.0 && value != 1.0 && value != -1.0 => {
                "labels 0 or 1 (or booleans; −1/+1 are read as 0/1)"
            }
            Family::Hinge if value != -1.0 && value != 1.0 && value != 0.0 => {
                "labels −1 or +1 (0/1 and booleans are read as −1/+1)"
            }
            // Fractions y/m, checked against the trials by `Problem::binomial`.
            Family::Binomial if !(0.0..=1.0).contains(&value) => {
                "success counts between 0 and the row's number of trials"
            }
            Family::Poisson if value < 0.0 => "counts ≥ 0 (non-integer rates are allowed)",
            Family::NegativeBinomial { .. } if value < 0.0 || value.fract() != 0.0 => {
                "counts: integers ≥ 0"
            }
            _ => return Ok(()),
        };
        Err(Error::InvalidLabel { row, value, family: self.name(), expected })
    }

    /// Checks the labels of rows 0, 1, … in order, with what [`Family::check_label`] checks
    /// and, across rows, that a two-class label column keeps to one convention: a logistic
    /// column holding both −1 and 0 has three classes, not two read two ways.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] at the first row that breaks either.
    pub fn check_labels(self, labels: impl IntoIterator<Item = f64>) -> Result<()> {
        let mut convention = LabelConvention::default();
        for (row, value) in labels.into_iter().enumerate() {
            self.check_label(row, value)?;
            convention.observe(self, row, value)?;
        }
        Ok(())
    }

    /// Whether ω̂ is unbounded (hinge and quantile at r = 0): their gradient is then sensitive
    /// to rounding in η, and backends report that error so the solver does not chase it.
    pub fn has_unbounded_weight(self) -> bool {
        matches!(self, Family::Hinge | Family::Quantile { .. })
    }

    /// The exact second derivative ℓ''(η) of one observation's loss, given its [`Family::estep`]
    /// moments: the Newton curvature, except for Student-t, whose ℓ'' is negative for residuals
    /// beyond √ν σ (there `curvature` is clipped at 0). For hinge and quantile, the smoothed
    /// curvature.
    pub fn hessian(self, y: f64, eta: f64, moments: &Estep) -> f64 {
        match self {
            Family::StudentT { nu, sigma } => {
                let (s2, r) = (nu * sigma * sigma, y - eta);
                moments.weight * (s2 - r * r) / (s2 + r * r)
            }
            _ => moments.curvature,
        }
    }

    /// Loss, derivative, EM weight and Newton curvature at one observation, all in f64.
    #[inline]
    pub fn estep(self, y: f64, eta: f64) -> Estep {
        match self {
            // Binomial problems reach the backends as logistic ones with fractional labels.
            Family::Logistic | Family::Binomial => Estep {
                loss: logistic_loss(y, eta),
                derivative: (1.0 - y) * sigmoid(eta) - y * sigmoid(-eta),
                weight: polya_gamma_mean(eta),
                curvature: logistic_curvature(eta),
            },
            Family::Gaussian => {
                let r = eta - y;
                Estep { loss: 0.5 * r * r, derivative: r, weight: 1.0, curvature: 1.0 }
            }
            Family::Hinge => {
                // ℓ = ½|r| + ½r with r = 1 − yη; dr/dη = −y.
                let r = 1.0 - y * eta;
                let a = r.abs().max(RESIDUAL_FLOOR);
                let weight = 0.5 / a;
                Estep {
                    loss: 0.5 * (huber_abs(r, RESIDUAL_FLOOR) + r),
                    derivative: -0.5 * y * (1.0 + r / a),
                    weight,
                    curvature: weight,
                }
            }
            Family::Quantile { q } => {
                // ℓ = ½|r| + (q − ½) r with r = y − η; dr/dη = −1.
                let r = y - eta;
                let floor = RESIDUAL_FLOOR * y.abs().max(1.0);
                let a = r.abs().max(floor);
                let weight = 0.5 / a;
                Estep {
                    loss: 0.5 * huber_abs(r, floor) + (q - 0.5) * r,
                    derivative: -(q - 0.5) - 0.5 * r / a,
                    weight,
                    curvature: weight,
                }
            }
            Family::StudentT { nu, sigma } => {
                let r = y - eta;
                let s2 = nu * sigma * sigma;
                let weight = (nu + 1.0) / (s2 + r * r);
                Estep {
                    loss: 0.5 * (nu + 1.0) * (r * r / s2).ln_1p(),
                    derivative: -weight * r,
                    weight,
                    curvature: (weight * (s2 - r * r) / (s2 + r * r)).max(0.0),
                }
            }
            Family::Poisson => {
                // No majorizing weight: ω̂ is the curvature itself (the IRLS weight μ).
                let mu = eta.exp();
                Estep { loss: mu - y * eta, derivative: mu - y, weight: mu, curvature: mu }
            }
            Family::NegativeBinomial { theta } => {
                // A logistic loss in ψ = η − log θ with y successes out of y + θ "trials".
                let (trials, psi) = (y + theta, eta - theta.ln());
                let fraction = y / trials;
                Estep {
                    loss: trials * logistic_loss(fraction, psi),
                    derivative: trials
                        * ((1.0 - fraction) * sigmoid(psi) - fraction * sigmoid(-psi)),
                    weight: trials * polya_gamma_mean(psi),
                    curvature: trials * logistic_curvature(psi),
                }
            }
        }
    }

    /// The loss as SM-EM minimizes it (the definition, except for hinge and quantile, whose
    /// |r| is Huber-smoothed below [`RESIDUAL_FLOOR`]); equal to [`Family::estep`]'s loss.
    #[inline]
    pub fn fitted_loss(self, y: f64, eta: f64) -> f64 {
        match self {
            Family::Logistic | Family::Binomial => logistic_loss(y, eta),
            Family::Gaussian => 0.5 * (eta - y) * (eta - y),
            _ => self.estep(y, eta).loss,
        }
    }

    /// The loss by its definition (what reported objectives use).
    #[inline]
    pub fn loss(self, y: f64, eta: f64) -> f64 {
        match self {
            Family::Hinge => (1.0 - y * eta).max(0.0),
            Family::Quantile { q } => {
                let r = y - eta;
                r * (q - f64::from(u8::from(r < 0.0)))
            }
            _ => self.fitted_loss(y, eta),
        }
    }

    /// The η to start the intercept from when every coefficient is zero, given the weighted
    /// mean of y: the optimal intercept for logistic, binomial and gaussian, a sensible centre
    /// for the others.
    pub fn link(self, mean: f64) -> f64 {
        match self {
            Family::Logistic | Family::Binomial => {
                // Clamp so an all-0 or all-1 response starts from a finite point.
                let m = mean.clamp(1e-10, 1.0 - 1e-10);
                (m / (1.0 - m)).ln()
            }
            Family::Hinge => mean.signum(),
            Family::Gaussian | Family::Quantile { .. } | Family::StudentT { .. } => mean,
            // An all-zero response has no finite optimum (`Glm`'s checks refuse it).
            Family::Poisson | Family::NegativeBinomial { .. } => mean.max(1e-10).ln(),
        }
    }

    /// The inverse link: η to the response scale (a probability for logistic and binomial, the
    /// mean count e^η for Poisson and the negative binomial, η itself for the others).
    #[inline]
    pub fn inverse_link(self, eta: f64) -> f64 {
        match self {
            Family::Logistic | Family::Binomial => sigmoid(eta),
            Family::Poisson | Family::NegativeBinomial { .. } => eta.exp(),
            _ => eta,
        }
    }

    /// min_η ℓ(y, η) for one row: the entropy of the success fraction for binomial (whose
    /// fractions strictly between 0 and 1 have a positive minimal loss), 0 for the others. The
    /// saturated model's loss, from which deviances are measured.
    pub fn saturated_loss(self, y: f64) -> f64 {
        let term = |v: f64| if v > 0.0 { -v * v.ln() } else { 0.0 };
        match self {
            Family::Binomial => term(y) + term(1.0 - y),
            // At η = log y: y − y log y (0 at y = 0).
            Family::Poisson => y + term(y),
            // At ψ = log(y/θ): (y + θ) times the entropy of y/(y + θ).
            Family::NegativeBinomial { theta } => {
                let fraction = y / (y + theta);
                (y + theta) * (term(fraction) + term(1.0 - fraction))
            }
            _ => 0.0,
        }
    }

    /// Whether the loss's Hessian is positive semidefinite everywhere, so it can be the
    /// curvature of a proximal Newton step (logistic, binomial, gaussian; Student-t's is not,
    /// hinge and quantile have none).
    pub fn has_safe_hessian(self) -> bool {
        matches!(
            self,
            Family::Logistic
                | Family::Binomial
                | Family::Gaussian
                | Family::Poisson
                | Family::NegativeBinomial { .. }
        )
    }

    /// Whether ω̂ majorizes the loss's curvature everywhere, so that the SM-EM step never raises
    /// F: every family but Poisson, whose e^η has no such bound (its steps are Newton's, with a
    /// line search on F).
    pub fn weight_majorizes(self) -> bool {
        self != Family::Poisson
    }

    /// Whether S = Xᵀ diag(w ω̂) X / W does not depend on θ (gaussian: ω̂ = ℓ'' = 1), so a
    /// backend computes it once per set of weights and a path once for all its points.
    pub fn has_constant_gram(self) -> bool {
        matches!(self, Family::Gaussian)
    }

    /// Whether [`Family::probability`] gives class probabilities (logistic, binomial).
    pub fn has_probabilities(self) -> bool {
        matches!(self, Family::Logistic | Family::Binomial)
    }

    /// P(y = 1 | η) for the families with probabilities, `None` for the others.
    pub fn probability(self, eta: f64) -> Option<f64> {
        self.has_probabilities().then(|| self.inverse_link(eta))
    }

    /// The prediction on the response scale from η: the class label 0/1 for logistic and
    /// binomial (probability ≥ ½), ±1 for hinge, η itself for gaussian, quantile and Student-t.
    pub fn predict(self, eta: f64) -> f64 {
        match self {
            Family::Logistic | Family::Binomial => f64::from(eta >= 0.0),
            Family::Hinge => {
                if eta >= 0.0 {
                    1.0
                } else {
                    -1.0
                }
            }
            Family::Gaussian | Family::Quantile { .. } | Family::StudentT { .. } => eta,
            Family::Poisson | Family::NegativeBinomial { .. } => eta.exp(),
        }
    }

    /// Whether the family predicts classes (its cross-validation folds are stratified and the
    /// classification metrics apply).
    pub fn is_classification(self) -> bool {
        matches!(self, Family::Logistic | Family::Hinge)
    }

    /// The cross-validation metric used when none is given: deviance for logistic and
    /// binomial, Poisson and the negative binomial, misclassification for hinge, MSE for
    /// gaussian and Student-t, check loss for quantile.
    pub fn default_metric(self) -> Metric {
        match self {
            Family::Hinge => Metric::Misclassification,
            Family::Gaussian | Family::StudentT { .. } => Metric::Mse,
            Family::Quantile { .. } => Metric::CheckLoss,
            Family::Logistic
            | Family::Binomial
            | Family::Poisson
            | Family::NegativeBinomial { .. } => Metric::Deviance,
        }
    }

    /// The scale of η's units for the ℓ₁ zero threshold (`zero_tol` is in these units): 1 on
    /// the logit and margin scales, the response's weighted standard deviation √`variance` (1 if
    /// y is constant) for the regression families.
    pub(crate) fn response_scale(self, variance: f64) -> f64 {
        match self {
            // η on the logit, margin or log scale.
            Family::Logistic
            | Family::Binomial
            | Family::Hinge
            | Family::Poisson
            | Family::NegativeBinomial { .. } => 1.0,
            Family::Gaussian | Family::Quantile { .. } | Family::StudentT { .. } => {
                if variance > 0.0 { variance.sqrt() } else { 1.0 }
            }
        }
    }

    /// The family's case in the GPU E-step kernel (its `FAMILY_*` code, which the kernels'
    /// prelude carries) and its two parameters there (the kernel reads them as f32).
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))] // read by the GPU kernels only
    pub(crate) fn gpu_code(self) -> (u32, f64, f64) {
        match self {
            Family::Logistic | Family::Binomial => (FAMILY_LOGISTIC, 0.0, 0.0),
            Family::Gaussian => (FAMILY_GAUSSIAN, 0.0, 0.0),
            Family::Hinge => (FAMILY_HINGE, 0.0, 0.0),
            Family::Quantile { q } => (FAMILY_QUANTILE, q, 0.0),
            Family::StudentT { nu, sigma } => (FAMILY_STUDENT_T, nu, sigma),
            Family::Poisson => (FAMILY_POISSON, 0.0, 0.0),
            // log θ computed in f64 (the kernel's f32 log would add its own error to every ψ).
            Family::NegativeBinomial { theta } => (FAMILY_NEGATIVE_BINOMIAL, theta, theta.ln()),
        }
    }

    /// A weighted mean loss below which no finite minimizer can exist for an unpenalized fit,
    /// given the smallest positive sample weight and the weight sum.
    ///
    /// For logistic: if `(1/W) Σ wᵢ ℓᵢ < ln 2 · w_min / W`, every ℓᵢ < ln 2, i.e. every point is
    /// strictly on its side of the hyperplane. Scaling (β, b₀) by t → ∞ then drives the loss to
    /// 0, which no finite point attains: the optimum is at infinity. `None` for families whose
    /// loss some finite point minimizes (binomial counts strictly between 0 and m included:
    /// their certificate is computed per problem by `Problem::binomial`).
    pub fn separation_bound(self, min_positive_weight: f64, weight_sum: f64) -> Option<f64> {
        match self {
            Family::Logistic => Some(std::f64::consts::LN_2 * min_positive_weight / weight_sum),
            _ => None,
        }
    }
}

/// |r| for |r| ≥ ε, r²/(2ε) + ε/2 below: the Huber function whose MM weight is 1/(2 max(|r|, ε)).
#[inline]
fn huber_abs(r: f64, eps: f64) -> f64 {
    let a = r.abs();
    if a >= eps { a } else { 0.5 * (r * r / eps + eps) }
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

impl std::str::FromStr for Family {
    type Err = Error;

    /// One of [`Family::NAMES`] (any case, `_` read as `-`), with the default parameters: the
    /// median for quantile (q = ½), ν = 4 and σ = 1 for Student-t (see
    /// [`Family::with_parameters`]).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "logistic" => Ok(Family::Logistic),
            "gaussian" => Ok(Family::Gaussian),
            "binomial" => Ok(Family::Binomial),
            "hinge" => Ok(Family::Hinge),
            "quantile" => Ok(Family::Quantile { q: 0.5 }),
            "student-t" => Ok(Family::StudentT { nu: 4.0, sigma: 1.0 }),
            "poisson" => Ok(Family::Poisson),
            "negative-binomial" => Ok(Family::NegativeBinomial { theta: 1.0 }),
            _ => Err(Error::InvalidOption {
                name: "family",
                value: s.to_owned(),
                reason: "must be one of logistic, gaussian, binomial, hinge, quantile, \
                         student-t, poisson, negative-binomial",
            }),
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The label conventions a two-class column has shown so far, row by row (for a check over
/// rows that arrive in blocks, as a streamed file's).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LabelConvention {
    /// A −1 has appeared.
    minus_one: bool,
    /// A 0 has appeared.
    zero: bool,
}

impl LabelConvention {
    /// Notes label `value` of row `row` (checked by [`Family::check_label`] already).
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] where a logistic column now holds both −1 and 0.
    pub(crate) fn observe(&mut self, family: Family, row: usize, value: f64) -> Result<()> {
        if family != Family::Logistic {
            return Ok(());
        }
        self.minus_one |= value == -1.0;
        self.zero |= value == 0.0;
        if self.minus_one && self.zero {
            return Err(Error::InvalidLabel {
                row,
                value,
                family: family.name(),
                expected: "labels of one convention, 0/1 or −1/+1 (this column holds both −1 \
                           and 0: three classes need the multinomial family)",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line and the Python package offer `NAMES`: each must parse, and print back
    /// as itself; Python's `student_t` is the same family.
    #[test]
    fn every_family_name_parses_and_prints_as_itself() {
        for name in Family::NAMES {
            let family: Family = name.parse().expect("a listed name parses");
            assert_eq!(family.to_string(), name);
        }
        assert_eq!("student_t".parse::<Family>().unwrap().name(), "student-t");
        assert_eq!("negative_binomial".parse::<Family>().unwrap().name(), "negative-binomial");
        let error = "gamma".parse::<Family>().unwrap_err().to_string();
        assert!(error.contains("gamma") && error.contains("family"), "{error}");
    }

    #[test]
    fn hinge_reads_zero_labels_as_minus_one_and_gaussian_keeps_its_labels() {
        assert_eq!(Family::Hinge.label_as_fitted(0.0), -1.0);
        assert_eq!(Family::Hinge.label_as_fitted(1.0), 1.0);
        assert_eq!(Family::Logistic.label_as_fitted(0.0), 0.0);
        assert_eq!(Family::Gaussian.label_as_fitted(0.0), 0.0);
        assert_eq!(Family::Gaussian.label_as_fitted(-1.0), -1.0);
    }

    #[test]
    fn logistic_reads_minus_one_as_zero_but_not_both_in_one_column() {
        assert_eq!(Family::Logistic.label_as_fitted(-1.0), 0.0);
        assert_eq!(Family::Logistic.label_as_fitted(1.0), 1.0);
        assert!(Family::Logistic.check_labels([1.0, -1.0, -1.0, 1.0]).is_ok());
        assert!(Family::Logistic.check_labels([1.0, 0.0, 1.0]).is_ok());
        let error = Family::Logistic.check_labels([1.0, -1.0, 1.0, 0.0]).unwrap_err();
        match error {
            Error::InvalidLabel { row, value, .. } => assert_eq!((row, value), (3, 0.0)),
            other => panic!("{other}"),
        }
        assert!(error_names_three_classes(Family::Logistic.check_labels([0.0, -1.0])));
        // Other families keep every value they take.
        assert!(Family::Gaussian.check_labels([-1.0, 0.0, 1.0]).is_ok());
        assert!(Family::Hinge.check_labels([-1.0, 0.0, 1.0]).is_ok());
    }

    fn error_names_three_classes(result: Result<()>) -> bool {
        result.is_err_and(|e| e.to_string().contains("three classes"))
    }

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
