//! Fits on statistics computed elsewhere: a caller's [`Backend`] sums each pass over rows this
//! process never sees (a cluster's workers, each holding some chunks), and the solver — the
//! M-step, acceleration, stopping — runs here on the d × d results.

use std::time::Instant;

use super::fit::{ShowsPenalty, Streamed};
use super::scan::{Moment, RowStats, Summary};
use crate::backend::{Backend, BackendInfo, Needs, Stats};
use crate::data::Problem;
use crate::error::{Error, Result};
use crate::glm::{Fit, Glm};
use crate::penalty::PenaltyTerms;
use crate::solver::Solution;

/// What a fit on statistics computed elsewhere must know of the rows before it starts: what the
/// checking pass of a streamed fit gathers, merged over the chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSummary {
    /// Rows.
    pub rows: u64,
    /// W = Σ wᵢ (the sample weights; all ones: the number of rows).
    pub weight_sum: f64,
    /// The smallest positive sample weight.
    pub min_positive_weight: f64,
    /// The response's weighted mean.
    pub response_mean: f64,
    /// Σ wᵢ (yᵢ − mean)².
    pub response_m2: f64,
    /// Per feature, the weighted mean.
    pub column_mean: Vec<f64>,
    /// Per feature, Σ wᵢ (xᵢⱼ − meanⱼ)².
    pub column_m2: Vec<f64>,
}

/// The caller's backend, seen by the solver (no progress report).
struct External<'a>(&'a mut dyn Backend);

impl Backend for External<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        self.0.evaluate(theta, needs, out)
    }
    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.0.loss(theta)
    }
    fn info(&self) -> BackendInfo {
        self.0.info()
    }
    fn exact(&self) -> bool {
        self.0.exact()
    }
    fn set_rows(&mut self, problem: &Problem<'_>) -> Result<()> {
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

impl ShowsPenalty for External<'_> {
    fn show_penalty(&mut self, _terms: Option<PenaltyTerms>) {}
}

impl Glm {
    /// Fits the model with `backend` computing the statistics (loss, ∇L, S or the Hessian at
    /// each θ, as means over the rows `summary` describes, in f64 — [`Backend::exact`]) and
    /// the solver running here: for rows held elsewhere, e.g. a cluster's workers each
    /// summing their chunks. The design is fitted as given (no preconditioning), and the
    /// reported objective is `backend.loss` plus the penalty, so the backend's loss must be
    /// the loss by its definition: the families whose loss is smooth (logistic, binomial,
    /// gaussian, Student-t with a given σ).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for hinge, quantile, a σ to estimate or `standardize`;
    /// [`Error::InvalidOption`] for a backend of another dimension, a summary of another
    /// number of features, or one with no positive weight; the backend's errors.
    pub fn fit_statistics(&self, backend: &mut dyn Backend, summary: &RowSummary) -> Result<Fit> {
        let start = Instant::now();
        let family = self.family;
        if family.has_unbounded_weight() || self.estimate_sigma || self.standardize {
            return Err(Error::Unsupported {
                operation: "fit_statistics (smooth losses on the design as given)",
                family: family.name(),
            });
        }
        let p = summary.column_mean.len();
        let model = self.model_for(p)?;
        let dim = p + usize::from(model.intercept());
        let invalid = |reason: &'static str, value: String| Error::InvalidOption {
            name: "summary",
            value,
            reason,
        };
        if backend.dim() != dim {
            return Err(invalid(
                "the backend's dimension must be the features, plus one with an intercept",
                format!("backend dimension {} for {dim}", backend.dim()),
            ));
        }
        if summary.column_m2.len() != p {
            return Err(invalid(
                "column_mean and column_m2 must have one value per feature",
                format!("{} and {}", p, summary.column_m2.len()),
            ));
        }
        if !(summary.weight_sum > 0.0 && summary.min_positive_weight > 0.0) {
            return Err(invalid("needs rows of positive weight", summary.weight_sum.to_string()));
        }
        let moment = |mean: f64, m2: f64| Moment { weight: summary.weight_sum, mean, m2 };
        let rows = RowStats {
            weight_sum: summary.weight_sum,
            min_positive_weight: summary.min_positive_weight,
            y: moment(summary.response_mean, summary.response_m2),
            saturated: 0.0,
        };
        let internal = Summary {
            rows: summary.rows,
            all: rows,
            folds: Vec::new(),
            columns: summary
                .column_mean
                .iter()
                .zip(&summary.column_m2)
                .map(|(&m, &s)| moment(m, s))
                .collect(),
        };
        let streamed = Streamed::with_preconditioning(&model, &rows, &internal, false)?;
        let terms = streamed.inner().terms(dim)?;
        let mut external = External(backend);
        let solution = streamed.solve(&mut external, &terms, streamed.null_start(), None, None)?;
        let objective = external.loss(&solution.theta)? + terms.value(&solution.theta);
        let info = external.info();
        Ok(model.fit_of(family, Solution { objective, ..solution }, start, info))
    }
}
