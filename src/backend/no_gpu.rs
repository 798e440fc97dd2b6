//! The GPU backend's types in a build without the `gpu` feature: nothing here can be made
//! ([`GpuContext::new`] says the feature is off), so no code path reaches a GPU; the types exist
//! only so that the rest of the crate, and programs that choose a backend at run time, build the
//! same way with or without wgpu.

use std::convert::Infallible;

use nalgebra::DMatrix;

use super::{Backend, BackendInfo, Needs, Stats};
pub use crate::backend::GpuOptions;
use crate::data::Problem;
use crate::error::{Error, Result};

/// What every attempt to reach a GPU in this build returns.
fn no_gpu() -> Error {
    Error::Backend {
        backend: "gpu".into(),
        reason: "scalemix was built without its `gpu` feature (no wgpu); build it with \
                 `--features gpu` or use the CPU backend"
            .into(),
    }
}

/// A GPU device ready to fit; in this build there is none to be had.
#[derive(Clone, Debug)]
pub struct GpuContext {
    never: Infallible,
}

impl GpuContext {
    /// Always [`Error::Backend`]: this build has no GPU backend.
    ///
    /// # Errors
    /// Always.
    pub fn new(_options: GpuOptions) -> Result<Self> {
        Err(no_gpu())
    }

    /// The adapter's name (unreachable: no context exists in this build).
    pub fn adapter_name(&self) -> &str {
        match self.never {}
    }

    /// Whether the adapter is a software rasterizer (unreachable).
    pub fn is_software(&self) -> bool {
        match self.never {}
    }

    /// Whether the kernels accumulate in f64 (unreachable).
    pub fn uses_f64(&self) -> bool {
        match self.never {}
    }

    /// A one-line description (unreachable).
    pub fn describe(&self) -> String {
        match self.never {}
    }
}

/// The GPU backend; in this build none can be made (it needs a [`GpuContext`]).
pub struct GpuBackend {
    never: Infallible,
}

/// A submitted evaluation (unreachable in this build).
pub(crate) struct Submitted {
    never: Infallible,
}

impl GpuBackend {
    /// Unreachable: no [`GpuContext`] exists in this build.
    ///
    /// # Errors
    /// Never returns.
    pub fn new(context: &GpuContext, _problem: &Problem<'_>, _intercept: bool) -> Result<Self> {
        match context.never {}
    }

    pub(crate) fn begin_evaluate(&mut self, _theta: &[f64], _needs: Needs) -> Result<Submitted> {
        match self.never {}
    }

    pub(crate) fn end_evaluate(&mut self, submitted: &Submitted, _out: &mut Stats) -> Result<()> {
        match submitted.never {}
    }

    pub(crate) fn reload(&mut self, _problem: &Problem<'_>, _intercept: bool) -> Result<()> {
        match self.never {}
    }
}

impl Backend for GpuBackend {
    fn dim(&self) -> usize {
        match self.never {}
    }
    fn evaluate(&mut self, _theta: &[f64], _needs: Needs, _out: &mut Stats) -> Result<()> {
        match self.never {}
    }
    fn loss(&mut self, _theta: &[f64]) -> Result<f64> {
        match self.never {}
    }
    fn info(&self) -> BackendInfo {
        match self.never {}
    }
    fn exact(&self) -> bool {
        match self.never {}
    }
    fn set_rows(&mut self, _problem: &Problem<'_>) -> Result<()> {
        match self.never {}
    }
    fn gram_with_weights(&mut self, _weights: &[f64], _gram: &mut DMatrix<f64>) -> Result<()> {
        match self.never {}
    }
}
