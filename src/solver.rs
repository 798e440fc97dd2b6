//! The SM-EM driver: E-step on the backend, M-step on the CPU, acceleration, stopping.
//!
//! One iteration (docs/sm-em.md §2–3):
//!
//! 1. pick the point v to step from: θₖ (plain EM), or θₖ + μₖ(θₖ − θₖ₋₁) with μₖ = k/(k+3)
//!    (Nesterov);
//! 2. E-step at v on the backend: loss, ∇L and S;
//! 3. M-step: θₖ₊₁ = EM(v) (see [`crate::mstep`]);
//! 4. with [`Acceleration::Restart`], if F(θₖ₊₁) > F(θₖ), discard it, take the plain EM step
//!    θₖ₊₁ = EM(θₖ) (which never increases F) and reset k to 0 (O'Donoghue & Candès, 2015).
//!
//! [`Acceleration::Newton`] replaces ω̂ by the exact curvature in step 2 (no extrapolation) and
//! uses the same safeguard.
//!
//! It stops when the relative change of F is at most `tol` *and* the KKT violation at the new
//! point is at most `kkt_tol` (relative to ‖∇L‖∞ at the null model, floored at 1);
//! when the optimum is provably at infinity; or after `max_iter` iterations.
//!
//! With a backend that computes in f32 ([`Stats::gradient_error`] and [`Stats::loss_error`]
//! non-zero), each test is floored at the backend's own rounding error: an objective change or
//! KKT violation below it is noise, not progress, and asking for less would never stop. The
//! restart safeguard likewise only treats an increase of F beyond that noise as an increase.

use std::time::Instant;

/// Roundings of F below which an accelerated step's rise in F is taken as rounding (see the
/// safeguard in [`Run::solve_seeded`]).
const F_ROUNDINGS: f64 = 4.0;

use crate::backend::{Backend, Needs, Stats};
use crate::error::{Error, Result};
use crate::mstep::MStep;
use crate::penalty::PenaltyTerms;

/// Relative objective change per iteration below which the coordinate zero test runs: the slow
/// tail of ℓ₁ convergence, where the signs of the nonzero coefficients have settled.
const ZERO_TEST_BELOW: f64 = 1e-6;

/// How EM iterations are accelerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acceleration {
    /// The scheme measured fastest for the family and penalty (BENCHMARKS.md, "Choosing the
    /// default"): [`Acceleration::Newton`] for smooth losses (logistic, binomial, multinomial,
    /// gaussian, Student-t) with ridge or no penalty, [`Acceleration::Squarem`] for smooth
    /// losses with an ℓ₁ or bridge part, [`Acceleration::Restart`] for hinge and quantile.
    /// The default.
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
}

/// Why a fit stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// The relative objective change and the KKT violation are both below their tolerances.
    Converged,
    /// `max_iter` iterations ran first; the result is the last iterate.
    MaxIterations,
    /// The data are separated and the penalty vanishes along the current direction: the loss
    /// tends to 0 as the coefficients are scaled up, so no finite minimizer exists. The result
    /// is a finite point that already separates the data.
    OptimumAtInfinity,
}

impl Acceleration {
    /// The scheme [`Acceleration::Auto`] stands for with this family and penalty; any other
    /// choice is returned as it is.
    pub fn resolve(self, family: crate::Family, penalty: &PenaltyTerms) -> Acceleration {
        if self != Acceleration::Auto {
            return self;
        }
        if family.has_unbounded_weight() {
            Acceleration::Restart
        } else if penalty.has_lasso() {
            Acceleration::Squarem
        } else {
            Acceleration::Newton
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
        })
    }
}

impl std::fmt::Display for Termination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Termination::Converged => "converged",
            Termination::MaxIterations => "max_iter reached",
            Termination::OptimumAtInfinity => "optimum at infinity (separable data, no penalty)",
        })
    }
}

/// Solver settings (checked by [`crate::Glm`] before a fit).
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

    /// Runs SM-EM from `theta` (an unresolved [`Acceleration::Auto`] runs as
    /// [`Acceleration::Restart`]; callers resolve it with the family first).
    pub(crate) fn solve(&self, backend: &mut dyn Backend, theta: Vec<f64>) -> Result<Solution> {
        self.solve_seeded(backend, theta, None)
    }

    /// [`Run::solve`] from `theta` where `seed` may already hold the statistics at `theta`
    /// (used when they hold what the first step needs and `theta` has no coordinate to zero).
    pub(crate) fn solve_seeded(
        &self,
        backend: &mut dyn Backend,
        mut theta: Vec<f64>,
        seed: Option<Seed>,
    ) -> Result<Solution> {
        let dim = theta.len();
        let mut opts = self.options;
        if opts.acceleration == Acceleration::Auto {
            opts.acceleration = Acceleration::Restart;
        }
        let mut mstep = MStep::new(dim);
        let mut stats = Stats::new(dim); // statistics at the point the next M-step starts from
        let mut probe = Stats::new(dim); // statistics at the candidate θₖ₊₁
        let mut sq = Squarem::new(dim);
        let mut prev = theta.clone();
        let mut next = vec![0.0; dim];
        let mut v = vec![0.0; dim];

        // What the next step needs at θ: the Hessian for Newton, the EM Gram otherwise.
        let theta_needs = match opts.acceleration {
            Acceleration::Newton => Needs::GradientAndHessian,
            _ => Needs::GradientAndGram,
        };
        let given = theta.clone();
        self.absorb_zeros(&mut theta);
        match seed {
            Some(seed)
                if seed.needs == theta_needs
                    && theta == given
                    && seed.stats.gradient.len() == dim =>
            {
                stats = seed.stats;
            }
            _ => backend.evaluate(&theta, theta_needs, &mut stats)?,
        }
        let mut stats_at_theta = true;
        let mut f = self.objective(stats.loss, &theta);
        check_finite(f, 0, "initial objective")?;
        let mut trace = vec![f];
        let mut trace_marks = vec![(0, Instant::now())];
        let kkt_scale = self.kkt_scale.unwrap_or_else(|| stats.gradient.amax().max(1.0));
        let kkt_tol = opts.kkt_tol * kkt_scale;
        // The KKT target at the current statistics: never below their rounding error.
        let kkt_target = |stats: &Stats| kkt_tol.max(stats.gradient_error.amax());
        let mut f_noise = stats.loss_error;
        let mut kkt = self.penalty.kkt_violation(&theta, stats.gradient.as_slice());
        let mut k = 0usize; // Nesterov counter, reset by restarts
        // Steps that a function-value check guards may take the coordinate zero test (below);
        // the fallback EM step never does, so F still never increases.
        let safeguarded_scheme =
            matches!(opts.acceleration, Acceleration::Restart | Acceleration::Newton);
        let mut last_change = f64::INFINITY;
        let mut restarts = 0usize;
        let mut revivals_left = 2 * dim + 10;
        let mut termination = Termination::MaxIterations;
        let mut iterations = 0;

        while iterations < opts.max_iter {
            iterations += 1;
            let (f_next, f_next_noise, probe_has_gram);
            if opts.acceleration == Acceleration::Squarem {
                if !stats_at_theta {
                    backend.evaluate(&theta, Needs::GradientAndGram, &mut stats)?;
                }
                let zero_test = last_change < ZERO_TEST_BELOW;
                let squarem = self.squarem_step(
                    backend, &mut mstep, &theta, &stats, &mut sq, iterations, zero_test,
                )?;
                iterations += 2; // three M-steps per cycle
                restarts += usize::from(!squarem.extrapolated);
                next.copy_from_slice(&sq.result);
                std::mem::swap(&mut probe, &mut sq.result_stats);
                f_next = squarem.objective;
                f_next_noise = probe.loss_error;
                probe_has_gram = true;
            } else {
                let mu = match opts.acceleration {
                    Acceleration::None | Acceleration::Newton | Acceleration::Squarem => 0.0,
                    Acceleration::Nesterov | Acceleration::Restart | Acceleration::Auto => {
                        k as f64 / (k as f64 + 3.0)
                    }
                };
                if mu > 0.0 {
                    for j in 0..dim {
                        let absorbed = self.penalty.lasso[j] > 0.0 && theta[j] == 0.0;
                        v[j] = if absorbed { 0.0 } else { theta[j] + mu * (theta[j] - prev[j]) };
                    }
                    backend.evaluate(&v, Needs::GradientAndGram, &mut stats)?;
                    stats_at_theta = false;
                } else {
                    v.copy_from_slice(&theta);
                    if !stats_at_theta {
                        backend.evaluate(&theta, theta_needs, &mut stats)?;
                        stats_at_theta = true;
                    }
                }
                self.em_step(&mut mstep, &v, &stats, &mut next, iterations)?;
                if safeguarded_scheme && last_change < ZERO_TEST_BELOW {
                    self.coordinate_zero_test(&v, &stats, &mut next);
                }

                // Plain EM and Newton step from θₖ₊₁ next time, so they need S (or H) there;
                // Nesterov extrapolates and evaluates S at the extrapolated point instead.
                let mut has_gram =
                    matches!(opts.acceleration, Acceleration::None | Acceleration::Newton);
                let needs = if has_gram { theta_needs } else { Needs::Gradient };
                backend.evaluate(&next, needs, &mut probe)?;
                let mut f_candidate = self.objective(probe.loss, &next);
                let mut noise_candidate = probe.loss_error;
                check_finite(f_candidate, iterations, "objective")?;

                // The safeguard: a step that raised F is replaced by the EM step from θₖ, which
                // never does (ω̂ majorizes the curvature). A rise within a few roundings of F
                // itself is not a rise: at F's resolution the accelerated step still lowers the
                // gradient (Newton's by orders of magnitude), which the KKT test needs, while
                // the fallback costs two passes and gains nothing.
                let safeguarded = match opts.acceleration {
                    Acceleration::Restart | Acceleration::Auto => mu > 0.0,
                    Acceleration::Newton => true,
                    Acceleration::None | Acceleration::Nesterov | Acceleration::Squarem => false,
                };
                let resolution = F_ROUNDINGS * f64::EPSILON * f.abs();
                if safeguarded && f_candidate > f + f_noise + noise_candidate + resolution {
                    restarts += 1;
                    if !stats_at_theta || theta_needs != Needs::GradientAndGram {
                        backend.evaluate(&theta, Needs::GradientAndGram, &mut stats)?;
                    }
                    self.em_step(&mut mstep, &theta, &stats, &mut next, iterations)?;
                    backend.evaluate(&next, theta_needs, &mut probe)?;
                    has_gram = true;
                    f_candidate = self.objective(probe.loss, &next);
                    noise_candidate = probe.loss_error;
                    check_finite(f_candidate, iterations, "objective")?;
                    k = 0;
                } else {
                    k += 1;
                }
                f_next = f_candidate;
                f_next_noise = noise_candidate;
                probe_has_gram = has_gram;
            }

            prev.copy_from_slice(&theta);
            theta.copy_from_slice(&next);
            let change = ((f - f_next).abs() - f_noise - f_next_noise).max(0.0)
                / f_next.abs().max(f64::MIN_POSITIVE);
            last_change = change;
            f = f_next;
            f_noise = f_next_noise;
            trace.push(f);
            trace_marks.push((iterations, Instant::now()));
            std::mem::swap(&mut stats, &mut probe);
            stats_at_theta = probe_has_gram;
            // `stats` now holds ∇L(θₖ₊₁) whatever `probe_has_gram` says; S may be stale.
            kkt = self.penalty.kkt_violation(&theta, stats.gradient.as_slice());

            if let Some(bound) = self.separation_bound {
                if stats.loss < bound && self.penalty.is_zero_at(&theta) {
                    termination = Termination::OptimumAtInfinity;
                    break;
                }
            }
            if change <= opts.tol {
                let kkt_target = kkt_target(&stats);
                if kkt <= kkt_target {
                    termination = Termination::Converged;
                    break;
                }
                if revivals_left > 0 && self.revive(&mut theta, &stats, kkt_target) {
                    revivals_left -= 1;
                    last_change = f64::INFINITY; // the re-activated coordinates must settle first
                    prev.copy_from_slice(&theta);
                    k = 0;
                    backend.evaluate(&theta, theta_needs, &mut stats)?;
                    stats_at_theta = true;
                    f = self.objective(stats.loss, &theta);
                    f_noise = stats.loss_error;
                    kkt = self.penalty.kkt_violation(&theta, stats.gradient.as_slice());
                }
            }
        }
        let gradient_error = stats.gradient_error.amax();
        Ok(Solution {
            theta,
            objective: f,
            iterations,
            termination,
            trace,
            trace_marks,
            kkt_violation: kkt,
            restarts,
            kkt_scale,
            gradient_error,
            final_stats: stats_at_theta.then_some(Seed { stats, needs: theta_needs }),
        })
    }

    /// Sets to zero every ℓ₁ coordinate that EM is shrinking and whose one-dimensional
    /// quadratic model at v (curvature Sⱼⱼ + ridgeⱼ, which majorizes F along the coordinate) is
    /// minimized at 0: |Sⱼⱼvⱼ − gⱼ| ≤ lassoⱼ. EM alone only approaches such zeros geometrically,
    /// at a rate that tends to 1 as |gⱼ| nears lassoⱼ (thousands of iterations where a
    /// coefficient leaves the model). At the optimum the test holds for the zero coordinates and
    /// fails for the nonzero ones (|Sⱼⱼβⱼ − gⱼ| = (Sⱼⱼ + ridgeⱼ)|βⱼ| + lassoⱼ there), so the fixed
    /// point is EM's; the solver only applies it in the slow tail (see `ZERO_TEST_BELOW`), and a
    /// zero set too early is re-activated by the final KKT check.
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

    fn em_step(
        &self,
        mstep: &mut MStep,
        from: &[f64],
        stats: &Stats,
        next: &mut [f64],
        iteration: usize,
    ) -> Result<()> {
        if !mstep.update(from, &stats.gradient, &stats.gram, self.penalty, next) {
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

/// SQUAREM's points and statistics, allocated once per run.
struct Squarem {
    theta1: Vec<f64>,
    theta2: Vec<f64>,
    extrapolated: Vec<f64>,
    /// The accepted point and its statistics (with S).
    result: Vec<f64>,
    result_stats: Stats,
    stats1: Stats,
    stats2: Stats,
    stats_extrapolated: Stats,
}

impl Squarem {
    fn new(dim: usize) -> Self {
        Self {
            theta1: vec![0.0; dim],
            theta2: vec![0.0; dim],
            extrapolated: vec![0.0; dim],
            result: vec![0.0; dim],
            result_stats: Stats::new(dim),
            stats1: Stats::new(dim),
            stats2: Stats::new(dim),
            stats_extrapolated: Stats::new(dim),
        }
    }
}

/// What a SQUAREM cycle produced.
struct SquaremOutcome {
    objective: f64,
    /// Whether the extrapolated step was kept (else the cycle ended at θ₂).
    extrapolated: bool,
}

impl Run<'_> {
    /// One SQUAREM cycle from θ (statistics with S at θ in `stats`); the accepted point lands in
    /// `sq.result` with its statistics in `sq.result_stats`. With `zero_test`, the extrapolated
    /// step also takes the coordinate zero test (its F check guards it like the others).
    #[allow(clippy::too_many_arguments)]
    fn squarem_step(
        &self,
        backend: &mut dyn Backend,
        mstep: &mut MStep,
        theta: &[f64],
        stats: &Stats,
        sq: &mut Squarem,
        iteration: usize,
        zero_test: bool,
    ) -> Result<SquaremOutcome> {
        self.em_step(mstep, theta, stats, &mut sq.theta1, iteration)?;
        backend.evaluate(&sq.theta1, Needs::GradientAndGram, &mut sq.stats1)?;
        self.em_step(mstep, &sq.theta1, &sq.stats1, &mut sq.theta2, iteration)?;
        backend.evaluate(&sq.theta2, Needs::GradientAndGram, &mut sq.stats2)?;
        let f2 = self.objective(sq.stats2.loss, &sq.theta2);
        check_finite(f2, iteration, "objective")?;
        // r = θ₁ − θ and v = θ₂ − 2θ₁ + θ, coordinate by coordinate.
        let (mut rr, mut vv) = (0.0, 0.0);
        for (j, &t) in theta.iter().enumerate() {
            let (r, v) = (sq.theta1[j] - t, sq.theta2[j] - 2.0 * sq.theta1[j] + t);
            rr += r * r;
            vv += v * v;
        }
        let at_theta2 = |sq: &mut Squarem| {
            sq.result.copy_from_slice(&sq.theta2);
            std::mem::swap(&mut sq.result_stats, &mut sq.stats2);
            SquaremOutcome { objective: f2, extrapolated: false }
        };
        if rr == 0.0 || vv == 0.0 {
            return Ok(at_theta2(sq));
        }
        // α ≤ −1: α = −1 is θ₂ itself, so the extrapolation never falls short of two EM steps.
        let alpha = (-(rr / vv).sqrt()).min(-1.0);
        for (j, (e, &t)) in sq.extrapolated.iter_mut().zip(theta).enumerate() {
            let (r, v) = (sq.theta1[j] - t, sq.theta2[j] - 2.0 * sq.theta1[j] + t);
            // ℓ₁ zeros that EM reached stay zero (EM cannot leave them either).
            let zero = self.penalty.lasso[j] > 0.0 && sq.theta2[j] == 0.0;
            *e = if zero { 0.0 } else { t - 2.0 * alpha * r + alpha * alpha * v };
        }
        backend.evaluate(&sq.extrapolated, Needs::GradientAndGram, &mut sq.stats_extrapolated)?;
        let stepped = self.em_step(
            mstep,
            &sq.extrapolated,
            &sq.stats_extrapolated,
            &mut sq.result,
            iteration,
        );
        if stepped.is_err() {
            // A wild extrapolation (e.g. far outside the data's range) is simply not taken.
            return Ok(at_theta2(sq));
        }
        if zero_test {
            self.coordinate_zero_test(&sq.extrapolated, &sq.stats_extrapolated, &mut sq.result);
        }
        backend.evaluate(&sq.result, Needs::GradientAndGram, &mut sq.result_stats)?;
        let f = self.objective(sq.result_stats.loss, &sq.result);
        let noise = sq.result_stats.loss_error + sq.stats2.loss_error;
        if f.is_finite() && f <= f2 + noise {
            Ok(SquaremOutcome { objective: f, extrapolated: true })
        } else {
            Ok(at_theta2(sq))
        }
    }
}

fn check_finite(value: f64, iteration: usize, what: &str) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::Numerical { iteration, reason: format!("{what} is {value}") })
    }
}
