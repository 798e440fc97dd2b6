//! A backend seen through a subset of θ's coordinates, the others held at zero.
//!
//! Paths use it on a device for the strong rules: X stays uploaded once, the device computes
//! the full statistics, and the M-step (the p × p Cholesky and everything the solver does per
//! coordinate) runs on the active coordinates only.

use nalgebra::DMatrix;

use super::{Backend, BackendInfo, Needs, Stats};
use crate::data::Problem;
use crate::error::Result;

/// `inner` restricted to the coordinates `index` (increasing, into the full θ).
pub(crate) struct Restricted<'b, 'p> {
    inner: &'b mut (dyn Backend + 'p),
    index: &'b [usize],
    /// The full θ handed to `inner` (zeros outside `index`).
    full: Vec<f64>,
    /// The full statistics `inner` fills.
    stats: Stats,
}

impl<'b, 'p> Restricted<'b, 'p> {
    pub(crate) fn new(inner: &'b mut (dyn Backend + 'p), index: &'b [usize]) -> Self {
        let dim = inner.dim();
        debug_assert!(index.iter().all(|&j| j < dim), "restricted index out of range");
        Self { inner, index, full: vec![0.0; dim], stats: Stats::new(dim) }
    }

    fn expand(&mut self, theta: &[f64]) {
        self.full.fill(0.0);
        for (&j, &t) in self.index.iter().zip(theta) {
            self.full[j] = t;
        }
    }
}

impl Backend for Restricted<'_, '_> {
    fn dim(&self) -> usize {
        self.index.len()
    }

    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        self.expand(theta);
        self.inner.evaluate(&self.full, needs, &mut self.stats)?;
        out.loss = self.stats.loss;
        out.loss_error = self.stats.loss_error;
        for (c, &j) in self.index.iter().enumerate() {
            out.gradient[c] = self.stats.gradient[j];
            out.gradient_error[c] = self.stats.gradient_error[j];
        }
        if needs != Needs::Gradient {
            for (b, &k) in self.index.iter().enumerate() {
                for (a, &j) in self.index.iter().enumerate() {
                    out.gram[(a, b)] = self.stats.gram[(j, k)];
                }
            }
        }
        Ok(())
    }

    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        self.expand(theta);
        self.inner.loss(&self.full)
    }

    fn info(&self) -> BackendInfo {
        self.inner.info()
    }

    fn exact(&self) -> bool {
        self.inner.exact()
    }

    fn set_rows(&mut self, problem: &Problem<'_>) -> Result<()> {
        self.inner.set_rows(problem)
    }

    fn gram_with_weights(&mut self, weights: &[f64], gram: &mut DMatrix<f64>) -> Result<()> {
        self.inner.gram_with_weights(weights, &mut self.stats.gram)?;
        for (b, &k) in self.index.iter().enumerate() {
            for (a, &j) in self.index.iter().enumerate() {
                gram[(a, b)] = self.stats.gram[(j, k)];
            }
        }
        Ok(())
    }
}
