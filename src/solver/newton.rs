//! Newton curvature with an EM safeguard ([`crate::Acceleration::Newton`]): the M-step with the
//! loss's exact curvature ℓ'' (the Hessian H) in place of ω̂ (S); a step that raises F is
//! replaced by the EM step from the same point. Monotone, and quadratic near the optimum of
//! smooth losses.

use super::{Iterate, Run, Step, StepScheme};
use crate::backend::{Backend, Needs};
use crate::error::Result;

/// The safeguarded Newton step.
pub(super) struct Newton;

impl StepScheme for Newton {
    fn needs_at_theta(&self) -> Needs {
        Needs::GradientAndHessian
    }

    fn step(&mut self, run: &Run<'_>, backend: &mut dyn Backend, it: &mut Iterate) -> Result<Step> {
        run.stats_at_theta(backend, it, Needs::GradientAndHessian)?;
        if run.em_step(&mut it.mstep, &it.theta, &it.stats, &mut it.next, it.iteration).is_err() {
            // An indefinite Hessian (Student-t's ℓ'' < 0 at residuals beyond √ν σ, which can
            // outweigh every other row's curvature) has no Newton step: the EM step from θₖ
            // instead, whose S is positive semi-definite.
            backend.evaluate(&it.theta, Needs::GradientAndGram, &mut it.stats)?;
            run.em_step(&mut it.mstep, &it.theta, &it.stats, &mut it.next, it.iteration)?;
        }
        if it.in_slow_tail() {
            // `it.stats.gram` holds H: its diagonal is the coordinate's exact curvature.
            run.coordinate_zero_test(&it.theta, &it.stats, &mut it.next);
        }
        let (f, noise) = run.probe(backend, it, Needs::GradientAndHessian)?;
        let (objective, noise, discarded) =
            run.safeguard(backend, it, Needs::GradientAndHessian, f, noise)?;
        Ok(Step {
            objective,
            noise,
            probe_has_gram: true,
            extra_m_steps: 0,
            discarded: usize::from(discarded),
        })
    }
}
