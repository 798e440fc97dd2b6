//! The first pass: every check [`crate::Problem::new`] runs on data in memory, run block by
//! block, and the statistics a fit needs before it starts (row count, weight sums, the
//! response's mean and spread, the columns' weighted means and spreads for the
//! preconditioner), in one read of the source.

use super::Folds;
use super::reader::{Prepare, Prepared, Reader};
use crate::error::{Error, Result};
use crate::family::{Family, LabelConvention};
use crate::source::SparseRows;

/// A weighted mean and sum of squared deviations, merged block by block (Chan, Golub and
/// LeVeque's pairwise update: no cancellation for a column far from zero).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moment {
    /// Σ wᵢ.
    pub weight: f64,
    /// Σ wᵢ vᵢ / Σ wᵢ.
    pub mean: f64,
    /// Σ wᵢ (vᵢ − mean)².
    pub m2: f64,
}

impl Moment {
    /// The moments of `values` with `weights` (two passes over the block).
    fn of(values: &[f64], weights: &[f64]) -> Self {
        let weight: f64 = weights.iter().sum();
        if weight <= 0.0 {
            return Self::default();
        }
        let mean = values.iter().zip(weights).map(|(v, w)| v * w).sum::<f64>() / weight;
        let m2 = values.iter().zip(weights).map(|(v, w)| w * (v - mean) * (v - mean)).sum();
        Self { weight, mean, m2 }
    }

    /// Each column's moments over sparse rows of `p` columns with row weights `weights`: the
    /// stored values, and the unstored zeros by their weight (two passes over the entries).
    fn of_sparse_columns(rows: &SparseRows, p: usize, weights: &[f64]) -> Vec<Self> {
        let weight: f64 = weights.iter().sum();
        if weight <= 0.0 {
            return vec![Self::default(); p];
        }
        let (mut sum, mut stored) = (vec![0.0; p], vec![0.0; p]);
        let entries = |f: &mut dyn FnMut(usize, f64, f64)| {
            for (i, &w) in weights.iter().enumerate() {
                let range = rows.indptr[i]..rows.indptr[i + 1];
                for (&j, &v) in rows.indices[range.clone()].iter().zip(&rows.values[range]) {
                    f(j, v, w);
                }
            }
        };
        entries(&mut |j, v, w| {
            sum[j] += w * v;
            stored[j] += w;
        });
        let mean: Vec<f64> = sum.iter().map(|s| s / weight).collect();
        // The unstored zeros' share, then the stored values'.
        let mut m2: Vec<f64> =
            mean.iter().zip(&stored).map(|(m, s)| m * m * (weight - s).max(0.0)).collect();
        entries(&mut |j, v, w| m2[j] += w * (v - mean[j]) * (v - mean[j]));
        mean.into_iter().zip(m2).map(|(mean, m2)| Self { weight, mean, m2 }).collect()
    }

    /// Adds `other`'s rows.
    pub(crate) fn merge(&mut self, other: Moment) {
        if other.weight <= 0.0 {
            return;
        }
        if self.weight <= 0.0 {
            *self = other;
            return;
        }
        let weight = self.weight + other.weight;
        let delta = other.mean - self.mean;
        self.mean += delta * other.weight / weight;
        self.m2 += other.m2 + delta * delta * self.weight * other.weight / weight;
        self.weight = weight;
    }
}

/// Row statistics of a set of rows (the whole source, or one fold).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RowStats {
    /// W = Σ wᵢ (the caller's weights): the objective's divisor.
    pub weight_sum: f64,
    /// The smallest positive row weight (wᵢ mᵢ for binomial).
    pub min_positive_weight: f64,
    /// The response (binomial: success fractions) weighted by wᵢ (× mᵢ).
    pub y: Moment,
    /// Σ wᵢ mᵢ min_η ℓ(yᵢ, η) (0 but for binomial).
    pub saturated: f64,
}

impl RowStats {
    fn empty() -> Self {
        Self { min_positive_weight: f64::INFINITY, ..Self::default() }
    }

    /// Adds `other`'s rows.
    pub(crate) fn merge(&mut self, other: &RowStats) {
        self.weight_sum += other.weight_sum;
        self.min_positive_weight = self.min_positive_weight.min(other.min_positive_weight);
        self.y.merge(other.y);
        self.saturated += other.saturated;
    }

    /// The link of the weighted mean response: the null model's intercept.
    pub(crate) fn null_intercept(&self, family: Family) -> f64 {
        family.link(self.y.mean)
    }

    /// The response's weighted variance (the ℓ₁ zero thresholds' unit, see
    /// [`Family::response_scale`]).
    pub(crate) fn response_variance(&self) -> f64 {
        self.y.m2 / self.weight_sum
    }

    /// (1/W) Σ wᵢ min_η ℓ(yᵢ, η).
    pub(crate) fn saturated_mean_loss(&self) -> f64 {
        self.saturated / self.weight_sum
    }
}

/// What the first pass learned.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// Rows in the source.
    pub rows: u64,
    /// Every row.
    pub all: RowStats,
    /// Per fold, when the pass was given folds.
    pub folds: Vec<RowStats>,
    /// Per feature, weighted by wᵢ (× mᵢ).
    pub columns: Vec<Moment>,
    /// Whether the source's blocks are sparse rows ([`crate::source::RowSource::sparse`]).
    pub sparse: bool,
    /// The most stored values any block held (every value, for dense blocks).
    pub most_stored_per_block: usize,
}

impl Summary {
    /// The rows of every fold but `fold`: a cross-validation training set.
    pub(crate) fn without(&self, fold: usize) -> RowStats {
        let mut stats = RowStats::empty();
        for (f, s) in self.folds.iter().enumerate() {
            if f != fold {
                stats.merge(s);
            }
        }
        stats
    }

    /// Per feature, the weighted root mean square √(Σ wᵢmᵢ xᵢⱼ² / W) (as
    /// [`crate::Problem::column_scales`]).
    pub(crate) fn column_scales(&self) -> Vec<f64> {
        let w = self.all.weight_sum;
        self.columns.iter().map(|m| ((m.m2 + m.weight * m.mean * m.mean) / w).sqrt()).collect()
    }
}

/// An error at `row` (global) and `column` of the reader's source.
fn bad(reader_name: &str, row: u64, column: &str, reason: String) -> Error {
    Error::Source {
        source_name: reader_name.to_owned(),
        row: Some(row),
        column: Some(column.to_owned()),
        reason,
    }
}

/// Reads `reader`'s source once, checking every value for `family` and collecting the
/// [`Summary`] (per fold too with `folds`).
///
/// # Errors
/// [`Error::Source`] naming the row and column of the first value the family cannot take
/// (non-finite, a label it does not accept, a negative weight or count), [`Error::EmptyData`],
/// [`Error::AllZeroWeights`], and whatever the source reports.
pub(crate) fn scan(
    reader: &mut Reader<'_>,
    family: Family,
    folds: Option<Folds>,
) -> Result<Summary> {
    check_roles(reader, family)?;
    let name = reader.source.name().to_owned();
    let mut tally = Tally::new(family, reader.source.feature_names().to_vec(), folds);
    let raw = Prepare { family, pre: None, held_out: None, needs_target: false };
    let rows = reader.pass(&raw, |buf: &Prepared| tally.add(&name, buf))?;
    if rows == 0 {
        return Err(Error::EmptyData);
    }
    let Tally { mut all, per_fold, columns, most_stored, .. } = tally;
    if folds.is_some() {
        for stats in &per_fold {
            all.merge(stats);
        }
    }
    if all.weight_sum <= 0.0 || all.min_positive_weight == f64::INFINITY {
        return Err(Error::AllZeroWeights);
    }
    // Counts are ≥ 0 (checked per row): a zero weighted mean means every count is 0.
    if matches!(family, Family::Poisson | Family::NegativeBinomial { .. }) && all.y.mean <= 0.0 {
        return Err(Error::AllZeroCounts { family: family.name() });
    }
    let constant = columns.iter().filter(|m| m.m2 == 0.0).count();
    if constant > 0 {
        log::info!("{name}: {constant} constant column(s)");
    }
    let sparse = reader.source.sparse();
    Ok(Summary { rows, all, folds: per_fold, columns, sparse, most_stored_per_block: most_stored })
}

/// Refuses a source without a response, or whose trials column does not match the family
/// (binomial needs one, no other family reads one).
fn check_roles(reader: &Reader<'_>, family: Family) -> Result<()> {
    let binomial = family == Family::Binomial;
    let refuse = |reason: String| Error::Source {
        source_name: reader.source.name().to_owned(),
        row: None,
        column: None,
        reason,
    };
    if !reader.source.has_target() {
        return Err(refuse("no response column: a fit needs one".into()));
    }
    if binomial != reader.source.has_trials() {
        return Err(refuse(if binomial {
            "the binomial family needs a column of trials".into()
        } else {
            format!("a column of trials is only read by the binomial family, not {}", family.name())
        }));
    }
    Ok(())
}

/// What the checking pass gathers, block by block.
struct Tally {
    family: Family,
    names: Vec<String>,
    folds: Option<Folds>,
    /// Every row's statistics (without folds), or each fold's (with them).
    all: RowStats,
    per_fold: Vec<RowStats>,
    columns: Vec<Moment>,
    /// Scratch for one block: effective weights (binomial: × trials) and the response as
    /// fitted (binomial fractions, hinge ±1).
    weights: Vec<f64>,
    fractions: Vec<f64>,
    /// The most values of X any block stored.
    most_stored: usize,
    /// The two-class label conventions seen in the blocks so far.
    convention: LabelConvention,
}

impl Tally {
    fn new(family: Family, names: Vec<String>, folds: Option<Folds>) -> Self {
        let p = names.len();
        Self {
            family,
            names,
            folds,
            all: RowStats::empty(),
            per_fold: vec![RowStats::empty(); folds.map_or(0, |f| f.k)],
            columns: vec![Moment::default(); p],
            weights: Vec::new(),
            fractions: Vec::new(),
            most_stored: 0,
            convention: LabelConvention::default(),
        }
    }

    /// Checks one block's values (errors name the source `name`, the global row and the
    /// column) and adds its rows.
    fn add(&mut self, name: &str, buf: &Prepared) -> Result<()> {
        self.check(name, buf)?;
        let b = &buf.block;
        match &b.sparse {
            Some(rows) => {
                let p = self.columns.len();
                let block = Moment::of_sparse_columns(rows, p, &self.weights);
                self.columns.iter_mut().zip(block).for_each(|(m, b)| m.merge(b));
                self.most_stored = self.most_stored.max(rows.values.len());
            }
            None => {
                for (j, moment) in self.columns.iter_mut().enumerate() {
                    moment.merge(Moment::of(b.column(j), &self.weights));
                }
                self.most_stored = self.most_stored.max(b.x.len());
            }
        }
        // Row statistics, per fold when folds are given (each row in exactly one).
        let (weights, fractions, family) = (&self.weights, &self.fractions, self.family);
        let add = |stats: &mut RowStats, i: usize| {
            stats.weight_sum += buf.weights[i];
            if weights[i] > 0.0 {
                stats.min_positive_weight = stats.min_positive_weight.min(weights[i]);
            }
            stats.saturated += weights[i] * family.saturated_loss(fractions[i]);
        };
        match self.folds {
            None => {
                (0..b.rows).for_each(|i| add(&mut self.all, i));
                self.all.y.merge(Moment::of(fractions, weights));
            }
            Some(folds) => {
                let fold: Vec<usize> =
                    (0..b.rows).map(|i| folds.fold_of(b.first_row + i as u64)).collect();
                (0..b.rows).for_each(|i| add(&mut self.per_fold[fold[i]], i));
                let mut fold_weights = vec![0.0; b.rows];
                for (f, stats) in self.per_fold.iter_mut().enumerate() {
                    for (i, w) in fold_weights.iter_mut().enumerate() {
                        *w = if fold[i] == f { weights[i] } else { 0.0 };
                    }
                    stats.y.merge(Moment::of(fractions, &fold_weights));
                }
            }
        }
        Ok(())
    }

    /// Every value of one block checked as in memory (X finite, weights finite and ≥ 0, the
    /// response a value the family takes, binomial counts within their trials); the block's
    /// effective weights and fitted response into the scratch.
    fn check(&mut self, name: &str, buf: &Prepared) -> Result<()> {
        let b = &buf.block;
        let row = |i: usize| b.first_row + i as u64;
        if let Some((i, j, value)) = b.first_non_finite(self.names.len()) {
            return Err(bad(name, row(i), &self.names[j], format!("{value} is not finite")));
        }
        if let Some(i) = b.weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            let reason = format!("weight {} is not finite and ≥ 0", b.weights[i]);
            return Err(bad(name, row(i), "weights", reason));
        }
        if let Some(i) = b.offset.iter().position(|o| !o.is_finite()) {
            let reason = format!("{} is not finite", b.offset[i]);
            return Err(bad(name, row(i), "offset", reason));
        }
        self.weights.clear();
        self.weights.extend_from_slice(&buf.weights);
        self.fractions.clear();
        for (i, &y) in b.y.iter().enumerate() {
            if !y.is_finite() {
                return Err(bad(name, row(i), "response", format!("{y} is not finite")));
            }
            if self.family == Family::Binomial {
                let m = b.trials[i];
                if !(m.is_finite() && m >= 0.0) {
                    let reason = format!("{m} trials is not finite and ≥ 0");
                    return Err(bad(name, row(i), "trials", reason));
                }
                if !(0.0..=m).contains(&y) {
                    let reason = format!("{y} successes out of {m} trials");
                    return Err(bad(name, row(i), "response", reason));
                }
                self.weights[i] *= m;
                self.fractions.push(if m > 0.0 { y / m } else { 0.0 });
            } else {
                let at = usize::try_from(row(i)).unwrap_or(usize::MAX);
                self.family
                    .check_label(at, y)
                    .and_then(|()| self.convention.observe(self.family, at, y))
                    .map_err(|e| bad(name, row(i), "response", e.to_string()))?;
                self.fractions.push(self.family.label_as_fitted(y));
            }
        }
        Ok(())
    }
}
