//! Regularization paths, the public side: [`PathOptions`], [`PathPoint`],
//! [`RegularizationPath`] and the `Glm::path*` entry points. How a path is fitted — the null
//! model, λ_max, strong rules, warm starts — is the driver's (`driver/path.rs`).

use std::time::Duration;

use crate::backend::BackendInfo;
use crate::check::Entry;
use crate::data::{Data, Design};
use crate::error::Result;
use crate::glm::Glm;
use crate::solver::Termination;

/// How a path is laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct PathOptions {
    /// Number of λ values (default 40).
    pub n_lambda: usize,
    /// λ_min / λ_max; `None`: 1e-4 when n > p, else 1e-2 (glmnet's defaults).
    pub lambda_min_ratio: Option<f64>,
    /// Explicit λ values (any order; fitted from the largest down). Overrides the two above.
    pub lambdas: Option<Vec<f64>>,
    /// Stop the default sequence early when the deviance ratio changes by less than 1e-5
    /// (relative) from one point to the next or exceeds 0.999, as glmnet does. Explicit λ
    /// lists always run to the end.
    pub early_stop: bool,
    /// Sequential strong rules with a KKT check for lasso and elastic net on the CPU.
    pub strong_rules: bool,
}

impl Default for PathOptions {
    fn default() -> Self {
        Self {
            n_lambda: 40,
            lambda_min_ratio: None,
            lambdas: None,
            early_stop: true,
            strong_rules: true,
        }
    }
}

/// One point of a path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathPoint {
    /// The penalty strength.
    pub lambda: f64,
    /// β, one per feature.
    pub coefficients: Vec<f64>,
    /// b₀ (0 without an intercept).
    pub intercept: f64,
    /// F at this λ, from the loss's definition.
    pub objective: f64,
    /// Number of nonzero coefficients.
    pub nonzeros: usize,
    /// 1 − (L − L_sat)/(L_null − L_sat): the fraction of the null deviance explained.
    pub deviance_ratio: f64,
    /// SM-EM iterations (summed over strong-rule refits).
    pub iterations: usize,
    /// How the (last) solve stopped.
    pub termination: Termination,
    /// Refits because the strong rules had discarded a feature that violated its KKT condition
    /// (0 when they were right, or not used).
    pub kkt_refits: usize,
    /// Wall time of this point.
    pub elapsed: Duration,
}

/// A fitted regularization path, strongest penalty first.
#[derive(Debug, Clone)]
pub struct RegularizationPath {
    /// The points, λ decreasing.
    pub points: Vec<PathPoint>,
    /// The smallest λ at which every penalized coefficient is zero (for ridge, glmnet's
    /// convention: the same with α = 0.001).
    pub lambda_max: f64,
    /// Whether the default sequence ended early (see [`PathOptions::early_stop`]).
    pub stopped_early: bool,
    /// The backend and device that ran.
    pub backend: BackendInfo,
    /// Wall time of the whole path.
    pub elapsed: Duration,
}

impl RegularizationPath {
    /// The λ values, decreasing.
    pub fn lambdas(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.lambda).collect()
    }
}

impl Glm {
    /// Fits the model along a path of λ values (the builder's λ is ignored; α, the exponent,
    /// penalty factors and everything else apply). See the module docs of `path` for what is
    /// shared between points.
    ///
    /// # Errors
    /// As [`Glm::fit`]; [`Error::InvalidOption`](crate::Error::InvalidOption) for a bad λ list, ratio or `n_lambda`.
    pub fn path<'a, X, Y>(
        &self,
        x: X,
        y: &'a Y,
        options: &PathOptions,
    ) -> Result<RegularizationPath>
    where
        X: Into<Design<'a>>,
        Y: crate::AsTarget + ?Sized,
    {
        self.path_data(&Data::new(x, y), options)
    }

    /// [`Glm::path`] on `data`: labels or values, or binomial counts ([`Data::binomial`]),
    /// with optional sample weights.
    ///
    /// # Errors
    /// As [`Glm::fit_data`] and [`Glm::path`].
    pub fn path_data(&self, data: &Data<'_>, options: &PathOptions) -> Result<RegularizationPath> {
        data.on_rows(|data| {
            let (model, problem) = self.check(Entry::Path, data)?;
            model.path(&problem, options)
        })
    }
}
