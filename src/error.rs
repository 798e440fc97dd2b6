//! The crate's one error type.

use thiserror::Error;

/// Which input array a data error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// The design matrix `X`.
    Design,
    /// The response `y`.
    Target,
    /// The sample weights.
    Weights,
    /// The penalty factors.
    PenaltyFactors,
    /// The binomial trials per row.
    Trials,
    /// The per-row offset of η.
    Offset,
    /// A cross-validation fold assignment.
    Folds,
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Input::Design => "X",
            Input::Target => "y",
            Input::Weights => "sample weights",
            Input::PenaltyFactors => "penalty factors",
            Input::Trials => "binomial trials",
            Input::Offset => "offset",
            Input::Folds => "fold assignment",
        })
    }
}

/// Everything that can go wrong in `scalemix`.
///
/// Each bad input has its own variant that names the offending row, column or value, so a caller
/// can report it without parsing the message. Numerical trouble during a fit is also an error,
/// never a panic; reaching `max_iter` is *not* an error (see [`crate::Termination`]).
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The data has no rows.
    #[error("the data is empty: X has no rows")]
    EmptyData,
    /// The design matrix has no columns.
    #[error("X has no columns (p = 0): at least one feature is needed")]
    NoFeatures,
    /// A slice does not hold `rows × cols` values.
    #[error(
        "X was given as {rows} × {cols} but the slice holds {len} values (expected {expected})"
    )]
    ShapeMismatch {
        /// Declared number of rows.
        rows: usize,
        /// Declared number of columns.
        cols: usize,
        /// Length of the slice.
        len: usize,
        /// `rows * cols`.
        expected: usize,
    },
    /// The arrays of a sparse design do not form a valid compressed matrix.
    #[error("sparse X: {reason}")]
    InvalidSparse {
        /// What is wrong, naming the row or column.
        reason: String,
    },
    /// Two inputs that must have the same length do not.
    #[error("{input} has {found} entries but X has {expected} {unit}")]
    LengthMismatch {
        /// The input whose length is wrong.
        input: Input,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        found: usize,
        /// "rows" or "columns".
        unit: &'static str,
    },
    /// New data for a fitted model has the wrong number of columns.
    #[error("X has {found} columns but the model was fitted on {expected}")]
    FeatureMismatch {
        /// Columns the model was fitted on.
        expected: usize,
        /// Columns given.
        found: usize,
    },
    /// A NaN or infinite entry of X.
    #[error("X has a non-finite value {value} at row {row}, column {col}")]
    NonFiniteDesign {
        /// Row index (0-based).
        row: usize,
        /// Column index (0-based).
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A NaN or infinite entry of a vector input (y, weights, penalty factors).
    #[error("{input} has a non-finite value {value} at index {index}")]
    NonFiniteValue {
        /// Which input.
        input: Input,
        /// Index (0-based).
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A label that the family does not accept.
    #[error("y has the value {value} at row {row}, but the {family} family needs {expected}")]
    InvalidLabel {
        /// Row index (0-based).
        row: usize,
        /// The offending value.
        value: f64,
        /// The family's name.
        family: &'static str,
        /// What the family accepts.
        expected: &'static str,
    },
    /// A negative sample weight or penalty factor.
    #[error("{input} has a negative value {value} at index {index}")]
    NegativeValue {
        /// Which input.
        input: Input,
        /// Index (0-based).
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Every sample weight is zero, so the mean loss is undefined.
    #[error("every sample weight is zero: there is nothing to fit")]
    AllZeroWeights,
    /// Every count of a Poisson or negative binomial fit (with positive weight) is zero: the
    /// intercept's optimum is at −∞.
    #[error(
        "every {family} count with positive weight is 0: the intercept's optimum is at −∞ \
         (there is no finite fit)"
    )]
    AllZeroCounts {
        /// The family's name.
        family: &'static str,
    },
    /// The penalty strength is negative or not finite.
    #[error("lambda must be finite and ≥ 0, got {0}")]
    InvalidLambda(f64),
    /// The elastic-net mixing parameter lies outside `[0, 1]`.
    #[error("alpha must lie in [0, 1], got {0}")]
    InvalidAlpha(f64),
    /// A solver option is out of range.
    #[error("invalid option {name} = {value}: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// What the option needs.
        reason: &'static str,
    },
    /// A model was asked for something its family does not define (e.g. probabilities for a
    /// gaussian model).
    #[error("{operation} is not defined for the {family} family: {reason}")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// The family's name.
        family: &'static str,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// The iteration produced a non-finite value (a bug or an input at the edge of f64 range).
    #[error("numerical breakdown at iteration {iteration}: {reason}")]
    Numerical {
        /// The iteration at which it happened.
        iteration: usize,
        /// What became non-finite.
        reason: String,
    },
    /// A multi-class fit got fewer than two distinct labels.
    #[error("a multi-class fit needs at least two distinct labels in y, found {found}")]
    TooFewClasses {
        /// The number of distinct labels.
        found: usize,
    },
    /// Saved model parameters that do not fit together (e.g. more classes than coefficient
    /// columns, or a non-finite coefficient).
    #[error("invalid model: {reason}")]
    InvalidModel {
        /// What does not fit.
        reason: String,
    },
    /// A fit would need more memory than is available (or than the set limit): refused before
    /// anything large is allocated.
    #[error(
        "a fit of {rows} rows × {cols} columns needs about {needed_mib} MiB \
         ({matrices} matrices of {dim} × {dim} and its row buffers), more than the {available_mib} MiB \
         available"
    )]
    OutOfMemory {
        /// Rows (n).
        rows: usize,
        /// Columns (p).
        cols: usize,
        /// Coordinates d = p (+1 with an intercept).
        dim: usize,
        /// d × d matrices the fit holds at once.
        matrices: usize,
        /// The estimate, in MiB.
        needed_mib: u64,
        /// The memory available (or the limit), in MiB.
        available_mib: u64,
    },
    /// A row source could not deliver its data: a file that cannot be read, a missing column, a
    /// column of the wrong type, a malformed or missing value (with its global row, counted from
    /// 0 over the whole source, and its column), a truncated file.
    #[error("{source_name}: {}{reason}", location(*row, column.as_deref()))]
    Source {
        /// The source (a file's path).
        source_name: String,
        /// The row, counted from 0 over the whole source, where the problem is in one row.
        row: Option<u64>,
        /// The column's name, where the problem is in one column.
        column: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A source changed between two passes of one fit (its size, modification time or number
    /// of rows): the fit stops rather than mix two versions of the data.
    #[error("{source_name} changed during the fit ({reason}); nothing was fitted")]
    SourceChanged {
        /// The source (a file's path).
        source_name: String,
        /// What differs from the first pass.
        reason: String,
    },
    /// A backend failed (device lost, out of memory, shader rejected, ...).
    #[error("backend {backend} failed: {reason}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// The backend's own message.
        reason: String,
    },
}

/// "row R, column C: " (either part only where known) for [`Error::Source`].
fn location(row: Option<u64>, column: Option<&str>) -> String {
    match (row, column) {
        (Some(r), Some(c)) => format!("row {r}, column {c}: "),
        (Some(r), None) => format!("row {r}: "),
        (None, Some(c)) => format!("column {c}: "),
        (None, None) => String::new(),
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
