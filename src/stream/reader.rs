//! One pass over a source: blocks read and prepared on a second thread while the caller
//! computes on the previous one, handed over in order.

use std::borrow::Cow;
use std::sync::mpsc;

use super::Folds;
use crate::data::Problem;
use crate::error::{Error, Result};
use crate::family::Family;
use crate::precondition::Preconditioner;
use crate::source::{Block, Fingerprint, RowSource};

/// Buffers in flight: one being computed on, one being filled (and one waiting between them).
const BUFFERS: usize = 3;

/// What turns a source's block into a block of the fitted problem.
#[derive(Clone)]
pub(crate) struct Prepare {
    pub family: Family,
    /// Applied to X in place, x̃ = (x − μ)/s (the fit's coordinates).
    pub pre: Option<std::sync::Arc<Preconditioner>>,
    /// Rows of this fold get weight 0 (a cross-validation fold's training set).
    pub held_out: Option<(Folds, usize)>,
    /// Whether the fit needs the response (predictions do not).
    pub needs_target: bool,
}

/// A block ready for the arithmetic: the source's block, with X in the fit's coordinates, the
/// response as the family reads it (binomial fractions, hinge ±1) and the row weights (binomial:
/// weights × trials; held-out rows 0).
#[derive(Default)]
pub(crate) struct Prepared {
    pub block: Block,
    /// wᵢ (× mᵢ for binomial), one per row.
    pub weights: Vec<f64>,
    /// Σ wᵢ over the block (the caller's weights, without trials: W's share).
    pub weight_sum: f64,
    /// The source's features p.
    pub ncols: usize,
}

impl Prepared {
    /// The block as a [`Problem`] (its checks ran on the first pass, `scan`).
    pub(crate) fn problem(&self, family: Family) -> Result<Problem<'_>> {
        let b = &self.block;
        let x = b.design(self.ncols)?;
        let min_positive_weight =
            self.weights.iter().copied().filter(|&w| w > 0.0).fold(f64::INFINITY, f64::min);
        Ok(Problem {
            x,
            y: Cow::Borrowed(&b.y),
            weights: Cow::Borrowed(&self.weights),
            weight_sum: self.weight_sum,
            min_positive_weight,
            family,
            offset: (!b.offset.is_empty()).then(|| Cow::Borrowed(&b.offset[..])),
        })
    }
}

impl Prepare {
    /// Prepares `buf.block` in place (see [`Prepared`]).
    fn apply(&self, buf: &mut Prepared) {
        let b = &mut buf.block;
        let rows = b.rows;
        buf.weights.clear();
        if b.weights.is_empty() {
            buf.weights.resize(rows, 1.0);
        } else {
            buf.weights.extend_from_slice(&b.weights);
        }
        if let Some((folds, fold)) = &self.held_out {
            for (i, w) in buf.weights.iter_mut().enumerate() {
                if folds.fold_of(b.first_row + i as u64) == *fold {
                    *w = 0.0;
                }
            }
        }
        buf.weight_sum = buf.weights.iter().sum();
        if self.needs_target {
            if !b.trials.is_empty() {
                for ((y, w), &m) in b.y.iter_mut().zip(buf.weights.iter_mut()).zip(&b.trials) {
                    *y = if m > 0.0 { *y / m } else { 0.0 };
                    *w *= m;
                }
            } else {
                let family = self.family;
                b.y.iter_mut().for_each(|y| *y = family.label_as_fitted(*y));
            }
        }
        if let Some(pre) = &self.pre {
            match &mut b.sparse {
                Some(sparse) => pre.apply_sparse(&sparse.indices, &mut sparse.values),
                None => pre.apply_column_major(&mut b.x, rows),
            }
        }
    }
}

/// A source bound to a fit: its first pass's row count and fingerprint, checked at every later
/// pass, and the block size.
pub(crate) struct Reader<'s> {
    pub source: &'s mut dyn RowSource,
    pub block_rows: usize,
    /// Rows and fingerprint of the first pass (`None` during it).
    pub expected: Option<(u64, Option<Fingerprint>)>,
    /// Complete passes so far.
    pub passes: u64,
}

impl<'s> Reader<'s> {
    /// Binds `source`, reading blocks of `block_rows`.
    pub(crate) fn new(source: &'s mut dyn RowSource, block_rows: usize) -> Self {
        Self { source, block_rows: block_rows.max(1), expected: None, passes: 0 }
    }

    fn changed(&self, reason: String) -> Error {
        Error::SourceChanged { source_name: self.source.name().to_owned(), reason }
    }

    /// The reason `now` differs from `first`, if it does.
    fn difference(first: Option<Fingerprint>, now: Option<Fingerprint>) -> Option<String> {
        match (first, now) {
            (Some(a), Some(b)) if a.len != b.len => {
                Some(format!("its size went from {} to {} bytes", a.len, b.len))
            }
            (a, b) if a != b => Some("it was modified".into()),
            _ => None,
        }
    }

    /// One pass: every block, in order, prepared by `prepare` on the reading thread, then given
    /// to `compute` here. Returns the number of rows.
    ///
    /// # Errors
    /// The source's errors (with their rows), `compute`'s, or [`Error::SourceChanged`] when the
    /// row count or fingerprint differs from the first pass.
    pub(crate) fn pass(
        &mut self,
        prepare: &Prepare,
        mut compute: impl FnMut(&Prepared) -> Result<()>,
    ) -> Result<u64> {
        let before = self.source.fingerprint()?;
        if let Some((_, first)) = self.expected
            && let Some(reason) = Self::difference(first, before)
        {
            return Err(self.changed(reason));
        }
        self.source.rewind()?;
        let block_rows = self.block_rows;
        let source_name = self.source.name().to_owned();
        let ncols = self.source.ncols();
        let source = &mut *self.source;
        let (full_tx, full_rx) = mpsc::sync_channel::<Result<Prepared>>(1);
        let (empty_tx, empty_rx) = mpsc::channel::<Prepared>();
        let rows = std::thread::scope(move |scope| {
            scope.spawn(move || {
                let mut created = 0;
                loop {
                    let mut buf = match empty_rx.try_recv() {
                        Ok(buf) => buf,
                        Err(_) if created < BUFFERS => {
                            created += 1;
                            Prepared::default()
                        }
                        Err(_) => match empty_rx.recv() {
                            Ok(buf) => buf,
                            Err(_) => return, // the consumer stopped
                        },
                    };
                    let item = match source.next_block(&mut buf.block, block_rows) {
                        Ok(false) => return, // dropping the sender ends the pass
                        Ok(true) => {
                            buf.ncols = ncols;
                            prepare.apply(&mut buf);
                            Ok(buf)
                        }
                        Err(e) => Err(e),
                    };
                    let failed = item.is_err();
                    if full_tx.send(item).is_err() || failed {
                        return;
                    }
                }
            });
            // The receivers live in this closure: returning early (an error) drops them, which
            // stops the reading thread at its next hand-over.
            let (full_rx, empty_tx) = (full_rx, empty_tx);
            let mut rows = 0u64;
            for item in full_rx.iter() {
                let buf = item?;
                if buf.block.first_row != rows {
                    return Err(Error::SourceChanged {
                        source_name: source_name.clone(),
                        reason: format!(
                            "a block starts at row {} where row {rows} was due",
                            buf.block.first_row
                        ),
                    });
                }
                compute(&buf)?;
                rows += buf.block.rows as u64;
                let _ = empty_tx.send(buf);
            }
            Ok::<u64, Error>(rows)
        })?;
        if let Some(reason) = Self::difference(before, self.source.fingerprint()?) {
            return Err(self.changed(reason));
        }
        match self.expected {
            None => self.expected = Some((rows, before)),
            Some((first, _)) if first != rows => {
                return Err(
                    self.changed(format!("this pass read {rows} rows, the first read {first}"))
                );
            }
            Some(_) => {}
        }
        self.passes += 1;
        Ok(rows)
    }
}
