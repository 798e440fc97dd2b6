//! Fits on statistics computed elsewhere: the caller's [`ExternalRows`] sum each pass over rows
//! this process never sees (a cluster's workers, each holding some chunks), and the solver — the
//! M-step, acceleration, stopping — runs here on the d × d results.

use std::time::Instant;

use crate::backend::{Backend, BackendInfo, Needs, Stats};
use crate::data::Problem;
use crate::driver::{RowFacts, Rows};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::glm::{Fit, Glm};
use crate::multiclass::{ClassRows, MulticlassFit, starting_point, sweeps};
use crate::penalty::PenaltyTerms;

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

impl RowSummary {
    /// What the driver must know of these rows, read as `family`'s.
    pub(crate) fn facts(&self, family: Family) -> RowFacts {
        let w = self.weight_sum;
        RowFacts {
            family,
            weight_sum: w,
            min_positive_weight: self.min_positive_weight,
            null_intercept: family.link(self.response_mean),
            response_variance: self.response_m2 / w,
            // √(Σ wᵢ xᵢⱼ² / W) from the mean and the centred sum of squares.
            column_scales: self
                .column_mean
                .iter()
                .zip(&self.column_m2)
                .map(|(&m, &m2)| ((m2 + w * m * m) / w).sqrt())
                .collect(),
            // Fits on rows held elsewhere make no path: no deviance ratio to measure.
            saturated_mean_loss: 0.0,
        }
    }
}

/// Rows held elsewhere — a cluster's workers, each holding some chunks — seen through the
/// statistics they send back: what [`Glm::fit_statistics`] fits on. Every method is a pass over
/// all the rows, summed where they live; only d-sized and d × d results travel.
pub trait ExternalRows {
    /// The coordinates: the features, then the intercept where the model fits one.
    fn dim(&self) -> usize;

    /// The statistics at `theta` as means over every row, as [`Backend::evaluate`] computes
    /// them (the loss as fitted, [`crate::Family::fitted_loss`]; the rounding-error bounds in
    /// [`Stats::gradient_error`] and [`Stats::loss_error`], combined over the rows as root sums
    /// of squares): on the rows' own devices, or in f64 on the CPU where `in_f64`.
    ///
    /// # Errors
    /// Whatever stops the pass (a failed chunk, a lost connection).
    fn evaluate(
        &mut self,
        theta: &[f64],
        needs: Needs,
        in_f64: bool,
        out: &mut Stats,
    ) -> Result<()>;

    /// (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ) with ℓ by its definition ([`crate::Family::loss`]), in f64: the
    /// loss of the reported objective.
    ///
    /// # Errors
    /// As [`ExternalRows::evaluate`].
    fn exact_loss(&mut self, theta: &[f64]) -> Result<f64>;

    /// Where the passes not asked for f64 ran (the devices of the rows' hosts).
    fn info(&self) -> BackendInfo;

    /// Whether every pass so far ran in f64 (no GPU among the devices): the fit then needs no
    /// f64 check.
    fn exact(&self) -> bool;
}

/// The rows' passes seen by the solver as a backend: on their devices, or all in f64.
struct Passes<'a> {
    rows: &'a mut dyn ExternalRows,
    in_f64: bool,
    /// Where [`Backend::loss`]'s pass writes (allocated once, not per call).
    scratch: Stats,
}

impl<'a> Passes<'a> {
    fn new(rows: &'a mut dyn ExternalRows, in_f64: bool) -> Self {
        // `loss` asks for ∇L only: no d × d matrix.
        let scratch = Stats::gradient_only(rows.dim());
        Self { rows, in_f64, scratch }
    }

    fn elsewhere() -> Error {
        Error::Backend { backend: "external rows".into(), reason: "the rows live elsewhere".into() }
    }
}

impl Backend for Passes<'_> {
    fn dim(&self) -> usize {
        self.rows.dim()
    }
    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        self.rows.evaluate(theta, needs, self.in_f64, out)
    }
    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.rows.evaluate(theta, Needs::Gradient, self.in_f64, &mut self.scratch)?;
        Ok(self.scratch.loss)
    }
    fn info(&self) -> BackendInfo {
        self.rows.info()
    }
    fn exact(&self) -> bool {
        self.in_f64 || self.rows.exact()
    }
    fn set_rows(&mut self, _problem: &Problem<'_>) -> Result<()> {
        Err(Self::elsewhere())
    }
    fn gram_with_weights(
        &mut self,
        _weights: &[f64],
        _gram: &mut nalgebra::DMatrix<f64>,
    ) -> Result<()> {
        Err(Self::elsewhere())
    }
}

/// Rows held elsewhere as the driver sees them: the iterations on the rows' devices, the f64
/// passes on their CPUs. The design is fitted as given, so the user's coordinates are the
/// fitted ones.
struct RemoteRows<'a> {
    passes: Passes<'a>,
    facts: RowFacts,
}

impl Rows for RemoteRows<'_> {
    fn facts(&self) -> RowFacts {
        self.facts.clone()
    }

    fn device(&mut self) -> &mut dyn Backend {
        &mut self.passes
    }

    fn reference(&mut self) -> Result<Box<dyn Backend + '_>> {
        Ok(Box::new(Passes::new(&mut *self.passes.rows, true)))
    }

    fn exact_loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.passes.rows.exact_loss(theta)
    }

    fn user_exact_loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.exact_loss(theta)
    }

    fn user_gradient(&mut self, theta: &[f64]) -> Result<Stats> {
        let mut stats = Stats::new(theta.len());
        self.passes.rows.evaluate(theta, Needs::Gradient, true, &mut stats)?;
        Ok(stats)
    }
}

impl Glm {
    /// Fits the model on rows held elsewhere ([`ExternalRows`]: e.g. a cluster's workers, each
    /// summing the statistics of its chunks at every θ), the solver — M-step, acceleration,
    /// stopping — running here on the d × d results; `summary` is what a streamed fit's checking
    /// pass gathers, merged over the chunks. Every family whose σ is given; the design is fitted
    /// as given (no preconditioning). Where the rows' devices compute in f32 (GPUs), one f64
    /// pass checks the KKT conditions and f64 passes finish the fit where they fail (always for
    /// hinge and quantile), so `Converged` is only said when f64 agrees; the reported objective
    /// is [`ExternalRows::exact_loss`] plus the penalty.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a σ to estimate or `standardize`; [`Error::InvalidOption`]
    /// for rows of another dimension, a summary of another number of features, or one with no
    /// positive weight; the rows' errors.
    pub fn fit_statistics(&self, rows: &mut dyn ExternalRows, summary: &RowSummary) -> Result<Fit> {
        let start = Instant::now();
        let family = self.family;
        if self.estimate_parameter || self.standardize {
            return Err(Error::Unsupported {
                operation: "fit_statistics",
                family: family.name(),
                reason: "fits on rows held elsewhere take σ or θ given and the design as \
                         given (no standardize)",
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
        if rows.dim() != dim {
            return Err(invalid(
                "the rows' dimension must be the features, plus one with an intercept",
                format!("dimension {} for {dim}", rows.dim()),
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
        let facts = summary.facts(family);
        let mut remote = RemoteRows { passes: Passes::new(rows, false), facts };
        model.fit_rows(&model, None, &mut remote, None, start, None)
    }
}

/// Rows held elsewhere for a multinomial fit ([`Glm::fit_multinomial_statistics`]): labels
/// 0..K coded as f64 on the rows' hosts, the statistics sent back as for [`ExternalRows`].
pub trait ExternalClasses {
    /// The coordinates of one class: the features, then the intercept where the model fits one.
    fn dim(&self) -> usize;

    /// Class c's binary logistic statistics (labels 1[yᵢ = c], each row offset by
    /// −log Σ_{l≠c} e^ηᵢₗ with ηᵢₗ from `theta[l]`) at `theta[c]`, as means over every row
    /// (see [`ExternalRows::evaluate`]), on the rows' own devices.
    ///
    /// # Errors
    /// Whatever stops the pass (a failed chunk, a lost connection).
    fn evaluate_class(
        &mut self,
        theta: &[Vec<f64>],
        c: usize,
        needs: Needs,
        out: &mut Stats,
    ) -> Result<()>;

    /// The mean multinomial loss (1/W) Σ wᵢ (log Σₗ e^ηᵢₗ − ηᵢ,yᵢ) at `theta`, with each
    /// class's gradient Xᵀ(w ⊙ (p_c − 1[y = c]))/W written into `gradients`, in f64.
    ///
    /// # Errors
    /// As [`ExternalClasses::evaluate_class`].
    fn multinomial(&mut self, theta: &[Vec<f64>], gradients: &mut [Vec<f64>]) -> Result<f64>;

    /// Where the class steps' passes ran.
    fn info(&self) -> BackendInfo;
}

/// One class's passes on rows held elsewhere, seen by the solver as a backend: the other
/// classes held at `theta`.
struct ClassPasses<'a> {
    rows: &'a mut dyn ExternalClasses,
    theta: Vec<Vec<f64>>,
    class: usize,
    /// Where [`Backend::loss`]'s pass writes (allocated once, not per call).
    scratch: Stats,
}

impl Backend for ClassPasses<'_> {
    fn dim(&self) -> usize {
        self.rows.dim()
    }
    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        self.theta[self.class].copy_from_slice(theta);
        self.rows.evaluate_class(&self.theta, self.class, needs, out)
    }
    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.theta[self.class].copy_from_slice(theta);
        self.rows.evaluate_class(&self.theta, self.class, Needs::Gradient, &mut self.scratch)?;
        Ok(self.scratch.loss)
    }
    fn info(&self) -> BackendInfo {
        self.rows.info()
    }
    /// The rows' devices may round; the multinomial sweeps never ask, as they judge
    /// convergence by their own f64 multinomial pass.
    fn exact(&self) -> bool {
        false
    }
    fn set_rows(&mut self, _problem: &Problem<'_>) -> Result<()> {
        Err(Passes::elsewhere())
    }
    fn gram_with_weights(
        &mut self,
        _weights: &[f64],
        _gram: &mut nalgebra::DMatrix<f64>,
    ) -> Result<()> {
        Err(Passes::elsewhere())
    }
}

/// The multinomial sweeps' view of rows held elsewhere.
struct RemoteClasses<'a> {
    passes: ClassPasses<'a>,
}

impl ClassRows for RemoteClasses<'_> {
    fn class_backend(&mut self, theta: &[Vec<f64>], c: usize) -> Result<&mut dyn Backend> {
        for (held, given) in self.passes.theta.iter_mut().zip(theta) {
            held.copy_from_slice(given);
        }
        self.passes.class = c;
        Ok(&mut self.passes)
    }

    fn class_moved(&mut self, _theta: &[Vec<f64>], _c: usize) {}

    fn evaluate(&mut self, theta: &[Vec<f64>], terms: &PenaltyTerms) -> Result<(f64, f64, f64)> {
        let dim = self.passes.rows.dim();
        let mut gradients = vec![vec![0.0; dim]; theta.len()];
        let loss = self.passes.rows.multinomial(theta, &mut gradients)?;
        let penalty: f64 = theta.iter().map(|t| terms.value(t)).sum();
        let (mut kkt, mut largest) = (0.0_f64, 0.0_f64);
        for (t, g) in theta.iter().zip(&gradients) {
            kkt = kkt.max(terms.kkt_violation(t, g));
            largest = g.iter().fold(largest, |m, v| m.max(v.abs()));
        }
        Ok((loss + penalty, kkt, largest))
    }
}

impl Glm {
    /// The symmetric multinomial logistic fit ([`Glm::symmetric_multinomial`]: every class's
    /// coefficients penalized, as scikit-learn and glmnet fit it) on rows held elsewhere,
    /// their labels coded 0..K: the sweeps of [`Glm::fit_multiclass`] with each class step's
    /// passes and each sweep's f64 objective and KKT check computed by `rows`.
    /// `class_weights` holds each class's Σ wᵢ (the starting intercepts).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for another family, a reference class or `standardize`;
    /// [`Error::InvalidOption`] as [`Glm::fit_statistics`], or for fewer than two classes;
    /// the rows' errors.
    pub fn fit_multinomial_statistics(
        &self,
        rows: &mut dyn ExternalClasses,
        summary: &RowSummary,
        class_weights: &[f64],
    ) -> Result<MulticlassFit> {
        let start = Instant::now();
        if self.family != Family::Logistic || !self.symmetric || self.standardize {
            return Err(Error::Unsupported {
                operation: "fit_multinomial_statistics",
                family: self.family.name(),
                reason: "rows held elsewhere fit the symmetric logistic multinomial, the design \
                         as given (no standardize)",
            });
        }
        let p = summary.column_mean.len();
        let model = self.model_for(p)?;
        let dim = p + usize::from(model.intercept());
        let k = class_weights.len();
        if k < 2 {
            return Err(Error::InvalidOption {
                name: "class_weights",
                value: k.to_string(),
                reason: "needs at least two classes",
            });
        }
        if rows.dim() != dim {
            return Err(Error::InvalidOption {
                name: "summary",
                value: format!("dimension {} for {dim}", rows.dim()),
                reason: "the rows' dimension must be the features, plus one with an intercept",
            });
        }
        let terms = model.terms(dim)?;
        let theta = starting_point(class_weights, 0, p, model.intercept());
        let scratch = Stats::gradient_only(dim);
        let passes = ClassPasses { rows, theta: theta.clone(), class: 0, scratch };
        let mut remote = RemoteClasses { passes };
        // The ℓ₁ zero thresholds as any fit's (the logit scale: each column's RMS alone).
        let zero_threshold =
            summary.facts(Family::Logistic).zero_thresholds(model.options().zero_tol, dim);
        let sweeps = sweeps(&mut remote, &terms, model.options(), theta, 0, &zero_threshold)?;
        let info = remote.passes.rows.info();
        let classes = (0..k).map(|c| c as f64).collect();
        Ok(sweeps.into_fit(classes, p, model.intercept(), start, info))
    }
}
