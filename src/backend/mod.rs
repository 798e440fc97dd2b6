//! Backends compute; the solver decides.
//!
//! A backend holds one fit's data (on the CPU, or uploaded once to a device) and, for a given
//! θ = (β, b₀), returns the three things SM-EM needs (docs/sm-em.md §2):
//!
//! - the mean loss L(θ) = (1/W) Σ wᵢ ℓ(yᵢ, ηᵢ),
//! - its gradient ∇L = Xᵀ(w ⊙ ℓ'(η)) / W (this alone fixes the optimum: keep it accurate),
//! - S = Xᵀ diag(w ⊙ ω̂) X / W (this only sets the speed of convergence; it may be computed in
//!   lower precision).
//!
//! When an intercept is fitted it is the last coordinate of θ: a column of ones appended to X.
//! Everything else (penalty weights, the M-step, acceleration, stopping) lives in
//! the solver (see [`crate::Glm`]) and is shared by all backends.

mod cpu;
pub mod gpu;
mod polish;
pub(crate) mod restricted;
pub(crate) mod strided;

pub use cpu::CpuBackend;
pub use gpu::{GpuBackend, GpuContext, GpuOptions};
pub use polish::PolishBackend;

use nalgebra::{DMatrix, DVector};

use crate::error::Result;

/// What a call to [`Backend::evaluate`] must fill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Loss and gradient (O(n·p)).
    Gradient,
    /// Loss, gradient and the EM weighted Gram matrix S = Xᵀ diag(w ω̂) X / W (O(n·p²)).
    GradientAndGram,
    /// Loss, gradient and the Hessian of the loss H = Xᵀ diag(w ℓ'') X / W in place of S, for
    /// the Newton step (O(n·p²)).
    GradientAndHessian,
}

/// The sufficient statistics at one θ.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Mean weighted loss L(θ).
    pub loss: f64,
    /// ∇L(θ), length d = p (+1 with an intercept, last).
    pub gradient: DVector<f64>,
    /// S = Xᵀ diag(w ω̂) X / W (or the Hessian H with [`Needs::GradientAndHessian`]), d × d,
    /// symmetric (both triangles filled). Only valid after a call that asked for it.
    pub gram: DMatrix<f64>,
    /// Per coordinate, a scale of the rounding error in `gradient` (0 for the f64 CPU backend;
    /// about ε₃₂ √(Σᵢ (xᵢⱼ wᵢ ℓ'ᵢ)²) / W for the f32 GPU kernels). The solver does not ask for a KKT
    /// violation below it.
    pub gradient_error: DVector<f64>,
    /// A scale of the rounding error in `loss` (0 for the CPU backend): objective changes below
    /// it are noise.
    pub loss_error: f64,
}

impl Stats {
    /// Zeroed statistics for `dim` coordinates.
    pub fn new(dim: usize) -> Self {
        Self {
            loss: 0.0,
            gradient: DVector::zeros(dim),
            gram: DMatrix::zeros(dim, dim),
            gradient_error: DVector::zeros(dim),
            loss_error: 0.0,
        }
    }
}

/// Which backend ran a fit, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// Short kind, e.g. `"cpu"`.
    pub kind: &'static str,
    /// The device that ran, e.g. `"cpu (rayon, 8 threads)"` or a GPU adapter's name.
    pub device: String,
}

impl std::fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.kind, self.device)
    }
}

/// A backend bound to one problem's data.
pub trait Backend {
    /// Number of coordinates d of θ (features, plus one with an intercept).
    fn dim(&self) -> usize;

    /// Computes the statistics at `theta` (length [`Backend::dim`]) into `out`.
    ///
    /// # Errors
    /// Device failures ([`crate::Error::Backend`]).
    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()>;

    /// The mean loss alone at `theta` (an objective evaluation; O(n·p)).
    ///
    /// # Errors
    /// Device failures ([`crate::Error::Backend`]).
    fn loss(&mut self, theta: &[f64]) -> Result<f64>;

    /// What ran.
    fn info(&self) -> BackendInfo;
}

/// Which backend a fit runs on.
///
/// The default is [`BackendChoice::from_env`]: `SCALEMIX_BACKEND` when set, else
/// [`BackendChoice::Auto`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendChoice {
    /// A hardware GPU when one exists and the problem is large enough for it to pay off
    /// (n · d² ≥ [`AUTO_GPU_MIN_WORK`]); the CPU otherwise. Software adapters (lavapipe,
    /// SwiftShader) are never chosen. The fit's [`crate::Fit::backend`] says what ran.
    Auto,
    /// The CPU in f64, with the Gram matrix split over all cores.
    Cpu,
    /// The GPU through wgpu; an error (carrying wgpu's reason) when no adapter is found.
    Gpu,
}

/// Under [`BackendChoice::Auto`], problems with n · d² below this run on the CPU: uploading X and
/// one submit-and-readback per iteration cost more than the CPU's whole E-step (≈ 20 ms at
/// 2³⁰ multiply-adds on 8 cores).
pub const AUTO_GPU_MIN_WORK: f64 = (1u64 << 30) as f64;

impl BackendChoice {
    /// Reads `SCALEMIX_BACKEND` (`auto`, `cpu` or `gpu`, any case); [`BackendChoice::Auto`]
    /// when it is unset.
    ///
    /// # Errors
    /// [`crate::Error::InvalidOption`] for any other value.
    pub fn from_env() -> Result<Self> {
        match std::env::var("SCALEMIX_BACKEND") {
            Ok(v) => v.parse(),
            Err(_) => Ok(BackendChoice::Auto),
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "cpu" => Ok(BackendChoice::Cpu),
            "gpu" => Ok(BackendChoice::Gpu),
            _ => Err(crate::Error::InvalidOption {
                name: "backend",
                value: s.to_owned(),
                reason: "must be one of auto, cpu, gpu",
            }),
        }
    }
}

impl std::fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Cpu => "cpu",
            BackendChoice::Gpu => "gpu",
        })
    }
}
