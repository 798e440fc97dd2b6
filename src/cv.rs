//! k-fold cross-validation along a regularization path.
//!
//! The path is first fitted on all the data (that fixes the λ sequence and is the final refit);
//! then, for each fold, the same λ sequence is fitted with the fold's rows held out by giving
//! them weight 0, so no fold copies X, and on the GPU the device copy of X uploaded for the
//! first fold serves every fold (only the weights are re-sent). Each held-out fold is scored
//! per λ; `lambda_min` minimizes the mean score (maximizes AUC) and `lambda_1se` is the largest
//! λ whose mean is within one standard error of that optimum (glmnet's rule).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::check::Entry;
use crate::data::{Data, Design, Problem, Response};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::glm::Glm;
use crate::path::{PathOptions, RegularizationPath};

/// How held-out predictions are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Metric {
    /// 2 × the mean held-out loss (the binomial deviance for logistic, the MSE for gaussian).
    Deviance,
    /// The fraction of held-out labels predicted wrongly (logistic, hinge).
    Misclassification,
    /// Area under the ROC curve of η (logistic, hinge); larger is better.
    Auc,
    /// Mean squared error of η against y (regression families).
    Mse,
    /// Mean absolute error of η against y (regression families).
    Mae,
    /// Mean check (pinball) loss at the model's q (quantile).
    CheckLoss,
}

impl Metric {
    /// Every metric name [`Metric`] parses, in the order the command line lists them.
    pub const NAMES: [&'static str; 6] =
        ["deviance", "misclassification", "auc", "mse", "mae", "check-loss"];

    /// The family's usual metric ([`Family::default_metric`]).
    pub fn default_for(family: Family) -> Metric {
        family.default_metric()
    }

    fn larger_is_better(self) -> bool {
        self == Metric::Auc
    }

    pub(crate) fn check(self, family: Family) -> Result<()> {
        let classification = family.is_classification();
        let ok = match self {
            Metric::Deviance => true,
            Metric::Misclassification | Metric::Auc => classification,
            Metric::Mse | Metric::Mae => !classification,
            Metric::CheckLoss => matches!(family, Family::Quantile { .. }),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidOption {
                name: "metric",
                value: self.to_string(),
                reason: "does not apply to this family",
            })
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;

    /// One of [`Metric::NAMES`] (any case, `_` read as `-`); `misclass` and `check` are read
    /// as `misclassification` and `check-loss`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "deviance" => Ok(Metric::Deviance),
            "misclassification" | "misclass" => Ok(Metric::Misclassification),
            "auc" => Ok(Metric::Auc),
            "mse" => Ok(Metric::Mse),
            "mae" => Ok(Metric::Mae),
            "check-loss" | "check" => Ok(Metric::CheckLoss),
            _ => Err(Error::InvalidOption {
                name: "metric",
                value: s.to_owned(),
                reason: "must be one of deviance, misclassification, auc, mse, mae, check-loss",
            }),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Metric::Deviance => "deviance",
            Metric::Misclassification => "misclassification",
            Metric::Auc => "auc",
            Metric::Mse => "mse",
            Metric::Mae => "mae",
            Metric::CheckLoss => "check-loss",
        })
    }
}

/// A fold assignment: `assignment()[i]` is row i's fold in 0..k. Reusable across models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folds {
    assignment: Vec<usize>,
    k: usize,
}

impl Folds {
    /// Rows shuffled with `seed`, then dealt to k folds in turn (sizes differ by at most one).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] unless 2 ≤ k ≤ n.
    pub fn new(n: usize, k: usize, seed: u64) -> Result<Self> {
        Self::check_k(n, k)?;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let mut assignment = vec![0; n];
        for (slot, &i) in order.iter().enumerate() {
            assignment[i] = slot % k;
        }
        Ok(Self { assignment, k })
    }

    /// Stratified: each label's rows are shuffled with `seed` and dealt to the folds in turn,
    /// continuing where the previous label stopped, so every fold has each label in proportion.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] unless 2 ≤ k ≤ n.
    pub fn stratified(labels: &[f64], k: usize, seed: u64) -> Result<Self> {
        Self::check_k(labels.len(), k)?;
        let mut classes: Vec<f64> = labels.to_vec();
        classes.sort_by(f64::total_cmp);
        classes.dedup();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut assignment = vec![0; labels.len()];
        let mut slot = 0;
        for class in classes {
            let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
            rows.shuffle(&mut rng);
            for i in rows {
                assignment[i] = slot % k;
                slot += 1;
            }
        }
        Ok(Self { assignment, k })
    }

    /// A given assignment: `assignment[i]` is row i's fold, in 0..k.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] unless 2 ≤ k ≤ n and every entry is below k.
    pub fn from_assignment(assignment: Vec<usize>, k: usize) -> Result<Self> {
        Self::check_k(assignment.len(), k)?;
        if let Some(&bad) = assignment.iter().find(|&&f| f >= k) {
            return Err(Error::InvalidOption {
                name: "folds",
                value: bad.to_string(),
                reason: "a fold index must be below the number of folds",
            });
        }
        Ok(Self { assignment, k })
    }

    fn check_k(n: usize, k: usize) -> Result<()> {
        if k < 2 || k > n {
            return Err(Error::InvalidOption {
                name: "folds",
                value: k.to_string(),
                reason: "must be at least 2 and at most the number of rows",
            });
        }
        Ok(())
    }

    /// Row i's fold.
    pub fn assignment(&self) -> &[usize] {
        &self.assignment
    }

    /// Number of folds.
    pub fn k(&self) -> usize {
        self.k
    }
}

/// Cross-validation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CvOptions {
    /// Number of folds (default 5).
    pub folds: usize,
    /// Seed of the fold assignment (default 0).
    pub seed: u64,
    /// The score; `None` takes [`Metric::default_for`] the family.
    pub metric: Option<Metric>,
    /// The path's layout (its early stop applies to the all-data path; folds follow its λs).
    pub path: PathOptions,
}

impl Default for CvOptions {
    fn default() -> Self {
        Self { folds: 5, seed: 0, metric: None, path: PathOptions::default() }
    }
}

/// The outcome of a cross-validation.
#[derive(Debug, Clone)]
pub struct CvResult {
    /// The path fitted on all the data (the final refit): its points carry the coefficients at
    /// every λ, including `lambda_min` and `lambda_1se`.
    pub path: RegularizationPath,
    /// Mean held-out score per λ (fold-size weighted).
    pub mean: Vec<f64>,
    /// Its standard error per λ.
    pub standard_error: Vec<f64>,
    /// The λ with the best mean score.
    pub lambda_min: f64,
    /// The largest λ within one standard error of the best.
    pub lambda_1se: f64,
    /// The score used.
    pub metric: Metric,
    /// The folds used.
    pub folds: Folds,
}

impl Glm {
    /// k-fold cross-validation along a path (stratified folds for logistic and hinge).
    ///
    /// # Errors
    /// As [`Glm::path`]; [`Error::InvalidOption`] for a bad fold count or a metric that does not
    /// apply to the family.
    pub fn cv<'a, X, Y>(&self, x: X, y: &'a Y, options: &CvOptions) -> Result<CvResult>
    where
        X: Into<Design<'a>>,
        Y: crate::AsTarget + ?Sized,
    {
        self.cv_data(&Data::new(x, y), options)
    }

    /// [`Glm::cv`] on `data` (labels or values, or binomial counts, with optional sample
    /// weights): folds stratified by label for logistic and hinge values, random otherwise
    /// (binomial held-out rows are scored with their trials as weights).
    ///
    /// # Errors
    /// As [`Glm::fit_data`] and [`Glm::cv`].
    pub fn cv_data(&self, data: &Data<'_>, options: &CvOptions) -> Result<CvResult> {
        let folds = match &data.response {
            Response::Values(target) if self.family().is_classification() => {
                Folds::stratified(target, options.folds, options.seed)?
            }
            _ => Folds::new(data.nrows(), options.folds, options.seed)?,
        };
        self.cv_with_folds(data, &folds, options)
    }

    /// Cross-validation on `data` with the given folds.
    ///
    /// # Errors
    /// As [`Glm::cv_data`]; [`Error::LengthMismatch`] when the folds do not match the rows.
    pub fn cv_with_folds(
        &self,
        data: &Data<'_>,
        folds: &Folds,
        options: &CvOptions,
    ) -> Result<CvResult> {
        data.on_rows(|data| {
            let (model, problem) = self.check(Entry::Cv, data)?;
            model.cv(&problem, folds, options)
        })
    }
}

/// The cross-validation result from per-fold scores (`scores[fold][λ]`) and held-out weights.
pub(crate) fn summarize(
    path: RegularizationPath,
    scores: &[Vec<f64>],
    sizes: &[f64],
    metric: Metric,
    folds: Folds,
) -> CvResult {
    let lambdas = path.lambdas();
    let k = scores.len();
    let total: f64 = sizes.iter().sum();
    let mut mean = vec![0.0; lambdas.len()];
    let mut standard_error = vec![0.0; lambdas.len()];
    for l in 0..lambdas.len() {
        let m = (0..k).map(|f| sizes[f] * scores[f][l]).sum::<f64>() / total;
        let var = (0..k).map(|f| sizes[f] * (scores[f][l] - m).powi(2)).sum::<f64>() / total;
        mean[l] = m;
        standard_error[l] = (var / (k as f64 - 1.0)).sqrt();
    }
    let better = |a: f64, b: f64| if metric.larger_is_better() { a > b } else { a < b };
    let best = (0..lambdas.len()).fold(0, |b, l| if better(mean[l], mean[b]) { l } else { b });
    let bound = if metric.larger_is_better() {
        mean[best] - standard_error[best]
    } else {
        mean[best] + standard_error[best]
    };
    // λ decreases along the path: the first index within the bound is the largest λ.
    let within =
        |l: usize| if metric.larger_is_better() { mean[l] >= bound } else { mean[l] <= bound };
    let one_se = (0..=best).find(|&l| within(l)).unwrap_or(best);
    CvResult {
        lambda_min: lambdas[best],
        lambda_1se: lambdas[one_se],
        path,
        mean,
        standard_error,
        metric,
        folds,
    }
}

/// A weighted mean of one metric's per-row term over held-out rows, fed one row at a time
/// (AUC, which ranks all rows, is computed apart).
pub(crate) struct Scorer {
    metric: Metric,
    family: Family,
    sum: f64,
    weight: f64,
}

impl Scorer {
    /// An empty mean of `metric`'s term for `family`.
    pub(crate) fn new(metric: Metric, family: Family) -> Self {
        Self { metric, family, sum: 0.0, weight: 0.0 }
    }

    /// The term of a row with response `y`, linear predictor `eta` and weight `w`.
    fn term(&self, y: f64, eta: f64) -> f64 {
        match self.metric {
            // The binomial deviance is measured from the saturated model (success fractions
            // strictly between 0 and 1 have a positive minimal loss).
            Metric::Deviance => 2.0 * (self.family.loss(y, eta) - self.family.saturated_loss(y)),
            Metric::Misclassification => f64::from(u8::from((eta >= 0.0) != (y > 0.0))),
            // On the response scale (the mean count e^η for Poisson and the negative binomial).
            Metric::Mse => (y - self.family.inverse_link(eta)).powi(2),
            Metric::Mae => (y - self.family.inverse_link(eta)).abs(),
            Metric::CheckLoss => self.family.loss(y, eta),
            Metric::Auc => f64::NAN,
        }
    }

    /// Adds one row.
    pub(crate) fn add(&mut self, y: f64, eta: f64, w: f64) {
        self.sum += w * self.term(y, eta);
        self.weight += w;
    }

    /// The rows' total weight.
    pub(crate) fn weight(&self) -> f64 {
        self.weight
    }

    /// The weighted mean.
    pub(crate) fn finish(&self) -> f64 {
        self.sum / self.weight.max(f64::MIN_POSITIVE)
    }
}

/// The metric on the held-out rows (weighted by the sample weights).
pub(crate) fn score(
    problem: &Problem<'_>,
    rows: &[usize],
    beta: &[f64],
    b0: f64,
    metric: Metric,
) -> f64 {
    let p = problem.ncols();
    let eta = |i: usize| b0 + problem.offset_at(i) + problem.x.row_dot(i, &beta[..p]);
    if metric == Metric::Auc {
        let scored: Vec<(f64, bool, f64)> =
            rows.iter().map(|&i| (eta(i), problem.y[i] > 0.0, problem.weights[i])).collect();
        return auc(scored);
    }
    let mut scorer = Scorer::new(metric, problem.family);
    for &i in rows {
        scorer.add(problem.y[i], eta(i), problem.weights[i]);
    }
    scorer.finish()
}

/// Weighted Mann–Whitney AUC: P(η of a positive > η of a negative), ties counting ½.
fn auc(mut scored: Vec<(f64, bool, f64)>) -> f64 {
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut negatives_below, mut pairs, mut total_pos, mut total_neg) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < scored.len() {
        let mut j = i;
        let (mut pos, mut neg) = (0.0, 0.0);
        while j < scored.len() && scored[j].0 == scored[i].0 {
            if scored[j].1 {
                pos += scored[j].2
            } else {
                neg += scored[j].2
            }
            j += 1;
        }
        pairs += pos * (negatives_below + 0.5 * neg);
        negatives_below += neg;
        total_pos += pos;
        total_neg += neg;
        i = j;
    }
    if total_pos == 0.0 || total_neg == 0.0 { 0.5 } else { pairs / (total_pos * total_neg) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line and the Python package offer `NAMES`: each must parse, and print back
    /// as itself; the short forms name the same metrics.
    #[test]
    fn every_metric_name_parses_and_prints_as_itself() {
        for name in Metric::NAMES {
            let metric: Metric = name.parse().expect("a listed name parses");
            assert_eq!(metric.to_string(), name);
        }
        assert_eq!("misclass".parse::<Metric>().unwrap(), Metric::Misclassification);
        assert_eq!("check".parse::<Metric>().unwrap(), Metric::CheckLoss);
        assert!("r2".parse::<Metric>().is_err());
    }
}
