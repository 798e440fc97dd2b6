//! Reading a data file whole into memory (feature `cli`): every format a row source reads —
//! CSV/TSV with a header row and LIBSVM/svmlight (either possibly gzipped), Parquet, Arrow IPC —
//! through [`crate::source::open_file`], so in-memory and streamed fits share one parser per
//! format. Every malformed input is an `Err` naming the file, row and column, never a panic (a
//! fuzz target in `fuzz/` holds the readers to that).

use std::path::Path;

use crate::data::{CsrMatrix, Design};
use crate::source::{Block, DEFAULT_BLOCK_ROWS, Roles, RowSource, SparseRows, open_file};

/// A data set read from a file: X, the target, named extra columns, feature names.
#[derive(Debug)]
pub struct Dataset {
    /// X, n × p: dense, or sparse for a LIBSVM file.
    pub x: Matrix,
    /// Rows.
    pub n: usize,
    /// Feature columns.
    pub p: usize,
    /// The target column (empty when the file has none and none was required).
    pub y: Vec<f64>,
    /// The sample weights, where the roles name a column of them.
    pub weights: Option<Vec<f64>>,
    /// The binomial trials, where the roles name a column of them.
    pub trials: Option<Vec<f64>>,
    /// The offsets, where the roles name a column of them.
    pub offset: Option<Vec<f64>>,
    /// The feature columns' names (x1, x2, … for LIBSVM).
    pub feature_names: Vec<String>,
}

/// The design of a [`Dataset`].
#[derive(Debug)]
pub enum Matrix {
    /// Row-major, n × p.
    Dense(Vec<f64>),
    /// Compressed sparse rows (LIBSVM files): memory O(nnz + n), whatever p.
    Sparse(CsrMatrix),
}

impl Dataset {
    /// X as a design for a fit or a prediction.
    ///
    /// # Errors
    /// None in practice (the reader sized X as n × p).
    pub fn design(&self) -> crate::Result<Design<'_>> {
        match &self.x {
            Matrix::Dense(x) => Design::row_major(x, self.n, self.p),
            Matrix::Sparse(x) => Ok(x.design()),
        }
    }
}

/// Reads `path` whole, its columns in the roles `roles` gives them (see
/// [`crate::source::open_file`] for the formats), with [`collect`]: a LIBSVM file into a sparse X,
/// every other format into a dense one.
///
/// # Errors
/// A one-line message naming the file and, for malformed content, the row and column.
pub fn read(path: &Path, roles: &Roles) -> Result<Dataset, String> {
    let mut source = open_file(path, roles).map_err(|e| e.to_string())?;
    collect(&mut *source)
}

/// Rows a sparse source's blocks hold while [`collect`] reads them.
const SPARSE_BLOCK_ROWS: usize = 1024;

/// Reads every row of `source` into memory: X sparse (CSR, memory O(nnz + n)) from a source
/// whose blocks are sparse, dense otherwise; the weights, trials and offsets where the source
/// has them. Every value must be finite: the first that is not is named by its row
/// and column.
///
/// # Errors
/// The source's message, a non-finite value, or "no data rows".
pub fn collect(source: &mut dyn RowSource) -> Result<Dataset, String> {
    let p = source.ncols();
    let name = source.name().to_owned();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let (mut weights, mut trials, mut offset) = (Vec::new(), Vec::new(), Vec::new());
    let mut sparse = source.sparse().then(SparseRows::default);
    // Arrays reserved at their final size where the source knows it: grown by doubling, they
    // would hold up to twice the stored values, and three times while one is copied.
    let hint = |h: Option<u64>| h.and_then(|h| usize::try_from(h).ok()).unwrap_or(0);
    if let Some(all) = &mut sparse {
        all.indptr.reserve(hint(source.rows_hint()));
        all.indices.reserve_exact(hint(source.stored_hint()));
        all.values.reserve_exact(hint(source.stored_hint()));
    }
    y.reserve_exact(hint(source.rows_hint()));
    let mut block = Block::default();
    source.rewind().map_err(|e| e.to_string())?;
    // Sparse blocks are copied into the CSR arrays as they come: small ones keep the transient
    // buffers (the reader's entries and the block's rows) a fraction of the matrix.
    let block_rows = if sparse.is_some() { SPARSE_BLOCK_ROWS } else { DEFAULT_BLOCK_ROWS };
    while source.next_block(&mut block, block_rows).map_err(|e| e.to_string())? {
        let not_finite = |row: usize, column: &str, value: f64| {
            format!(
                "{name}: row {}, column {column}: {value} is not finite",
                block.first_row + row as u64
            )
        };
        if let Some((i, j, value)) = block.first_non_finite(p) {
            return Err(not_finite(i, &source.feature_names()[j], value));
        }
        for (values, role) in [
            (&block.y, "response"),
            (&block.weights, "weights"),
            (&block.trials, "trials"),
            (&block.offset, "offset"),
        ] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(not_finite(i, role, values[i]));
            }
        }
        match (&mut sparse, &block.sparse) {
            (Some(all), Some(rows)) => {
                let offset = all.values.len();
                all.indptr.extend(rows.indptr[1..].iter().map(|k| k + offset));
                all.indices.extend_from_slice(&rows.indices);
                all.values.extend_from_slice(&rows.values);
            }
            _ => {
                for i in 0..block.rows {
                    x.extend((0..p).map(|j| block.x[j * block.rows + i]));
                }
            }
        }
        y.extend_from_slice(&block.y);
        weights.extend_from_slice(&block.weights);
        trials.extend_from_slice(&block.trials);
        offset.extend_from_slice(&block.offset);
    }
    let n = match &sparse {
        Some(all) => all.indptr.len() - 1,
        None => x.len() / p.max(1),
    };
    if n == 0 {
        return Err(format!("{name}: no data rows"));
    }
    let x = match sparse {
        Some(all) => Matrix::Sparse(
            CsrMatrix::new(n, p, all.indptr, all.indices, all.values)
                .map_err(|e| format!("{name}: {e}"))?,
        ),
        None => Matrix::Dense(x),
    };
    let role = |values: Vec<f64>, present: bool| present.then_some(values);
    let (weights, trials) =
        (role(weights, source.has_weights()), role(trials, source.has_trials()));
    let offset = role(offset, source.has_offset());
    let feature_names = source.feature_names().to_vec();
    Ok(Dataset { x, n, p, y, weights, trials, offset, feature_names })
}
