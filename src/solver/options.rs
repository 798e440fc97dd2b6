//! What a user chooses for the solver ([`Acceleration`], [`SolverOptions`]), why a run stopped
//! ([`Termination`]), and the one place where [`Acceleration::Auto`] becomes a [`Scheme`].

use crate::family::Family;
use crate::penalty::PenaltyTerms;

/// How EM iterations are accelerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Acceleration {
    /// The scheme measured fastest for the family and penalty (BENCHMARKS.md, "Choosing the
    /// default"): [`Acceleration::Restart`] for hinge and quantile; for the smooth losses, with
    /// an ℓ₁ or elastic-net penalty the exact ℓ₁ M-step ([`Acceleration::ProximalNewton`] for
    /// logistic, binomial and gaussian, [`Acceleration::ProximalEm`] for Student-t), with a
    /// bridge penalty [`Acceleration::Squarem`], otherwise [`Acceleration::Newton`]. Hinge and
    /// quantile ridges fitted without the d × d matrices (wide or sparse designs) start from
    /// coordinate descent on their dual and end on the exact solve of their kink rows from
    /// there where it settles, with SM-EM's run only where it does not. The default.
    #[default]
    Auto,
    /// Plain EM: F never increases, linear convergence.
    None,
    /// Nesterov extrapolation with μₖ = k/(k+3), as in the paper: faster, but F may go up.
    Nesterov,
    /// Nesterov with function-value restart: as fast as Nesterov and monotone again.
    Restart,
    /// Newton curvature with an EM safeguard: the M-step uses the loss's exact curvature ℓ''
    /// (σ(η)(1 − σ(η)) for logistic) in place of ω̂; a step that raises F is replaced by the EM
    /// step from the same point. Monotone, and quadratic near the optimum of smooth losses.
    Newton,
    /// SQUAREM (Varadhan & Roland, 2008; scheme S3): two EM steps θ₁ = EM(θ), θ₂ = EM(θ₁),
    /// then one EM step from the extrapolation θ − 2αr + α²v (r = θ₁ − θ, v = θ₂ − 2θ₁ + θ,
    /// α = −‖r‖/‖v‖, at most −1), kept only if its F is no larger than F(θ₂): monotone, for every
    /// family. Each cycle counts as three iterations (three M-steps).
    Squarem,
    /// The exact ℓ₁ M-step with Newton curvature (proximal Newton, glmnet's IRLS-CD): the
    /// quadratic model with the Hessian plus the exact penalty, minimized by coordinate descent;
    /// a step that raises F is shortened, or replaced by the MM step. For ℓ₁ and elastic-net
    /// penalties (otherwise it is [`Acceleration::Newton`]); for families whose Hessian is not
    /// a safe curvature it is [`Acceleration::ProximalEm`] (Student-t), or
    /// [`Acceleration::Restart`] (hinge, quantile: see [`Acceleration::ProximalEm`]).
    ProximalNewton,
    /// The exact ℓ₁ M-step with the EM curvature S: the majorizer plus the exact penalty,
    /// minimized by coordinate descent. An MM step: F never rises. For ℓ₁ and elastic-net
    /// penalties (otherwise it is [`Acceleration::None`]). Hinge and quantile fits run
    /// [`Acceleration::Restart`] instead: their EM weights lock residuals at the kink as EM's
    /// ℓ₁ weights lock zeros, and only extrapolation frees them (this step alone was measured
    /// 4e-4 short of a hinge lasso optimum after a million iterations that restart reaches in
    /// 14).
    ProximalEm,
}

/// A concrete step scheme: [`Acceleration`] with `Auto` resolved. Each has its own file under
/// `src/solver/`; [`super::Run`] takes one of these, never `Auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// [`Acceleration::None`] (`em.rs`).
    Em,
    /// [`Acceleration::Nesterov`] (`nesterov.rs`).
    Nesterov,
    /// [`Acceleration::Restart`] (`restart.rs`).
    Restart,
    /// [`Acceleration::Newton`] (`newton.rs`).
    Newton,
    /// [`Acceleration::Squarem`] (`squarem.rs`).
    Squarem,
    /// [`Acceleration::ProximalNewton`] (`proximal.rs`, `coordinate.rs`).
    ProximalNewton,
    /// [`Acceleration::ProximalEm`] (`proximal.rs`, `coordinate.rs`).
    ProximalEm,
}

impl Scheme {
    /// Whether the M-step minimizes the exact ℓ₁ penalty (zeros are not absorbing).
    pub(crate) fn is_exact_l1(self) -> bool {
        matches!(self, Scheme::ProximalNewton | Scheme::ProximalEm)
    }
}

impl Acceleration {
    /// The scheme [`Acceleration::Auto`] stands for with this family and penalty; any other
    /// choice is returned as it is.
    pub fn resolve(self, family: Family, penalty: &PenaltyTerms) -> Acceleration {
        self.scheme(family, penalty).into()
    }

    /// The step scheme a run uses: the only place `Auto` is resolved.
    pub(crate) fn scheme(self, family: Family, penalty: &PenaltyTerms) -> Scheme {
        // The exact ℓ₁ M-step needs an ℓ₁ part with exponent 1 (bridge penalties keep EM's).
        let exact_l1 = penalty.is_lasso_like();
        let proximal =
            if family.has_safe_hessian() { Scheme::ProximalNewton } else { Scheme::ProximalEm };
        match self {
            // No majorizing weight (Poisson): only Newton's steps, checked on F (the other
            // schemes are refused by `Acceleration::check_for`).
            _ if !family.weight_majorizes() => {
                if exact_l1 {
                    Scheme::ProximalNewton
                } else {
                    Scheme::Newton
                }
            }
            Acceleration::Auto | Acceleration::ProximalNewton | Acceleration::ProximalEm
                if family.has_unbounded_weight() =>
            {
                Scheme::Restart
            }
            Acceleration::Auto if exact_l1 => proximal,
            Acceleration::Auto if penalty.has_lasso() => Scheme::Squarem,
            Acceleration::Auto => Scheme::Newton,
            Acceleration::None => Scheme::Em,
            Acceleration::Nesterov => Scheme::Nesterov,
            Acceleration::Restart => Scheme::Restart,
            Acceleration::Newton => Scheme::Newton,
            Acceleration::Squarem => Scheme::Squarem,
            Acceleration::ProximalNewton if exact_l1 => proximal,
            Acceleration::ProximalNewton => Scheme::Newton,
            Acceleration::ProximalEm if exact_l1 => Scheme::ProximalEm,
            Acceleration::ProximalEm => Scheme::Em,
        }
    }
}

impl Acceleration {
    /// Refuses a scheme `family` cannot run: a family whose ω̂ does not majorize its loss
    /// (Poisson) takes Newton's steps only (`auto`, `newton`, `prox-newton`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidOption`] naming the scheme and the family.
    pub(crate) fn check_for(self, family: Family) -> crate::Result<()> {
        let newton = matches!(
            self,
            Acceleration::Auto | Acceleration::Newton | Acceleration::ProximalNewton
        );
        if family.weight_majorizes() || newton {
            return Ok(());
        }
        Err(crate::Error::InvalidOption {
            name: "acceleration",
            value: self.to_string(),
            reason: "this family has no scale mixture of normals (its curvature is unbounded): \
                     its steps are Newton's (auto, newton or prox-newton)",
        })
    }
}

impl From<Scheme> for Acceleration {
    fn from(scheme: Scheme) -> Self {
        match scheme {
            Scheme::Em => Acceleration::None,
            Scheme::Nesterov => Acceleration::Nesterov,
            Scheme::Restart => Acceleration::Restart,
            Scheme::Newton => Acceleration::Newton,
            Scheme::Squarem => Acceleration::Squarem,
            Scheme::ProximalNewton => Acceleration::ProximalNewton,
            Scheme::ProximalEm => Acceleration::ProximalEm,
        }
    }
}

impl Acceleration {
    /// Every name [`Acceleration`] parses (and prints as), in the order the command line lists
    /// them.
    pub const NAMES: [&'static str; 8] =
        ["auto", "none", "nesterov", "restart", "newton", "squarem", "prox-newton", "prox-em"];
}

impl std::str::FromStr for Acceleration {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Acceleration::Auto),
            "none" => Ok(Acceleration::None),
            "nesterov" => Ok(Acceleration::Nesterov),
            "restart" => Ok(Acceleration::Restart),
            "newton" => Ok(Acceleration::Newton),
            "squarem" => Ok(Acceleration::Squarem),
            "prox-newton" => Ok(Acceleration::ProximalNewton),
            "prox-em" => Ok(Acceleration::ProximalEm),
            _ => Err(crate::Error::InvalidOption {
                name: "acceleration",
                value: s.to_owned(),
                reason: "must be one of auto, none, nesterov, restart, newton, squarem, prox-newton, \
                         prox-em",
            }),
        }
    }
}

impl std::fmt::Display for Acceleration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Acceleration::Auto => "auto",
            Acceleration::None => "none",
            Acceleration::Nesterov => "nesterov",
            Acceleration::Restart => "restart",
            Acceleration::Newton => "newton",
            Acceleration::Squarem => "squarem",
            Acceleration::ProximalNewton => "prox-newton",
            Acceleration::ProximalEm => "prox-em",
        })
    }
}

/// Why a fit stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Termination {
    /// The relative objective change and the KKT violation are both below their tolerances.
    Converged,
    /// `max_iter` iterations ran first; the result is the last iterate.
    MaxIterations,
    /// The data are separated and the penalty vanishes along the current direction: the loss
    /// tends to 0 as the coefficients are scaled up, so no finite minimizer exists. The result
    /// is a finite point that already separates the data.
    OptimumAtInfinity,
    /// The iterations stopped at the backend's rounding-error floor, but the KKT violation
    /// recomputed in f64 on the CPU is still above the tolerance (and the f64 finish could not
    /// bring it below): the result is the best the backend's precision reached, not a verified
    /// optimum. [`crate::Fit::kkt_violation`] has the f64 figure.
    Stalled,
}

impl std::fmt::Display for Termination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Termination::Converged => "converged",
            Termination::MaxIterations => "max_iter reached",
            Termination::OptimumAtInfinity => "optimum at infinity (separable data, no penalty)",
            Termination::Stalled => "stalled (the f64 KKT check failed)",
        })
    }
}

/// Solver settings (checked once, with the rest of the model, before a fit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverOptions {
    /// Acceleration scheme.
    pub acceleration: Acceleration,
    /// Iteration budget.
    pub max_iter: usize,
    /// Relative objective change |Fₖ − Fₖ₊₁| / |Fₖ₊₁| below which F is considered stalled.
    pub tol: f64,
    /// KKT violation (∞-norm of the minimum-norm subgradient of F) at which a stalled fit counts
    /// as converged, relative to ‖∇L‖∞ at the null model (floored at 1).
    pub kkt_tol: f64,
    /// ℓ₁-penalized coefficients whose contribution to η is below `zero_tol` (in units of the
    /// response scale: 1 for logistic, the RMS of y − ȳ for gaussian) are set to exact zeros.
    pub zero_tol: f64,
}

impl Default for SolverOptions {
    fn default() -> Self {
        Self {
            acceleration: Acceleration::Auto,
            max_iter: 1000,
            tol: 1e-12,
            kkt_tol: 1e-11,
            zero_tol: 1e-9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Acceleration;

    /// The command line offers `NAMES`: each must parse, and print back as itself.
    #[test]
    fn every_acceleration_name_parses_and_prints_as_itself() {
        for name in Acceleration::NAMES {
            let acceleration: Acceleration = name.parse().expect("a listed name parses");
            assert_eq!(acceleration.to_string(), name);
        }
    }
}
