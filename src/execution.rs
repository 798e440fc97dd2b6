//! Where and how a fit runs, kept apart from what it fits ([`crate::Glm`]'s family, penalty and
//! solver settings): the backend, a GPU context, the memory a fit may plan to use, how fits
//! on row sources read them and how the M-step's linear system is solved. None of these changes the optimum, only where and how a fit
//! reaches it.

use crate::backend::{BackendChoice, GpuContext};
use crate::stream::StreamOptions;

/// Where and how a fit runs (see the module docs); [`crate::Glm::execution`] sets it whole, and
/// [`crate::Glm::backend`], [`crate::Glm::gpu_context`], [`crate::Glm::max_memory`] and
/// [`crate::Glm::stream_options`] one part each.
///
/// ```
/// use scalemix::{BackendChoice, Execution, Glm, Penalty};
///
/// // One execution for several models: on the CPU, within 4 GiB.
/// let cpu = Execution { backend: Some(BackendChoice::Cpu), max_memory: Some(4 << 30), ..Execution::default() };
/// let ridge = Glm::logistic().penalty(Penalty::ridge(0.1)).execution(cpu.clone());
/// let lasso = Glm::logistic().penalty(Penalty::lasso(0.01)).execution(cpu);
/// # let _ = (ridge, lasso);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Execution {
    /// The backend (`None`: `SCALEMIX_BACKEND` when a fit starts, else [`BackendChoice::Auto`]).
    pub backend: Option<BackendChoice>,
    /// A GPU context the application opened (a device it already has, or particular
    /// [`crate::backend::GpuOptions`]); used when the backend is the GPU.
    pub gpu: Option<GpuContext>,
    /// The most memory, in bytes, a fit may plan to use (`None`: what the system reports
    /// available, where it reports it).
    pub max_memory: Option<u64>,
    /// How fits on row sources read them ([`crate::Glm::fit_source`]).
    pub stream: StreamOptions,
    /// How a single ridge fit solves its M-step's linear system ([`LinearSolver::Auto`]: by the
    /// cost model of docs/sm-em.md §9).
    pub linear_solver: LinearSolver,
}

/// How the M-step's linear system is solved: the same quadratic model, and the same optimum,
/// by one of three methods of different cost (docs/sm-em.md §9). Like scikit-learn's `solver`
/// for its ridge fits, a choice of speed and memory, never of result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinearSolver {
    /// The cost model's choice: the d × d system where it fits and is cheapest, else conjugate
    /// gradients or the n × n dual.
    #[default]
    Auto,
    /// The d × d system (Cholesky, or coordinate descent for ℓ₁): O(n·d² + d³) per step,
    /// 8·d² bytes per matrix. Every fit can take it where its matrices fit.
    Cholesky,
    /// Preconditioned conjugate gradients on products with X (Newton-CG; Student-t falls back
    /// to the EM step where Newton's gives no descent): O(nnz) per product, O(n + d) memory. Single ridge fits (λ > 0) of logistic,
    /// binomial, gaussian and Student-t.
    ConjugateGradient,
    /// The exact step through the n × n dual (Woodbury): K = XΛ⁻¹Xᵀ once per fit, one n × n
    /// Cholesky per step; for n ≪ d. The same fits as conjugate gradients, with a ridge on every
    /// feature.
    Dual,
}

impl LinearSolver {
    /// Every name [`LinearSolver`] parses, as the command line lists them.
    pub const NAMES: [&'static str; 4] = ["auto", "cholesky", "cg", "dual"];
}

impl std::str::FromStr for LinearSolver {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(LinearSolver::Auto),
            "cholesky" => Ok(LinearSolver::Cholesky),
            "cg" => Ok(LinearSolver::ConjugateGradient),
            "dual" => Ok(LinearSolver::Dual),
            _ => Err(crate::Error::InvalidOption {
                name: "linear solver",
                value: s.to_owned(),
                reason: "must be one of auto, cholesky, cg, dual",
            }),
        }
    }
}

impl std::fmt::Display for LinearSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinearSolver::Auto => "auto",
            LinearSolver::Cholesky => "cholesky",
            LinearSolver::ConjugateGradient => "cg",
            LinearSolver::Dual => "dual",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::LinearSolver;

    /// Every listed name parses and prints back as itself.
    #[test]
    fn every_linear_solver_name_parses_and_prints_as_itself() {
        for name in LinearSolver::NAMES {
            let solver: LinearSolver = name.parse().expect("a listed name parses");
            assert_eq!(solver.to_string(), name);
        }
    }
}
