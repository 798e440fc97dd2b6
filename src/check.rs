//! The one validation every entry point goes through.
//!
//! [`Glm`] only stores what its builder methods were given. `fit`, `fit_data`,
//! `fit_multiclass`, `path`, `cv` and the Adam baselines all call
//! [`Glm::check`] first, which checks the solver settings, the family's parameters, the
//! penalty and its factors, the data, and that the response suits the entry point (counts for
//! binomial, labels or values otherwise), and returns a [`Model`] with a [`Problem`]: values
//! whose fields nothing outside the crate can change, so everything after the check trusts them.

use crate::backend::{BackendChoice, GpuContext};
use crate::data::{Data, Problem, Response};
use crate::error::{Error, Result};
use crate::execution::Execution;
use crate::family::Family;
use crate::glm::Glm;
use crate::penalty::{Penalty, PenaltyTerms, check_factors};
use crate::solver::SolverOptions;

/// The entry point a check is for, named in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    Fit,
    Path,
    Cv,
    Multiclass,
    Baseline,
}

impl Entry {
    /// The operation as [`Error::Unsupported`] names it when the response is labels or values.
    fn with_values(self) -> &'static str {
        match self {
            Entry::Fit => "fit",
            Entry::Path => "path",
            Entry::Cv => "cv",
            Entry::Multiclass => "fit_multiclass",
            Entry::Baseline => "the Adam baseline",
        }
    }

    /// The operation as [`Error::Unsupported`] names it when the response is binomial counts.
    fn with_counts(self) -> &'static str {
        match self {
            Entry::Fit => "fit",
            Entry::Path => "path",
            Entry::Cv => "cv",
            Entry::Multiclass => "fit_multiclass",
            Entry::Baseline => "the Adam baseline",
        }
    }
}

/// A model whose settings passed [`Glm::check`]: what the driver, paths, cross-validation,
/// multiclass fits and the baselines run.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    family: Family,
    penalty: Penalty,
    /// vⱼ per feature (checked: finite, ≥ 0, one per column).
    factors: Vec<f64>,
    intercept: bool,
    options: SolverOptions,
    /// Where the fit runs, its backend resolved (`SCALEMIX_BACKEND` read once, here).
    execution: Execution,
    estimate_sigma: bool,
    /// Multinomial: every class penalized, none the reference ([`Glm::symmetric_multinomial`]).
    symmetric: bool,
    /// glmnet's `standardize` ([`Glm::standardize`]).
    standardize: bool,
    /// Per feature, the scale sⱼ by which a preconditioned design's column was divided: the
    /// penalty is carried to the new coordinates (ridgeⱼ/sⱼ², lassoⱼ/sⱼ^q) so the objective is
    /// the user's. `None` on the design as given (and with `standardize`, whose penalty applies
    /// in the standardized coordinates by definition).
    penalty_scale: Option<Vec<f64>>,
}

impl Glm {
    /// Checks the settings and the data for `entry` together (see the module docs).
    ///
    /// The order is fixed, so a call with several problems reports the same one every time:
    /// solver settings, the response's kind, the data, the family's parameters, the penalty,
    /// then the backend choice.
    ///
    /// # Errors
    /// The specific [`Error`] for the first problem found.
    pub(crate) fn check<'a>(&self, entry: Entry, data: &Data<'a>) -> Result<(Model, Problem<'a>)> {
        let (x, weights) = (data.x, data.weights);
        let family = self.family;
        check_options(&self.options)?;
        let binomial = family == Family::Binomial;
        let problem = match data.response.clone() {
            Response::Values(_)
                if binomial || (entry == Entry::Baseline && self.estimate_sigma) =>
            {
                return Err(Error::Unsupported {
                    operation: entry.with_values(),
                    family: family.name(),
                    reason: if binomial {
                        "binomial rows are successes out of trials (Data::binomial)"
                    } else {
                        "the Adam baseline needs σ given"
                    },
                });
            }
            Response::Counts { .. } if !binomial || entry == Entry::Baseline => {
                return Err(Error::Unsupported {
                    operation: entry.with_counts(),
                    family: family.name(),
                    reason: if binomial {
                        "the Adam baseline takes labels or values, not counts"
                    } else {
                        "successes out of trials are binomial data (Glm::binomial)"
                    },
                });
            }
            Response::Values(y) => Problem::new(x, y, weights, family)?,
            Response::Counts { successes, trials } => {
                Problem::binomial(x, successes, trials, weights)?
            }
        };
        let model = self.model_for(problem.ncols())?;
        model.check_memory(&problem, 0)?;
        Ok((model, problem))
    }
}

impl Glm {
    /// Checks the settings for data of `p` features (the family's parameters, the penalty and
    /// its factors, the backend choice) and returns the model to run: [`Glm::check`]'s part
    /// that does not look at the rows, shared with fits on row sources.
    ///
    /// # Errors
    /// The specific [`Error`] for the first problem found.
    pub(crate) fn model_for(&self, p: usize) -> Result<Model> {
        check_options(&self.options)?;
        self.family.check()?;
        let factors = match &self.penalty_factors {
            Some(f) => {
                check_factors(f, p)?;
                f.to_vec()
            }
            None => vec![1.0; p],
        };
        // λ, α and the exponent are checked by expanding the penalty once.
        self.penalty.terms(&factors, p + usize::from(self.fit_intercept))?;
        let backend = match self.execution.backend {
            Some(choice) => choice,
            None => BackendChoice::from_env()?,
        };
        let execution = Execution { backend: Some(backend), ..self.execution.clone() };
        Ok(Model {
            family: self.family,
            penalty: self.penalty,
            factors,
            intercept: self.fit_intercept,
            options: self.options,
            execution,
            estimate_sigma: self.estimate_sigma,
            symmetric: self.symmetric,
            standardize: self.standardize,
            penalty_scale: None,
        })
    }
}

/// The solver settings' own ranges.
fn check_options(o: &SolverOptions) -> Result<()> {
    let positive = |name, value: f64| {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidOption {
                name,
                value: value.to_string(),
                reason: "must be finite and > 0",
            })
        }
    };
    positive("tol", o.tol)?;
    positive("kkt_tol", o.kkt_tol)?;
    if !o.zero_tol.is_finite() || o.zero_tol < 0.0 {
        return Err(Error::InvalidOption {
            name: "zero_tol",
            value: o.zero_tol.to_string(),
            reason: "must be finite and ≥ 0",
        });
    }
    if o.max_iter == 0 {
        return Err(Error::InvalidOption {
            name: "max_iter",
            value: "0".into(),
            reason: "must be at least 1",
        });
    }
    Ok(())
}

impl Model {
    /// The family as set on the builder (a Student-t σ to estimate holds its start value only
    /// once the driver has computed it).
    pub(crate) fn family(&self) -> Family {
        self.family
    }

    /// The penalty as set (its λ is replaced along a path).
    pub(crate) fn penalty(&self) -> Penalty {
        self.penalty
    }

    /// Whether an intercept is fitted.
    pub(crate) fn intercept(&self) -> bool {
        self.intercept
    }

    /// The solver settings.
    pub(crate) fn options(&self) -> SolverOptions {
        self.options
    }

    /// The first class a multinomial fit moves: 0 in the symmetric parameterization, 1 with the
    /// first class as the reference.
    pub(crate) fn first_free_class(&self) -> usize {
        usize::from(!self.symmetric)
    }

    /// Whether a Student-t σ is estimated along with β.
    pub(crate) fn estimates_sigma(&self) -> bool {
        self.estimate_sigma
    }

    /// Refuses a fit whose p × p matrices and row buffers would not fit in the memory limit
    /// (or, without one, in the memory the system reports available).
    ///
    /// The count of d × d matrices a fit holds at once: the solver's statistics at θ and at the
    /// candidate, the M-step's matrix, SQUAREM's three more, a path's or the f64 report's
    /// statistics, and the CPU backend's partial Gram matrices (one per row chunk, at most 32
    /// and at most 256 MiB).
    ///
    /// `extra` bytes are added to the estimate (a preconditioned copy of X).
    pub(crate) fn check_memory(&self, problem: &Problem<'_>, extra: u64) -> Result<()> {
        self.check_memory_for(problem.nrows(), problem.ncols(), extra)
    }

    /// [`Model::check_memory`] for `n` rows held at once (a streamed fit's block buffers) of `p`
    /// features.
    pub(crate) fn check_memory_for(&self, n: usize, p: usize, extra: u64) -> Result<()> {
        let dim = p + usize::from(self.intercept);
        let Some(available) = self.execution.max_memory.or_else(available_memory) else {
            return Ok(());
        };
        let matrices = 8;
        let square = (dim as u64).saturating_mul(dim as u64).saturating_mul(8);
        let partial_grams = (n.div_ceil(2048).clamp(1, 32) as u64)
            .saturating_mul((p as u64).saturating_mul(p as u64).saturating_mul(8))
            .min(256 << 20);
        // Per-row buffers: η, weights, derivatives, a copy of y and the weights (a few f64 per
        // row). X itself is the caller's and is not counted.
        let rows = (n as u64).saturating_mul(64);
        let needed = square
            .saturating_mul(matrices)
            .saturating_add(partial_grams)
            .saturating_add(rows)
            .saturating_add(extra);
        if needed > available {
            return Err(Error::OutOfMemory {
                rows: n,
                cols: p,
                dim,
                matrices: matrices as usize,
                needed_mib: needed >> 20,
                available_mib: available >> 20,
            });
        }
        Ok(())
    }

    /// The backend to open, and the GPU context the application gave (if any).
    pub(crate) fn backend(&self) -> (BackendChoice, Option<&GpuContext>) {
        (self.execution.backend.unwrap_or(BackendChoice::Auto), self.execution.gpu.as_ref())
    }

    /// The penalty at λ for `dim` coordinates (the features, then the intercept).
    pub(crate) fn terms_at(&self, lambda: f64, dim: usize) -> Result<PenaltyTerms> {
        let mut terms = Penalty { lambda, ..self.penalty }.terms(&self.factors, dim)?;
        if let Some(scale) = &self.penalty_scale {
            for (j, &s) in scale.iter().enumerate() {
                terms.ridge[j] /= s * s;
                terms.lasso[j] /= carried(s, terms.exponent);
            }
        }
        Ok(terms)
    }

    /// vⱼ per feature in the coordinates the model fits in (vⱼ/sⱼ^q where the design is
    /// preconditioned, as the ℓ₁ term is carried): the KKT bound at zero is |gⱼ| ≤ λαvⱼ.
    pub(crate) fn kkt_factors(&self) -> Vec<f64> {
        let mut factors = self.factors.clone();
        if let Some(scale) = &self.penalty_scale {
            for (v, &s) in factors.iter_mut().zip(scale) {
                *v /= carried(s, self.penalty.exponent);
            }
        }
        factors
    }

    /// Whether the penalty applies to the standardized coefficients ([`Glm::standardize`]).
    pub(crate) fn standardizes(&self) -> bool {
        self.standardize
    }

    /// The same model for the preconditioned coordinates whose column scales are `scale`: the
    /// penalty carried along unless the model standardizes (then it applies there as set).
    pub(crate) fn in_preconditioned_coordinates(&self, scale: &[f64]) -> Model {
        let penalty_scale = (!self.standardize).then(|| scale.to_vec());
        Model { penalty_scale, standardize: false, ..self.clone() }
    }

    /// The penalty as set, for `dim` coordinates.
    pub(crate) fn terms(&self, dim: usize) -> Result<PenaltyTerms> {
        self.terms_at(self.penalty.lambda, dim)
    }

    /// The same model with another penalty (the baselines' λ sequence).
    pub(crate) fn with_penalty(&self, penalty: Penalty) -> Result<Model> {
        penalty.terms(&self.factors, self.factors.len())?;
        Ok(Model { penalty, ..self.clone() })
    }
}

/// sⱼ^q, the factor an ℓ₁ (or bridge) term λvⱼ|βⱼ|^q is divided by when βⱼ = β̃ⱼ/sⱼ (exactly sⱼ
/// for the lasso).
fn carried(s: f64, q: f64) -> f64 {
    if q == 1.0 { s } else { s.powf(q) }
}

/// The memory the system reports available (Linux: `MemAvailable` in /proc/meminfo), in bytes;
/// `None` where it reports none.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}
