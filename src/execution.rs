//! Where and how a fit runs, kept apart from what it fits ([`crate::Glm`]'s family, penalty and
//! solver settings): the backend, a GPU context, the memory a fit may plan to use, and how fits
//! on row sources read them. None of these changes the optimum, only where and how a fit
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
}
