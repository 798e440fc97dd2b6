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
pub(crate) mod strided;

pub use cpu::CpuBackend;

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
}

impl Stats {
    /// Zeroed statistics for `dim` coordinates.
    pub fn new(dim: usize) -> Self {
        Self { loss: 0.0, gradient: DVector::zeros(dim), gram: DMatrix::zeros(dim, dim) }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BackendChoice {
    /// The CPU in f64, with the Gram matrix split over all cores.
    #[default]
    Cpu,
}
