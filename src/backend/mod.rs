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
//! the solver and is shared by all backends; the driver (`src/driver/`) holds whatever backend
//! `open` returned as a `Box<dyn Backend>` and never asks which one it is.
//!
//! What paths, cross-validation and multiclass fits need beyond the three statistics is in the
//! trait too: [`Backend::set_rows`] (new y, weights or offsets on the same X: folds, classes),
//! [`Backend::gram_with_weights`] (S from row weights computed elsewhere: the f64 finish of
//! hinge and quantile fits, [`PolishBackend`], works over any backend through it) and
//! [`Backend::exact`] (whether the statistics are f64 sums, which decides that finish and the
//! strong rules' strategy). Restricting a backend to the active coordinates of a path
//! (`restricted::Restricted`) needs only [`Backend::evaluate`].
//!
//! ## Adding a backend
//!
//! 1. A new file here (or folder, like `gpu/`) with a type that implements [`Backend`]; test it
//!    against [`CpuBackend`] in `tests/integration/backend.rs` (the f64 reference: same loss,
//!    gradient and S within a tolerance reasoned from its precision).
//! 2. In this file: declare the module, add a [`BackendChoice`] variant (with its name in
//!    `NAMES`, `FromStr` and `Display`, which the CLI's `--backend`, `SCALEMIX_BACKEND` and the
//!    Python bindings read) and its arm in `open` (with `gpu_for`, this file's one place that
//!    chooses a backend).
//! 3. For streamed fits to run their blocks on it, a `Device` variant in `src/stream/backend.rs`.
//!
//! Nothing else changes: fits, paths, cross-validation, multiclass fits, distributed fits and
//! the baselines all go through `open` and the trait (docs/extending.md).

mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
/// A build without the `gpu` feature (no wgpu): the GPU types exist, but no [`GpuContext`] can
/// be made, so every fit runs on the CPU and asking for a GPU is an error that says why.
#[cfg(not(feature = "gpu"))]
#[path = "no_gpu.rs"]
pub mod gpu;
mod polish;
pub(crate) mod restricted;
pub(crate) mod strided;

use std::sync::OnceLock;

pub use cpu::CpuBackend;
pub use gpu::{GpuBackend, GpuContext};
pub use polish::PolishBackend;

/// The checked rows a backend computes on (every backend's constructor and
/// [`Backend::set_rows`] take one).
pub use crate::data::Problem;

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result};

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
    /// Zeroed statistics for `dim` coordinates that will only ever hold the loss and ∇L
    /// ([`Needs::Gradient`]): no d × d matrix, for designs too wide to hold one.
    pub fn gradient_only(dim: usize) -> Self {
        Self {
            loss: 0.0,
            gradient: DVector::zeros(dim),
            gram: DMatrix::zeros(0, 0),
            gradient_error: DVector::zeros(dim),
            loss_error: 0.0,
        }
    }

    /// Zeroed statistics for `dim` coordinates, with room for S where `with_gram`.
    pub fn sized(dim: usize, with_gram: bool) -> Self {
        if with_gram { Self::new(dim) } else { Self::gradient_only(dim) }
    }

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

    /// Whether the statistics are f64 sums of f64 terms (the CPU backend). A backend that rounds
    /// more ([`Stats::gradient_error`] > 0) gets its fits' KKT violation recomputed in f64, its
    /// hinge and quantile fits finished by [`PolishBackend`], and keeps its one copy of X during
    /// a path's strong-rule fits (viewed through the active coordinates) where an exact host
    /// backend is rebuilt on the active columns instead (its cost scales with the columns it
    /// holds).
    fn exact(&self) -> bool;

    /// Replaces y, the sample weights and the offset with `problem`'s, keeping X (which must be
    /// the same matrix, with the same family and intercept): cross-validation folds (weights)
    /// and multinomial class steps (labels and offsets) reuse one backend this way.
    ///
    /// # Errors
    /// [`crate::Error::Backend`] for a different number of rows, or a device failure.
    fn set_rows(&mut self, problem: &Problem<'_>) -> Result<()>;

    /// S = Xᵀ diag(c) X / W for row weights `c` computed by the caller (e.g. EM weights from an
    /// η computed in f64), into `gram`.
    ///
    /// # Errors
    /// [`crate::Error::Backend`] for a weight the backend cannot represent, or a device failure.
    fn gram_with_weights(&mut self, weights: &[f64], gram: &mut DMatrix<f64>) -> Result<()>;
}

/// Opens the backend `choice` names for `problem` (`gpu`: a context the application gave, else
/// the process-wide default device). The one place a backend is chosen.
///
/// # Errors
/// [`crate::Error::Backend`] when a GPU was asked for and none could be opened, or uploading X
/// failed.
pub fn open<'p>(
    choice: BackendChoice,
    context: Option<&GpuContext>,
    problem: &Problem<'p>,
    intercept: bool,
) -> Result<Box<dyn Backend + 'p>> {
    Ok(match device_for(choice, context, problem, intercept)? {
        Some(context) => {
            log::info!("fitting on {}", context.describe());
            Box::new(GpuBackend::new(&context, problem, intercept)?)
        }
        None => Box::new(CpuBackend::new(problem, intercept)),
    })
}

/// The GPU [`open`] puts `problem` on for `choice` (`None`: the CPU backend).
///
/// # Errors
/// [`crate::Error::Backend`] when a GPU was asked for and none could be opened.
pub(crate) fn device_for(
    choice: BackendChoice,
    context: Option<&GpuContext>,
    problem: &Problem<'_>,
    intercept: bool,
) -> Result<Option<GpuContext>> {
    if problem.x.is_sparse() && choice == BackendChoice::Auto {
        // On the GPU a sparse design's E-step and gradient cost O(nnz), but its Gram is tiled
        // dense (n · d² multiply-adds) where the CPU's costs Σᵢ nnzᵢ²; `auto` keeps sparse
        // designs on the CPU, and `gpu` runs them there when asked.
        return Ok(None);
    }
    let dim = problem.ncols() + usize::from(intercept);
    gpu_for(choice, context, problem.nrows() as f64 * (dim * dim) as f64)
}

/// The GPU `choice` sends work of n · d² = `work` multiply-adds to (`None`: the CPU): `gpu`
/// the context the application gave, else the process-wide default device; `auto` a hardware
/// GPU for work of at least [`AUTO_GPU_MIN_WORK`], never a software adapter. The one place a
/// device is chosen, for fits in memory and streamed alike.
///
/// # Errors
/// [`crate::Error::Backend`] when a GPU was asked for and none could be opened.
pub(crate) fn gpu_for(
    choice: BackendChoice,
    context: Option<&GpuContext>,
    work: f64,
) -> Result<Option<GpuContext>> {
    match choice {
        BackendChoice::Cpu => Ok(None),
        BackendChoice::Gpu => match context {
            Some(context) => Ok(Some(context.clone())),
            None => default_gpu().map(Some),
        },
        BackendChoice::Auto => {
            // Work below the threshold never opens a device: no adapter would take it.
            if !auto_takes(work, false) {
                return Ok(None);
            }
            match context.cloned().map(Ok).unwrap_or_else(default_gpu) {
                Ok(context) if auto_takes(work, context.is_software()) => Ok(Some(context)),
                Ok(context) => {
                    log::info!("auto: {} is a software adapter; using the CPU", context.describe());
                    Ok(None)
                }
                Err(e) => {
                    log::info!("auto: no GPU ({e}); using the CPU");
                    Ok(None)
                }
            }
        }
    }
}

/// Whether `auto` sends work of n · d² = `work` multiply-adds to an adapter (`software`:
/// lavapipe, llvmpipe, WARP…): a hardware GPU, for work of at least [`AUTO_GPU_MIN_WORK`].
fn auto_takes(work: f64, software: bool) -> bool {
    work >= AUTO_GPU_MIN_WORK && !software
}

/// How a [`GpuContext`] is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuOptions {
    /// Accumulate the gradient and the Gram reduction in f64 when the adapter has
    /// `SHADER_F64` (default `true`). `false` forces the f32-only kernels that Metal and most
    /// laptop GPUs run, whatever the adapter offers.
    pub use_f64: bool,
    /// Largest storage buffer bound at once, in bytes; `None` takes the device's
    /// `max_storage_buffer_binding_size`. X is split into row slices that each fit.
    /// Lowering it exercises the multi-slice path at small sizes.
    pub max_binding_bytes: Option<u64>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self { use_f64: true, max_binding_bytes: None }
    }
}

/// The process-wide GPU context with default options, opened on first use and shared by every
/// fit (opening a device and compiling the kernels takes up to seconds).
pub(crate) fn default_gpu() -> Result<GpuContext> {
    static CONTEXT: OnceLock<std::result::Result<GpuContext, Error>> = OnceLock::new();
    CONTEXT.get_or_init(|| GpuContext::new(GpuOptions::default())).clone()
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
    /// Every name [`BackendChoice`] parses, in the order the command line lists them.
    pub const NAMES: [&'static str; 3] = ["auto", "cpu", "gpu"];

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

/// The memory the system reports available (Linux: `MemAvailable` in /proc/meminfo), in bytes;
/// `None` where it reports none. What a fit may plan to use unless
/// [`crate::Glm::max_memory`] says otherwise.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::{AUTO_GPU_MIN_WORK, BackendChoice, auto_takes};

    /// `auto`'s rule on its own (the machines the tests run on have only a software adapter,
    /// which `auto` never takes, so no fit there can show the size threshold): a hardware GPU
    /// from the threshold up, the CPU below it, never a software adapter.
    #[test]
    fn auto_takes_a_hardware_gpu_for_work_from_its_threshold_up() {
        assert!(auto_takes(AUTO_GPU_MIN_WORK, false));
        assert!(auto_takes(10.0 * AUTO_GPU_MIN_WORK, false));
        assert!(!auto_takes(0.99 * AUTO_GPU_MIN_WORK, false));
        assert!(!auto_takes(10.0 * AUTO_GPU_MIN_WORK, true));
    }

    /// The command line offers `NAMES`: each must parse, and print back as itself.
    #[test]
    fn every_backend_name_parses_and_prints_as_itself() {
        for name in BackendChoice::NAMES {
            let choice: BackendChoice = name.parse().expect("a listed name parses");
            assert_eq!(choice.to_string(), name);
        }
    }
}
