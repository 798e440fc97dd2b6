//! Fits on data read from a [`crate::source::RowSource`] at every pass, holding only a few row
//! blocks and the d × d statistics: [`crate::Glm::fit_source`], [`crate::Glm::path_source`],
//! [`crate::Glm::cv_source`] and [`crate::LinearModel::decision_function_source`].
//!
//! - **The first pass** (`scan.rs`) runs every check of data in memory, naming the global row
//!   and the column, and gathers what the fit needs before it starts: row count, weight sums,
//!   the response's mean, the columns' weighted means and spreads (the preconditioner's, exactly
//!   as [`crate::Glm::standardize`] and the badly-scaled-design rescaling use them in memory).
//! - **Every later pass** (`reader.rs`) reads blocks on a second thread while the fit computes
//!   on the previous one, and stops with [`crate::Error::SourceChanged`] if the source's size,
//!   modification time or row count differ from the first pass.
//! - **Sparse sources** ([`crate::source::RowSource::sparse`]: LIBSVM files, a sparse design in
//!   a [`crate::source::MemorySource`]) hand out blocks of CSR rows, each costing its stored
//!   values; the first pass's column moments count the unstored zeros by their weight, the
//!   preconditioner scales sparse columns without centring them (as in memory), and `auto`
//!   computes their blocks on the CPU.
//! - **The statistics** (`backend.rs`) are the in-memory CPU backend's, block by block, added
//!   in block order in f64: the same fit as in memory up to rounding, bit-identical run to run.
//!   A single fit may run its blocks through the GPU kernels instead (as
//!   [`crate::BackendChoice`] says): X then stays on the device after the first pass when it
//!   fits [`StreamOptions::gpu_resident_bytes`], and otherwise each pass uploads the blocks
//!   through two alternating buffers, block k + 1's upload queued while block k computes; an f64
//!   streamed pass on the CPU checks the result, and finishes it where the check fails.
//!
//! Paths and cross-validation run on the CPU, through the in-memory path's loop without its
//! strong rules (every pass reads every column whatever the active set, so the rules' extra f64
//! KKT pass per point would only add passes); cross-validation folds are weights, a row's fold a
//! hash of its index ([`Folds`]), so no per-row state is held.

mod backend;
mod external;
mod fit;
pub(crate) mod reader;
mod scan;

pub use external::{ExternalClasses, ExternalRows, RowSummary};

use std::sync::Arc;
use std::time::Duration;

pub use crate::source::DEFAULT_BLOCK_ROWS;

/// What a streamed fit reports after each pass (see [`StreamOptions::progress`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Passes over the source so far (the first, checking pass included).
    pub pass: u64,
    /// Rows in this pass.
    pub rows: u64,
    /// Rows per second in this pass (reading, decoding and arithmetic).
    pub rows_per_second: f64,
    /// The objective at the pass's θ (the mean loss plus the penalty of the solve running).
    pub objective: f64,
    /// Time since the fit started.
    pub elapsed: Duration,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How a streamed fit reads its source.
#[derive(Clone)]
pub struct StreamOptions {
    /// Rows per block (default [`DEFAULT_BLOCK_ROWS`]). Three blocks are held at once (one
    /// computed on, one being read, one between); a dense block of b rows and p columns takes
    /// 8·b·(p + 3) bytes, a sparse one 16 bytes per stored value and 32·b.
    pub block_rows: usize,
    /// Called after every pass.
    pub progress: Option<ProgressFn>,
    /// A streamed fit on the GPU keeps X on the device after its first pass when X's f32
    /// copy (rows × (p + 1) × 4 bytes) is at most this (default 2 GiB); otherwise every pass
    /// uploads the blocks again, double-buffered.
    pub gpu_resident_bytes: u64,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self { block_rows: DEFAULT_BLOCK_ROWS, progress: None, gpu_resident_bytes: 2 << 30 }
    }
}

impl std::fmt::Debug for StreamOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamOptions")
            .field("block_rows", &self.block_rows)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .field("gpu_resident_bytes", &self.gpu_resident_bytes)
            .finish()
    }
}

/// Cross-validation folds of a streamed source: row i's fold is a hash of (i, seed) modulo k,
/// so the assignment needs no memory per row and every pass agrees on it. Fold sizes are
/// multinomial (within a few √(n/k) of n/k), not dealt exactly as in [`crate::Folds::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folds {
    /// Number of folds.
    pub k: usize,
    /// The hash's seed.
    pub seed: u64,
}

impl Folds {
    /// The fold (in 0..k) of the row with global index `row`.
    pub fn fold_of(&self, row: u64) -> usize {
        // SplitMix64's finalizer: consecutive rows land in independent-looking folds.
        let mut z = row ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z % self.k as u64) as usize
    }

    /// The assignment of rows `0..n` as in-memory [`crate::Folds`] (to compare a streamed
    /// cross-validation with [`crate::Glm::cv_with_folds`] on the same data).
    ///
    /// # Errors
    /// [`crate::Error::InvalidOption`] unless 2 ≤ k ≤ n.
    pub fn to_assignment(&self, n: usize) -> crate::Result<crate::Folds> {
        let assignment = (0..n as u64).map(|i| self.fold_of(i)).collect();
        crate::Folds::from_assignment(assignment, self.k)
    }
}
