//! Design-matrix views, responses and the checks every input goes through once.

use std::borrow::Cow;

use nalgebra::{DMatrix, DVector};

mod sparse;

pub(crate) use sparse::{Compressed, Major};
pub use sparse::{CsrMatrix, Indices};

use crate::backend::strided::Strided;

use crate::error::{Error, Input, Result};
use crate::family::Family;

/// A read-only view of an `n × p` design matrix: dense in any memory layout, or sparse (CSR or
/// CSC, see [`Indices`]).
///
/// Dense element `(i, j)` lives at `data[i * row_stride + j * col_stride]`: row-major slices
/// (`row_stride = p`) and nalgebra's column-major `DMatrix` (`col_stride = n`) are both read in
/// place. Sparse designs ([`Design::csr`], [`Design::csc`]) are read in place from their three
/// arrays, their structure checked once; a fit never densifies one (a CSC design is transposed
/// to CSR once per fit, O(nnz) memory). Nothing the caller passed is copied or modified.
#[derive(Debug, Clone, Copy)]
pub struct Design<'a> {
    nrows: usize,
    ncols: usize,
    storage: Storage<'a>,
}

/// How a design's values are stored.
#[derive(Debug, Clone, Copy)]
enum Storage<'a> {
    Dense { data: &'a [f64], row_stride: usize, col_stride: usize },
    Sparse(Compressed<'a>),
}

impl<'a> Design<'a> {
    /// A row-major matrix: row `i` is `data[i * ncols .. (i + 1) * ncols]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data.len() != nrows * ncols`.
    pub fn row_major(data: &'a [f64], nrows: usize, ncols: usize) -> Result<Self> {
        Self::check_len(data, nrows, ncols)?;
        Ok(Self::dense(data, nrows, ncols, ncols, 1))
    }

    /// A column-major matrix: column `j` is `data[j * nrows .. (j + 1) * nrows]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data.len() != nrows * ncols`.
    pub fn column_major(data: &'a [f64], nrows: usize, ncols: usize) -> Result<Self> {
        Self::check_len(data, nrows, ncols)?;
        Ok(Self::dense(data, nrows, ncols, 1, nrows))
    }

    fn dense(
        data: &'a [f64],
        nrows: usize,
        ncols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        Self { nrows, ncols, storage: Storage::Dense { data, row_stride, col_stride } }
    }

    /// A compressed sparse row matrix (scipy's `csr_array`): row `i`'s stored entries are
    /// columns `indices[indptr[i]..indptr[i + 1]]`, strictly increasing, with those `values`.
    /// Index arrays may be `&[i32]`, `&[i64]` or `&[usize]`.
    ///
    /// ```
    /// use scalemix::Design;
    ///
    /// // [[1, 0, 2],
    /// //  [0, 0, 3]]
    /// let (indptr, indices, values) = ([0i32, 2, 3], [0i32, 2, 2], [1.0, 2.0, 3.0]);
    /// let x = Design::csr(2, 3, &indptr[..], &indices[..], &values)?;
    /// assert_eq!((x.get(0, 2), x.get(1, 0), x.stored_values()), (2.0, 0.0, 3));
    /// # Ok::<(), scalemix::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidSparse`] naming the row (and column) of a malformed structure: `indptr`
    /// not of length `nrows + 1`, not starting at 0, decreasing, or not ending at
    /// `values.len()`; `indices` of another length than `values`; a column outside
    /// `0..ncols`; a column listed twice or out of order within a row.
    pub fn csr(
        nrows: usize,
        ncols: usize,
        indptr: impl Into<Indices<'a>>,
        indices: impl Into<Indices<'a>>,
        values: &'a [f64],
    ) -> Result<Self> {
        let compressed =
            Compressed::new(Major::Rows, nrows, ncols, indptr.into(), indices.into(), values)?;
        Ok(Self::from_compressed(nrows, ncols, compressed))
    }

    /// A compressed sparse column matrix (scipy's `csc_array`): column `j`'s stored entries are
    /// rows `indices[indptr[j]..indptr[j + 1]]`, strictly increasing, with those `values`.
    ///
    /// # Errors
    /// As [`Design::csr`], with rows and columns exchanged.
    pub fn csc(
        nrows: usize,
        ncols: usize,
        indptr: impl Into<Indices<'a>>,
        indices: impl Into<Indices<'a>>,
        values: &'a [f64],
    ) -> Result<Self> {
        let compressed =
            Compressed::new(Major::Columns, nrows, ncols, indptr.into(), indices.into(), values)?;
        Ok(Self::from_compressed(nrows, ncols, compressed))
    }

    pub(crate) fn from_compressed(nrows: usize, ncols: usize, compressed: Compressed<'a>) -> Self {
        Self { nrows, ncols, storage: Storage::Sparse(compressed) }
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

    /// Whether the design is stored sparse (CSR or CSC).
    pub fn is_sparse(&self) -> bool {
        matches!(self.storage, Storage::Sparse(_))
    }

    /// Values stored: n · p for a dense design, the number of stored entries for a sparse one.
    pub fn stored_values(&self) -> usize {
        match self.storage {
            Storage::Dense { .. } => self.nrows * self.ncols,
            Storage::Sparse(c) => c.nnz(),
        }
    }

    /// Bytes the design's arrays take (what a copy of it would cost).
    pub(crate) fn bytes(&self) -> u64 {
        match self.storage {
            Storage::Dense { .. } => (self.nrows as u64).saturating_mul(self.ncols as u64 * 8),
            Storage::Sparse(c) => 16 * c.nnz() as u64 + 8 * (self.nrows.max(self.ncols) as u64 + 1),
        }
    }

    /// Bytes [`Design::scaled_copy`] takes: a CSR design's copy holds only its values.
    pub(crate) fn scaled_copy_bytes(&self) -> u64 {
        match self.storage {
            Storage::Sparse(c) if c.major == Major::Rows => 8 * c.nnz() as u64,
            _ => self.bytes(),
        }
    }

    /// Element `(row, col)` (a binary search within the row or column of a sparse design).
    #[inline]
    pub fn get(&self, row: usize, col: usize) -> f64 {
        match self.storage {
            Storage::Dense { data, row_stride, col_stride } => {
                data[row * row_stride + col * col_stride]
            }
            Storage::Sparse(c) => match c.major {
                Major::Rows => c.get(row, col),
                Major::Columns => c.get(col, row),
            },
        }
    }

    /// Rows `start .. start + len` of a dense design as a strided `len × p` operand, read in
    /// place; `None` for a sparse design.
    pub(crate) fn dense_rows(&self, start: usize, len: usize) -> Option<Strided<'a>> {
        match self.storage {
            Storage::Dense { data, row_stride, col_stride } => {
                let offset = start * row_stride;
                Some(Strided::new(&data[offset..], len, self.ncols, row_stride, col_stride))
            }
            Storage::Sparse(_) => None,
        }
    }

    /// The compressed arrays of a CSR design (`None`: dense, or CSC).
    pub(crate) fn csr_arrays(&self) -> Option<Compressed<'a>> {
        match self.storage {
            Storage::Sparse(c) if c.major == Major::Rows => Some(c),
            _ => None,
        }
    }

    /// `f(column, value)` over row `i`'s entries: every column of a dense row, the stored ones
    /// of a sparse row (a CSC design searches each column: fits transpose it first).
    #[inline]
    pub(crate) fn for_row(&self, i: usize, mut f: impl FnMut(usize, f64)) {
        match self.storage {
            Storage::Dense { .. } => (0..self.ncols).for_each(|j| f(j, self.get(i, j))),
            Storage::Sparse(c) if c.major == Major::Rows => c.for_each(i, f),
            Storage::Sparse(c) => (0..self.ncols).for_each(|j| {
                let v = c.get(j, i);
                if v != 0.0 {
                    f(j, v);
                }
            }),
        }
    }

    /// xᵢᵀβ for row `i` (`beta` of length p).
    #[inline]
    pub(crate) fn row_dot(&self, i: usize, beta: &[f64]) -> f64 {
        match self.storage {
            Storage::Sparse(c) if c.major == Major::Rows => c.dot(i, beta),
            _ => {
                let mut sum = 0.0;
                self.for_row(i, |j, v| sum += v * beta[j]);
                sum
            }
        }
    }

    /// `start` + xᵢᵀβ for every row, each sum begun at `start` and taken in the design's
    /// storage order (columns of a CSC design).
    pub(crate) fn times(&self, start: f64, beta: &[f64]) -> Vec<f64> {
        let mut eta = vec![0.0; self.nrows];
        self.times_into(start, beta, &mut eta);
        eta
    }

    /// [`Design::times`] into `out` (n entries), for loops that reuse one buffer.
    pub(crate) fn times_into(&self, start: f64, beta: &[f64], out: &mut [f64]) {
        match self.storage {
            Storage::Dense { row_stride: 1, .. } => {
                // Column-major: an axpy per nonzero coefficient, in storage order; each row's
                // sum still taken from `start` in column order, as the rows' loop below.
                let x = self.dense_rows(0, self.nrows).expect("a dense design");
                out.fill(start);
                crate::backend::strided::gemv(1.0, x, beta, 1.0, out);
            }
            Storage::Sparse(c) if c.major == Major::Columns => {
                out.fill(start);
                for (j, &b) in beta.iter().enumerate() {
                    if b != 0.0 {
                        c.for_each(j, |i, v| out[i] += v * b);
                    }
                }
            }
            _ => {
                for (i, eta) in out.iter_mut().enumerate() {
                    let mut sum = start;
                    self.for_row(i, |j, v| sum += v * beta[j]);
                    *eta = sum;
                }
            }
        }
    }

    /// `out` = Xᵀu (p entries), in one pass over the design in its storage order.
    pub(crate) fn transpose_times_into(&self, u: &[f64], out: &mut [f64]) {
        match self.storage {
            Storage::Dense { .. } => {
                let x = self.dense_rows(0, self.nrows).expect("a dense design");
                crate::backend::strided::gemv(1.0, x.t(), u, 0.0, out);
            }
            Storage::Sparse(c) if c.major == Major::Columns => {
                for (j, o) in out.iter_mut().enumerate() {
                    let mut sum = 0.0;
                    c.for_each(j, |i, v| sum += v * u[i]);
                    *o = sum;
                }
            }
            Storage::Sparse(_) => {
                out.fill(0.0);
                for (i, &ui) in u.iter().enumerate() {
                    if ui != 0.0 {
                        self.for_row(i, |j, v| out[j] += v * ui);
                    }
                }
            }
        }
    }

    /// The columns `columns` (increasing) as a copy of the same kind — row-major for a dense
    /// design, CSR for a sparse one — of `max(k, 1)` columns: an empty selection gives one
    /// all-zero column (a path's active set before any feature enters).
    pub(crate) fn columns_copy(&self, columns: &[usize]) -> ScaledCopy {
        let (n, k) = (self.nrows, columns.len());
        if !self.is_sparse() {
            return ScaledCopy::Dense(if k == 0 {
                vec![0.0; n]
            } else {
                self.gather_columns(columns)
            });
        }
        self.columns_copy_csr(columns)
    }

    /// The values of a dense column-major design (column j at `j * nrows..`), read in place;
    /// `None` for any other storage.
    pub(crate) fn column_major_values(&self) -> Option<&'a [f64]> {
        match self.storage {
            Storage::Dense { data, row_stride: 1, col_stride }
                if col_stride == self.nrows && data.len() >= self.nrows * self.ncols =>
            {
                Some(&data[..self.nrows * self.ncols])
            }
            _ => None,
        }
    }

    /// The columns `columns` (increasing) of a dense design as a column-major copy of
    /// `max(k, 1)` columns (an empty selection: one all-zero column), for coordinate descent on
    /// contiguous columns (a sparse design's copy stays sparse: [`Design::columns_copy`]).
    pub(crate) fn columns_copy_column_major(&self, columns: &[usize]) -> Vec<f64> {
        let n = self.nrows;
        let mut data = vec![0.0; n * columns.len().max(1)];
        for (c, &j) in columns.iter().enumerate() {
            let column = &mut data[c * n..(c + 1) * n];
            match self.storage {
                Storage::Dense { data: x, row_stride, col_stride } => {
                    for (i, out) in column.iter_mut().enumerate() {
                        *out = x[i * row_stride + j * col_stride];
                    }
                }
                Storage::Sparse(_) => {
                    column.iter_mut().enumerate().for_each(|(i, out)| *out = self.get(i, j));
                }
            }
        }
        data
    }

    /// The columns `columns` (increasing) of a sparse design as a CSR copy of `max(k, 1)`
    /// columns (an empty selection: one all-zero column).
    fn columns_copy_csr(&self, columns: &[usize]) -> ScaledCopy {
        let (n, k) = (self.nrows, columns.len());
        let mut position = vec![usize::MAX; self.ncols];
        for (c, &j) in columns.iter().enumerate() {
            position[j] = c;
        }
        let (mut indptr, mut indices, mut values) = (Vec::with_capacity(n + 1), vec![], vec![]);
        indptr.push(0);
        let sorted = columns.windows(2).all(|w| w[0] < w[1]);
        let mut row: Vec<(usize, f64)> = Vec::new();
        for i in 0..n {
            row.clear();
            self.for_row(i, |j, v| {
                if position[j] != usize::MAX {
                    row.push((position[j], v));
                }
            });
            if !sorted {
                row.sort_unstable_by_key(|e| e.0);
            }
            indices.extend(row.iter().map(|e| e.0));
            values.extend(row.iter().map(|e| e.1));
            indptr.push(values.len());
        }
        let arrays = sparse::CsrArrays { indptr, indices, values };
        ScaledCopy::Sparse(CsrMatrix::from_checked(n, k.max(1), arrays))
    }

    /// The columns `columns` as a dense row-major `n × k` copy.
    fn gather_columns(&self, columns: &[usize]) -> Vec<f64> {
        let (n, k) = (self.nrows, columns.len());
        let mut data = vec![0.0; n * k];
        match self.storage {
            Storage::Dense { .. } => {
                for i in 0..n {
                    for (c, &j) in columns.iter().enumerate() {
                        data[i * k + c] = self.get(i, j);
                    }
                }
            }
            Storage::Sparse(s) if s.major == Major::Columns => {
                for (c, &j) in columns.iter().enumerate() {
                    s.for_each(j, |i, v| data[i * k + c] = v);
                }
            }
            Storage::Sparse(s) => {
                let mut position = vec![usize::MAX; self.ncols];
                for (c, &j) in columns.iter().enumerate() {
                    position[j] = c;
                }
                for i in 0..n {
                    s.for_each(i, |j, v| {
                        if position[j] != usize::MAX {
                            data[i * k + position[j]] = v;
                        }
                    });
                }
            }
        }
        data
    }

    /// The same matrix as an owned CSR copy where this is a CSC design (`None` otherwise): fits
    /// compute row by row.
    pub(crate) fn transposed_to_csr(self) -> Option<CsrMatrix> {
        match self.storage {
            Storage::Sparse(c) if c.major == Major::Columns => Some(CsrMatrix::from_checked(
                self.nrows,
                self.ncols,
                c.transposed(self.ncols, self.nrows),
            )),
            _ => None,
        }
    }

    /// The same design with every column j multiplied by `factor[j]`, as an owned copy of the
    /// same kind: row-major for a dense design, CSR for a sparse one (zeros stay unstored).
    pub(crate) fn scaled_copy(&self, shift: &[f64], factor: &[f64]) -> ScaledCopy {
        match self.storage {
            Storage::Dense { .. } => {
                let (n, p) = (self.nrows, self.ncols);
                let mut data = Vec::with_capacity(n * p);
                for i in 0..n {
                    data.extend((0..p).map(|j| (self.get(i, j) - shift[j]) * factor[j]));
                }
                ScaledCopy::Dense(data)
            }
            // A CSR design keeps its structure: only the scaled values are copied (8 bytes a
            // stored value instead of 16 plus the row pointers).
            Storage::Sparse(c) if c.major == Major::Rows => {
                let mut values = Vec::with_capacity(c.nnz());
                for i in 0..self.nrows {
                    self.for_row(i, |j, v| values.push(v * factor[j]));
                }
                ScaledCopy::Values(values)
            }
            Storage::Sparse(_) => {
                let mut indptr = Vec::with_capacity(self.nrows + 1);
                let mut indices = Vec::with_capacity(self.stored_values());
                let mut values = Vec::with_capacity(self.stored_values());
                indptr.push(0);
                for i in 0..self.nrows {
                    self.for_row(i, |j, v| {
                        indices.push(j);
                        values.push(v * factor[j]);
                    });
                    indptr.push(values.len());
                }
                let arrays = sparse::CsrArrays { indptr, indices, values };
                ScaledCopy::Sparse(CsrMatrix::from_checked(self.nrows, self.ncols, arrays))
            }
        }
    }

    /// The first non-finite entry as (row, column, value).
    pub(crate) fn first_non_finite(&self) -> Option<(usize, usize, f64)> {
        match self.check_finite() {
            Err(Error::NonFiniteDesign { row, col, value }) => Some((row, col, value)),
            _ => None,
        }
    }

    /// The first non-finite entry (row by row for a dense design, in storage order for a sparse
    /// one).
    pub(crate) fn check_finite(&self) -> Result<()> {
        match self.storage {
            Storage::Dense { .. } => {
                for row in 0..self.nrows {
                    for col in 0..self.ncols {
                        let value = self.get(row, col);
                        if !value.is_finite() {
                            return Err(Error::NonFiniteDesign { row, col, value });
                        }
                    }
                }
            }
            Storage::Sparse(c) => {
                let Some(k) = c.values().iter().position(|v| !v.is_finite()) else {
                    return Ok(());
                };
                let majors = if c.major == Major::Rows { self.nrows } else { self.ncols };
                let major = (0..majors).find(|&m| c.range(m).contains(&k)).unwrap_or(0);
                let (row, col) = match c.major {
                    Major::Rows => (major, c.minor(k)),
                    Major::Columns => (c.minor(k), major),
                };
                return Err(Error::NonFiniteDesign { row, col, value: c.values()[k] });
            }
        }
        Ok(())
    }
}

/// A copy of a design or of some of its columns ([`Design::scaled_copy`],
/// [`Design::columns_copy`]).
pub(crate) enum ScaledCopy {
    /// Row-major.
    Dense(Vec<f64>),
    /// Compressed rows.
    Sparse(CsrMatrix),
    /// New values for a CSR design's structure, in its storage order
    /// ([`ScaledCopy::design`] pairs them with that structure).
    Values(Vec<f64>),
    /// Column-major ([`Design::columns_copy_column_major`]).
    ColumnMajor(Vec<f64>),
}

impl ScaledCopy {
    /// The copy as a design: `original` is the design it was made from (whose structure a
    /// [`ScaledCopy::Values`] copy shares), `ncols` its columns (the copied columns' count for
    /// a column copy).
    ///
    /// # Errors
    /// None in practice (the copy has the shape it was made with).
    pub(crate) fn design<'a>(&'a self, original: Design<'a>, ncols: usize) -> Result<Design<'a>> {
        match self {
            ScaledCopy::Dense(data) => Design::row_major(data, original.nrows, ncols),
            ScaledCopy::ColumnMajor(data) => Design::column_major(data, original.nrows, ncols),
            ScaledCopy::Sparse(csr) => Ok(csr.design()),
            ScaledCopy::Values(values) => match original.storage {
                Storage::Sparse(c) if c.major == Major::Rows && c.nnz() == values.len() => {
                    let compressed = c.with_values(values);
                    Ok(Design::from_compressed(original.nrows, original.ncols, compressed))
                }
                _ => Err(Error::Numerical {
                    iteration: 0,
                    reason: "a copy of a CSR design's values paired with another design".into(),
                }),
            },
        }
    }
}

impl<'a> From<&'a DMatrix<f64>> for Design<'a> {
    fn from(m: &'a DMatrix<f64>) -> Self {
        Design::dense(m.as_slice(), m.nrows(), m.ncols(), 1, m.nrows())
    }
}

impl<'a> From<&'a CsrMatrix> for Design<'a> {
    fn from(m: &'a CsrMatrix) -> Self {
        m.design()
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
    pub(crate) offset: Option<&'a [f64]>,
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
        Self { x: x.into(), response: Response::Values(y.as_target()), weights: None, offset: None }
    }

    /// X with binomial counts: `successes[i]` out of `trials[i]` ≥ 0 in row i (for
    /// [`crate::Glm::binomial`]).
    pub fn binomial(x: impl Into<Design<'a>>, successes: &'a [f64], trials: &'a [f64]) -> Self {
        Self {
            x: x.into(),
            response: Response::Counts { successes, trials },
            weights: None,
            offset: None,
        }
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

    /// The same data with an offset oᵢ per row, added to the linear predictor with coefficient
    /// fixed at 1: ηᵢ = oᵢ + xᵢᵀβ + b₀ (glmnet's `offset`, R's `offset()`; e.g. the log of an
    /// exposure). Every value must be finite. Predictions of the fitted model take the new
    /// rows' offsets ([`crate::LinearModel::decision_function_with_offset`]).
    #[must_use]
    pub fn offset(mut self, offset: &'a [f64]) -> Self {
        self.offset = Some(offset);
        self
    }

    /// The same data with the offset `offset` gives (`None`: no offset).
    #[must_use]
    pub fn maybe_offset(mut self, offset: Option<&'a [f64]>) -> Self {
        self.offset = offset;
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

    /// `f` on this data with a CSC design transposed to CSR once (O(nnz) memory): fits,
    /// paths and cross-validation compute row by row. Other designs are passed as they are.
    pub(crate) fn on_rows<R>(&self, f: impl FnOnce(&Data<'_>) -> R) -> R {
        match self.x.transposed_to_csr() {
            Some(csr) => f(&Data { x: csr.design(), ..self.clone() }),
            None => f(self),
        }
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
    /// (A part of the rows, e.g. a chunk of a distributed fit, may hold only zero counts:
    /// [`Error::AllZeroCounts`] is the whole fit's check.)
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
        family.check_labels(y.iter().copied())?;
        // Labels as the family fits them (hinge: 0/1 as −1/+1, logistic: −1/+1 as 0/1); a copy
        // only when one changes.
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

    /// ηᵢ = xᵢᵀβ + b₀ + offsetᵢ for every row, in f64.
    pub(crate) fn linear_predictor(&self, beta: &[f64], b0: f64) -> Vec<f64> {
        let mut eta = self.x.times(b0, beta);
        if let Some(offset) = self.offset() {
            eta.iter_mut().zip(offset).for_each(|(e, o)| *e += o);
        }
        eta
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
            self.x.for_row(i, |j, v| sq[j] += w * v * v);
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
