//! Nesterov extrapolation ([`crate::Acceleration::Nesterov`]), as in the paper:
//! v = θₖ + μₖ(θₖ − θₖ₋₁) with μₖ = k/(k+3), then θₖ₊₁ = EM(v). Faster than plain EM, but F
//! may go up (see `restart.rs` for the monotone form).

use super::{Iterate, Run, Step, StepScheme};
use crate::backend::{Backend, Needs};
use crate::error::Result;

/// The Nesterov step and its counter k.
pub(super) struct Nesterov {
    k: usize,
    /// The extrapolated point v.
    v: Vec<f64>,
}

impl Nesterov {
    pub(super) fn new(dim: usize) -> Self {
        Self { k: 0, v: vec![0.0; dim] }
    }
}

/// μₖ = k/(k+3).
pub(super) fn momentum(k: usize) -> f64 {
    k as f64 / (k as f64 + 3.0)
}

/// Sets `v` to the point an accelerated step starts from: θₖ + μ(θₖ − θₖ₋₁) with the
/// statistics there in `it.stats` when μ > 0, else θₖ with its statistics (computed only when
/// `it.stats` are not already those at θₖ). ℓ₁ zeros stay zero (EM could not leave them).
pub(super) fn extrapolate(
    run: &Run<'_>,
    backend: &mut dyn Backend,
    it: &mut Iterate,
    mu: f64,
    v: &mut [f64],
) -> Result<()> {
    if mu > 0.0 {
        for (j, v) in v.iter_mut().enumerate() {
            let (theta, prev) = (it.theta[j], it.prev[j]);
            let absorbed = run.penalty.lasso[j] > 0.0 && theta == 0.0;
            *v = if absorbed { 0.0 } else { theta + mu * (theta - prev) };
        }
        backend.evaluate(v, Needs::GradientAndGram, &mut it.stats)?;
        it.stats_at_theta = false;
    } else {
        v.copy_from_slice(&it.theta);
        run.stats_at_theta(backend, it, Needs::GradientAndGram)?;
    }
    Ok(())
}

impl StepScheme for Nesterov {
    fn step(&mut self, run: &Run<'_>, backend: &mut dyn Backend, it: &mut Iterate) -> Result<Step> {
        extrapolate(run, backend, it, momentum(self.k), &mut self.v)?;
        run.em_step(&mut it.mstep, &self.v, &it.stats, &mut it.next, it.iteration)?;
        // The next step evaluates S at its own extrapolated point: the gradient is enough here.
        let (objective, noise) = run.probe(backend, it, Needs::Gradient)?;
        self.k += 1;
        Ok(Step { objective, noise, probe_has_gram: false, extra_m_steps: 0, discarded: 0 })
    }

    fn reset(&mut self) {
        self.k = 0;
    }
}
