//! Baselines for benchmarks: full-batch Adam on exactly the objective a [`Glm`] minimizes.
//!
//! **Not a recommended solver.** Adam needs a learning rate, never certifies an optimum and
//! on ill-conditioned problems stalls far from it; it is here so that benchmarks can compare
//! SM-EM with the protocol of the paper ("Fast Compute for ML Optimization", Polson & Sokolov):
//! full-batch Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8) from the same start as SM-EM (the null
//! model), with a learning-rate grid search that keeps the best final objective
//! ([`LEARNING_RATE_GRID`]).
//!
//! Each step evaluates ∇L on the same backend a fit would use ([`crate::BackendChoice`]): on
//! the CPU in f64, on a GPU through the WGSL gradient kernel (O(n·p) per step, no Gram), so
//! the comparison is fair on each device. The penalty's gradient is added on the host: λ(1−α)vⱼθⱼ
//! for the ridge part and its subgradient λαvⱼ sign θⱼ (0 at θⱼ = 0) for the ℓ₁ part, so Adam
//! never produces exact zeros. The reported final objective is recomputed in f64 from each
//! loss's definition, as for [`crate::Fit::objective`].
//!
//! ```no_run
//! use scalemix::{Design, Glm, Penalty, baselines, synthetic};
//! let data = synthetic::ill_conditioned_logistic(2000, 50, 1e4, 1.0, 0);
//! let x = Design::row_major(&data.x, data.n, data.p)?;
//! let glm = Glm::logistic().penalty(Penalty::ridge(1e-4));
//! let adam = baselines::tuned_adam(&glm, x, &data.y, 1000, &baselines::LEARNING_RATE_GRID)?;
//! let fit = glm.fit(x, &data.y)?;
//! println!("Adam (lr {}) {} vs SM-EM {}", adam.best().learning_rate, adam.best().objective,
//!          fit.objective());
//! # Ok::<(), scalemix::Error>(())
//! ```

use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendInfo, Needs, Stats};
use crate::check::Entry;
use crate::data::{AsTarget, Data, Design, Problem};
use crate::driver::Model;
use crate::driver::exact_mean_loss;
use crate::error::{Error, Result};
use crate::glm::Glm;
use crate::penalty::{Penalty, PenaltyTerms};

/// The paper's learning-rate grid.
pub const LEARNING_RATE_GRID: [f64; 9] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0];

/// Adam's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    /// Step size α.
    pub learning_rate: f64,
    /// Number of full-batch steps.
    pub steps: usize,
    /// Decay of the first-moment average (0.9).
    pub beta1: f64,
    /// Decay of the second-moment average (0.999).
    pub beta2: f64,
    /// Added to √v̂ (1e-8).
    pub epsilon: f64,
}

impl Adam {
    /// Adam with the usual β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    pub fn new(learning_rate: f64, steps: usize) -> Self {
        Self { learning_rate, steps, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }
    }

    fn check(&self) -> Result<()> {
        let bad = |name: &'static str, value: f64, reason: &'static str| {
            Err(Error::InvalidOption { name, value: value.to_string(), reason })
        };
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", self.learning_rate, "must be finite and > 0");
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return bad("beta1", self.beta1, "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return bad("beta2", self.beta2, "must be in [0, 1)");
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return bad("epsilon", self.epsilon, "must be finite and > 0");
        }
        Ok(())
    }
}

/// One Adam run.
#[derive(Debug, Clone)]
pub struct AdamRun {
    /// The step size used.
    pub learning_rate: f64,
    /// β at the last step.
    pub coefficients: Vec<f64>,
    /// b₀ at the last step (0 without an intercept).
    pub intercept: f64,
    /// F at the last step, recomputed in f64 from the loss's definition.
    pub objective: f64,
    /// F at the start and after every step, as the backend computed it (f32 sums on a GPU).
    pub objective_trace: Vec<f64>,
    /// Seconds since the run started, per entry of `objective_trace`.
    pub trace_seconds: Vec<f64>,
    /// Wall time of the run (excluding the backend's setup, e.g. uploading X).
    pub elapsed: Duration,
    /// What ran.
    pub backend: BackendInfo,
    /// Whether a step made the objective non-finite (the run stopped there; `objective` is +∞
    /// and the coefficients are the last finite ones).
    pub diverged: bool,
}

impl AdamRun {
    /// F after `steps` steps (the last one when the run was shorter).
    pub fn objective_after(&self, steps: usize) -> f64 {
        self.objective_trace[steps.min(self.objective_trace.len() - 1)]
    }
}

/// Adam at every rate of a grid, on one upload of the data.
#[derive(Debug, Clone)]
pub struct TunedAdam {
    /// One run per learning rate, in the grid's order.
    pub runs: Vec<AdamRun>,
    /// Wall time of the whole grid.
    pub elapsed: Duration,
}

impl TunedAdam {
    /// The run with the lowest final objective (the paper's selection rule).
    pub fn best(&self) -> &AdamRun {
        self.runs
            .iter()
            .min_by(|a, b| a.objective.total_cmp(&b.objective))
            .expect("a grid has at least one rate")
    }

    /// The run with the lowest objective after `steps` steps (the grid tuned for that budget).
    pub fn best_after(&self, steps: usize) -> &AdamRun {
        self.runs
            .iter()
            .min_by(|a, b| a.objective_after(steps).total_cmp(&b.objective_after(steps)))
            .expect("a grid has at least one rate")
    }
}

/// Full-batch Adam on `glm`'s objective (family, penalty, penalty factors, intercept and
/// backend taken from `glm`; its solver settings are ignored), from the null model.
///
/// A rate at which the objective becomes non-finite ends its run early with
/// [`AdamRun::diverged`] set and an infinite objective, so a grid search passes over it.
///
/// # Errors
/// As [`Glm::fit`]; [`Error::InvalidOption`] for a bad Adam setting.
pub fn adam<'a, X, Y>(glm: &Glm, x: X, y: &'a Y, settings: &Adam) -> Result<AdamRun>
where
    X: Into<Design<'a>>,
    Y: AsTarget + ?Sized,
{
    Ok(tuned_adam_with(glm, x, y, &[*settings])?.runs.remove(0))
}

/// Adam with `steps` steps at each of `rates` (e.g. [`LEARNING_RATE_GRID`]); see
/// [`TunedAdam::best`].
///
/// # Errors
/// As [`adam`]; [`Error::InvalidOption`] for an empty grid.
pub fn tuned_adam<'a, X, Y>(
    glm: &Glm,
    x: X,
    y: &'a Y,
    steps: usize,
    rates: &[f64],
) -> Result<TunedAdam>
where
    X: Into<Design<'a>>,
    Y: AsTarget + ?Sized,
{
    let settings: Vec<Adam> = rates.iter().map(|&rate| Adam::new(rate, steps)).collect();
    tuned_adam_with(glm, x, y, &settings)
}

/// The paper's path protocol: a tuned Adam grid ([`tuned_adam`]) at every λ of `lambdas`
/// (strongest first; `glm`'s λ is replaced, its α, exponent and factors kept), each rate started
/// from the previous λ's best θ (the first from the null model), on one upload of the data.
///
/// # Errors
/// As [`tuned_adam`]; [`Error::InvalidOption`] for an empty or invalid λ list.
pub fn tuned_adam_path<'a, X, Y>(
    glm: &Glm,
    x: X,
    y: &'a Y,
    lambdas: &[f64],
    steps: usize,
    rates: &[f64],
) -> Result<Vec<TunedAdam>>
where
    X: Into<Design<'a>>,
    Y: AsTarget + ?Sized,
{
    if lambdas.is_empty() || lambdas.iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
        return Err(Error::InvalidOption {
            name: "lambdas",
            value: format!("{lambdas:?}"),
            reason: "must be a non-empty list of finite values ≥ 0",
        });
    }
    let settings: Vec<Adam> = rates.iter().map(|&rate| Adam::new(rate, steps)).collect();
    let (model, problem) = checked(glm, x.into(), y, &settings)?;
    let mut backend = model.open(&problem)?;
    let mut start = model.null_start(&problem);
    let mut points = Vec::with_capacity(lambdas.len());
    for &lambda in lambdas {
        let at = model.with_penalty(Penalty { lambda, ..model.penalty() })?;
        let grid = grid_on(&at, &problem, &mut *backend, &start, &settings)?;
        let best = grid.best();
        start.clone_from(&best.coefficients);
        if at.intercept() {
            start.push(best.intercept);
        }
        points.push(grid);
    }
    Ok(points)
}

/// Checks the Adam settings, then the model and the data as every entry point does.
fn checked<'a, Y: AsTarget + ?Sized>(
    glm: &Glm,
    x: Design<'a>,
    y: &'a Y,
    settings: &[Adam],
) -> Result<(Model, Problem<'a>)> {
    if settings.is_empty() {
        return Err(Error::InvalidOption {
            name: "rates",
            value: "[]".into(),
            reason: "the learning-rate grid must not be empty",
        });
    }
    for s in settings {
        s.check()?;
    }
    // Counts need trials, and an estimated σ is a second block of unknowns: neither is the
    // fixed objective Adam is compared on, so the check refuses both for `Entry::Baseline`.
    glm.check(Entry::Baseline, &Data::new(x, y))
}

/// Adam at several settings on one backend (X uploaded once).
fn tuned_adam_with<'a, X, Y>(glm: &Glm, x: X, y: &'a Y, settings: &[Adam]) -> Result<TunedAdam>
where
    X: Into<Design<'a>>,
    Y: AsTarget + ?Sized,
{
    let (model, problem) = checked(glm, x.into(), y, settings)?;
    let mut backend = model.open(&problem)?;
    let theta0 = model.null_start(&problem);
    grid_on(&model, &problem, &mut *backend, &theta0, settings)
}

/// Adam at each of `settings` from `theta0` on `backend`.
fn grid_on(
    glm: &Model,
    problem: &Problem<'_>,
    backend: &mut dyn Backend,
    theta0: &[f64],
    settings: &[Adam],
) -> Result<TunedAdam> {
    let start = Instant::now();
    let p = problem.ncols();
    let dim = p + usize::from(glm.intercept());
    let terms = glm.terms(dim)?;
    let info = backend.info();
    let mut runs = Vec::with_capacity(settings.len());
    for s in settings {
        let run_start = Instant::now();
        let Steps { mut theta, objective_trace, trace_seconds, diverged } =
            run(backend, &terms, theta0.to_vec(), s, run_start)?;
        let objective = if diverged {
            f64::INFINITY
        } else {
            exact_mean_loss(problem, &theta, glm.intercept()) + terms.value(&theta)
        };
        let intercept = if glm.intercept() { theta.pop().unwrap_or(0.0) } else { 0.0 };
        runs.push(AdamRun {
            learning_rate: s.learning_rate,
            coefficients: theta,
            intercept,
            objective,
            objective_trace,
            trace_seconds,
            elapsed: run_start.elapsed(),
            backend: info.clone(),
            diverged,
        });
    }
    Ok(TunedAdam { runs, elapsed: start.elapsed() })
}

/// What one Adam iteration run returns.
struct Steps {
    /// θ at the last step (the last finite one when it diverged).
    theta: Vec<f64>,
    objective_trace: Vec<f64>,
    trace_seconds: Vec<f64>,
    diverged: bool,
}

/// The Adam iteration itself.
fn run(
    backend: &mut dyn Backend,
    terms: &PenaltyTerms,
    mut theta: Vec<f64>,
    s: &Adam,
    start: Instant,
) -> Result<Steps> {
    let dim = theta.len();
    let mut stats = Stats::new(dim);
    let (mut m, mut v) = (vec![0.0; dim], vec![0.0; dim]);
    let mut objective_trace = Vec::with_capacity(s.steps + 1);
    let mut trace_seconds = Vec::with_capacity(s.steps + 1);
    let (mut decay1, mut decay2) = (1.0, 1.0); // β₁ᵗ and β₂ᵗ
    let mut last_finite = theta.clone();
    for step in 0..=s.steps {
        backend.evaluate(&theta, Needs::Gradient, &mut stats)?;
        let f = stats.loss + terms.value(&theta);
        if !f.is_finite() || stats.gradient.iter().any(|g| !g.is_finite()) {
            return Ok(Steps {
                theta: last_finite,
                objective_trace,
                trace_seconds,
                diverged: true,
            });
        }
        last_finite.copy_from_slice(&theta);
        objective_trace.push(f);
        trace_seconds.push(start.elapsed().as_secs_f64());
        if step == s.steps {
            break;
        }
        decay1 *= s.beta1;
        decay2 *= s.beta2;
        for j in 0..dim {
            // ∇F: the loss gradient, the ridge term and the ℓ₁ (or bridge) subgradient.
            let g =
                stats.gradient[j] + terms.ridge[j] * theta[j] + terms.power_gradient(j, theta[j]);
            m[j] = s.beta1 * m[j] + (1.0 - s.beta1) * g;
            v[j] = s.beta2 * v[j] + (1.0 - s.beta2) * g * g;
            let m_hat = m[j] / (1.0 - decay1);
            let v_hat = v[j] / (1.0 - decay2);
            theta[j] -= s.learning_rate * m_hat / (v_hat.sqrt() + s.epsilon);
        }
    }
    Ok(Steps { theta, objective_trace, trace_seconds, diverged: false })
}
