//! The integration suite: one binary, one module per concern.

mod api;
mod backend;
mod baselines;
#[cfg(feature = "cli")]
mod cli;
mod common;
mod counts;
mod families;
mod fixtures;
#[cfg(feature = "gpu")]
mod gpu;
/// A build without the `gpu` feature has no GPU code to test: no context, and the GPU tests of
/// the other modules are compiled out (`#[cfg(feature = "gpu")]`), not skipped.
#[cfg(not(feature = "gpu"))]
mod gpu {
    /// None: this build has no GPU backend.
    pub fn contexts() -> Option<&'static [scalemix::backend::GpuContext; 2]> {
        None
    }
}
mod lasso;
mod matrix_free;
mod multiclass;
mod offset;
mod params;
mod path;
mod properties;
mod sparse;
#[cfg(feature = "files")]
mod stream;
