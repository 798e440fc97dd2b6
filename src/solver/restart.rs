//! Nesterov with function-value restart ([`crate::Acceleration::Restart`]; O'Donoghue &
//! Candès, 2015): the Nesterov step, discarded for the plain EM step from θₖ whenever it
//! raised F, which also resets k. As fast as Nesterov and monotone again.

use super::nesterov::{extrapolate, momentum};
use super::{Iterate, Run, Step, StepScheme};
use crate::backend::{Backend, Needs};
use crate::error::Result;

/// The restarted Nesterov step and its counter k.
pub(super) struct Restart {
    k: usize,
    /// The extrapolated point v.
    v: Vec<f64>,
}

impl Restart {
    pub(super) fn new(dim: usize) -> Self {
        Self { k: 0, v: vec![0.0; dim] }
    }
}

impl StepScheme for Restart {
    fn step(&mut self, run: &Run<'_>, backend: &mut dyn Backend, it: &mut Iterate) -> Result<Step> {
        let mu = momentum(self.k);
        extrapolate(run, backend, it, mu, &mut self.v)?;
        run.em_step(&mut it.mstep, &self.v, &it.stats, &mut it.next, it.iteration)?;
        // The F check below guards the zero test too.
        if it.in_slow_tail() {
            run.coordinate_zero_test(&self.v, &it.stats, &mut it.next);
        }
        let (f, noise) = run.probe(backend, it, Needs::Gradient)?;
        // From θₖ (μ = 0) the step is plain EM already: nothing to guard.
        let (objective, noise, discarded) = if mu > 0.0 {
            run.safeguard(backend, it, Needs::GradientAndGram, f, noise)?
        } else {
            (f, noise, false)
        };
        self.k = if discarded { 0 } else { self.k + 1 };
        Ok(Step {
            objective,
            noise,
            // The fallback evaluated S at θₖ₊₁; an accepted extrapolated step did not.
            probe_has_gram: discarded,
            extra_m_steps: 0,
            discarded: usize::from(discarded),
        })
    }

    fn reset(&mut self) {
        self.k = 0;
    }
}
