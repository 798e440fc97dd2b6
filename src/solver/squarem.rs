//! SQUAREM ([`crate::Acceleration::Squarem`]; Varadhan & Roland, 2008, scheme S3): two EM steps
//! θ₁ = EM(θ), θ₂ = EM(θ₁), then one EM step from the extrapolation θ − 2αr + α²v
//! (r = θ₁ − θ, v = θ₂ − 2θ₁ + θ, α = −‖r‖/‖v‖, at most −1), kept only if its F is no larger
//! than F(θ₂): monotone, for every family. A cycle counts as three iterations (three M-steps).

use super::{Iterate, Run, Step, StepScheme, check_finite};
use crate::backend::{Backend, Needs, Stats};
use crate::error::Result;

/// SQUAREM's points and statistics, allocated once per run (and only for SQUAREM runs).
pub(super) struct Squarem {
    theta1: Vec<f64>,
    theta2: Vec<f64>,
    extrapolated: Vec<f64>,
    stats1: Stats,
    stats2: Stats,
    stats_extrapolated: Stats,
}

impl Squarem {
    /// SQUAREM for `dim` coordinates (`with_gram`: its statistics hold S).
    pub(super) fn new(dim: usize, with_gram: bool) -> Self {
        Self {
            theta1: vec![0.0; dim],
            theta2: vec![0.0; dim],
            extrapolated: vec![0.0; dim],
            stats1: Stats::sized(dim, with_gram),
            stats2: Stats::sized(dim, with_gram),
            stats_extrapolated: Stats::sized(dim, with_gram),
        }
    }
}

impl StepScheme for Squarem {
    /// One cycle from θ; the accepted point lands in `it.next` with its statistics (with S) in
    /// `it.probe`. In the slow tail the extrapolated step also takes the coordinate zero test
    /// (its F check guards it like the others).
    fn step(&mut self, run: &Run<'_>, backend: &mut dyn Backend, it: &mut Iterate) -> Result<Step> {
        run.stats_at_theta(backend, it, Needs::GradientAndGram)?;
        let zero_test = it.in_slow_tail();
        let theta = &it.theta;
        run.em_step(&mut it.mstep, theta, &it.stats, &mut self.theta1, it.iteration)?;
        backend.evaluate(&self.theta1, Needs::GradientAndGram, &mut self.stats1)?;
        run.em_step(&mut it.mstep, &self.theta1, &self.stats1, &mut self.theta2, it.iteration)?;
        backend.evaluate(&self.theta2, Needs::GradientAndGram, &mut self.stats2)?;
        let f2 = run.objective(self.stats2.loss, &self.theta2);
        check_finite(f2, it.iteration, "objective")?;
        // r = θ₁ − θ and v = θ₂ − 2θ₁ + θ, coordinate by coordinate.
        let (mut rr, mut vv) = (0.0, 0.0);
        for (j, &t) in theta.iter().enumerate() {
            let (r, v) = (self.theta1[j] - t, self.theta2[j] - 2.0 * self.theta1[j] + t);
            rr += r * r;
            vv += v * v;
        }
        let at_theta2 = |sq: &mut Squarem, it: &mut Iterate| {
            it.next.copy_from_slice(&sq.theta2);
            std::mem::swap(&mut it.probe, &mut sq.stats2);
            Step {
                objective: f2,
                noise: it.probe.loss_error,
                probe_has_gram: true,
                extra_m_steps: 2,
                discarded: 1,
            }
        };
        if rr == 0.0 || vv == 0.0 {
            return Ok(at_theta2(self, it));
        }
        // α ≤ −1: α = −1 is θ₂ itself, so the extrapolation never falls short of two EM steps.
        let alpha = (-(rr / vv).sqrt()).min(-1.0);
        for (j, (e, &t)) in self.extrapolated.iter_mut().zip(theta).enumerate() {
            let (r, v) = (self.theta1[j] - t, self.theta2[j] - 2.0 * self.theta1[j] + t);
            // ℓ₁ zeros that EM reached stay zero (EM cannot leave them either).
            let zero = run.penalty.lasso[j] > 0.0 && self.theta2[j] == 0.0;
            *e = if zero { 0.0 } else { t - 2.0 * alpha * r + alpha * alpha * v };
        }
        backend.evaluate(
            &self.extrapolated,
            Needs::GradientAndGram,
            &mut self.stats_extrapolated,
        )?;
        let stepped = run.em_step(
            &mut it.mstep,
            &self.extrapolated,
            &self.stats_extrapolated,
            &mut it.next,
            it.iteration,
        );
        if stepped.is_err() {
            // A wild extrapolation (e.g. far outside the data's range) is simply not taken.
            return Ok(at_theta2(self, it));
        }
        if zero_test {
            run.coordinate_zero_test(&self.extrapolated, &self.stats_extrapolated, &mut it.next);
        }
        backend.evaluate(&it.next, Needs::GradientAndGram, &mut it.probe)?;
        let f = run.objective(it.probe.loss, &it.next);
        let noise = it.probe.loss_error + self.stats2.loss_error;
        if f.is_finite() && f <= f2 + noise {
            Ok(Step {
                objective: f,
                noise: it.probe.loss_error,
                probe_has_gram: true,
                extra_m_steps: 2,
                discarded: 0,
            })
        } else {
            Ok(at_theta2(self, it))
        }
    }
}
