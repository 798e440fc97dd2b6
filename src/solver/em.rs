//! Plain EM ([`crate::Acceleration::None`]): θₖ₊₁ = EM(θₖ). F never increases (the E-step's
//! ω̂ majorizes the loss's curvature); convergence is linear.

use super::{Iterate, Run, Step, StepScheme};
use crate::backend::{Backend, Needs};
use crate::error::Result;

/// The plain EM step.
pub(super) struct PlainEm;

impl StepScheme for PlainEm {
    fn step(&mut self, run: &Run<'_>, backend: &mut dyn Backend, it: &mut Iterate) -> Result<Step> {
        run.stats_at_theta(backend, it, Needs::GradientAndGram)?;
        run.em_step(&mut it.mstep, &it.theta, &it.stats, &mut it.next, it.iteration)?;
        // The next step starts from θₖ₊₁, so it needs S there.
        let (objective, noise) = run.probe(backend, it, Needs::GradientAndGram)?;
        Ok(Step { objective, noise, probe_has_gram: true, extra_m_steps: 0, discarded: 0 })
    }
}
