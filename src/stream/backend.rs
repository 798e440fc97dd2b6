//! The streamed backend: each statistic is one pass over the source, every block's share
//! computed by an in-memory backend — [`CpuBackend`] in f64, or [`GpuBackend`] with the block
//! uploaded to the device — and added in block order, in f64.
//!
//! Block b's mean statistics (divided by its Σ wᵢ, W_b) are scaled back by W_b, summed, and
//! divided by W at the end, so the result is the in-memory one up to the rounding of that
//! regrouping, and bit-identical from run to run (the blocks arrive in file order, and
//! [`CpuBackend`] is deterministic). The reading and decoding of block k + 1 runs on another
//! thread while block k is computed on ([`Reader::pass`]).

use std::time::Instant;

use nalgebra::DMatrix;

use std::borrow::Cow;

use super::reader::{Prepare, Prepared, Reader};
use super::{Progress, StreamOptions};
use crate::backend::gpu::Submitted;
use crate::backend::{Backend, BackendInfo, CpuBackend, GpuBackend, GpuContext, Needs, Stats};
use crate::data::{Design, Problem};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::penalty::PenaltyTerms;

/// What computes each block's statistics.
#[derive(Clone)]
pub(crate) enum Device {
    /// [`CpuBackend`]: f64, exact.
    Cpu,
    /// [`GpuBackend`] on this context: each block uploaded in f32 while the next is read and
    /// decoded on the reading thread; the statistics carry the kernels' rounding-error scale.
    Gpu(GpuContext),
}

/// A [`Backend`] over a [`Reader`].
pub(crate) struct StreamedBackend<'r, 's> {
    reader: &'r mut Reader<'s>,
    device: Device,
    prepare: Prepare,
    intercept: bool,
    dim: usize,
    /// W of the rows fitted (all rows, or a fold's training rows).
    weight_sum: f64,
    /// S when it does not depend on θ (gaussian), after its first pass.
    constant_gram: Option<DMatrix<f64>>,
    /// One block's statistics.
    block: Stats,
    options: &'r StreamOptions,
    /// The penalty, for the objective the progress report shows.
    terms: Option<PenaltyTerms>,
    start: Instant,
    /// The GPU's per-block backends, once a GPU pass has made them.
    gpu: GpuBlocks,
}

/// Per-block [`GpuBackend`]s of a streamed GPU fit.
#[derive(Default)]
enum GpuBlocks {
    /// None made yet.
    #[default]
    None,
    /// Two backends of one block's size, taken in turn: block k + 1 is converted and queued for
    /// upload into one while the device computes block k in the other (double buffering).
    Rotating(Box<[Option<GpuBackend>; 2]>),
    /// Every block's backend with its W_b: X stays on the device (it fit
    /// [`StreamOptions::gpu_resident_bytes`]), and later passes read nothing from the source.
    Resident(Vec<(GpuBackend, f64)>),
}

impl<'r, 's> StreamedBackend<'r, 's> {
    /// A backend over `reader`'s source, its blocks made ready by `prepare`, for rows of total
    /// weight `weight_sum`.
    pub(crate) fn new(
        reader: &'r mut Reader<'s>,
        prepare: Prepare,
        intercept: bool,
        weight_sum: f64,
        options: &'r StreamOptions,
    ) -> Self {
        let dim = reader.source.ncols() + usize::from(intercept);
        Self {
            reader,
            device: Device::Cpu,
            prepare,
            intercept,
            dim,
            weight_sum,
            constant_gram: None,
            block: Stats::new(dim),
            options,
            terms: None,
            start: Instant::now(),
            gpu: GpuBlocks::None,
        }
    }

    /// The same backend computing each block on `device`.
    pub(crate) fn on(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The penalty whose objective the progress report shows (`None`: the mean loss).
    pub(crate) fn show_penalty(&mut self, terms: Option<PenaltyTerms>) {
        self.terms = terms;
    }

    /// The reader the passes read (another backend over the same source borrows it).
    pub(crate) fn reader(&mut self) -> &mut Reader<'s> {
        self.reader
    }

    /// (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ) with ℓ by its definition, on blocks made ready by `prepare` (the
    /// user's coordinates, say): one pass.
    ///
    /// # Errors
    /// The source's.
    pub(crate) fn exact_loss(&mut self, prepare: &Prepare, theta: &[f64]) -> Result<f64> {
        exact_mean_loss(self.reader, prepare, theta, self.intercept, self.weight_sum)
    }

    /// One pass applying `each` to every block with rows of positive weight, its result scaled by
    /// the block's W_b; reports progress with `loss` (the mean loss, for the report).
    fn pass(
        &mut self,
        theta: &[f64],
        mut each: impl FnMut(&Problem<'_>, f64, &mut Stats) -> Result<f64>,
    ) -> Result<f64> {
        let started = Instant::now();
        let family = self.prepare.family;
        let block = &mut self.block;
        let mut loss = 0.0;
        let rows = self.reader.pass(&self.prepare, |buf| {
            if buf.weight_sum <= 0.0 {
                return Ok(());
            }
            let problem = buf.problem(family)?;
            loss += each(&problem, buf.weight_sum, block)?;
            Ok(())
        })?;
        let loss = loss / self.weight_sum;
        self.report(theta, rows, started, loss);
        Ok(loss)
    }

    /// Calls the progress callback for a pass over `rows` rows that began at `started`.
    fn report(&self, theta: &[f64], rows: u64, started: Instant, loss: f64) {
        if let Some(report) = &self.options.progress {
            let objective = loss + self.terms.as_ref().map_or(0.0, |t| t.value(theta));
            report(&Progress {
                pass: self.reader.passes,
                rows,
                rows_per_second: rows as f64 / started.elapsed().as_secs_f64().max(1e-9),
                objective,
                elapsed: self.start.elapsed(),
            });
        }
    }

    /// [`Backend::evaluate`] with every block through the GPU kernels: double-buffered over the
    /// source, or from the blocks kept on the device (see [`GpuBlocks`]). Blocks are padded to
    /// one size with rows of weight 0, so a backend's buffers and bind groups serve every block.
    fn gpu_evaluate(
        &mut self,
        context: &GpuContext,
        theta: &[f64],
        needs: Needs,
        out: &mut Stats,
    ) -> Result<f64> {
        let started = Instant::now();
        let mut sums = Sums::new(self.dim, needs != Needs::Gradient, out);
        if let GpuBlocks::Resident(blocks) = &mut self.gpu {
            let submitted: Vec<_> = blocks
                .iter_mut()
                .map(|(b, _)| b.begin_evaluate(theta, needs))
                .collect::<Result<_>>()?;
            for ((backend, w), submitted) in blocks.iter_mut().zip(&submitted) {
                backend.end_evaluate(submitted, &mut self.block)?;
                sums.add(*w, &self.block, out);
            }
            let rows = self.reader.expected.map_or(0, |e| e.0);
            let loss = sums.finish(self.weight_sum, out);
            self.report(theta, rows, started, loss);
            return Ok(loss);
        }
        let rows_total = self.reader.expected.map_or(self.reader.block_rows as u64, |e| e.0);
        let capacity = (self.reader.block_rows as u64).min(rows_total).max(1) as usize;
        let resident = matches!(self.gpu, GpuBlocks::None)
            && rows_total.saturating_mul(self.dim as u64 * 4) <= self.options.gpu_resident_bytes;
        let mut kept: Vec<(GpuBackend, f64)> = Vec::new();
        let mut rotating = match std::mem::take(&mut self.gpu) {
            GpuBlocks::Rotating(pair) => pair,
            _ => Box::new([None, None]),
        };
        let (family, intercept) = (self.prepare.family, self.intercept);
        let block = &mut self.block;
        // The block submitted last: its slot (or index in `kept`), submission and W_b.
        let mut pending: Option<(usize, Submitted, f64)> = None;
        let mut count = 0usize;
        let rows = self.reader.pass(&self.prepare, |buf| {
            if buf.weight_sum <= 0.0 {
                return Ok(());
            }
            // Sparse blocks differ in their stored values, so a backend is not reloaded with
            // another one: each gets its own, unpadded.
            let padded = buf.block.sparse.is_none().then(|| Padded::new(buf, capacity, family));
            let problem = match &padded {
                Some(padded) => padded.problem(buf, family)?,
                None => buf.problem(family)?,
            };
            let slot = if resident {
                kept.push((GpuBackend::new(context, &problem, intercept)?, buf.weight_sum));
                kept.len() - 1
            } else {
                let slot = count % 2;
                match &mut rotating[slot] {
                    Some(backend) if padded.is_some() => backend.reload(&problem, intercept)?,
                    any => *any = Some(GpuBackend::new(context, &problem, intercept)?),
                }
                slot
            };
            count += 1;
            let backend =
                if resident { &mut kept[slot].0 } else { rotating[slot].as_mut().expect("set") };
            let submitted = backend.begin_evaluate(theta, needs)?;
            // The previous block's results, while this one runs.
            if let Some((previous, done, w)) = pending.replace((slot, submitted, buf.weight_sum)) {
                let backend = if resident {
                    &mut kept[previous].0
                } else {
                    rotating[previous].as_mut().expect("set")
                };
                backend.end_evaluate(&done, block)?;
                sums.add(w, block, out);
            }
            Ok(())
        })?;
        if let Some((last, done, w)) = pending {
            let backend =
                if resident { &mut kept[last].0 } else { rotating[last].as_mut().expect("set") };
            backend.end_evaluate(&done, block)?;
            sums.add(w, block, out);
        }
        self.gpu = if resident { GpuBlocks::Resident(kept) } else { GpuBlocks::Rotating(rotating) };
        let loss = sums.finish(self.weight_sum, out);
        self.report(theta, rows, started, loss);
        Ok(loss)
    }
}

/// Running sums of the blocks' statistics, each block's scaled by its W_b.
struct Sums {
    loss: f64,
    gram: bool,
    error_squares: Vec<f64>,
    loss_error_square: f64,
}

impl Sums {
    /// Zeroes `out` (its Gram only when `gram`).
    fn new(dim: usize, gram: bool, out: &mut Stats) -> Self {
        out.gradient.fill(0.0);
        if gram {
            out.gram.fill(0.0);
        }
        Self { loss: 0.0, gram, error_squares: vec![0.0; dim], loss_error_square: 0.0 }
    }

    /// Adds one block's statistics (means over its rows) with weight `w` = W_b.
    fn add(&mut self, w: f64, block: &Stats, out: &mut Stats) {
        self.loss += w * block.loss;
        out.gradient.axpy(w, &block.gradient, 1.0);
        if self.gram {
            out.gram.zip_apply(&block.gram, |s, b| *s += w * b);
        }
        for (e, b) in self.error_squares.iter_mut().zip(block.gradient_error.iter()) {
            *e += (w * b) * (w * b);
        }
        self.loss_error_square += (w * block.loss_error).powi(2);
    }

    /// Divides by W; returns the mean loss.
    fn finish(&self, weight_sum: f64, out: &mut Stats) -> f64 {
        out.loss = self.loss / weight_sum;
        out.gradient /= weight_sum;
        if self.gram {
            out.gram /= weight_sum;
        }
        for (e, s) in out.gradient_error.iter_mut().zip(&self.error_squares) {
            *e = s.sqrt() / weight_sum;
        }
        out.loss_error = self.loss_error_square.sqrt() / weight_sum;
        out.loss
    }
}

/// A block padded to a fixed number of rows with rows of weight 0 (X 0, a label every family
/// accepts): they add nothing to any sum.
struct Padded {
    x: Vec<f64>,
    y: Vec<f64>,
    weights: Vec<f64>,
    /// Empty where the source has no offsets.
    offset: Vec<f64>,
    rows: usize,
}

impl Padded {
    fn new(buf: &Prepared, rows: usize, family: Family) -> Self {
        let b = &buf.block;
        let p = b.x.len().checked_div(b.rows).unwrap_or(0);
        let mut x = vec![0.0; rows * p];
        for j in 0..p {
            x[j * rows..j * rows + b.rows].copy_from_slice(b.column(j));
        }
        let label = if family == Family::Hinge { 1.0 } else { 0.0 };
        let mut y = b.y.clone();
        y.resize(rows, label);
        let mut weights = buf.weights.clone();
        weights.resize(rows, 0.0);
        let mut offset = b.offset.clone();
        if !offset.is_empty() {
            offset.resize(rows, 0.0);
        }
        Self { x, y, weights, offset, rows }
    }

    fn problem(&self, buf: &Prepared, family: Family) -> Result<Problem<'_>> {
        let p = self.x.len() / self.rows;
        let template = buf.problem(family)?;
        Ok(Problem {
            x: Design::column_major(&self.x, self.rows, p)?,
            y: Cow::Borrowed(&self.y),
            weights: Cow::Borrowed(&self.weights),
            weight_sum: template.weight_sum,
            min_positive_weight: template.min_positive_weight,
            family,
            offset: (!self.offset.is_empty()).then(|| Cow::Borrowed(&self.offset[..])),
        })
    }
}

impl Backend for StreamedBackend<'_, '_> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        if let Device::Gpu(context) = &self.device {
            let context = context.clone();
            return self.gpu_evaluate(&context, theta, needs, out).map(|_| ());
        }
        let cached = needs != Needs::Gradient && self.constant_gram.is_some();
        let block_needs = if cached { Needs::Gradient } else { needs };
        let wants_gram = needs != Needs::Gradient;
        out.gradient.fill(0.0);
        if wants_gram {
            out.gram.fill(0.0);
        }
        let mut error_squares = vec![0.0; self.dim];
        let mut loss_error_square = 0.0;
        let intercept = self.intercept;
        let device = self.device.clone();
        let loss =
            self.pass(theta, |problem, w, block| {
                match &device {
                    Device::Cpu => {
                        CpuBackend::new(problem, intercept).evaluate(theta, block_needs, block)?
                    }
                    Device::Gpu(context) => GpuBackend::new(context, problem, intercept)?
                        .evaluate(theta, block_needs, block)?,
                }
                out.gradient.axpy(w, &block.gradient, 1.0);
                if wants_gram && !cached {
                    out.gram.zip_apply(&block.gram, |s, b| *s += w * b);
                }
                for (e, b) in error_squares.iter_mut().zip(block.gradient_error.iter()) {
                    *e += (w * b) * (w * b);
                }
                loss_error_square += (w * block.loss_error).powi(2);
                Ok(w * block.loss)
            })?;
        let total = self.weight_sum;
        out.loss = loss;
        out.gradient /= total;
        for (e, s) in out.gradient_error.iter_mut().zip(&error_squares) {
            *e = s.sqrt() / total;
        }
        out.loss_error = loss_error_square.sqrt() / total;
        if wants_gram {
            match &self.constant_gram {
                Some(gram) if cached => out.gram.copy_from(gram),
                _ => {
                    out.gram /= total;
                    if self.prepare.family.has_constant_gram() {
                        self.constant_gram = Some(out.gram.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        let intercept = self.intercept;
        let device = self.device.clone();
        self.pass(theta, |problem, w, _| {
            let loss = match &device {
                Device::Cpu => CpuBackend::new(problem, intercept).loss(theta)?,
                Device::Gpu(context) => {
                    GpuBackend::new(context, problem, intercept)?.loss(theta)?
                }
            };
            Ok(w * loss)
        })
    }

    fn info(&self) -> BackendInfo {
        let (kind, device) = match &self.device {
            Device::Cpu => {
                ("cpu", format!("cpu (rayon, {} threads)", rayon::current_num_threads()))
            }
            Device::Gpu(context) => ("gpu", context.describe()),
        };
        BackendInfo {
            kind,
            device: format!(
                "{device}, streamed from {} in blocks of {} rows",
                self.reader.source.name(),
                self.reader.block_rows
            ),
        }
    }

    fn exact(&self) -> bool {
        matches!(self.device, Device::Cpu)
    }

    fn set_rows(&mut self, _problem: &Problem<'_>) -> Result<()> {
        Err(Error::Backend {
            backend: "streamed cpu".into(),
            reason: "new rows come from the source, not from a problem in memory".into(),
        })
    }

    fn gram_with_weights(&mut self, _weights: &[f64], _gram: &mut DMatrix<f64>) -> Result<()> {
        Err(Error::Backend {
            backend: "streamed cpu".into(),
            reason: "row weights computed elsewhere would need every row in memory".into(),
        })
    }
}

/// (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ) with ℓ by its definition, one pass over `reader` with `prepare`.
///
/// # Errors
/// The source's.
pub(crate) fn exact_mean_loss(
    reader: &mut Reader<'_>,
    prepare: &Prepare,
    theta: &[f64],
    intercept: bool,
    weight_sum: f64,
) -> Result<f64> {
    let mut total = 0.0;
    reader.pass(prepare, |buf| {
        if buf.weight_sum > 0.0 {
            let problem = buf.problem(prepare.family)?;
            total += buf.weight_sum * crate::driver::exact_mean_loss(&problem, theta, intercept);
        }
        Ok(())
    })?;
    Ok(total / weight_sum)
}
