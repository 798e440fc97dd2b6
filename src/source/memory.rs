//! A design already in memory, served as row blocks.

use super::{Block, Fingerprint, RowSource, SparseRows};
use crate::data::{Design, check_len};
use crate::error::{Input, Result};

/// X (any layout), y and optional weights or binomial trials already in memory, served as
/// blocks: the same data through the streamed path, e.g. to compare it with an in-memory fit
/// or to bound the memory a fit's own buffers take. Nothing is copied except block by block.
#[derive(Debug, Clone)]
pub struct MemorySource<'a> {
    x: Design<'a>,
    y: &'a [f64],
    weights: Option<&'a [f64]>,
    trials: Option<&'a [f64]>,
    offset: Option<&'a [f64]>,
    names: Vec<String>,
    next_row: usize,
}

impl<'a> MemorySource<'a> {
    /// X with one response value per row (`y` may be empty: a source for predictions).
    ///
    /// # Errors
    /// [`crate::Error::LengthMismatch`] when a non-empty `y` does not have one value per row.
    pub fn new(x: Design<'a>, y: &'a [f64]) -> Result<Self> {
        if !y.is_empty() {
            check_len(Input::Target, x.nrows(), y.len())?;
        }
        let names = (1..=x.ncols()).map(|j| format!("x{j}")).collect();
        Ok(Self { x, y, weights: None, trials: None, offset: None, names, next_row: 0 })
    }

    /// The same with sample weights.
    ///
    /// # Errors
    /// [`crate::Error::LengthMismatch`] unless there is one weight per row.
    pub fn with_weights(mut self, weights: &'a [f64]) -> Result<Self> {
        check_len(Input::Weights, self.x.nrows(), weights.len())?;
        self.weights = Some(weights);
        Ok(self)
    }

    /// The same with offsets (see [`crate::Data::offset`]).
    ///
    /// # Errors
    /// [`crate::Error::LengthMismatch`] when `offset` does not have one value per row.
    pub fn with_offset(mut self, offset: &'a [f64]) -> Result<Self> {
        check_len(Input::Offset, self.x.nrows(), offset.len())?;
        self.offset = Some(offset);
        Ok(self)
    }

    /// The same with binomial trials (y then holds success counts).
    ///
    /// # Errors
    /// [`crate::Error::LengthMismatch`] unless there is one count per row.
    pub fn with_trials(mut self, trials: &'a [f64]) -> Result<Self> {
        check_len(Input::Trials, self.x.nrows(), trials.len())?;
        self.trials = Some(trials);
        Ok(self)
    }
}

impl RowSource for MemorySource<'_> {
    fn name(&self) -> &str {
        "the in-memory data"
    }

    fn feature_names(&self) -> &[String] {
        &self.names
    }

    fn rows_hint(&self) -> Option<u64> {
        Some(self.x.nrows() as u64)
    }

    fn has_target(&self) -> bool {
        !self.y.is_empty()
    }

    fn has_weights(&self) -> bool {
        self.weights.is_some()
    }

    fn has_trials(&self) -> bool {
        self.trials.is_some()
    }

    fn has_offset(&self) -> bool {
        self.offset.is_some()
    }

    fn sparse(&self) -> bool {
        self.x.is_sparse()
    }

    fn fingerprint(&self) -> Result<Option<Fingerprint>> {
        Ok(None)
    }

    fn rewind(&mut self) -> Result<()> {
        self.next_row = 0;
        Ok(())
    }

    fn next_block(&mut self, block: &mut Block, max_rows: usize) -> Result<bool> {
        let (n, p) = (self.x.nrows(), self.x.ncols());
        let start = self.next_row;
        let rows = max_rows.max(1).min(n - start);
        block.reset(start as u64, rows);
        if rows == 0 {
            return Ok(false);
        }
        if self.x.is_sparse() {
            // A sparse design's blocks stay sparse: each row's stored entries, in column order.
            let sparse = block.sparse.get_or_insert_with(SparseRows::default);
            for i in 0..rows {
                self.x.for_row(start + i, |j, v| {
                    sparse.indices.push(j);
                    sparse.values.push(v);
                });
                sparse.indptr.push(sparse.values.len());
            }
        } else {
            block.x.resize(rows * p, 0.0);
            for j in 0..p {
                let column = &mut block.x[j * rows..(j + 1) * rows];
                for (i, value) in column.iter_mut().enumerate() {
                    *value = self.x.get(start + i, j);
                }
            }
        }
        let range = start..start + rows;
        if !self.y.is_empty() {
            block.y.extend_from_slice(&self.y[range.clone()]);
        }
        if let Some(w) = self.weights {
            block.weights.extend_from_slice(&w[range.clone()]);
        }
        if let Some(o) = self.offset {
            block.offset.extend_from_slice(&o[range.clone()]);
        }
        if let Some(t) = self.trials {
            block.trials.extend_from_slice(&t[range]);
        }
        self.next_row += rows;
        Ok(true)
    }
}
