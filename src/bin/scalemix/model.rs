//! The JSON files: a fitted model (read back by `predict`), a path, a cross-validation.

use std::fmt::Write as _;
use std::path::Path as FilePath;

use nalgebra::DMatrix;
use scalemix::{
    CvResult, Family, Fit, Inference, LinearModel, MulticlassFit, MulticlassModel,
    RegularizationPath,
};
use serde::{Deserialize, Serialize};

use scalemix::io::Dataset;

/// Coefficients a model's summary lists one by one; a wider model lists its largest ones.
const SHOWN_COEFFICIENTS: usize = 50;

/// A fitted model as `fit --output` writes it.
#[derive(Serialize, Deserialize)]
pub struct ModelFile {
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantile: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sigma: Option<f64>,
    /// The negative binomial's θ (given or estimated).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub theta: Option<f64>,
    /// The offset column the model was fitted with: `predict` reads it again by default.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset_column: Option<String>,
    pub lambda: f64,
    pub alpha: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bridge_q: Option<f64>,
    /// b₀ (0 when no intercept was fitted); for multinomial, see `intercepts`.
    pub intercept: f64,
    /// β in column order; for multinomial, see `coefs`.
    pub coef: Vec<f64>,
    pub feature_names: Vec<String>,
    pub objective: f64,
    pub iterations: usize,
    pub converged: bool,
    pub termination: String,
    /// The KKT violation at the result, computed in f64 on the CPU (what `converged` rests on).
    #[serde(default)]
    pub kkt_violation: f64,
    pub backend: String,
    pub device: String,
    pub elapsed_seconds: f64,
    /// Multinomial / one-vs-rest: the class labels, one coefficient vector and intercept each.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub classes: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub coefs: Option<Vec<Vec<f64>>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub intercepts: Option<Vec<f64>>,
    /// R's summary.glm table, where it is defined (unpenalized or ridge fits of logistic,
    /// binomial, gaussian, Poisson and negative binomial models).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inference: Option<InferenceFile>,
    /// Why a fit that could have one has no table (e.g. collinear columns).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inference_note: Option<String>,
}

/// One coefficient's row of the inference table.
#[derive(Serialize, Deserialize)]
pub struct CoefficientRow {
    pub name: String,
    pub estimate: f64,
    pub std_error: f64,
    /// z, or t for gaussian (see `InferenceFile::statistic`).
    pub statistic: f64,
    pub p_value: f64,
    /// The 95% Wald interval.
    pub lower: f64,
    pub upper: f64,
}

/// The inference table in the model file.
#[derive(Serialize, Deserialize)]
pub struct InferenceFile {
    /// "z" or "t".
    pub statistic: String,
    /// The intercept first (where fitted), then the features.
    pub coefficients: Vec<CoefficientRow>,
    pub dispersion: f64,
    pub deviance: f64,
    pub null_deviance: f64,
    pub df_residual: f64,
    pub df_null: f64,
    pub log_likelihood: f64,
    pub aic: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub theta_std_error: Option<f64>,
    /// The table as R prints it.
    pub table: String,
}

impl ModelFile {
    pub fn single(
        fit: &Fit,
        lambda: f64,
        alpha: f64,
        bridge_q: Option<f64>,
        features: &[String],
    ) -> Self {
        let (quantile, nu, sigma) = match fit.family() {
            Family::Quantile { q } => (Some(q), None, None),
            Family::StudentT { nu, sigma } => (None, Some(nu), Some(sigma)),
            _ => (None, None, None),
        };
        let theta = match fit.family() {
            Family::NegativeBinomial { theta } => Some(theta),
            _ => None,
        };
        Self {
            family: fit.family().name().to_string(),
            quantile,
            nu,
            sigma,
            theta,
            offset_column: None,
            lambda,
            alpha: if bridge_q.is_some() { 1.0 } else { alpha },
            bridge_q,
            intercept: fit.intercept(),
            coef: fit.coefficients().to_vec(),
            feature_names: features.to_vec(),
            objective: fit.objective(),
            iterations: fit.iterations(),
            converged: fit.converged(),
            termination: fit.termination().to_string(),
            kkt_violation: fit.kkt_violation(),
            backend: fit.backend().kind.to_string(),
            device: fit.backend().device.clone(),
            elapsed_seconds: fit.elapsed().as_secs_f64(),
            classes: None,
            coefs: None,
            intercepts: None,
            inference: None,
            inference_note: None,
        }
    }

    /// Records the fit's inference table (rows named after the features).
    pub fn set_inference(&mut self, table: &Inference) {
        let row = |name: String, c: &scalemix::Coefficient| CoefficientRow {
            name,
            estimate: c.estimate,
            std_error: c.standard_error,
            statistic: c.statistic,
            p_value: c.p_value,
            lower: c.lower,
            upper: c.upper,
        };
        let mut coefficients: Vec<CoefficientRow> =
            table.intercept.iter().map(|c| row("(Intercept)".into(), c)).collect();
        coefficients.extend(
            table.coefficients.iter().zip(&self.feature_names).map(|(c, n)| row(n.clone(), c)),
        );
        self.inference = Some(InferenceFile {
            statistic: if table.t_statistics { "t" } else { "z" }.into(),
            coefficients,
            dispersion: table.dispersion,
            deviance: table.deviance,
            null_deviance: table.null_deviance,
            df_residual: table.df_residual,
            df_null: table.df_null,
            log_likelihood: table.log_likelihood,
            aic: table.aic,
            theta_std_error: table.theta.map(|t| t.standard_error),
            table: table.table(Some(&self.feature_names)),
        });
    }

    pub fn multiclass(
        fit: &MulticlassFit,
        lambda: f64,
        alpha: f64,
        bridge_q: Option<f64>,
        features: &[String],
    ) -> Self {
        let k = fit.classes().len();
        let coefs: Vec<Vec<f64>> =
            (0..k).map(|c| fit.coefficients().column(c).iter().copied().collect()).collect();
        Self {
            family: if fit.family() == Family::Hinge { "hinge-ovr" } else { "multinomial" }.into(),
            quantile: None,
            nu: None,
            sigma: None,
            theta: None,
            offset_column: None,
            lambda,
            alpha: if bridge_q.is_some() { 1.0 } else { alpha },
            bridge_q,
            intercept: 0.0,
            coef: Vec::new(),
            feature_names: features.to_vec(),
            objective: fit.objective(),
            iterations: fit.iterations(),
            converged: fit.converged(),
            termination: fit.termination().to_string(),
            kkt_violation: fit.kkt_violation(),
            backend: fit.backend().kind.to_string(),
            device: fit.backend().device.clone(),
            elapsed_seconds: fit.elapsed().as_secs_f64(),
            classes: Some(fit.classes().to_vec()),
            coefs: Some(coefs),
            intercepts: Some(fit.intercepts().to_vec()),
            inference: None,
            inference_note: None,
        }
    }

    /// A readable summary for the terminal.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} model, λ = {}, α = {}: objective {:.15}, {} iterations, {} (KKT {:.1e}; {}, {}), \
             {:.3} s\n",
            self.family,
            self.lambda,
            self.alpha,
            self.objective,
            self.iterations,
            self.termination,
            self.kkt_violation,
            self.backend,
            self.device,
            self.elapsed_seconds
        );
        match (&self.classes, &self.coefs, &self.intercepts) {
            (Some(classes), Some(coefs), Some(intercepts)) => {
                for (c, label) in classes.iter().enumerate() {
                    let _ = writeln!(s, "class {label}: intercept {:.6}", intercepts[c]);
                    self.write_coefficients(&mut s, &coefs[c]);
                }
            }
            _ => match &self.inference {
                // The coefficients with their standard errors, as R prints them.
                Some(inference) if self.coef.len() <= SHOWN_COEFFICIENTS => {
                    s.push_str(&inference.table);
                }
                _ => {
                    let _ = writeln!(s, "  {:<20} {:>14.6}", "(intercept)", self.intercept);
                    self.write_coefficients(&mut s, &self.coef);
                }
            },
        }
        if let Some(theta) = self.theta {
            let _ = writeln!(s, "θ = {theta}");
        }
        if let Some(note) = &self.inference_note {
            let _ = writeln!(s, "{note}");
        }
        s
    }

    /// One line a coefficient, in feature order; past [`SHOWN_COEFFICIENTS`] features only the
    /// largest in magnitude, with a line that says how many are left out and where they are.
    fn write_coefficients(&self, s: &mut String, coef: &[f64]) {
        let mut shown: Vec<usize> = (0..coef.len()).collect();
        if coef.len() > SHOWN_COEFFICIENTS {
            shown.sort_by(|&a, &b| coef[b].abs().total_cmp(&coef[a].abs()));
            shown.truncate(SHOWN_COEFFICIENTS);
            shown.retain(|&j| coef[j] != 0.0);
            shown.sort_unstable();
        }
        for &j in &shown {
            let _ = writeln!(s, "  {:<20} {:>14.6}", self.feature_names[j], coef[j]);
        }
        if shown.len() < coef.len() {
            let nonzeros = coef.iter().filter(|b| **b != 0.0).count();
            let _ = writeln!(
                s,
                "  … {} of {} coefficients shown ({nonzeros} nonzero, the largest here); \
                 --output writes them all",
                shown.len(),
                coef.len()
            );
        }
    }

    /// The family the file names, with its parameters.
    fn family_value(&self) -> Result<Family, String> {
        let need = |value: Option<f64>, name: &str| {
            value.ok_or_else(|| format!("the {} model file has no {name}", self.family))
        };
        // The multiclass files name their scheme; each class's model is logistic or hinge.
        let name = match self.family.as_str() {
            "multinomial" => "logistic",
            "hinge-ovr" => "hinge",
            name => name,
        };
        let family: Family = name
            .parse()
            .map_err(|_| format!("unknown family {:?} in the model file", self.family))?;
        Ok(match family {
            Family::Quantile { .. } => Family::Quantile { q: need(self.quantile, "quantile")? },
            Family::StudentT { .. } => {
                Family::StudentT { nu: need(self.nu, "nu")?, sigma: need(self.sigma, "sigma")? }
            }
            Family::NegativeBinomial { .. } => {
                Family::NegativeBinomial { theta: need(self.theta, "theta")? }
            }
            other => other,
        })
    }

    /// Predictions as CSV text: one row per data row, from the library's model types (which
    /// also check that the file's parameters fit together).
    pub fn predict(&self, data: &Dataset) -> Result<String, String> {
        let family = self.family_value()?;
        let x = data.design().map_err(|e| e.to_string())?;
        let cells =
            |values: &[f64]| values.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
        let mut out = String::new();
        if let (Some(classes), Some(coefs), Some(intercepts)) =
            (&self.classes, &self.coefs, &self.intercepts)
        {
            if data.offset.is_some() {
                return Err("a multi-class model takes no offset".into());
            }
            let p = data.p;
            if let Some(c) = coefs.iter().position(|column| column.len() != p) {
                return Err(format!(
                    "the model's class {c} has {} coefficients for {p} features",
                    coefs[c].len()
                ));
            }
            let matrix = DMatrix::from_fn(p, coefs.len(), |j, c| coefs[c][j]);
            let model = MulticlassModel::new(family, classes.clone(), matrix, intercepts.clone())
                .map_err(|e| e.to_string())?;
            let labels = model.predict(x).map_err(|e| e.to_string())?;
            let softmax = family.has_probabilities();
            let values = if softmax { model.predict_proba(x) } else { model.decision_function(x) }
                .map_err(|e| e.to_string())?;
            let prefix = if softmax { "p_" } else { "score_" };
            let header: Vec<String> = classes.iter().map(|c| format!("{prefix}{c}")).collect();
            let _ = writeln!(out, "prediction,{}", header.join(","));
            for (i, label) in labels.iter().enumerate() {
                let row: Vec<f64> = values.row(i).iter().copied().collect();
                let _ = writeln!(out, "{label},{}", cells(&row));
            }
            return Ok(out);
        }
        if self.coef.len() != data.p {
            return Err(format!(
                "the model has {} coefficients for {} features",
                self.coef.len(),
                data.p
            ));
        }
        let model = LinearModel::new(family, self.coef.clone(), self.intercept)
            .map_err(|e| e.to_string())?;
        let eta = match &data.offset {
            Some(offset) => model.decision_function_with_offset(x, offset),
            None => model.decision_function(x),
        }
        .map_err(|e| e.to_string())?;
        out.push_str(prediction_header(family));
        prediction_rows(family, &eta, &mut out);
        Ok(out)
    }

    /// The single-response model, for predictions streamed from a source.
    pub fn linear_model(&self) -> Result<LinearModel, String> {
        if self.classes.is_some() {
            return Err("predictions of a multi-class model need the data in memory (drop \
                        --stream or raise --max-memory)"
                .into());
        }
        LinearModel::new(self.family_value()?, self.coef.clone(), self.intercept)
            .map_err(|e| e.to_string())
    }
}

/// The header line of a single-response model's predictions.
pub fn prediction_header(family: Family) -> &'static str {
    if family.has_probabilities() {
        "prediction,probability,eta\n"
    } else if family.is_classification() {
        "prediction,decision\n"
    } else {
        "prediction\n"
    }
}

/// One line per row of a single-response model's predictions from η.
pub fn prediction_rows(family: Family, eta: &[f64], out: &mut String) {
    for &e in eta {
        let label = family.predict(e);
        let _ = match family.probability(e) {
            Some(prob) => writeln!(out, "{label},{prob},{e}"),
            None if family.is_classification() => writeln!(out, "{label},{e}"),
            None => writeln!(out, "{label}"),
        };
    }
}

/// A path as `path --output` writes it.
#[derive(Serialize)]
pub struct PathFile {
    pub lambda_max: f64,
    pub lambdas: Vec<f64>,
    pub intercepts: Vec<f64>,
    pub coefs: Vec<Vec<f64>>,
    pub objectives: Vec<f64>,
    pub nonzeros: Vec<usize>,
    pub deviance_ratios: Vec<f64>,
    pub iterations: Vec<usize>,
    pub stopped_early: bool,
    pub feature_names: Vec<String>,
    pub backend: String,
    pub device: String,
    pub elapsed_seconds: f64,
}

impl PathFile {
    pub fn new(path: &RegularizationPath, features: &[String]) -> Self {
        let points = &path.points;
        Self {
            lambda_max: path.lambda_max,
            lambdas: points.iter().map(|q| q.lambda).collect(),
            intercepts: points.iter().map(|q| q.intercept).collect(),
            coefs: points.iter().map(|q| q.coefficients.clone()).collect(),
            objectives: points.iter().map(|q| q.objective).collect(),
            nonzeros: points.iter().map(|q| q.nonzeros).collect(),
            deviance_ratios: points.iter().map(|q| q.deviance_ratio).collect(),
            iterations: points.iter().map(|q| q.iterations).collect(),
            stopped_early: path.stopped_early,
            feature_names: features.to_vec(),
            backend: path.backend.kind.to_string(),
            device: path.backend.device.clone(),
            elapsed_seconds: path.elapsed.as_secs_f64(),
        }
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} points from λ_max = {:.6e}{} ({}, {:.3} s)\n{:>14} {:>9} {:>10} {:>8}\n",
            self.lambdas.len(),
            self.lambda_max,
            if self.stopped_early { ", stopped early" } else { "" },
            self.device,
            self.elapsed_seconds,
            "lambda",
            "nonzeros",
            "dev.ratio",
            "iters"
        );
        for k in 0..self.lambdas.len() {
            let _ = writeln!(
                s,
                "{:>14.6e} {:>9} {:>10.5} {:>8}",
                self.lambdas[k], self.nonzeros[k], self.deviance_ratios[k], self.iterations[k]
            );
        }
        s
    }
}

/// A cross-validation as `cv --output` writes it.
#[derive(Serialize)]
pub struct CvFile {
    #[serde(flatten)]
    pub path: PathFile,
    pub metric: String,
    pub mean: Vec<f64>,
    pub standard_error: Vec<f64>,
    pub lambda_min: f64,
    pub lambda_1se: f64,
    pub folds: usize,
}

impl CvFile {
    pub fn new(cv: &CvResult, features: &[String]) -> Self {
        Self {
            path: PathFile::new(&cv.path, features),
            metric: format!("{:?}", cv.metric),
            mean: cv.mean.clone(),
            standard_error: cv.standard_error.clone(),
            lambda_min: cv.lambda_min,
            lambda_1se: cv.lambda_1se,
            folds: cv.folds.k(),
        }
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}-fold cross-validation, {}: λ_min = {:.6e}, λ_1se = {:.6e}\n{:>14} {:>9} {:>12} {:>10}\n",
            self.folds,
            self.metric,
            self.lambda_min,
            self.lambda_1se,
            "lambda",
            "nonzeros",
            "mean",
            "std.err"
        );
        for k in 0..self.mean.len() {
            let _ = writeln!(
                s,
                "{:>14.6e} {:>9} {:>12.6} {:>10.6}",
                self.path.lambdas[k], self.path.nonzeros[k], self.mean[k], self.standard_error[k]
            );
        }
        s
    }
}

pub fn write_json(path: &FilePath, value: &impl Serialize) -> Result<(), String> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| format!("cannot encode JSON: {e}"))?;
    crate::output::write_atomic(path, (text + "\n").as_bytes())
}

pub fn read_json(path: &FilePath) -> Result<ModelFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a scalemix model file: {e}", path.display()))
}
