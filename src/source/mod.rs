//! Row sources: data read again at every pass, block by block, so a fit need not hold X.
//!
//! Every SM-EM statistic (the loss, ∇L, S = XᵀWX/W) is a sum over rows, and a fit needs only a
//! few dozen passes, so n can be bounded by the disk rather than by memory: a [`RowSource`]
//! yields its rows as [`Block`]s, from the first row again at each [`RowSource::rewind`], and
//! [`crate::Glm::fit_source`] (with `path_source` and `cv_source`) fits from it with the
//! streamed CPU backend, holding a few blocks and the d × d statistics.
//!
//! Sources here: [`MemorySource`] (a design already in memory, mostly for tests and
//! comparisons) and, with the `files` feature, [`CsvSource`] (CSV/TSV, plain or gzip),
//! [`LibsvmSource`] (plain or gzip), [`ParquetSource`] (only the needed columns, row group by row
//! group) and [`ArrowIpcSource`] (Arrow IPC / Feather v2 files); [`open_file`] picks one by the
//! file's name. Columns are chosen by name with [`Roles`].
//!
//! A source reports what it could not read as [`crate::Error::Source`] with the global row
//! (counted from 0 over the whole source, whatever the block size) and the column's name. The
//! checks of the values themselves (finite, labels the family accepts, weights ≥ 0) run once, on
//! the first pass (`stream::scan`); later passes compare the source's [`Fingerprint`] and row
//! count with the first and stop with [`crate::Error::SourceChanged`] when they differ.

#[cfg(feature = "files")]
mod columnar;
mod memory;
#[cfg(feature = "files")]
mod text;

#[cfg(feature = "files")]
pub use columnar::{ArrowIpcSource, ParquetSource};
pub use memory::MemorySource;
#[cfg(feature = "files")]
pub use text::{CsvSource, LibsvmSource};

use crate::error::Result;

/// Rows per block when the caller sets none: 64 Ki rows (25 MiB of f64 at p = 50), large enough
/// that a block's arithmetic dwarfs the hand-over between the reading thread and the fit.
pub const DEFAULT_BLOCK_ROWS: usize = 1 << 16;

/// One block of consecutive rows.
///
/// X is column-major (column j is `x[j * rows .. (j + 1) * rows]`: Parquet and Arrow store
/// columns, and a column-major block is one contiguous copy per column), or, from a source that
/// stores X sparse ([`RowSource::sparse`]: LIBSVM files, a sparse design in memory), compressed
/// sparse rows in [`Block::sparse`] with `x` empty, so that a block costs its stored values and
/// not rows × p.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// The global index (from 0) of the block's first row.
    pub first_row: u64,
    /// Rows in the block.
    pub rows: usize,
    /// X, `rows × p`, column-major (empty when [`Block::sparse`] holds X).
    pub x: Vec<f64>,
    /// X as compressed sparse rows, from a source that stores it so (`None`: X is `x`).
    pub sparse: Option<SparseRows>,
    /// The response, one per row (empty for a source without one, e.g. for predictions).
    pub y: Vec<f64>,
    /// Sample weights, one per row; empty when the source has none (all ones).
    pub weights: Vec<f64>,
    /// Binomial trials, one per row; empty when the source has none.
    pub trials: Vec<f64>,
    /// Offsets, one per row; empty when the source has none.
    pub offset: Vec<f64>,
}

impl Block {
    /// Empties the block for `rows` rows starting at `first_row`: every vector cleared (their
    /// memory kept for the next block), X to be filled by the source, `rows × p` values.
    pub fn reset(&mut self, first_row: u64, rows: usize) {
        self.first_row = first_row;
        self.rows = rows;
        self.x.clear();
        if let Some(sparse) = &mut self.sparse {
            sparse.clear();
        }
        self.y.clear();
        self.weights.clear();
        self.trials.clear();
        self.offset.clear();
    }

    /// Column j of a dense block's X (empty for a sparse block).
    pub fn column(&self, j: usize) -> &[f64] {
        if self.sparse.is_some() {
            return &[];
        }
        &self.x[j * self.rows..(j + 1) * self.rows]
    }

    /// X of this block (of `p` columns) as a design, read in place.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] or [`crate::Error::InvalidSparse`] for a block whose
    /// arrays disagree with its rows and `p` (a source's defect).
    pub fn design(&self, p: usize) -> Result<crate::Design<'_>> {
        match &self.sparse {
            Some(s) => crate::Design::csr(self.rows, p, &s.indptr, &s.indices, &s.values),
            None => crate::Design::column_major(&self.x, self.rows, p),
        }
    }

    /// The first value of X (of `p` columns) that is not finite, as (row in the block,
    /// column, value); `None` also for a block whose arrays do not make a design (which
    /// [`Block::design`] reports).
    pub fn first_non_finite(&self, p: usize) -> Option<(usize, usize, f64)> {
        self.design(p).ok()?.first_non_finite()
    }

    /// η = o + Xβ + b₀, one value per row, into `eta` (β has one value per column of X; o the
    /// block's offsets where the source has them).
    pub fn linear_predictor(&self, beta: &[f64], b0: f64, eta: &mut Vec<f64>) {
        self.linear_predictor_without_offset(beta, b0, eta);
        if !self.offset.is_empty() {
            eta.iter_mut().zip(&self.offset).for_each(|(e, o)| *e += o);
        }
    }

    /// xᵢᵀβ + b₀ per row, the block's offsets left out.
    fn linear_predictor_without_offset(&self, beta: &[f64], b0: f64, eta: &mut Vec<f64>) {
        eta.clear();
        eta.resize(self.rows, b0);
        match &self.sparse {
            Some(s) => {
                for (i, e) in eta.iter_mut().enumerate() {
                    let range = s.indptr[i]..s.indptr[i + 1];
                    *e += s.indices[range.clone()]
                        .iter()
                        .zip(&s.values[range])
                        .map(|(&j, v)| v * beta[j])
                        .sum::<f64>();
                }
            }
            None => {
                for (j, &b) in beta.iter().enumerate() {
                    if b != 0.0 {
                        for (e, x) in eta.iter_mut().zip(self.column(j)) {
                            *e += b * x;
                        }
                    }
                }
            }
        }
    }
}

/// A block's X as compressed sparse rows: row i's stored entries are the columns
/// `indices[indptr[i]..indptr[i + 1]]`, strictly increasing, with those `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseRows {
    /// Offsets into `indices` and `values`, one per row and one more (from 0).
    pub indptr: Vec<usize>,
    /// The column of each stored value.
    pub indices: Vec<usize>,
    /// The stored values.
    pub values: Vec<f64>,
}

impl Default for SparseRows {
    fn default() -> Self {
        Self { indptr: vec![0], indices: Vec::new(), values: Vec::new() }
    }
}

impl SparseRows {
    /// Empties the arrays (no rows), keeping their memory.
    pub fn clear(&mut self) {
        self.indptr.clear();
        self.indptr.push(0);
        self.indices.clear();
        self.values.clear();
    }

    /// Appends a row whose entries are `entries` (column, value), in any order: sorted here.
    /// Returns the column given twice, if one is (the row is then not appended).
    pub fn push_row(&mut self, entries: &mut [(usize, f64)]) -> Option<usize> {
        entries.sort_unstable_by_key(|e| e.0);
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Some(pair[0].0);
        }
        self.indices.extend(entries.iter().map(|e| e.0));
        self.values.extend(entries.iter().map(|e| e.1));
        self.indptr.push(self.values.len());
        None
    }
}

/// What identifies a source's content between passes: a file's size and modification time
/// (a [`MemorySource`] has none: it cannot change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, in nanoseconds since the Unix epoch (0 where the system has none).
    pub modified_ns: u128,
}

impl Fingerprint {
    /// The fingerprint of the file at `path`.
    ///
    /// # Errors
    /// [`crate::Error::Source`] when the file's metadata cannot be read.
    pub fn of_file(path: &std::path::Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| crate::Error::Source {
            source_name: path.display().to_string(),
            row: None,
            column: None,
            reason: format!("cannot read its metadata: {e}"),
        })?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Self { len: meta.len(), modified_ns })
    }
}

/// Which columns play which role, by name (for files with named columns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    /// The response column; `None`: `y` if present, else the last column (unless
    /// `target_required` is false and there is no `y`: then no response).
    pub target: Option<String>,
    /// Whether the source must have a response (fits) or may lack one (predictions).
    pub target_required: bool,
    /// A column of sample weights.
    pub weights: Option<String>,
    /// A column of binomial trials (the response then holds success counts).
    pub trials: Option<String>,
    /// A column of offsets (added to each row's linear predictor, [`crate::Data::offset`]).
    pub offset: Option<String>,
    /// The feature columns, in order; `None`: every column not named above.
    pub features: Option<Vec<String>>,
}

impl Roles {
    /// A response named `target` (or the default one), no weights, every other column a feature.
    pub fn target(target: Option<&str>) -> Self {
        Self { target: target.map(str::to_owned), target_required: true, ..Self::default() }
    }

    /// Resolves the roles against a file's column names: (features, target, weights, trials,
    /// offset) as column indices.
    ///
    /// # Errors
    /// [`crate::Error::Source`] naming a column that is missing, or a file with no features.
    #[cfg(feature = "files")]
    pub(crate) fn resolve(&self, name: &str, columns: &[String]) -> Result<Resolved> {
        let find = |wanted: &str| {
            columns.iter().position(|c| c == wanted).ok_or_else(|| crate::Error::Source {
                source_name: name.to_owned(),
                row: None,
                column: Some(wanted.to_owned()),
                reason: format!("no such column (columns: {})", columns.join(", ")),
            })
        };
        let target = match &self.target {
            Some(t) => Some(find(t)?),
            None => match columns.iter().position(|c| c == "y") {
                Some(y) => Some(y),
                None if self.target_required && self.features.is_none() => {
                    columns.len().checked_sub(1)
                }
                None => None,
            },
        };
        if self.target_required && target.is_none() {
            return Err(crate::Error::Source {
                source_name: name.to_owned(),
                row: None,
                column: None,
                reason: "no response column".into(),
            });
        }
        let weights = self.weights.as_deref().map(find).transpose()?;
        let trials = self.trials.as_deref().map(find).transpose()?;
        let offset = self.offset.as_deref().map(find).transpose()?;
        let roles = [target, weights, trials, offset];
        let features: Vec<usize> = match &self.features {
            Some(names) => names.iter().map(|f| find(f)).collect::<Result<_>>()?,
            None => (0..columns.len()).filter(|&c| !roles.contains(&Some(c))).collect(),
        };
        if features.is_empty() {
            return Err(crate::Error::Source {
                source_name: name.to_owned(),
                row: None,
                column: None,
                reason: "no feature columns besides the response".into(),
            });
        }
        Ok(Resolved { features, target, weights, trials, offset })
    }
}

/// [`Roles`] as column indices of one file.
#[cfg(feature = "files")]
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub features: Vec<usize>,
    pub target: Option<usize>,
    pub weights: Option<usize>,
    pub trials: Option<usize>,
    pub offset: Option<usize>,
}

/// Data that can be read again and again as row blocks, always in the same order.
///
/// `Send`: a fit reads the next block on another thread while it computes on the current one.
pub trait RowSource: Send {
    /// A name for messages (a file's path).
    fn name(&self) -> &str;

    /// The feature columns' names, one per column of X.
    fn feature_names(&self) -> &[String];

    /// Number of features p.
    fn ncols(&self) -> usize {
        self.feature_names().len()
    }

    /// The number of rows, where the source knows it without a pass (a Parquet file's
    /// metadata; `None` otherwise).
    fn rows_hint(&self) -> Option<u64> {
        None
    }

    /// The number of stored values of a sparse source, where the source knows it without a
    /// pass (a LIBSVM file counts them when opened; `None` otherwise): what reading it whole
    /// reserves, so the arrays are allocated once at their size.
    fn stored_hint(&self) -> Option<u64> {
        None
    }

    /// Whether blocks carry a response.
    fn has_target(&self) -> bool;

    /// Whether blocks carry sample weights (none by default).
    fn has_weights(&self) -> bool {
        false
    }

    /// Whether blocks carry binomial trials (none by default).
    fn has_trials(&self) -> bool {
        false
    }

    /// Whether blocks carry offsets (none by default).
    fn has_offset(&self) -> bool {
        false
    }

    /// Whether blocks carry X as [`SparseRows`] (dense, column-major, by default). A fit
    /// standardizes sparse columns without centring them, as in memory.
    fn sparse(&self) -> bool {
        false
    }

    /// The content's identity now (`None` for data that cannot change).
    ///
    /// # Errors
    /// [`crate::Error::Source`] when it cannot be read.
    fn fingerprint(&self) -> Result<Option<Fingerprint>>;

    /// Starts a new pass at the first row.
    ///
    /// # Errors
    /// [`crate::Error::Source`] when the data cannot be opened again.
    fn rewind(&mut self) -> Result<()>;

    /// Fills `block` with the next rows, at most `max_rows` (≥ 1); `Ok(false)` (and an empty
    /// block) at the end of the pass.
    ///
    /// # Errors
    /// [`crate::Error::Source`] for data that cannot be read or parsed, naming the global row
    /// and the column.
    fn next_block(&mut self, block: &mut Block, max_rows: usize) -> Result<bool>;
}

/// Opens `path` with the reader its name calls for: `.parquet`/`.parq` → [`ParquetSource`],
/// `.arrow`/`.feather`/`.ipc` → [`ArrowIpcSource`], `.svm`/`.libsvm`/`.svmlight` (optionally
/// `.gz`) → [`LibsvmSource`], anything else → [`CsvSource`] (`.tsv` tab-separated, gzip
/// detected by name or content).
///
/// # Errors
/// [`crate::Error::Source`] when the file cannot be opened or its columns do not match `roles`.
#[cfg(feature = "files")]
pub fn open_file(path: &std::path::Path, roles: &Roles) -> Result<Box<dyn RowSource>> {
    Ok(match Format::of(path) {
        Format::Parquet => Box::new(ParquetSource::open(path, roles)?),
        Format::ArrowIpc => Box::new(ArrowIpcSource::open(path, roles)?),
        Format::Libsvm => Box::new(LibsvmSource::open(path, roles)?),
        Format::Csv => Box::new(CsvSource::open(path, roles)?),
    })
}

/// A data file's format, from its name.
#[cfg(feature = "files")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC file (Feather v2).
    ArrowIpc,
    /// LIBSVM / svmlight text.
    Libsvm,
    /// CSV or TSV with a header row.
    Csv,
}

#[cfg(feature = "files")]
impl Format {
    /// The format `path`'s name calls for (see [`open_file`]).
    pub fn of(path: &std::path::Path) -> Self {
        let name = path.to_string_lossy().to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ends = |exts: &[&str]| exts.iter().any(|e| name.ends_with(e));
        if ends(&[".parquet", ".parq"]) {
            Format::Parquet
        } else if ends(&[".arrow", ".feather", ".ipc"]) {
            Format::ArrowIpc
        } else if ends(&[".svm", ".libsvm", ".svmlight"]) {
            Format::Libsvm
        } else {
            Format::Csv
        }
    }
}
