//! The exact ℓ₁ M-step ([`crate::Acceleration::ProximalNewton`],
//! [`crate::Acceleration::ProximalEm`]; docs/sm-em.md §7): the E-step's gradient and curvature
//! A at θₖ define the quadratic model of the loss, and the M-step minimizes it plus the penalty
//! itself — |θⱼ| exactly, not its scale mixture — by coordinate descent on the d × d matrix
//! ([`super::coordinate`]). Zeros are exact and a coefficient enters or leaves in one step,
//! where EM with the ℓ₁ mixture approaches zero geometrically.
//!
//! - With A = S (the EM curvature, a global majorizer of the loss) the step is MM: F never rises.
//! - With A = H (the Hessian) it is proximal Newton (glmnet's IRLS-CD): quadratic near the
//!   optimum, but F may rise far from it. A rise is met by backtracking along the step
//!   (θₖ + t(θ⁺ − θₖ), t = ½, ¼, …, each a loss evaluation; the penalty is convex, so a short
//!   enough step lowers F), and if that fails, by the MM step with S.
//!
//! The inner tolerance follows the outer progress: a coordinate stops moving when its gradient
//! changes by less than [`INNER_FRACTION`] of the current KKT violation (floored at a fraction
//! of the target), so early steps take few sweeps and the last ones solve the model exactly.

use super::coordinate::CoordinateDescent;
use super::{F_ROUNDINGS, Iterate, Run, Step, StepScheme, check_finite};
use crate::backend::{Backend, Needs};
use crate::error::Result;

/// The inner solve stops when no coordinate moves its gradient by more than this fraction of
/// the KKT violation at θₖ.
const INNER_FRACTION: f64 = 1e-3;
/// ... and never asks for less than this fraction of the KKT target.
const INNER_TARGET_FRACTION: f64 = 1e-2;
/// Halvings of a proximal Newton step before falling back to the MM step.
const MAX_HALVINGS: usize = 12;

/// The curvature of the quadratic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curvature {
    /// The EM matrix S: an MM step.
    Em,
    /// The Hessian H: a proximal Newton step, safeguarded.
    Hessian,
}

impl Curvature {
    fn needs(self) -> Needs {
        match self {
            Curvature::Em => Needs::GradientAndGram,
            Curvature::Hessian => Needs::GradientAndHessian,
        }
    }
}

/// The exact ℓ₁ M-step with its inner solver's buffers.
pub(super) struct Proximal {
    curvature: Curvature,
    inner: CoordinateDescent,
}

impl Proximal {
    pub(super) fn new(curvature: Curvature, dim: usize) -> Self {
        Self { curvature, inner: CoordinateDescent::new(dim) }
    }

    /// θ⁺ = argmin Q from θₖ with the curvature in `it.stats`, into `it.next`.
    fn solve_model(&mut self, run: &Run<'_>, it: &mut Iterate) -> Result<()> {
        let tolerance = (INNER_FRACTION * it.kkt).max(INNER_TARGET_FRACTION * it.kkt_target);
        it.next.copy_from_slice(&it.theta);
        let sweeps = self.inner.minimize(
            &it.stats.gram,
            &it.stats.gradient,
            &it.theta,
            run.penalty,
            &mut it.next,
            tolerance,
        );
        if !sweeps.settled {
            log::debug!(
                "iteration {}: the coordinate descent did not settle in {} sweeps",
                it.iteration,
                sweeps.work
            );
        }
        if let Some(j) = it.next.iter().position(|t| !t.is_finite()) {
            return check_finite(it.next[j], it.iteration, &format!("coefficient {j}"));
        }
        Ok(())
    }
}

impl StepScheme for Proximal {
    fn needs_at_theta(&self) -> Needs {
        self.curvature.needs()
    }

    fn step(&mut self, run: &Run<'_>, backend: &mut dyn Backend, it: &mut Iterate) -> Result<Step> {
        let needs = self.curvature.needs();
        run.stats_at_theta(backend, it, needs)?;
        self.solve_model(run, it)?;
        // The candidate's loss and gradient only: the curvature there is computed when the
        // next step needs it, so the last iteration of a solve (the one that finds it has
        // converged) costs O(n·d), not O(n·d²).
        let (f, noise) = run.probe(backend, it, Needs::Gradient)?;
        let accept = |it: &Iterate, f: f64, noise: f64| {
            f <= it.f + it.f_noise + noise + F_ROUNDINGS * f64::EPSILON * it.f.abs()
        };
        let step = |objective, noise, discarded| Step {
            objective,
            noise,
            probe_has_gram: false,
            extra_m_steps: 0,
            discarded,
        };
        if self.curvature == Curvature::Em || accept(it, f, noise) {
            return Ok(step(f, noise, 0));
        }
        // Proximal Newton raised F: backtrack along the step (with no MM step to fall back on,
        // as for Poisson, as far as θ's rounding, and no step where none lowers F).
        let halvings = if run.majorizes { MAX_HALVINGS } else { super::MAX_BACKTRACKS };
        if let Some((f, noise)) = run.backtrack(backend, it, Needs::Gradient, halvings)? {
            return Ok(step(f, noise, 1));
        }
        if !run.majorizes {
            let (f, noise) = run.stay(backend, it, Needs::Gradient)?;
            return Ok(step(f, noise, 1));
        }
        // The MM step with S never raises F.
        log::debug!("iteration {}: proximal Newton step replaced by the MM step", it.iteration);
        backend.evaluate(&it.theta, Needs::GradientAndGram, &mut it.stats)?;
        self.solve_model(run, it)?;
        let (f, noise) = run.probe(backend, it, Needs::Gradient)?;
        Ok(step(f, noise, 1))
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::DMatrix;

    use super::super::{Acceleration, Run, SolverOptions, Termination};
    use crate::backend::{Backend, BackendInfo, Needs, Stats};
    use crate::data::Problem;
    use crate::error::{Error, Result};
    use crate::family::Family;
    use crate::penalty::PenaltyTerms;

    /// One coordinate with the pseudo-Huber loss L(θ) = √(1 + (θ − 3)²): convex, its Hessian
    /// (1 + u²)^(−3/2) vanishes far from the minimum, so a Newton step from θ = 40 lands far
    /// on the other side (F rises), while its scale-mixture curvature 1/√(1 + u²) majorizes it.
    struct PseudoHuber {
        evaluations: usize,
    }

    impl Backend for PseudoHuber {
        fn dim(&self) -> usize {
            1
        }

        fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
            self.evaluations += 1;
            let u = theta[0] - 3.0;
            let root = (1.0 + u * u).sqrt();
            out.loss = root;
            out.gradient[0] = u / root;
            out.gram[(0, 0)] = match needs {
                Needs::GradientAndHessian => 1.0 / (root * root * root),
                _ => 1.0 / root,
            };
            Ok(())
        }

        fn loss(&mut self, theta: &[f64]) -> Result<f64> {
            Ok((1.0 + (theta[0] - 3.0).powi(2)).sqrt())
        }

        fn info(&self) -> BackendInfo {
            BackendInfo { kind: "test", device: "pseudo-Huber".into() }
        }

        fn exact(&self) -> bool {
            true
        }

        fn set_rows(&mut self, _: &Problem<'_>) -> Result<()> {
            Err(Error::Backend { backend: "test".into(), reason: "not a data backend".into() })
        }

        fn gram_with_weights(&mut self, _: &[f64], _: &mut DMatrix<f64>) -> Result<()> {
            Err(Error::Backend { backend: "test".into(), reason: "not a data backend".into() })
        }
    }

    /// The raw proximal Newton step from θ = 40 would raise F (checked here from the loss);
    /// the safeguard discards it, every accepted step lowers F, and the fit reaches the
    /// soft-thresholded optimum: θ* solves u/√(1 + u²) + λ = 0, u = θ* − 3.
    #[test]
    fn the_proximal_newton_safeguard_catches_a_step_that_raises_f() {
        let lambda = 0.5;
        let penalty = PenaltyTerms { ridge: vec![0.0], lasso: vec![lambda], exponent: 1.0 };
        let start = 40.0;
        let (u, root) = (start - 3.0, (1.0 + 37.0_f64 * 37.0).sqrt());
        let raw = start - (u / root + lambda) * root.powi(3); // the unguarded Newton step
        let f = |t: f64| (1.0 + (t - 3.0).powi(2)).sqrt() + lambda * t.abs();
        assert!(f(raw) > f(start), "the case must make the raw step raise F");

        let options = SolverOptions {
            acceleration: Acceleration::ProximalNewton,
            ..SolverOptions::default()
        };
        let run = Run::new(Family::Logistic, &penalty, options, None, &[0.0], None);
        let mut backend = PseudoHuber { evaluations: 0 };
        let solution = run.solve(&mut backend, vec![start]).unwrap();
        assert!(solution.restarts > 0, "no step was discarded");
        for w in solution.trace.windows(2) {
            assert!(w[1] <= w[0] * (1.0 + 1e-15), "F rose: {} -> {}", w[0], w[1]);
        }
        assert_eq!(solution.termination, Termination::Converged);
        let u = -lambda / (1.0 - lambda * lambda).sqrt();
        assert!((solution.theta[0] - (3.0 + u)).abs() <= 1e-9, "{:?}", solution.theta);
    }
}
