//! The SM-EM loop: E-step on the backend, M-step on the CPU, a step scheme, stopping.
//!
//! One iteration (docs/sm-em.md §2–3):
//!
//! 1. the step scheme picks the point v to step from: θₖ (plain EM, Newton), or
//!    θₖ + μₖ(θₖ − θₖ₋₁) with μₖ = k/(k+3) (Nesterov, restart);
//! 2. E-step at v on the backend: loss, ∇L and S (or the Hessian for Newton);
//! 3. M-step: θₖ₊₁ = EM(v) (see [`crate::mstep`]), or with an ℓ₁ part the exact ℓ₁ M-step
//!    (`proximal.rs`: the quadratic model plus |θⱼ| itself, by coordinate descent);
//! 4. a safeguarded scheme (restart, Newton) that finds F(θₖ₊₁) > F(θₖ) discards the step and
//!    takes the plain EM step θₖ₊₁ = EM(θₖ) instead, which never increases F (O'Donoghue &
//!    Candès, 2015). SQUAREM does its own check on its extrapolated step.
//!
//! Each scheme lives in its own file behind [`StepScheme`]; this loop keeps what they share:
//! the trace, the stopping rule, ℓ₁ zeros and their KKT revival, the separation certificate.
//!
//! It stops when the relative change of F is at most `tol` *and* the KKT violation at the new
//! point is at most `kkt_tol` (relative to ‖∇L‖∞ at the null model, floored at 1);
//! when the optimum is provably at infinity; or after `max_iter` iterations.
//!
//! With a backend that computes in f32 ([`Stats::gradient_error`] and [`Stats::loss_error`]
//! non-zero), each test is floored at the backend's own rounding error: an objective change or
//! KKT violation below it is noise, not progress, and asking for less would never stop. The
//! safeguard likewise only treats an increase of F beyond that noise as an increase.

pub(crate) mod columns;
pub(crate) mod conjugate;
mod coordinate;
mod em;
pub(crate) mod kinks;
mod nesterov;
mod newton;
mod options;
mod proximal;
mod restart;
mod squarem;

use std::time::Instant;

pub(crate) use options::Scheme;
pub use options::{Acceleration, SolverOptions, Termination};

use crate::backend::{Backend, Needs, Stats};
use crate::error::{Error, Result};
use crate::mstep::MStep;
use crate::penalty::PenaltyTerms;

/// Roundings of F below which an accelerated step's rise in F is taken as rounding (see
/// [`Run::safeguard`]).
const F_ROUNDINGS: f64 = 4.0;
/// Halvings of a step that raised F, for a family without a majorizing ω̂ (2⁻⁴⁰: below that the
/// step is lost in θ's rounding).
const MAX_BACKTRACKS: usize = 40;
/// A step that moves no coordinate by more than this many ulps of θ's largest one leaves θ
/// where it was (the f64 gradient's own rounding moves it that little at an optimum).
const STILL_ULPS: f64 = 8.0;
/// Consecutive steps that leave θ where it was after which a run whose F no longer changes and
/// whose KKT target is unmet stops as [`Termination::Stalled`].
const STILL_STEPS: usize = 10;

/// Relative objective change per iteration below which the coordinate zero test runs: the slow
/// tail of ℓ₁ convergence, where the signs of the nonzero coefficients have settled.
const ZERO_TEST_BELOW: f64 = 1e-6;

/// A solver run's outcome.
#[derive(Debug, Clone)]
pub(crate) struct Solution {
    pub theta: Vec<f64>,
    pub objective: f64,
    pub iterations: usize,
    pub termination: Termination,
    pub trace: Vec<f64>,
    /// Per entry of `trace`: the iterations done and the moment it was reached.
    pub trace_marks: Vec<(usize, Instant)>,
    pub kkt_violation: f64,
    pub restarts: usize,
    pub kkt_scale: f64,
    /// The backend's rounding-error scale of ∇L at the result (0 for the CPU backend).
    pub gradient_error: f64,
    /// The statistics at the result when they include S (or H): a following solve of the same
    /// problem from this θ (the next point of a path) starts from them instead of a pass over X.
    pub final_stats: Option<Seed>,
    /// Whether the last iterations ran on the f64 finish ([`crate::backend::PolishBackend`]).
    pub polished: bool,
    /// Where the device's own iterations ended, when the f64 finish continued from there.
    pub handoff: Option<Handoff>,
}

/// The device's part of a run that the f64 finish continued: what a fit reports as
/// [`crate::Phases`] (the iterations of each part, and how far the device got alone).
#[derive(Debug, Clone)]
pub(crate) struct Handoff {
    /// θ where the device's iterations stopped (the coordinates the run solves in).
    pub theta: Vec<f64>,
    /// The device's iterations.
    pub iterations: usize,
    /// Why the device's iterations stopped.
    pub termination: Termination,
}

impl Solution {
    /// This run continued by `finish` (a second run from this one's θ, e.g. the f64 finish):
    /// `finish`'s result with both runs' iterations, restarts and traces joined, marked
    /// polished.
    pub(crate) fn continued_by(self, mut finish: Solution) -> Solution {
        finish.handoff = Some(self.handoff.clone().unwrap_or_else(|| Handoff {
            theta: self.theta.clone(),
            iterations: self.iterations,
            termination: self.termination,
        }));
        finish.iterations += self.iterations;
        finish.restarts += self.restarts;
        finish.trace = [self.trace, finish.trace[1..].to_vec()].concat();
        let offset = self.iterations;
        let later = finish.trace_marks[1..].iter().map(|&(k, t)| (k + offset, t));
        finish.trace_marks = self.trace_marks.into_iter().chain(later).collect();
        finish.polished = true;
        finish
    }
}

/// Statistics at a starting θ, and what they hold.
#[derive(Debug, Clone)]
pub(crate) struct Seed {
    pub stats: Stats,
    pub needs: Needs,
}

/// Everything fixed for one run.
pub(crate) struct Run<'p> {
    pub penalty: &'p PenaltyTerms,
    /// The step scheme (`Auto` already resolved, see [`Acceleration::scheme`]).
    pub scheme: Scheme,
    /// Budget and tolerances (`options.acceleration` is not read: `scheme` is what runs).
    pub options: SolverOptions,
    /// The KKT violation is compared to `kkt_tol * kkt_scale`; `None` takes
    /// max(1, ‖∇L‖∞) at the starting point (returned in [`Solution::kkt_scale`] so a follow-up
    /// run from the result can keep the same scale).
    pub kkt_scale: Option<f64>,
    /// Per-coordinate |θⱼ| below which an ℓ₁ coordinate is set to zero.
    pub zero_threshold: &'p [f64],
    /// Mean loss below which, with a vanishing penalty, the optimum is at infinity
    /// ([`crate::Family::separation_bound`]); `None` when no such certificate exists.
    pub separation_bound: Option<f64>,
    /// Whether the family's ω̂ majorizes its loss ([`crate::Family::weight_majorizes`]): the
    /// EM step is then the safeguard of a rejected step; otherwise (Poisson) a rejected step is
    /// backtracked along, and an objective that overflows is a rise, not an error.
    pub majorizes: bool,
    /// The M-step from the row weights, where the d × d S is not formed (a ridge of hinge or
    /// quantile on a wide or sparse design, docs/sm-em.md §9): the backend is then asked for
    /// the loss and ∇L alone, and each EM update is this solve. `None`: Cholesky of S + D.
    pub row_step: Option<&'p dyn RowWeightedStep>,
}

/// An EM M-step that solves the quadratic model from the row weights instead of the d × d
/// matrix S = XᵀCX/W (by the n × n dual or conjugate gradients,
/// [`conjugate::MatrixFree`]).
pub(crate) trait RowWeightedStep {
    /// θ⁺ minimizing the EM model at `from` (whose ∇L is `gradient`) plus the ridge, into
    /// `next`; `false` where the model could not be solved (non-finite weights).
    fn em_update(&self, from: &[f64], gradient: &[f64], next: &mut [f64]) -> bool;
}

/// One step scheme: how θₖ₊₁ is produced from the current [`Iterate`].
///
/// A step writes θₖ₊₁ into `it.next` and the statistics there into `it.probe` (at least the
/// loss and ∇L; S too when [`Step::probe_has_gram`] says so). It may overwrite `it.stats`
/// (e.g. with the statistics at an extrapolated point) as long as `it.stats_at_theta` says
/// whether they are still those at θₖ.
pub(crate) trait StepScheme {
    /// What the statistics at θ must hold for this scheme's next step (the Hessian for Newton,
    /// the EM Gram otherwise).
    fn needs_at_theta(&self) -> Needs {
        Needs::GradientAndGram
    }

    /// One step from `it.theta`.
    ///
    /// # Errors
    /// Backend failures and numerical breakdowns.
    fn step(&mut self, run: &Run<'_>, backend: &mut dyn Backend, it: &mut Iterate) -> Result<Step>;

    /// Forgets any momentum: θ was moved from outside (a KKT revival).
    fn reset(&mut self) {}
}

/// What one step produced besides θₖ₊₁.
pub(crate) struct Step {
    /// F(θₖ₊₁).
    pub objective: f64,
    /// The backend's rounding-error scale of that F.
    pub noise: f64,
    /// Whether `it.probe` holds S (or H) at θₖ₊₁, so the next step needs no new pass.
    pub probe_has_gram: bool,
    /// M-steps beyond the first that the step took (SQUAREM: 2).
    pub extra_m_steps: usize,
    /// Accelerated steps discarded for a plain EM step.
    pub discarded: usize,
}

/// The state a step reads and writes, allocated once per run.
pub(crate) struct Iterate {
    /// θₖ.
    pub theta: Vec<f64>,
    /// θₖ₋₁.
    pub prev: Vec<f64>,
    /// θₖ₊₁, written by the step.
    pub next: Vec<f64>,
    /// Statistics at the point the step starts from (θₖ when `stats_at_theta`).
    pub stats: Stats,
    /// Whether `stats` are those at θₖ, with what the scheme needs there.
    pub stats_at_theta: bool,
    /// Statistics at θₖ₊₁, written by the step.
    pub probe: Stats,
    /// F(θₖ) and its rounding-error scale.
    pub f: f64,
    pub f_noise: f64,
    /// The last relative change of F (∞ before the first step and after a revival).
    pub last_change: f64,
    /// The iteration being taken (from 1), for error messages.
    pub iteration: usize,
    /// The KKT violation at θₖ, and the one the run stops at (the exact ℓ₁ M-step sets its
    /// inner tolerance from them).
    pub kkt: f64,
    pub kkt_target: f64,
    pub mstep: MStep,
}

impl Iterate {
    /// Whether the coordinate zero test may run: the slow tail of an ℓ₁ fit.
    fn in_slow_tail(&self) -> bool {
        self.last_change < ZERO_TEST_BELOW
    }
}

impl Scheme {
    /// A fresh stepper for `dim` coordinates (`with_gram`: its statistics hold S).
    fn stepper(self, dim: usize, with_gram: bool) -> Box<dyn StepScheme> {
        match self {
            Scheme::Em => Box::new(em::PlainEm),
            Scheme::Nesterov => Box::new(nesterov::Nesterov::new(dim)),
            Scheme::Restart => Box::new(restart::Restart::new(dim)),
            Scheme::Newton => Box::new(newton::Newton),
            Scheme::Squarem => Box::new(squarem::Squarem::new(dim, with_gram)),
            Scheme::ProximalNewton => {
                Box::new(proximal::Proximal::new(proximal::Curvature::Hessian, dim))
            }
            Scheme::ProximalEm => Box::new(proximal::Proximal::new(proximal::Curvature::Em, dim)),
        }
    }
}

impl<'p> Run<'p> {
    /// The run of `penalty` for `family` with `options` (budget and tolerances): the step
    /// scheme `options.acceleration` resolves to for them ([`Acceleration::scheme`]), the one
    /// way every fit, path point and class step builds its run.
    pub(crate) fn new(
        family: crate::family::Family,
        penalty: &'p PenaltyTerms,
        options: SolverOptions,
        kkt_scale: Option<f64>,
        zero_threshold: &'p [f64],
        separation_bound: Option<f64>,
    ) -> Self {
        Run {
            penalty,
            scheme: options.acceleration.scheme(family, penalty),
            options,
            kkt_scale,
            zero_threshold,
            separation_bound,
            majorizes: family.weight_majorizes(),
            row_step: None,
        }
    }
}

impl Run<'_> {
    fn objective(&self, loss: f64, theta: &[f64]) -> f64 {
        loss + self.penalty.value(theta)
    }

    /// Sets ℓ₁ coordinates below their threshold to exact zeros.
    fn absorb_zeros(&self, theta: &mut [f64]) {
        for (j, t) in theta.iter_mut().enumerate() {
            if self.penalty.zero_is_a_kink(j) && t.abs() <= self.zero_threshold[j] {
                *t = 0.0;
            }
        }
    }

    /// Zero ℓ₁ coordinates whose gradient violates |gⱼ| ≤ lassoⱼ are moved off zero by the
    /// coordinate-wise minimizer of the quadratic model (a soft-threshold step), since EM alone
    /// can never leave zero. Returns whether any coordinate moved.
    fn revive(&self, theta: &mut [f64], stats: &Stats, target: f64) -> bool {
        let mut moved = false;
        for (j, t) in theta.iter_mut().enumerate() {
            if self.penalty.lasso[j] == 0.0 || *t != 0.0 {
                continue;
            }
            let g = stats.gradient[j];
            // How far |g| is beyond what zero can absorb (see PenaltyTerms::kkt_violation_at).
            let excess = self.penalty.kkt_violation_at(j, 0.0, g);
            if excess > target {
                let curvature = stats.gram[(j, j)] + self.penalty.ridge[j];
                let step = excess / if curvature > 0.0 { curvature } else { 1.0 };
                *t = -g.signum() * step.max(2.0 * self.zero_threshold[j]);
                log::debug!(
                    "coordinate {j} violates KKT at zero (|g| − λα = {excess:e}); re-activated"
                );
                moved = true;
            }
        }
        moved
    }

    /// Runs SM-EM from `theta`.
    pub(crate) fn solve(&self, backend: &mut dyn Backend, theta: Vec<f64>) -> Result<Solution> {
        self.solve_seeded(backend, theta, None)
    }

    /// [`Run::solve`] from `theta` where `seed` may already hold the statistics at `theta`
    /// (used when they hold what the first step needs and `theta` has no coordinate to zero).
    pub(crate) fn solve_seeded(
        &self,
        backend: &mut dyn Backend,
        theta: Vec<f64>,
        seed: Option<Seed>,
    ) -> Result<Solution> {
        let dim = theta.len();
        // Without S the backend computes the loss and ∇L alone, whatever a scheme asks for.
        let mut gradient_only;
        let backend: &mut dyn Backend = if self.row_step.is_some() {
            gradient_only = GradientOnly(backend);
            &mut gradient_only
        } else {
            backend
        };
        let with_gram = self.row_step.is_none();
        let mut scheme = self.scheme.stepper(dim, with_gram);
        let theta_needs = if with_gram { scheme.needs_at_theta() } else { Needs::Gradient };
        let mut it = Iterate {
            prev: theta.clone(),
            next: vec![0.0; dim],
            theta,
            stats: Stats::sized(dim, with_gram),
            stats_at_theta: true,
            probe: Stats::sized(dim, with_gram),
            f: 0.0,
            f_noise: 0.0,
            last_change: f64::INFINITY,
            iteration: 0,
            kkt: f64::INFINITY,
            kkt_target: 0.0,
            mstep: MStep::new(dim),
        };
        let given = it.theta.clone();
        self.absorb_zeros(&mut it.theta);
        match seed {
            Some(seed)
                if seed.needs == theta_needs
                    && it.theta == given
                    && seed.stats.gradient.len() == dim =>
            {
                it.stats = seed.stats;
            }
            _ => backend.evaluate(&it.theta, theta_needs, &mut it.stats)?,
        }
        it.f = self.objective(it.stats.loss, &it.theta);
        check_finite(it.f, 0, "initial objective")?;
        let mut trace = vec![it.f];
        let mut trace_marks = vec![(0, Instant::now())];
        let kkt_scale = self.kkt_scale.unwrap_or_else(|| it.stats.gradient.amax().max(1.0));
        let kkt_tol = self.options.kkt_tol * kkt_scale;
        // The KKT target at the current statistics: never below their rounding error.
        let kkt_target = |stats: &Stats| kkt_tol.max(stats.gradient_error.amax());
        it.f_noise = it.stats.loss_error;
        let mut kkt = self.penalty.kkt_violation(&it.theta, it.stats.gradient.as_slice());
        it.kkt = kkt;
        it.kkt_target = kkt_target(&it.stats);
        let mut restarts = 0usize;
        let mut revivals_left = 2 * dim + 10;
        let mut termination = Termination::MaxIterations;
        let mut iterations = 0;
        // Consecutive steps that left θ where it was.
        let mut still_steps = 0usize;

        while iterations < self.options.max_iter {
            iterations += 1;
            it.iteration = iterations;
            let step = scheme.step(self, backend, &mut it)?;
            iterations += step.extra_m_steps;
            restarts += step.discarded;

            it.prev.copy_from_slice(&it.theta);
            it.theta.copy_from_slice(&it.next);
            let change = ((it.f - step.objective).abs() - it.f_noise - step.noise).max(0.0)
                / step.objective.abs().max(f64::MIN_POSITIVE);
            it.last_change = change;
            it.f = step.objective;
            it.f_noise = step.noise;
            trace.push(it.f);
            trace_marks.push((iterations, Instant::now()));
            std::mem::swap(&mut it.stats, &mut it.probe);
            it.stats_at_theta = step.probe_has_gram;
            // `stats` now holds ∇L(θₖ₊₁) whatever `probe_has_gram` says; S may be stale.
            kkt = self.penalty.kkt_violation(&it.theta, it.stats.gradient.as_slice());
            it.kkt = kkt;
            it.kkt_target = kkt_target(&it.stats);
            // Whether the step left θ where it was, to a few ulps of its largest coordinate.
            let moved =
                it.theta.iter().zip(&it.prev).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let largest = it.theta.iter().fold(0.0_f64, |m, t| m.max(t.abs()));
            still_steps =
                if moved <= STILL_ULPS * f64::EPSILON * largest { still_steps + 1 } else { 0 };

            if let Some(bound) = self.separation_bound
                && it.stats.loss < bound
                && self.penalty.is_zero_at(&it.theta)
            {
                termination = Termination::OptimumAtInfinity;
                break;
            }
            if change <= self.options.tol {
                let kkt_target = kkt_target(&it.stats);
                if kkt <= kkt_target {
                    termination = Termination::Converged;
                    break;
                }
                if revivals_left > 0 && self.revive(&mut it.theta, &it.stats, kkt_target) {
                    revivals_left -= 1;
                    it.last_change = f64::INFINITY; // the re-activated coordinates must settle first
                    scheme.reset();
                    backend.evaluate(&it.theta, theta_needs, &mut it.stats)?;
                    it.stats_at_theta = true;
                    it.f = self.objective(it.stats.loss, &it.theta);
                    it.f_noise = it.stats.loss_error;
                    it.prev.copy_from_slice(&it.theta);
                    kkt = self.penalty.kkt_violation(&it.theta, it.stats.gradient.as_slice());
                    it.kkt = kkt;
                } else if still_steps >= STILL_STEPS {
                    // F no longer changes, the KKT target is unmet and the steps no longer move
                    // θ: this backend's precision has nothing more to give, and the fit has
                    // stalled (rather than spend the rest of its budget in place).
                    termination = Termination::Stalled;
                    break;
                }
            }
        }
        let gradient_error = it.stats.gradient_error.amax();
        let stats_at_theta = it.stats_at_theta;
        Ok(Solution {
            theta: it.theta,
            objective: it.f,
            iterations,
            termination,
            trace,
            trace_marks,
            kkt_violation: kkt,
            restarts,
            kkt_scale,
            gradient_error,
            final_stats: stats_at_theta.then_some(Seed { stats: it.stats, needs: theta_needs }),
            polished: false,
            handoff: None,
        })
    }

    /// Makes `it.stats` the statistics at θₖ with `needs`, unless they already are.
    fn stats_at_theta(
        &self,
        backend: &mut dyn Backend,
        it: &mut Iterate,
        needs: Needs,
    ) -> Result<()> {
        if !it.stats_at_theta {
            backend.evaluate(&it.theta, needs, &mut it.stats)?;
            it.stats_at_theta = true;
        }
        Ok(())
    }

    /// Evaluates the candidate `it.next` (with `needs`) into `it.probe`; returns F there and its
    /// rounding-error scale.
    fn probe(
        &self,
        backend: &mut dyn Backend,
        it: &mut Iterate,
        needs: Needs,
    ) -> Result<(f64, f64)> {
        backend.evaluate(&it.next, needs, &mut it.probe)?;
        let f = self.objective(it.probe.loss, &it.next);
        if !f.is_finite() && !self.majorizes {
            // e^η overflowed at the candidate: a rise, which the safeguard backtracks from.
            return Ok((f64::INFINITY, 0.0));
        }
        check_finite(f, it.iteration, "objective")?;
        Ok((f, it.probe.loss_error))
    }

    /// The safeguard of the restart and Newton schemes: a candidate whose F (`f_candidate`, with
    /// noise `noise_candidate`, in `it.probe`) rose above F(θₖ) is replaced by the EM step from
    /// θₖ, which never raises F (ω̂ majorizes the curvature), evaluated with `theta_needs`.
    /// A rise within a few roundings of F itself is not a rise: at F's resolution the
    /// accelerated step still lowers the gradient (Newton's by orders of magnitude), which the
    /// KKT test needs, while the fallback costs two passes and gains nothing.
    ///
    /// Returns the accepted F and noise, and whether the candidate was discarded.
    fn safeguard(
        &self,
        backend: &mut dyn Backend,
        it: &mut Iterate,
        theta_needs: Needs,
        f_candidate: f64,
        noise_candidate: f64,
    ) -> Result<(f64, f64, bool)> {
        let resolution = F_ROUNDINGS * f64::EPSILON * it.f.abs();
        if f_candidate <= it.f + it.f_noise + noise_candidate + resolution {
            return Ok((f_candidate, noise_candidate, false));
        }
        if !self.majorizes {
            let (f, noise) = match self.backtrack(backend, it, theta_needs, MAX_BACKTRACKS)? {
                Some(accepted) => accepted,
                None => self.stay(backend, it, theta_needs)?,
            };
            return Ok((f, noise, true));
        }
        if !it.stats_at_theta || theta_needs != Needs::GradientAndGram {
            backend.evaluate(&it.theta, Needs::GradientAndGram, &mut it.stats)?;
        }
        self.em_step(&mut it.mstep, &it.theta, &it.stats, &mut it.next, it.iteration)?;
        let (f, noise) = self.probe(backend, it, theta_needs)?;
        Ok((f, noise, true))
    }

    /// Backtracking along a step that raised F: θₖ + t(θ⁺ − θₖ) for the first of `halvings`
    /// values t = ½, ¼, … whose F does not rise (the loss convex and θ⁺ − θₖ a (proximal) Newton
    /// direction, a short enough step lowers F unless θₖ is optimal to F's rounding), evaluated
    /// with `needs` into `it.probe`: F and its noise there, or `None` (`it.next` at the shortest
    /// step tried).
    pub(super) fn backtrack(
        &self,
        backend: &mut dyn Backend,
        it: &mut Iterate,
        needs: Needs,
        halvings: usize,
    ) -> Result<Option<(f64, f64)>> {
        let resolution = F_ROUNDINGS * f64::EPSILON * it.f.abs();
        let direction: Vec<f64> = it.next.iter().zip(&it.theta).map(|(n, t)| n - t).collect();
        let mut t = 1.0;
        for _ in 0..halvings {
            t *= 0.5;
            for ((next, theta), d) in it.next.iter_mut().zip(&it.theta).zip(&direction) {
                *next = theta + t * d;
            }
            let f = backend.loss(&it.next)? + self.penalty.value(&it.next);
            if f.is_finite() && f <= it.f + it.f_noise + resolution {
                return self.probe(backend, it, needs).map(Some);
            }
        }
        Ok(None)
    }

    /// No step: θₖ₊₁ = θₖ (F unchanged), evaluated with `needs` into `it.probe`. For a family
    /// without a majorizing ω̂ where no step along the Newton direction lowers F.
    pub(super) fn stay(
        &self,
        backend: &mut dyn Backend,
        it: &mut Iterate,
        needs: Needs,
    ) -> Result<(f64, f64)> {
        log::debug!("iteration {}: no step along the Newton direction lowers F", it.iteration);
        it.next.copy_from_slice(&it.theta);
        self.probe(backend, it, needs)
    }

    /// Sets to zero every ℓ₁ coordinate that EM is shrinking and whose one-dimensional
    /// quadratic model at v (curvature Sⱼⱼ + ridgeⱼ, which majorizes F along the coordinate) is
    /// minimized at 0: |Sⱼⱼvⱼ − gⱼ| ≤ lassoⱼ. EM alone only approaches such zeros geometrically,
    /// at a rate that tends to 1 as |gⱼ| nears lassoⱼ (thousands of iterations where a
    /// coefficient leaves the model). At the optimum the test holds for the zero coordinates and
    /// fails for the nonzero ones (|Sⱼⱼβⱼ − gⱼ| = (Sⱼⱼ + ridgeⱼ)|βⱼ| + lassoⱼ there), so the fixed
    /// point is EM's; schemes apply it only in the slow tail (see `ZERO_TEST_BELOW`) and only
    /// where a function-value check guards the step, and a zero set too early is re-activated
    /// by the final KKT check.
    fn coordinate_zero_test(&self, v: &[f64], stats: &Stats, next: &mut [f64]) {
        if self.penalty.exponent != 1.0 {
            return;
        }
        for (j, t) in next.iter_mut().enumerate() {
            let lasso = self.penalty.lasso[j];
            let shrinking = *t != 0.0 && t.signum() == v[j].signum() && t.abs() < v[j].abs();
            if lasso > 0.0 && shrinking {
                let z = stats.gram[(j, j)] * v[j] - stats.gradient[j];
                if z.abs() <= lasso {
                    *t = 0.0;
                }
            }
        }
    }

    /// The EM (or, with H in `stats.gram`, Newton) update from `from` into `next`, with ℓ₁ zeros
    /// absorbed.
    fn em_step(
        &self,
        mstep: &mut MStep,
        from: &[f64],
        stats: &Stats,
        next: &mut [f64],
        iteration: usize,
    ) -> Result<()> {
        if let Some(step) = self.row_step {
            if !step.em_update(from, stats.gradient.as_slice(), next) {
                return Err(Error::Numerical {
                    iteration,
                    reason: "the M-step's row weights are not finite".into(),
                });
            }
        } else if !mstep.update(from, &stats.gradient, &stats.gram, self.penalty, next) {
            return Err(Error::Numerical {
                iteration,
                reason: "the M-step matrix is not positive definite even after diagonal loading"
                    .into(),
            });
        }
        if let Some(j) = next.iter().position(|t| !t.is_finite()) {
            return Err(Error::Numerical {
                iteration,
                reason: format!("coefficient {j} is not finite"),
            });
        }
        self.absorb_zeros(next);
        Ok(())
    }
}

/// A backend asked for the loss and ∇L alone whatever the scheme needs: the statistics of a
/// run whose M-step works from the row weights ([`Run::row_step`]) never hold S.
struct GradientOnly<'b>(&'b mut dyn Backend);

impl Backend for GradientOnly<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn evaluate(&mut self, theta: &[f64], _needs: Needs, out: &mut Stats) -> Result<()> {
        self.0.evaluate(theta, Needs::Gradient, out)
    }

    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.0.loss(theta)
    }

    fn info(&self) -> crate::backend::BackendInfo {
        self.0.info()
    }

    fn exact(&self) -> bool {
        self.0.exact()
    }

    fn set_rows(&mut self, problem: &crate::data::Problem<'_>) -> Result<()> {
        self.0.set_rows(problem)
    }

    fn gram_with_weights(
        &mut self,
        weights: &[f64],
        gram: &mut nalgebra::DMatrix<f64>,
    ) -> Result<()> {
        self.0.gram_with_weights(weights, gram)
    }
}

fn check_finite(value: f64, iteration: usize, what: &str) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::Numerical { iteration, reason: format!("{what} is {value}") })
    }
}
