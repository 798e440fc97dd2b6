//! The one validation every entry point goes through.
//!
//! [`Glm`] only stores what its builder methods were given. `fit`, `fit_data`,
//! `fit_multiclass`, `path`, `cv` and the Adam baselines all call
//! [`Glm::check`] first, which checks the solver settings, the family's parameters, the
//! penalty and its factors, the data, and that the response suits the entry point (counts for
//! binomial, labels or values otherwise), and returns a [`Model`] with a [`Problem`]: values
//! whose fields nothing outside the crate can change, so everything after the check trusts them.

use std::borrow::Cow;

use crate::backend::BackendChoice;
use crate::data::{Data, Problem, Response};
use crate::driver::Model;
use crate::error::{Error, Result};
use crate::execution::Execution;
use crate::family::Family;
use crate::glm::Glm;
use crate::penalty::check_factors;
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
                if binomial || (entry == Entry::Baseline && self.estimate_parameter) =>
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
        if self.estimate_parameter && matches!(entry, Entry::Path | Entry::Cv) {
            // Every point of a path is a fit of one model: the parameter must be the same.
            return Err(Error::Unsupported {
                operation: entry.with_values(),
                family: family.name(),
                reason: "a path needs the family's σ or θ given (estimate it with one fit at a \
                         λ of interest, then pass the fitted value)",
            });
        }
        let counts = matches!(family, Family::Poisson | Family::NegativeBinomial { .. });
        if counts
            && problem.y.iter().zip(problem.weights.iter()).all(|(&y, &w)| y == 0.0 || w == 0.0)
        {
            return Err(Error::AllZeroCounts { family: family.name() });
        }
        let problem = match data.offset {
            None => problem,
            Some(_) if entry == Entry::Multiclass => {
                return Err(Error::Unsupported {
                    operation: entry.with_values(),
                    family: family.name(),
                    reason: "an offset would shift every class's η alike (it cancels in the \
                             softmax); fit the classes as binary models to use one",
                });
            }
            Some(offset) => problem.with_offset(Cow::Borrowed(offset))?,
        };
        let model = self.model_for(problem.ncols())?;
        let model = match entry {
            // A ridge path may run its points matrix-free (Model::paths_matrix_free), and a
            // multinomial fit its classes (Model::multinomial_without_gram).
            Entry::Fit | Entry::Path | Entry::Cv | Entry::Multiclass => {
                model.on_active_sets(problem.ncols()).on_matrix_free(problem.ncols())
            }
            _ => model,
        };
        model.check_linear_solver(matches!(entry, Entry::Fit | Entry::Multiclass))?;
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
        self.options.acceleration.check_for(self.family)?;
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
        Ok(Model::checked(self, factors, execution))
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
