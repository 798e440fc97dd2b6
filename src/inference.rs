//! The inference table of an unpenalized or ridge fit, as R's `summary.glm` prints it: standard
//! errors from the Fisher information at the fit, z (or t) statistics, p-values, Wald confidence
//! intervals, deviance, null deviance, log-likelihood and AIC (docs/sm-em.md §10).
//!
//! With prior weights wᵢ, the GLM variance weights vᵢ (the expected curvature of the
//! log-likelihood in η: p(1 − p) logistic and binomial, 1 gaussian, μ Poisson, μθ/(μ + θ) negative
//! binomial) and x̃ᵢ = (xᵢ, 1), the information is I = Σ wᵢ vᵢ x̃ᵢx̃ᵢᵀ, plus W·diag(ridge) for a
//! ridge fit (its objective's penalty on the log-likelihood's scale). The covariance is φ I⁻¹,
//! with φ = 1 for the count and binary families and φ = Σ wᵢ rᵢ² / (n − d) for gaussian (R's
//! estimate, with t statistics on n − d degrees of freedom). For a ridge fit this is the inverse
//! penalized information (the covariance of the Laplace approximation), which R's `glm` has no
//! counterpart of; its degrees of freedom are counted as d.

use std::fmt;

use nalgebra::DMatrix;
use special::{Beta, Error as _, Gamma};

use crate::check::Entry;
use crate::counts;
use crate::data::{Data, Problem, Response};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::glm::{Fit, Glm};

/// The 97.5% quantile of the standard normal: the Wald intervals' multiplier for z statistics.
const NORMAL_975: f64 = 1.959_963_984_540_054;

/// One row of the table: a coefficient's estimate, standard error, test and 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefficient {
    /// The estimate.
    pub estimate: f64,
    /// Its standard error.
    pub standard_error: f64,
    /// estimate / standard error (a z statistic, or t for gaussian).
    pub statistic: f64,
    /// The two-sided p-value of the statistic (normal, or t on the residual degrees of freedom).
    pub p_value: f64,
    /// The lower end of the 95% Wald interval (R's `confint.default`).
    pub lower: f64,
    /// Its upper end.
    pub upper: f64,
}

/// The negative binomial's θ where it was estimated, with its standard error at the fitted
/// means (as `MASS::glm.nb` reports `theta` and `SE.theta`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dispersion {
    /// θ.
    pub theta: f64,
    /// 1/√(observed information of θ).
    pub standard_error: f64,
}

/// Standard errors, tests and fit statistics of a fit: R's `summary.glm` (see
/// [`Glm::inference`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    /// The family (with the θ or σ fitted).
    pub family: Family,
    /// The intercept's row, where one was fitted.
    pub intercept: Option<Coefficient>,
    /// One row per feature.
    pub coefficients: Vec<Coefficient>,
    /// Whether the statistics are t (gaussian, dispersion estimated) rather than z.
    pub t_statistics: bool,
    /// The dispersion φ the standard errors are scaled by (1, or the gaussian estimate).
    pub dispersion: f64,
    /// 2 Σ wᵢ (ℓᵢ − ℓᵢ at the saturated model): the residual deviance.
    pub deviance: f64,
    /// The deviance of the model with the intercept (and offset) alone.
    pub null_deviance: f64,
    /// Rows with positive weight less the coefficients.
    pub df_residual: f64,
    /// Rows with positive weight less one where an intercept is fitted.
    pub df_null: f64,
    /// The log-likelihood with every constant (R's `logLik`).
    pub log_likelihood: f64,
    /// −2 log-likelihood + 2 × parameters (coefficients, gaussian σ, an estimated θ).
    pub aic: f64,
    /// The negative binomial's estimated θ.
    pub theta: Option<Dispersion>,
}

impl Glm {
    /// The inference table of `fit`, a fit of this model to `data` (R's `summary.glm`):
    /// standard errors, z or t statistics, p-values, Wald intervals, deviances and AIC.
    ///
    /// # Errors
    /// [`Error::Unsupported`] where the table is not defined: an ℓ₁ or bridge penalty (exact
    /// zeros have no standard error), a family without a likelihood-based variance (hinge,
    /// quantile, Student-t), a standardized ridge; [`Error::FeatureMismatch`] when `fit` has
    /// another number of coefficients than `data` has columns; a singular information matrix
    /// (collinear columns) as [`Error::Numerical`]; and the data's own errors.
    pub fn inference(&self, fit: &Fit, data: &Data<'_>) -> Result<Inference> {
        data.on_rows(|data| self.inference_rows(fit, data))
    }

    fn inference_rows(&self, fit: &Fit, data: &Data<'_>) -> Result<Inference> {
        let refuse = |reason| Error::Unsupported {
            operation: "inference",
            family: self.family().name(),
            reason,
        };
        let (model, mut problem) = self.check(Entry::Fit, data)?;
        if !matches!(
            self.family(),
            Family::Logistic
                | Family::Binomial
                | Family::Gaussian
                | Family::Poisson
                | Family::NegativeBinomial { .. }
        ) {
            return Err(refuse(
                "standard errors are defined here for logistic, binomial, gaussian, Poisson and \
                 negative binomial fits",
            ));
        }
        let penalty = self.penalty;
        if penalty.lambda > 0.0 && penalty.alpha > 0.0 {
            return Err(refuse(
                "an ℓ1 or bridge penalty has exact zeros, which have no standard error (refit \
                 the selected features without it)",
            ));
        }
        if penalty.lambda > 0.0 && self.standardize {
            return Err(refuse(
                "the ridge of a standardized fit penalizes other coordinates; fit without \
                 standardize for its standard errors",
            ));
        }
        let p = problem.ncols();
        if fit.coefficients.len() != p {
            return Err(Error::FeatureMismatch { expected: fit.coefficients.len(), found: p });
        }
        // The d × d information and its inverse.
        let dim_bytes = 16 * ((p + 1) as u64).pow(2);
        model.with_full_matrices().check_memory_for(problem.nrows(), 0, dim_bytes)?;
        // The family as fitted (θ of an estimated negative binomial).
        problem.family = fit.family;
        let intercept = self.fit_intercept;
        let dim = p + usize::from(intercept);
        let eta = problem.linear_predictor(&fit.coefficients, fit.intercept);
        let information = information(&problem, &eta, intercept, &model.terms(dim)?.ridge)?;
        let rows = problem.weights.iter().filter(|&&w| w > 0.0).count() as f64;
        let df_residual = rows - dim as f64;
        let deviance = deviance(&problem, &eta);
        let gaussian = problem.family == Family::Gaussian;
        if gaussian && df_residual < 1.0 {
            // σ² and the t distribution need residual degrees of freedom (R gives NaN).
            return Err(refuse(
                "a gaussian fit with no more rows of positive weight than \
                               coefficients has no residual degrees of freedom to estimate σ²",
            ));
        }
        let dispersion = if gaussian { deviance / df_residual } else { 1.0 };
        let covariance = information * dispersion;
        let row = |j: usize, estimate: f64| {
            let standard_error = covariance[(j, j)].sqrt();
            let statistic = estimate / standard_error;
            let (p_value, multiplier) = if gaussian {
                t_test(statistic, df_residual)
            } else {
                ((statistic.abs() / std::f64::consts::SQRT_2).compl_error(), NORMAL_975)
            };
            Coefficient {
                estimate,
                standard_error,
                statistic,
                p_value,
                lower: estimate - multiplier * standard_error,
                upper: estimate + multiplier * standard_error,
            }
        };
        let coefficients = fit.coefficients.iter().enumerate().map(|(j, &b)| row(j, b)).collect();
        let (theta, estimated_theta) = match (problem.family, model.estimates_parameter()) {
            (Family::NegativeBinomial { theta }, true) => {
                let mu: Vec<f64> = eta.iter().map(|e| e.exp()).collect();
                let (_, info) = counts::theta_ml(&problem.y, &mu, &problem.weights, theta);
                let standard_error = if info > 0.0 { 1.0 / info.sqrt() } else { f64::INFINITY };
                (Some(Dispersion { theta, standard_error }), 1.0)
            }
            _ => (None, 0.0),
        };
        let log_likelihood = log_likelihood(&problem, data, &eta, deviance, rows);
        let parameters = dim as f64 + if gaussian { 1.0 } else { estimated_theta };
        Ok(Inference {
            family: problem.family,
            intercept: intercept.then(|| row(p, fit.intercept)),
            coefficients,
            t_statistics: gaussian,
            dispersion,
            deviance,
            null_deviance: null_deviance(&problem, intercept),
            df_residual,
            df_null: rows - f64::from(u8::from(intercept)),
            log_likelihood,
            aic: -2.0 * log_likelihood + 2.0 * parameters,
            theta,
        })
    }
}

/// The GLM variance weight vᵢ at η (the expected curvature of the log-likelihood in η).
fn variance_weight(family: Family, eta: f64) -> f64 {
    match family {
        Family::Poisson => eta.exp(),
        Family::NegativeBinomial { theta } => {
            let mu = eta.exp();
            mu * theta / (mu + theta)
        }
        // Canonical links: the curvature itself (1 gaussian, p(1 − p) logistic).
        other => other.estep(0.0, eta).curvature,
    }
}

/// (Σ wᵢ vᵢ x̃ᵢx̃ᵢᵀ + W diag(ridge))⁻¹, the intercept last.
fn information(
    problem: &Problem<'_>,
    eta: &[f64],
    intercept: bool,
    ridge: &[f64],
) -> Result<DMatrix<f64>> {
    let p = problem.ncols();
    let dim = p + usize::from(intercept);
    let mut matrix = DMatrix::zeros(dim, dim);
    let mut entries = Vec::new();
    for (i, &e) in eta.iter().enumerate() {
        let weight = problem.weights[i] * variance_weight(problem.family, e);
        if weight == 0.0 {
            continue;
        }
        entries.clear();
        problem.x.for_row(i, |j, v| entries.push((j, v)));
        if intercept {
            entries.push((p, 1.0));
        }
        for &(a, va) in &entries {
            for &(b, vb) in &entries {
                matrix[(a, b)] += weight * va * vb;
            }
        }
    }
    for (j, r) in ridge.iter().enumerate().take(dim) {
        matrix[(j, j)] += problem.weight_sum * r;
    }
    matrix.cholesky().map(|c| c.inverse()).ok_or_else(|| Error::Numerical {
        iteration: 0,
        reason: "the information matrix is singular (collinear or constant columns): no \
                 standard errors"
            .into(),
    })
}

/// 2 Σ wᵢ (ℓ(yᵢ, ηᵢ) − ℓ at the saturated model).
fn deviance(problem: &Problem<'_>, eta: &[f64]) -> f64 {
    let family = problem.family;
    eta.iter()
        .enumerate()
        .map(|(i, &e)| {
            let y = problem.y[i];
            2.0 * problem.weights[i] * (family.loss(y, e) - family.saturated_loss(y))
        })
        .sum()
}

/// The deviance of the intercept-only model (η = offset + b₀, b₀ by Newton's method on its one
/// coordinate with step halving), or of η = offset without an intercept.
fn null_deviance(problem: &Problem<'_>, intercept: bool) -> f64 {
    let n = problem.nrows();
    let family = problem.family;
    let at = |b: f64| -> Vec<f64> { (0..n).map(|i| problem.offset_at(i) + b).collect() };
    if !intercept {
        return deviance(problem, &at(0.0));
    }
    let loss = |b: f64| -> f64 {
        (0..n)
            .map(|i| problem.weights[i] * family.loss(problem.y[i], problem.offset_at(i) + b))
            .sum()
    };
    let (mean, total) = crate::driver::response_mean(problem);
    let mut b = crate::driver::null_intercept(problem, mean, total);
    let mut value = loss(b);
    for _ in 0..200 {
        let (mut gradient, mut curvature) = (0.0, 0.0);
        for i in 0..n {
            let moments = family.estep(problem.y[i], problem.offset_at(i) + b);
            gradient += problem.weights[i] * moments.derivative;
            curvature += problem.weights[i] * moments.curvature;
        }
        if curvature <= 0.0 || gradient == 0.0 {
            break;
        }
        let mut step = -gradient / curvature;
        let mut next = loss(b + step);
        let mut halvings = 0;
        while (next.is_nan() || next > value) && halvings < 60 {
            step *= 0.5;
            next = loss(b + step);
            halvings += 1;
        }
        if next.is_nan() || next > value || step.abs() <= 1e-15 * b.abs().max(1.0) {
            break;
        }
        (b, value) = (b + step, next);
    }
    deviance(problem, &at(b))
}

/// The log-likelihood with every constant, as R's `logLik` of the same fit.
fn log_likelihood(
    problem: &Problem<'_>,
    data: &Data<'_>,
    eta: &[f64],
    deviance: f64,
    rows: f64,
) -> f64 {
    let ln_gamma = |x: f64| Gamma::ln_gamma(x).0;
    let weights = &problem.weights;
    let loss: f64 = eta
        .iter()
        .enumerate()
        .map(|(i, &e)| weights[i] * problem.family.loss(problem.y[i], e))
        .sum();
    match problem.family {
        Family::Gaussian => {
            // R: dispersion deviance/n, and Σ log wᵢ for unequal weights.
            let log_weights: f64 = weights.iter().filter(|&&w| w > 0.0).map(|w| w.ln()).sum();
            -0.5 * (rows * (2.0 * std::f64::consts::PI * deviance / rows).ln() + rows - log_weights)
        }
        Family::Poisson => {
            -loss
                - problem
                    .y
                    .iter()
                    .zip(weights.iter())
                    .map(|(&y, &w)| w * ln_gamma(y + 1.0))
                    .sum::<f64>()
        }
        Family::NegativeBinomial { theta } => {
            let mu: Vec<f64> = eta.iter().map(|e| e.exp()).collect();
            counts::negative_binomial_log_likelihood(&problem.y, &mu, weights, theta)
        }
        Family::Binomial => {
            // ln C(m, s) of each row's counts, with its prior weight.
            let choose = match (&data.response, data.weights) {
                (Response::Counts { successes, trials }, given) => successes
                    .iter()
                    .zip(trials.iter())
                    .enumerate()
                    .map(|(i, (&s, &m))| {
                        let w = given.map_or(1.0, |g| g[i]);
                        w * (ln_gamma(m + 1.0) - ln_gamma(s + 1.0) - ln_gamma(m - s + 1.0))
                    })
                    .sum(),
                _ => 0.0,
            };
            choose - loss
        }
        _ => -loss,
    }
}

/// The two-sided p-value of t on `df` degrees of freedom, and the 97.5% t quantile.
fn t_test(t: f64, df: f64) -> (f64, f64) {
    if !(df > 0.0 && t.is_finite()) {
        return (f64::NAN, f64::NAN);
    }
    let (a, b) = (0.5 * df, 0.5);
    let ln_beta = a.ln_beta(b);
    let p_value = (df / (df + t * t)).inc_beta(a, b, ln_beta);
    // P(|T| > q) = 0.05: I_{df/(df + q²)}(df/2, ½) = 0.05.
    let x = 0.05_f64.inv_inc_beta(a, b, ln_beta);
    (p_value, (df * (1.0 - x) / x).sqrt())
}

impl Inference {
    /// The table as R's `summary.glm` prints it, with `names` for the feature rows (x1, x2, …
    /// where `None` or too short).
    pub fn table(&self, names: Option<&[String]>) -> String {
        let name = |j: usize| {
            names.and_then(|n| n.get(j)).cloned().unwrap_or_else(|| format!("x{}", j + 1))
        };
        let mut rows: Vec<(String, Coefficient)> = Vec::new();
        if let Some(b0) = self.intercept {
            rows.push(("(Intercept)".into(), b0));
        }
        rows.extend(self.coefficients.iter().enumerate().map(|(j, c)| (name(j), *c)));
        let width = rows.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0).max(11);
        let (stat, p) =
            if self.t_statistics { ("t value", "Pr(>|t|)") } else { ("z value", "Pr(>|z|)") };
        let mut out = String::from("Coefficients:\n");
        out += &format!(
            "{:width$}  {:>13}  {:>13}  {:>8}  {:>10}  {:>13}  {:>13}\n",
            "", "Estimate", "Std. Error", stat, p, "2.5 %", "97.5 %"
        );
        for (n, c) in &rows {
            out += &format!(
                "{n:width$}  {:>13}  {:>13}  {:>8.3}  {:>10}  {:>13}  {:>13}\n",
                scientific(c.estimate, 6),
                scientific(c.standard_error, 6),
                c.statistic,
                scientific(c.p_value, 3),
                scientific(c.lower, 6),
                scientific(c.upper, 6)
            );
        }
        let family = self.family.name();
        if self.t_statistics {
            out += &format!(
                "\n(Dispersion parameter for {family} family taken to be {:.6})\n",
                self.dispersion
            );
        } else {
            out += &format!("\n(Dispersion parameter for {family} family taken to be 1)\n");
        }
        out += &format!(
            "\n    Null deviance: {:.6}  on {} degrees of freedom\nResidual deviance: {:.6}  on {} degrees of freedom\nAIC: {:.6}\n",
            self.null_deviance, self.df_null, self.deviance, self.df_residual, self.aic
        );
        if let Some(theta) = self.theta {
            out += &format!(
                "\n              Theta:  {:.6}\n          Std. Err.:  {:.6}\n",
                theta.theta, theta.standard_error
            );
        }
        out += &format!(" 2 x log-likelihood:  {:.6}\n", 2.0 * self.log_likelihood);
        out
    }
}

/// `value` as C's `%.{digits}e` prints it (R's style): a signed two-digit exponent, 2.611017e-04.
fn scientific(value: f64, digits: usize) -> String {
    let text = format!("{value:.digits$e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, magnitude) = match exponent.strip_prefix('-') {
                Some(m) => ('-', m),
                None => ('+', exponent),
            };
            format!("{mantissa}e{sign}{magnitude:0>2}")
        }
        None => text, // inf, NaN
    }
}

impl fmt::Display for Inference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table(None))
    }
}
