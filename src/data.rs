//! Design-matrix views, responses and the checks every input goes through once.

use std::borrow::Cow;

use nalgebra::{DMatrix, DVector};

use crate::backend::strided::Strided;

use crate::error::{Error, Input, Result};
use crate::family::Family;

/// A read-only view of a dense `n × p` design matrix, in any memory layout.
///
/// Element `(i, j)` lives at `data[i * row_stride + j * col_stride]`. Row-major slices
/// (`row_stride = p`) and nalgebra's column-major `DMatrix` (`col_stride = n`) are both read in
/// place: nothing is copied and nothing the caller passed is modified.
#[derive(Debug, Clone, Copy)]
pub struct Design<'a> {
    data: &'a [f64],
    nrows: usize,
    ncols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Design<'a> {
    /// A row-major matrix: row `i` is `data[i * ncols .. (i + 1) * ncols]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data.len() != nrows * ncols`.
    pub fn row_major(data: &'a [f64], nrows: usize, ncols: usize) -> Result<Self> {
        Self::check_len(data, nrows, ncols)?;
        Ok(Self { data, nrows, ncols, row_stride: ncols, col_stride: 1 })
    }

    /// A column-major matrix: column `j` is `data[j * nrows .. (j + 1) * nrows]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data.len() != nrows * ncols`.
    pub fn column_major(data: &'a [f64], nrows: usize, ncols: usize) -> Result<Self> {
        Self::check_len(data, nrows, ncols)?;
        Ok(Self { data, nrows, ncols, row_stride: 1, col_stride: nrows })
    }

    fn check_len(data: &[f64], rows: usize, cols: usize) -> Result<()> {
        let expected = rows.saturating_mul(cols);
        if data.len() != expected {
            return Err(Error::ShapeMismatch { rows, cols, len: data.len(), expected });
        }
        Ok(())
    }

    /// Number of rows (observations).
    pub fn nrows(&self) -> usize {
        self.nrows
    }

    /// Number of columns (features).
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Element `(row, col)`.
    #[inline]
    pub fn get(&self, row: usize, col: usize) -> f64 {
        self.data[row * self.row_stride + col * self.col_stride]
    }

    /// Rows `start .. start + len` as a strided `len × p` operand, read in place.
    pub(crate) fn rows(&self, start: usize, len: usize) -> Strided<'a> {
        let offset = start * self.row_stride;
        Strided::new(&self.data[offset..], len, self.ncols, self.row_stride, self.col_stride)
    }

    /// The first non-finite entry, scanning row by row.
    pub(crate) fn check_finite(&self) -> Result<()> {
        for row in 0..self.nrows {
            for col in 0..self.ncols {
                let value = self.get(row, col);
                if !value.is_finite() {
                    return Err(Error::NonFiniteDesign { row, col, value });
                }
            }
        }
        Ok(())
    }
}

impl<'a> From<&'a DMatrix<f64>> for Design<'a> {
    fn from(m: &'a DMatrix<f64>) -> Self {
        Design {
            data: m.as_slice(),
            nrows: m.nrows(),
            ncols: m.ncols(),
            row_stride: 1,
            col_stride: m.nrows(),
        }
    }
}

impl<'a, 'b> From<&'b Design<'a>> for Design<'a> {
    fn from(d: &'b Design<'a>) -> Self {
        *d
    }
}

/// The data of a fit, a path or a cross-validation: X, the response — labels or values, or
/// binomial successes out of trials — and optional sample weights. One value for every entry
/// point ([`crate::Glm::fit_data`], [`crate::Glm::path_data`], [`crate::Glm::cv_data`],
/// [`crate::Glm::fit_multiclass_data`]); [`crate::Glm::fit`] and its siblings take `(x, y)`
/// for the common case.
///
/// ```
/// use scalemix::{Data, Design, Glm};
///
/// let x = [0.0, 1.0, 2.0, 3.0, 1.0, 0.5];
/// let x = Design::row_major(&x, 6, 1)?;
/// let (successes, trials) = ([0.0, 1.0, 3.0, 4.0, 2.0, 1.0], [2.0, 3.0, 4.0, 4.0, 3.0, 2.0]);
/// let weights = [1.0, 1.0, 2.0, 1.0, 1.0, 0.5];
/// let data = Data::binomial(x, &successes, &trials).weights(&weights);
/// let fit = Glm::binomial().fit_data(&data)?;
/// # assert!(fit.objective().is_finite());
/// # Ok::<(), scalemix::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Data<'a> {
    pub(crate) x: Design<'a>,
    pub(crate) response: Response<'a>,
    pub(crate) weights: Option<&'a [f64]>,
}

/// The response of a fit.
#[derive(Debug, Clone)]
pub(crate) enum Response<'a> {
    /// Labels or values, one per row.
    Values(Cow<'a, [f64]>),
    /// Binomial success counts out of a number of trials per row.
    Counts { successes: &'a [f64], trials: &'a [f64] },
}

impl<'a> Data<'a> {
    /// X with one label or value per row (`y`: `&[f64]`, `&[bool]`, `&Vec<_>` or
    /// `&DVector<f64>`), unit weights.
    pub fn new<Y: AsTarget + ?Sized>(x: impl Into<Design<'a>>, y: &'a Y) -> Self {
        Self { x: x.into(), response: Response::Values(y.as_target()), weights: None }
    }

    /// X with binomial counts: `successes[i]` out of `trials[i]` ≥ 0 in row i (for
    /// [`crate::Glm::binomial`]).
    pub fn binomial(x: impl Into<Design<'a>>, successes: &'a [f64], trials: &'a [f64]) -> Self {
        Self { x: x.into(), response: Response::Counts { successes, trials }, weights: None }
    }

    /// The same data with sample weights wᵢ ≥ 0 (not all zero), one per row.
    #[must_use]
    pub fn weights(mut self, weights: &'a [f64]) -> Self {
        self.weights = Some(weights);
        self
    }

    /// The same data with the sample weights `weights` gives (`None`: unit weights).
    #[must_use]
    pub fn maybe_weights(mut self, weights: Option<&'a [f64]>) -> Self {
        self.weights = weights;
        self
    }

    /// The design.
    pub fn x(&self) -> Design<'a> {
        self.x
    }

    /// Rows.
    pub fn nrows(&self) -> usize {
        self.x.nrows()
    }
}

/// A response vector: `f64` values, or booleans for binary families (`true` = 1).
pub trait AsTarget {
    /// The response as `f64` values.
    fn as_target(&self) -> Cow<'_, [f64]>;
}

impl AsTarget for [f64] {
    fn as_target(&self) -> Cow<'_, [f64]> {
        Cow::Borrowed(self)
    }
}

impl AsTarget for Vec<f64> {
    fn as_target(&self) -> Cow<'_, [f64]> {
        Cow::Borrowed(self)
    }
}

impl AsTarget for DVector<f64> {
    fn as_target(&self) -> Cow<'_, [f64]> {
        Cow::Borrowed(self.as_slice())
    }
}

impl AsTarget for [bool] {
    fn as_target(&self) -> Cow<'_, [f64]> {
        Cow::Owned(self.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect())
    }
}

impl AsTarget for Vec<bool> {
    fn as_target(&self) -> Cow<'_, [f64]> {
        self.as_slice().as_target()
    }
}

/// Checked data for one fit: the design, the response, the sample weights and their sum.
///
/// Built only by [`Problem::new`] (or [`Problem::binomial`]), which run every data check;
/// backends and solvers trust it, so its fields are read through accessors and cannot be
/// changed from outside the crate.
#[derive(Debug, Clone)]
pub struct Problem<'a> {
    /// The design matrix.
    pub(crate) x: Design<'a>,
    /// The response, one value per row.
    pub(crate) y: Cow<'a, [f64]>,
    /// Sample weights, one per row (all ones when the caller gave none).
    pub(crate) weights: Cow<'a, [f64]>,
    /// `W = Σ wᵢ`.
    pub(crate) weight_sum: f64,
    /// The smallest positive weight (used by the separation certificate).
    pub(crate) min_positive_weight: f64,
    /// The loss family.
    pub(crate) family: Family,
    /// A known term added to every row's linear predictor, ηᵢ = xᵢᵀβ + b₀ + offsetᵢ (none by
    /// default; multinomial fits use it for the other classes' log-sum-exp).
    pub(crate) offset: Option<Cow<'a, [f64]>>,
}

impl<'a> Problem<'a> {
    /// Checks shapes, finiteness, labels and weights.
    ///
    /// # Errors
    /// [`Error::EmptyData`], [`Error::NoFeatures`], [`Error::LengthMismatch`],
    /// [`Error::NonFiniteDesign`], [`Error::NonFiniteValue`], [`Error::InvalidLabel`],
    /// [`Error::NegativeValue`] or [`Error::AllZeroWeights`], naming the first offending entry.
    pub fn new(
        x: Design<'a>,
        y: Cow<'a, [f64]>,
        weights: Option<&'a [f64]>,
        family: Family,
    ) -> Result<Self> {
        let n = x.nrows();
        if n == 0 {
            return Err(Error::EmptyData);
        }
        if x.ncols() == 0 {
            return Err(Error::NoFeatures);
        }
        check_len(Input::Target, n, y.len())?;
        x.check_finite()?;
        check_finite(Input::Target, &y)?;
        for (row, &value) in y.iter().enumerate() {
            family.check_label(row, value)?;
        }
        // Labels as the family fits them (hinge: 0/1 as −1/+1); a copy only when one changes.
        let y = if y.iter().any(|&v| family.label_as_fitted(v) != v) {
            Cow::Owned(y.iter().map(|&v| family.label_as_fitted(v)).collect())
        } else {
            y
        };
        let weights = match weights {
            Some(w) => {
                check_len(Input::Weights, n, w.len())?;
                check_finite(Input::Weights, w)?;
                check_nonnegative(Input::Weights, w)?;
                Cow::Borrowed(w)
            }
            None => Cow::Owned(vec![1.0; n]),
        };
        let weight_sum: f64 = weights.iter().sum();
        if weight_sum <= 0.0 {
            return Err(Error::AllZeroWeights);
        }
        let min_positive_weight =
            weights.iter().copied().filter(|&w| w > 0.0).fold(f64::INFINITY, f64::min);
        Ok(Self { x, y, weights, weight_sum, min_positive_weight, family, offset: None })
    }

    /// A binomial problem: `successes[i]` out of `trials[i]` in row i, stored as the equivalent
    /// logistic problem with success fractions yᵢ/mᵢ and weights wᵢ·mᵢ (the same objective, with
    /// W = Σ wᵢ still dividing it).
    ///
    /// # Errors
    /// As [`Problem::new`]; [`Error::NegativeValue`] for negative trials and
    /// [`Error::InvalidLabel`] for a count outside [0, mᵢ].
    pub fn binomial(
        x: Design<'a>,
        successes: &[f64],
        trials: &[f64],
        weights: Option<&'a [f64]>,
    ) -> Result<Self> {
        let n = x.nrows();
        check_len(Input::Target, n, successes.len())?;
        check_len(Input::Trials, n, trials.len())?;
        check_finite(Input::Target, successes)?;
        check_finite(Input::Trials, trials)?;
        check_nonnegative(Input::Trials, trials)?;
        let mut fractions = Vec::with_capacity(n);
        for (row, (&s, &m)) in successes.iter().zip(trials).enumerate() {
            if !(0.0..=m).contains(&s) {
                return Err(Error::InvalidLabel {
                    row,
                    value: s,
                    family: Family::Binomial.name(),
                    expected: "success counts between 0 and the row's number of trials",
                });
            }
            fractions.push(if m > 0.0 { s / m } else { 0.0 });
        }
        let base = Self::new(x, Cow::Owned(fractions), weights, Family::Binomial)?;
        let scaled: Vec<f64> = base.weights.iter().zip(trials).map(|(w, m)| w * m).collect();
        if !scaled.iter().any(|&w| w > 0.0) {
            return Err(Error::AllZeroWeights);
        }
        let min_positive_weight =
            scaled.iter().copied().filter(|&w| w > 0.0).fold(f64::INFINITY, f64::min);
        Ok(Self { weights: Cow::Owned(scaled), min_positive_weight, ..base })
    }

    /// The same problem with a per-row offset in η.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] or [`Error::NonFiniteValue`] for a bad offset.
    pub fn with_offset(mut self, offset: Cow<'a, [f64]>) -> Result<Self> {
        check_len(Input::Offset, self.nrows(), offset.len())?;
        check_finite(Input::Offset, &offset)?;
        self.offset = Some(offset);
        Ok(self)
    }

    /// The design matrix.
    pub fn x(&self) -> Design<'a> {
        self.x
    }

    /// The response, one value per row (binomial: success fractions; hinge: ±1).
    pub fn y(&self) -> &[f64] {
        &self.y
    }

    /// The sample weights, one per row (binomial: weights × trials).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// `W = Σ wᵢ` over the caller's weights.
    pub fn weight_sum(&self) -> f64 {
        self.weight_sum
    }

    /// The loss family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ) at `theta` (the features, then the intercept where `intercept`),
    /// with ℓ by its definition ([`Family::loss`]: hinge and quantile unsmoothed), in f64: the
    /// loss of reported objectives.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a θ of another length.
    pub fn mean_loss(&self, theta: &[f64], intercept: bool) -> Result<f64> {
        let dim = self.ncols() + usize::from(intercept);
        if theta.len() != dim {
            return Err(Error::InvalidOption {
                name: "theta",
                value: format!("{} values for {dim} coordinates", theta.len()),
                reason: "must hold one value per feature, then the intercept where fitted",
            });
        }
        Ok(crate::driver::exact_mean_loss(self, theta, intercept))
    }

    /// The per-row offset in η, if any.
    pub fn offset(&self) -> Option<&[f64]> {
        self.offset.as_deref()
    }

    /// The offset of row `i` (0 without one).
    #[inline]
    pub fn offset_at(&self, i: usize) -> f64 {
        self.offset.as_ref().map_or(0.0, |o| o[i])
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.x.nrows()
    }

    /// Number of features (without the intercept).
    pub fn ncols(&self) -> usize {
        self.x.ncols()
    }

    /// Weighted root-mean-square of each column: the scale a coefficient is measured in.
    pub fn column_scales(&self) -> Vec<f64> {
        let mut sq = vec![0.0; self.ncols()];
        for i in 0..self.nrows() {
            let w = self.weights[i];
            if w == 0.0 {
                continue;
            }
            for (j, s) in sq.iter_mut().enumerate() {
                let v = self.x.get(i, j);
                *s += w * v * v;
            }
        }
        sq.iter().map(|s| (s / self.weight_sum).sqrt()).collect()
    }
}

pub(crate) fn check_len(input: Input, expected: usize, found: usize) -> Result<()> {
    if expected != found {
        let unit = if input == Input::PenaltyFactors { "columns" } else { "rows" };
        return Err(Error::LengthMismatch { input, expected, found, unit });
    }
    Ok(())
}

pub(crate) fn check_finite(input: Input, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFiniteValue { input, index, value: values[index] }),
        None => Ok(()),
    }
}

pub(crate) fn check_nonnegative(input: Input, values: &[f64]) -> Result<()> {
    match values.iter().position(|&v| v < 0.0) {
        Some(index) => Err(Error::NegativeValue { input, index, value: values[index] }),
        None => Ok(()),
    }
}
