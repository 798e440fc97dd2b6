//! Predictions from fitted coefficients: one implementation that [`crate::Fit`],
//! [`crate::MulticlassFit`] and models restored from saved parameters ([`LinearModel`],
//! [`MulticlassModel`], e.g. the command-line tool's `predict`) all use. How η becomes a
//! prediction or a probability is the family's ([`Family::predict`], [`Family::probability`]).

use nalgebra::DMatrix;

use crate::data::Design;
use crate::error::{Error, Input, Result};
use crate::family::Family;

/// A single-response linear model: family, β and b₀.
///
/// ```
/// use scalemix::{Family, LinearModel};
/// let model = LinearModel::new(Family::Logistic, vec![2.0, -1.0], 0.5)?;
/// let x = nalgebra::DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 3.0]);
/// assert_eq!(model.predict(&x)?, vec![1.0, 0.0]);
/// # Ok::<(), scalemix::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    family: Family,
    coefficients: Vec<f64>,
    intercept: f64,
}

impl LinearModel {
    /// A model from saved parameters.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] for a non-finite coefficient or intercept, or a family parameter
    /// out of range.
    pub fn new(family: Family, coefficients: Vec<f64>, intercept: f64) -> Result<Self> {
        family.check()?;
        check_finite_parameters(&coefficients, "coefficient")?;
        check_finite_parameters(&[intercept], "intercept")?;
        Ok(Self { family, coefficients, intercept })
    }

    /// A fit's parameters (finite by construction).
    pub(crate) fn from_fit(family: Family, coefficients: Vec<f64>, intercept: f64) -> Self {
        Self { family, coefficients, intercept }
    }

    /// The family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// β, one per feature.
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// b₀.
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// η = Xβ + b₀ per row.
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`] when X has the wrong number of columns, or
    /// [`Error::NonFiniteDesign`] for a NaN or infinite entry.
    pub fn decision_function<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        linear_predictor(&self.coefficients, self.intercept, x.into())
    }

    /// P(y = 1 | x) for the families with probabilities (logistic, binomial).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for the other families, else as
    /// [`LinearModel::decision_function`].
    pub fn predict_proba<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        probabilities(self.family, &self.coefficients, self.intercept, x.into())
    }

    /// Predictions on the response scale ([`Family::predict`]).
    ///
    /// # Errors
    /// As [`LinearModel::decision_function`].
    pub fn predict<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        predictions(self.family, &self.coefficients, self.intercept, x.into())
    }

    /// η = o + Xβ + b₀ per row, for a model fitted with an offset ([`crate::Data::offset`]):
    /// `offset` holds the new rows' oᵢ.
    ///
    /// # Errors
    /// As [`LinearModel::decision_function`], and [`Error::LengthMismatch`] or
    /// [`Error::NonFiniteValue`] naming the offset.
    pub fn decision_function_with_offset<'a>(
        &self,
        x: impl Into<Design<'a>>,
        offset: &[f64],
    ) -> Result<Vec<f64>> {
        linear_predictor_with_offset(&self.coefficients, self.intercept, x.into(), Some(offset))
    }

    /// [`LinearModel::predict`] with the new rows' offsets (see
    /// [`LinearModel::decision_function_with_offset`]).
    ///
    /// # Errors
    /// As [`LinearModel::decision_function_with_offset`].
    pub fn predict_with_offset<'a>(
        &self,
        x: impl Into<Design<'a>>,
        offset: &[f64],
    ) -> Result<Vec<f64>> {
        let eta = self.decision_function_with_offset(x, offset)?;
        Ok(eta.into_iter().map(|e| self.family.predict(e)).collect())
    }

    /// [`LinearModel::predict_proba`] with the new rows' offsets (see
    /// [`LinearModel::decision_function_with_offset`]).
    ///
    /// # Errors
    /// As [`LinearModel::predict_proba`] and [`LinearModel::decision_function_with_offset`].
    pub fn predict_proba_with_offset<'a>(
        &self,
        x: impl Into<Design<'a>>,
        offset: &[f64],
    ) -> Result<Vec<f64>> {
        require_probabilities(self.family)?;
        let eta = self.decision_function_with_offset(x, offset)?;
        Ok(eta.into_iter().filter_map(|e| self.family.probability(e)).collect())
    }
}

/// A K-class model: multinomial logistic (softmax over the K linear predictors) or one-vs-rest
/// hinge, with one β (a column of a p × K matrix) and one b₀ per class.
#[derive(Debug, Clone, PartialEq)]
pub struct MulticlassModel {
    family: Family,
    classes: Vec<f64>,
    coefficients: DMatrix<f64>,
    intercepts: Vec<f64>,
}

impl MulticlassModel {
    /// A model from saved parameters: `coefficients` is p × K, column k for `classes[k]`.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] unless the family is logistic or hinge, there are at least two
    /// distinct classes, one coefficient column and one intercept per class, and every
    /// parameter is finite.
    pub fn new(
        family: Family,
        classes: Vec<f64>,
        coefficients: DMatrix<f64>,
        intercepts: Vec<f64>,
    ) -> Result<Self> {
        let invalid = |reason: String| Err(Error::InvalidModel { reason });
        if !matches!(family, Family::Logistic | Family::Hinge) {
            return invalid(format!(
                "multi-class models are logistic or hinge, not {}",
                family.name()
            ));
        }
        let k = classes.len();
        if k < 2 {
            return invalid(format!("{k} classes: a multi-class model needs at least two"));
        }
        check_finite_parameters(&classes, "class label")?;
        let mut sorted = classes.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return invalid(format!("the class labels {classes:?} repeat a label"));
        }
        if coefficients.ncols() != k || intercepts.len() != k {
            return invalid(format!(
                "{k} classes but {} coefficient columns and {} intercepts",
                coefficients.ncols(),
                intercepts.len()
            ));
        }
        check_finite_parameters(coefficients.as_slice(), "coefficient")?;
        check_finite_parameters(&intercepts, "intercept")?;
        Ok(Self { family, classes, coefficients, intercepts })
    }

    /// A fit's parameters (consistent by construction).
    pub(crate) fn from_fit(
        family: Family,
        classes: Vec<f64>,
        coefficients: DMatrix<f64>,
        intercepts: Vec<f64>,
    ) -> Self {
        Self { family, classes, coefficients, intercepts }
    }

    /// Logistic (multinomial) or hinge (one-vs-rest).
    pub fn family(&self) -> Family {
        self.family
    }

    /// The class labels; column k of the coefficients belongs to `classes()[k]`.
    pub fn classes(&self) -> &[f64] {
        &self.classes
    }

    /// The coefficients, p × K.
    pub fn coefficients(&self) -> &DMatrix<f64> {
        &self.coefficients
    }

    /// One intercept per class.
    pub fn intercepts(&self) -> &[f64] {
        &self.intercepts
    }

    /// The K linear predictors of each row, n × K.
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`] when `x` has the wrong number of columns, or a non-finite
    /// entry.
    pub fn decision_function<'a>(&self, x: impl Into<Design<'a>>) -> Result<DMatrix<f64>> {
        class_scores(&self.coefficients, &self.intercepts, x.into())
    }

    /// Class probabilities, n × K (softmax of the linear predictors); multinomial only.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for one-vs-rest SVMs, else as
    /// [`MulticlassModel::decision_function`].
    pub fn predict_proba<'a>(&self, x: impl Into<Design<'a>>) -> Result<DMatrix<f64>> {
        class_probabilities(self.family, &self.coefficients, &self.intercepts, x.into())
    }

    /// The class label of each row with the largest linear predictor.
    ///
    /// # Errors
    /// As [`MulticlassModel::decision_function`].
    pub fn predict<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        class_predictions(&self.classes, &self.coefficients, &self.intercepts, x.into())
    }
}

fn check_finite_parameters(values: &[f64], what: &str) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::InvalidModel { reason: format!("{what} {i} is {}", values[i]) }),
        None => Ok(()),
    }
}

/// η = Xβ + b₀ per row.
pub(crate) fn linear_predictor(beta: &[f64], b0: f64, x: Design<'_>) -> Result<Vec<f64>> {
    linear_predictor_with_offset(beta, b0, x, None)
}

/// η = o + Xβ + b₀ per row, `offset` o checked (one finite value per row).
pub(crate) fn linear_predictor_with_offset(
    beta: &[f64],
    b0: f64,
    x: Design<'_>,
    offset: Option<&[f64]>,
) -> Result<Vec<f64>> {
    if x.ncols() != beta.len() {
        return Err(Error::FeatureMismatch { expected: beta.len(), found: x.ncols() });
    }
    x.check_finite()?;
    let mut eta = x.times(b0, beta);
    if let Some(offset) = offset {
        crate::data::check_len(Input::Offset, x.nrows(), offset.len())?;
        crate::data::check_finite(Input::Offset, offset)?;
        eta.iter_mut().zip(offset).for_each(|(e, o)| *e += o);
    }
    Ok(eta)
}

/// P(y = 1 | x) per row.
pub(crate) fn probabilities(
    family: Family,
    beta: &[f64],
    b0: f64,
    x: Design<'_>,
) -> Result<Vec<f64>> {
    require_probabilities(family)?;
    let eta = linear_predictor(beta, b0, x)?;
    Ok(eta.into_iter().filter_map(|e| family.probability(e)).collect())
}

/// Refuses `predict_proba` for a family whose η is not a log-odds.
fn require_probabilities(family: Family) -> Result<()> {
    if family.has_probabilities() {
        return Ok(());
    }
    Err(Error::Unsupported {
        operation: "predict_proba",
        family: family.name(),
        reason: "its η is not a log-odds (predict or decision_function give the response)",
    })
}

/// [`Family::predict`] per row.
pub(crate) fn predictions(
    family: Family,
    beta: &[f64],
    b0: f64,
    x: Design<'_>,
) -> Result<Vec<f64>> {
    let eta = linear_predictor(beta, b0, x)?;
    Ok(eta.into_iter().map(|e| family.predict(e)).collect())
}

/// The K linear predictors per row, n × K.
pub(crate) fn class_scores(beta: &DMatrix<f64>, b0: &[f64], x: Design<'_>) -> Result<DMatrix<f64>> {
    let p = beta.nrows();
    if x.ncols() != p {
        return Err(Error::FeatureMismatch { expected: p, found: x.ncols() });
    }
    x.check_finite()?;
    let mut scores = DMatrix::zeros(x.nrows(), b0.len());
    for (c, &intercept) in b0.iter().enumerate() {
        let column: Vec<f64> = beta.column(c).iter().copied().collect();
        for (i, eta) in x.times(0.0, &column).into_iter().enumerate() {
            scores[(i, c)] = intercept + eta;
        }
    }
    Ok(scores)
}

/// Softmax of the K linear predictors per row (multinomial only).
pub(crate) fn class_probabilities(
    family: Family,
    beta: &DMatrix<f64>,
    b0: &[f64],
    x: Design<'_>,
) -> Result<DMatrix<f64>> {
    if family != Family::Logistic {
        return Err(Error::Unsupported {
            operation: "predict_proba",
            family: family.name(),
            reason: "one-vs-rest scores are not class probabilities (predict gives the class)",
        });
    }
    let mut eta = class_scores(beta, b0, x)?;
    for mut row in eta.row_iter_mut() {
        let values: Vec<f64> = row.iter().copied().collect();
        let lse = log_sum_exp(values.iter().copied());
        row.apply(|v| *v = (*v - lse).exp());
    }
    Ok(eta)
}

/// The label of the largest linear predictor per row.
pub(crate) fn class_predictions(
    classes: &[f64],
    beta: &DMatrix<f64>,
    b0: &[f64],
    x: Design<'_>,
) -> Result<Vec<f64>> {
    let eta = class_scores(beta, b0, x)?;
    Ok(eta
        .row_iter()
        .map(|row| {
            let best = (0..row.len()).fold(0, |b, c| if row[c] > row[b] { c } else { b });
            classes[best]
        })
        .collect())
}

/// log Σ e^v, shifted by the largest value so no term overflows.
pub(crate) fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}
