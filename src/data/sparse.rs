//! Compressed sparse designs (CSR and CSC) over borrowed arrays, and an owned CSR matrix.
//!
//! A sparse design is three arrays, as scipy.sparse and most sparse libraries store them: for
//! each major index m (a row for CSR, a column for CSC) its stored entries are
//! `indices[indptr[m]..indptr[m + 1]]` (the minor indices, strictly increasing) with
//! `values[…]` the same range. Index arrays may be `i32`, `i64` or `usize` — scipy's two index
//! types are read in place, without a copy.
//!
//! The structure is checked once, at construction ([`check_structure`]): a malformed array is
//! an [`Error::InvalidSparse`] naming the row or column, never a panic later. Duplicate or
//! unsorted indices are refused rather than summed or sorted, since the arrays are the
//! caller's and are never modified (scipy: `X.sum_duplicates()` makes them canonical; the
//! Python package does that on a copy).
//!
//! Fits compute on rows (η = Xβ row by row, then the row's gradient and Gram terms), so a CSC
//! design is transposed once per fit into an owned [`CsrMatrix`] (`Design::to_csr`), O(nnz)
//! memory; a CSR design is read in place.

use crate::error::{Error, Result};

/// An index array of a sparse design: `i32` or `i64` (scipy's index types) or `usize`, read in
/// place.
#[derive(Debug, Clone, Copy)]
pub enum Indices<'a> {
    /// 32-bit indices (scipy's default).
    I32(&'a [i32]),
    /// 64-bit indices (scipy's for matrices with more than 2³¹ stored values).
    I64(&'a [i64]),
    /// Native indices (Rust callers, and the owned [`CsrMatrix`]).
    Usize(&'a [usize]),
}

impl<'a> From<&'a [i32]> for Indices<'a> {
    fn from(v: &'a [i32]) -> Self {
        Indices::I32(v)
    }
}

impl<'a> From<&'a [i64]> for Indices<'a> {
    fn from(v: &'a [i64]) -> Self {
        Indices::I64(v)
    }
}

impl<'a> From<&'a [usize]> for Indices<'a> {
    fn from(v: &'a [usize]) -> Self {
        Indices::Usize(v)
    }
}

impl<'a> From<&'a Vec<i32>> for Indices<'a> {
    fn from(v: &'a Vec<i32>) -> Self {
        Indices::I32(v)
    }
}

impl<'a> From<&'a Vec<i64>> for Indices<'a> {
    fn from(v: &'a Vec<i64>) -> Self {
        Indices::I64(v)
    }
}

impl<'a> From<&'a Vec<usize>> for Indices<'a> {
    fn from(v: &'a Vec<usize>) -> Self {
        Indices::Usize(v)
    }
}

impl Indices<'_> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            Indices::I32(v) => v.len(),
            Indices::I64(v) => v.len(),
            Indices::Usize(v) => v.len(),
        }
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `k` as a signed value wide enough for every index type (a `usize` beyond `i128`
    /// cannot occur), for the structure checks.
    fn signed(&self, k: usize) -> i128 {
        match self {
            Indices::I32(v) => i128::from(v[k]),
            Indices::I64(v) => i128::from(v[k]),
            Indices::Usize(v) => v[k] as i128,
        }
    }

    /// Entry `k`, known to be a valid index (checked at construction).
    #[inline]
    fn at(&self, k: usize) -> usize {
        match self {
            Indices::I32(v) => v[k] as usize,
            Indices::I64(v) => v[k] as usize,
            Indices::Usize(v) => v[k],
        }
    }
}

/// Which index the compressed arrays run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Major {
    /// CSR: `indptr` over rows, `indices` are columns.
    Rows,
    /// CSC: `indptr` over columns, `indices` are rows.
    Columns,
}

/// A checked compressed sparse view (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compressed<'a> {
    pub(crate) major: Major,
    indptr: Indices<'a>,
    indices: Indices<'a>,
    values: &'a [f64],
}

impl<'a> Compressed<'a> {
    /// Checks the structure of a `nrows × ncols` matrix compressed along `major`.
    pub(crate) fn new(
        major: Major,
        nrows: usize,
        ncols: usize,
        indptr: Indices<'a>,
        indices: Indices<'a>,
        values: &'a [f64],
    ) -> Result<Self> {
        check_structure(major, nrows, ncols, indptr, indices, values.len())?;
        Ok(Self { major, indptr, indices, values })
    }

    /// The same structure over other `values` (one for each stored entry, in storage order).
    pub(crate) fn with_values(self, values: &'a [f64]) -> Self {
        debug_assert_eq!(values.len(), self.values.len());
        Self { values, ..self }
    }

    /// Stored entries.
    pub(crate) fn nnz(&self) -> usize {
        self.values.len()
    }

    /// The stored values, in storage order.
    pub(crate) fn values(&self) -> &'a [f64] {
        self.values
    }

    /// The range of `values` that major index `m` holds.
    #[inline]
    pub(crate) fn range(&self, m: usize) -> std::ops::Range<usize> {
        self.indptr.at(m)..self.indptr.at(m + 1)
    }

    /// The minor index of stored entry `k`.
    #[inline]
    pub(crate) fn minor(&self, k: usize) -> usize {
        self.indices.at(k)
    }

    /// `f(minor, value)` over major index `m`'s stored entries, in increasing minor order. The
    /// index type is matched once per call, not per entry.
    #[inline]
    pub(crate) fn for_each(&self, m: usize, mut f: impl FnMut(usize, f64)) {
        let range = self.range(m);
        let values = &self.values[range.clone()];
        match self.indices {
            Indices::I32(ix) => {
                ix[range].iter().zip(values).for_each(|(&j, &v)| f(j as usize, v));
            }
            Indices::I64(ix) => {
                ix[range].iter().zip(values).for_each(|(&j, &v)| f(j as usize, v));
            }
            Indices::Usize(ix) => ix[range].iter().zip(values).for_each(|(&j, &v)| f(j, v)),
        }
    }

    /// Σ value · `dense[minor]` over major index `m`.
    #[inline]
    pub(crate) fn dot(&self, m: usize, dense: &[f64]) -> f64 {
        let mut sum = 0.0;
        self.for_each(m, |j, v| sum += v * dense[j]);
        sum
    }

    /// The stored value at (major `m`, minor `j`), 0 where none is stored (binary search).
    pub(crate) fn get(&self, m: usize, j: usize) -> f64 {
        let range = self.range(m);
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.minor(mid).cmp(&j) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.values[mid],
            }
        }
        0.0
    }

    /// The transpose's arrays: the same matrix compressed along the other index (`minor_len`
    /// major indices), O(nnz) time and memory; the stored order within each new major index
    /// is increasing, as the structure requires.
    pub(crate) fn transposed(&self, major_len: usize, minor_len: usize) -> CsrArrays {
        let mut counts = vec![0usize; minor_len + 1];
        for k in 0..self.nnz() {
            counts[self.minor(k) + 1] += 1;
        }
        for j in 0..minor_len {
            counts[j + 1] += counts[j];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0usize; self.nnz()];
        let mut values = vec![0.0; self.nnz()];
        for m in 0..major_len {
            self.for_each(m, |j, v| {
                indices[next[j]] = m;
                values[next[j]] = v;
                next[j] += 1;
            });
        }
        CsrArrays { indptr, indices, values }
    }
}

/// The three arrays of an owned compressed matrix.
pub(crate) struct CsrArrays {
    pub(crate) indptr: Vec<usize>,
    pub(crate) indices: Vec<usize>,
    pub(crate) values: Vec<f64>,
}

/// Checks a compressed structure: `indptr` has one entry per major index plus one, starts at 0,
/// never decreases and ends at the number of values; `indices` has one entry per value; each
/// major index lists minor indices in `0..minor_len`, strictly increasing.
fn check_structure(
    major: Major,
    nrows: usize,
    ncols: usize,
    indptr: Indices<'_>,
    indices: Indices<'_>,
    nnz: usize,
) -> Result<()> {
    let (major_name, minor_name, major_len, minor_len) = match major {
        Major::Rows => ("row", "column", nrows, ncols),
        Major::Columns => ("column", "row", ncols, nrows),
    };
    let invalid = |reason: String| Err(Error::InvalidSparse { reason });
    if indptr.len() != major_len + 1 {
        return invalid(format!(
            "indptr has {} entries but a {nrows} × {ncols} matrix needs {} (one per {major_name}, \
             plus one)",
            indptr.len(),
            major_len + 1
        ));
    }
    if indices.len() != nnz {
        return invalid(format!(
            "indices has {} entries but there are {nnz} values (one index per value)",
            indices.len()
        ));
    }
    if indptr.signed(0) != 0 {
        return invalid(format!("indptr starts at {}, not 0", indptr.signed(0)));
    }
    if indptr.signed(major_len) != nnz as i128 {
        return invalid(format!(
            "indptr ends at {} but there are {nnz} values",
            indptr.signed(major_len)
        ));
    }
    for m in 0..major_len {
        let (start, end) = (indptr.signed(m), indptr.signed(m + 1));
        if end < start {
            return invalid(format!("indptr decreases at {major_name} {m} ({start} then {end})"));
        }
        let mut previous: Option<i128> = None;
        for k in start as usize..end as usize {
            let j = indices.signed(k);
            if j < 0 || j >= minor_len as i128 {
                return invalid(format!(
                    "{major_name} {m} lists {minor_name} index {j}, outside 0..{minor_len}"
                ));
            }
            if let Some(before) = previous {
                if j == before {
                    return invalid(format!(
                        "{major_name} {m} lists {minor_name} {j} twice (duplicates are not summed: \
                         scipy's X.sum_duplicates() does)"
                    ));
                }
                if j < before {
                    return invalid(format!(
                        "{major_name} {m} lists {minor_name} {j} after {minor_name} {before}: \
                         indices must increase within a {major_name} (scipy: X.sort_indices())"
                    ));
                }
            }
            previous = Some(j);
        }
    }
    Ok(())
}

/// An owned `nrows × ncols` matrix in compressed sparse row form (`usize` indices): what the
/// command line reads a LIBSVM file into, and what a CSC design is transposed to for a fit.
/// [`CsrMatrix::design`] views it as a [`crate::Design`].
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    nrows: usize,
    ncols: usize,
    indptr: Vec<usize>,
    indices: Vec<usize>,
    values: Vec<f64>,
}

impl CsrMatrix {
    /// Takes the three arrays of a CSR matrix (see the module docs), checking their structure.
    ///
    /// # Errors
    /// [`Error::InvalidSparse`] naming the row and column of the first malformed entry.
    pub fn new(
        nrows: usize,
        ncols: usize,
        indptr: Vec<usize>,
        indices: Vec<usize>,
        values: Vec<f64>,
    ) -> Result<Self> {
        check_structure(
            Major::Rows,
            nrows,
            ncols,
            Indices::Usize(&indptr),
            Indices::Usize(&indices),
            values.len(),
        )?;
        Ok(Self { nrows, ncols, indptr, indices, values })
    }

    /// Arrays already known to be well formed (built by this crate).
    pub(crate) fn from_checked(nrows: usize, ncols: usize, arrays: CsrArrays) -> Self {
        debug_assert!(
            check_structure(
                Major::Rows,
                nrows,
                ncols,
                Indices::Usize(&arrays.indptr),
                Indices::Usize(&arrays.indices),
                arrays.values.len()
            )
            .is_ok()
        );
        let CsrArrays { indptr, indices, values } = arrays;
        Self { nrows, ncols, indptr, indices, values }
    }

    /// The matrix as a design, borrowed.
    pub fn design(&self) -> crate::Design<'_> {
        let compressed = Compressed {
            major: Major::Rows,
            indptr: Indices::Usize(&self.indptr),
            indices: Indices::Usize(&self.indices),
            values: &self.values,
        };
        crate::Design::from_compressed(self.nrows, self.ncols, compressed)
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Bytes held by the three arrays.
    pub fn bytes(&self) -> usize {
        8 * (self.indptr.len() + self.indices.len() + self.values.len())
    }
}
