//! # scalemix
//!
//! Regularized generalized linear models fitted to the exact optimum with **Scale Mixture EM**
//! (SM-EM; Polson & Sokolov, 2026): no learning rate, a monotone objective, and an accelerated
//! step on top (Newton curvature for smooth ridge fits, the exact ℓ₁ M-step for lasso and elastic
//! net, Nesterov with restart for hinge and quantile: [`Acceleration`]).
//!
//! ## The objective
//!
//! For rows xᵢ with sample weights wᵢ (default 1, W = Σ wᵢ), penalty factors vⱼ (default 1, 0 =
//! unpenalized) and an unpenalized intercept b₀, scalemix minimizes glmnet's objective
//!
//! ```text
//! F(b₀, β) = (1/W) Σᵢ wᵢ ℓ(yᵢ, xᵢᵀβ + b₀) + λ Σⱼ vⱼ [ α|βⱼ| + (1−α)/2 βⱼ² ]
//! ```
//!
//! with ℓ from the [`Family`]: logistic, binomial, gaussian, hinge, quantile or Student-t (and
//! [`Glm::fit_multiclass`] for multinomial and one-vs-rest models). The penalty's ℓ₁ part may be
//! a bridge |βⱼ|^q instead ([`Penalty::bridge`]). scikit-learn's `LogisticRegression(C=C)` minimizes n·F with λ = 1/(C·n):
//! `penalty="l2"` is α = 0 ([`Penalty::ridge`]), `penalty="l1"` is α = 1 ([`Penalty::lasso`]),
//! and `elasticnet` with `l1_ratio=r` is α = r.
//!
//! ## The algorithm in five lines
//!
//! Each loss is a scale mixture of normals in η, so given the current θ = (β, b₀):
//! 1. **E-step** (on the backend): per-row latent precisions ω̂ᵢ (tanh(η/2)/(2η) for logistic),
//!    the gradient ∇L = Xᵀ(w ⊙ ℓ'(η))/W and S = Xᵀ diag(w ω̂) X / W;
//! 2. **M-step** (on the CPU, f64 Cholesky): θ⁺ = θ − (S + D)⁻¹(∇L + Dθ), D from the penalty;
//! 3. **acceleration** ([`Acceleration::Auto`] picks per family and penalty): the loss's own
//!    curvature in place of S (Newton), the ℓ₁ term minimized exactly on the quadratic model by
//!    coordinate descent (proximal Newton or proximal EM), or an extrapolated point
//!    (Nesterov with restart, SQUAREM); every accelerated step is discarded for the plain EM
//!    step whenever F would go up.
//!
//! Plain EM never increases F. Lasso zeros are reached in the limit, so ℓ₁ coefficients below
//! [`SolverOptions::zero_tol`] are set to exact zeros and the KKT conditions are checked (and
//! any violated zero re-activated) before a fit reports convergence.
//!
//! ## How the crate is laid out
//!
//! A [`Glm`] only stores settings; every entry point (`fit`, `path`, `cv`, the binomial and
//! multiclass fits, [`baselines`]) first checks settings and data together, once (`check.rs`),
//! then hands a checked model to the driver (`driver/`: backend, start, step scheme, the f64
//! check and finish, the report), which sees the rows through one seam (`driver/rows.rs`) for
//! data in memory, streamed or held by a cluster's workers. The solver loop (`solver/mod.rs`) runs one step scheme per file
//! (`solver/*.rs`) over a [`backend::Backend`]. Data larger than memory comes from a
//! [`source::RowSource`] read block by block at every pass (`stream/`: [`Glm::fit_source`],
//! [`Glm::path_source`], [`Glm::cv_source`]). `docs/sm-em.md` derives the algorithm these
//! modules cite; `docs/extending.md` lists the files a new family, backend or step scheme touches.
//!
//! ## Backends
//!
//! A [`backend::Backend`] computes only {loss, ∇L, S} for a given θ; the solver, the penalty and
//! the M-step are shared. [`BackendChoice`] picks one per fit (`auto`, `cpu`, `gpu`, also from
//! `SCALEMIX_BACKEND`); [`Fit::backend`] names the device that ran.
//!
//! - **CPU** ([`backend::CpuBackend`]): f64 throughout, the O(n·p²) Gram over every core.
//! - **GPU** ([`backend::GpuBackend`], wgpu on Vulkan, Metal or DX12): WGSL kernels in f32 for
//!   the E-step, the gradient and S; X is uploaded once, and each iteration sends θ and reads
//!   back only partial sums. Use [`Glm::gpu_context`] with a [`backend::GpuContext`] to choose
//!   the device, or to share one the application already has.
//!
//! **Why f32 kernels give f64 optima.** The fixed point of the gradient-form update
//! θ⁺ = θ − (S + D)⁻¹(∇L + Dθ) depends only on ∇L; S only sets the speed. If ∇L is computed with
//! an error δ, the fit lands where the true gradient is O(δ), and the objective there exceeds the
//! optimum by O(δ²/μ) (μ the smallest curvature): f32's relative 1e-7 becomes gaps of 1e-12 to
//! 1e-14 on the reference problems. The GPU accumulates the gradient's sums in f64 where the
//! adapter has `SHADER_F64` and in f32 elsewhere (Metal), and always adds the blocks in f64 on
//! the host. Each sum carries an estimate of its own rounding error, and the solver stops
//! asking for a smaller KKT violation or objective change than that noise. The reported
//! objective and KKT violation are recomputed once in f64 on the CPU at the final point, and a
//! fit says [`Termination::Converged`] only when that f64 KKT check agrees (otherwise it
//! continues with the f64 gradient, or says [`Termination::Stalled`]).
//!
//! **When the GPU helps.** One iteration costs about 2·n·d² flops for S (d = p + 1): the CPU
//! backend does 50–80 GFLOP/s per core group measured on a small VM, a data-centre GPU tens of
//! TFLOP/s, but each iteration also pays a submit and a read-back (~0.1–1 ms), so `auto` sends
//! only problems with n·d² ≥ 2³⁰ to a hardware GPU (never to a software adapter).
//!
//! ```
//! use scalemix::{Glm, Penalty, Termination, synthetic};
//!
//! let data = synthetic::ill_conditioned_logistic(500, 10, 1e4, 1.0, 7);
//! let x = scalemix::Design::row_major(&data.x, data.n, data.p)?;
//! let fit = Glm::logistic().penalty(Penalty::elastic_net(1e-3, 0.5)).fit(x, &data.y)?;
//! assert_eq!(fit.termination(), Termination::Converged);
//! let p = fit.predict_proba(x)?;
//! assert!(p.iter().all(|&p| (0.0..=1.0).contains(&p)));
//! # Ok::<(), scalemix::Error>(())
//! ```

#![warn(missing_docs)]

pub mod backend;
pub mod baselines;
mod check;
mod counts;
mod cv;
mod data;
mod driver;
mod error;
mod execution;
pub mod family;
mod glm;
mod inference;
#[cfg(feature = "cli")]
pub mod io;
mod mstep;
mod multiclass;
mod path;
pub mod penalty;
mod precondition;
mod predict;
mod solver;
pub mod source;
mod stream;
pub mod synthetic;

/// The README's examples compile and run as doctests (in the default build: they read files).
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "files"))]
pub struct ReadmeDoctests;

pub use backend::BackendChoice;
pub use cv::{CvOptions, CvResult, Folds, Metric};
pub use data::{AsTarget, CsrMatrix, Data, Design, Indices};
pub use error::{Error, Input, Result};
pub use execution::{Execution, LinearSolver};
pub use family::Family;
pub use glm::{Fit, Glm, Phases};
pub use inference::{Coefficient, Dispersion, Inference};
pub use multiclass::MulticlassFit;
pub use path::{PathOptions, PathPoint, RegularizationPath};
pub use penalty::Penalty;
pub use predict::{LinearModel, MulticlassModel};
pub use solver::{Acceleration, SolverOptions, Termination};
pub use stream::{
    ExternalClasses, ExternalRows, Folds as StreamFolds, Progress, ProgressFn, RowSummary,
    StreamOptions,
};
