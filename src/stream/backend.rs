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

use super::reader::{Prepare, Reader};
use super::{Progress, StreamOptions};
use crate::backend::{Backend, BackendInfo, CpuBackend, GpuBackend, GpuContext, Needs, Stats};
use crate::data::Problem;
use crate::error::{Error, Result};
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
        Ok(loss)
    }
}

impl Backend for StreamedBackend<'_, '_> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
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
