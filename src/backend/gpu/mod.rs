//! The wgpu backend: the E-step, the gradient and the weighted Gram matrix as WGSL compute
//! kernels (`shaders/`), the M-step on the CPU like every backend.
//!
//! Precision: X, θ and all per-row work are f32 (exp, log and tanh have no f64 form in SPIR-V).
//! That is enough for f64-quality optima because the fixed point of SM-EM's gradient-form update
//! depends only on the gradient, and the objective gap at a point whose gradient is off by δ is
//! O(δ²): an f32 gradient (relative error ~1e-7) leaves gaps of ~1e-12 to 1e-14. S only sets the
//! speed of convergence. The gradient's block sums run in f64 where the adapter has
//! `SHADER_F64` (f32 elsewhere, e.g. Metal), and blocks are always added in f64 on the host.
//! Every sum comes with a rounding-error scale, which the solver uses as the floor of its
//! stopping tests ([`crate::backend::Stats::gradient_error`]).
//!
//! Determinism: every reduction runs in a fixed order (no atomics), so two fits give the same
//! bits on the same device.

mod backend;
mod context;
mod layout;
mod shaders;

pub use crate::backend::GpuOptions;
pub use backend::GpuBackend;
pub(crate) use backend::Submitted;
pub use context::GpuContext;
